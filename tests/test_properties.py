"""Property tests (hypothesis) over the hostile-input surfaces: the segmenter, the figure extractor and the
parts of the formatter that tests/test_format.py does not cover yet (it already covers answer_payload and
closest_payload with arbitrary hits).

Any unicode text goes in: right-to-left scripts, zalgo (stacked combining marks), control characters,
lone line/paragraph separators, markdown and mention syntax. What must hold:

- segmenter: paragraph and sentence spans are valid, ordered and non-overlapping, ``text[start:end]`` is
  exactly the sentence, each sentence lies in its paragraph, and every non-space character of every
  paragraph is covered by a sentence (nothing is lost);
- figures: each figure's span lies inside its sentence and ``text[start:end] == figure.text``; labels are
  non-empty and at most ``LABEL_MAX`` characters; values are finite;
- formatter: every payload is within every Discord limit, and no @everyone/@here or user/role mention
  can be parsed from it, whatever the article text, titles, URLs, topics or error messages are.
"""

from __future__ import annotations

import math
import re

import discord
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot import format as fmt
from bot.app import cooldown_message, error_text
from bot.cogs.qa import thread_name
from index.citations import make_citation
from index.errors import FetchError, UnsupportedDocumentError
from index.figures import KINDS, LABEL_MAX, extract_figures
from index.models import ChangeReport, DocumentInfo, Figure, IndexStats, Passage
from index.segment import split_paragraphs, split_sentences

FAST = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Discord parses these from message text: @everyone, @here, <@id>, <@!id>, <@&id> (ids are snowflakes).
PARSED_MENTION = re.compile(r"@(everyone|here)\b|<@[!&]?\d{15,21}>")

ZALGO = "".join(chr(c) for c in range(0x300, 0x36F))
RTL = "مرحبا بالعالم. שלום עולם! ‏‮ \u202b\u202a\u2066\u2067\u2069 سنة 2024 أنفق الحلفاء 485 مليار دولار."
CONTROL = "".join(chr(c) for c in [*range(0, 32), 0x7F, *range(0x80, 0xA0), 0x2028, 0x2029, 0x200B, 0xFEFF])
NEWS = ["In 2024, allies invested $485 billion.", "Two-thirds of allies spend 2% of GDP.", "Mr.", "U.S.",
        "He said:", "“It is clear,” she said.", "3.5%", "by 2030", "€12bn", "half of them", "1 in 5", "...", "…",
        "?", "!", ".", " ", "\n", "\n\n", "\r\n", "\t", "@everyone", "<@123456789012345678>", "**", "```", "#",
        "> ", "[x](http://e)", "||s||"]

any_text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=600)
pieces = st.lists(st.sampled_from(NEWS) | st.sampled_from(list(ZALGO + RTL + CONTROL)) | st.text(max_size=8),
                  max_size=120).map("".join)
texts = any_text | pieces


def _check_segmentation(text: str) -> None:
    paragraphs = split_paragraphs(text)
    prev_end = 0
    for a, b in paragraphs:
        assert prev_end <= a < b <= len(text), (a, b)
        assert not text[a].isspace() and not text[b - 1].isspace()
        prev_end = b
    sentences = split_sentences(text)
    prev_end = 0
    for number, s in enumerate(sentences, 1):
        assert s.sentence == number
        assert prev_end <= s.start < s.end <= len(text), s
        assert text[s.start:s.end] == s.text
        assert 1 <= s.paragraph <= len(paragraphs)
        pa, pb = paragraphs[s.paragraph - 1]
        assert pa <= s.start and s.end <= pb, (s, (pa, pb))
        prev_end = s.end
    # nothing is lost: every non-space character of a paragraph is in some sentence
    covered = bytearray(len(text))
    for s in sentences:
        covered[s.start:s.end] = b"\x01" * (s.end - s.start)
    for a, b in paragraphs:
        for i in range(a, b):
            assert covered[i] or text[i].isspace(), (i, text[i], text[a:b])


