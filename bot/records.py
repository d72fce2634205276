"""The bot's records: questions asked (for /gaps, /status and buttons), feedback and the audit log.

They live apart from the index (default ``INDEX_DIR/bot.sqlite``, a SQLite file; with RECORDS_URL a
PostgreSQL database that the bot processes of several hosts share, ``index.database``) so a reindex
never touches them. One connection guarded by a lock; every call is short, and the bot runs them off
the event loop.

Every row carries the server (``guild_id``; NULL for direct messages) and every read takes the server
it reads for: one server never sees another's questions, feedback or audit entries.
"""

from __future__ import annotations

import json
import logging
import statistics
from datetime import datetime, timezone
from pathlib import Path

from index.answertypes import missing_measure
from index.database import PostgresDatabase, SqliteDatabase
from index.models import Answer, Citation, Hit

log = logging.getLogger(__name__)

# Column types in braces are filled by the database: {id} an auto-numbered key, {bigint} a Discord id
# (64 bits), {float} a double.
SCHEMA = """
CREATE TABLE IF NOT EXISTS questions (
    id {id},
    question TEXT NOT NULL,
    answered INTEGER NOT NULL,
    confidence {float} NOT NULL,
    hits TEXT NOT NULL,
    user_id {bigint},
    guild_id {bigint},
    channel_id {bigint},
    corpus TEXT NOT NULL,
    latency_ms {float} NOT NULL,
    asked_at TEXT NOT NULL,
    public INTEGER
);
CREATE TABLE IF NOT EXISTS feedback (
    id {id},
    question_id {bigint} NOT NULL,
    question TEXT NOT NULL,
    answered INTEGER NOT NULL,
    confidence {float} NOT NULL,
    hits TEXT NOT NULL,
    user_id {bigint} NOT NULL,
    guild_id {bigint},
    vote TEXT NOT NULL CHECK (vote IN ('up', 'down')),
    voted_at TEXT NOT NULL,
    UNIQUE (question_id, user_id)
);
CREATE TABLE IF NOT EXISTS audit (
    id {id},
    user_id {bigint} NOT NULL,
    user_name TEXT NOT NULL,
    guild_id {bigint},
    action TEXT NOT NULL,
    detail TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS questions_by_time ON questions (asked_at);
"""

# Indexes on columns that an older bot.sqlite may lack: created after the migration adds them.
INDEXES = """
CREATE INDEX IF NOT EXISTS questions_by_guild ON questions (guild_id, id);
CREATE INDEX IF NOT EXISTS feedback_by_guild ON feedback (guild_id, id);
CREATE INDEX IF NOT EXISTS audit_by_guild ON audit (guild_id, id);
CREATE INDEX IF NOT EXISTS questions_by_channel ON questions (channel_id, id);
"""

# Columns added since the first release: (table, column, declaration). ``questions.public`` is 1 when the
# answer was posted for everyone (or shared), 0 when only the asker saw it; NULL (older rows) counts as private.
ADDED_COLUMNS = (("questions", "guild_id", "{bigint}"), ("feedback", "guild_id", "{bigint}"),
                 ("audit", "guild_id", "{bigint}"), ("questions", "public", "INTEGER"))

# The answers a member has seen in a channel: everyone's public answers, and their own questions.
_SEEN_HERE = "guild_id IS ? AND channel_id IS ? AND ((public = 1 AND answered = 1) OR user_id IS ?)"


def now_iso() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


def answer_from_dict(data: dict) -> Answer:
    """Rebuild an Answer from ``Answer.to_dict()`` (as stored with a question)."""
    hits = []
    for h in data.get("hits", []):
        h = dict(h)
        h["citation"] = Citation(**h["citation"])
        h["also"] = tuple(h.get("also", ()))
        hits.append(Hit(**h))
    answered = bool(data["answered"])
    missing = data.get("missing")
    if missing is None and not answered and hits:
        # Not stored with the question: said again from what is (the value asked for, absent from the
        # best passage), so "Show closest passages" tells why, as the first reply did.
        missing = missing_measure(data["question"], hits[0].context)
    return Answer(question=data["question"], answered=answered,
                  confidence=float(data["confidence"]), hits=tuple(hits), close_call=bool(data.get("close_call", False)),
                  missing=missing)


def _hits(stored: str) -> list[Hit]:
    return list(answer_from_dict({"question": "", "answered": 0, "confidence": 0, "hits": json.loads(stored)}).hits)


