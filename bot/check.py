"""``newsqa run --check``: everything the bot needs, checked offline before a deployment starts it.

Settings were validated when they were read; this checks the token's format (never its value, which
is not printed), the folders, the embedding model and every corpus on disk. The network is reached only
to connect to the servers the settings name (a Milvus server, RECORDS_URL's PostgreSQL).
"""

from __future__ import annotations

import base64
import binascii
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from index.errors import NewsQAError

from .settings import Settings

OK, PROBLEM = "ok     ", "PROBLEM"


def token_problem(token: str | None) -> str | None:
    """Why ``token`` cannot be a Discord bot token, or None when its format is right (Discord decides the rest)."""
    if not token:
        return "DISCORD_TOKEN is not set: `newsqa run` would start the console chat; put the bot token in .env"
    if token.lower().startswith("bot "):
        return "DISCORD_TOKEN starts with 'Bot ': give the token alone, without the prefix"
    if any(ch.isspace() for ch in token) or token[:1] in "'\"":
        return "DISCORD_TOKEN contains spaces or quotes: paste the token alone"
    parts = token.split(".")
    if len(parts) != 3 or not all(parts):
        return (f"DISCORD_TOKEN has {len(parts)} dot-separated parts; a bot token has 3 "
                "(copy it again from the Developer Portal: Bot → Reset Token)")
    try:
        bot_id = base64.urlsafe_b64decode(parts[0] + "=" * (-len(parts[0]) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError):
        bot_id = ""
    if not bot_id.isdigit():
        return ("DISCORD_TOKEN's first part is not a bot id in base64: this is not a bot token "
                "(a client secret or a user token?); copy it from the Developer Portal: Bot → Reset Token")
    return None


class Checker:
    """Runs named checks, printing one line each; remembers whether any failed."""

    def __init__(self) -> None:
        self.failed = 0

    def run(self, what: str, check: Callable[[], str]) -> bool:
        """Run one check (it returns what it found, or raises with what is wrong) and print its line."""
        try:
            detail = check()
        except (NewsQAError, OSError) as exc:
            print(f"{PROBLEM} {what}: {exc}")
            self.failed += 1
            return False
        print(f"{OK} {what}: {detail}")
        return True


def run_check(settings: Settings, index_dir: Path | None = None) -> int:
    """Check settings, token format, folders, model and index offline; 0 when the bot can start, else 1."""
    index_dir = Path(index_dir or settings.index_dir)
    checks = Checker()
    checks.run("settings", lambda: "every value is valid (.env and the environment)")

    def token() -> str:
        problem = token_problem(settings.discord_token)
        if problem:
            raise NewsQAError(problem)
        return "set, and shaped like a bot token (whether Discord accepts it is known only at log-in)"

    checks.run("DISCORD_TOKEN", token)

    def seeds() -> str:
        from index.documents import list_sources

        sources = list_sources(settings.seeds_dir)
        if not sources:
            raise NewsQAError(f"SEEDS_DIR={settings.seeds_dir} has no .txt, .md or .html articles; "
                              "every server's corpus starts from them")
        return f"{settings.seeds_dir}: {len(sources)} article{'s' if len(sources) != 1 else ''}"

    checks.run("SEEDS_DIR", seeds)

    def writable() -> str:
        try:
            index_dir.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=index_dir):
                pass
        except OSError as exc:
            raise NewsQAError(f"INDEX_DIR={index_dir} is not writable ({exc.strerror or exc}); "
                              "create it and give it to the bot's user") from None
        return f"{index_dir} is writable"

    index_ok = checks.run("INDEX_DIR", writable)
    backend = None

    def index_backend() -> str:
        nonlocal backend
        from .runtime import make_backend

        backend = make_backend(settings, index_dir)
        if settings.index_backend == "local":
            return "local (FAISS + bm25s files under INDEX_DIR)"
        backend.client  # connects: a server that does not answer fails here  # noqa: B018
        return f"milvus at {backend.config.uri}"

    index_ok = checks.run("INDEX_BACKEND", index_backend) and index_ok

    def records_store() -> str:
        if not settings.records_url:
            return "empty: bot records and feeds in SQLite files under INDEX_DIR (bot.sqlite, feeds.sqlite)"
        from .stores import open_feed_store, open_records

        records = open_records(settings, index_dir)  # connects, and creates the tables on first use
        try:
            open_feed_store(settings, index_dir).close()
            version = records.db.run("SHOW server_version")[0][0]
        finally:
            records.close()
        return f"PostgreSQL {version} at {records.db.where.removeprefix('PostgreSQL ')}: reachable, tables ready"

    index_ok = checks.run("RECORDS_URL", records_store) and index_ok

    def shared_corpora() -> str:
        if not settings.share_corpora:
            return f"false: corpora under INDEX_DIR ({index_dir})"
        from index.shared import SharedCorpora

        corpora = SharedCorpora(settings.records_url or "", index_dir)  # connects, creates its tables
        try:
            names = corpora.names()
        finally:
            corpora.close()
        return (f"true: {len(names)} corpus{'es' if len(names) != 1 else ''} in {corpora.where}; INDEX_DIR "
                "is this host's cache")

    index_ok = checks.run("SHARE_CORPORA", shared_corpora) and index_ok

    encoder = None

    def model() -> str:
        nonlocal encoder
        from index.embed import SentenceTransformerEncoder

        started = time.perf_counter()
        try:
            encoder = SentenceTransformerEncoder(settings.embed_model)
        except Exception as exc:  # missing, damaged, or not a sentence-transformers model
            which = f"EMBED_MODEL={settings.embed_model}" if settings.embed_model else "the packaged model"
            raise NewsQAError(f"{which} could not be loaded ({exc}); point EMBED_MODEL at a local "
                              "sentence-transformers folder, or leave it empty for the packaged model") from None
        vector = encoder.encode(["Is the model working?"])
        if vector.shape != (1, encoder.dimension):
            raise NewsQAError(f"the model returned vectors of shape {vector.shape}, expected (1, {encoder.dimension})")
        return f"{encoder.name} ({encoder.dimension} dimensions), loaded in {time.perf_counter() - started:.1f} s"

    checks.run("model", model)

    if index_ok and encoder is not None:
        from index.engine import Engine

        from .runtime import engine_settings
        from .stores import open_corpora

        engine = Engine(index_dir, encoder, engine_settings(settings), backend=backend,
                        corpora=open_corpora(settings, index_dir, backend))
        try:
            corpora = engine.corpora()
            if not corpora:
                checks.run("index", lambda: "no corpora yet: the bot builds the seeds corpus at start-up")
            for corpus in corpora:
                def load(corpus: str = corpus) -> str:
                    engine.index(corpus)
                    stats = engine.stats(corpus)
                    return f"{stats.documents} articles, {stats.sentences} sentences, generation {stats.generation}"

                checks.run(f"corpus {corpus}", load)
        finally:
            engine.close()

    if checks.failed:
        many = checks.failed > 1
        print(f"{checks.failed} problem{'s' if many else ''} found: fix {'them' if many else 'it'} before starting the bot.")
        return 1
    print("All checks passed: `newsqa run` can start the bot.")
    return 0
