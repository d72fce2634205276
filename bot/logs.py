"""Logging for the entry points: stderr, an optional rotating LOG_FILE, and filters an operator needs.

Only entry points call ``setup_logging``. The filters keep the token out of every line, drop discord.py's
voice warnings (this bot has no voice) and turn discord.py's reconnect tracebacks into one line each.
"""

from __future__ import annotations

import asyncio
import logging
import logging.handlers
import socket
import ssl
import sys
from pathlib import Path

from index.errors import NewsQAError

FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
LOG_FILE_BYTES = 10_000_000  # rotate LOG_FILE at 10 MB, keeping 5 old files (60 MB at most)
LOG_FILE_BACKUPS = 5
NOISY = ("sentence_transformers", "transformers", "httpx", "urllib3", "trafilatura", "bm25s", "filelock", "milvus_lite",
         "pymilvus")


class LogFileError(NewsQAError):
    """LOG_FILE cannot be opened for writing."""


class RedactFilter(logging.Filter):
    """Replace a secret (the bot token) wherever it would appear in a log line, tracebacks included."""

    def __init__(self, secret: str) -> None:
        super().__init__()
        self.secret = secret

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if self.secret in message:
            record.msg, record.args = message.replace(self.secret, "[token]"), None
        if record.exc_info and self.secret in logging.Formatter().formatException(record.exc_info):
            record.msg = f"{record.getMessage()} ({describe_error(record.exc_info[1])})".replace(self.secret, "[token]")
            record.args, record.exc_info, record.exc_text = None, None, None
        return True


class DiscordNoiseFilter(logging.Filter):
    """Drop the voice warnings and shorten discord.py's reconnect messages to one line without a traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "voice will NOT be supported" in message:  # this bot has no voice
            return False
        if message == "logging in using static token":  # said on every log-in try; bot.main says more
            return False
        if record.name == "discord.client" and message.startswith("Attempting a reconnect in") and record.exc_info:
            reason = describe_error(record.exc_info[1])
            record.msg = f"lost the connection to Discord ({reason}); reconnecting in {message.split()[-1]}"
            record.args, record.exc_info, record.exc_text = None, None, None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


def describe_error(exc: BaseException | None) -> str:
    """A short, plain reason for a network failure ("name not resolved", "connection refused", ...)."""
    import aiohttp  # here, not at the top: every CLI command sets up logging, few need aiohttp

    if exc is None:
        return "unknown error"
    if isinstance(exc, aiohttp.ClientConnectorCertificateError | aiohttp.ClientSSLError):
        return f"TLS failed ({exc})"
    if isinstance(exc, aiohttp.ClientConnectorError):  # wraps the OS error that says what happened
        cause = exc.os_error
        if isinstance(cause, socket.gaierror):
            return "name not resolved"
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        return (cause.strerror or type(cause).__name__) if cause else str(exc)
    if isinstance(exc, socket.gaierror):
        return "name not resolved"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, ssl.SSLError):
        return f"TLS failed ({exc})"
    if isinstance(exc, asyncio.TimeoutError | TimeoutError):
        return "no answer in time"
    status = getattr(exc, "status", None)
    if isinstance(status, int):
        return f"Discord answered HTTP {status}"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def setup_logging(level: str, *, log_file: Path | None = None, secret: str | None = None) -> None:
    """Log to stderr (and to a rotating ``log_file``) at ``level``; ``secret`` never appears in a line."""
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_file is not None:
        try:
            Path(log_file).parent.mkdir(parents=True, exist_ok=True)
            handlers.append(logging.handlers.RotatingFileHandler(
                log_file, maxBytes=LOG_FILE_BYTES, backupCount=LOG_FILE_BACKUPS, encoding="utf-8"))
        except OSError as exc:
            raise LogFileError(f"LOG_FILE={log_file} cannot be written ({exc.strerror or exc}); "
                               "choose a path in a directory the bot's user can write") from None
    root = logging.getLogger()
    for old in list(root.handlers):  # setup_logging may run twice in one process (tests): replace ours only
        if getattr(old, "newsqa", False):
            root.removeHandler(old)
            old.close()
    formatter = logging.Formatter(FORMAT)
    for handler in handlers:
        handler.newsqa = True  # type: ignore[attr-defined]
        handler.setFormatter(formatter)
        handler.addFilter(DiscordNoiseFilter())
        if secret:
            handler.addFilter(RedactFilter(secret))
        root.addHandler(handler)
    root.setLevel(getattr(logging, level, logging.INFO))
    for noisy in NOISY:
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    # discord.py's DEBUG output has every gateway event, members' messages included: never below INFO.
    logging.getLogger("discord").setLevel(max(logging.INFO, root.level))
