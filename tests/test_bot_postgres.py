"""Two bot processes over one PostgreSQL database (RECORDS_URL), end to end under SimCord: what an admin
changes through one (an article, a feed, the audit log, a question gone unanswered) is seen by the other.

Both bots are real ``create_bot`` instances, each with its own engine, records and feeds connections, as
two processes on two hosts would have; they share the PostgreSQL database and either INDEX_DIR (as on one
host, or a shared file system), or, with SHARE_CORPORA, nothing else: each has its own INDEX_DIR.
"""

from __future__ import annotations

import asyncio
import contextlib
import concurrent.futures
import queue
import threading
from collections.abc import Coroutine, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

import discord
import pytest
import simcord

from bot.app import RECORDS_UNAVAILABLE, SEEDS_CORPUS, NewsQABot, create_bot
from bot.settings import Settings
from bot.stores import open_corpora
from index.backend import LocalBackend
from index.database import PostgresDatabase
from index.embed import HashingEncoder
from index.engine import Engine, EngineSettings
from tests.botfixtures import ANSWERABLE, SEEDS, ZORB, ZORB_QUESTION, World, bot_engine, simcord_bot, world  # noqa: F401
from tests.feedserver import FeedServer, rfc822

T = TypeVar("T")
GUILD_ID = ((2 * 40_000_000 + 1) << 22) | 7  # a server on shard 1 of 2: (id >> 22) % 2 == 1


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with FeedServer() as s:
        yield s


def start_process(settings: Settings) -> tuple[Engine, NewsQABot]:
    """What `newsqa run` builds in one process: an engine (with the cross-host writer lock, and with
    SHARE_CORPORA its corpora in the database) and the bot."""
    backend = LocalBackend()
    engine = Engine(settings.index_dir, HashingEncoder(), EngineSettings(seeds_dir=SEEDS), backend=backend,
                    corpora=open_corpora(settings, settings.index_dir, backend))
    engine.ensure(SEEDS_CORPUS)
    return engine, create_bot(engine, settings)


class Process:
    """A bot on an event loop of its own, in its own thread, under its own SimCord (one live SimCord per loop),
    as a second process would be; ``do`` runs a coroutine in that SimCord and waits for its result."""

    def __init__(self, bot: NewsQABot) -> None:
        self.bot = bot
        self._jobs: queue.Queue = queue.Queue()
        self._ready = concurrent.futures.Future()
        self.thread = threading.Thread(target=asyncio.run, args=(self._serve(),), daemon=True)
        self.thread.start()
        self._ready.result(timeout=120)

    async def _serve(self) -> None:
        try:
            async with simcord.run(self.bot) as env:  # entered and left in this one task
                self.env = env
                await self.bot.sync_commands(None)
                self.guild = env.create_guild(id=GUILD_ID)
                self.channel = self.guild.create_text_channel("general")
                self.alice = self.guild.add_member(env.create_user("alice"))
                managers = self.guild.create_role("Managers", permissions=discord.Permissions(manage_guild=True))
                self.admin = self.guild.add_member(env.create_user("boss"), roles=[managers])
                self._ready.set_result(None)
                while (job := await asyncio.to_thread(self._jobs.get)) is not None:
                    coro, done = job
                    try:
                        done.set_result(await coro)
                    except BaseException as exc:  # noqa: BLE001 - handed to the waiting test
                        done.set_exception(exc)
        except BaseException as exc:
            if not self._ready.done():
                self._ready.set_exception(exc)
            raise

    def do(self, coro: Coroutine[Any, Any, T]) -> T:
        done: concurrent.futures.Future = concurrent.futures.Future()
        self._jobs.put((coro, done))
        return done.result(timeout=120)

    def stop(self) -> None:
        self._jobs.put(None)
        self.thread.join(timeout=60)


@contextlib.contextmanager
def two_processes(*settings: Settings) -> Iterator[list[tuple[Engine, NewsQABot, Process]]]:
    """A started process (engine, bot, its SimCord) for each settings; all stopped and closed after."""
    engines: list[Engine] = []
    processes: list[Process] = []
    try:
        bots = []
        for one in settings:
            engine, bot = start_process(one)
            engines.append(engine)
            bots.append(bot)
        for bot in bots:
            processes.append(Process(bot))
        yield list(zip(engines, bots, processes))
    finally:
        for process in processes:
            process.stop()
        for engine in engines:
            engine.close()


