"""``newsqa feed add|remove|list|poll``: the feed commands for a terminal (a server's corpus is its id)."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported when a feed action runs: `newsqa --help` loads none of them
    from index.engine import Engine

    from .settings import Settings


def add_parser(sub: argparse._SubParsersAction, common) -> None:
    """The ``feed`` command and its actions."""
    feed = sub.add_parser("feed", help="follow news feeds (RSS/Atom): their new articles are added by `feed poll` "
                                       "and by the running bot")
    fsub = feed.add_subparsers(dest="action", required=True)
    p = fsub.add_parser("add", help="check a feed (or a page that links to one) and follow it")
    p.add_argument("url")
    common(p)
    p = fsub.add_parser("remove", help="stop following a feed (by id, URL or title)")
    p.add_argument("feed")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--keep-articles", action="store_true", help="its articles stay in the index")
    what.add_argument("--remove-articles", action="store_true", help="its articles are removed from the index")
    common(p)
    p = fsub.add_parser("list", help="the feeds, with last check, last new article and last error")
    p.add_argument("--json", action="store_true")
    common(p)
    p = fsub.add_parser("poll", help="check every feed of the corpus now and add their new articles")
    p.add_argument("--json", action="store_true")
    common(p)


def run(args: argparse.Namespace, settings: Settings, corpus: str, index_dir: Path) -> int:
    """Run one ``feed`` action; the engine (and the model) is loaded only by actions that change the index."""
    from index.feedpoll import poll_corpus, unsubscribe
    from index.feeds import fetch_feed

    from .feedformat import feeds_text, poll_text

    from .stores import open_feed_store

    store = open_feed_store(settings, index_dir)
    try:
        if args.action == "add":
            fetched = fetch_feed(args.url, max_bytes=settings.max_upload_bytes, timeout=settings.fetch_timeout,
                                 allow_private=settings.allow_private_urls, discover=True)
            assert fetched.feed is not None
            feed = store.add_feed(corpus, fetched.url, fetched.feed.title, added_by="cli",
                                  max_feeds=settings.max_feeds)
            print(f"Following feed {feed.id}: {feed.title}\n  {feed.url}\nLatest items:")
            for item in fetched.feed.items[:5]:
                print(f"  - {item.title} ({item.published or 'undated'})\n    {item.link}")
            print(f"Its articles are added by `newsqa feed poll --corpus {corpus}` or by the running bot.")
            return 0
        if args.action == "list":
            feeds = store.feeds(corpus)
            print(json.dumps([asdict(f) for f in feeds]) if args.json else feeds_text(feeds))
            return 0
        engine = _engine(settings, index_dir)
        try:
            if args.action == "remove":
                feed = store.feed(corpus, args.feed)
                change = unsubscribe(engine, store, corpus, feed, keep_articles=args.keep_articles)
                removed = len(change.removed) if change else 0
                print(f"No longer following {feed.title}; "
                      + ("its articles stay in the index." if args.keep_articles
                         else f"removed {removed} of its articles from the index."))
                return 0
            report = poll_corpus(engine, store, corpus, settings.feed_polling(), feeds=store.feeds(corpus))
            print(json.dumps(asdict(report)) if args.json else poll_text(report))
            return 1 if any(c.error for c in report.checks) else 0
        finally:
            engine.close()
    finally:
        store.close()


def _engine(settings: Settings, index_dir: Path) -> Engine:
    from .runtime import make_engine

    return make_engine(settings, index_dir)