@FAST
@given(text=texts)
def test_property_sentence_and_paragraph_spans_are_exact(text: str) -> None:
    _check_segmentation(text)


@FAST
@given(parts=st.lists(st.sampled_from([RTL, ZALGO, CONTROL, "Allies met. Then left.", "\n\n"]), max_size=12))
def test_property_rtl_zalgo_and_control_text_segments_exactly(parts: list[str]) -> None:
    _check_segmentation("".join(parts))


def _check_figures(text: str) -> None:
    sentences = split_sentences(text)
    by_number = {s.sentence: s for s in sentences}
    for f in extract_figures("doc", text, sentences):
        s = by_number[f.sentence]
        assert s.start <= f.start < f.end <= s.end, (f, s)
        assert text[f.start:f.end] == f.text
        assert f.paragraph == s.paragraph
        assert f.label.strip() and len(f.label) <= LABEL_MAX, f.label
        assert math.isfinite(f.value)
        assert f.kind in KINDS


numbers = st.sampled_from(["$485 billion", "3.5%", "2% of GDP", "Two-thirds", "half of", "32 allies", "by 2030",
                           "€12bn", "£3.2m", "1 in 5", "12,345", "0.5 percentage points", "ninety-nine",
                           "US$ 7 trillion", "9999999999999999999999999 dollars", "1e308%", "¥"])
figure_texts = texts | st.lists(numbers | st.sampled_from(NEWS) | st.text(max_size=5), max_size=60).map(" ".join)


@FAST
@given(text=figure_texts)
def test_property_figure_spans_lie_in_their_sentence(text: str) -> None:
    _check_figures(text)


# ------------------------------------------------------------------ formatter (what test_format.py leaves out)

hostile = (st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=1500)
           | st.lists(st.sampled_from(NEWS + [RTL, ZALGO, CONTROL, "@here", "<@&123456789012345678>", "\\", "`"]),
                      max_size=200).map("".join))
long_hostile = st.builds(lambda t, n: t * n, hostile, st.integers(1, 6))
urls = st.none() | st.just("https://example.com/a_b(c)) [x]") | st.text(max_size=50).map(lambda s: "https://e.com/" + s)


from tests.test_format import all_text as _all_text  # noqa: E402 - one definition of "every text of a payload"


def assert_safe(payload: fmt.Payload) -> None:
    assert len(payload.content or "") <= fmt.LIMITS.content
    assert len(payload.embeds) <= 10
    assert sum(len(e) for e in payload.embeds) <= fmt.LIMITS.total
    for e in payload.embeds:
        assert fmt.embed_size_ok(e), e.to_dict()
    for text in _all_text(payload):
        assert not PARSED_MENTION.search(text), text
    assert payload.kwargs()["allowed_mentions"].to_dict() == {"parse": []}


def _citation(title: str, url: str | None):
    return make_citation(doc_id="d", title=title or "t", paragraph=3, sentence=4, source="s", url=url, text="x")


@FAST
@given(title=long_hostile, text=long_hostile, url=urls, a=st.integers(-5, 5000), b=st.integers(-5, 5000),
       n=st.integers(1, 3), intro=st.none() | hostile)
def test_property_passages_fit_and_cannot_ping(title, text, url, a, b, n, intro) -> None:
    passage = Passage(doc_id="d", title=title or "t", paragraph=1, sentence=2, text=text or "x",
                      sentence_start=min(a, b), sentence_end=max(a, b), citation=_citation(title, url))
    payload = fmt.passages_payload([passage] * n, intro=fmt.plain_clip(fmt.escape(intro), 2000) if intro else None)
    assert_safe(payload)


@FAST
@given(ftext=hostile, label=long_hostile, sentence=long_hostile, topic=st.none() | hostile, title=hostile,
       url=urls, n=st.integers(0, 30), query=long_hostile)
