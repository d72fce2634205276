"""Resource needs for deployment (docs/DEPLOY.md): memory of the running bot, CPU per question, disk per
1,000 articles.

1. The bot: the real ``newsqa run`` with the real model in a child process (tests/ops_worker.py) against
   the local fake Discord (tests/fakediscord.py). RSS after start-up, after ``--questions`` /ask
   questions and its peak; CPU seconds (user + system, from /proc) per question; the time from the
   interaction to the bot's answer as Discord sees it.
2. Disk and memory per 1,000 articles: ``--articles`` synthetic news articles of 30 sentences added
   to a corpus the way /add-article does (a saved copy each, one generation), with a 384-dimension
   encoder (disk and memory depend on the dimension and the text, not on the vector values, so the
   fake encoder stands in for the real one here and takes seconds instead of many minutes). The
   loaded-index memory is measured in a fresh process.

    .venv/bin/python bench/bench_ops.py [--questions 200] [--articles 1000] [--out bench/results/ops.json]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import finish_info, machine_info, synthetic_articles, write_results  # noqa: E402
from tests.fakediscord import FakeDiscord  # noqa: E402
from tests.test_ops import start_worker  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")
QUESTION_TEMPLATES = [
    "How much did NATO allies invest in {} in 2024?", "What did the ministers say about {}?",
    "Who talked about {} at the meeting?", "When will the allies decide on {}?", "Why does {} matter to Ukraine?",
]
TOPICS = ["defense spending", "air defense", "ammunition", "Ukraine", "the summit", "drones", "industry",
          "Russia", "training", "the budget", "deterrence", "the eastern flank", "weapons", "aid", "readiness",
          "Europe", "Canada", "the United States", "production", "cooperation"]


def proc_status(pid: int) -> dict[str, float]:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(("VmRSS:", "VmHWM:")):
            key, value = line.split(":", 1)
            out[key] = round(int(value.split()[0]) / 1024, 1)
    return out


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def dir_mb(path: Path) -> float:
    return round(sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file()) / 1e6, 2)


def bench_bot(questions: int) -> dict:
    server = FakeDiscord().start()
    with tempfile.TemporaryDirectory() as tmp:
        started = time.monotonic()
        proc = start_worker(Path(tmp), server.api_base, OPS_GATEWAY=server.gateway_url, OPS_REAL_MODEL="1",
                            COOLDOWN_SECONDS="0", HF_HUB_OFFLINE="1")
        server.wait_for(lambda: server.identifies or proc.poll() is not None, 600, "the bot to connect")
        connected = time.monotonic() - started
        time.sleep(3)  # on_ready
        idle = proc_status(proc.pid)
        cpu_idle_start = cpu_seconds(proc.pid)
        time.sleep(10)
        cpu_idle = (cpu_seconds(proc.pid) - cpu_idle_start) / 10

        def ask(question: str) -> float:
            iid = server.slash("ask", [{"name": "question", "type": 3, "value": question}])
            begun = time.monotonic()
            server.wait_for(lambda: server.responses(iid), 60, "an answer", poll=0.001)
            return time.monotonic() - begun

        ask("How much did NATO allies invest in defense in 2024?")  # creates the server's corpus
        after_first = proc_status(proc.pid)
        cpu_start = cpu_seconds(proc.pid)
        waits = [ask(QUESTION_TEMPLATES[i % 5].format(TOPICS[(i // 5) % len(TOPICS)]) + f" ({i})")
                 for i in range(questions)]
        cpu = cpu_seconds(proc.pid) - cpu_start
        after = proc_status(proc.pid)
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=120)
    server.stop()
    return {
        "seconds_to_connect (start-up with the model load)": round(connected, 1),
        "rss_mib_idle_after_start": idle["VmRSS"],
        "rss_mib_after_first_question": after_first["VmRSS"],
        f"rss_mib_after_{questions}_questions": after["VmRSS"],
        "rss_mib_peak": after["VmHWM"],
        "cpu_seconds_per_second_idle": round(cpu_idle, 4),
        "questions": questions,
        "cpu_ms_per_question (user+system, whole process)": round(cpu / questions * 1000, 1),
        "answer_wait_ms_p50 (interaction sent -> callback received)": round(statistics.median(waits) * 1000, 1),
        "answer_wait_ms_max": round(max(waits) * 1000, 1),
        "exit_code_after_sigterm": proc.returncode,
    }


LOAD_SNIPPET = """
import json, sys
from pathlib import Path
def rss():
    for line in Path('/proc/self/status').read_text().splitlines():
        if line.startswith('VmRSS:'):
            return int(line.split()[1]) / 1024
