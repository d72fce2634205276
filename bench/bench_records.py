"""The bot's record and feed operations on SQLite (the default) and PostgreSQL (RECORDS_URL), side by side.

    .venv/bin/python bench/bench_records.py [--rounds 400] [--guilds 20] [--questions 2000]

A throwaway PostgreSQL server (tests/pgserver.py, with its default durability: fsync and synchronous
commit on) is started in a temp dir; SQLite files are in another temp dir (WAL, as the bot opens them).
Both stores get the same history first (``--questions`` questions over ``--guilds`` servers, a vote on
every fifth, audit entries, 10 feeds per server with 30 items each). Then, for ``--rounds`` rounds, each
operation runs once on each backend, in an order shuffled every round, so both see the same load:

  log_question     an answer recorded (every question asked)
  vote             a 👍/👎 (a transaction: read the question, upsert the vote)
  answer           a stored answer read back (the buttons)
  latest_hits      /source's latest citations of a member in a channel
  gaps / status    /gaps and /status's last change and latency
  feeds            /feeds: a server's feeds with their article counts
  due              the poller's look for due feeds (every minute)
  feed_checked     a successful feed check recorded (a transaction)
  corpus_lock      a corpus writer lock taken and released: flock (SQLite) / flock + advisory lock in
                   PostgreSQL on a connection of its own (what a write adds with RECORDS_URL)

PostgreSQL is measured over its Unix socket (the same host) and over TCP on 127.0.0.1; a server on
another host adds the network's round trip to every call (about 0.1-0.5 ms on a LAN).
Prints medians and p99 per operation and backend, and writes bench/results/records.json.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402

from bot.records import Records  # noqa: E402
from bot.settings import Settings  # noqa: E402
from bot.stores import corpus_lock, open_feed_store, open_records  # noqa: E402
from index.feeds import FeedFetch, FeedItem, FeedStore  # noqa: E402
from index.models import Answer, Citation, Hit  # noqa: E402
from index.store import CorpusDir  # noqa: E402
from tests.pgserver import PostgresServer  # noqa: E402

SEED = 14


def make_answer(rng: random.Random, i: int) -> Answer:
    answered = rng.random() < 0.8
    hits = []
    for rank in range(3 if answered else 0):
        text = common.synthetic_sentence(rng)
        sentence = rng.randrange(200)
        citation = Citation(label=f"Story {i}, ¶{sentence}", doc_id=f"story-{i % 300}", title=f"Story {i % 300}",
                            paragraph=sentence // 3, sentence=sentence, source=f"https://news.example/{i % 300}",
                            url=f"https://news.example/{i % 300}")
        hits.append(Hit(rank=rank + 1, score=rng.random(), doc_id=citation.doc_id, title=citation.title,
                        source=citation.source, paragraph=citation.paragraph, sentence=sentence, start=0,
                        end=len(text), text=text, context=text, context_start=0, context_end=len(text),
                        citation=citation))
    return Answer(question=f"Question {i}: {common.synthetic_sentence(rng)}?", answered=answered,
                  confidence=rng.random(), hits=tuple(hits))


class Side:
    """One backend's stores, filled with the same history."""

    def __init__(self, name: str, settings: Settings, index_dir: Path) -> None:
        self.name = name
        self.records: Records = open_records(settings, index_dir)
        self.feeds: FeedStore = open_feed_store(settings, index_dir)
        self.corpus_dir = CorpusDir(index_dir, "bench", corpus_lock(settings))
        self.qids: list[int] = []
        self.feed_list = []

    def fill(self, args: argparse.Namespace) -> None:
        rng = random.Random(SEED)
        for i in range(args.questions):
            guild = 1_000_000_000_000_000_000 + i % args.guilds
            qid = self.records.log_question(make_answer(rng, i), user_id=500 + i % 97, guild_id=guild,
                                            channel_id=guild + 1 + i % 3, corpus=str(guild),
                                            latency_ms=rng.uniform(5, 80), public=rng.random() < 0.5)
            self.qids.append(qid)
            if i % 5 == 0:
                self.records.vote(qid, 900 + i % 13, rng.choice(["up", "down"]), guild_id=guild)
            if i % 20 == 0:
                self.records.audit(user_id=7, user_name="boss", guild_id=guild, action="add-article",
                                   detail=f"story-{i}")
        for g in range(args.guilds):
            corpus = str(1_000_000_000_000_000_000 + g)
            for f in range(10):
                feed = self.feeds.add_feed(corpus, f"https://news{f}.example/feed.xml", f"Herald {f}")
                self.feed_list.append(feed)
                items = [FeedItem(link=f"https://news{f}.example/{g}/story-{k}", title=f"Story {k}",
                                  published=f"2026-11-{1 + k % 28:02d}T10:00:00+00:00") for k in range(30)]
                self.feeds.queue(corpus, feed, items)

    def close(self) -> None:
        self.records.close()
        self.feeds.close()


