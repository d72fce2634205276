"""Per-server corpora under SimCord: two servers each add a different article and never see the other's
documents, figures, citations, feedback, gaps or audit entries; direct messages see the seeds only;
a corrupt index at start-up or on first use is rebuilt while the bot keeps running."""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3

import discord
import pytest
import pytest_asyncio
import simcord

import bot.runtime
from bot import main
from bot.app import NOT_ADMIN, SEEDS_CORPUS, CorpusRebuildingError, ReadOnlyCorpusError, create_bot
from bot.format import NO_ANSWER
from bot.records import Records
from bot.settings import Settings
from index.documents import load_text
from index.embed import HashingEncoder
from index.engine import Engine, EngineSettings
from index.errors import IndexCorruptError
from tests.botfixtures import (  # noqa: F401
    ANSWERABLE,
    SEEDS,
    ZORB,
    ZORB_QUESTION,
    World,
    bot_engine,
    bot_settings,
    simcord_bot,
    world,
)

QUOKKA = ("Quokka ferry fares rise\n\nThe Rottnest ferry operator said quokka island fares will rise by 17% in "
          "March, to 64 dollars for a return ticket.\n\nTourism groups said the quokka ferry rise was steep.")
QUOKKA_QUESTION = "By how much will the quokka island ferry fares rise?"


def doc_ids(hits_or_docs) -> set[str]:
    return {h.doc_id for h in hits_or_docs}


@pytest_asyncio.fixture
async def two(world: World) -> tuple[World, World]:
    """A second server with its own channel, member and admin; each server's admin added its own article."""
    env = world.env
    guild = env.create_guild(name="Other Guild")
    channel = guild.create_text_channel("general")
    bob = guild.add_member(env.create_user("bob"))
    managers = guild.create_role("Managers", permissions=discord.Permissions(manage_guild=True))
    admin = guild.add_member(env.create_user("chief"), roles=[managers])
    other = World(env, world.bot, guild, channel, bob, admin)
    for w, name, text in ((world, "zorblax.txt", ZORB), (other, "quokka.txt", QUOKKA)):
        result = await w.admin.slash(w.channel, "add-article", file=(name, text.encode()))
        assert "the index now has 2 documents" in result.response.content
    return world, other


async def test_each_server_answers_from_its_own_article_and_never_the_others(two):
    a, b = two
    assert a.corpus != b.corpus and SEEDS_CORPUS not in (a.corpus, b.corpus)
    own = await a.alice.slash(a.channel, "ask", question=ZORB_QUESTION)
    assert "900 tonnes" in own.response.embeds[0].description
    own = await b.alice.slash(b.channel, "ask", question=QUOKKA_QUESTION)
    assert "quokka" in own.response.embeds[0].description.lower()
    for w, question, foreign in ((a, QUOKKA_QUESTION, "quokka"), (b, ZORB_QUESTION, "zorblax")):
        msg = (await w.alice.slash(w.channel, "ask", question=question)).response
        assert msg.content.startswith(NO_ANSWER)
        closest = await w.alice.click(msg.message, label="Show closest passages")
        assert foreign not in closest.response.embeds[0].description.lower()
        await w.alice.send(w.channel, f"<@{w.bot.user.id}> {question}")  # by mention, in a thread: the same
        assert w.channel.threads[-1].last_message.content.startswith(NO_ANSWER)
    # the engine itself: each corpus holds the seeds and its own article only
    assert len(a.documents()) == 2 and len(b.documents()) == 2
    assert not any("quokka" in d.doc_id for d in a.documents())
    assert not any("zorblax" in d.doc_id for d in b.documents())


