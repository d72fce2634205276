"""Reading a citation back as a member types or copies it: every form the bot itself displays.

- ``[2]`` or ``2``: the numbered source of the latest answer in the channel;
- ``NATO defense ministers on Ukraine and spending, ¶7`` (also with its ``[2]`` in front, a title cut
  with "…", or ``paragraph 7`` / ``para 7`` / ``p7`` for ¶, which is hard to type);
- ``nato-defense-ministers:8``: article id and sentence (also with the `` · paragraph 7`` of /source).

Parsing is pure; the /source command resolves a parsed citation against the channel's answers and the
server's articles.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from index.models import DocumentInfo

_NUMBER = re.compile(r"^\s*\[?\s*(\d{1,2})\s*\]?\s*$")
_SENTENCE = re.compile(r"^\s*([a-z0-9][\w.-]*)\s*[:#]\s*(\d+)\s*(?:[·•|,;-].*)?$", re.I)
_PARAGRAPH = re.compile(r"^\s*(?:\[\s*\d{1,2}\s*\]\s*)?(.+?)\s*,?\s*(?:¶|§|\bparagraph\b|\bpara\b\.?|\bp\.?)\s*(\d+)"
                        r"\s*(?:[—–-].*)?$", re.I | re.S)
_SPACE = re.compile(r"\s+")
ELLIPSES = ("…", "...")


@dataclass(frozen=True)
class NumberedRef:
    """``[n]``: the n-th source of the latest answer the member saw in the channel."""

    number: int


@dataclass(frozen=True)
class SentenceRef:
    """``article-id:sentence``."""

    doc_id: str
    sentence: int


@dataclass(frozen=True)
class ParagraphRef:
    """``Title, ¶p`` (the title may be cut with "…", or be the article id)."""

    title: str
    paragraph: int


CitationRef = NumberedRef | SentenceRef | ParagraphRef


def parse_citation(text: str) -> CitationRef | None:
    """The citation a member typed, in any form the bot displays; None when it is none of them."""
    text = _SPACE.sub(" ", (text or "").replace("\\", "")).strip()
    if m := _NUMBER.match(text):
        return NumberedRef(int(m.group(1)))
    if m := _SENTENCE.match(text):
        return SentenceRef(m.group(1).lower(), int(m.group(2)))
    if m := _PARAGRAPH.match(text):
        title = m.group(1).strip().strip(",").strip()
        if title:
            return ParagraphRef(title, int(m.group(2)))
    return None


def _norm(title: str) -> str:
    return _SPACE.sub(" ", title).strip().casefold()


def find_document(title: str, docs: Iterable[DocumentInfo]) -> DocumentInfo | None:
    """The article a displayed title names: the same title or id, or the start of one when cut with "…"."""
    wanted = _norm(title)
    cut = next((wanted[: -len(e)].rstrip() for e in ELLIPSES if wanted.endswith(e)), None)
    docs = list(docs)
    for doc in docs:
        if wanted in (_norm(doc.title), doc.doc_id.casefold()):
            return doc
    if cut:
        starts = [d for d in docs if _norm(d.title).startswith(cut)]
        if len(starts) == 1:
            return starts[0]
    return None


HOW_TO_TYPE = ("type it as shown under an answer: [2], “Article title, ¶7”, or article-id:sentence, "
               "e.g. nato-defense-ministers:8; or pick one from the list")
