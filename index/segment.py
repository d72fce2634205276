"""Split article text into paragraphs and sentences with exact character spans.

Segmenter: sentencex (rule-based, Rust, no data files, nothing fetched at run time; checked with the
network blocked and under strace), plus one rule of ours: a boundary right after a title that only
ever precedes a name ("Ms.", "Mx.", "Amb.", "Atty.", ...) is dropped. It replaced pysbd 0.3.4.

Measured on the 28 cases in tests/test_segment.py (quotes, "U.S."/"U.K."/"U.N.", "Mr."/"Ms."/"Dr."/
"Gen."/"Gov."/"Sen.", "$1.5 billion", "3.5%", "e.g.", "Jan. 5", "Sept. 3", "No. 1", "vs.", "p.m.",
"Inc.", "..." and "…") and for speed on 1.03 MB (the seed article x100, one paragraph per line, plus
the 1,065 Wikipedia paragraphs of squad-dev-a.json), median of 3 on the shared 2-core machine under
load 6-8 (absolute figures about 2x an idle machine; the ratios held across runs):
  pysbd (previous)           27/28  21.2 µs/char   1x      (5-10 µs/char at lower load)
  sentencex + title rule     27/28  0.16 µs/char   ~130x   <- used here
  sentencex alone            26/28  0.06 µs/char   ~350x   (misses "agreed. Ms. Smith")
  nupunkt 0.8                26/28  0.17 µs/char   ~120x   (misses "vs. Russia")
  blingfire 0.1.8            26/28  0.80 µs/char   ~26x    (misses "Ms. Smith")
  segtok 1.5                 23/28  2.1 µs/char    ~10x
  syntok 1.4                 23/28  4.3 µs/char    ~5x
The one miss shared by all (xfail): an abbreviation that ends a sentence before a capitalized word
("held in the U.S. Officials said ...") stays one sentence; ambiguous without a language model.
Paragraph-by-paragraph agreement with pysbd: 100% on the news text, 96.7% of the Wikipedia paragraphs;
of the differing boundaries most are pysbd errors (splits after "Inc.", "Bros.", "Who?," "Live!",
"(O 3)", "c. 1,300,000", "max.") or sentencex wins ("Kiowa St. He", "N.T. In", "vitamin D. Not"),
against some sentencex misses (one paragraph with a `quote’ mark, ":33"-style citation fragments).
Keeping pysbd with a pre-check (no segmentation when the only terminal punctuation ends the
paragraph) was measured too: 4x on one-sentence news paragraphs but only 1.3x overall, far from the
~0.3 ms/sentence budget; sentencex costs ~0.01 ms per sentence (~0.4% of a 3.3 ms embedding).
bench/bench_segment.py reproduces the pysbd / pre-check / sentencex rows (bench/results/segment.json).

Both pysbd-era corrections are kept: newlines, tabs and other control characters become spaces
(length-preserving, so offsets stay exact) so a hard-wrapped sentence is not cut at a line break;
no windowing is needed any more (sentencex is linear: a single 1 MB paragraph takes ~0.05 s).
Pinned in a test: no split inside an open quotation, so a multi-sentence quote
("“It is clear ... more. Several announced ...”") is one sentence. nltk's punkt was not considered:
nltk is not a dependency and punkt needs a data download at run time, which this project avoids.
"""

from __future__ import annotations

import logging
import re
from dataclasses import replace

import sentencex

from index.models import Sentence

log = logging.getLogger(__name__)

# A blank line: a newline, optional horizontal whitespace (or \r), another newline.
_BLANK_LINE = re.compile(r"\n[ \t\r\f\v]*\n")
_LINE = re.compile(r"[^\r\n]+")
# Lines longer than this are not hard-wrapped text; a blank-line block made mostly of them is
# "one paragraph per line" text that happens to contain a blank line (e.g. after a title).
_LONG_LINE = 150
# A sentence that ends in a title that only ever precedes a name: not a sentence end. "St.", "Jr.",
# "Sr." and "Dr." (Street, Junior, Senior, Drive) can end a sentence and are left out.
_TITLE_END = re.compile(
    r"(?<![^\W\d_])(?:Mr|Mrs|Ms|Mx|Mmes|Messrs|Mssrs|Prof|Gens?|Gov|Sens?|Reps?|Capt|Lt|Col|Sgt|Cpl|Maj|Adm"
    r"|Brig|Cmdr|Supt|Rev|Amb|Attys?|Det)\.\s*$"
)
# Every C0/C1 control character becomes a space for the segmenter; a 1:1 replacement keeps offsets.
# (A regex substitution: str.translate with a dict costs ~0.2 µs per character, more than sentencex.)
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# Longest sentence kept whole. all-MiniLM-L6-v2 reads 256 word pieces (~1,000-1,200 characters of
# English) and ignores the rest, and one "sentence" of a text without punctuation (a 2 MB transcript,
# a 10,000-character token) would otherwise be a single, unreadable answer.
MAX_SENTENCE_CHARS = 1000
# Where a long run may be cut, best first: after a clause mark followed by a space, then at a space.
_CLAUSE_END = re.compile(r"[,;:)\]\u2013\u2014](?=\s)|\s[-\u2013\u2014]\s")
_SPACE = re.compile(r"\s")


