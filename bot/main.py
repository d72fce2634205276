"""Starting the Discord bot (``newsqa run``) and the explicit global command sync (``newsqa sync``).

These are entry points: they build the engine, own the bot and report start-up failures. The token is
passed to discord.py and never logged or printed.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from typing import TYPE_CHECKING

import discord

from index.errors import IndexCorruptError, ModelMismatchError, NewsQAError

from .settings import Settings

if TYPE_CHECKING:
    from index.engine import Engine

    from .app import NewsQABot

log = logging.getLogger(__name__)

INTENTS_HELP = (
    "Discord refused the Message Content intent: enable it for this bot in the Developer Portal "
    "(Bot → Privileged Gateway Intents), or the bot cannot read questions in ASK_CHANNEL_IDS"
)


def _error(text: str) -> int:
    print(f"newsqa: error: {text}", file=sys.stderr)
    return 1


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
    try:
        ensure_corpus(engine, SEEDS_CORPUS, rebuild_broken=True)
    except NewsQAError as exc:  # e.g. SEEDS_DIR is missing: start anyway; the bot says so when asked
        log.error("the %s corpus could not be built (%s); the bot starts anyway. Rebuild it with "
                  "`newsqa index build --corpus %s`", SEEDS_CORPUS, exc, SEEDS_CORPUS)
    check_corpora(engine)
    load_model(engine)
    return engine, create_bot(engine, settings)


def run_bot(settings: Settings) -> int:
    """Build the engine (building the seeds corpus if needed), start the bot and run until stopped; the exit code."""
    if not settings.discord_token:
        return _error("DISCORD_TOKEN is not set; put it in .env (see .env.example)")
    engine, bot = prepare_bot(settings)

    async def runner() -> None:
        async with bot:
            await bot.start(settings.discord_token)

    try:
        asyncio.run(runner())
    except discord.LoginFailure as exc:
        return _error(f"DISCORD_TOKEN was rejected by Discord: {exc}")
    except discord.PrivilegedIntentsRequired:
        return _error(INTENTS_HELP)
    except KeyboardInterrupt:
        log.info("stopped")
    finally:
        engine.close()
    return 0


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
