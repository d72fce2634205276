"""Held-out: for questions asking for a measured value (index.answertypes.asked_measure: money, temperature,
speed), is the ranker's best sentence right when it states no such value? The measurement behind
RetrievalSettings.decline_missing_measure; run from the project root."""
import collections
import json
import sys

sys.path.insert(0, "bench/exp"); sys.path.insert(0, "bench"); sys.path.insert(0, ".")
from strong_types import held_out_tops  # noqa: E402
from index.answertypes import asked_measure, holds_measure  # noqa: E402

if __name__ == "__main__":
    res, nsents, ssents = held_out_tops()
    counts, right_lacking = collections.Counter(), []
    for name, g, j in res:
        kind = asked_measure(g["q"])
        if j is None or kind is None:
            continue
        text = (nsents if name == "news" else ssents)[g["ids"][j]]
        has, right = holds_measure(kind, text), bool(g["y"][j])
        counts[(name, kind, "states one" if has else "states none", "right" if right else "wrong")] += 1
        if right and not has:
            right_lacking.append((g["q"], text[:150]))
    for key in sorted(counts):
        print(key, counts[key])
    for q, text in right_lacking:
        print("right, but states no value:", q, "|", text)
    for line in open("../shared/eval/news-dev/oos.jsonl"):
        q = json.loads(line)
        print(f"{q['kind']:10} asks {asked_measure(q['question'])}: {q['question']}")
