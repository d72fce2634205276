"""The SQL database a store keeps its rows in: a SQLite file (the default) or a PostgreSQL database.

``Records`` (the bot's questions, feedback and audit log) and ``FeedStore`` (feeds and their items) are
written once, over this interface; which database they get is chosen in one place
(``bot.stores.open_database``, from RECORDS_URL). Both classes give the same semantics:

- ``run`` executes one statement on its own (autocommit) and returns its rows;
- ``tx`` is a write transaction that other writers of the same store wait for (SQLite: ``BEGIN
  IMMEDIATE``; PostgreSQL: a transaction-level advisory lock keyed by the store's name, so that
  "check, then insert" stays as safe across processes and hosts as it is in one SQLite file);
- the SQL is SQLite's (``?`` parameters, ``IS ?`` comparing NULLs); ``PostgresDatabase`` rewrites it
  (``%s``; ``= %s`` or ``IS NULL`` by the value), and ``schema`` fills the few column types that differ.

psycopg is imported only when a PostgreSQL database is opened: the default bot never loads it.
``CorpusLock`` is the cross-host writer lock of a corpus (a session-level advisory lock held on a
connection of its own for the whole write), taken by ``index.store.CorpusDir.writer_lock`` after
the local ``flock``.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import os
import re
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from .errors import BusyError, NewsQAError

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 10  # seconds to reach the server when the URL does not say
LOCK_NOTICE_SECONDS = 10.0  # how often a waiting writer says whom it waits for
# TCP keepalive (idle seconds, probe interval, probes): a host that vanishes (power cut, network gone) is
# noticed within about a minute, on both sides. The server then ends its session, releasing the advisory
# locks it held (a corpus writer lock, a store's write transaction): with the system defaults the other
# hosts would wait more than two hours. The client stops waiting for a server that vanished.
KEEPALIVE = (30, 10, 3)


class StoreUnavailableError(NewsQAError):
    """The records database cannot be reached or used; the message says which one and what to do."""


def advisory_key(name: str) -> int:
    """A stable signed 64-bit key for ``pg_advisory_lock`` (the same on every host and Python run)."""
    return int.from_bytes(hashlib.blake2b(name.encode("utf-8"), digest_size=8).digest(), "big", signed=True)


# ------------------------------------------------------------------ SQLite


class SqliteDatabase:
    """One SQLite file in WAL mode, one connection guarded by a lock (several processes of one host may share it)."""

    TYPES = {"id": "INTEGER PRIMARY KEY AUTOINCREMENT", "bigint": "INTEGER", "float": "REAL"}

    def __init__(self, path: Path, *, timeout: float = 5.0) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.where = str(self.path)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, timeout=timeout, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")

    def schema(self, script: str) -> None:
        """Create what ``script`` declares (``{id}``, ``{bigint}``, ``{float}`` stand for the column types)."""
        with self._lock:
            self._db.executescript(script.format(**self.TYPES))

    def columns(self, table: str) -> set[str]:
        with self._lock:
            return {row[1] for row in self._db.execute(f"PRAGMA table_info({table})")}

    def run(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    def insert(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run an INSERT; returns the new row's id."""
        with self._lock:
            return int(self._db.execute(sql, params).lastrowid)

    @contextlib.contextmanager
    def tx(self) -> Iterator[SqliteTx]:
        """A write transaction (BEGIN IMMEDIATE: other writers wait); rolled back if the block raises."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield SqliteTx(self._db)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self._db.close()


class SqliteTx:
    """The statements of one SQLite transaction."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def execute(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        return self._db.execute(sql, params)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        self._db.executemany(sql, rows)

    def insert(self, sql: str, params: Sequence[Any] = ()) -> int:
        return int(self._db.execute(sql, params).lastrowid)


# ------------------------------------------------------------------ PostgreSQL


