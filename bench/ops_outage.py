"""A long Discord outage while the bot runs: is it survived, and how soon does the bot answer again?

The real ``newsqa run`` (fake encoder, tests/ops_worker.py) in child processes, each against its own
local fake Discord (tests/fakediscord.py). Side by side, in the same period: ``--pairs`` bots with the
reconnect backoff capped at bot.main.RECONNECT_CAP and as many with discord.py's own backoff (which
grows to 1024 s). Every bot answers, all fake Discords go away together (connections cut, new ones
refused) for ``--outage`` seconds and come back together; the script measures how long each bot takes
to resume its gateway session and answer, and counts reconnect log lines and tracebacks.

    .venv/bin/python bench/ops_outage.py [--outage 300] [--pairs 3] [--out bench/results/ops_outage.json]
"""

from __future__ import annotations

import argparse
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import finish_info, machine_info, write_results  # noqa: E402
from bot.main import RECONNECT_CAP  # noqa: E402
from tests.fakediscord import FakeDiscord  # noqa: E402
from tests.test_ops import start_worker  # noqa: E402
from tests.test_ops_discord import SEED_QUESTION, ask  # noqa: E402

UNCAPPED = 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--outage", type=float, default=300.0, help="seconds Discord stays unreachable")
    parser.add_argument("--pairs", type=int, default=3, help="bots of each kind")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    info = machine_info()
    caps = [RECONNECT_CAP] * args.pairs + [UNCAPPED] * args.pairs
    servers = [FakeDiscord().start() for _ in caps]
    with tempfile.TemporaryDirectory() as tmp:
        procs = []
        for i, (cap, server) in enumerate(zip(caps, servers)):
            folder = Path(tmp) / str(i)
            folder.mkdir()
            procs.append(start_worker(folder, server.api_base, OPS_GATEWAY=server.gateway_url,
                                      OPS_RECONNECT_CAP=str(cap), COOLDOWN_SECONDS="0"))
        for server in servers:
            server.wait_for(lambda s=server: s.identifies, 300, "a bot to connect")
        answered_before = ["$485 billion" in str(ask(s, SEED_QUESTION)) for s in servers]
        for server in servers:
            server.go_offline()
        time.sleep(args.outage)
        back = time.monotonic()
        for server in servers:
            server.come_back()
        reconnect: dict[int, float] = {}
        while len(reconnect) < len(servers) and time.monotonic() - back < 1200 + args.outage:
            for i, server in enumerate(servers):
                if i not in reconnect and (server.resumes or server.identifies > 1):
                    reconnect[i] = time.monotonic() - back
            time.sleep(0.2)
        answered_after = ["$485 billion" in str(ask(s, SEED_QUESTION)) for i, s in enumerate(servers) if i in reconnect]
        errs = []
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
            errs.append(proc.communicate(timeout=120)[1])
    for server in servers:
        server.stop()

    def kind(indices: list[int], label: str) -> dict:
        seconds = [round(reconnect[i], 1) for i in indices if i in reconnect]
        return {
            "backoff": label,
            "bots": len(indices),
            "reconnected": len(seconds),
            "seconds_from_return_to_reconnect": seconds,
            "median_seconds": round(statistics.median(seconds), 1) if seconds else None,
            "reconnect_log_lines": [sum("lost the connection to Discord" in line for line in errs[i].splitlines())
                                    for i in indices],
            "tracebacks": sum(errs[i].count("Traceback") for i in indices),
            "exit_codes_after_sigterm": [procs[i].returncode for i in indices],
        }

    result = {
        "what": "Discord unreachable while the bots run: reconnect after the outage ends, side by side",
        "outage_seconds": args.outage,
        "answered_before": f"{sum(answered_before)}/{len(servers)}",
        "answered_after": f"{sum(answered_after)}/{len(servers)}",
        "capped": kind(list(range(args.pairs)), f"discord.py's, capped at {RECONNECT_CAP:.0f} s (bot.main)"),
        "uncapped": kind(list(range(args.pairs, 2 * args.pairs)), "discord.py's own (up to 1024 s)"),
    }
    for key, value in result.items():
        print(f"{key}: {value}")
    print(write_results("ops_outage", finish_info({**info, **result}), args.out))


if __name__ == "__main__":
    main()
