"""The console chat: the bot's answers in a terminal; also answers questions piped on stdin."""

from __future__ import annotations

import sys

from index.engine import Engine
from index.errors import NewsQAError

from .console import format_answer

HELP = "Ask a question about the indexed articles. Commands: /figures [topic], /articles, /quit."


def run_chat(engine: Engine, corpus: str, k: int, stdin=None, stdout=None) -> int:
    """Read questions one per line and answer each as it comes; a terminal gets a prompt."""
    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    interactive = stdin.isatty()
    if interactive:
        docs = engine.documents(corpus)
        print(f"newsqa chat — {len(docs)} article(s) in corpus {corpus!r}. {HELP}", file=stdout)
    while True:
        if interactive:
            print("\n? ", end="", file=stdout, flush=True)
        line = stdin.readline()
        if not line:
            break
        line = line.strip()
        if not line:
            continue
        if line in ("/quit", "/exit"):
            break
        try:
            print(_reply(engine, corpus, k, line), file=stdout, flush=True)
        except NewsQAError as exc:
            print(f"Sorry: {exc}", file=stdout, flush=True)
        if not interactive:
            print(file=stdout, flush=True)
    return 0


def _reply(engine: Engine, corpus: str, k: int, line: str) -> str:
    from .console import format_documents, format_figures

    if line.startswith("/figures"):
        topic = line[len("/figures"):].strip() or None
        return format_figures(engine.figures(topic, corpus=corpus, limit=10))
    if line == "/articles":
        return format_documents(engine.documents(corpus))
    if line == "/help":
        return HELP
    return format_answer(engine.ask(line, corpus=corpus, k=k))
