"""Operations: start-up without Discord, operator logs, settings of the service (issue 13)."""

from __future__ import annotations

import logging
import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bot.app import STOPPING_MESSAGE
from bot.logs import LogFileError, describe_error, setup_logging
from bot.main import Backoff
from bot.settings import SettingsError, load_settings
from tests.botfixtures import (  # noqa: F401 - fixtures
    ANSWERABLE,
    UNANSWERABLE,
    World,
    bot_engine,
    bot_settings,
    simcord_bot,
    world,
)

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "MTIzNDU2Nzg5MDEyMzQ1Njc4.Gabcde.secret-token-value-xyz"


def test_backoff_doubles_from_5_s_up_to_5_minutes_with_jitter():
    backoff = Backoff(rng=random.Random(7))
    delays = [backoff.next() for _ in range(12)]
    nominal = [5, 10, 20, 40, 80, 160, 300, 300, 300, 300, 300, 300]
    for delay, expected in zip(delays, nominal):
        assert expected * 0.8 <= delay <= min(300, expected * 1.2)
    assert len({round(d, 6) for d in delays[6:]}) > 1, "jitter spreads the capped retries"
    assert backoff.tries == 12


def test_settings_for_operations(tmp_path):
    settings = load_settings(None, {"LOG_FILE": str(tmp_path / "bot.log"), "LOG_QUESTIONS": "true",
                                    "SHUTDOWN_TIMEOUT": "12"})
    assert settings.log_file == tmp_path / "bot.log" and settings.log_questions and settings.shutdown_timeout == 12
    defaults = load_settings(None, {})
    assert defaults.log_file is None and not defaults.log_questions and defaults.shutdown_timeout == 30
    with pytest.raises(SettingsError, match="SHUTDOWN_TIMEOUT"):
        load_settings(None, {"SHUTDOWN_TIMEOUT": "0"})
    with pytest.raises(SettingsError, match="LOG_QUESTIONS"):
        load_settings(None, {"LOG_QUESTIONS": "maybe"})


def test_log_file_gets_filtered_lines(tmp_path):
    log_file = tmp_path / "logs" / "newsqa.log"
    setup_logging("INFO", log_file=log_file, secret=TOKEN)
    logging.getLogger("discord.client").warning("PyNaCl is not installed, voice will NOT be supported")
    logging.getLogger("discord.client").warning("davey is not installed, voice will NOT be supported")
    logging.getLogger("bot.test").info("a line with the token %s in it", TOKEN)
    try:
        raise ConnectionRefusedError(111, "Connection refused")
    except OSError:
        logging.getLogger("discord.client").exception("Attempting a reconnect in %.2fs", 3.5)
    try:
        raise RuntimeError(f"failure mentioning {TOKEN}")
    except RuntimeError:
        logging.getLogger("bot.test").exception("unexpected")
    for handler in logging.getLogger().handlers:
        handler.flush()
    text = log_file.read_text(encoding="utf-8")
    assert "voice" not in text
    assert TOKEN not in text and "a line with the token [token] in it" in text
    assert "lost the connection to Discord (connection refused); reconnecting in 3.50s" in text
    assert "Traceback" not in text.split("unexpected")[0]
    assert "[token]" in text.split("unexpected")[1]


def test_debug_level_keeps_discord_py_payloads_out(tmp_path):
    log_file = tmp_path / "newsqa.log"
    setup_logging("DEBUG", log_file=log_file)
    logging.getLogger("discord.gateway").debug("For Shard ID %s: WebSocket Event: %s", None, {"content": "hello"})
    logging.getLogger("bot.app").debug("a newsqa debug line")
    for handler in logging.getLogger().handlers:
        handler.flush()
    text = log_file.read_text(encoding="utf-8")
    assert "a newsqa debug line" in text and "WebSocket Event" not in text


def test_unwritable_log_file_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(LogFileError, match="LOG_FILE=.*cannot be written"):
        setup_logging("INFO", log_file=blocker / "newsqa.log")


