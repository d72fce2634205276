"""``newsqa run`` in a child process, for the operations tests: the real CLI and bot start-up, with the
fake hashing encoder (no torch import) and Discord's address pointed where the test says.

    python tests/ops_worker.py DISCORD_API_BASE [FIRST_RETRY_SECONDS]

Settings come from the environment (DISCORD_TOKEN, INDEX_DIR, SEEDS_DIR, ...), as in production;
OPS_GATEWAY is the gateway's address, OPS_ENCODE_DELAY slows the fake encoder down (seconds per text),
OPS_REAL_MODEL=1 keeps the real model (for bench/bench_ops.py), OPS_RECONNECT_CAP replaces
bot.main.RECONNECT_CAP (bench/ops_outage.py compares it with discord.py's own backoff).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import discord.http  # noqa: E402

import bot.main  # noqa: E402
import bot.runtime  # noqa: E402
from bot.cli import main  # noqa: E402
from index.embed import HashingEncoder  # noqa: E402
from index.engine import Engine  # noqa: E402


class SlowEncoder(HashingEncoder):
    """The fake encoder, slowed down (OPS_ENCODE_DELAY seconds per text) so a signal lands inside a write."""

    delay = 0.0

    def encode(self, texts, **kwargs):  # noqa: ANN001, ANN003 - test helper
        time.sleep(self.delay * len(texts))
        return super().encode(texts, **kwargs)


def fake_engine(settings, index_dir=None) -> Engine:  # noqa: ANN001 - replaces bot.runtime.make_engine
    import os

    SlowEncoder.delay = float(os.environ.get("OPS_ENCODE_DELAY", "0"))
    return Engine(Path(index_dir or settings.index_dir), SlowEncoder(), bot.runtime.engine_settings(settings))


if __name__ == "__main__":
    import os

    import yarl
    from discord.gateway import DiscordWebSocket

    discord.http.Route.BASE = sys.argv[1]
    if os.environ.get("OPS_GATEWAY"):
        DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(os.environ["OPS_GATEWAY"])
    if len(sys.argv) > 2:
        bot.main.RETRY_FIRST = float(sys.argv[2])
    if os.environ.get("OPS_RECONNECT_CAP"):
        bot.main.RECONNECT_CAP = float(os.environ["OPS_RECONNECT_CAP"])
    if os.environ.get("OPS_REAL_MODEL") != "1":
        bot.runtime.make_engine = fake_engine
    sys.exit(main(["run"]))