async def test_articles_figures_source_and_autocomplete_are_per_server(two):
    a, b = two
    listed = (await a.alice.slash(a.channel, "articles")).response.embeds[0]
    assert listed.title == "Indexed articles (2)" and "Zorblax" in listed.description
    assert "Quokka" not in listed.description
    figures = (await b.alice.slash(b.channel, "figures")).response.embeds[0].description
    assert "17%" in figures and "900 tonnes" not in figures
    figure = (await a.alice.slash(a.channel, "figure", query="quokka ferry fare rise")).response
    assert "17%" not in str(figure.embeds[0].to_dict() if figure.embeds else figure.content)
    topics = await b.alice.autocomplete(b.channel, "figures", "topic", "")
    assert any("Quokka" in c["name"] for c in topics) and not any("Zorblax" in c["name"] for c in topics)
    removable = await a.admin.autocomplete(a.channel, "remove-article", "document", "")
    assert {c["value"] for c in removable} == {d.doc_id for d in a.documents()}

    zorb_id = next(d.doc_id for d in a.documents() if "zorblax" in d.doc_id)
    assert (await a.alice.slash(a.channel, "source", citation=f"{zorb_id}:1")).response.embeds
    refused = await b.alice.slash(b.channel, "source", citation=f"{zorb_id}:1")
    assert refused.response.ephemeral and f"no document '{zorb_id}'" in refused.response.content
    assert a.env.errors
    # /source autocomplete offers citations from this server's answers only
    await a.alice.slash(a.channel, "ask", question=ZORB_QUESTION)
    alice_in_b = b.guild.add_member(a.alice.user)  # the same person in both servers
    await alice_in_b.slash(b.channel, "ask", question=QUOKKA_QUESTION)
    in_b = await alice_in_b.autocomplete(b.channel, "source", "citation", "")
    assert in_b and not any("zorblax" in c["value"] for c in in_b)
    in_a = await a.alice.autocomplete(a.channel, "source", "citation", "")
    assert in_a and not any("quokka" in c["value"] for c in in_a)


async def test_feedback_gaps_status_and_audit_are_per_server(two):
    a, b = two
    msg = (await a.alice.slash(a.channel, "ask", question=ZORB_QUESTION)).response
    down = next(c["custom_id"] for row in msg.components for c in row["components"]
                if (c.get("emoji") or {}).get("name") == "👎")
    await a.alice.click(msg.message, custom_id=down)
    await b.alice.slash(b.channel, "ask", question="What is the capital of Peru?")
    records = a.bot.records
    assert [f["question"] for f in records.feedback(guild_id=a.guild.id)] == [ZORB_QUESTION]
    assert records.feedback(guild_id=b.guild.id) == []
    gaps_a = (await a.admin.slash(a.channel, "gaps")).response.embeds[0].description
    gaps_b = (await b.admin.slash(b.channel, "gaps")).response.embeds[0].description
    assert "zorblax" in gaps_a and "Peru" not in gaps_a
    assert "Peru" in gaps_b and "zorblax" not in gaps_b
    status_b = {f.name: f.value for f in (await b.admin.slash(b.channel, "status")).response.embeds[0].fields}
    assert b.corpus in status_b["Index"] and "2 documents" in status_b["Index"]
    assert "over the last 1 questions" in status_b["Answer latency"]
    assert status_b["Last reindex"].startswith("add-article by chief")
    assert {e["user_id"] for e in records.audit_log(guild_id=a.guild.id)} == {a.admin.id}
    assert {e["user_id"] for e in records.audit_log(guild_id=b.guild.id)} == {b.admin.id}
    # a button of one server's answer does nothing for another server (e.g. a forged custom id)
    assert records.answer(1, guild_id=b.guild.id) is None
    assert records.vote(1, b.alice.id, "up", guild_id=b.guild.id) is False


async def test_direct_messages_see_the_seeds_only_and_cannot_change_them(two):
    a, _ = two
    dora = a.env.create_user("dora")
    assert "ask" in dora.available_commands()
    assert not {"add-article", "remove-article", "reindex", "gaps", "status"} & set(dora.available_commands())
    answered = await dora.slash("ask", question=ANSWERABLE)
    assert "$485 billion" in answered.response.embeds[0].description
    for question in (ZORB_QUESTION, QUOKKA_QUESTION):
        assert (await dora.slash("ask", question=question)).response.content.startswith(NO_ANSWER)
    listed = (await dora.slash("articles")).response.embeds[0]
    assert listed.title == "Indexed articles (1)"
    with pytest.raises(ReadOnlyCorpusError, match="can't be changed from Discord"):
        await a.bot.writable_corpus(None)
    assert [d.doc_id for d in a.bot.engine.documents(SEEDS_CORPUS)] == ["nato-defense-ministers"]