def test_property_figure_embeds_fit_and_cannot_ping(ftext, label, sentence, topic, title, url, n, query) -> None:
    fig = Figure(doc_id="d", text=ftext or "1", value=1.0, unit="USD", kind="money", label=label or "l",
                 paragraph=1, sentence=2, start=0, end=1, citation=_citation(title, url), sentence_text=sentence)
    assert_safe(fmt.Payload(embeds=(fmt.figures_embed([fig] * n, topic=topic),)))
    assert_safe(fmt.Payload(embeds=(fmt.figure_embed(fig, query),)))


@FAST
@given(title=long_hostile, doc_id=hostile, url=urls, n=st.integers(0, 60), question=long_hostile)
def test_property_articles_and_gaps_fit_and_cannot_ping(title, doc_id, url, n, question) -> None:
    doc = DocumentInfo(doc_id=doc_id[:64] or "d", title=title, source="s", url=url, published=None,
                       sentences=3, figures=1, chars=100, added_at="2025-02-13T00:00:00")
    assert_safe(fmt.Payload(embeds=(fmt.articles_embed([doc] * n),)))
    rows = [{"question": question, "reason": "down", "when": "2025-01-01T00:00:00"}] * n
    assert_safe(fmt.Payload(embeds=(fmt.gaps_embed(rows),)))


@FAST
@given(ids=st.lists(hostile, max_size=15), corpus=hostile, model=hostile, last=st.none() | long_hostile)
def test_property_admin_texts_fit_and_cannot_ping(ids, corpus, model, last) -> None:
    report = ChangeReport(corpus="c", generation=2, documents=3, sentences=4, figures=5, added=tuple(ids),
                          removed=tuple(ids), seconds=1.5)
    assert_safe(fmt.Payload(content=fmt.report_text("Added", report)))
    stats = IndexStats(corpus=corpus or "c", generation=1, documents=1, sentences=1, figures=0, model=model,
                       dimension=384, index_type="IndexFlatIP", built_at="2025-01-01", format_version=1,
                       extra={"bytes_on_disk": 10})
    latency = {"count": 3, "median_ms": 12.0, "p95_ms": 30.0}
    assert_safe(fmt.Payload(embeds=(fmt.status_embed(stats, last_change=last, latency=latency),)))


@FAST
@given(message=long_hostile, question=long_hostile, retry=st.floats(0, 1e6, allow_nan=False))
def test_property_plain_replies_fit_and_cannot_ping(message, question, retry) -> None:
    """Error replies quote user and article text (file names, URLs): still within limits, no ping."""
    for exc in (UnsupportedDocumentError(message), FetchError(message)):
        text = fmt.plain_clip(error_text(exc), 2000)  # what send_private sends
        assert_safe(fmt.Payload(content=text))
    assert_safe(fmt.Payload(content=cooldown_message(retry)))
    name = thread_name(question)
    assert 1 <= len(name) <= 100  # Discord's thread-name limit
    assert not PARSED_MENTION.search(name)


@FAST
@given(context=long_hostile, a=st.integers(-10, 10_000), b=st.integers(-10, 10_000), limit=st.integers(0, 5000))
def test_property_quote_passage_is_bounded_and_balanced(context, a, b, limit) -> None:
    out = fmt.quote_passage(context, min(a, b), max(a, b), limit)
    assert len(out) <= max(limit, 12)
    unescaped = re.sub(r"\\.", "x", out)
    assert unescaped.count("**") % 2 == 0
    assert not PARSED_MENTION.search(out)


def test_escaped_mentions_stay_unparsed_by_discord_py() -> None:
    """discord.py's own mention parser agrees: nothing in escaped text is a mention."""
    raw = "@everyone @here <@123456789012345678> <@!123456789012345678> <@&123456789012345678>"
    out = fmt.escape(raw)
    assert not PARSED_MENTION.search(out)
    # the patterns of discord.Message.raw_mentions / raw_role_mentions
    assert not re.findall(r"<@!?([0-9]{15,20})>", out) and not re.findall(r"<@&([0-9]{15,20})>", out)
    assert discord.AllowedMentions.none().to_dict() == {"parse": []}
