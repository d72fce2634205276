"""Plain-text rendering of answers and figures for the terminal (the console chat and the CLI)."""

from __future__ import annotations

import re
import textwrap

from index.models import Answer, DocumentInfo, Figure, Hit, IndexStats

NO_ANSWER = "I couldn't find that in the indexed articles."
CLOSE_CALL = "Not sure which of these passages answers it; read them all:"
# What a declined answer's passages lack (Answer.missing), in words.
MISSING = {"money": "amount of money", "temperature": "temperature", "speed": "speed"}

# Control characters (all but newline and tab: ESC starts terminal escape sequences, BEL rings) and
# bidi embeddings/overrides/isolates (U+202E reverses what follows it on the line).
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def terminal_safe(text: str) -> str:
    """``text`` as it may be printed to a terminal: control and bidi-override characters removed,
    lone surrogates (unprintable in UTF-8) shown as U+FFFD. JSON output is not passed through this."""
    return _SURROGATE.sub("\ufffd", _UNSAFE.sub("", text))


# What one hit may print: its sentence, and the context window around it (windows of neighbouring
# hits merge, so without a cap a run of long sentences printed megabytes).
HIT_CHARS = 1000
CONTEXT_CHARS = 1500


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _context(hit: Hit) -> str:
    """The hit's context window, cut to CONTEXT_CHARS around the hit itself."""
    text = hit.context
    if len(text) <= CONTEXT_CHARS:
        return text
    at = max(0, min(hit.start - hit.context_start, len(text)))
    begin = max(0, min(at - (CONTEXT_CHARS - min(len(hit.text), HIT_CHARS)) // 2, len(text) - CONTEXT_CHARS))
    piece = text[begin : begin + CONTEXT_CHARS]
    return ("…" if begin else "") + piece + ("…" if begin + CONTEXT_CHARS < len(text) else "")


def _quote(text: str, width: int = 88) -> str:
    return textwrap.fill(" ".join(text.split()), width=width, initial_indent="  > ", subsequent_indent="    ")


def format_answer(answer: Answer) -> str:
    """An answer as the console chat prints it: the same passages and citations the bot shows."""
    lines: list[str] = []
    if not answer.answered:
        lines.append(NO_ANSWER)
        if answer.hits and answer.missing:
            lines.append(f"Closest passages (not an answer: the best one states no {MISSING[answer.missing]}):")
        elif answer.hits:
            lines.append(f"Closest passages (confidence {answer.confidence:.0%}, not an answer):")
    elif answer.close_call:
        lines.append(CLOSE_CALL)
    for hit in answer.hits:
        lines.append(f"[{hit.rank}] {_clip(hit.text.strip(), HIT_CHARS)}")
        if hit.context.strip() != hit.text.strip():
            lines.append(_quote(_context(hit)))
        lines.append(f"    — {hit.citation.label}, sentence {hit.sentence} ({hit.citation.link or hit.source})")
    if answer.answered:
        lines.append(f"confidence {answer.confidence:.0%}" + (", close call between passages" if answer.close_call else ""))
    return terminal_safe("\n".join(lines))


def format_figures(figures: list[Figure]) -> str:
    if not figures:
        return "No figures found."
    lines = []
    for i, f in enumerate(figures, 1):
        lines.append(f"{i:>2}. {f.text} — {f.label}")
        if f.citation:
            lines.append(f"    [{f.citation.label}, sentence {f.sentence}] {f.sentence_text.strip()}")
    return terminal_safe("\n".join(lines))


def format_documents(docs: list[DocumentInfo]) -> str:
    if not docs:
        return "No documents."
    lines = []
    for d in docs:
        date = f", {d.published}" if d.published else ""
        lines.append(f"{d.doc_id}: {d.title}{date} — {d.sentences} sentences, {d.figures} figures, {d.chars:,} chars")
        lines.append(f"    {d.url or d.source}")
    return terminal_safe("\n".join(lines))


def format_stats(stats: IndexStats) -> str:
    return "\n".join(
        [
            f"corpus:      {stats.corpus} (generation {stats.generation}, built {stats.built_at})",
            f"documents:   {stats.documents}",
            f"sentences:   {stats.sentences}",
            f"figures:     {stats.figures}",
            f"model:       {stats.model} ({stats.dimension} dimensions)",
            f"index:       {stats.index_type}, {stats.extra.get('bytes_on_disk', 0):,} bytes",
        ]
    )
