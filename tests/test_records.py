"""The bot's records on both databases: SQLite (the default) and PostgreSQL (RECORDS_URL), with the same
results; the cross-host corpus writer lock; and the errors when the database is wrong or unreachable."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from bot.records import Records
from bot.settings import Settings, SettingsError, load_settings
from bot.stores import corpus_lock, open_feed_store, open_records
from index.database import (CorpusLock, PostgresDatabase, StoreUnavailableError, advisory_key, connect,
                            postgres_sql)
from index.errors import BusyError
from index.models import Answer, Citation, Hit

GUILD = 1_234_567_890_123_456_789  # Discord ids are 64-bit: too large for a 32-bit column
OTHER = 987_654_321_098_765_432
ALICE, BOB = 111_111_111_111_111_111, 222_222_222_222_222_222
CHANNEL = 333_333_333_333_333_333


def hit(sentence: int, text: str) -> Hit:
    citation = Citation(label=f"Report, ¶{sentence}", doc_id="report", title="Report", paragraph=sentence,
                        sentence=sentence, source="report.txt", url="https://example.com/r")
    return Hit(rank=1, score=0.5, doc_id="report", title="Report", source="report.txt", paragraph=sentence,
               sentence=sentence, start=0, end=len(text), text=text, context=text, context_start=0,
               context_end=len(text), citation=citation)


def answer(question: str, answered: bool = True, sentence: int = 1) -> Answer:
    return Answer(question=question, answered=answered, confidence=0.612345678901,
                  hits=(hit(sentence, f"Sentence {sentence} answers it."),) if answered else ())


@pytest.fixture
def records(tmp_path: Path, records_url: str | None) -> Records:
    r = open_records(Settings(records_url=records_url), tmp_path)
    yield r
    r.close()


def test_the_store_follows_records_url(tmp_path: Path, records_url: str | None) -> None:
    r = open_records(Settings(records_url=records_url), tmp_path)
    try:
        assert isinstance(r.db, PostgresDatabase) == (records_url is not None)
        assert (tmp_path / "bot.sqlite").exists() == (records_url is None)
    finally:
        r.close()


def test_questions_answers_and_votes_round_trip(records: Records) -> None:
    qid = records.log_question(answer("How big?"), user_id=ALICE, guild_id=GUILD, channel_id=CHANNEL,
                               corpus=str(GUILD), latency_ms=12.5, public=True)
    stored = records.answer(qid, guild_id=GUILD)
    assert stored == answer("How big?")  # every field, the 12-digit confidence included
    assert records.answer(qid, guild_id=OTHER) is None  # another server never sees it
    assert records.vote(qid, BOB, "down", guild_id=GUILD)
    assert records.vote(qid, BOB, "up", guild_id=GUILD)  # a changed vote replaces the first
    assert not records.vote(qid, BOB, "up", guild_id=OTHER)
    rows = records.feedback(guild_id=GUILD)
    assert [(r["question_id"], r["user_id"], r["vote"], r["guild_id"]) for r in rows] == [(qid, BOB, "up", GUILD)]
    assert records.feedback(guild_id=OTHER) == []


def test_direct_messages_are_their_own_server(records: Records) -> None:
    """guild_id NULL (a DM) compares equal to NULL and to nothing else, on both databases."""
    dm = records.log_question(answer("In a DM?"), user_id=ALICE, guild_id=None, channel_id=None, corpus="seeds",
                              latency_ms=5.0)
    here = records.log_question(answer("Here?", sentence=2), user_id=ALICE, guild_id=GUILD, channel_id=CHANNEL,
                                corpus=str(GUILD), latency_ms=7.0)
    assert records.answer(dm, guild_id=None) is not None and records.answer(dm, guild_id=GUILD) is None
    assert records.answer(here, guild_id=None) is None
    assert [h.sentence for h in records.latest_answer_hits(user_id=ALICE, guild_id=None, channel_id=None)] == [1]
    assert [h.sentence for h in records.recent_hits(user_id=ALICE, guild_id=GUILD, channel_id=CHANNEL)] == [2]


def test_what_a_member_has_seen(records: Records) -> None:
    mine = records.log_question(answer("Mine?", sentence=1), user_id=ALICE, guild_id=GUILD, channel_id=CHANNEL,
                                corpus="c", latency_ms=1.0)
    records.log_question(answer("Bob's private?", sentence=2), user_id=BOB, guild_id=GUILD, channel_id=CHANNEL,
                         corpus="c", latency_ms=1.0)
    shared = records.log_question(answer("Bob's public?", sentence=3), user_id=BOB, guild_id=GUILD,
                                  channel_id=CHANNEL, corpus="c", latency_ms=1.0, public=True)
    elsewhere = records.log_question(answer("Mine elsewhere?", sentence=4), user_id=ALICE, guild_id=GUILD,
                                     channel_id=CHANNEL + 1, corpus="c", latency_ms=1.0)
    assert [h.sentence for h in records.recent_hits(user_id=ALICE, guild_id=GUILD, channel_id=CHANNEL)] == [3, 1, 4]
    assert [h.sentence for h in records.latest_answer_hits(user_id=ALICE, guild_id=GUILD, channel_id=CHANNEL)] == [3]
    records.shared(elsewhere, guild_id=GUILD, channel_id=CHANNEL)  # shared here: now public in this channel
    assert [h.sentence for h in records.latest_answer_hits(user_id=BOB, guild_id=GUILD, channel_id=CHANNEL)] == [4]
    assert mine < shared < elsewhere


def test_gaps_latency_and_audit(records: Records) -> None:
    for i, ms in enumerate((10.0, 30.0, 20.0)):
        records.log_question(answer(f"Unknown {i}?", answered=False), user_id=ALICE, guild_id=GUILD,
                             channel_id=CHANNEL, corpus="c", latency_ms=ms)
    qid = records.log_question(answer("Answered?"), user_id=ALICE, guild_id=GUILD, channel_id=CHANNEL,
                               corpus="c", latency_ms=40.0)
    records.vote(qid, BOB, "down", guild_id=GUILD)
    records.log_question(answer("unknown 0?", answered=False), user_id=BOB, guild_id=GUILD, channel_id=CHANNEL,
                         corpus="c", latency_ms=50.0)  # the same question again: listed once
    gaps = records.gaps(guild_id=GUILD)
    assert sorted(g["question"].lower() for g in gaps) == ["answered?", "unknown 0?", "unknown 1?", "unknown 2?"]
    assert {g["reason"] for g in gaps} == {"unanswered", "down"}
    assert records.gaps(guild_id=OTHER) == []
    assert records.latency(guild_id=GUILD) == {"count": 5, "median_ms": 30.0, "p95_ms": 50.0}
    assert records.latency(guild_id=OTHER) == {"count": 0}
    assert records.last_change(guild_id=GUILD) is None
    records.audit(user_id=ALICE, user_name="boss", guild_id=GUILD, action="add-article", detail="failed: too big")
    records.audit(user_id=ALICE, user_name="boss", guild_id=GUILD, action="reindex", detail="100% done")
    records.audit(user_id=ALICE, user_name="boss", guild_id=GUILD, action="feed-add", detail="https://x/feed")
    assert records.last_change(guild_id=GUILD).startswith("reindex by boss at ")  # failures and feeds don't count
    assert [e["action"] for e in records.audit_log(guild_id=GUILD)] == ["feed-add", "reindex", "add-article"]
    assert records.audit_log(guild_id=GUILD)[1]["detail"] == "100% done"  # a literal % survives the rewrite
    assert records.audit_log(guild_id=OTHER) == []


def test_opening_again_keeps_everything(tmp_path: Path, records_url: str | None) -> None:
    settings = Settings(records_url=records_url)
    first = open_records(settings, tmp_path)
    qid = first.log_question(answer("Kept?"), user_id=ALICE, guild_id=GUILD, channel_id=CHANNEL, corpus="c",
                             latency_ms=1.0)
    first.close()
    again = open_records(settings, tmp_path)  # the schema and the migration are no-ops now
    try:
        assert again.answer(qid, guild_id=GUILD) == answer("Kept?")
    finally:
        again.close()


def test_processes_starting_at_once_create_the_schema_once(postgres_url: str) -> None:
    """Bot processes that start together all open the same empty database: none fails on the schema."""
    errors: list[BaseException] = []

    def start() -> None:
        try:
            open_records(Settings(records_url=postgres_url), Path("unused")).close()
            open_feed_store(Settings(records_url=postgres_url), Path("unused")).close()
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_records_survive_a_lost_connection(postgres_url: str) -> None:
    """A dropped connection (server restart, network cut) fails that one call clearly; the next reconnects."""
    import psycopg

    records = open_records(Settings(records_url=postgres_url), Path("unused"))
    try:
        qid = records.log_question(answer("Before?"), user_id=ALICE, guild_id=GUILD, channel_id=CHANNEL,
                                   corpus="c", latency_ms=1.0)
        pid = records.db.run("SELECT pg_backend_pid()")[0][0]
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        with pytest.raises(StoreUnavailableError, match="bot database .* failed.*check that PostgreSQL is running"):
            records.answer(qid, guild_id=GUILD)
        assert records.answer(qid, guild_id=GUILD) == answer("Before?")
    finally:
        records.close()


def test_question_marks_in_literals_reach_postgres_as_text(postgres_url: str) -> None:
    db = PostgresDatabase(postgres_url, name="t")
    try:
        db.run("CREATE TABLE notes (id BIGINT, body TEXT)")
        with db.tx() as tx:
            tx.executemany("INSERT INTO notes VALUES (?, ?)", [(1, "why?"), (2, None)])
            tx.executemany("UPDATE notes SET body = body || ' (is ?)' WHERE body IS NOT ? AND id = ?",
                           [(None, 1), ("x", 2)])
        assert db.run("SELECT id, body, 'a?', '100%' FROM notes WHERE body LIKE '%?%' OR id IS ? ORDER BY id",
                      (None,)) == [(1, "why? (is ?)", "a?", "100%")]
    finally:
        db.close()


def test_a_vanished_host_is_noticed_within_a_minute_over_tcp(postgres_server) -> None:
    """TCP keepalive on both sides of every connection (the records, the feeds, each corpus writer lock), so
    that the server ends the session of a host that vanished, and releases its advisory locks, in about a
    minute (30 s idle + 3 probes 10 s apart) instead of the system's two hours and more."""
    from tests.pgserver import PostgresServer

    server = PostgresServer.start(tcp=True)
    try:
        conn = connect(server.url(tcp=True), purpose="lock news")
        try:
            shown = [conn.execute(f"SHOW tcp_keepalives_{name}").fetchone()[0] for name in ("idle", "interval", "count")]
            assert shown == ["30", "10", "3"]  # seconds; the system defaults read 7200, 75, 9
            params = conn.info.get_parameters()
            assert (params["keepalives_idle"], params["keepalives_interval"], params["keepalives_count"]) == (
                "30", "10", "3")
        finally:
            conn.close()
        url = server.url(tcp=True) + "?options=-c%20tcp_keepalives_idle%3D5&keepalives_idle=7"  # the URL's own win
        conn = connect(url, purpose="lock news")
        try:
            assert conn.execute("SHOW tcp_keepalives_idle").fetchone()[0] == "5"
            assert conn.info.get_parameters()["keepalives_idle"] == "7"
        finally:
            conn.close()
        conn = connect(server.url(tcp=True) + "?options=-c%20work_mem%3D8MB", purpose="lock news")  # kept, and added to
        try:
            assert [conn.execute(f"SHOW {name}").fetchone()[0] for name in ("work_mem", "tcp_keepalives_idle")] == [
                "8MB", "30"]
        finally:
            conn.close()
    finally:
        server.stop()


