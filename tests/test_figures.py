"""Key-figure extraction: the seed article, a table of syntax cases, negatives, and span invariants."""

from __future__ import annotations

import logging
import math
from pathlib import Path

import pysbd
import pytest

from index.figures import LABEL_MAX, extract_figures
from index.models import Figure, Sentence

SEED = Path(__file__).resolve().parent.parent / "seeds" / "nato-defense-ministers.txt"


def split_sentences(text: str) -> list[Sentence]:
    """Sentences with exact spans: pysbd per line, located with str.find from a running offset."""
    segmenter = pysbd.Segmenter(language="en", clean=False)
    sentences: list[Sentence] = []
    offset = 0
    paragraph = 0
    for line in text.split("\n"):
        if not line.strip():
            continue
        paragraph += 1
        for piece in segmenter.segment(line):
            piece = piece.strip()
            if not piece:
                continue
            start = text.find(piece, offset)
            assert start >= 0, piece
            sentences.append(Sentence(paragraph, len(sentences) + 1, start, start + len(piece), piece))
            offset = start + len(piece)
    return sentences


def one_sentence(text: str) -> list[Figure]:
    return extract_figures("doc", text, [Sentence(1, 1, 0, len(text), text)])


def check_invariants(text: str, sentences: list[Sentence], figures: list[Figure]) -> None:
    by_number = {s.sentence: s for s in sentences}
    for fig in figures:
        sent = by_number[fig.sentence]
        assert text[fig.start:fig.end] == fig.text
        assert sent.start <= fig.start < fig.end <= sent.end
        assert fig.paragraph == sent.paragraph
        assert fig.sentence_text == sent.text and fig.text in fig.sentence_text
        assert fig.citation is None and fig.score == 0.0
        assert fig.label.strip() and len(fig.label) <= LABEL_MAX
    spans = sorted((f.start, f.end) for f in figures)
    assert all(a_end <= b_start for (_, a_end), (b_start, _) in zip(spans, spans[1:])), spans


@pytest.fixture(scope="module")
def seed() -> tuple[str, list[Sentence], list[Figure]]:
    text = SEED.read_text(encoding="utf-8")
    sentences = split_sentences(text)
    return text, sentences, extract_figures("nato-defense-ministers", text, sentences)


@pytest.mark.parametrize(
    ("surface", "value", "unit", "kind", "sentence_starts"),
    [
        ("$485 billion", 485e9, "USD", "money", "He noted that in 2024"),
        ("20%", 0.20, "%", "percent", "He noted that in 2024"),
        ("Two-thirds", 2 / 3, "fraction", "fraction", "Two-thirds of allies"),
        ("2% of their GDP", 0.02, "% of GDP", "percent", "Two-thirds of allies"),
        ("3% of GDP", 0.03, "% of GDP", "percent", "Rutte said the alliance’s goal"),
    ],
)
def test_seed_key_figures(seed, surface, value, unit, kind, sentence_starts) -> None:
    text, sentences, figures = seed
    matches = [f for f in figures if f.text == surface]
    assert len(matches) == 1, [f.text for f in figures]
    fig = matches[0]
    assert math.isclose(fig.value, value, rel_tol=1e-9)
    assert (fig.unit, fig.kind) == (unit, kind)
    assert fig.doc_id == "nato-defense-ministers"
    sent = next(s for s in sentences if s.sentence == fig.sentence)
    assert sent.text.startswith(sentence_starts)
    assert surface in sent.text and fig.sentence_text == sent.text


def test_seed_invariants(seed) -> None:
    text, sentences, figures = seed
    check_invariants(text, sentences, figures)


def test_seed_labels_and_years(seed) -> None:
    _, _, figures = seed
    by_text = {f.text: f for f in figures}
    money = by_text["$485 billion"]
    assert "invested" in money.label and "defense" in money.label and "2024" in money.label
    assert "increase" in by_text["20%"].label
    assert "of allies" in by_text["Two-thirds"].label
    assert "exceed" in by_text["3% of GDP"].label
    # 2024 and 2023 are context of the money and percent figures, not figures of their own
    assert not [f for f in figures if f.kind == "year"]
    assert not [f for f in figures if f.kind == "count"]


