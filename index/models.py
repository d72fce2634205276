"""The result types that cross module boundaries: frozen dataclasses, never bare tuples or dicts."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Sentence:
    """One sentence of a document; ``text == document.text[start:end]``."""

    paragraph: int  # 1-based paragraph number in the document
    sentence: int  # 1-based sentence number in the document (not per paragraph)
    start: int  # character offset in the document text, inclusive
    end: int  # character offset, exclusive
    text: str


@dataclass(frozen=True)
class Document:
    """An article ready to index: its text, metadata and sentences."""

    doc_id: str
    title: str
    source: str  # file path or URL it came from
    text: str
    sentences: tuple[Sentence, ...]
    url: str | None = None
    published: str | None = None  # ISO date when known
    paragraphs: tuple[tuple[int, int], ...] = ()  # [start, end) of each paragraph, 1-based by position


@dataclass(frozen=True)
class Citation:
    """What a front end needs to render a source reference."""

    label: str  # short, e.g. "NATO defense ministers, ¶7"
    doc_id: str
    title: str
    paragraph: int
    sentence: int
    source: str
    url: str | None = None
    link: str | None = None  # url with a #:~:text= fragment scrolling to the sentence

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Hit:
    """One retrieved sentence with its context window."""

    rank: int
    score: float
    doc_id: str
    title: str
    source: str
    paragraph: int
    sentence: int
    start: int
    end: int
    text: str
    context: str  # neighbouring sentences, the hit included, as they stand in the document
    context_start: int
    context_end: int
    citation: Citation
    also: tuple[int, ...] = ()  # sentence numbers of lower-ranked hits merged into this window

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        return d


@dataclass(frozen=True)
class Answer:
    """The answer to a question: hits best first; ``answered`` is False when none is relevant enough.

    ``close_call`` is True when the best passage is barely ahead of the next one (ranker scores within
    RetrievalSettings.close_call_margin): the answer is probably among the passages, but which one is a
    guess, and the reply says so instead of presenting the first as the answer.
    """

    question: str
    answered: bool
    confidence: float
    hits: tuple[Hit, ...]
    close_call: bool = False
    # Declined because the question asks for a measured value ("money", "temperature", "speed": see
    # index.answertypes.asked_measure) that the best passage does not state, however close it is.
    missing: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "answered": self.answered,
            "confidence": round(self.confidence, 4),
            "close_call": self.close_call,
            "missing": self.missing,
            "hits": [h.to_dict() for h in self.hits],
        }


@dataclass(frozen=True)
class Figure:
    """A key figure of a document, e.g. "$485 billion", with its normalized value and its sentence."""

    doc_id: str
    text: str  # surface form as written, e.g. "$485 billion", "3% of GDP", "Two-thirds"
    value: float  # normalized: 485e9, 0.03, 0.6667, 2024; a score's first number (45 for "45-17")
    unit: str  # "USD", "EUR", "%", "% of GDP", "fraction", "years", "witnesses", "score", "year", ...
    kind: str  # one of index.figures.KINDS: "money", "percent", "count", "age", "score", "duration", ...
    label: str  # what it measures: its clause with "…" for the figure, or e.g. "Assange's age"
    paragraph: int
    sentence: int
    start: int  # span of the figure in the document text
    end: int
    citation: Citation | None = None
    sentence_text: str = ""
    score: float = 0.0  # relevance to a topic when ranked

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class DocumentInfo:
    """A row of the document list."""

    doc_id: str
    title: str
    source: str
    url: str | None
    published: str | None
    sentences: int
    figures: int
    chars: int
    added_at: str


@dataclass(frozen=True)
class Passage:
    """A paragraph around a cited sentence (for "show me the source")."""

    doc_id: str
    title: str
    paragraph: int
    sentence: int
    text: str  # the whole paragraph
    sentence_start: int  # span of the cited sentence inside ``text``
    sentence_end: int
    citation: Citation


@dataclass(frozen=True)
class ChangeReport:
    """What a build, add or remove changed."""

    corpus: str
    generation: int
    documents: int
    sentences: int
    figures: int
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    updated: tuple[str, ...] = ()  # documents an add replaced (same id and source)
    embedded: int = 0  # sentences that had to be embedded (cache misses)
    seconds: float = 0.0
    duplicates: tuple[str, ...] = ()  # inputs skipped: the same text is already in the corpus


@dataclass(frozen=True)
class IndexStats:
    corpus: str
    generation: int
    documents: int
    sentences: int
    figures: int
    model: str
    dimension: int
    index_type: str
    built_at: str
    format_version: int
    extra: dict[str, Any] = field(default_factory=dict)