def _psycopg() -> Any:
    try:
        import psycopg
    except ImportError:
        raise StoreUnavailableError("RECORDS_URL names a PostgreSQL database, but psycopg is not installed: "
                                    "`pip install 'newsqa[postgres]'`, or leave RECORDS_URL empty for the "
                                    "SQLite files under INDEX_DIR") from None
    return psycopg


def describe_url(url: str) -> str:
    """``user@host:port/database`` of a PostgreSQL URL, never its password."""
    psycopg = _psycopg()
    try:
        info = psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError as exc:
        raise StoreUnavailableError(f"RECORDS_URL is not a valid PostgreSQL URL ({_redact(_first_line(exc), url)}); "
                                    "write it as postgresql://user:password@host:5432/database") from None
    host = info.get("host") or "localhost"
    where = f"{host}:{info['port']}" if info.get("port") else host
    user = f"{info['user']}@" if info.get("user") else ""
    return f"{user}{where}/{info.get('dbname') or info.get('user') or 'postgres'}"


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _redact(text: str, url: str) -> str:
    """``text`` (libpq's message about ``url``) without the URL's password: libpq quotes the part it could not
    parse, which may be the password or the whole URL. Read leniently, as the URL may be malformed."""
    secrets = re.findall(r"[?&]password=([^&#]*)", url)
    authority = re.match(r"[A-Za-z][\w+.-]*://([^/?#]*)", url)
    if authority and "@" in authority.group(1):
        userinfo = authority.group(1).rpartition("@")[0]
        if ":" in userinfo:
            secrets.append(userinfo.partition(":")[2])
    for secret in sorted(filter(None, secrets), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def connect(url: str, *, purpose: str) -> Any:
    """A psycopg connection in autocommit mode; StoreUnavailableError saying what to check when it fails."""
    psycopg = _psycopg()
    where = describe_url(url)
    options = psycopg.conninfo.conninfo_to_dict(url)
    extra: dict[str, Any] = {"autocommit": True}
    if "connect_timeout" not in options:
        extra["connect_timeout"] = CONNECT_TIMEOUT
    idle, interval, count = KEEPALIVE
    for key, value in (("keepalives_idle", idle), ("keepalives_interval", interval), ("keepalives_count", count)):
        if key not in options:  # the client's side
            extra[key] = value
    if "tcp_keepalives_idle" not in options.get("options", ""):  # the server's (ignored over a Unix socket)
        extra["options"] = " ".join(filter(None, (
            options.get("options"), f"-c tcp_keepalives_idle={idle} -c tcp_keepalives_interval={interval} "
            f"-c tcp_keepalives_count={count}")))
    if "application_name" not in options:  # shown in pg_stat_activity: which process of which host
        extra["application_name"] = f"newsqa {purpose} {socket.gethostname()}:{os.getpid()}"[:63]
    try:
        return psycopg.connect(url, **extra)
    except psycopg.Error as exc:
        raise StoreUnavailableError(
            f"cannot connect to the PostgreSQL database {where} (RECORDS_URL): {_redact(_first_line(exc), url)}; "
            "check that the server is running and reachable from this host, and the user, password and database "
            "name in RECORDS_URL") from None


# A parameter, or a quoted literal or identifier (whose ``?`` is text, and is kept as it is).
_PARAM = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|\bIS\s+NOT\s+\?|\bIS\s+\?|\?", re.I)


@functools.lru_cache(maxsize=1024)
def _postgres_sql(sql: str, nulls: tuple[bool, ...]) -> tuple[str, tuple[int, ...]]:
    escaped = sql.replace("%", "%%")  # a literal % (LIKE 'failed%') is %% to psycopg
    out: list[str] = []
    keep: list[int] = []
    pos = 0
    i = 0  # the parameter's number
    for match in _PARAM.finditer(escaped):
        token = match.group()
        if token[0] in "'\"":  # a literal: not a parameter
            continue
        out.append(escaped[pos:match.start()])
        pos = match.end()
        negated = "NOT" in token.upper()
        if token == "?":
            out.append("%s")
            keep.append(i)
        elif nulls[i]:
            out.append("IS NOT NULL" if negated else "IS NULL")
        else:
            out.append("IS DISTINCT FROM %s" if negated else "= %s")
            keep.append(i)
        i += 1
    out.append(escaped[pos:])
    return "".join(out), tuple(keep)


def _compares_nulls(sql: str) -> bool:
    """Whether the statement has an ``IS ?`` or ``IS NOT ?`` (outside its quoted literals)."""
    return any(m.group()[0] not in "'\"?" for m in _PARAM.finditer(sql))


def postgres_sql(sql: str, params: Sequence[Any] = ()) -> tuple[str, tuple]:
    """SQLite's SQL and parameters as psycopg takes them: ``%s`` parameters, literal ``%`` doubled, and
    ``x IS ?`` (equal, NULL included) written for the value at hand: ``x = %s``, or ``x IS NULL`` for None.
    (``IS NOT DISTINCT FROM`` would mean the same, but PostgreSQL cannot search an index with it, so every
    per-server read would scan its table.)"""
    text, keep = _postgres_sql(sql, tuple(p is None for p in params))
    return text, tuple(params[i] for i in keep)


class PostgresDatabase:
    """A PostgreSQL database over one connection guarded by a lock, reconnected when the server comes back.

    ``name`` keys the advisory lock that serializes this store's write transactions across processes;
    ``timeout`` is how long a write transaction waits for another process's (as SQLite's busy timeout).
    """

    TYPES = {"id": "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY", "bigint": "BIGINT",
             "float": "DOUBLE PRECISION"}

    def __init__(self, url: str, *, name: str, timeout: float = 5.0) -> None:
        self.url = url
        self.name = name
        self.timeout = timeout
        self.where = f"PostgreSQL {describe_url(url)}"
        self._psycopg = _psycopg()
        self._key = advisory_key(f"newsqa store {name}")
        self._lock = threading.RLock()
        self._conn = connect(url, purpose=name)

    def _connection(self) -> Any:
        if self._conn.closed or self._conn.broken:
            log.warning("%s: the connection was lost; reconnecting", self.where)
            self._conn = connect(self.url, purpose=self.name)
        return self._conn

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except self._psycopg.errors.LockNotAvailable as exc:  # lock_timeout: another process's write
            raise StoreUnavailableError(
                f"the {self.name} database ({self.where}) is busy: another process's write held it for more than "
                f"{self.timeout:g} s; try again in a minute") from exc
        except self._psycopg.OperationalError as exc:  # server gone, connection lost: the next call reconnects
            raise StoreUnavailableError(
                f"the {self.name} database ({self.where}) failed: {_first_line(exc)}; check that PostgreSQL is "
                "running and reachable (RECORDS_URL)") from exc
        except self._psycopg.errors.InsufficientPrivilege as exc:  # e.g. not allowed to create the tables
            raise StoreUnavailableError(
                f"the {self.name} database ({self.where}) refused: {_first_line(exc)}; RECORDS_URL's user must be "
                "allowed to create and change tables there: make it the database's owner (ALTER DATABASE name "
                "OWNER TO user), or GRANT CREATE ON SCHEMA public TO user") from exc

    def schema(self, script: str) -> None:
        """Create what ``script`` declares, in one transaction that concurrent starters wait for."""
        statements = [s.strip() for s in script.format(**self.TYPES).split(";") if s.strip()]
        with self.tx() as tx:
            for statement in statements:
                tx.execute(statement)

    def columns(self, table: str) -> set[str]:
        rows = self.run("SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() "
                        "AND table_name = ?", (table,))
        return {r[0] for r in rows}

    def run(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        with self._lock, self._errors():
            cur = self._connection().execute(*postgres_sql(sql, params))
            return cur.fetchall() if cur.description else []

    def insert(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run an INSERT; returns the new row's id."""
        with self._lock, self._errors():
            return int(self._connection().execute(*postgres_sql(sql + " RETURNING id", params)).fetchone()[0])

    @contextlib.contextmanager
    def tx(self) -> Iterator[PostgresTx]:
        """A write transaction; other writers of this store (any process, any host) wait for it."""
        with self._lock, self._errors():
            conn = self._connection()
            with conn.transaction():
                cur = conn.cursor()
                # waits up to the timeout, as BEGIN IMMEDIATE does on SQLite (never forever); one round trip
                # (no parameters: both numbers are this object's own ints)
                cur.execute(f"SET LOCAL lock_timeout = {max(1, round(self.timeout * 1000))}; "
                            f"SELECT pg_advisory_xact_lock({int(self._key)})")
                yield PostgresTx(cur)

    def close(self) -> None:
        with self._lock:
            self._conn.close()


class PostgresTx:
    """The statements of one PostgreSQL transaction, in SQLite's SQL."""

    def __init__(self, cur: Any) -> None:
        self._cur = cur

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self._cur.execute(*postgres_sql(sql, params))

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if _compares_nulls(sql):  # each row's NULLs may rewrite the statement differently
            for row in rows:
                self._cur.execute(*postgres_sql(sql, row))
        elif rows:
            self._cur.executemany(postgres_sql(sql, rows[0])[0], [tuple(r) for r in rows])

    def insert(self, sql: str, params: Sequence[Any] = ()) -> int:
        return int(self._cur.execute(*postgres_sql(sql + " RETURNING id", params)).fetchone()[0])


# ------------------------------------------------------------------ the cross-host corpus lock


class CorpusLock:
    """Writers of a corpus on any host, one at a time: ``pg_advisory_lock`` keyed by the corpus name.

    Each write holds the lock on a connection of its own (opened for the write, closed after), so a
    writer that dies releases it with its connection, as a process's ``flock`` is released when it exits.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.where = f"PostgreSQL {describe_url(url)}"

    @contextlib.contextmanager
    def hold(self, corpus: str, *, timeout: float | None, purpose: str) -> Iterator[None]:
        """Wait (up to ``timeout`` seconds; None: forever) until no other host writes ``corpus``, then hold it."""
        key = advisory_key(f"newsqa corpus {corpus}")
        conn = connect(self.url, purpose=f"lock {corpus}")
        try:
            deadline = None if timeout is None else time.monotonic() + timeout
            noticed = 0.0
            while not conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()[0]:
                if deadline is not None and time.monotonic() >= deadline:
                    raise BusyError(f"corpus {corpus!r} is busy with a write by {self._holder(conn, key)}; "
                                    "try again in a minute")
                if time.monotonic() - noticed >= LOCK_NOTICE_SECONDS:
                    log.warning("corpus %s is being written by %s; waiting before %s", corpus,
                                self._holder(conn, key), purpose)
                    noticed = time.monotonic()
                time.sleep(0.05)
            try:
                yield
            finally:
                try:  # closing the connection releases it anyway
                    held = conn.execute("SELECT pg_advisory_unlock(%s)", (key,)).fetchone()[0]
                except Exception:  # noqa: BLE001 - the connection is gone, and the lock with it
                    held = False
                if not held:  # the server ended the session mid-write (restart, network cut): say so
                    log.warning("corpus %s: the cross-host writer lock (%s) was lost during %s, its connection "
                                "ended; a write from another host may have overlapped it: if the corpus misses "
                                "a change, make it again or rebuild the corpus", corpus, self.where, purpose)
        finally:
            conn.close()

    @staticmethod
    def _holder(conn: Any, key: int) -> str:
        """The holder's application name (``newsqa lock CORPUS host:pid``), as PostgreSQL knows it."""
        try:
            row = conn.execute(
                "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                "WHERE l.locktype = 'advisory' AND l.granted AND l.classid = ((%s >> 32) & 4294967295)::oid "
                "AND l.objid = (%s & 4294967295)::oid LIMIT 1", (key, key)).fetchone()
        except Exception:  # noqa: BLE001 - only informative
            row = None
        return row[0] if row and row[0] else "another process"
