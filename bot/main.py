"""Starting the Discord bot (``newsqa run``) and the explicit global command sync (``newsqa sync``).

These are entry points: they build the engine, own the bot and report start-up failures. The token is
passed to discord.py and never logged or printed.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.metadata
import logging
import os
import random
import signal
import sys
import urllib.parse
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import aiohttp
import discord
import discord.client
from discord.backoff import ExponentialBackoff

from index.errors import IndexCorruptError, ModelMismatchError, NewsQAError

from .logs import describe_error
from .settings import Settings

if TYPE_CHECKING:
    from index.engine import Engine

    from .app import NewsQABot

log = logging.getLogger(__name__)

INTENTS_HELP = (
    "Discord refused the Message Content intent: enable it for this bot in the Developer Portal "
    "(Bot → Privileged Gateway Intents), or the bot cannot read questions in ASK_CHANNEL_IDS"
)


# Exit codes: a problem only the operator can fix (token, intents) is 2, like a malformed setting, so that a
# service manager need not restart into it (systemd: RestartPreventExitStatus=2); other failures are 1.
EXIT_CONFIG = 2


def _error(text: str, code: int = 1) -> int:
    print(f"newsqa: error: {text}", file=sys.stderr)
    return code


def check_corpora(engine: Engine) -> list[str]:
    """Try to load every server's corpus; log each unusable one with its rebuild command (the bot rebuilds
    it on first use). Returns the names of the broken ones."""
    broken = []
    for corpus in engine.corpora():
        try:
            engine.index(corpus)
        except (IndexCorruptError, ModelMismatchError) as exc:
            log.error("%s (the bot rebuilds it when the server next uses it)", exc)
            broken.append(corpus)
    return broken


def prepare_bot(settings: Settings) -> tuple[Engine, NewsQABot]:
    """The engine and the bot, ready to start even when an index on disk is corrupt or truncated.

    The seeds corpus (what direct messages read) is built, or rebuilt when unusable, before the bot
    starts; servers' corpora are checked and a broken one is rebuilt in the background when next used.
    """
    from .app import SEEDS_CORPUS, create_bot
    from .runtime import ensure_corpus, load_model, make_engine

    engine = make_engine(settings)
    bot = create_bot(engine, settings)  # first: an unreachable RECORDS_URL stops the start-up at once
    try:
        ensure_corpus(engine, SEEDS_CORPUS, rebuild_broken=True)
    except NewsQAError as exc:  # e.g. SEEDS_DIR is missing: start anyway; the bot says so when asked
        log.error("the %s corpus could not be built (%s); the bot starts anyway. Rebuild it with "
                  "`newsqa index build --corpus %s`", SEEDS_CORPUS, exc, SEEDS_CORPUS)
    check_corpora(engine)
    load_model(engine)
    return engine, bot


def startup_line(engine: Engine) -> str:
    """What an operator wants to see first: version, model, index sizes."""
    sizes = []
    corpora = engine.corpora()
    for corpus in corpora[:10]:
        try:
            stats = engine.stats(corpus)
            sizes.append(f"{corpus} {stats.documents} articles/{stats.sentences} sentences")
        except NewsQAError:
            sizes.append(f"{corpus} unusable")
    more = f" and {len(corpora) - 10} more" if len(corpora) > 10 else ""
    return (f"newsqa {package_version()} (discord.py {discord.__version__}): model {engine.encoder.name} "
            f"({engine.encoder.dimension} dimensions); index {engine.index_dir}: {len(corpora)} "
            f"{'corpus' if len(corpora) == 1 else 'corpora'}"
            f"{': ' + ', '.join(sizes) if sizes else ''}{more}")


def package_version() -> str:
    try:
        return importlib.metadata.version("newsqa")
    except importlib.metadata.PackageNotFoundError:  # a source checkout without an install
        return "unknown"


def run_bot(settings: Settings) -> int:
    """Build the engine (building the seeds corpus if needed), start the bot and run until stopped; the exit code.

    SIGTERM and SIGINT stop it cleanly (exit 0): no new interactions, running admin writes finish
    (up to SHUTDOWN_TIMEOUT seconds; a second signal stops waiting), then the connection and SQLite close.
    """
    if not settings.discord_token:
        return _error("DISCORD_TOKEN is not set; put it in .env (see .env.example)", EXIT_CONFIG)
    token = settings.discord_token
    previous = signal.signal(signal.SIGTERM, _exit_now)  # until the event loop runs: stop at once
    try:
        engine, bot = prepare_bot(settings)
    finally:
        signal.signal(signal.SIGTERM, previous)
    log.info("%s", startup_line(engine))
    from .runtime import freeze_startup_heap

    log.debug("%d start-up objects exempted from garbage collection", freeze_startup_heap())
    use_capped_reconnect()

    async def runner() -> None:
        stop, hurry = asyncio.Event(), asyncio.Event()
        _handle_signals(stop, hurry)
        async with bot:
            session = asyncio.ensure_future(connect_with_retry(bot, token, stop))
            stopper = asyncio.ensure_future(stop.wait())
            await asyncio.wait({session, stopper}, return_when=asyncio.FIRST_COMPLETED)
            if session.done():
                stopper.cancel()
                return session.result()  # the connection ended on its own: raise why
            abandoned = await bot.shutdown(settings.shutdown_timeout, hurry=hurry)
            session.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await session
        if abandoned:  # a worker thread is still writing: don't wait for it (the write is crash-safe)
            log.info("stopped (abandoned: %s)", "; ".join(abandoned))
            logging.shutdown()
            os._exit(0)

    try:
        asyncio.run(runner())
    except discord.LoginFailure as exc:
        return _error(f"DISCORD_TOKEN was rejected by Discord: {exc}", EXIT_CONFIG)
    except discord.PrivilegedIntentsRequired:
        return _error(INTENTS_HELP, EXIT_CONFIG)
    except discord.HTTPException as exc:
        return _error(f"Discord refused the log-in: {exc}")
    except discord.ConnectionClosed as exc:
        return _error(f"Discord closed the connection for good (code {exc.code}: {exc.reason or 'no reason'}); "
                      "the bot stops so that the service manager can restart it")
    except KeyboardInterrupt:  # a SIGINT before the signal handlers were installed
        pass
    finally:
        engine.close()
    log.info("stopped")
    return 0


def _exit_now(signum: int, frame: object) -> None:
    """SIGTERM before the event loop runs (loading the model, building the seeds corpus): stop now, exit 0."""
    raise SystemExit(0)


def _handle_signals(stop: asyncio.Event, hurry: asyncio.Event) -> None:
    """SIGTERM/SIGINT: the first asks for a clean stop, a second stops waiting for running writes."""
    loop = asyncio.get_running_loop()

    def on_signal(signum: int) -> None:
        name = signal.Signals(signum).name
        if not stop.is_set():
            log.info("received %s: stopping (no new questions or commands; running admin changes may finish)",
                     name)
            stop.set()
        else:
            log.warning("received %s again: not waiting for running admin changes", name)
            hurry.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, on_signal, signum)


@dataclass
class Backoff:
    """Capped exponential backoff with jitter: first ``first`` s, doubling up to ``cap`` s, each ±``jitter``."""

    first: float = 5.0
    cap: float = 300.0
    jitter: float = 0.2
    rng: random.Random = field(default_factory=random.Random)
    tries: int = 0

    def next(self) -> float:
        """Seconds to wait before the next try."""
        nominal = min(self.cap, self.first * 2 ** min(self.tries, 30))
        self.tries += 1
        return min(self.cap, nominal * self.rng.uniform(1 - self.jitter, 1 + self.jitter))


RECONNECT_CAP = 60.0  # most seconds between discord.py's reconnect tries after log-in


class ReconnectBackoff(ExponentialBackoff):
    """discord.py's reconnect backoff, capped at RECONNECT_CAP seconds.

    Its own grows to 1024 s: after a 300 s outage the bot stayed silent for another 340 s once the
    network was back (bench/ops_outage.py). ``Client.connect`` builds its backoff inside the method,
    so the entry point swaps the class in ``discord.client`` (``use_capped_reconnect``)."""

    def delay(self) -> float:
        return min(super().delay(), RECONNECT_CAP)


def use_capped_reconnect() -> None:
    """Make discord.py's reconnect loop (``Client.connect``) use ReconnectBackoff."""
    discord.client.ExponentialBackoff = ReconnectBackoff  # type: ignore[attr-defined, misc]