def test_a_write_waits_for_another_process_s_only_up_to_its_timeout(postgres_url: str) -> None:
    """As SQLite's busy timeout: a write transaction stuck in another process (a hung host) makes this one
    fail after ``timeout`` seconds with what happened, not wait forever with the store's lock held (which
    would stop this process's every record call, the answers' included)."""
    holder, waiter = (PostgresDatabase(postgres_url, name="feeds", timeout=t) for t in (5.0, 0.5))
    inside, done = threading.Event(), threading.Event()

    def hold() -> None:
        with holder.tx():
            inside.set()
            done.wait(30)

    thread = threading.Thread(target=hold)
    thread.start()
    try:
        assert inside.wait(10)
        outcome: list[BaseException | None] = []

        def write() -> None:
            try:
                with waiter.tx() as tx:
                    tx.execute("SELECT 1")
                outcome.append(None)
            except BaseException as exc:  # noqa: BLE001 - looked at below
                outcome.append(exc)

        started = time.monotonic()
        writer = threading.Thread(target=write, daemon=True)
        writer.start()
        writer.join(10)
        assert outcome, "the write still waits"
        assert isinstance(outcome[0], StoreUnavailableError), outcome
        assert "the feeds database (PostgreSQL" in str(outcome[0]) and "is busy" in str(outcome[0])
        assert time.monotonic() - started < 5
    finally:
        done.set()
        thread.join()
    with waiter.tx() as tx:  # free again: the same object writes
        tx.execute("SELECT 1")
    holder.close()
    waiter.close()


