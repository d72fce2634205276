"""Citations a front end can render, with links that scroll to the cited sentence."""

from __future__ import annotations

import re
from urllib.parse import quote

from .models import Citation

_SPACE = re.compile(r"\s+")


def _encode_fragment(text: str) -> str:
    # In a text fragment "-", "," and "&" are syntax, so they must be percent-encoded too.
    return quote(text, safe="").replace("-", "%2D")


def text_fragment(sentence: str, words: int = 4) -> str:
    """A ``#:~:text=`` directive matching ``sentence``: start and end words for long sentences."""
    tokens = _SPACE.split(sentence.strip())
    if len(tokens) <= 2 * words:
        return "#:~:text=" + _encode_fragment(" ".join(tokens))
    start = " ".join(tokens[:words])
    end = " ".join(tokens[-words:])
    return f"#:~:text={_encode_fragment(start)},{_encode_fragment(end)}"


def short_title(title: str, limit: int = 60) -> str:
    title = _SPACE.sub(" ", title).strip()
    return title if len(title) <= limit else title[: limit - 1].rstrip() + "…"


def make_citation(
    *, doc_id: str, title: str, paragraph: int, sentence: int, source: str, url: str | None, text: str
) -> Citation:
    """The citation of one sentence; ``link`` scrolls to it when the document has a URL."""
    link = None
    if url:
        link = url.split("#", 1)[0] + text_fragment(text)
    return Citation(
        label=f"{short_title(title)}, ¶{paragraph}",
        doc_id=doc_id,
        title=title,
        paragraph=paragraph,
        sentence=sentence,
        source=source,
        url=url,
        link=link,
    )
