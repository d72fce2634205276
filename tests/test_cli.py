"""The newsqa command line, run in-process with the fake encoder (the real model has its own tests)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot import cli, runtime
from index.embed import HashingEncoder
from index.engine import Engine
from tests.conftest import ROOT


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, seeds_dir: Path, capsys: pytest.CaptureFixture):
    monkeypatch.setenv("INDEX_DIR", str(tmp_path / "index"))
    monkeypatch.setenv("SEEDS_DIR", str(seeds_dir))
    monkeypatch.delenv("DISCORD_TOKEN", raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env is read
    monkeypatch.setattr(
        runtime, "make_engine",
        lambda settings, index_dir=None: Engine(Path(index_dir or settings.index_dir), HashingEncoder(),
                                                runtime.engine_settings(settings)),
    )

    def invoke(*argv: str) -> tuple[int, str, str]:
        code = cli.main(list(argv))
        out = capsys.readouterr()
        return code, out.out, out.err

    return invoke


def test_ask_json_has_the_documented_shape(run) -> None:
    code, out, err = run("ask", "How much did allies invest in defense in 2024?", "--json", "-k", "2")
    assert code == 0, err
    answer = json.loads(out)
    assert set(answer) == {"question", "answered", "confidence", "close_call", "missing", "hits"}
    hit = answer["hits"][0]
    for key in ("rank", "score", "doc_id", "title", "source", "paragraph", "sentence", "start", "end", "text",
                "context", "citation"):
        assert key in hit
    assert "$485 billion" in hit["text"]


def test_batch_questions_in_order(run, tmp_path: Path) -> None:
    qfile = tmp_path / "q.jsonl"
    qfile.write_text('{"question": "Who is Rutte?"}\nWhat about GDP?\n\n{"question": "  "}\n', encoding="utf-8")
    code, out, _ = run("ask", "--questions", str(qfile), "--json")
    lines = [json.loads(x) for x in out.splitlines()]
    assert [x["question"] for x in lines] == ["Who is Rutte?", "What about GDP?", "  "]
    assert "error" in lines[2] and code == 1


def test_index_commands(run, tmp_path: Path) -> None:
    article = tmp_path / "harbour-report.txt"
    article.write_text("The harbour handled 12 million tonnes of cargo.\nIts budget grew by 7%.\n", encoding="utf-8")
    assert run("index", "build")[0] == 0
    code, out, _ = run("index", "add", str(article), "--json")
    assert code == 0 and json.loads(out)["added"] == ["harbour-report"]
    docs = json.loads(run("index", "list", "--json")[1])
    assert [d["doc_id"] for d in docs] == ["nato-defense-ministers", "harbour-report"]
    stats = json.loads(run("index", "stats", "--json")[1])
    assert stats["documents"] == 2 and stats["model"] == "fake-hashing"
    figures = json.loads(run("figures", "--doc", "harbour-report", "--json")[1])
    assert {f["text"] for f in figures} >= {"7%"}
    assert all(f["sentence_text"] and f["citation"] for f in figures)
    fields = {"doc_id", "text", "value", "unit", "kind", "label", "paragraph", "sentence", "start", "end", "score"}
    assert all(fields <= f.keys() and f["label"] for f in figures)
    assert run("index", "remove", "harbour-report")[0] == 0
    code, _, err = run("index", "remove", "harbour-report")
    assert code == 1 and "no document 'harbour-report'" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("ask", ""), "empty"),
        (("ask", "x" * 7000), "limit is"),
        (("index", "add", "/nonexistent/file.txt"), "nonexistent"),
        (("index", "remove", "nope"), "no document"),
        (("figures", "--doc", "nope"), "no document"),
        (("ask", "hi?", "--corpus", "../x"), "invalid corpus name"),
    ],
)
def test_errors_go_to_stderr_with_nonzero_exit(run, argv, message) -> None:
    run("index", "build")
    code, out, err = run(*argv)
    assert code != 0 and message in err and not out


def test_binary_file_is_refused_and_index_unchanged(run, tmp_path: Path) -> None:
    run("index", "build")
    before = run("index", "stats", "--json")[1]
    bad = tmp_path / "image.txt"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00binary")
    code, _, err = run("index", "add", str(bad))
    assert code == 1 and "image.txt" in err
    assert json.loads(run("index", "stats", "--json")[1])["generation"] == json.loads(before)["generation"]


def test_malformed_setting_is_named(run, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANSWER_TOP_K", "three")
    code, _, err = run("ask", "hi?")
    assert code == 2 and "ANSWER_TOP_K" in err


def test_chat_answers_piped_questions(run, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("Who is the NATO Secretary General?\n\n/figures GDP\n"))
    code, out, _ = run("run")
    assert code == 0
    assert "Mark Rutte" in out and "GDP" in out


def test_corrupt_index_ask_says_how_to_rebuild_and_chat_rebuilds(run, tmp_path: Path, monkeypatch) -> None:
    run("index", "build")
    live = next((tmp_path / "index" / "corpora" / "default").glob("gen-*"))
    (live / "docs.sqlite").write_bytes(b"\x00" * 100)
    code, _, err = run("ask", "Who is Rutte?")
    assert code == 1 and "newsqa index build --corpus default" in err
    monkeypatch.setattr("sys.stdin", io.StringIO("Who is the NATO Secretary General?\n"))
    code, out, err = run("chat")
    assert code == 0 and "Rebuilding" in err and "Mark Rutte" in out


# ------------------------------------------------------------------ hostile input at the command line (issue 11)


def test_terminal_escapes_in_an_article_are_not_printed_raw(run, tmp_path: Path) -> None:
    article = tmp_path / "escapes.txt"
    article.write_text("Zorblax output\x1b[31m rose\x07 to 900 tonnes \u202eevil in 2024. It was a record.\n")
    assert run("index", "add", str(article))[0] == 0
    code, out, err = run("ask", "zorblax output tonnes")
    assert code == 0, err
    assert "900 tonnes" in out
    assert not set(out) & {"\x1b", "\x07", "\u202e"}
    code, out, _ = run("ask", "zorblax output tonnes", "--json")  # JSON stays exact (escaped by JSON itself)
    assert "\\u001b[31m" in out and "\u202e" in json.loads(out)["hits"][0]["text"]
    code, out, _ = run("index", "list")
    assert "\x1b" not in out


@pytest.mark.parametrize(("value", "match"), [("0", "out of range"), ("-3", "out of range"), ("x", "whole number")])
def test_bad_k_message(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, value: str, match: str) -> None:
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["ask", "q", "-k", value])
    assert match in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["figures", "--limit", value])
    assert match in capsys.readouterr().err


def test_questions_file_that_is_a_folder_or_holds_a_lone_surrogate(run, tmp_path: Path) -> None:
    code, _, err = run("ask", "--questions", str(tmp_path))
    assert code == 1 and "is a folder, not a regular file" in err
    qfile = tmp_path / "q.jsonl"
    qfile.write_text('{"question": "Who is Rutte?"}\n{"question": "\\ud800"}\n', encoding="utf-8")
    code, _, err = run("ask", "--questions", str(qfile))
    assert code == 1 and "q.jsonl:2: the question holds a lone UTF-16 surrogate (\\ud800)" in err
    code, _, err = run("ask", "--questions", "\ud800")
    assert code == 1 and "does not exist" in err


def test_index_dir_that_is_a_file_is_refused(run, tmp_path: Path) -> None:
    path = tmp_path / "not-a-dir"
    path.write_text("x")
    code, _, err = run("ask", "Who is Rutte?", "--index-dir", str(path))
    assert code == 1 and "is a file, not a folder" in err
    assert path.read_text() == "x"


def test_closed_pipe_ends_quietly(tmp_path: Path, seeds_dir: Path) -> None:
    """`newsqa ask --questions FILE | head -2`: the reader leaves early; no BrokenPipeError traceback."""
    qfile = tmp_path / "q.txt"
    qfile.write_text("How much did allies invest in defense?\n" * 300, encoding="utf-8")
    script = (
        "import sys; from pathlib import Path; from bot import cli, runtime; "
        "from index.embed import HashingEncoder; from index.engine import Engine; "
        "runtime.make_engine = lambda s, d=None: Engine(Path(d or s.index_dir), HashingEncoder(), "
        "runtime.engine_settings(s)); sys.exit(cli.main(sys.argv[1:]))"
    )
    env = {**os.environ, "INDEX_DIR": str(tmp_path / "index"), "SEEDS_DIR": str(seeds_dir), "LOG_LEVEL": "WARNING"}
    env.pop("DISCORD_TOKEN", None)
    subprocess.run([sys.executable, "-c", script, "index", "build"], env=env, cwd=ROOT, check=True,
                   capture_output=True)
    proc = subprocess.Popen([sys.executable, "-c", script, "ask", "--questions", str(qfile)], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout.readline()
    proc.stdout.close()  # what `head -1` does
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141
    assert "Traceback" not in err and "BrokenPipe" not in err
