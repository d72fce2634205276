"""News feeds (RSS and Atom): fetch one safely, parse it, and keep what was seen in SQLite.

The feed itself is fetched through ``index.fetch`` (SSRF rules, size and time caps, conditional GET
with ETag / Last-Modified); feedparser only parses the bytes, so its own network code is never used.
A web page given instead of a feed is searched for the feed it advertises
(``<link rel="alternate" type="application/rss+xml">``), which is then fetched the same way.

``FeedStore`` (``INDEX_DIR/feeds.sqlite``, or the PostgreSQL database of RECORDS_URL) holds each corpus's feeds with their check history and
every item ever seen, so an item is indexed once even when it reappears or two feeds carry it
(deduplicated by normalized link, by GUID and by the page's final URL). The poll itself is in
``index.feedpoll``.
"""

from __future__ import annotations

import html
import io
import logging
import random
import re
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

from .database import PostgresDatabase, SqliteDatabase
from .errors import FeedError
from .fetch import FetchedPage, fetch_url

log = logging.getLogger(__name__)

# What a feed is served as in practice: the feed types, generic XML, and web pages (to find a linked feed,
# and because some servers label their feed text/html or text/plain).
FEED_CONTENT_TYPES = ("application/rss+xml", "application/atom+xml", "application/rdf+xml", "application/xml",
                      "text/xml", "application/x-rss+xml", "text/html", "application/xhtml+xml", "text/plain")
_FEED_TYPES = ("application/rss+xml", "application/atom+xml", "application/rdf+xml", "application/x-rss+xml")
_TRACKING = re.compile(r"^(utm_[a-z_]+|fbclid|gclid|mc_cid|mc_eid|ocid|cmpid)$", re.I)
_TAG = re.compile(r"<[^>]+>")
# Control characters (NUL among them, which PostgreSQL's TEXT cannot hold): never part of a title, link or GUID.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
MAX_BACKOFF = 24 * 3600.0  # a feed that keeps failing is still tried once a day


def now_iso() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


def normalize_link(url: str) -> str:
    """A link as compared for duplicates: lower-case scheme and host, no fragment, no tracking parameters."""
    parts = urlsplit(url.strip())
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _TRACKING.match(k)])
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path or "/", query, ""))


def _clean(text: str | None) -> str:
    return " ".join(_CONTROL.sub(" ", html.unescape(_TAG.sub(" ", text or ""))).split())


# ------------------------------------------------------------------ parsing


@dataclass(frozen=True)
class FeedItem:
    """One entry of a feed: the article it links to."""

    link: str
    title: str
    guid: str | None = None
    published: str | None = None  # ISO date-time (UTC) when the feed gives one


@dataclass(frozen=True)
class ParsedFeed:
    """A feed's title and its items, newest first when dated (else in feed order)."""

    url: str
    title: str
    items: tuple[FeedItem, ...]


@dataclass(frozen=True)
class FeedFetch:
    """The result of checking a feed: unchanged (HTTP 304), or parsed, with validators for next time."""

    url: str
    feed: ParsedFeed | None
    etag: str | None = None
    last_modified: str | None = None

    @property
    def not_modified(self) -> bool:
        return self.feed is None


def _iso(value: object) -> str | None:
    if not value:
        return None
    try:
        return datetime(*value[:6], tzinfo=timezone.utc).isoformat()  # type: ignore[index]
    except (TypeError, ValueError):
        return None


def parse_feed(body: bytes, *, url: str, content_type: str | None = None) -> ParsedFeed:
    """Parse RSS or Atom bytes (never fetched by feedparser: the bytes are wrapped in a stream)."""
    import feedparser

    headers = {"content-location": url}
    if content_type:
        headers["content-type"] = content_type
    parsed = feedparser.parse(io.BytesIO(body), response_headers=headers)
    if not parsed.get("version") and not parsed.entries:
        reason = parsed.get("bozo_exception")
        why = f" ({str(reason).strip() or type(reason).__name__})" if reason else ""
        raise FeedError(f"{url} is not an RSS or Atom feed{why}; give the feed's own address "
                        "(it often ends in /feed, /rss or .xml)")
    items: list[FeedItem] = []
    seen: set[str] = set()
    for entry in parsed.entries:
        link = entry.get("link") or next((x.get("href") for x in entry.get("links", []) if x.get("href")), None)
        link = _CONTROL.sub("", link or "")
        if not link:
            continue
        link = urljoin(url, link.strip())
        if urlsplit(link).scheme not in ("http", "https") or normalize_link(link) in seen:
            continue
        seen.add(normalize_link(link))
        published = _iso(entry.get("published_parsed") or entry.get("updated_parsed"))
        items.append(FeedItem(link=link, title=_clean(entry.get("title"))[:300] or link,
                              guid=_CONTROL.sub("", entry.get("id") or "").strip() or None, published=published))
    if all(i.published for i in items):
        items.sort(key=lambda i: i.published or "", reverse=True)
    title = _clean(parsed.feed.get("title")) or urlsplit(url).hostname or url
    return ParsedFeed(url=url, title=title[:200], items=tuple(items))