@pytest.mark.parametrize(
    ("sentence", "surface", "value", "unit", "kind"),
    [
        # money
        ("NATO allies invested $485 billion in defense.", "$485 billion", 485e9, "USD", "money"),
        ("The plan would cost $1.5 trillion over a decade.", "$1.5 trillion", 1.5e12, "USD", "money"),
        ("The EU pledged €20 million in humanitarian aid.", "€20 million", 20e6, "EUR", "money"),
        ("Britain will spend £3bn on drones.", "£3bn", 3e9, "GBP", "money"),
        ("Washington sent US$ 40 million in aid.", "US$ 40 million", 40e6, "USD", "money"),
        ("They spent 5 billion dollars on fighter jets.", "5 billion dollars", 5e9, "USD", "money"),
        ("A ticket to the summit costs $300.", "$300", 300.0, "USD", "money"),
        ("Germany spends 90 billion euros a year on its army.", "90 billion euros", 90e9, "EUR", "money"),
        ("The firm won a $2.5m contract.", "$2.5m", 2.5e6, "USD", "money"),
        ("Officials approved $1,250,000 for repairs.", "$1,250,000", 1.25e6, "USD", "money"),
        # percent
        ("Spending rose, a 20% increase compared to 2023.", "20%", 0.20, "%", "percent"),
        ("Inflation rose 3.5 percent last year.", "3.5 percent", 0.035, "%", "percent"),
        ("The goal is for defense spending to exceed 3% of GDP.", "3% of GDP", 0.03, "% of GDP", "percent"),
        ("Most allies spend at least 2% of their GDP on defense.", "2% of their GDP", 0.02, "% of GDP", "percent"),
        ("Turnout fell to 12.5 per cent in the north.", "12.5 per cent", 0.125, "%", "percent"),
        # fraction
        ("Two-thirds of allies now meet the target.", "Two-thirds", 2 / 3, "fraction", "fraction"),
        ("Officials said two-thirds of the money was spent.", "two-thirds", 2 / 3, "fraction", "fraction"),
        ("Nearly half of the members voted against the plan.", "half", 0.5, "fraction", "fraction"),
        ("A quarter of the budget goes to pensions.", "A quarter", 0.25, "fraction", "fraction"),
        ("One in five soldiers lacks proper equipment.", "One in five", 0.2, "fraction", "fraction"),
        ("Three-quarters of voters backed the deal.", "Three-quarters", 0.75, "fraction", "fraction"),
        # count
        ("The alliance now has 32 allies.", "32 allies", 32.0, "allies", "count"),
        ("The US will send 1,200 troops to Poland.", "1,200 troops", 1200.0, "troops", "count"),
        ("The war has displaced three million people.", "three million people", 3e6, "people", "count"),
        ("Some 40,000 Ukrainian soldiers were trained last year.", "40,000 Ukrainian soldiers", 40000.0,
         "soldiers", "count"),
        ("The agency counted 2.5 million refugees.", "2.5 million refugees", 2.5e6, "refugees", "count"),
        # year: only targets and deadlines
        ("Allies pledged to reach the target by 2030.", "by 2030", 2030.0, "year", "year"),
        ("The sanctions will stay in place until 2035.", "until 2035", 2035.0, "year", "year"),
    ],
)
def test_figure_syntax(sentence, surface, value, unit, kind) -> None:
    figures = one_sentence(sentence)
    matches = [f for f in figures if f.text == surface]
    assert len(matches) == 1, [(f.text, f.kind) for f in figures]
    fig = matches[0]
    assert math.isclose(fig.value, value, rel_tol=1e-9)
    assert (fig.unit, fig.kind) == (unit, kind)
    assert fig.label and fig.text not in fig.label
    check_invariants(sentence, [Sentence(1, 1, 0, len(sentence), sentence)], figures)


@pytest.mark.parametrize(
    "sentence",
    [
        "He was one of the first leaders to arrive.",
        "Allies invoked Article 5 of the treaty.",
        "Call +1 202 555 0143 for details.",
        "Call 202-555-0143 to register.",
        "The meeting was held on February 13.",
        "On February 13 officials met in Brussels.",
        "In 2024 the meeting was held in Brussels.",
        "The talks start at 10:30 in the morning.",
        "The two leaders met for the first time.",
        "The first half of the meeting was closed.",
        "Ukraine's 2025 budget was passed.",
        "The G7 leaders discussed COVID-19 cases.",
    ],
)
def test_not_figures(sentence) -> None:
    assert one_sentence(sentence) == []


def test_year_is_context_of_money_figure() -> None:
    figures = one_sentence("In 2024, NATO allies invested $485 billion in defense.")
    assert [(f.text, f.kind) for f in figures] == [("$485 billion", "money")]
    assert "2024" in figures[0].label


def test_spans_are_document_offsets() -> None:
    text = "Leaders met on Thursday.\n\nThe bloc pledged €20 million. Half of it is for drones."
    sentences = split_sentences(text)
    assert [s.paragraph for s in sentences] == [1, 2, 2]
    figures = extract_figures("doc", text, sentences)
    assert [(f.text, f.sentence, f.paragraph) for f in figures] == [("€20 million", 2, 2), ("Half", 3, 2)]
    check_invariants(text, sentences, figures)


def test_mismatched_sentence_is_skipped(caplog) -> None:
    text = "Allies spent $5 billion."
    bad = Sentence(1, 1, 0, 10, "Allies spent $5 billion.")
    with caplog.at_level(logging.WARNING, logger="index.figures"):
        assert extract_figures("doc", text, [bad]) == []
    assert "does not match" in caplog.text


def test_empty_document() -> None:
    assert extract_figures("doc", "", []) == []
