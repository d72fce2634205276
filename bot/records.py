"""The bot's own SQLite file: questions asked (for /gaps, /status and buttons), feedback and the audit log.

It lives apart from the index (default ``INDEX_DIR/bot.sqlite``) so a reindex never touches it. One
connection guarded by a lock; every call is short, and the bot runs them off the event loop.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import statistics
import threading
from datetime import datetime, timezone
from pathlib import Path

from index.models import Answer, Citation, Hit

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS questions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    question TEXT NOT NULL,
    answered INTEGER NOT NULL,
    confidence REAL NOT NULL,
    hits TEXT NOT NULL,
    user_id INTEGER,
    guild_id INTEGER,
    channel_id INTEGER,
    corpus TEXT NOT NULL,
    latency_ms REAL NOT NULL,
    asked_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    question_id INTEGER NOT NULL,
    question TEXT NOT NULL,
    answered INTEGER NOT NULL,
    confidence REAL NOT NULL,
    hits TEXT NOT NULL,
    user_id INTEGER NOT NULL,
    vote TEXT NOT NULL CHECK (vote IN ('up', 'down')),
    voted_at TEXT NOT NULL,
    UNIQUE (question_id, user_id)
);
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL,
    user_name TEXT NOT NULL,
    guild_id INTEGER,
    action TEXT NOT NULL,
    detail TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS questions_by_time ON questions (asked_at);
"""


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
    return Answer(question=data["question"], answered=bool(data["answered"]),
                  confidence=float(data["confidence"]), hits=tuple(hits))


class Records:
    """Questions, feedback and audit entries in one SQLite file."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _run(self, sql: str, params: tuple = ()) -> list[tuple]:
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    # ------------------------------------------------------------ questions

    def log_question(self, answer: Answer, *, user_id: int | None, guild_id: int | None, channel_id: int | None,
                     corpus: str, latency_ms: float) -> int:
        """Store an answered (or unanswered) question; returns its id for buttons."""
        with self._lock:
            cur = self._db.execute(
                "INSERT INTO questions (question, answered, confidence, hits, user_id, guild_id, channel_id, corpus, "
                "latency_ms, asked_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (answer.question, int(answer.answered), float(answer.confidence),
                 json.dumps([h.to_dict() for h in answer.hits], ensure_ascii=False), user_id, guild_id, channel_id,
                 corpus, float(latency_ms), now_iso()),
            )
            return int(cur.lastrowid)

    def answer(self, question_id: int) -> Answer | None:
        """The stored answer of a question id, or None when unknown."""
        rows = self._run("SELECT question, answered, confidence, hits FROM questions WHERE id = ?", (question_id,))
        if not rows:
            return None
        question, answered, confidence, hits = rows[0]
        return answer_from_dict({"question": question, "answered": answered, "confidence": confidence,
                                 "hits": json.loads(hits)})

    def recent_hits(self, user_id: int, limit: int = 25) -> list[Hit]:
        """Hits of a user's recent questions, newest first, each citation once (for /source autocomplete)."""
        rows = self._run("SELECT hits FROM questions WHERE user_id = ? ORDER BY id DESC LIMIT 20", (user_id,))
        out, seen = [], set()
        for (hits,) in rows:
            for hit in answer_from_dict({"question": "", "answered": 0, "confidence": 0, "hits": json.loads(hits)}).hits:
                key = (hit.doc_id, hit.sentence)
                if key not in seen:
                    seen.add(key)
                    out.append(hit)
        return out[:limit]

    def latency(self, last: int = 200) -> dict:
        """Median and p95 answer latency over the last ``last`` questions, in milliseconds."""
        values = [r[0] for r in self._run("SELECT latency_ms FROM questions ORDER BY id DESC LIMIT ?", (last,))]
        if not values:
            return {"count": 0}
        values.sort()
        p95 = values[min(len(values) - 1, int(round(0.95 * (len(values) - 1))))]
        return {"count": len(values), "median_ms": statistics.median(values), "p95_ms": p95}

    def gaps(self, limit: int = 20) -> list[dict]:
        """Recent questions that went unanswered or got a 👎, newest first."""
        rows = self._run(
            "SELECT question, 'unanswered', asked_at, id FROM questions WHERE answered = 0 "
            "UNION ALL SELECT question, 'down', voted_at, question_id FROM feedback WHERE vote = 'down' "
            "ORDER BY 3 DESC, 4 DESC LIMIT ?",
            (limit * 2,),
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

    def vote(self, question_id: int, user_id: int, vote: str) -> bool:
        """Record (or change) a user's 👍/👎 on an answer; False when the question is unknown."""
        if vote not in ("up", "down"):
            raise ValueError(vote)
        with self._lock:
            row = self._db.execute(
                "SELECT question, answered, confidence, hits FROM questions WHERE id = ?", (question_id,)
            ).fetchone()
            if row is None:
                return False
            self._db.execute(
                "INSERT INTO feedback (question_id, question, answered, confidence, hits, user_id, vote, voted_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (question_id, user_id) DO UPDATE SET "
                "vote = excluded.vote, voted_at = excluded.voted_at",
                (question_id, *row, user_id, vote, now_iso()),
            )
            return True

    def feedback(self, question_id: int | None = None) -> list[dict]:
        """Feedback rows (all, or for one question)."""
        where, params = ("WHERE question_id = ?", (question_id,)) if question_id is not None else ("", ())
        rows = self._run(
            f"SELECT question_id, question, answered, confidence, hits, user_id, vote, voted_at FROM feedback {where} "
            "ORDER BY id", params,
        )
        keys = ("question_id", "question", "answered", "confidence", "hits", "user_id", "vote", "voted_at")
        return [dict(zip(keys, r)) | {"hits": json.loads(r[4])} for r in rows]

    # ------------------------------------------------------------ audit

    def audit(self, *, user_id: int, user_name: str, guild_id: int | None, action: str, detail: str) -> None:
        """Append an admin action to the audit log."""
        self._run(
            "INSERT INTO audit (user_id, user_name, guild_id, action, detail, at) VALUES (?, ?, ?, ?, ?, ?)",
            (user_id, user_name, guild_id, action, detail, now_iso()),
        )

    def audit_log(self, limit: int = 50) -> list[dict]:
        rows = self._run("SELECT user_id, user_name, guild_id, action, detail, at FROM audit ORDER BY id DESC LIMIT ?",
                         (limit,))
        keys = ("user_id", "user_name", "guild_id", "action", "detail", "at")
        return [dict(zip(keys, r)) for r in rows]

    def last_change(self) -> str | None:
        """When the index was last changed from Discord, and by which action."""
        rows = self._run(
            "SELECT action, at, user_name FROM audit WHERE action IN ('reindex', 'add-article', 'remove-article') "
            "AND detail NOT LIKE 'failed%' ORDER BY id DESC LIMIT 1"
        )
        if not rows:
            return None
        action, at, who = rows[0]
        return f"{action} by {who} at {at.replace('T', ' ')}"
