"""Polling 20 feeds of 20 items each from a local server: time to index the new articles, and the answer
latency of questions asked meanwhile, compared with the same questions asked while idle.

    .venv/bin/python bench/bench_feeds.py [--feeds 20] [--items 20] [--sentences 15] [--variants shared,background]

A feed server (tests/feedserver.py) runs in a child process on 127.0.0.1, so its work is not in this
process. Each variant starts from a fresh index of the seed article with the real model (the
embedding cache is empty, so every article sentence is encoded), then:

  1. idle: questions are asked one every --pace seconds, from a normal-priority thread, as the bot does;
  2. polling: the same questions at the same pace while poll_corpus indexes all the feeds' items;
  3. idle again, over the grown index.

Variants:
  shared      the poll runs in an ordinary thread and the engine's add embeds the new sentences with the
              engine's own encoder (one lock, which questions need too);
  background  as the bot's poller does it: the poll runs in a thread at lower CPU priority and a second
              copy of the model embeds the new sentences into the cache before the add.

The target: p50 and p99 while polling within 1.5x of idle (the idle run before polling, same variant).
"""

from __future__ import annotations

import argparse
import multiprocessing
import random
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402

SEED = 41


def article_page(title: str, rng: random.Random, sentences: int) -> bytes:
    sents = [common.synthetic_sentence(rng) for _ in range(sentences)]
    paras = "".join(f"<p>{' '.join(sents[i:i + 3])}</p>" for i in range(0, len(sents), 3))
    return (f"<html><head><title>{title} | Bench Herald</title></head><body><nav><a href='/'>Home</a></nav>"
            f"<article><h1>{title}</h1>{paras}</article></body></html>").encode()


def serve(n_feeds: int, n_items: int, sentences: int, port_queue: multiprocessing.Queue) -> None:
    """The child process: build every feed and article page, then serve them."""
    from tests.feedserver import FeedServer, Item, rfc822

    rng = random.Random(SEED)
    server = FeedServer()
    for f in range(n_feeds):
        items = []
        for i in range(n_items):
            path = f"/feed-{f}/story-{f}-{i}-{rng.choice(['budget', 'summit', 'energy', 'harbour'])}"
            title = f"Story {f}-{i}: {rng.choice(common._TOPICS)} in {rng.choice(common._PLACES)}"
            server.set(path, body=article_page(title, rng, sentences))
            items.append(Item(path, title, published=rfc822(i / 24)))
        server.feed(f"/feed-{f}.xml", items, title=f"Bench feed {f}", etag=f'"{f}"')
    with server:
        port_queue.put(server.base)
        threading.Event().wait()


def ask_paced(engine, corpus: str, questions: list[str], pace: float, stop: threading.Event | None,
              count: int | None) -> list[float]:
    """Ask questions one every ``pace`` seconds until ``stop`` is set (or ``count`` were asked); latencies in s."""
    out: list[float] = []
    i = 0
    while (stop is None or not stop.is_set()) and (count is None or i < count):
        q = questions[i % len(questions)]
        t = time.perf_counter()
        engine.ask(q, corpus=corpus, k=3)
        out.append(time.perf_counter() - t)
        i += 1
        time.sleep(max(0.0, pace - (time.perf_counter() - t)))
    return out