def test_per_server_reads_search_an_index_on_postgres(postgres_url: str) -> None:
    """``guild_id IS ?`` becomes ``guild_id = %s`` (or ``IS NULL``): PostgreSQL cannot search an index with
    IS NOT DISTINCT FROM, and every per-server read would scan the whole table."""
    records = open_records(Settings(records_url=postgres_url), Path("unused"))
    try:
        records.db.run("SET enable_seqscan = off")  # the tables are tiny: make the planner show what it can do
        for guild in (GUILD, None):
            rows = records.db.run("EXPLAIN SELECT action FROM audit WHERE guild_id IS ? ORDER BY id DESC LIMIT 5",
                                  (guild,))
            plan = " | ".join(r[0] for r in rows)
            assert "Index Cond: (guild_id" in plan, plan  # not a scan of every row, filtered
    finally:
        records.close()


# ------------------------------------------------------------------ settings and errors


def test_records_url_is_read_and_checked() -> None:
    url = "postgresql://bot:s3cret@db.example:5432/newsqa"
    settings = load_settings(None, {"RECORDS_URL": url})
    assert settings.records_url == url
    assert "s3cret" not in repr(settings)
    assert load_settings(None, {}).records_url is None
    with pytest.raises(SettingsError, match=r"RECORDS_URL starts with mysql://; it must be a PostgreSQL URL"):
        load_settings(None, {"RECORDS_URL": "mysql://bot@db/newsqa"})
    with pytest.raises(SettingsError, match="RECORDS_URL starts with no scheme"):
        load_settings(None, {"RECORDS_URL": "db.example:5432"})
    assert corpus_lock(load_settings(None, {})) is None