from index.embed import HashingEncoder
from index.engine import Engine, EngineSettings
engine = Engine(Path(sys.argv[1]), HashingEncoder(dimension=384), EngineSettings())
import faiss, bm25s, index.search, index.lexical  # imports are not the index's memory
before = rss()
engine.index('bench')
engine.ask('What did the minister say about the budget?', corpus='bench')
print(json.dumps({'rss_mib_before_load': round(before, 1), 'rss_mib_loaded': round(rss(), 1)}))
"""


def bench_disk(n_articles: int) -> dict:
    from index.documents import load_text
    from index.embed import HashingEncoder
    from index.engine import Engine, EngineSettings

    articles = synthetic_articles(n_articles * 30, per_article=30, include_seed=False)[:n_articles]
    docs = [load_text(text, title=title) for title, text in articles]
    with tempfile.TemporaryDirectory() as tmp:
        index_dir = Path(tmp) / "index"
        engine = Engine(index_dir, HashingEncoder(dimension=384), EngineSettings(seeds_dir=None))
        started = time.perf_counter()
        report = engine.add(docs, corpus="bench")
        seconds = time.perf_counter() - started
        corpus = index_dir / "corpora" / "bench"
        generation = engine.corpus("bench").current()
        engine.close()
        sizes = {
            "one_generation": dir_mb(generation),
            "saved_article_copies (added/)": dir_mb(corpus / "added") if (corpus / "added").exists() else 0.0,
            "embedding_cache": round(sum(p.stat().st_size for p in index_dir.glob("embeddings*")) / 1e6, 2),
        }
        total = dir_mb(index_dir)
        loaded = json.loads(subprocess.run([sys.executable, "-c", LOAD_SNIPPET, str(index_dir)], cwd=ROOT,
                                           capture_output=True, text=True, check=True).stdout)
    scale = 1000 / n_articles
    return {
        "articles": n_articles,
        "sentences": report.sentences,
        "chars_per_article_median": statistics.median(len(t) for _, t in articles),
        "dimension": 384,
        "add_seconds (fake encoder: excludes embedding)": round(seconds, 1),
        "disk_mb_per_1000_articles": {k: round(v * scale, 1) for k, v in sizes.items()},
        "disk_mb_total_per_1000_articles": round(total * scale, 1),
        "disk_mb_peak_during_a_write_per_1000_articles (old + new generation)": round(
            (total + sizes["one_generation"]) * scale, 1),
        "rss_mib_loaded_index_per_1000_articles": round(
            (loaded["rss_mib_loaded"] - loaded["rss_mib_before_load"]) * scale, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=200)
    parser.add_argument("--articles", type=int, default=1000)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    info = machine_info()
    disk = bench_disk(args.articles)
    print(json.dumps(disk, indent=1))
    bot = bench_bot(args.questions)
    print(json.dumps(bot, indent=1))
    payload = finish_info({**info, "what": "resource needs of the running bot (docs/DEPLOY.md)",
                           "bot_process_real_model": bot, "index_per_1000_articles": disk})
    print(write_results("ops", payload, args.out))


if __name__ == "__main__":
    main()
