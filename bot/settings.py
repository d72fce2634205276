"""The one place that reads configuration: ``.env`` (python-dotenv), then the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from dotenv import dotenv_values

from index.errors import NewsQAError
from index.feedpoll import PollSettings
from index.search import RetrievalSettings


class SettingsError(NewsQAError):
    """A setting is missing or malformed; the message names it."""


DEFAULT_THRESHOLD = RetrievalSettings().threshold
SLASH_OPTION_CHARS = 6000  # Discord's cap on a slash command's string option (messages: 2000)


@dataclass(frozen=True)
class Settings:
    """Every setting of newsqa; ``.env.example`` documents each key."""

    discord_token: str | None = field(default=None, repr=False)  # never printed
    discord_guild_id: int | None = None
    ask_channel_ids: frozenset[int] = frozenset()
    admin_role_ids: frozenset[int] = frozenset()
    audit_channel_id: int | None = None
    index_dir: Path = Path("data/index")
    seeds_dir: Path = Path("seeds")
    embed_model: str | None = None
    encoder: str = "auto"
    index_backend: str = "local"  # or "milvus" (docs/SCALING.md)
    milvus_uri: str | None = None  # a milvus-lite file, or http://host:19530; None: INDEX_DIR/milvus.db
    milvus_token: str | None = field(default=None, repr=False)  # never printed
    milvus_db: str | None = None
    records_url: str | None = field(default=None, repr=False)  # PostgreSQL URL (holds a password); None: SQLite files
    share_corpora: bool = False  # corpora in RECORDS_URL's database, INDEX_DIR a per-host cache (docs/SCALING.md)
    shard_count: int | None = None  # Discord shards in all; None: one unsharded connection
    shard_ids: tuple[int, ...] | None = None  # the shards this process runs; None: all of them
    log_level: str = "INFO"
    log_file: Path | None = None
    log_questions: bool = False
    shutdown_timeout: float = 30.0
    corpus: str = "default"
    answer_top_k: int = 3
    answer_threshold: float = DEFAULT_THRESHOLD
    max_question_chars: int = 2000
    max_upload_bytes: int = 5_000_000
    fetch_timeout: float = 15.0
    allow_private_urls: bool = False
    approximate_above: int = RetrievalSettings().approximate_above
    close_call_margin: float = RetrievalSettings().close_call_margin
    cooldown_questions: int = 5
    cooldown_lookups: int = 20  # /figures and /figure, counted apart from questions
    cooldown_seconds: float = 30.0
    feed_poll_minutes: float = 30.0  # 0: the bot does not poll feeds (`newsqa feed poll` still does)
    max_feeds: int = 20
    feed_articles_per_poll: int = 20
    feed_posts_per_poll: int = 3
    article_max_age_days: float | None = None

    def retrieval(self) -> RetrievalSettings:
        return RetrievalSettings(threshold=self.answer_threshold, approximate_above=self.approximate_above,
                                 close_call_margin=self.close_call_margin)

    def feed_polling(self) -> PollSettings:
        """The limits of a feed poll: these settings plus the URL fetch limits of /add-article."""
        return PollSettings(interval_minutes=self.feed_poll_minutes or 30.0,
                            articles_per_poll=self.feed_articles_per_poll, max_age_days=self.article_max_age_days,
                            max_bytes=self.max_upload_bytes, timeout=self.fetch_timeout,
                            allow_private=self.allow_private_urls)


def _int(env: Mapping[str, str], key: str, default: int | None, *, minimum: int | None = None,
         maximum: int | None = None, why: str = "") -> int | None:
    raw = env.get(key, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{key}={raw!r} is not a whole number") from None
    if minimum is not None and value < minimum:
        raise SettingsError(f"{key}={value} is too small; it must be at least {minimum}")
    if maximum is not None and value > maximum:
        raise SettingsError(f"{key}={value} is too large; it must be at most {maximum}{why}")
    return value


def _float(env: Mapping[str, str], key: str, default: float, *, low: float, high: float) -> float:
    raw = env.get(key, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{key}={raw!r} is not a number") from None
    if not low <= value <= high:
        raise SettingsError(f"{key}={value} is out of range; use a value from {low} to {high}")
    return value


def _ids(env: Mapping[str, str], key: str) -> frozenset[int]:
    raw = env.get(key, "").strip()
    if not raw:
        return frozenset()
    out = set()
    for part in raw.replace(";", ",").split(","):
        part = part.strip()
        if not part:
            continue
        if not part.isdigit():
            raise SettingsError(f"{key} must be a comma-separated list of numeric Discord ids; {part!r} is not one")
        out.add(int(part))
    return frozenset(out)


def _bool(env: Mapping[str, str], key: str, default: bool) -> bool:
    raw = env.get(key, "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{key}={raw!r} is not true or false")


def _choice(env: Mapping[str, str], key: str, default: str, choices: tuple[str, ...]) -> str:
    raw = env.get(key, "").strip().lower()
    if not raw:
        return default
    if raw not in choices:
        raise SettingsError(f"{key}={raw!r} is not one of {', '.join(choices)}")
    return raw


def load_settings(env_file: Path | None = Path(".env"), environ: Mapping[str, str] | None = None) -> Settings:
    """Read ``.env`` (if present), let the environment override it, and validate every value."""
    env: dict[str, str] = {}
    if env_file is not None and Path(env_file).exists():
        env.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
    env.update(os.environ if environ is None else environ)
    token = env.get("DISCORD_TOKEN", "").strip() or None
    level = env.get("LOG_LEVEL", "INFO").strip().upper() or "INFO"
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
        raise SettingsError(f"LOG_LEVEL={level!r} is not one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
    backend = _choice(env, "INDEX_BACKEND", "local", ("local", "milvus"))
    milvus_uri = env.get("MILVUS_URI", "").strip() or None
    if milvus_uri and "://" in milvus_uri and not milvus_uri.startswith(("http://", "https://", "tcp://", "unix://")):
        raise SettingsError(f"MILVUS_URI={milvus_uri!r} is neither a file path (milvus-lite) nor an "
                            "http://host:19530 address of a Milvus server")
    records_url = env.get("RECORDS_URL", "").strip() or None
    if records_url and not records_url.startswith(("postgresql://", "postgres://")):
        scheme = records_url.split("://", 1)[0] + "://" if "://" in records_url else "no scheme"
        raise SettingsError(f"RECORDS_URL starts with {scheme}; it must be a PostgreSQL URL "
                            "(postgresql://user:password@host:5432/database), or empty for the SQLite files under "
                            "INDEX_DIR")
    share_corpora = _bool(env, "SHARE_CORPORA", False)
    if share_corpora and not records_url:
        raise SettingsError("SHARE_CORPORA=true keeps the corpora in the PostgreSQL database of RECORDS_URL, which is "
                            "empty: set RECORDS_URL (postgresql://user:password@host:5432/database), or set "
                            "SHARE_CORPORA=false to keep them under INDEX_DIR")
    shard_count = _int(env, "SHARD_COUNT", None, minimum=1)
    shard_ids = None
    if env.get("SHARD_IDS", "").strip():
        if shard_count is None:
            raise SettingsError("SHARD_IDS is set but SHARD_COUNT is not: set SHARD_COUNT to the number of "
                                "shards of all processes together")
        shard_ids = tuple(sorted(_ids(env, "SHARD_IDS")))
        wrong = [i for i in shard_ids if i >= shard_count]
        if wrong:
            raise SettingsError(f"SHARD_IDS has {', '.join(map(str, wrong))}, but with SHARD_COUNT={shard_count} "
                                f"shard ids go from 0 to {shard_count - 1}")
    return Settings(
        discord_token=token,
        discord_guild_id=_int(env, "DISCORD_GUILD_ID", None, minimum=1),
        ask_channel_ids=_ids(env, "ASK_CHANNEL_IDS"),
        admin_role_ids=_ids(env, "ADMIN_ROLE_IDS"),
        audit_channel_id=_int(env, "AUDIT_CHANNEL_ID", None, minimum=1),
        index_dir=Path(env.get("INDEX_DIR", "").strip() or "data/index"),
        seeds_dir=Path(env.get("SEEDS_DIR", "").strip() or "seeds"),
        embed_model=env.get("EMBED_MODEL", "").strip() or None,
        encoder=_choice(env, "ENCODER", "auto", ("auto", "onnx", "torch")),
        index_backend=backend,
        milvus_uri=milvus_uri,
        milvus_token=env.get("MILVUS_TOKEN", "").strip() or None,
        milvus_db=env.get("MILVUS_DB", "").strip() or None,
        records_url=records_url,
        share_corpora=share_corpora,
        shard_count=shard_count,
        shard_ids=shard_ids,
        log_level=level,
        log_file=Path(env.get("LOG_FILE", "").strip()) if env.get("LOG_FILE", "").strip() else None,
        log_questions=_bool(env, "LOG_QUESTIONS", False),
        shutdown_timeout=_float(env, "SHUTDOWN_TIMEOUT", 30.0, low=1.0, high=600.0),
        corpus=env.get("CORPUS", "").strip() or "default",
        answer_top_k=_int(env, "ANSWER_TOP_K", 3, minimum=1) or 3,
        answer_threshold=_float(env, "ANSWER_THRESHOLD", DEFAULT_THRESHOLD, low=0.0, high=1.0),
        close_call_margin=_float(env, "CLOSE_CALL_MARGIN", RetrievalSettings().close_call_margin, low=0.0, high=10.0),
        max_question_chars=_int(env, "MAX_QUESTION_CHARS", 2000, minimum=10, maximum=SLASH_OPTION_CHARS,
                                why=" (Discord's limit for a slash command option)") or 2000,
        max_upload_bytes=_int(env, "MAX_UPLOAD_BYTES", 5_000_000, minimum=1000) or 5_000_000,
        fetch_timeout=_float(env, "FETCH_TIMEOUT", 15.0, low=1.0, high=300.0),
        allow_private_urls=_bool(env, "ALLOW_PRIVATE_URLS", False),
        approximate_above=_int(env, "APPROXIMATE_ABOVE", RetrievalSettings().approximate_above, minimum=1)
        or RetrievalSettings().approximate_above,
        cooldown_questions=_int(env, "COOLDOWN_QUESTIONS", 5, minimum=1) or 5,
        cooldown_lookups=_int(env, "COOLDOWN_LOOKUPS", 20, minimum=1) or 20,
        cooldown_seconds=_float(env, "COOLDOWN_SECONDS", 30.0, low=0.0, high=3600.0),
        feed_poll_minutes=_float(env, "FEED_POLL_MINUTES", 30.0, low=0.0, high=7 * 24 * 60.0),
        max_feeds=_int(env, "MAX_FEEDS", 20, minimum=1) or 20,
        feed_articles_per_poll=_int(env, "FEED_ARTICLES_PER_POLL", 20, minimum=1) or 20,
        feed_posts_per_poll=_int(env, "FEED_POSTS_PER_POLL", 3, minimum=0),
        article_max_age_days=_float(env, "ARTICLE_MAX_AGE_DAYS", 0.0, low=0.0, high=36500.0) or None,
    )
