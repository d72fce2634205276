"""Polling a corpus's feeds: check each due feed, queue new items, index their pages, age out old ones.

Everything here is blocking and thread-safe: the bot runs a poll in a worker thread, the CLI runs it
directly. Feeds and article pages are fetched a few at a time in a thread pool, each through the
safe fetcher (``index.fetch``) with its size and time caps, and a poll's new articles are added in
one engine write (one new index generation), so questions keep being answered from the old index
meanwhile. No failure stops a poll: a feed that is down, garbage, refused or too large is recorded
with its error and backs off; an article page that fails is retried on later polls (3 attempts).
"""

from __future__ import annotations

import concurrent.futures
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone

from .documents import load_url
from .embed import Encoder
from .engine import Engine, Progress
from .errors import NewsQAError
from .feeds import Feed, FeedFetch, FeedStore, QueuedItem, fetch_feed, normalize_link
from .models import ChangeReport, Document

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PollSettings:
    """The limits of a poll (from the bot's settings)."""

    interval_minutes: float = 30.0
    articles_per_poll: int = 20  # new articles indexed per corpus and poll; the rest wait for the next one
    max_age_days: float | None = None  # feed articles older than this are removed (None: kept forever)
    max_bytes: int = 5_000_000
    timeout: float = 15.0
    allow_private: bool = False
    workers: int = 4  # feeds or pages fetched at once


@dataclass(frozen=True)
class NewArticle:
    """An article a poll indexed."""

    doc_id: str
    title: str
    url: str
    feed_id: int | None
    announce: bool  # False for a feed's first check (its backlog)


@dataclass(frozen=True)
class FeedCheck:
    """How one feed's check went."""

    feed_id: int
    title: str
    queued: int = 0  # new items found
    unchanged: bool = False  # HTTP 304
    error: str | None = None
    retry_in: float | None = None  # seconds, after an error


@dataclass(frozen=True)
class PollReport:
    """What one poll of a corpus did."""

    corpus: str
    checks: tuple[FeedCheck, ...] = ()
    added: tuple[NewArticle, ...] = ()
    failed: tuple[tuple[str, str], ...] = ()  # (link, error) of pages that could not be indexed this time
    duplicates: int = 0
    expired: tuple[str, ...] = ()  # doc ids aged out
    waiting: int = 0  # items still queued for later polls
    change: ChangeReport | None = None
    seconds: float = 0.0


def lower_priority(niceness: int = 10) -> None:
    """Make the calling thread (and the threads it starts later) yield the CPU to everything else.

    On Linux a thread is a task with its own nice value, inherited by the threads it creates (the
    fetch pool, torch's and FAISS's OpenMP teams), so a poll run in such a thread leaves the cores to
    the threads answering questions. Elsewhere, or when not permitted, nothing changes.
    """
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + niceness))
    except (AttributeError, OSError) as exc:
        log.debug("could not lower the poll thread's priority: %s", exc)


def _cutoff(max_age_days: float | None) -> str | None:
    if not max_age_days:
        return None
    return (datetime.now(timezone.utc) - timedelta(days=max_age_days)).replace(microsecond=0).isoformat()


def _fetch(feed: Feed, settings: PollSettings) -> FeedFetch | Exception:
    try:
        return fetch_feed(feed.url, etag=feed.etag, last_modified=feed.last_modified, max_bytes=settings.max_bytes,
                          timeout=settings.timeout, allow_private=settings.allow_private)
    except Exception as exc:  # noqa: BLE001 - one bad feed must not stop the others
        if not isinstance(exc, NewsQAError):
            log.exception("checking feed %s failed unexpectedly", feed.url)
        return exc


def record_check(store: FeedStore, feed: Feed, fetched: FeedFetch | Exception, settings: PollSettings) -> FeedCheck:
    """Record a feed's check: its error (and back off), or its new items queued."""
    interval = settings.interval_minutes * 60
    if isinstance(fetched, Exception):
        error = str(fetched) if isinstance(fetched, NewsQAError) else f"{type(fetched).__name__}: {fetched}"
        delay = store.failed(feed, error, interval=interval)
        log.warning("feed %s (%s): %s; next try in %.0f min", feed.id, feed.url, error, delay / 60)
        return FeedCheck(feed.id, feed.title, error=error, retry_in=delay)
    if fetched.feed is None:
        store.checked(feed, fetched, interval=interval)
        return FeedCheck(feed.id, feed.title, unchanged=True)
    queued = store.queue(feed.corpus, feed, list(fetched.feed.items), too_old=_cutoff(settings.max_age_days))
    store.checked(feed, fetched, interval=interval)
    return FeedCheck(feed.id, feed.title, queued=queued)


def _load(item: QueuedItem, settings: PollSettings) -> Document:
    doc = load_url(item.link, max_bytes=settings.max_bytes, timeout=settings.timeout,
                   allow_private=settings.allow_private)
    # The feed's title is usually cleaner than the page's (no " | Site name"); its date fills a gap.
    return replace(doc, title=item.title or doc.title, published=doc.published or item.published)