@pytest.mark.usefixtures("psycopg_installed")
def test_an_unreachable_server_says_where_and_what_to_check(tmp_path: Path) -> None:
    socket_dir = tmp_path / "no-server"
    socket_dir.mkdir()
    settings = Settings(records_url=f"postgresql://bot:s3cret@/newsqa?host={socket_dir}&connect_timeout=2")
    with pytest.raises(StoreUnavailableError) as caught:
        open_records(settings, tmp_path)
    message = str(caught.value)
    assert f"cannot connect to the PostgreSQL database bot@{socket_dir}/newsqa (RECORDS_URL)" in message
    assert "check that the server is running" in message
    assert "s3cret" not in message
    assert not (tmp_path / "bot.sqlite").exists()  # never a silent fall-back to a local file


def test_a_wrong_database_name_is_reported(postgres_server) -> None:
    url = postgres_server.url("no_such_db")
    with pytest.raises(StoreUnavailableError, match='database "no_such_db" does not exist'):
        open_feed_store(Settings(records_url=url), Path("unused"))


def test_a_user_who_may_not_create_the_tables_is_told_what_to_grant(postgres_url: str) -> None:
    import psycopg

    with psycopg.connect(postgres_url, autocommit=True) as admin:  # since PostgreSQL 15 only the owner may
        admin.execute("CREATE ROLE newcomer LOGIN")                # create tables in schema public
    url = postgres_url.replace("postgres@", "newcomer@")
    with pytest.raises(StoreUnavailableError, match=r"the bot database \(PostgreSQL newcomer@.*\) refused: "
                       r"permission denied for schema public; .* make it the database's owner"):
        open_records(Settings(records_url=url), Path("unused"))


