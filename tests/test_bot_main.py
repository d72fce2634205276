"""bot.main entry points: a rejected token is reported (exit 1) and never printed or logged."""

from __future__ import annotations

import logging

import discord

import bot.runtime
from bot import main
from bot.app import NewsQABot
from bot.settings import Settings
from index.embed import HashingEncoder
from index.engine import Engine, EngineSettings
from tests.botfixtures import SEEDS

TOKEN = "MTIz.secret-token-value.xyz"


def test_rejected_token_is_reported_without_the_token(tmp_path, monkeypatch, capsys, caplog):
    caplog.set_level(logging.DEBUG)
    settings = Settings(discord_token=TOKEN, index_dir=tmp_path / "index", seeds_dir=SEEDS)
    monkeypatch.setattr(bot.runtime, "make_engine", lambda s, index_dir=None: Engine(
        s.index_dir, HashingEncoder(), EngineSettings(seeds_dir=SEEDS)))

    async def reject(self, token):
        raise discord.LoginFailure("Improper token has been passed.")

    monkeypatch.setattr(NewsQABot, "login", reject)
    assert main.run_bot(settings) == 2  # a configuration problem: a service manager should not restart into it
    err = capsys.readouterr().err
    assert "DISCORD_TOKEN was rejected by Discord: Improper token has been passed." in err
    assert TOKEN not in err and TOKEN not in caplog.text
    assert TOKEN not in repr(settings)


def test_missing_token_is_a_plain_error(tmp_path, capsys):
    assert main.run_bot(Settings(index_dir=tmp_path)) == 2
    assert main.run_sync(Settings(index_dir=tmp_path)) == 1
    assert "DISCORD_TOKEN is not set" in capsys.readouterr().err


class FakeResponse:
    def __init__(self) -> None:
        self.deferred: dict | None = None

    def is_done(self) -> bool:
        return self.deferred is not None

    async def defer(self, **kwargs) -> None:
        self.deferred = kwargs


class FakeInteraction:
    def __init__(self) -> None:
        self.response = FakeResponse()
        self.extras: dict = {}


async def test_respond_soon_defers_only_slow_work(monkeypatch):
    # SimCord's virtual clock never lets the defer timer fire, so the slow path is tested here, without Discord.
    import asyncio

    from bot import app

    monkeypatch.setattr(app, "DEFER_AFTER", 0.05)
    fast = FakeInteraction()
    assert await app.respond_soon(fast, asyncio.sleep(0, "fast"), ephemeral=False) == "fast"
    assert fast.response.deferred is None
    slow = FakeInteraction()
    assert await app.respond_soon(slow, asyncio.sleep(0.2, "slow"), ephemeral=True) == "slow"
    assert slow.response.deferred == {"ephemeral": True, "thinking": True}
    assert slow.extras["placeholder"] == "private"  # send_private may replace it with an error