async def test_an_admin_of_one_server_cannot_change_another(two):
    a, b = two
    chief_in_a = a.guild.add_member(b.admin.user)  # chief manages server B, and is a plain member of server A
    synced = {c.name: c for c in await a.bot.tree.fetch_commands()}
    a.guild.set_command_permissions(synced["add-article"], {a.guild.default_role: True})
    result = await chief_in_a.slash(a.channel, "add-article", file=("quokka2.txt", QUOKKA.encode()))
    assert result.response.ephemeral and result.response.content == NOT_ADMIN
    assert a.env.errors
    assert len(a.documents()) == 2 and len(b.documents()) == 2


async def test_first_use_creates_a_servers_corpus_once(world: World):
    engine = world.bot.engine
    builds = []
    original = engine._build_locked  # what both build() and ensure() run under the writer lock

    def counting(cdir, *args, **kwargs):
        builds.append(cdir.name)
        return original(cdir, *args, **kwargs)

    engine._build_locked = counting
    assert not engine.has_corpus(world.corpus)
    names = await asyncio.gather(*(world.bot.corpus_ready(world.guild.id) for _ in range(5)))
    assert set(names) == {world.corpus} and builds == [world.corpus]
    first = await world.alice.slash(world.channel, "ask", question=ANSWERABLE)  # not refused, answered
    assert "$485 billion" in first.response.embeds[0].description
    assert engine.stats(world.corpus).generation == 1


