"""SHARD_COUNT / SHARD_IDS: the real bot as a discord.py AutoShardedBot under SimCord, and which process
serves (and polls the feeds of) which server."""

from __future__ import annotations

from pathlib import Path

import discord
import pytest

from bot.app import ShardedNewsQABot, serves
from bot.settings import Settings, SettingsError, load_settings
from tests.botfixtures import SEEDS, World, bot_engine, simcord_bot, world  # noqa: F401


@pytest.fixture
def bot_settings(tmp_path: Path) -> Settings:
    return Settings(index_dir=tmp_path / "index", seeds_dir=SEEDS, cooldown_questions=50, cooldown_seconds=30.0,
                    feed_poll_minutes=0, shard_count=2)


async def test_a_sharded_bot_answers(world: World) -> None:
    assert isinstance(world.bot, ShardedNewsQABot) and isinstance(world.bot, discord.AutoShardedClient)
    assert world.bot.shard_count == 2
    result = await world.alice.slash(world.channel, "ask",
                                     question="How much did allies in Europe and Canada invest in defense in 2024?")
    (embed,) = result.response.embeds
    assert "$485 billion" in embed.description


def test_shard_settings_are_read_and_checked() -> None:
    settings = load_settings(None, {"SHARD_COUNT": "4", "SHARD_IDS": "3, 1"})
    assert (settings.shard_count, settings.shard_ids) == (4, (1, 3))
    assert load_settings(None, {}).shard_count is None
    with pytest.raises(SettingsError, match="SHARD_IDS is set but SHARD_COUNT is not"):
        load_settings(None, {"SHARD_IDS": "0"})
    with pytest.raises(SettingsError, match="SHARD_IDS has 4, but with SHARD_COUNT=4 shard ids go from 0 to 3"):
        load_settings(None, {"SHARD_COUNT": "4", "SHARD_IDS": "0,4"})
    with pytest.raises(SettingsError, match="SHARD_COUNT=0 is too small"):
        load_settings(None, {"SHARD_COUNT": "0"})


@pytest.mark.parametrize(("shard_ids", "served"), [(None, {0, 1, 2}), ((0,), {0}), ((1, 2), {1, 2})])
def test_each_server_is_served_by_the_process_running_its_shard(shard_ids: tuple[int, ...] | None,
                                                                 served: set[int]) -> None:
    settings = Settings(shard_count=3, shard_ids=shard_ids)
    guilds = {shard: (3_000 + shard) << 22 for shard in range(3)}  # Discord: shard = (id >> 22) % count
    assert {shard for shard, guild in guilds.items() if serves(settings, guild)} == served
    assert serves(settings, None) == (0 in served)  # the CLI's corpora: shard 0's process
    assert serves(Settings(), guilds[2])  # unsharded: every server