def _strip_span(text: str, start: int, end: int) -> tuple[int, int]:
    """Shrink [start, end) so it neither starts nor ends with whitespace."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _line_spans(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Non-empty stripped line spans within text[start:end]."""
    spans = []
    for m in _LINE.finditer(text, start, end):
        s, e = _strip_span(text, m.start(), m.end())
        if s < e:
            spans.append((s, e))
    return spans


def split_paragraphs(text: str) -> list[tuple[int, int]]:
    """Return [start, end) spans of the paragraphs of ``text``, without surrounding whitespace.

    If the text contains a blank line, paragraphs are separated by blank lines and the lines of a
    hard-wrapped paragraph stay together; a block whose lines are mostly long (over 150 characters,
    i.e. not hard-wrapped) is split into one paragraph per line. Without blank lines every non-empty
    line is a paragraph.
    """
    if not _BLANK_LINE.search(text):
        return _line_spans(text, 0, len(text))
    spans: list[tuple[int, int]] = []
    pos = 0
    for m in [*_BLANK_LINE.finditer(text), None]:
        block_end = m.start() if m else len(text)
        s, e = _strip_span(text, pos, block_end)
        if s < e:
            lines = _line_spans(text, s, e)
            long_lines = sum(1 for ls, le in lines if le - ls > _LONG_LINE)
            if len(lines) > 1 and long_lines * 2 > len(lines):
                spans.extend(lines)
            else:
                spans.append((s, e))
        if m:
            pos = m.end()
    return spans


def _boundaries(chunk: str) -> list[dict]:
    """sentencex's sentence records for ``chunk`` (a seam so tests can feed in odd output)."""
    return sentencex.get_sentence_boundaries("en", chunk)


def _paragraph_ends(para: str) -> list[int]:
    """Sentence end offsets in one paragraph (already control-free) as sentencex sees them.

    sentencex reports character offsets; each record is checked against its own text and, should the
    two ever disagree, the text is searched for from a running offset instead. A segment that cannot
    be found contributes no boundary, so its text joins the next sentence instead of being lost.
    A boundary right after a courtesy or military title ("Ms.", "Mx.", ...) is dropped: titles
    precede a name and never end a sentence, and sentencex does not know all of them.
    """
    ends: list[int] = []
    pos = 0
    for rec in _boundaries(para):
        piece = rec.get("text", "")
        start, end = rec.get("start_index", -1), rec.get("end_index", -1)
        if not (0 <= start <= end <= len(para) and para[start:end] == piece):
            piece = piece.strip()
            start = para.find(piece, pos) if piece else -1
            if start < 0:
                log.debug("sentencex segment not found verbatim, merging it: %r", piece[:60])
                continue
            end = start + len(piece)
        pos = max(pos, end)
        if para[max(0, end - 8) : end].rstrip().endswith(".") and _TITLE_END.search(para, max(0, end - 40), end):
            continue
        ends.append(end)
    return ends


def split_sentences(text: str) -> list[Sentence]:
    """Split ``text`` into sentences, paragraph by paragraph, with exact spans into ``text``.

    Paragraph numbers are 1-based by position among ``split_paragraphs(text)``; sentence numbers are
    1-based across the whole text. ``text[s.start:s.end] == s.text`` always holds, and together the
    sentences cover every non-whitespace character of every paragraph.
    """
    clean = _CONTROL.sub(" ", text)
    sentences: list[Sentence] = []
    for pnum, (pstart, pend) in enumerate(split_paragraphs(text), start=1):
        ends = _paragraph_ends(clean[pstart:pend])
        start = pstart
        for end in [*(pstart + e for e in ends), pend]:
            s, e = _strip_span(text, start, max(start, min(end, pend)))
            if s < e:
                sentences.append(Sentence(pnum, len(sentences) + 1, s, e, text[s:e]))
            start = max(start, end)
    return cap_sentence_length(text, sentences)


def _cut(text: str, start: int, limit: int) -> int:
    """Where to end a piece of an over-long sentence starting at ``start``: the last clause boundary,
    else the last space, in the second half of the next ``limit`` characters; else exactly at the limit."""
    low, high = start + limit // 2, start + limit
    for pattern in (_CLAUSE_END, _SPACE):
        last = None
        for last in pattern.finditer(text, low, high):
            pass
        if last is not None:
            return last.end()
    return high


def cap_sentence_length(text: str, sentences: list[Sentence], limit: int = MAX_SENTENCE_CHARS) -> list[Sentence]:
    """Split every sentence longer than ``limit`` characters into pieces of at most ``limit``.

    Pieces end at clause boundaries (", ", "; ", " - "), else at a space, else at the hard limit; their
    spans stay exact (``text[s.start:s.end] == s.text``) and sentences are renumbered.
    """
    if all(s.end - s.start <= limit for s in sentences):
        return sentences
    out: list[Sentence] = []
    for s in sentences:
        start = s.start
        while s.end - start > limit:
            cut = _cut(text, start, limit)
            a, b = _strip_span(text, start, cut)
            if a < b:
                out.append(Sentence(s.paragraph, len(out) + 1, a, b, text[a:b]))
            start = cut
        a, b = _strip_span(text, start, s.end)
        if a < b:
            out.append(replace(s, sentence=len(out) + 1, start=a, end=b, text=text[a:b]))
    return out