def corrupt(engine: Engine, corpus: str, how: str) -> None:
    """Damage the live generation (on Milvus, `pytest --index-backend milvus`: its sentences collection
    dropped, its terms.json truncated)."""
    live = engine.corpus(corpus).current()
    milvus = (live / "milvus.json").exists()
    if how == "garbage faiss" and milvus:
        engine.backend.client.drop_collection(json.loads((live / "milvus.json").read_text())["collections"]["sentences"])
    elif how == "garbage faiss":
        (live / "sentences.faiss").write_bytes(b"garbage")
    elif how == "truncated sqlite":
        data = (live / "docs.sqlite").read_bytes()
        (live / "docs.sqlite").write_bytes(data[: len(data) // 3])
    elif how == "truncated vectors":
        name = "terms.json" if milvus else "vectors.npy"
        data = (live / name).read_bytes()
        (live / name).write_bytes(data[:100])


@pytest.mark.parametrize("how", ["garbage faiss", "truncated sqlite", "truncated vectors"])
async def test_corrupt_server_corpus_is_rebuilt_while_members_are_told(tmp_path, how):
    guild_id = 1_100_000_000_000_000_777
    settings = Settings(index_dir=tmp_path / "index", seeds_dir=SEEDS, cooldown_questions=50)
    engine = Engine(settings.index_dir, HashingEncoder(), EngineSettings(seeds_dir=SEEDS))
    engine.ensure(SEEDS_CORPUS)
    engine.ensure(str(guild_id))
    engine.add([load_text(ZORB)], corpus=str(guild_id))
    corrupt(engine, str(guild_id), how)
    engine.close()
    fresh = Engine(settings.index_dir, HashingEncoder(), EngineSettings(seeds_dir=SEEDS))  # as after a restart
    bot = create_bot(fresh, settings)
    builds, original = [], fresh.build

    def counting(corpus="default", *args, **kwargs):
        builds.append(corpus)
        return original(corpus, *args, **kwargs)

    fresh.build = counting
    try:
        async with simcord.run(bot) as env:
            await bot.sync_commands(None)
            guild = env.create_guild(id=guild_id)
            channel = guild.create_text_channel("general")
            alice = guild.add_member(env.create_user("alice"))
            told = await alice.slash(channel, "ask", question=ZORB_QUESTION)
            assert told.response.ephemeral
            assert told.response.content == ("Sorry, this server's index is being rebuilt from its sources; "
                                             "try again in a moment")
            assert env.errors
            await asyncio.gather(*bot.rebuilds.values())  # SimCord usually settles it before replying
            assert builds == [str(guild_id)]
            after = await alice.slash(channel, "ask", question=ZORB_QUESTION)
            assert "900 tonnes" in after.response.embeds[0].description  # the added article survived
            # one rebuild per corpus at a time, however many questions find it broken meanwhile
            for _ in range(3):
                bot.start_rebuild(str(guild_id), IndexCorruptError("test"))
            assert len(bot.rebuilds) == 1
            with pytest.raises(CorpusRebuildingError):
                await bot.corpus_ready(guild_id)
            await asyncio.gather(*bot.rebuilds.values())
            assert builds == [str(guild_id)] * 2 and not bot.rebuilds
    finally:
        fresh.close()


@pytest.mark.parametrize("how", ["garbage faiss", "truncated sqlite", "model mismatch"])
def test_corrupt_index_at_start_up_is_reported_and_the_bot_still_starts(tmp_path, monkeypatch, capsys, caplog, how):
    caplog.set_level(logging.INFO)
    settings = Settings(discord_token="x", index_dir=tmp_path / "index", seeds_dir=SEEDS)
    guild_id = "1100000000000000555"
    engine = Engine(settings.index_dir, HashingEncoder(name="older-model" if how == "model mismatch" else
                                                       "fake-hashing"), EngineSettings(seeds_dir=SEEDS))
    for corpus in (SEEDS_CORPUS, guild_id):
        engine.ensure(corpus)
        if how != "model mismatch":
            corrupt(engine, corpus, how)
    engine.close()
    monkeypatch.setattr(bot.runtime, "make_engine", lambda s, index_dir=None: Engine(
        s.index_dir, HashingEncoder(), EngineSettings(seeds_dir=SEEDS)))

    engine, started = main.prepare_bot(settings)
    try:
        err = capsys.readouterr().err
        assert "Rebuilding it from its sources" in err
        assert "newsqa index build --corpus seeds" in err
        assert f"newsqa index build --corpus {guild_id}" in caplog.text  # a server's corpus, reported too

        async def ask_in_a_dm() -> str:
            async with simcord.run(started) as env:
                await started.sync_commands(None)
                result = await env.create_user("dora").slash("ask", question=ANSWERABLE)
                return result.response.embeds[0].description

        assert "$485 billion" in asyncio.run(ask_in_a_dm())
    finally:
        engine.close()


def test_records_add_the_guild_column_to_an_older_file(tmp_path):
    path = tmp_path / "bot.sqlite"
    db = sqlite3.connect(path)
    db.executescript("""
        CREATE TABLE questions (id INTEGER PRIMARY KEY AUTOINCREMENT, question TEXT NOT NULL, answered INTEGER
            NOT NULL, confidence REAL NOT NULL, hits TEXT NOT NULL, user_id INTEGER, channel_id INTEGER,
            corpus TEXT NOT NULL, latency_ms REAL NOT NULL, asked_at TEXT NOT NULL);
        CREATE TABLE feedback (id INTEGER PRIMARY KEY AUTOINCREMENT, question_id INTEGER NOT NULL, question TEXT
            NOT NULL, answered INTEGER NOT NULL, confidence REAL NOT NULL, hits TEXT NOT NULL, user_id INTEGER
            NOT NULL, vote TEXT NOT NULL, voted_at TEXT NOT NULL, UNIQUE (question_id, user_id));
        CREATE TABLE audit (id INTEGER PRIMARY KEY AUTOINCREMENT, user_id INTEGER NOT NULL, user_name TEXT
            NOT NULL, action TEXT NOT NULL, detail TEXT NOT NULL, at TEXT NOT NULL);
        INSERT INTO questions VALUES (1, 'old?', 0, 0.1, '[]', 7, 8, 'default', 12.0, '2025-01-01T00:00:00+00:00');
        INSERT INTO feedback VALUES (1, 1, 'old?', 0, 0.1, '[]', 7, 'down', '2025-01-01T00:00:00+00:00');
        INSERT INTO audit VALUES (1, 7, 'boss', 'reindex', 'corpus default', '2025-01-01T00:00:00+00:00');
    """)
    db.close()
    records = Records(path)
    try:
        for table in ("questions", "feedback", "audit"):
            columns = {r[1] for r in records._run(f"PRAGMA table_info({table})")}
            assert "guild_id" in columns, table
        # old rows had no server: they read as direct-message rows, visible to no server
        assert [g["question"] for g in records.gaps(guild_id=None)] == ["old?"]
        assert records.gaps(guild_id=123) == []
        records.audit(user_id=7, user_name="boss", guild_id=123, action="reindex", detail="corpus 123")
        assert [e["guild_id"] for e in records.audit_log(guild_id=123)] == [123]
    finally:
        records.close()
    Records(path).close()  # opening again is a no-op migration
