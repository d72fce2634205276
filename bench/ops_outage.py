"""A long Discord outage while the bot runs: is it survived, and how soon does the bot answer again?

The real ``newsqa run`` (fake encoder, tests/ops_worker.py) in a child process against the local fake
Discord (tests/fakediscord.py). The bot answers, Discord goes away (connections cut, new ones
refused) for ``--outage`` seconds, comes back; the script measures how long until the gateway session is
resumed and the next question is answered, and counts the bot's reconnect log lines and tracebacks.

    .venv/bin/python bench/ops_outage.py [--outage 300] [--out bench/results/ops_outage.json]
"""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import finish_info, machine_info, write_results  # noqa: E402
from tests.fakediscord import FakeDiscord  # noqa: E402
from tests.test_ops import start_worker  # noqa: E402
from tests.test_ops_discord import SEED_QUESTION, ask  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--outage", type=float, default=300.0, help="seconds Discord stays unreachable")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    info = machine_info()
    server = FakeDiscord().start()
    with tempfile.TemporaryDirectory() as tmp:
        proc = start_worker(Path(tmp), server.api_base, OPS_GATEWAY=server.gateway_url, COOLDOWN_SECONDS="0")
        server.wait_for(lambda: server.identifies, 120, "the bot to connect")
        answered_before = "$485 billion" in str(ask(server, SEED_QUESTION))
        server.go_offline()
        time.sleep(args.outage)
        back = time.monotonic()
        server.come_back()
        server.wait_for(lambda: server.resumes or server.identifies > 1, args.outage + 1200, "a reconnect")
        reconnected = time.monotonic() - back
        answered_after = "$485 billion" in str(ask(server, SEED_QUESTION))
        answer_after = time.monotonic() - back
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
    server.stop()
    lines = err.splitlines()
    result = {
        "what": "Discord unreachable while the bot runs: reconnect after the outage ends",
        "outage_seconds": args.outage,
        "answered_before": answered_before,
        "answered_after": answered_after,
        "seconds_from_return_to_reconnect": round(reconnected, 1),
        "seconds_from_return_to_first_answer": round(answer_after, 1),
        "resumed_sessions": server.resumes,
        "new_sessions": server.identifies - 1,
        "reconnect_log_lines": sum("lost the connection to Discord" in line for line in lines),
        "tracebacks": sum(line.startswith("Traceback") for line in lines),
        "exit_code_after_sigterm": proc.returncode,
        "reconnect_by": "discord.py's own reconnect (ExponentialBackoff, up to 2^10 s between tries) after log-in",
    }
    for key, value in result.items():
        print(f"{key}: {value}")
    print(write_results("ops_outage", finish_info({**info, **result}), args.out))


if __name__ == "__main__":
    main()
