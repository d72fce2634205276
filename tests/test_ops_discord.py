"""The real ``newsqa run`` in a child process against a local fake Discord (tests/fakediscord.py):
SIGTERM during /add-article, an outage while running, a rejected token."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest

from bot.records import Records
from index.embed import HashingEncoder
from index.engine import Engine, EngineSettings
from tests.fakediscord import GUILD_ID, FakeDiscord
from tests.test_ops import ROOT, TOKEN, start_worker

SEED_QUESTION = "How much did NATO allies in Europe and Canada invest in defense in 2024?"
# Long enough (121 sentences) that the slowed fake encoder keeps the add busy while the test signals.
ARTICLE = "Zorblax harvest hits a record\n\n" + "\n\n".join(
    f"The Zorbland farm ministry said field {i} yielded {i + 7} tonnes of zorblax in 2024." for i in range(120)
) + "\n\nThe zorblax harvest reached 900 tonnes in 2024, a record for the valley.\n"
ZORB_QUESTION = "How many tonnes did the zorblax harvest reach in 2024?"


@pytest.fixture
def discord_server():
    server = FakeDiscord().start()
    yield server
    server.stop()


def start_bot(tmp_path: Path, server: FakeDiscord, **env: str) -> subprocess.Popen:
    proc = start_worker(tmp_path, server.api_base, "0.2", OPS_GATEWAY=server.gateway_url, **env)
    server.wait_for(lambda: server.identifies or proc.poll() is not None, 60, "the bot to connect")
    assert proc.poll() is None, proc.communicate()[1]
    return proc


def ask(server: FakeDiscord, question: str) -> dict:
    """The bot's public answer to /ask (the callback's message data)."""
    iid = server.slash("ask", [{"name": "question", "type": 3, "value": question}])
    ((_, _, body),) = server.wait_for(lambda: server.responses(iid), 30, "an answer")
    return body["data"]


def add_article(server: FakeDiscord, name: str = "harvest.txt") -> str:
    options, resolved = server.attach(name, ARTICLE.encode())
    iid = server.slash("add-article", options, resolved)
    server.wait_for(lambda: any((b or {}).get("content", "").endswith("starting…") for _, _, b in
                                server.responses(iid)), 30, "the add to start")
    return iid


def server_engine(tmp_path: Path) -> tuple[Engine, str]:
    engine = Engine(tmp_path / "index", HashingEncoder(), EngineSettings(seeds_dir=ROOT / "seeds"))
    return engine, str(GUILD_ID)


def stop(proc: subprocess.Popen, timeout: float = 60) -> str:
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=timeout)
    return err


@pytest.mark.parametrize("outcome", ["completes", "abandoned", "second signal"])
def test_sigterm_during_add_article_leaves_it_fully_added_or_absent(tmp_path, discord_server, outcome):
    # "completes": the add (about 2.4 s of encoding) finishes within SHUTDOWN_TIMEOUT and the admin is told;
    # "abandoned": it would take 24 s, SHUTDOWN_TIMEOUT is 1 s, so the bot exits without it;
    # "second signal": SHUTDOWN_TIMEOUT is 30 s, but a second SIGTERM says not to wait.
    delay, timeout = {"completes": ("0.02", "30"), "abandoned": ("0.2", "1"), "second signal": ("0.2", "30")}[outcome]
    proc = start_bot(tmp_path, discord_server, OPS_ENCODE_DELAY=delay, SHUTDOWN_TIMEOUT=timeout)
    assert "$485 billion" in str(ask(discord_server, SEED_QUESTION))  # creates the server's corpus
    engine, corpus = server_engine(tmp_path)
    before = engine.stats(corpus).generation
    engine.close()
    iid = add_article(discord_server)
    time.sleep(0.3)
    started = time.monotonic()
    if outcome == "second signal":
        proc.send_signal(signal.SIGTERM)
        time.sleep(1)
    err = stop(proc)
    took = time.monotonic() - started
    assert proc.returncode == 0, err
    assert "received SIGTERM: stopping" in err and "Traceback" not in err
    engine, corpus = server_engine(tmp_path)
    docs = {d.doc_id for d in engine.documents(corpus)}
    generation = engine.stats(corpus).generation
    assert "$485 billion" in engine.ask(SEED_QUESTION, corpus=corpus).hits[0].text  # the index loads and answers
    if outcome == "completes":
        assert "harvest" in docs and generation == before + 1
        assert f"stopping: /add-article file harvest.txt “Zorblax harvest hits a record” (harvest) completed: it is " \
               f"in the index (generation {generation})" in err
        assert "900 tonnes" in engine.ask(ZORB_QUESTION, corpus=corpus).hits[0].text
        told = [b["content"] for _, _, b in discord_server.responses(iid) if b and "content" in b]
        assert told[-1].startswith("Adding the article: the index now has 2 documents")
        records = Records(tmp_path / "index" / "bot.sqlite")
        assert records.audit_log(guild_id=GUILD_ID)[0]["action"] == "add-article"
        records.close()
    else:
        assert took < 15, f"the bot should not wait for the abandoned add ({took:.1f} s)"
        assert ("received SIGTERM again: not waiting" in err) == (outcome == "second signal")
        assert "harvest" not in docs and generation == before
        assert "/add-article file harvest.txt “Zorblax harvest hits a record” (harvest) did not finish in time and " \
               "is abandoned; the index keeps its last complete generation without it" in err
        # The writer lock died with the process: the add can be run again.
        from index.documents import load_text

        report = engine.add([load_text(ARTICLE, title="Zorblax harvest hits a record")], corpus=corpus)
        assert report.generation > before
    assert not list((tmp_path / "index" / "corpora" / corpus).glob("gen-*.tmp"))
    engine.close()


def test_new_commands_are_refused_while_stopping(tmp_path, discord_server):
    proc = start_bot(tmp_path, discord_server, OPS_ENCODE_DELAY="0.03", SHUTDOWN_TIMEOUT="30")
    ask(discord_server, SEED_QUESTION)
    add_article(discord_server)
    time.sleep(0.3)
    proc.send_signal(signal.SIGTERM)
    time.sleep(0.5)  # the add (about 3.6 s) is still running: the bot is stopping but connected
    iid = discord_server.slash("ask", [{"name": "question", "type": 3, "value": SEED_QUESTION}])
    ((_, _, body),) = discord_server.wait_for(lambda: discord_server.responses(iid), 30, "the refusal")
    assert body["data"]["content"] == "I'm restarting right now; please try again in a minute."
    assert body["data"]["flags"] == 64  # private
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0 and "completed: it is in the index" in err


def test_an_outage_while_running_is_survived(tmp_path, discord_server):
    proc = start_bot(tmp_path, discord_server, OPS_ENCODE_DELAY="0.02")
    assert "$485 billion" in str(ask(discord_server, SEED_QUESTION))
    add_article(discord_server)  # still encoding when Discord goes away
    discord_server.go_offline()
    time.sleep(8)
    discord_server.come_back()
    discord_server.wait_for(lambda: discord_server.resumes or discord_server.identifies > 1, 90, "a reconnect")
    answer = ask(discord_server, ZORB_QUESTION)
    assert "900 tonnes" in str(answer), "the article added during the outage is there and the bot answers again"
    err = stop(proc)
    assert proc.returncode == 0, err
    assert "lost the connection to Discord (connection refused); reconnecting in" in err
    assert "Traceback" not in err
    records = Records(tmp_path / "index" / "bot.sqlite")
    assert records.audit_log(guild_id=GUILD_ID)[0]["action"] == "add-article"  # recorded though nobody was told
    records.close()


def test_a_rejected_token_stops_at_once(tmp_path):
    server = FakeDiscord(reject_token=True).start()
    try:
        proc = start_worker(tmp_path, server.api_base, "0.2", OPS_GATEWAY=server.gateway_url)
        _, err = proc.communicate(timeout=60)
    finally:
        server.stop()
    assert proc.returncode == 2  # a configuration error: systemd's RestartPreventExitStatus=2 keeps it stopped
    assert "DISCORD_TOKEN was rejected by Discord: Improper token has been passed." in err
    assert "retrying" not in err and "Traceback" not in err and TOKEN not in err
    assert [r for r in server.requests if r[1] == "/users/@me"] == [("GET", "/users/@me", None)]


def test_discord_outage_at_log_in_is_retried_until_it_ends(tmp_path):
    server = FakeDiscord(failing_logins=2).start()
    try:
        proc = start_bot(tmp_path, server)
        assert "$485 billion" in str(ask(server, SEED_QUESTION))
        err = stop(proc)
    finally:
        server.stop()
    assert proc.returncode == 0, err
    tries = [line for line in err.splitlines() if "retrying in" in line]
    assert len(tries) == 2 and all(f"can't reach 127.0.0.1:{server.port}: Discord answered HTTP 503; retrying in" in t
                                   for t in tries), err
    assert f"reached 127.0.0.1:{server.port} after 2 failed attempts" in err and "Traceback" not in err