def test_admin_changes_through_one_process_are_seen_by_the_other(tmp_path: Path, postgres_url: str,
                                                                  server: FeedServer) -> None:
    shared = Settings(index_dir=tmp_path / "index", seeds_dir=SEEDS, cooldown_questions=50, feed_poll_minutes=0,
                      allow_private_urls=True, fetch_timeout=5.0, records_url=postgres_url, shard_count=2)
    server.feed("/herald.xml", [server.article("/news/council", "Council story", number=1, published=rfc822(1))])
    # host A runs every shard (before the move), host B shard 1, this server's
    with two_processes(shared, replace(shared, shard_ids=(1,))) as [(_, bot_a, a), (_, bot_b, b)]:
        assert isinstance(bot_a.records.db, PostgresDatabase) and isinstance(bot_b.records.db, PostgresDatabase)
        # Through A: an article added, a feed followed, a question nobody could answer.
        added = a.do(a.admin.slash(a.channel, "add-article", file=("zorblax.txt", ZORB.encode())))
        assert "Added: `" in added.response.content
        shown = a.do(a.admin.slash(a.channel, "feed-add", url=server.url("/herald.xml")))
        a.do(a.admin.click(shown.response.message, label="Follow"))
        a.do(a.env.settle())
        a.do(a.alice.slash(a.channel, "ask", question="What is the capital of Peru?"))

        # Through B: all of it.
        status = b.do(b.admin.slash(b.channel, "status")).response.embeds[0]
        assert any(f.value.startswith("add-article by boss") for f in status.fields), status.fields
        feeds = b.do(b.admin.slash(b.channel, "feeds")).response.embeds[0]
        assert "Herald" in (feeds.description or "") + "".join(f.name + f.value for f in feeds.fields)
        gaps = b.do(b.admin.slash(b.channel, "gaps")).response.embeds[0]
        assert "What is the capital of Peru?" in gaps.description
        answer = b.do(b.alice.slash(b.channel, "ask", question=ZORB_QUESTION))
        assert "900 tonnes" in answer.response.embeds[0].description
        actions = [e["action"] for e in bot_b.records.audit_log(guild_id=GUILD_ID)]  # newest first
        assert actions == ["gaps", "feeds", "status", "feed-add", "add-article"], actions

        # And back: B rebuilds the corpus; A sees the change in its status.
        b.do(b.admin.slash(b.channel, "reindex"))
        status = a.do(a.admin.slash(a.channel, "status")).response.embeds[0]
        assert any(f.value.startswith("reindex by boss") for f in status.fields), status.fields
        # it all went through PostgreSQL: no SQLite records beside the shared corpora
        assert isinstance(bot_a.get_cog("Feeds").store.db, PostgresDatabase)
        assert not (shared.index_dir / "bot.sqlite").exists() and not (shared.index_dir / "feeds.sqlite").exists()


def test_hosts_with_their_own_index_dirs_share_the_corpora(tmp_path: Path, postgres_url: str) -> None:
    """SHARE_CORPORA: the corpora are in the database too, so hosts need no shared file system. An article
    added through A is answered by B; B's rebuild keeps it (its source is in the database) and A answers
    from B's generation."""
    common = Settings(seeds_dir=SEEDS, cooldown_questions=50, feed_poll_minutes=0, records_url=postgres_url,
                      share_corpora=True, shard_count=2)
    with two_processes(replace(common, index_dir=tmp_path / "host-a"),
                       replace(common, index_dir=tmp_path / "host-b", shard_ids=(1,))) as [(engine_a, _, a),
                                                                                          (engine_b, _, b)]:
        added = a.do(a.admin.slash(a.channel, "add-article", file=("zorblax.txt", ZORB.encode())))
        assert "Added: `" in added.response.content
        answer = b.do(b.alice.slash(b.channel, "ask", question=ZORB_QUESTION))
        assert "900 tonnes" in answer.response.embeds[0].description

        b.do(b.admin.slash(b.channel, "reindex"))
        answer = a.do(a.alice.slash(a.channel, "ask", question=ZORB_QUESTION))
        assert "900 tonnes" in answer.response.embeds[0].description
        (corpus,) = [c for c in engine_a.corpora() if c != SEEDS_CORPUS]  # the server's own corpus
        live = engine_a.index(corpus).path
        assert live == tmp_path / "host-a" / "corpora" / corpus / live.name  # A's own copy
        assert engine_b.index(corpus).path == tmp_path / "host-b" / "corpora" / corpus / live.name  # of B's write


# ------------------------------------------------------------------ the records database goes down


@pytest.fixture
def bot_settings(tmp_path: Path, postgres_url: str) -> Settings:
    """The standard SimCord bot (tests/botfixtures.py), with its records and feeds in PostgreSQL."""
    return Settings(index_dir=tmp_path / "index", seeds_dir=SEEDS, cooldown_questions=50, cooldown_seconds=30.0,
                    feed_poll_minutes=0, records_url=postgres_url)


def labels(message) -> list[str]:
    return [c.get("label") or c["emoji"]["name"] for row in message.components for c in row["components"]]


async def test_questions_are_answered_while_the_records_database_is_down(world: World, tmp_path: Path,
                                                                         caplog: pytest.LogCaptureFixture) -> None:
    """Records are for buttons and admin commands: with PostgreSQL unreachable a question is still answered
    (without buttons, which read the record), admin commands say plainly that the records cannot be reached
    without showing where the database is, and all works again once it is back."""
    db = world.bot.records.db
    url = db.url
    assert labels((await world.alice.slash(world.channel, "ask", question=ANSWERABLE)).response) == [
        "More context", "👍", "👎"]
    import psycopg

    (tmp_path / "gone").mkdir()
    db.url = f"postgresql://postgres@/postgres?host={tmp_path / 'gone'}&connect_timeout=2"  # the server "moves away"
    with psycopg.connect(url, autocommit=True) as admin:  # and the bot's connection drops
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name LIKE "
                      "'newsqa bot %'")

    down = (await world.alice.slash(world.channel, "ask", question=ANSWERABLE)).response
    assert "$485 billion" in down.embeds[0].description and labels(down) == []
    assert "question not recorded, answered without buttons" in caplog.text
    gaps = (await world.admin.slash(world.channel, "gaps")).response
    assert gaps.ephemeral and gaps.content == RECORDS_UNAVAILABLE
    assert "gone" not in gaps.content and "postgres@" not in gaps.content
    (error,) = world.env.errors  # /gaps's went through the tree's error handler; the question raised none
    assert "cannot connect to the PostgreSQL database" in str(error.original)

    db.url = url  # back
    back = (await world.alice.slash(world.channel, "ask", question=ANSWERABLE)).response
    assert labels(back) == ["More context", "👍", "👎"]
    assert [e["action"] for e in world.bot.records.audit_log(guild_id=world.guild.id)] == []  # /gaps failed