RETRY_FIRST = 5.0  # seconds before the second log-in attempt; doubling up to RETRY_CAP
RETRY_CAP = 300.0
RETRYABLE = (OSError, aiohttp.ClientError, asyncio.TimeoutError, discord.DiscordServerError, discord.GatewayNotFound)
LOGIN_TIMEOUT = 60.0  # seconds for one log-in attempt (a dropped route would otherwise hang for minutes)


def discord_host() -> str:
    """The host the bot logs in to (discord.com), for the retry log lines."""
    url = urllib.parse.urlsplit(discord.http.Route.BASE)
    return url.netloc or "discord.com"


async def connect_with_retry(bot: discord.Client, token: str, stop: asyncio.Event,
                             backoff: Backoff | None = None) -> None:
    """Log in, retrying forever while Discord can't be reached (one log line per try), then stay connected.

    A token Discord rejects raises LoginFailure at once. Returns early when ``stop`` is set. After log-in,
    discord.py reconnects by itself after drops (``connect(reconnect=True)``).
    """
    backoff = backoff or Backoff(first=RETRY_FIRST, cap=RETRY_CAP)
    while not stop.is_set():
        try:
            await asyncio.wait_for(bot.login(token), LOGIN_TIMEOUT)
            break
        except discord.LoginFailure:
            raise
        except RETRYABLE as exc:
            delay = backoff.next()
            log.warning("can't reach %s: %s; retrying in %.0f s (attempt %d)", discord_host(),
                        describe_error(exc), delay, backoff.tries)
            await bot.http.close()  # the next try opens a fresh session, which needs a fresh connector
            bot.http.connector = discord.utils.MISSING
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), delay)
    else:
        return
    if backoff.tries:
        plural = "s" if backoff.tries > 1 else ""
        log.info("reached %s after %d failed attempt%s", discord_host(), backoff.tries, plural)
    await bot.connect(reconnect=True)


def run_sync(settings: Settings) -> int:
    """Log in, sync the slash commands globally (they may take up to an hour to appear), and exit."""
    if not settings.discord_token:
        return _error("DISCORD_TOKEN is not set; put it in .env (see .env.example)")
    from .app import NewsQABot

    async def sync() -> int:
        bot = NewsQABot(None, settings, None, sync_guild=False)  # commands only: no engine, no model
        async with bot:
            await bot.login(settings.discord_token)  # runs setup_hook, which loads the cogs
            synced = await bot.sync_commands(None)
        print(f"Synced {len(synced)} commands globally: {', '.join('/' + c.name for c in synced)}. "
              "They may take up to an hour to appear in every server.", file=sys.stderr)
        return 0

    try:
        return asyncio.run(sync())
    except discord.LoginFailure as exc:
        return _error(f"DISCORD_TOKEN was rejected by Discord: {exc}")
    except discord.HTTPException as exc:
        return _error(f"Discord refused the sync: {exc}")
