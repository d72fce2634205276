"""The ``newsqa`` command line (also ``python -m bot``)."""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sys
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from index.errors import NewsQAError

from . import console

if TYPE_CHECKING:
    from .settings import Settings

# Imports stay light here and inside the commands: `newsqa --help` loads no numpy, FAISS or model, and
# `index list`/`figures` load no model (the encoder loads on first use, see index.embed.ModelEncoder).
log = logging.getLogger(__name__)


MAX_K = 20  # the engine returns at most this many passages


def _count(low: int, high: int | None = None):  # noqa: ANN202 - an argparse type
    """An argparse type: an integer in [low, high], refused with the allowed range otherwise."""
    allowed = f"from {low} to {high}" if high else f"{low} or more"

    def parse(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{value!r} is not a whole number; use {allowed}") from None
        if number < low or (high is not None and number > high):
            raise argparse.ArgumentTypeError(f"{number} is out of range; use {allowed}")
        return number

    return parse


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--index-dir", type=Path, help="index directory (default: $INDEX_DIR, else data/index)")
    p.add_argument("--corpus", help="corpus name (default: $CORPUS, else 'default')")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="newsqa", description="Cited answers from news articles.")
    sub = parser.add_subparsers(dest="command", required=True)

    index = sub.add_parser("index", help="build and manage the index")
    isub = index.add_subparsers(dest="action", required=True)
    p = isub.add_parser("build", help="rebuild a corpus from its source folder and added documents")
    p.add_argument("--source", type=Path, help="folder of .txt/.md/.html articles (default: $SEEDS_DIR, else seeds/)")
    p.add_argument("--json", action="store_true", help="print the report as JSON, no progress bar")
    _common(p)
    p = isub.add_parser("add", help="add files or URLs to a corpus")
    p.add_argument("inputs", nargs="+", metavar="PATH_OR_URL")
    p.add_argument("--title", help="title to use (only with a single input)")
    p.add_argument("--json", action="store_true")
    _common(p)
    p = isub.add_parser("remove", help="remove a document from a corpus")
    p.add_argument("doc_id")
    p.add_argument("--json", action="store_true")
    _common(p)
    for name, text in (("list", "list the indexed documents"), ("stats", "show index statistics")):
        p = isub.add_parser(name, help=text)
        p.add_argument("--json", action="store_true")
        _common(p)

    p = sub.add_parser("ask", help="answer a question (or a batch of questions) with cited sentences")
    p.add_argument("question", nargs="?")
    p.add_argument("--questions", type=Path, help="file with one question per line, or JSON lines with a 'question' key")
    p.add_argument("-k", type=_count(1, MAX_K), default=None,
                   help=f"number of passages, 1-{MAX_K} (default: $ANSWER_TOP_K, else 3)")
    p.add_argument("--json", action="store_true")
    _common(p)

    p = sub.add_parser("figures", help="list key figures, ranked by a topic when one is given")
    p.add_argument("topic", nargs="?")
    p.add_argument("--doc", help="only this document id")
    p.add_argument("--limit", type=_count(1), default=None, help="show at most this many figures")
    p.add_argument("--json", action="store_true")
    _common(p)

    p = sub.add_parser("chat", help="console chat: the bot's answers in a terminal (reads piped questions too)")
    _common(p)
    p = sub.add_parser("run", help="start the Discord bot when DISCORD_TOKEN is set, else the console chat")
    p.add_argument("--check", action="store_true",
                   help="check settings, model, index and token format offline, then exit (non-zero on a problem)")
    _common(p)
    p = sub.add_parser("sync", help="sync slash commands globally (may take up to an hour to appear)")
    from .feedcli import add_parser as add_feed_parser

    add_feed_parser(sub, _common)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from .settings import SettingsError, load_settings

    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"newsqa: configuration error: {exc}", file=sys.stderr)
        return 2
    from .logs import setup_logging

    try:
        setup_logging(settings.log_level if not getattr(args, "json", False) else "WARNING",
                      log_file=settings.log_file, secret=settings.discord_token)
        return _dispatch(args, settings)
    except NewsQAError as exc:
        print(f"newsqa: error: {console.terminal_safe(str(exc))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`newsqa ask ... | head -2`): stop quietly, as `yes | head` does. Point
        # stdout at /dev/null so the interpreter's final flush does not fail with a traceback too.
        _silence_stdout()
        return 141  # 128 + SIGPIPE, what a shell reports for a command killed by a closed pipe


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # stdout is not a real file (e.g. captured in tests)
        pass


def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "run":
        if args.check:
            from .check import run_check

            return run_check(settings, args.index_dir)
        if settings.discord_token:
            from .main import run_bot

            print("DISCORD_TOKEN is set: starting the Discord bot.", file=sys.stderr)
            return run_bot(settings)
        print("DISCORD_TOKEN is not set: starting the console chat instead (see README to run the Discord bot).",
              file=sys.stderr)
        args.command = "chat"
    if args.command == "sync":
        from .main import run_sync

        return run_sync(settings)

    corpus = args.corpus or settings.corpus
    if args.command == "feed":
        from .feedcli import run as run_feed

        return run_feed(args, settings, corpus, args.index_dir or settings.index_dir)

    from .runtime import ensure_corpus, make_engine, with_progress

    engine = make_engine(settings, args.index_dir)
    as_json = getattr(args, "json", False)

    if args.command == "index":
        if args.action in ("build", "add", "remove"):
            if args.action == "build":
                report = with_progress(lambda p: engine.build(corpus, args.source, progress=p), enabled=not as_json)
            elif args.action == "add":
                docs = _load_inputs(args.inputs, args.title, settings)
                report = with_progress(lambda p: engine.add(docs, corpus=corpus, progress=p), enabled=not as_json)
            else:
                report = with_progress(lambda p: engine.remove(args.doc_id, corpus=corpus, progress=p),
                                       enabled=not as_json)
            if as_json:
                print(json.dumps(asdict(report)))
            else:
                print(
                    f"{args.action}: corpus {report.corpus} now has {report.documents} documents, "
                    f"{report.sentences} sentences, {report.figures} figures "
                    f"(embedded {report.embedded} new sentences, {report.seconds:.1f} s)"
                    + (f"; added {', '.join(report.added)}" if report.added else "")
                    + (f"; updated {', '.join(report.updated)}" if report.updated else "")
                    + (f"; removed {', '.join(report.removed)}" if report.removed else "")
                    + (f"; skipped, already indexed: {'; '.join(report.duplicates)}" if report.duplicates else "")
                )
            return 0
        ensure_corpus(engine, corpus, quiet=as_json)
        if args.action == "list":
            docs = engine.documents(corpus)
            print(json.dumps([asdict(d) for d in docs]) if as_json else console.format_documents(docs))
        else:
            stats = engine.stats(corpus)
            print(json.dumps(asdict(stats)) if as_json else console.format_stats(stats))
        return 0

    ensure_corpus(engine, corpus, quiet=as_json, rebuild_broken=args.command == "chat")
    k = args.k if getattr(args, "k", None) is not None else settings.answer_top_k
    if args.command == "ask":
        return _ask(engine, args, corpus, k)
    if args.command == "figures":
        figures = engine.figures(args.topic, corpus=corpus, doc_id=args.doc, limit=args.limit)
        print(json.dumps([f.to_dict() for f in figures]) if as_json else console.format_figures(figures))
        return 0
    if args.command == "chat":
        from .chat import run_chat

        return run_chat(engine, corpus, k)
    raise AssertionError(args.command)


def _load_inputs(inputs: list[str], title: str | None, settings: Settings) -> list:
    from dataclasses import replace

    from index.documents import clean_title, load_path, load_url

    if title and len(inputs) != 1:
        raise NewsQAError("--title goes with a single input; add the files one at a time to give each a title")
    docs = []
    for item in inputs:
        if item.startswith(("http://", "https://")) or "://" in item:
            doc = load_url(item, max_bytes=settings.max_upload_bytes, timeout=settings.fetch_timeout,
                           allow_private=settings.allow_private_urls)
        else:
            doc = load_path(Path(item), max_bytes=settings.max_upload_bytes)
        docs.append(replace(doc, title=clean_title(title) or doc.title) if title else doc)
    return docs


MAX_QUESTIONS_BYTES = 50_000_000


def _read_questions(path: Path) -> list[str]:
    from index.documents import read_file

    if not os.path.lexists(path):
        raise NewsQAError(f"questions file {path} does not exist")
    data = read_file(path, max_bytes=MAX_QUESTIONS_BYTES, what="questions file")
    try:
        raw = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise NewsQAError(f"questions file {path} is not UTF-8 text (byte {exc.start}); save it as UTF-8") from None
    questions = []
    for number, line in enumerate(raw.splitlines(), 1):
        if not line.strip():
            continue
        if line.lstrip().startswith("{"):
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise NewsQAError(f"{path}:{number}: not valid JSON ({exc.msg})") from None
            if not isinstance(obj, dict) or not isinstance(obj.get("question"), str):
                raise NewsQAError(f"{path}:{number}: JSON line has no string 'question' key")
            line = obj["question"]
            if bad := re.search("[\ud800-\udfff]", line):
                raise NewsQAError(f"{path}:{number}: the question holds a lone UTF-16 surrogate "
                                  f"(\\u{ord(bad.group()):04x}), which is not a character; fix that line")
        questions.append(line)
    return questions


def _ask(engine, args: argparse.Namespace, corpus: str, k: int) -> int:
    if args.questions:
        if args.question is not None:
            raise NewsQAError("give either a QUESTION or --questions FILE, not both")
        questions = _read_questions(args.questions)
        failed = 0
        for question, result in zip(questions, engine.ask_many(questions, corpus=corpus, k=k)):
            if isinstance(result, NewsQAError):
                failed += 1
                print(json.dumps({"question": question, "error": str(result)}, ensure_ascii=False))
            elif args.json:
                print(json.dumps(result.to_dict(), ensure_ascii=False))
            else:
                print(f"Q: {console.terminal_safe(question)}\n{console.format_answer(result)}\n")
        return 1 if failed else 0
    if args.question is None:
        raise NewsQAError('give a question, e.g. newsqa ask "How much did allies spend on defense?"')
    answer = engine.ask(args.question, corpus=corpus, k=k)
    print(json.dumps(answer.to_dict(), ensure_ascii=False) if args.json else console.format_answer(answer))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
