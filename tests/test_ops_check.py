"""``newsqa run --check``: good settings pass (exit 0), each broken one is named (exit non-zero), offline."""

from __future__ import annotations

import shutil

import pytest

import index.embed
from bot.check import token_problem
from bot.cli import main
from index.embed import HashingEncoder
from index.engine import Engine, EngineSettings
from tests.conftest import SEEDS
from tests.test_ops import TOKEN


@pytest.fixture
def env(tmp_path, monkeypatch):
    """A clean environment in an empty folder (no .env), with good settings; tests break one."""
    monkeypatch.chdir(tmp_path)
    for key in ("DISCORD_TOKEN", "DISCORD_GUILD_ID", "INDEX_DIR", "SEEDS_DIR", "EMBED_MODEL", "LOG_FILE",
                "LOG_LEVEL", "ANSWER_TOP_K", "RECORDS_URL", "SHARE_CORPORA"):
        monkeypatch.delenv(key, raising=False)
    values = {"DISCORD_TOKEN": TOKEN, "INDEX_DIR": str(tmp_path / "index"), "SEEDS_DIR": str(SEEDS)}
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    return values


@pytest.fixture
def fake_model(monkeypatch):
    """The check loads the model through SentenceTransformerEncoder; here, the fake one (no torch)."""
    monkeypatch.setattr(index.embed, "SentenceTransformerEncoder", lambda model=None: HashingEncoder())


def test_good_settings_pass(env, fake_model, capsys):
    engine = Engine(env["INDEX_DIR"], HashingEncoder(), EngineSettings(seeds_dir=SEEDS))
    engine.ensure("seeds")
    engine.close()
    assert main(["run", "--check"]) == 0
    out = capsys.readouterr().out
    assert "PROBLEM" not in out and "All checks passed" in out
    assert "corpus seeds: 1 articles, 13 sentences" in out
    assert TOKEN not in out


@pytest.mark.parametrize(("key", "value", "expected"), [
    ("DISCORD_TOKEN", "", "DISCORD_TOKEN is not set"),
    ("DISCORD_TOKEN", "Bot " + TOKEN, "starts with 'Bot '"),
    ("DISCORD_TOKEN", "abc.def", "has 2 dot-separated parts; a bot token has 3"),
    ("DISCORD_TOKEN", "client-secret-value.x.y", "is not a bot id in base64"),
    ("SEEDS_DIR", "no-such-folder", "source folder no-such-folder does not exist"),
    ("INDEX_DIR", "{file}/index", "is not writable"),
])
def test_each_broken_setting_is_named(env, fake_model, capsys, tmp_path, monkeypatch, key, value, expected):
    (tmp_path / "file").write_text("not a folder")
    monkeypatch.setenv(key, value.format(file=tmp_path / "file"))
    assert main(["run", "--check"]) == 1
    out = capsys.readouterr().out
    problems = [line for line in out.splitlines() if line.startswith("PROBLEM")]
    assert len(problems) == 1 and expected in problems[0], out
    assert "1 problem found" in out
    assert TOKEN not in out


def test_records_url_is_checked(env, fake_model, capsys, monkeypatch, tmp_path, postgres_url):
    engine = Engine(env["INDEX_DIR"], HashingEncoder(), EngineSettings(seeds_dir=SEEDS))
    engine.ensure("seeds")
    engine.close()
    monkeypatch.setenv("RECORDS_URL", postgres_url)
    assert main(["run", "--check"]) == 0
    out = capsys.readouterr().out
    (line,) = [line for line in out.splitlines() if "RECORDS_URL" in line]
    assert line.startswith("ok") and "PostgreSQL 1" in line and "reachable, tables ready" in line, out
    (tmp_path / "gone").mkdir()
    monkeypatch.setenv("RECORDS_URL", f"postgresql://bot:s3cret@/newsqa?host={tmp_path / 'gone'}")
    assert main(["run", "--check"]) == 1
    out = capsys.readouterr().out
    (problem,) = [line for line in out.splitlines() if line.startswith("PROBLEM")]
    assert problem.startswith("PROBLEM RECORDS_URL: cannot connect to the PostgreSQL database bot@") and \
        "check that the server is running" in problem and "s3cret" not in out, out


def test_shared_corpora_are_checked(env, fake_model, capsys, monkeypatch, tmp_path, postgres_url):
    """SHARE_CORPORA: the check reads the corpora from the database (a host with an empty INDEX_DIR
    fetches them), and names the setting it needs."""
    from index.shared import SharedCorpora

    corpora = SharedCorpora(postgres_url, tmp_path / "other-host")
    engine = Engine(tmp_path / "other-host", HashingEncoder(), EngineSettings(seeds_dir=SEEDS), corpora=corpora)
    engine.ensure("seeds")
    engine.close()
    monkeypatch.setenv("SHARE_CORPORA", "true")
    assert main(["run", "--check"]) == 2  # without RECORDS_URL: a configuration error, before any check
    assert "configuration error: SHARE_CORPORA=true keeps the corpora in the PostgreSQL database of RECORDS_URL, which is empty" in capsys.readouterr().err
    monkeypatch.setenv("RECORDS_URL", postgres_url)
    assert main(["run", "--check"]) == 0
    out = capsys.readouterr().out
    (line,) = [line for line in out.splitlines() if "SHARE_CORPORA" in line]
    assert line.startswith("ok") and "true: 1 corpus in PostgreSQL" in line, out
    assert "corpus seeds: 1 articles, 13 sentences, generation 1" in out


def test_a_corrupt_corpus_is_named_with_the_rebuild_command(env, fake_model, capsys):
    engine = Engine(env["INDEX_DIR"], HashingEncoder(), EngineSettings(seeds_dir=SEEDS))
    engine.ensure("seeds")
    (engine.corpus("seeds").current() / "vectors.npy").write_bytes(b"")
    engine.close()
    assert main(["run", "--check"]) == 1
    out = capsys.readouterr().out
    (problem,) = [line for line in out.splitlines() if line.startswith("PROBLEM")]
    assert problem.startswith("PROBLEM corpus seeds:") and "newsqa index build" in problem


def test_a_malformed_value_stops_before_any_check(env, capsys, monkeypatch):
    monkeypatch.setenv("ANSWER_TOP_K", "three")
    assert main(["run", "--check"]) == 2
    assert "ANSWER_TOP_K='three' is not a whole number" in capsys.readouterr().err


def test_unwritable_log_file_is_named(env, capsys, monkeypatch, tmp_path):
    (tmp_path / "file").write_text("x")
    monkeypatch.setenv("LOG_FILE", str(tmp_path / "file" / "newsqa.log"))
    assert main(["run", "--check"]) == 1
    assert "cannot be written" in capsys.readouterr().err


def test_token_shapes():
    assert token_problem(TOKEN) is None
    assert token_problem(" " + TOKEN) is not None


@pytest.mark.model
def test_real_model_passes_and_a_missing_model_is_named(env, capsys, monkeypatch, tmp_path):
    assert main(["run", "--check"]) == 0
    assert "ok      model: all-MiniLM-L6-v2 (384 dimensions)" in capsys.readouterr().out
    missing = tmp_path / "no-model"
    monkeypatch.setenv("EMBED_MODEL", str(missing))
    assert main(["run", "--check"]) == 1
    out = capsys.readouterr().out
    assert f"PROBLEM model: EMBED_MODEL={missing} could not be loaded" in out
    shutil.rmtree(tmp_path / "index", ignore_errors=True)
