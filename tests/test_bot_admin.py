"""End to end under SimCord: the admin commands, their checks, progress, audit, and uploads that must be refused."""

from __future__ import annotations

import asyncio
import threading
import pytest

from bot.app import NOT_ADMIN, SEEDS_CORPUS, create_bot
from bot.format import NO_ANSWER
from bot.settings import Settings
from index.embed import HashingEncoder
from index.engine import Engine, EngineSettings
from tests.botfixtures import (  # noqa: F401
    GatedEngine,
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

ADMIN_COMMANDS = {"reindex": {}, "add-article": {"url": "https://example.com/a"},
                  "remove-article": {"document": "nato-defense-ministers"}, "gaps": {}, "status": {}}


@pytest.fixture
def bot_engine(bot_settings):  # noqa: F811 - the gated engine for this module
    engine = GatedEngine(bot_settings.index_dir, HashingEncoder(), EngineSettings(seeds_dir=SEEDS))
    engine.ensure(SEEDS_CORPUS)
    yield engine
    engine.close()


async def test_admin_commands_are_hidden_from_members_by_default(world: World):
    visible = set(world.alice.available_commands(world.channel))
    assert not visible & set(ADMIN_COMMANDS)
    assert set(ADMIN_COMMANDS) <= set(world.admin.available_commands(world.channel))


@pytest.mark.parametrize("command", sorted(ADMIN_COMMANDS))
async def test_non_admin_is_refused_by_the_bot_itself(world: World, command: str):
    # A server that shows the commands to everyone (Integrations settings): the bot still checks.
    synced = {c.name: c for c in await world.bot.tree.fetch_commands()}
    world.guild.set_command_permissions(synced[command], {world.guild.default_role: True})
    result = await world.alice.slash(world.channel, command, **ADMIN_COMMANDS[command])
    assert result.response.ephemeral
    assert result.response.content == NOT_ADMIN
    assert world.env.errors  # the NotAdmin check failure reached the error handler
    assert world.bot.records.audit_log(guild_id=world.guild.id) == []
    assert [d.doc_id for d in world.documents()] == ["nato-defense-ministers"]


async def test_member_with_an_admin_role_is_admin(world: World):
    role = world.guild.create_role("Editors")
    editor = world.guild.add_member(world.env.create_user("editor"), roles=[role])
    world.configure(admin_role_ids=frozenset({role.id}))
    synced = {c.name: c for c in await world.bot.tree.fetch_commands()}
    world.guild.set_command_permissions(synced["status"], {role: True})
    result = await editor.slash(world.channel, "status")
    assert result.response.embeds[0].title == "newsqa status"


async def test_add_attached_article_then_ask_finds_it_while_a_concurrent_ask_used_the_old_index(world: World):
    world.configure(ask_channel_ids=frozenset({world.channel.id}))
    env, loop = world.env, asyncio.get_running_loop()
    asked = threading.Event()
    original_ask = world.bot.engine.ask

    def ask_and_signal(*args, **kwargs):
        try:
            return original_ask(*args, **kwargs)
        finally:
            asked.set()

    world.bot.engine.ask = ask_and_signal

    def concurrent_question():
        # In the writer's thread, with the new generation not yet live: a member asks in the channel.
        loop.call_soon_threadsafe(env.backend.create_message, world.channel.id, world.alice.id, ZORB_QUESTION)
        assert asked.wait(10), "the concurrent question was not answered while the article was being added"

    world.bot.engine.hook = concurrent_question
    result = await world.admin.slash(world.channel, "add-article", file=("zorblax.txt", ZORB.encode()))
    final = result.response
    assert final.ephemeral
    assert final.content.startswith("Adding the article: the index now has 2 documents")
    assert "Added: `" in final.content

    (thread,) = world.channel.threads  # the concurrent question was answered from the old index
    old = thread.last_message
    assert old.author.id == world.bot.user.id
    assert old.content.startswith(NO_ANSWER)  # the old index has no zorblax article

    after = await world.alice.slash(world.channel, "ask", question=ZORB_QUESTION)
    assert "900 tonnes" in after.response.embeds[0].description

    (entry,) = world.bot.records.audit_log(guild_id=world.guild.id)
    assert entry["action"] == "add-article" and entry["user_id"] == world.admin.id
    assert "zorblax.txt" in entry["detail"] and "2 documents" in entry["detail"]
    edits = [r for r in env.http_requests if r.method == "PATCH" and "@original" in r.path]
    assert any("embedding" in (r.json or {}).get("content", "") for r in edits), "no progress edit"


async def test_add_article_from_pasted_text_modal(world: World):
    shown = await world.admin.slash(world.channel, "add-article", title="Zorblax news")
    assert shown.modal is not None
    fields = [c["components"][0]["custom_id"] for c in shown.modal["components"]]
    result = await world.admin.submit_modal(shown, {fields[0]: "Zorblax news", fields[1]: ZORB})
    assert "2 documents" in result.response.content
    titles = [d.title for d in world.documents()]
    assert "Zorblax news" in titles


@pytest.mark.parametrize(
    ("name", "data", "expected"),
    [
        ("photo.png", b"\x89PNG\r\n\x1a\n" + bytes(200), "not a .txt, .md or .html"),
        ("binary.txt", b"\x00\x01\x02PK\x03\x04" + bytes(500), "binary"),
        ("latin1.txt", "Caf\u00e9 cr\u00e8me prices rose sharply in 2024 across the region.".encode("latin-1"), "UTF-8"),
    ],
)
async def test_unusable_attachments_are_refused_in_plain_language(world: World, name, data, expected):
    result = await world.admin.slash(world.channel, "add-article", file=(name, data))
    assert result.response.ephemeral
    assert result.response.content.startswith("Sorry, ")
    assert expected.lower() in result.response.content.lower()
    assert world.env.errors
    assert len(world.documents()) == 1


async def test_oversized_attachment_is_refused_before_download(world: World):
    world.configure(max_upload_bytes=1000)
    result = await world.admin.slash(world.channel, "add-article", file=("big.txt", b"word. " * 1000))
    assert result.response.ephemeral
    assert "6,000 bytes" in result.response.content and "1,000" in result.response.content
    assert not result.deferred
    assert world.env.errors


async def test_remove_article_with_autocomplete_and_reindex(world: World):
    await world.admin.slash(world.channel, "add-article", file=("zorblax.txt", ZORB.encode()))
    choices = await world.admin.autocomplete(world.channel, "remove-article", "document", "zorb")
    assert len(choices) == 1
    doc_id = choices[0]["value"]
    result = await world.admin.slash(world.channel, "remove-article", document=doc_id)
    assert "the index now has 1 documents" in result.response.content and f"Removed: `{doc_id}`" in \
        result.response.content
    result = await world.admin.slash(world.channel, "reindex")
    assert result.response.content.startswith("Reindex: the index now has 1 documents")
    assert [e["action"] for e in world.bot.records.audit_log(guild_id=world.guild.id)] == ["reindex", "remove-article", "add-article"]
    missing = await world.admin.slash(world.channel, "remove-article", document="no-such-article")
    assert "no document 'no-such-article'" in missing.response.content
    assert world.env.errors


async def test_gaps_lists_unanswered_questions(world: World):
    await world.alice.slash(world.channel, "ask", question="What is the capital of Peru?")
    result = await world.admin.slash(world.channel, "gaps")
    assert result.response.ephemeral
    assert "What is the capital of Peru?" in result.response.embeds[0].description


async def test_status_shows_size_model_last_reindex_and_latency(world: World):
    await world.alice.slash(world.channel, "ask", question=ANSWERABLE)
    await world.admin.slash(world.channel, "reindex")
    embed = (await world.admin.slash(world.channel, "status")).response.embeds[0]
    values = {f.name: f.value for f in embed.fields}
    assert "1 documents" in values["Index"] and "13 sentences" in values["Index"]
    assert values["Model"].startswith("fake\\-hashing") or values["Model"].startswith("fake-hashing")
    assert values["Last reindex"].startswith("reindex by boss")
    assert "over the last 1 questions" in values["Answer latency"]


async def test_admin_actions_are_posted_to_the_audit_channel(world: World):
    audit = world.guild.create_text_channel("audit")
    world.configure(audit_channel_id=audit.id)
    await world.admin.slash(world.channel, "reindex")
    posted = audit.last_message
    assert posted.content.startswith(f"🛠️ {world.admin.mention} used `/reindex`")
    assert not posted.mention_everyone


async def test_commands_sync_to_the_configured_guild_at_start_up(tmp_path):
    import simcord

    settings = Settings(index_dir=tmp_path / "i", seeds_dir=SEEDS, discord_guild_id=1_100_000_000_000_000_001)
    engine = Engine(settings.index_dir, HashingEncoder(), EngineSettings(seeds_dir=SEEDS))
    engine.ensure("default")
    bot = create_bot(engine, settings)
    try:
        async with simcord.run(bot) as env:
            guild = env.create_guild(id=settings.discord_guild_id)
            channel = guild.create_text_channel("general")
            alice = guild.add_member(env.create_user("alice"))
            assert "ask" in alice.available_commands(channel)
            result = await alice.slash(channel, "articles")
            assert "NATO" in result.response.embeds[0].description
            assert not any(r.method == "PUT" and r.path.endswith("/commands") and "guilds" not in r.path
                           for r in env.http_requests), "synced globally at start-up"
    finally:
        engine.close()