def test_network_errors_are_described_plainly():
    import aiohttp

    dns = aiohttp.ClientConnectorError(aiohttp.client_reqrep.ConnectionKey(
        "discord.com", 443, True, True, None, None, None), socket.gaierror(-2, "Name or service not known"))
    assert describe_error(dns) == "name not resolved"
    assert describe_error(ConnectionRefusedError(111, "Connection refused")) == "connection refused"
    assert describe_error(TimeoutError()) == "no answer in time"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_worker(tmp_path: Path, api_base: str, *args: str, **env: str) -> subprocess.Popen:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "LOG_"))}
    environ.update(DISCORD_TOKEN=TOKEN, INDEX_DIR=str(tmp_path / "index"), SEEDS_DIR=str(ROOT / "seeds"),
                   LOG_LEVEL="INFO", PYTHONUNBUFFERED="1", **env)
    return subprocess.Popen([sys.executable, str(ROOT / "tests" / "ops_worker.py"), api_base, *args],
                            cwd=tmp_path, env=environ, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def read_until(proc: subprocess.Popen, needle: str, count: int = 1, timeout: float = 60) -> list[str]:
    """Lines of stderr up to the ``count``-th containing ``needle``."""
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    seen = 0
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        lines.append(line)
        seen += needle in line
        if seen >= count:
            return lines
    proc.kill()
    raise AssertionError(f"no {count}x {needle!r} in:\n{''.join(lines)}")


@pytest.mark.parametrize("where", ["closed port", "unresolvable name"])
def test_start_up_without_discord_retries_then_stops_cleanly_on_sigterm(tmp_path, where):
    base = (f"http://127.0.0.1:{free_port()}/api/v10" if where == "closed port"
            else "http://newsqa-test.invalid/api/v10")
    proc = start_worker(tmp_path, base, "0.2")
    lines = read_until(proc, "retrying in", count=3)
    proc.send_signal(signal.SIGTERM)
    out, rest = proc.communicate(timeout=30)
    text = "".join(lines) + rest
    assert proc.returncode == 0, text
    reason = "connection refused" if where == "closed port" else "name not resolved"
    tries = [line for line in text.splitlines() if "retrying in" in line]
    assert len(tries) >= 3
    assert all(f"can't reach {base.split('/')[2]}: {reason}; retrying in" in line for line in tries), text
    assert "Traceback" not in text and "Error" not in text.replace("ERROR", "")
    assert "logging in using static token" not in text  # one line per try
    assert "received SIGTERM: stopping" in text and text.rstrip().endswith("stopped")
    assert TOKEN not in text + out


def test_every_setting_is_in_env_example_and_readme():
    import re

    keys = set(re.findall(r'env(?:\.get\(|, )"([A-Z_]+)"', (ROOT / "bot" / "settings.py").read_text()))
    assert {"DISCORD_TOKEN", "LOG_FILE", "LOG_QUESTIONS", "SHUTDOWN_TIMEOUT"} <= keys
    example = set(re.findall(r"^([A-Z_]+)=", (ROOT / ".env.example").read_text(), re.M))
    readme = (ROOT / "README.md").read_text()
    assert keys <= example, keys - example
    assert not [k for k in keys if f"`{k}`" not in readme]


# ------------------------------------------------------------ the question log line, under SimCord


async def test_one_log_line_per_question_without_its_text(world: World, caplog):
    caplog.set_level(logging.INFO, logger="bot.app")
    await world.alice.slash(world.channel, "ask", question=ANSWERABLE)
    await world.alice.slash(world.channel, "ask", question=UNANSWERABLE)
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("question ")]
    assert len(lines) == 2
    assert f"server={world.guild.id} answered confidence=" in lines[0] and lines[0].endswith(" ms")
    assert f"server={world.guild.id} declined confidence=" in lines[1]
    assert "NATO" not in caplog.text and "Peru" not in caplog.text


async def test_log_questions_adds_the_text(world: World, caplog):
    caplog.set_level(logging.INFO, logger="bot.app")
    world.configure(log_questions=True)
    await world.alice.slash(world.channel, "ask", question=UNANSWERABLE)
    (line,) = [r.getMessage() for r in caplog.records if r.getMessage().startswith("question ")]
    assert line.endswith(f"question={UNANSWERABLE!r}")


async def test_while_stopping_commands_and_message_questions_are_refused(world: World):
    world.bot.stopping = True
    result = await world.alice.slash(world.channel, "ask", question=ANSWERABLE)
    assert result.response.ephemeral and result.response.content == STOPPING_MESSAGE
    assert world.env.errors  # the BotStopping check failure reached the error handler
    world.configure(ask_channel_ids=frozenset({world.channel.id}))
    await world.alice.send(world.channel, ANSWERABLE)
    assert world.channel.last_message.author.id == world.alice.id  # no answer while stopping
    world.bot.stopping = False
    await world.alice.send(world.channel, ANSWERABLE)
    assert world.channel.last_message.author.id == world.bot.user.id  # the same question is answered again


def test_reconnect_backoff_after_log_in_is_capped():
    import discord.client

    from bot.main import RECONNECT_CAP, ReconnectBackoff, use_capped_reconnect

    backoff = ReconnectBackoff()
    delays = [backoff.delay() for _ in range(40)]
    assert max(delays) <= RECONNECT_CAP < 1024
    original = discord.client.ExponentialBackoff
    try:
        use_capped_reconnect()
        assert discord.client.ExponentialBackoff is ReconnectBackoff  # what Client.connect builds
    finally:
        discord.client.ExponentialBackoff = original