def poll_corpus(engine: Engine, store: FeedStore, corpus: str, settings: PollSettings, *,
                feeds: list[Feed] | None = None, progress: Progress | None = None,
                on_fetched: Callable[[int, int], None] | None = None, embedder: Encoder | None = None) -> PollReport:
    """Check ``feeds`` (default: the corpus's due ones), index up to ``articles_per_poll`` queued pages
    in one engine write, and age out feed articles older than ``max_age_days``.

    ``embedder``, a second instance of the engine's model, embeds the new sentences into the shared
    cache before the write: the engine's own encoder (one lock, also used to embed questions) is then
    never held for more than a question while a poll runs.
    """
    started = time.perf_counter()
    if feeds is None:
        feeds = store.due().get(corpus, [])
    with concurrent.futures.ThreadPoolExecutor(settings.workers, thread_name_prefix="feed") as pool:
        fetched = list(pool.map(lambda f: _fetch(f, settings), feeds))
        # Recorded in subscription order, so the first-subscribed feed carrying an item is the one it counts for.
        checks = tuple(record_check(store, f, result, settings) for f, result in zip(feeds, fetched))
        todo = store.queued(corpus, settings.articles_per_poll)
        futures = {pool.submit(_load, item, settings): item for item in todo}
        loaded: list[tuple[QueuedItem, Document]] = []
        failed: list[tuple[str, str]] = []
        for done, future in enumerate(concurrent.futures.as_completed(futures), 1):
            item = futures[future]
            try:
                loaded.append((item, future.result()))
            except Exception as exc:  # noqa: BLE001 - a bad page is retried later, the rest go on
                error = str(exc) if isinstance(exc, NewsQAError) else f"{type(exc).__name__}: {exc}"
                if not isinstance(exc, NewsQAError):
                    log.exception("loading %s failed unexpectedly", item.link)
                store.item_failed(item.id, error)
                failed.append((item.link, error))
            if on_fetched:
                on_fetched(done, len(futures))

    loaded.sort(key=lambda pair: [t.id for t in todo].index(pair[0].id))  # the queue's order, not arrival's
    fresh: list[tuple[QueuedItem, Document]] = []
    pages: set[str] = set()
    duplicates = 0
    for item, doc in loaded:
        page = normalize_link(doc.url or item.link)
        if page in pages or store.page_known(corpus, page):  # e.g. two feeds' redirect links to one article
            store.item_done(item.id, status="duplicate", page_url=page)
            duplicates += 1
            continue
        pages.add(page)
        fresh.append((item, doc))

    change: ChangeReport | None = None
    added: list[NewArticle] = []
    if fresh and embedder is not None:
        if embedder.name != engine.encoder.name:
            raise ValueError(f"the poll's embedder is {embedder.name!r}, the engine's {engine.encoder.name!r}")
        engine.cache.embed(embedder, [s.text for _, doc in fresh for s in doc.sentences])
    if fresh:
        try:
            change = engine.add([doc for _, doc in fresh], corpus=corpus, progress=progress)
        except Exception as exc:  # not the pages' fault: they stay queued, without using up an attempt
            store.requeue([item.id for item, _ in fresh], f"adding to the index failed: {exc}")
            raise
        for (item, doc), doc_id in zip(fresh, change.added):
            store.item_done(item.id, status="indexed", page_url=doc.url or item.link, doc_id=doc_id)
            added.append(NewArticle(doc_id=doc_id, title=doc.title, url=doc.url or item.link, feed_id=item.feed_id,
                                    announce=item.announce))
        store.indexed(corpus, {a.feed_id for a in added if a.feed_id is not None})

    expired: tuple[str, ...] = ()
    cutoff = _cutoff(settings.max_age_days)
    if cutoff:
        old = store.expired(corpus, cutoff)
        if old:
            report = engine.remove_many([doc_id for _, doc_id in old], corpus=corpus)
            store.mark([item_id for item_id, _ in old], "expired")
            expired = report.removed if report else ()
            change = report or change
    waiting = store.counts(corpus).get("queued", 0)
    report = PollReport(corpus=corpus, checks=checks, added=tuple(added), failed=tuple(failed), duplicates=duplicates,
                        expired=expired, waiting=waiting, change=change,
                        seconds=round(time.perf_counter() - started, 3))
    log.info("polled %d feeds of corpus %s: %d new articles, %d failed pages, %d duplicates, %d expired, %d waiting "
             "(%.1f s)", len(checks), corpus, len(added), len(failed), duplicates, len(expired), waiting, report.seconds)
    return report


def unsubscribe(engine: Engine, store: FeedStore, corpus: str, feed: Feed, *, keep_articles: bool
                ) -> ChangeReport | None:
    """Remove a feed; its articles stay in the index when ``keep_articles``, else they are removed first."""
    change = None
    if not keep_articles:
        docs = store.feed_articles(corpus, feed.id)
        if docs:
            change = engine.remove_many(docs, corpus=corpus)
    store.remove_feed(corpus, feed.id, keep_articles=keep_articles)
    return change