class _FeedLinks(HTMLParser):
    """Collects ``<link rel="alternate" type="application/rss+xml" href>`` from a web page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in ("link", "a"):
            return
        a = {k.lower(): (v or "") for k, v in attrs}
        if "alternate" in a.get("rel", "").lower().split() and a.get("type", "").lower() in _FEED_TYPES and a.get("href"):
            self.found.append(a["href"].strip())


def discover_feed(page: bytes, *, url: str) -> str | None:
    """The first feed a web page advertises, as an absolute URL, or None."""
    finder = _FeedLinks()
    try:
        finder.feed(page[:1_000_000].decode("utf-8", "replace"))
    except Exception:  # noqa: BLE001 - a malformed page simply advertises nothing
        return None
    return urljoin(url, finder.found[0]) if finder.found else None


def _looks_like_html(page: FetchedPage) -> bool:
    return page.content_type in ("text/html", "application/xhtml+xml") and b"<rss" not in page.body[:2000] \
        and b"<feed" not in page.body[:2000]


def fetch_feed(url: str, *, etag: str | None = None, last_modified: str | None = None, max_bytes: int = 5_000_000,
               timeout: float = 15.0, allow_private: bool = False, discover: bool = False) -> FeedFetch:
    """Fetch and parse a feed through the safe fetcher (conditional when validators are given).

    With ``discover``, a web page that links to a feed leads to that feed (one step, fetched the same way).
    """
    def get(target: str, conditional: bool) -> FetchedPage:
        return fetch_url(target, max_bytes=max_bytes, timeout=timeout, allow_private=allow_private,
                         content_types=FEED_CONTENT_TYPES, what="a feed or a web page",
                         etag=etag if conditional else None, last_modified=last_modified if conditional else None)

    page = get(url, True)
    if page.not_modified:
        return FeedFetch(url=page.url, feed=None, etag=etag, last_modified=last_modified)
    if discover and _looks_like_html(page):
        found = discover_feed(page.body, url=page.url)
        if found is None:
            raise FeedError(f"{url} is a web page, not a feed, and it links to no feed; give the feed's own "
                            "address (it often ends in /feed, /rss or .xml)")
        log.info("%s links to the feed %s", url, found)
        page = get(found, False)
    ctype = page.content_type + (f"; charset={page.charset}" if page.charset else "")
    feed = parse_feed(page.body, url=page.url, content_type=ctype)
    return FeedFetch(url=page.url, feed=feed, etag=page.etag, last_modified=page.last_modified)


# ------------------------------------------------------------------ the store

# Column types in braces are filled by the database (index.database).
SCHEMA = """
CREATE TABLE IF NOT EXISTS feeds (
    id {id},
    corpus TEXT NOT NULL,
    url TEXT NOT NULL,
    title TEXT NOT NULL,
    channel_id {bigint},
    added_at TEXT NOT NULL,
    added_by TEXT,
    etag TEXT,
    last_modified TEXT,
    checked_at TEXT,
    new_at TEXT,
    error TEXT,
    error_at TEXT,
    failures INTEGER NOT NULL DEFAULT 0,
    checks INTEGER NOT NULL DEFAULT 0,
    next_check {float} NOT NULL DEFAULT 0,
    UNIQUE (corpus, url)
);
CREATE TABLE IF NOT EXISTS items (
    id {id},
    corpus TEXT NOT NULL,
    feed_id {bigint},
    link TEXT NOT NULL,
    guid TEXT,
    title TEXT NOT NULL,
    published TEXT,
    page_url TEXT,
    doc_id TEXT,
    status TEXT NOT NULL,
    announce INTEGER NOT NULL DEFAULT 1,
    attempts INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    seen_at TEXT NOT NULL,
    indexed_at TEXT,
    UNIQUE (corpus, link)
);
CREATE INDEX IF NOT EXISTS items_by_guid ON items (corpus, guid);
CREATE INDEX IF NOT EXISTS items_by_page ON items (corpus, page_url);
CREATE INDEX IF NOT EXISTS items_by_status ON items (corpus, status);
CREATE INDEX IF NOT EXISTS items_by_feed ON items (feed_id, status);
"""

# Item states: queued (seen, to index), indexed, failed (gave up after MAX_ATTEMPTS), duplicate (its page
# was already indexed from another link), old (older than the age limit when seen), expired (aged out).
MAX_ATTEMPTS = 3


@dataclass(frozen=True)
class Feed:
    """A subscribed feed and how its checks went."""

    id: int
    corpus: str
    url: str
    title: str
    channel_id: int | None
    added_at: str
    added_by: str | None
    etag: str | None
    last_modified: str | None
    checked_at: str | None  # last check, successful or not
    new_at: str | None  # last time a new article from it was indexed
    error: str | None  # the last check's error (None once a check succeeds)
    error_at: str | None
    failures: int  # checks failed in a row
    checks: int  # successful checks so far
    next_check: float  # epoch seconds
    articles: int = 0  # articles of this feed in the index


@dataclass(frozen=True)
class QueuedItem:
    """An item waiting to be indexed."""

    id: int
    feed_id: int | None
    link: str
    title: str
    published: str | None
    attempts: int
    announce: bool


class FeedStore:
    """Feeds and seen items of every corpus in one database: a SQLite file (a path) or ``bot.stores``'s choice."""

    def __init__(self, db: Path | SqliteDatabase | PostgresDatabase) -> None:
        self.db = db if isinstance(db, (SqliteDatabase, PostgresDatabase)) else SqliteDatabase(Path(db), timeout=30.0)
        self.path = getattr(self.db, "path", None)
        self.db.schema(SCHEMA)

    def close(self) -> None:
        self.db.close()

    # -------------------------------------------------------------- feeds

    def _feed(self, row: tuple) -> Feed:
        return Feed(*row)

    _FEED_COLUMNS = ("f.id, f.corpus, f.url, f.title, f.channel_id, f.added_at, f.added_by, f.etag, f.last_modified, "
                     "f.checked_at, f.new_at, f.error, f.error_at, f.failures, f.checks, f.next_check, "
                     "(SELECT count(*) FROM items i WHERE i.feed_id = f.id AND i.status = 'indexed')")

    def feeds(self, corpus: str) -> list[Feed]:
        """The feeds of a corpus, in the order they were added."""
        rows = self.db.run(f"SELECT {self._FEED_COLUMNS} FROM feeds f WHERE corpus = ? ORDER BY id", (corpus,))
        return [self._feed(r) for r in rows]

    def feed(self, corpus: str, key: str | int) -> Feed:
        """One feed of a corpus by id, URL or title; FeedError naming the known ones otherwise."""
        feeds = self.feeds(corpus)
        text = str(key).strip()
        for match in (lambda f: str(f.id) == text, lambda f: f.url == text, lambda f: f.title.lower() == text.lower()):
            found = [f for f in feeds if match(f)]
            if len(found) == 1:
                return found[0]
        known = "; ".join(f"{f.id}: {f.title}" for f in feeds[:10]) or "none"
        raise FeedError(f"no feed {text!r} here; the feeds are: {known}")

    def add_feed(self, corpus: str, url: str, title: str, *, channel_id: int | None = None,
                 added_by: str | None = None, max_feeds: int = 20) -> Feed:
        """Subscribe a corpus to a feed (due at once); refuses a duplicate or one over ``max_feeds``."""
        with self.db.tx() as db:
            if db.execute("SELECT 1 FROM feeds WHERE corpus = ? AND url = ?", (corpus, url)).fetchone():
                raise FeedError(f"this server already follows {url}")
            (count,) = db.execute("SELECT count(*) FROM feeds WHERE corpus = ?", (corpus,)).fetchone()
            if count >= max_feeds:
                raise FeedError(f"this server already follows {count} feed{'s' if count != 1 else ''}, the limit (MAX_FEEDS={max_feeds}); "
                                "remove one first")
            feed_id = db.insert("INSERT INTO feeds (corpus, url, title, channel_id, added_at, added_by) "
                                "VALUES (?, ?, ?, ?, ?, ?)", (corpus, url, title, channel_id, now_iso(), added_by))
        return self.feed(corpus, feed_id)

    def feed_articles(self, corpus: str, feed_id: int) -> list[str]:
        """Doc ids of the articles a feed brought that are in the index."""
        return [r[0] for r in self.db.run(
            "SELECT doc_id FROM items WHERE corpus = ? AND feed_id = ? AND status = 'indexed'", (corpus, feed_id))]

    def remove_feed(self, corpus: str, feed_id: int, *, keep_articles: bool) -> None:
        """Unsubscribe. Kept articles stay known (never indexed twice) but are no longer the feed's, so they no
        longer age out; otherwise its items are forgotten (another feed that carries them may index them)."""
        with self.db.tx() as db:
            if keep_articles:
                db.execute("UPDATE items SET feed_id = NULL WHERE corpus = ? AND feed_id = ? AND status = 'indexed'",
                           (corpus, feed_id))
            db.execute("DELETE FROM items WHERE corpus = ? AND feed_id = ?", (corpus, feed_id))
            db.execute("DELETE FROM feeds WHERE corpus = ? AND id = ?", (corpus, feed_id))

    def due(self, now: float | None = None) -> dict[str, list[Feed]]:
        """Feeds whose next check is due, by corpus."""
        now = time.time() if now is None else now
        rows = self.db.run(f"SELECT {self._FEED_COLUMNS} FROM feeds f WHERE next_check <= ? "
                           "ORDER BY corpus, next_check, id", (now,))
        out: dict[str, list[Feed]] = {}
        for row in rows:
            out.setdefault(row[1], []).append(self._feed(row))
        return out

    def checked(self, feed: Feed, fetched: FeedFetch, *, interval: float, title: str | None = None) -> None:
        """Record a successful check (changed or not) and schedule the next one, with jitter."""
        with self.db.tx() as db:
            db.execute("UPDATE feeds SET checked_at = ?, etag = ?, last_modified = ?, error = NULL, error_at = NULL, "
                       "failures = 0, checks = checks + 1, next_check = ?, title = coalesce(?, title) WHERE id = ?",
                       (now_iso(), fetched.etag, fetched.last_modified, time.time() + jitter(interval), title,
                        feed.id))

    def failed(self, feed: Feed, error: str, *, interval: float) -> float:
        """Record a failed check; the next one backs off (doubling, up to a day). Returns the delay."""
        delay = min(interval * 2 ** feed.failures, MAX_BACKOFF)
        with self.db.tx() as db:
            db.execute("UPDATE feeds SET checked_at = ?, error = ?, error_at = ?, failures = failures + 1, "
                       "next_check = ? WHERE id = ?",
                       (now_iso(), error[:500], now_iso(), time.time() + jitter(delay), feed.id))
        return delay

    def make_due(self, corpus: str, feed_id: int | None = None) -> None:
        """Check a corpus's feeds (or one of them) at the next opportunity."""
        with self.db.tx() as db:
            db.execute("UPDATE feeds SET next_check = 0 WHERE corpus = ? AND id = coalesce(?, id)",
                       (corpus, feed_id))

    # -------------------------------------------------------------- items

    def queue(self, corpus: str, feed: Feed, items: list[FeedItem], *, too_old: str | None = None) -> int:
        """Remember the items not seen before (by link or GUID, across the corpus's feeds); returns how many
        were queued. Items of a feed's first check are not announced (that is its backlog)."""
        queued = 0
        with self.db.tx() as db:
            for item in items:
                link = normalize_link(item.link)
                # guid = NULL is never true: an item without a GUID is matched by its link only
                if db.execute("SELECT 1 FROM items WHERE corpus = ? AND (link = ? OR page_url = ? OR guid = ?)",
                              (corpus, link, link, item.guid)).fetchone():
                    continue
                old = bool(too_old and item.published and item.published < too_old)
                db.execute("INSERT INTO items (corpus, feed_id, link, guid, title, published, status, announce, seen_at)"
                           " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                           (corpus, feed.id, link, item.guid, item.title, item.published,
                            "old" if old else "queued", int(feed.checks > 0), now_iso()))
                queued += not old
        return queued

    def queued(self, corpus: str, limit: int) -> list[QueuedItem]:
        """Up to ``limit`` items to index: fewest attempts first, then taking turns between feeds, newest first
        (undated last, on either database)."""
        rows = self.db.run("SELECT id, feed_id, link, title, published, attempts, announce FROM items "
                           "WHERE corpus = ? AND status = 'queued' ORDER BY attempts, published DESC NULLS LAST, id",
                           (corpus,))
        by_feed: dict[int | None, list[QueuedItem]] = {}
        for r in rows:
            by_feed.setdefault(r[1], []).append(QueuedItem(r[0], r[1], r[2], r[3], r[4], r[5], bool(r[6])))
        out: list[QueuedItem] = []
        lanes = list(by_feed.values())
        while lanes and len(out) < limit:
            for lane in list(lanes):
                if len(out) >= limit:
                    break
                out.append(lane.pop(0))
                if not lane:
                    lanes.remove(lane)
        return out

    def page_known(self, corpus: str, page_url: str) -> bool:
        """Whether an article with this final URL is already indexed (e.g. two feeds' redirect links)."""
        return bool(self.db.run("SELECT 1 FROM items WHERE corpus = ? AND status = 'indexed' AND "
                                "(page_url = ? OR link = ?)", (corpus, page_url, page_url)))

    def item_failed(self, item_id: int, error: str) -> None:
        """Count a failed attempt; after MAX_ATTEMPTS the item is given up."""
        with self.db.tx() as db:
            db.execute("UPDATE items SET attempts = attempts + 1, error = ?, "
                       f"status = CASE WHEN attempts + 1 >= {MAX_ATTEMPTS} THEN 'failed' ELSE 'queued' END "
                       "WHERE id = ?", (error[:500], item_id))

    def requeue(self, item_ids: list[int], error: str) -> None:
        """Keep items queued after a failure that was not theirs (e.g. the index could not be written)."""
        with self.db.tx() as db:
            db.executemany("UPDATE items SET status = 'queued', error = ? WHERE id = ?",
                           [(error[:500], i) for i in item_ids])

    def item_done(self, item_id: int, *, status: str, page_url: str | None = None, doc_id: str | None = None) -> None:
        with self.db.tx() as db:
            db.execute("UPDATE items SET status = ?, page_url = ?, doc_id = ?, error = NULL, indexed_at = ? "
                       "WHERE id = ?", (status, normalize_link(page_url) if page_url else None, doc_id,
                                        now_iso() if status == "indexed" else None, item_id))

    def indexed(self, corpus: str, feed_ids: set[int]) -> None:
        """Note that these feeds just brought new articles."""
        with self.db.tx() as db:
            db.executemany("UPDATE feeds SET new_at = ? WHERE id = ?", [(now_iso(), f) for f in feed_ids])

    def expired(self, corpus: str, older_than: str) -> list[tuple[int, str]]:
        """(item id, doc id) of the feeds' indexed articles published (or, undated, indexed) before ``older_than``."""
        return self.db.run("SELECT id, doc_id FROM items WHERE corpus = ? AND feed_id IS NOT NULL AND status = 'indexed' "
                           "AND coalesce(published, indexed_at) < ?", (corpus, older_than))

    def mark(self, item_ids: list[int], status: str) -> None:
        with self.db.tx() as db:
            db.executemany("UPDATE items SET status = ? WHERE id = ?", [(status, i) for i in item_ids])

    def counts(self, corpus: str) -> dict[str, int]:
        """Items of a corpus by state."""
        return dict(self.db.run("SELECT status, count(*) FROM items WHERE corpus = ? GROUP BY status", (corpus,)))


def jitter(seconds: float) -> float:
    """``seconds`` ± 10%, so feeds added together are not all checked at the same moment."""
    return seconds * random.uniform(0.9, 1.1)


__all__ = ["Feed", "FeedError", "FeedFetch", "FeedItem", "FeedStore", "ParsedFeed", "fetch_feed", "parse_feed"]
