"""``newsqa feed add|list|poll|remove`` in-process with the fake encoder, against the local feed server."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.feedserver import FeedServer
from tests.test_cli import run  # noqa: F401 - the CLI fixture


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FeedServer]:
    monkeypatch.setenv("ALLOW_PRIVATE_URLS", "true")  # the feed server is on 127.0.0.1
    with FeedServer() as s:
        yield s


def test_feed_add_list_poll_remove(run, server: FeedServer) -> None:  # noqa: F811
    server.feed("/herald.xml", [server.article("/news/bridge-repairs", "Bridge repairs", number=3)],
                title="Exampleton Herald")
    code, out, err = run("feed", "add", server.url("/herald.xml"))
    assert code == 0, err
    assert "Following feed 1: Exampleton Herald" in out and "Bridge repairs" in out

    code, out, _ = run("feed", "poll")
    assert code == 0 and "1 new items" in out and "added 1 articles: bridge-repairs" in out
    code, out, _ = run("feed", "poll")
    assert code == 0 and "0 new items" in out and "added 0 articles" in out

    code, out, _ = run("feed", "list", "--json")
    (feed,) = json.loads(out)
    assert feed["title"] == "Exampleton Herald" and feed["articles"] == 1 and feed["error"] is None
    code, out, _ = run("index", "list")
    assert "bridge-repairs" in out

    with pytest.raises(SystemExit) as exit_:  # must say what happens to the articles
        run("feed", "remove", "1")
    assert exit_.value.code == 2
    code, out, _ = run("feed", "remove", "Exampleton Herald", "--remove-articles")
    assert code == 0 and "removed 1 of its articles" in out
    code, out, _ = run("index", "list")
    assert "bridge-repairs" not in out
    assert run("feed", "list")[1].startswith("No feeds.")


def test_feed_errors_are_plain(run, server: FeedServer) -> None:  # noqa: F811
    server.set("/page", body=b"<html><body>No feed</body></html>")
    code, _, err = run("feed", "add", server.url("/page"))
    assert code == 1 and "links to no feed" in err
    server.feed("/broken.xml", [])
    assert run("feed", "add", server.url("/broken.xml"))[0] == 0
    server.set("/broken.xml", status=500, body=b"")
    code, out, _ = run("feed", "poll")
    assert code == 1 and "error:" in out and "HTTP 500" in out
    code, _, err = run("feed", "remove", "nope", "--keep-articles")
    assert code == 1 and "no feed 'nope' here" in err


def test_feed_settings_are_read_and_checked() -> None:
    from bot.settings import SettingsError, load_settings

    default = load_settings(None, {})
    assert (default.feed_poll_minutes, default.max_feeds, default.feed_articles_per_poll,
            default.feed_posts_per_poll, default.article_max_age_days) == (30.0, 20, 20, 3, None)
    custom = load_settings(None, {"FEED_POLL_MINUTES": "0", "FEED_POSTS_PER_POLL": "0", "ARTICLE_MAX_AGE_DAYS": "7",
                                  "MAX_UPLOAD_BYTES": "100000", "ALLOW_PRIVATE_URLS": "true"})
    polling = custom.feed_polling()
    assert custom.feed_poll_minutes == 0 and custom.feed_posts_per_poll == 0
    assert (polling.max_age_days, polling.max_bytes, polling.allow_private) == (7.0, 100000, True)
    with pytest.raises(SettingsError, match="ARTICLE_MAX_AGE_DAYS='a week' is not a number"):
        load_settings(None, {"ARTICLE_MAX_AGE_DAYS": "a week"})
    with pytest.raises(SettingsError, match="MAX_FEEDS=0 is too small"):
        load_settings(None, {"MAX_FEEDS": "0"})