Database = SqliteDatabase | PostgresDatabase


class Records:
    """Questions, feedback and audit entries in one database: a SQLite file (a path) or ``bot.stores``'s choice."""

    def __init__(self, db: Path | Database) -> None:
        self.db: Database = db if isinstance(db, (SqliteDatabase, PostgresDatabase)) else SqliteDatabase(Path(db))
        self.path = getattr(self.db, "path", None)
        self.db.schema(SCHEMA)
        self._migrate()
        self.db.schema(INDEXES)

    def _migrate(self) -> None:
        """Add the columns an older database lacks, in one transaction (feedback gets its question's server)."""
        missing = [(t, c, d) for t, c, d in ADDED_COLUMNS if c not in self.db.columns(t)]
        if not missing:
            return
        with self.db.tx() as tx:
            for table, column, decl in missing:
                log.info("records: adding %s.%s to %s", table, column, self.db.where)
                tx.execute(f"ALTER TABLE {table} ADD COLUMN {column} {decl.format(**self.db.TYPES)}")
            if ("feedback", "guild_id", "{bigint}") in missing:
                tx.execute("UPDATE feedback SET guild_id = (SELECT q.guild_id FROM questions q "
                           "WHERE q.id = feedback.question_id)")

    def close(self) -> None:
        self.db.close()

    def _run(self, sql: str, params: tuple = ()) -> list[tuple]:
        return self.db.run(sql, params)

    # ------------------------------------------------------------ questions

    def log_question(self, answer: Answer, *, user_id: int | None, guild_id: int | None, channel_id: int | None,
                     corpus: str, latency_ms: float, public: bool = False) -> int:
        """Store an answered (or unanswered) question; returns its id for buttons.

        ``public``: the answer is posted for everyone in the channel (its citations may be offered to others).
        """
        return self.db.insert(
            "INSERT INTO questions (question, answered, confidence, hits, user_id, guild_id, channel_id, corpus, "
            "latency_ms, asked_at, public) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (answer.question, int(answer.answered), float(answer.confidence),
             json.dumps([h.to_dict() for h in answer.hits], ensure_ascii=False), user_id, guild_id, channel_id,
             corpus, float(latency_ms), now_iso(), int(public)),
        )

    def shared(self, question_id: int, *, guild_id: int | None, channel_id: int | None) -> None:
        """A private answer was shared to a channel: everyone there has seen it now."""
        self._run("UPDATE questions SET public = 1, channel_id = ? WHERE id = ? AND guild_id IS ?",
                  (channel_id, question_id, guild_id))

    def answer(self, question_id: int, *, guild_id: int | None) -> Answer | None:
        """The stored answer of a question asked in this server (None for DMs), or None when unknown here."""
        rows = self._run("SELECT question, answered, confidence, hits FROM questions WHERE id = ? AND guild_id IS ?",
                         (question_id, guild_id))
        if not rows:
            return None
        question, answered, confidence, hits = rows[0]
        return answer_from_dict({"question": question, "answered": answered, "confidence": confidence,
                                 "hits": json.loads(hits)})

    def recent_hits(self, *, user_id: int, guild_id: int | None, channel_id: int | None,
                    limit: int = 25) -> list[Hit]:
        """Citations of the answers this member has seen in this channel (everyone's public answers and
        their own), newest first, each once; then their own from elsewhere in this server (for /source)."""
        rows = self._run(
            f"SELECT hits FROM questions WHERE {_SEEN_HERE} ORDER BY id DESC LIMIT 20",
            (guild_id, channel_id, user_id))
        rows += self._run(
            "SELECT hits FROM questions WHERE user_id = ? AND guild_id IS ? AND channel_id IS NOT ? "
            "ORDER BY id DESC LIMIT 10", (user_id, guild_id, channel_id))
        out, seen = [], set()
        for (hits,) in rows:
            for hit in _hits(hits):
                key = (hit.doc_id, hit.sentence)
                if key not in seen:
                    seen.add(key)
                    out.append(hit)
        return out[:limit]

    def latest_answer_hits(self, *, user_id: int, guild_id: int | None, channel_id: int | None) -> list[Hit]:
        """The numbered citations [1] [2] [3] of the latest answer this member has seen in this channel."""
        rows = self._run(f"SELECT hits FROM questions WHERE {_SEEN_HERE} ORDER BY id DESC LIMIT 1",
                         (guild_id, channel_id, user_id))
        return _hits(rows[0][0]) if rows else []

    def latency(self, *, guild_id: int | None, last: int = 200) -> dict:
        """Median and p95 answer latency over this server's last ``last`` questions, in milliseconds."""
        values = [r[0] for r in self._run("SELECT latency_ms FROM questions WHERE guild_id IS ? ORDER BY id DESC "
                                          "LIMIT ?", (guild_id, last))]
        if not values:
            return {"count": 0}
        values.sort()
        p95 = values[min(len(values) - 1, int(round(0.95 * (len(values) - 1))))]
        return {"count": len(values), "median_ms": statistics.median(values), "p95_ms": p95}

    def gaps(self, *, guild_id: int | None, limit: int = 20) -> list[dict]:
        """This server's recent questions that went unanswered or got a 👎, newest first."""
        rows = self._run(
            "SELECT question, 'unanswered', asked_at, id FROM questions WHERE answered = 0 AND guild_id IS ? "
            "UNION ALL SELECT question, 'down', voted_at, question_id FROM feedback WHERE vote = 'down' "
            "AND guild_id IS ? ORDER BY 3 DESC, 4 DESC LIMIT ?",
            (guild_id, guild_id, limit * 2),
        )
        out, seen = [], set()
        for question, reason, when, _ in rows:
            key = question.strip().lower()
            if key in seen:
                continue
            seen.add(key)
            out.append({"question": question, "reason": reason, "when": when})
        return out[:limit]

    # ------------------------------------------------------------ feedback

    def vote(self, question_id: int, user_id: int, vote: str, *, guild_id: int | None) -> bool:
        """Record (or change) a user's 👍/👎 on an answer from this server; False when unknown here."""
        if vote not in ("up", "down"):
            raise ValueError(vote)
        with self.db.tx() as tx:
            row = tx.execute(
                "SELECT question, answered, confidence, hits FROM questions WHERE id = ? AND guild_id IS ?",
                (question_id, guild_id),
            ).fetchone()
            if row is None:
                return False
            tx.execute(
                "INSERT INTO feedback (question_id, question, answered, confidence, hits, user_id, guild_id, vote, "
                "voted_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (question_id, user_id) DO UPDATE SET "
                "vote = excluded.vote, voted_at = excluded.voted_at",
                (question_id, *row, user_id, guild_id, vote, now_iso()),
            )
            return True

    def feedback(self, *, guild_id: int | None, question_id: int | None = None) -> list[dict]:
        """This server's feedback rows (all, or for one question)."""
        where, params = "WHERE guild_id IS ?", (guild_id,)
        if question_id is not None:
            where, params = where + " AND question_id = ?", params + (question_id,)
        rows = self._run(
            "SELECT question_id, question, answered, confidence, hits, user_id, vote, voted_at, guild_id "
            f"FROM feedback {where} ORDER BY id", params,
        )
        keys = ("question_id", "question", "answered", "confidence", "hits", "user_id", "vote", "voted_at",
                "guild_id")
        return [dict(zip(keys, r)) | {"hits": json.loads(r[4])} for r in rows]

    # ------------------------------------------------------------ audit

    def audit(self, *, user_id: int, user_name: str, guild_id: int | None, action: str, detail: str) -> None:
        """Append an admin action to the audit log."""
        self._run(
            "INSERT INTO audit (user_id, user_name, guild_id, action, detail, at) VALUES (?, ?, ?, ?, ?, ?)",
            (user_id, user_name, guild_id, action, detail, now_iso()),
        )

    def audit_log(self, *, guild_id: int | None, limit: int = 50) -> list[dict]:
        """This server's audit entries, newest first."""
        rows = self._run("SELECT user_id, user_name, guild_id, action, detail, at FROM audit WHERE guild_id IS ? "
                         "ORDER BY id DESC LIMIT ?", (guild_id, limit))
        keys = ("user_id", "user_name", "guild_id", "action", "detail", "at")
        return [dict(zip(keys, r)) for r in rows]

    def last_change(self, *, guild_id: int | None) -> str | None:
        """When this server's corpus was last changed from Discord, and by which action."""
        rows = self._run(
            "SELECT action, at, user_name FROM audit WHERE action IN ('reindex', 'add-article', 'remove-article') "
            "AND detail NOT LIKE 'failed%' AND guild_id IS ? ORDER BY id DESC LIMIT 1", (guild_id,)
        )
        if not rows:
            return None
        action, at, who = rows[0]
        return f"{action} by {who} at {at.replace('T', ' ')}"