def operations(side: Side, rng: random.Random, args: argparse.Namespace) -> dict:
    """One call of each operation, with arguments drawn the same way on every backend."""
    guild = 1_000_000_000_000_000_000 + rng.randrange(args.guilds)
    corpus = str(guild)
    j = rng.randrange(len(side.qids))
    qid, qguild = side.qids[j], 1_000_000_000_000_000_000 + j % args.guilds  # a question and its own server
    answer = make_answer(rng, rng.randrange(10_000))
    user = 500 + rng.randrange(97)
    feed = side.feed_list[rng.randrange(len(side.feed_list))]
    r, f = side.records, side.feeds

    def lock() -> None:
        with side.corpus_dir.writer_lock(10, purpose="a bench write"):
            pass

    return {
        "log_question": lambda: r.log_question(answer, user_id=user, guild_id=guild, channel_id=guild + 1,
                                               corpus=corpus, latency_ms=12.0, public=True),
        "vote": lambda: r.vote(qid, user, "down", guild_id=qguild),
        "answer": lambda: r.answer(qid, guild_id=qguild),
        "latest_hits": lambda: r.latest_answer_hits(user_id=user, guild_id=guild, channel_id=guild + 1),
        "gaps": lambda: r.gaps(guild_id=guild),
        "status": lambda: (r.last_change(guild_id=guild), r.latency(guild_id=guild)),
        "feeds": lambda: f.feeds(corpus),
        "due": lambda: f.due(),
        "feed_checked": lambda: f.checked(feed, FeedFetch(url=feed.url, feed=None, etag='"e1"'), interval=1800.0),
        "corpus_lock": lock,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=400)
    parser.add_argument("--guilds", type=int, default=20)
    parser.add_argument("--questions", type=int, default=2000)
    parser.add_argument("--name", default="records", help="results file: bench/results/NAME.json")
    args = parser.parse_args()
    info = common.machine_info()
    server = PostgresServer.start(durable=True, tcp=True)
    work = Path(tempfile.mkdtemp(prefix="bench-records-"))
    sides: list[Side] = []
    try:
        import psycopg

        with psycopg.connect(server.url(), autocommit=True) as conn:
            version = conn.execute("SHOW server_version").fetchone()[0]
            for name in ("bench_socket", "bench_tcp"):
                conn.execute(f'CREATE DATABASE "{name}"')
        sides = [Side("sqlite", Settings(), work / "sqlite"),
                 Side("postgres (socket)", Settings(records_url=server.url("bench_socket")), work / "pg-socket"),
                 Side("postgres (tcp)", Settings(records_url=server.url("bench_tcp", tcp=True)), work / "pg-tcp")]
        synchronous = sides[0].records.db.run("PRAGMA synchronous")[0][0]
        for side in sides:
            started = time.perf_counter()
            side.fill(args)
            print(f"{side.name}: filled in {time.perf_counter() - started:.1f} s", flush=True)
        times: dict[str, dict[str, list[float]]] = {s.name: {} for s in sides}
        rng = random.Random(SEED + 1)
        for _ in range(args.rounds):
            seed = rng.randrange(2**32)
            per_side = {s.name: operations(s, random.Random(seed), args) for s in sides}
            names = list(next(iter(per_side.values())))
            rng.shuffle(names)
            for op in names:
                order = list(sides)
                rng.shuffle(order)
                for side in order:
                    t = time.perf_counter()
                    per_side[side.name][op]()
                    times[side.name].setdefault(op, []).append(time.perf_counter() - t)
        rows, results = [], {}
        for op in times["sqlite"]:
            base = common.summary_ms(times["sqlite"][op])
            results[op] = {s.name: common.summary_ms(times[s.name][op]) for s in sides}
            row = [op, base["p50_ms"], base["p99_ms"]]
            for s in sides[1:]:
                summary = results[op][s.name]
                row += [summary["p50_ms"], summary["p99_ms"], round(summary["p50_ms"] / base["p50_ms"], 2)]
            rows.append(row)
        common.print_table(rows, ["operation", "sqlite p50", "p99", "pg socket p50", "p99", "x", "pg tcp p50",
                                  "p99", "x"], title=f"ms per call, {args.rounds} rounds, PostgreSQL {version}")
        info = common.finish_info(info)
        print(f"load average start/end: {info['load_average_start']} / {info['load_average_end']}")
        path = common.write_results(args.name, {
            "machine": info, "postgresql": version, "sqlite_synchronous": synchronous, "args": vars(args), "operations": results,
            "note": "each operation once per backend per round, order shuffled; PostgreSQL with fsync and "
                    "synchronous_commit on (its defaults), SQLite in WAL with synchronous FULL (Python's default)"})
        print(f"wrote {path}")
    finally:
        for side in sides:
            side.close()
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