def run_variant(name: str, base: str, args: argparse.Namespace, encoder, workdir: Path) -> dict:
    from index.embed import SentenceTransformerEncoder
    from index.engine import Engine, EngineSettings
    from index.feedpoll import PollSettings, lower_priority, poll_corpus
    from index.feeds import FeedStore

    index_dir = workdir / name
    shutil.rmtree(index_dir, ignore_errors=True)
    engine = Engine(index_dir, encoder, EngineSettings(seeds_dir=common.ROOT / "seeds"))
    corpus = "bench"
    engine.ensure(corpus)
    store = FeedStore(index_dir / "feeds.sqlite")
    for f in range(args.feeds):
        store.add_feed(corpus, f"{base}/feed-{f}.xml", f"Bench feed {f}", max_feeds=args.feeds)
    settings = PollSettings(articles_per_poll=args.feeds * args.items, allow_private=True, timeout=30.0)
    embedder = SentenceTransformerEncoder() if name == "background" else None
    questions = list(common.QUESTIONS)
    for q in questions[:5]:
        engine.ask(q, corpus=corpus)  # warm up

    idle = ask_paced(engine, corpus, questions, args.pace, None, args.idle_questions)
    result: dict = {}
    stop = threading.Event()

    def poll() -> None:
        try:
            if name == "background":
                lower_priority()
            t = time.perf_counter()
            report = poll_corpus(engine, store, corpus, settings, embedder=embedder)
            result["seconds"] = time.perf_counter() - t
            result["report"] = report
        finally:
            stop.set()

    load_before = common.load_average()
    thread = threading.Thread(target=poll, name=f"poll-{name}")
    thread.start()
    during = ask_paced(engine, corpus, questions, args.pace, stop, None)
    thread.join()
    after = ask_paced(engine, corpus, questions, args.pace, None, args.idle_questions)
    report = result["report"]
    sentences = engine.stats(corpus).sentences
    out = {
        "variant": name,
        "articles_indexed": len(report.added),
        "failed_pages": len(report.failed),
        "feed_errors": sum(1 for c in report.checks if c.error),
        "poll_seconds": round(result["seconds"], 2),
        "articles_per_second": round(len(report.added) / result["seconds"], 2),
        "index_sentences_after": sentences,
        "embedded_in_add": report.change.embedded if report.change else 0,
        "idle_before": common.summary_ms(idle),
        "during_poll": common.summary_ms(during),
        "idle_after": common.summary_ms(after),
        "load_average_at_poll_start": load_before,
    }
    out["p50_ratio"] = round(out["during_poll"]["p50_ms"] / out["idle_before"]["p50_ms"], 2)
    out["p99_ratio"] = round(out["during_poll"]["p99_ms"] / out["idle_before"]["p99_ms"], 2)
    store.close()
    engine.close()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--feeds", type=int, default=20)
    ap.add_argument("--items", type=int, default=20)
    ap.add_argument("--sentences", type=int, default=15, help="sentences per article page")
    ap.add_argument("--pace", type=float, default=0.2, help="seconds between questions (default 0.2)")
    ap.add_argument("--idle-questions", type=int, default=100)
    ap.add_argument("--variants", default="shared,background")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()

    info = common.machine_info()
    queue: multiprocessing.Queue = multiprocessing.get_context("spawn").Queue()
    child = multiprocessing.get_context("spawn").Process(
        target=serve, args=(args.feeds, args.items, args.sentences, queue), daemon=True)
    child.start()
    base = queue.get(timeout=120)

    import trafilatura  # noqa: F401 - imported here so that no variant pays for the first import

    from index.embed import SentenceTransformerEncoder

    encoder = SentenceTransformerEncoder()
    encoder.encode(["warm-up sentence one.", "warm-up sentence two."])
    info = {**info, **{k: v for k, v in common.machine_info().items() if k.startswith(("torch", "threadpool"))}}
    rows, results = [], []
    with tempfile.TemporaryDirectory(prefix="newsqa-bench-feeds-") as tmp:
        for name in args.variants.split(","):
            r = run_variant(name.strip(), base, args, encoder, Path(tmp))
            results.append(r)
            for phase in ("idle_before", "during_poll", "idle_after"):
                s = r[phase]
                rows.append([name, phase, s["n"], s["p50_ms"], s["p99_ms"], s["max_ms"]])
            print(f"{name}: indexed {r['articles_indexed']} articles ({r['index_sentences_after']} sentences in the "
                  f"index after) in {r['poll_seconds']} s = {r['articles_per_second']} articles/s; "
                  f"p50 ratio {r['p50_ratio']}x, p99 ratio {r['p99_ratio']}x", flush=True)
    child.terminate()
    common.print_table(rows, ["variant", "phase", "questions", "p50 ms", "p99 ms", "max ms"],
                       title=f"Answer latency, {args.feeds} feeds x {args.items} items, one question every "
                             f"{args.pace} s")
    payload = {"benchmark": "bench_feeds", "machine": common.finish_info(info),
               "parameters": vars(args) | {"out": str(args.out) if args.out else None},
               "target": "p50 and p99 while polling within 1.5x of idle", "results": results}
    path = common.write_results("feeds", payload, args.out)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
