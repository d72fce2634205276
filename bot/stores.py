"""Where the bot keeps its records and feeds: the one place that chooses a database (RECORDS_URL).

Empty RECORDS_URL (the default): SQLite files under INDEX_DIR (``bot.sqlite``, ``feeds.sqlite``),
shared by the processes of one host. A ``postgresql://`` URL: one PostgreSQL database shared by bot
processes on several hosts, which also holds the cross-host writer lock of each corpus. psycopg is
imported only in that case.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from index.database import CorpusLock, PostgresDatabase, SqliteDatabase
from index.feeds import FeedStore
from index.store import Corpora, LocalCorpora

from .records import Records
from .settings import Settings

if TYPE_CHECKING:
    from index.backend import IndexBackend


def open_database(settings: Settings, index_dir: Path, *, name: str,
                  timeout: float = 5.0) -> SqliteDatabase | PostgresDatabase:
    """The database of the store ``name`` ("bot" or "feeds"): ``INDEX_DIR/NAME.sqlite`` or RECORDS_URL's.
    ``timeout``: how long a write waits for another process's."""
    if settings.records_url:
        return PostgresDatabase(settings.records_url, name=name, timeout=timeout)
    return SqliteDatabase(Path(index_dir) / f"{name}.sqlite", timeout=timeout)


def open_records(settings: Settings, index_dir: Path | None = None) -> Records:
    """The bot's questions, feedback and audit log."""
    return Records(open_database(settings, Path(index_dir or settings.index_dir), name="bot"))


def open_feed_store(settings: Settings, index_dir: Path | None = None) -> FeedStore:
    """The feeds every server follows, and the items seen."""
    return FeedStore(open_database(settings, Path(index_dir or settings.index_dir), name="feeds", timeout=30.0))


def corpus_lock(settings: Settings) -> CorpusLock | None:
    """The lock writers of a corpus take across hosts (with RECORDS_URL), besides the local flock."""
    return CorpusLock(settings.records_url) if settings.records_url else None


def open_corpora(settings: Settings, index_dir: Path, backend: IndexBackend) -> Corpora:
    """Where the corpora live: under INDEX_DIR, or (SHARE_CORPORA) in RECORDS_URL's database with INDEX_DIR
    as this host's cache (index.shared)."""
    if settings.share_corpora and settings.records_url:
        from index.shared import SharedCorpora

        return SharedCorpora(settings.records_url, index_dir, outside=getattr(backend, "outside_files", None))
    return LocalCorpora(index_dir, corpus_lock(settings))
