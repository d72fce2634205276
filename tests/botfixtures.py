"""Fixtures for the end-to-end bot tests: the real bot (``create_bot``) under SimCord, over a temporary
index of the seed articles built with the fake hashing encoder (no model, instant). Each server's
corpus is created from the seeds on its first use, as in production.

Import what you need from this module in a test file (pytest picks up imported fixtures)::

    from tests.botfixtures import World, bot_engine, bot_settings, simcord_bot, world  # noqa: F401
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import discord
import pytest
import pytest_asyncio

from bot.app import SEEDS_CORPUS, NewsQABot, create_bot
from bot.settings import Settings
from index.embed import HashingEncoder
from index.engine import Engine, EngineSettings

SEEDS = Path(__file__).parents[1] / "seeds"

# The seed article answers this; the hashing encoder is confident about it (about 0.52 > 0.35).
ANSWERABLE = "How much did NATO allies in Europe and Canada invest in defense in 2024?"
UNANSWERABLE = "What is the capital of Peru?"



class GatedEngine(Engine):
    """An engine whose next write runs ``hook`` in its worker thread before the new index goes live."""

    hook = None

    def add(self, documents, *, corpus="default", progress=None):
        def gated(stage, done, total):
            if stage == "indexing" and self.hook is not None:
                hook, self.hook = self.hook, None
                hook()
            if progress:
                progress(stage, done, total)

        return super().add(documents, corpus=corpus, progress=gated)

@pytest.fixture
def bot_settings(tmp_path: Path) -> Settings:
    # No feed poller loop: its timer would move SimCord's virtual clock (tests/test_bot_feeds.py turns it on).
    return Settings(index_dir=tmp_path / "index", seeds_dir=SEEDS, cooldown_questions=50, cooldown_seconds=30.0,
                    feed_poll_minutes=0)


@pytest.fixture
def bot_engine(bot_settings: Settings):
    engine = Engine(bot_settings.index_dir, HashingEncoder(), EngineSettings(seeds_dir=SEEDS))
    engine.ensure(SEEDS_CORPUS)  # what start-up does; servers' corpora come on first use
    yield engine
    engine.close()


@pytest.fixture
def simcord_bot(bot_engine: Engine, bot_settings: Settings) -> NewsQABot:
    return create_bot(bot_engine, bot_settings)


@dataclass
class World:
    env: object
    bot: NewsQABot
    guild: object
    channel: object
    alice: object  # a member without any admin rights
    admin: object  # a member with Manage Server

    @property
    def corpus(self) -> str:
        """This server's corpus name."""
        return self.bot.corpus_for(self.guild.id)

    def documents(self) -> list:
        """This server's documents (creating its corpus from the seeds if nobody used it yet)."""
        self.bot.engine.ensure(self.corpus)
        return self.bot.engine.documents(self.corpus)

    def configure(self, **changes) -> None:
        """Change settings whose values (channel and role ids) exist only once the world is built."""
        self.bot.settings = replace(self.bot.settings, **changes)


@pytest_asyncio.fixture
async def world(simcord_env) -> World:
    bot: NewsQABot = simcord_env.bot
    await bot.sync_commands(None)  # what `newsqa sync` does; guild sync is tested separately
    guild = simcord_env.create_guild()
    channel = guild.create_text_channel("general")
    alice = guild.add_member(simcord_env.create_user("alice"))
    managers = guild.create_role("Managers", permissions=discord.Permissions(manage_guild=True))
    admin = guild.add_member(simcord_env.create_user("boss"), roles=[managers])
    return World(simcord_env, bot, guild, channel, alice, admin)

# An article no seed mentions, for tests that add one and then ask about it.
ZORB = ("Zorblax harvest hits a record\n\nThe Zorbland farm ministry said the zorblax harvest reached 900 tonnes "
        "in 2024, a record for the valley.\n\nFarmers celebrated the zorblax harvest with a festival.")
ZORB_QUESTION = "How many tonnes did the zorblax harvest reach in 2024?"