@pytest.mark.usefixtures("psycopg_installed")
def test_a_malformed_url_is_reported() -> None:
    with pytest.raises(StoreUnavailableError, match="RECORDS_URL is not a valid PostgreSQL URL"):
        open_records(Settings(records_url="postgresql://bot@db/x?colour=blue"), Path("unused"))


@pytest.mark.parametrize("url", [
    "postgresql://bot:s3cret@[db.example/newsqa",  # libpq quotes the whole URL
    "postgresql://bot:s3cret@db.example:5432/newsqa?colour",
    "postgresql://bot:my s3cret@db.example/newsqa",  # libpq quotes the password it could not read
    "postgresql://bot@db.example/newsqa?password=my s3cret",
])
@pytest.mark.usefixtures("psycopg_installed")
def test_a_malformed_url_never_shows_its_password(url: str) -> None:
    with pytest.raises(StoreUnavailableError, match="RECORDS_URL is not a valid PostgreSQL URL") as caught:
        open_records(Settings(records_url=url), Path("unused"))
    assert "s3cret" not in str(caught.value), caught.value


@pytest.mark.parametrize(("ci", "outcome"), [("true", "2 errors"), ("", "2 skipped")])
def test_without_psycopg_the_postgres_tests_fail_in_ci_and_skip_elsewhere(ci: str, outcome: str) -> None:
    """CI=true (set by .ci/run) must turn a missing postgres extra into failures, never into quiet skips."""
    hide = "import sys; sys.modules['psycopg'] = None; import pytest; sys.exit(pytest.main(sys.argv[1:]))"
    tests = [f"{__file__}::test_a_malformed_url_is_reported", f"{__file__}::test_the_store_follows_records_url"]
    done = subprocess.run([sys.executable, "-c", hide, "-q", "-p", "no:cacheprovider", *tests], capture_output=True,
                          text=True, timeout=120, cwd=Path(__file__).parents[1], env={**os.environ, "CI": ci})
    summary = done.stdout.strip().splitlines()[-1]  # e.g. "1 passed, 1 warning, 2 errors in 0.85s"
    assert "1 passed" in summary and outcome in summary, done.stdout[-2000:]  # 1 passed: the SQLite half


