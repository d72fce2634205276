"""bot.main entry points: a rejected token is reported (exit 1) and never printed or logged."""

from __future__ import annotations

import gc
import logging
import weakref

import discord
import pytest

import bot.runtime
from bot import main
from bot.app import NewsQABot
from bot.settings import Settings
from index.embed import HashingEncoder
from index.engine import Engine, EngineSettings
from index.documents import load_text
from tests.botfixtures import SEEDS

TOKEN = "MTIz.secret-token-value.xyz"


@pytest.fixture(autouse=True)
def _unfreeze():
    """run_bot freezes the start-up heap: give the test process its normal garbage collection back."""
    yield
    gc.unfreeze()


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


def test_start_up_heap_is_frozen_before_connecting(tmp_path, monkeypatch):
    order = []
    monkeypatch.setattr(bot.runtime, "make_engine", lambda s, index_dir=None: Engine(
        s.index_dir, HashingEncoder(), EngineSettings(seeds_dir=SEEDS)))
    real_freeze = bot.runtime.freeze_startup_heap
    monkeypatch.setattr(bot.runtime, "freeze_startup_heap", lambda: order.append("freeze") or real_freeze())

    async def reject(self, token):
        order.append("login")
        raise discord.LoginFailure("Improper token has been passed.")

    monkeypatch.setattr(NewsQABot, "login", reject)
    assert main.run_bot(Settings(discord_token=TOKEN, index_dir=tmp_path / "index", seeds_dir=SEEDS)) == 2
    assert order == ["freeze", "login"]
    assert gc.get_freeze_count() > 10_000


def test_frozen_heap_still_frees_a_replaced_index(fake_engine):
    # An index generation replaced by an add must still be freed once the start-up heap is frozen.
    old = weakref.ref(fake_engine.index("default"))
    fake_engine.ask("Who leads NATO?", corpus="default")
    assert bot.runtime.freeze_startup_heap() > 0
    fake_engine.add([load_text("The harbour budget grew by 5% in 2024.", title="Harbour", doc_id="h1")], corpus="default")
    assert fake_engine.ask("Who leads NATO?", corpus="default").hits
    gc.collect()
    assert old() is None


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
