"""End to end under SimCord: /feed-add, /feed-remove, /feeds and the poller, against a local feed server.

The feed server is on 127.0.0.1, so these servers run with ALLOW_PRIVATE_URLS=true (``world.configure``).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest

from bot.app import NOT_ADMIN, SEEDS_CORPUS
from bot.cogs.feeds import Feeds
from bot.format import NO_ANSWER
from bot.poller import TICK
from index.embed import HashingEncoder
from index.engine import Engine, EngineSettings
from bot.settings import Settings
from tests.botfixtures import SEEDS, GatedEngine, World, simcord_bot, world  # noqa: F401
from tests.feedserver import FeedServer, rfc822

FEED_COMMANDS = {"feed-add": {"url": "https://example.com/feed.xml"}, "feed-remove": {"feed": "1"}, "feeds": {}}


@pytest.fixture
def bot_settings(tmp_path) -> Settings:
    """As in botfixtures, with the feed poller running (every 30 minutes, as by default)."""
    return Settings(index_dir=tmp_path / "index", seeds_dir=SEEDS, cooldown_questions=50, cooldown_seconds=30.0,
                    feed_poll_minutes=30)


@pytest.fixture
def bot_engine(bot_settings):
    engine = GatedEngine(bot_settings.index_dir, HashingEncoder(), EngineSettings(seeds_dir=SEEDS))
    engine.ensure(SEEDS_CORPUS)
    yield engine
    engine.close()


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with FeedServer() as s:
        yield s


@pytest.fixture
def local(world: World) -> World:
    world.configure(allow_private_urls=True, fetch_timeout=5.0)
    return world


def cog(world: World) -> Feeds:
    return world.bot.get_cog("Feeds")


def doc_ids(world: World) -> list[str]:
    return [d.doc_id for d in world.documents()]


async def follow(world: World, server: FeedServer, path: str, **options) -> object:
    shown = await world.admin.slash(world.channel, "feed-add", url=server.url(path), **options)
    result = await world.admin.click(shown.response.message, label="Follow")
    await world.env.settle()  # the new feed's first poll runs in the background
    return shown, result


def herald(server: FeedServer, count: int = 3) -> list:
    return [server.article(f"/news/council-story-{n}", f"Council story {n}", number=n, published=rfc822(n))
            for n in range(1, count + 1)]


async def test_feed_commands_are_for_admins_only(world: World):
    assert not set(world.alice.available_commands(world.channel)) & set(FEED_COMMANDS)
    assert set(FEED_COMMANDS) <= set(world.admin.available_commands(world.channel))
    synced = {c.name: c for c in await world.bot.tree.fetch_commands()}
    for name, options in FEED_COMMANDS.items():
        world.guild.set_command_permissions(synced[name], {world.guild.default_role: True})
        result = await world.alice.slash(world.channel, name, **options)
        assert result.response.ephemeral and result.response.content == NOT_ADMIN
    assert len(world.env.errors) == 3  # each refusal reached the error handler


async def test_feed_add_previews_then_follows_and_indexes_the_latest_items(local: World, server: FeedServer):
    news = local.guild.create_text_channel("news")
    server.feed("/herald.xml", herald(server), title="Exampleton Herald")
    shown = await local.admin.slash(local.channel, "feed-add", url=server.url("/herald.xml"), channel=news)
    preview = shown.response
    assert preview.ephemeral
    embed = preview.embeds[0]
    assert embed.title == "Follow “Exampleton Herald”?"
    assert "Council story 1" in embed.description and "Council story 3" in embed.description
    assert news.mention in embed.description
    assert cog(local).store.feeds(local.corpus) == []  # nothing subscribed before the click

    done = await local.admin.click(preview.message, label="Follow")
    await local.env.settle()
    assert "Following **Exampleton Herald**" in done.response.content
    assert {"council-story-1", "council-story-2", "council-story-3"} <= set(doc_ids(local))
    assert news.last_message is None  # the backlog is not announced
    after = await local.alice.slash(local.channel, "ask", question="How much did spending on council story 2 rise to?")
    assert "$14 million" in after.response.embeds[0].description

    (entry,) = local.bot.records.audit_log(guild_id=local.guild.id)
    assert entry["action"] == "feed-add" and server.url("/herald.xml") in entry["detail"]
    listing = (await local.admin.slash(local.channel, "feeds")).response
    assert listing.ephemeral
    text = listing.embeds[0].description
    assert "Exampleton Herald" in text and news.mention in text and "3 articles in the index" in text
    assert "checked <t:" in text and "last new article <t:" in text and "⚠️" not in text


async def test_the_poller_announces_new_articles_in_the_channel_without_pings(local: World, server: FeedServer):
    news = local.guild.create_text_channel("news")
    items = herald(server, 1)
    server.feed("/herald.xml", items)
    await follow(local, server, "/herald.xml", channel=news)
    local.configure(feed_posts_per_poll=2)
    items += [server.article(f"/news/fresh-story-{n}", f"@everyone Fresh story {n}", number=n + 10,
                             published=rfc822(0)) for n in range(1, 5)]
    server.feed("/herald.xml", items)
    store = cog(local).store
    store.make_due(local.corpus)
    await local.env.advance_time(TICK + 1)  # the poller's next look
    await local.env.settle()
    posts = [m for m in news.history() if m.author.id == local.bot.user.id]
    assert len(posts) == 3  # two announcements, then one line for the rest
    first = posts[0].embeds[0]
    assert first.title.startswith("New: ") and "Fresh story" in first.title
    assert "$" in first.description  # its key figures
    assert posts[2].content.startswith("…and 2 more new articles from")
    assert not any(p.mention_everyone for p in posts)
    assert len(doc_ids(local)) == 1 + 1 + 4


async def test_feed_add_refuses_a_page_that_is_not_a_feed_and_the_limit(local: World, server: FeedServer):
    server.set("/about", body=b"<html><body><p>About us. We write news.</p></body></html>")
    result = await local.admin.slash(local.channel, "feed-add", url=server.url("/about"))
    assert result.response.ephemeral
    assert result.response.content.startswith("Sorry, ") and "links to no feed" in result.response.content
    local.configure(max_feeds=1)
    server.feed("/a.xml", herald(server, 1))
    server.feed("/b.xml", herald(server, 1))
    await follow(local, server, "/a.xml")
    again = await local.admin.slash(local.channel, "feed-add", url=server.url("/a.xml"))
    assert "already follows 1 feed, the limit (MAX\\_FEEDS=1)" in again.response.content
    assert len(cog(local).store.feeds(local.corpus)) == 1


async def test_feed_add_refuses_loopback_without_allow_private_urls(world: World, server: FeedServer):
    server.feed("/a.xml", [])
    result = await world.admin.slash(world.channel, "feed-add", url=server.url("/a.xml"))
    assert "loopback" in result.response.content and r"ALLOW\_PRIVATE\_URLS" in result.response.content
    assert result.response.ephemeral and not result.followups


@pytest.mark.parametrize(("button", "kept"), [("keep", True), ("and its", False)])
async def test_feed_remove_asks_whether_to_keep_the_articles(local: World, server: FeedServer, button: str,
                                                             kept: bool):
    server.feed("/herald.xml", herald(server, 2), title="Exampleton Herald")
    await follow(local, server, "/herald.xml")
    choices = await local.admin.autocomplete(local.channel, "feed-remove", "feed", "examp")
    assert [c["name"] for c in choices] == [f"Exampleton Herald ({server.url('/herald.xml')})"]
    asked = await local.admin.slash(local.channel, "feed-remove", feed=choices[0]["value"])
    assert "It brought 2 articles" in asked.response.content
    label = next(c["label"] for row in asked.response.components for c in row["components"]
                 if button in c["label"])
    done = await local.admin.click(asked.response.message, label=label)
    assert "No longer following **Exampleton Herald**" in done.response.content
    assert cog(local).store.feeds(local.corpus) == []
    ids = doc_ids(local)
    assert ("council-story-1" in ids) is kept and ("council-story-2" in ids) is kept
    assert local.bot.records.audit_log(guild_id=local.guild.id)[0]["action"] == "feed-remove"


async def test_feeds_shows_the_last_error_of_a_broken_feed(local: World, server: FeedServer):
    server.feed("/flaky.xml", herald(server, 1), title="Flaky")
    await follow(local, server, "/flaky.xml")
    server.set("/flaky.xml", status=500, body=b"oops")
    cog(local).store.make_due(local.corpus)
    await cog(local).poller.poll(local.corpus)
    text = (await local.admin.slash(local.channel, "feeds")).response.embeds[0].description
    assert "⚠️" in text and "HTTP 500" in text and "failed 1× in a row" in text


async def test_a_failed_poll_is_logged_and_the_next_one_indexes(local: World, server: FeedServer, monkeypatch, caplog):
    server.feed("/herald.xml", herald(server, 2))
    original_add = local.bot.engine.add
    monkeypatch.setattr(local.bot.engine, "add", lambda *a, **k: (_ for _ in ()).throw(OSError("disk full")))
    await follow(local, server, "/herald.xml")
    assert "polling the feeds of corpus" in caplog.text and "disk full" in caplog.text
    assert "council-story-1" not in doc_ids(local)
    assert cog(local).store.queued(local.corpus, 10)[0].attempts == 0  # the index's failure, not the page's
    monkeypatch.setattr(local.bot.engine, "add", original_add)
    report = await cog(local).poller.poll(local.corpus)  # the items are still queued: retried, not lost
    assert sorted(a.doc_id for a in report.added) == ["council-story-1", "council-story-2"]


async def test_questions_are_answered_from_the_old_index_while_a_poll_indexes(local: World, server: FeedServer):
    local.configure(ask_channel_ids=frozenset({local.channel.id}))
    server.feed("/herald.xml", herald(server, 2))
    env, loop = local.env, asyncio.get_running_loop()
    asked = threading.Event()
    original_ask = local.bot.engine.ask

    def ask_and_signal(*args, **kwargs):
        try:
            return original_ask(*args, **kwargs)
        finally:
            asked.set()

    local.bot.engine.ask = ask_and_signal

    def concurrent_question():
        loop.call_soon_threadsafe(env.backend.create_message, local.channel.id, local.alice.id,
                                  "How much did spending on council story 2 rise to?")
        assert asked.wait(10), "a question was not answered while the poll was indexing"

    local.bot.engine.hook = concurrent_question
    await follow(local, server, "/herald.xml")
    (thread,) = local.channel.threads
    assert thread.last_message.content.startswith(NO_ANSWER)  # answered from the index without the feed
    assert "council-story-2" in doc_ids(local)


async def test_the_poller_leaves_servers_of_other_shards_to_their_process(local: World, server: FeedServer):
    """With SHARD_IDS, each process polls only the feeds of its own shards' servers: one poll, one post."""
    news = local.guild.create_text_channel("news")
    items = herald(server, 1)
    server.feed("/herald.xml", items)
    await follow(local, server, "/herald.xml", channel=news)
    server.feed("/herald.xml", items + [server.article("/news/fresh", "Fresh story", number=11, published=rfc822(0))])
    own = (local.guild.id >> 22) % 2
    store = cog(local).store
    local.configure(shard_count=2, shard_ids=(1 - own,))  # another process runs this server's shard
    store.make_due(local.corpus)
    await local.env.advance_time(TICK + 1)
    await local.env.settle()
    assert not [m for m in news.history() if m.author.id == local.bot.user.id]
    local.configure(shard_ids=(own,))
    await local.env.advance_time(TICK + 1)
    await local.env.settle()
    assert [m for m in news.history() if m.author.id == local.bot.user.id]