def test_the_default_bot_does_not_import_psycopg(tmp_path: Path) -> None:
    code = ("import sys; from bot.settings import Settings; from bot.stores import open_records, open_feed_store; "
            "from pathlib import Path; p = Path(sys.argv[1]); "
            "open_records(Settings(), p).close(); open_feed_store(Settings(), p).close(); "
            "import bot.app, bot.main; print('psycopg' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).parents[1])
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


def test_sql_is_rewritten_for_postgres() -> None:
    sql = "SELECT 1 FROM t WHERE a IS ? AND b IS NOT ? AND c = ? AND d LIKE 'x%'"
    assert postgres_sql(sql, (1, 2, 3)) == (
        "SELECT 1 FROM t WHERE a = %s AND b IS DISTINCT FROM %s AND c = %s AND d LIKE 'x%%'", (1, 2, 3))
    assert postgres_sql(sql, (None, None, 3)) == (
        "SELECT 1 FROM t WHERE a IS NULL AND b IS NOT NULL AND c = %s AND d LIKE 'x%%'", (3,))
    # a ? or IS ? inside a quoted literal or identifier is text, not a parameter; SQL keywords in any case
    quoted = "SELECT 'Why? IS ?', \"is ?\" FROM t WHERE a is ? AND b = 'it''s ?' AND c Is Not ? AND d = ?"
    assert postgres_sql(quoted, (None, 2, 3)) == (
        "SELECT 'Why? IS ?', \"is ?\" FROM t WHERE a IS NULL AND b = 'it''s ?' AND c IS DISTINCT FROM %s "
        "AND d = %s", (2, 3))
    assert advisory_key("newsqa corpus a") == advisory_key("newsqa corpus a") != advisory_key("newsqa corpus b")
    assert -2**63 <= advisory_key("x") < 2**63


# ------------------------------------------------------------------ the cross-host corpus lock


def test_corpus_writers_with_separate_connections_never_interleave(postgres_url: str) -> None:
    """Two writers (threads with a connection each, as on two hosts) take turns; another corpus is free."""
    lock = CorpusLock(postgres_url)
    events: list[str] = []
    inside = threading.Event()

    def write(name: str) -> None:
        with lock.hold("news", timeout=30, purpose=f"write {name}"):
            events.append(f"{name} in")
            inside.set()
            time.sleep(0.3)
            events.append(f"{name} out")

    first = threading.Thread(target=write, args=("a",))
    first.start()
    inside.wait(10)
    second = threading.Thread(target=write, args=("b",))
    second.start()
    time.sleep(0.1)
    with lock.hold("other", timeout=1, purpose="another corpus"):  # not blocked by "news"
        events.append("other")
    first.join()
    second.join()
    assert events == ["a in", "other", "a out", "b in", "b out"]


def test_a_busy_corpus_says_who_writes_it(postgres_url: str) -> None:
    lock = CorpusLock(postgres_url)
    with lock.hold("news", timeout=5, purpose="an add"):
        started = time.monotonic()
        with pytest.raises(BusyError, match=r"corpus 'news' is busy with a write by newsqa lock news \S+:\d+"):
            with lock.hold("news", timeout=0.3, purpose="a rebuild"):
                pass
        assert time.monotonic() - started < 5
    with lock.hold("news", timeout=0, purpose="a rebuild"):  # released: free at once
        pass


def test_a_writer_lock_lost_mid_write_is_reported(postgres_url: str, caplog: pytest.LogCaptureFixture) -> None:
    """If the server ends the lock's session during a write (restart, network cut), other hosts may write
    too: the writer cannot undo that, but the operator is told which corpus and what to do."""
    import psycopg

    lock = CorpusLock(postgres_url)
    with lock.hold("news", timeout=5, purpose="an add"):
        pass
    assert "lost" not in caplog.text  # a normal release says nothing
    with lock.hold("news", timeout=5, purpose="an add"):
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name LIKE "
                          "'newsqa lock news %%'")
    assert "corpus news: the cross-host writer lock (PostgreSQL" in caplog.text
    assert "was lost during an add" in caplog.text and "rebuild the corpus" in caplog.text
    with lock.hold("news", timeout=0, purpose="a rebuild"):  # free again at once
        pass


WRITER = """
import sys, time
from pathlib import Path
from index.database import CorpusLock
from index.store import CorpusDir

index_dir, url, name, folder = sys.argv[1:5]
log, go = Path(folder) / "log.txt", Path(folder) / "go"
with open(log, "a") as out:
    out.write(f"{name} ready\\n"); out.flush()
    while not go.exists():
        time.sleep(0.01)
    lock = CorpusLock(url) if url != "none" else None
    with CorpusDir(Path(index_dir), "news", lock).writer_lock(30, purpose=f"a write by {name}"):
        out.write(f"{name} in\\n"); out.flush()
        time.sleep(0.5)
        out.write(f"{name} out\\n"); out.flush()
"""


@pytest.mark.parametrize("shared", [True, False], ids=["advisory-lock", "flock-only"])
def test_writers_on_two_hosts_are_serialized(tmp_path: Path, postgres_url: str, shared: bool) -> None:
    """Two processes whose flocks cannot see each other (each its own INDEX_DIR, as on two hosts) take turns
    with the advisory lock in PostgreSQL; without it (the control) their writes overlap."""
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path / f"host-{name}"),
                               postgres_url if shared else "none", name, str(tmp_path)], cwd=Path(__file__).parents[1])
             for name in ("a", "b")]
    log = tmp_path / "log.txt"
    deadline = time.monotonic() + 60
    while (not log.exists() or log.read_text().count("ready") < 2) and time.monotonic() < deadline:
        time.sleep(0.02)
    (tmp_path / "go").touch()  # both are waiting: they try to write at the same moment
    for p in procs:
        assert p.wait(timeout=120) == 0
    events = [line for line in log.read_text().splitlines() if not line.endswith("ready")]
    serialized = events in (["a in", "a out", "b in", "b out"], ["b in", "b out", "a in", "a out"])
    assert serialized == shared, events
