"""Paragraph and sentence splitting: exact spans, and the segmenter measured on tricky news text."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import index.segment as segment
from index.segment import split_paragraphs, split_sentences

SEED = Path(__file__).resolve().parents[1] / "seeds" / "nato-defense-ministers.txt"

# Each case: text, the sentences we expect. The module docstring of index/segment.py reports the score.
CASES = [
    ("“We need significantly more defense spending,” he said. “It is clear.”",
     ["“We need significantly more defense spending,” he said.", "“It is clear.”"]),
    ('"We need more," he said. "It is clear."', ['"We need more," he said.', '"It is clear."']),
    ("He said “no.” Then he left.", ["He said “no.”", "Then he left."]),
    ('He said "no." Then he left.', ['He said "no."', "Then he left."]),
    ("“Peace through strength.” That is the motto.", ["“Peace through strength.”", "That is the motto."]),
    ("He said, “Is this real?” She nodded.", ["He said, “Is this real?”", "She nodded."]),
    ("U.S. officials said talks would resume. They declined to comment.",
     ["U.S. officials said talks would resume.", "They declined to comment."]),
    ("The deal was signed by the U.K. and France. Talks continue.",
     ["The deal was signed by the U.K. and France.", "Talks continue."]),
    ("The U.N. Security Council met on Monday. It voted 12-3.",
     ["The U.N. Security Council met on Monday.", "It voted 12-3."]),
    ("Mr. Rutte said allies agreed. Ms. Smith disagreed.", ["Mr. Rutte said allies agreed.", "Ms. Smith disagreed."]),
    ("Dr. Jones met Gen. Smith at 10 a.m. on Sept. 3. They talked.",
     ["Dr. Jones met Gen. Smith at 10 a.m. on Sept. 3.", "They talked."]),
    ("Gov. Newsom and Sen. Warren met Rep. Smith. They agreed.",
     ["Gov. Newsom and Sen. Warren met Rep. Smith.", "They agreed."]),
    ("NATO allies invested $1.5 billion in defense. That is a lot.",
     ["NATO allies invested $1.5 billion in defense.", "That is a lot."]),
    ("Revenue was $3.2bn. Profit was €1.1bn.", ["Revenue was $3.2bn.", "Profit was €1.1bn."]),
    ("Spending rose 3.5% last year. It will rise again.", ["Spending rose 3.5% last year.", "It will rise again."]),
    ("Some allies, e.g. Poland, spend more. Others do not.", ["Some allies, e.g. Poland, spend more.", "Others do not."]),
    ("The meeting is on Jan. 5 in Brussels. It will last two days.",
     ["The meeting is on Jan. 5 in Brussels.", "It will last two days."]),
    ("The team is ranked No. 1 in the world. It won again.", ["The team is ranked No. 1 in the world.", "It won again."]),
    ("It was Ukraine vs. Russia. Talks continue.", ["It was Ukraine vs. Russia.", "Talks continue."]),
    ("He paused... Then he continued. It was over.", ["He paused...", "Then he continued.", "It was over."]),
    ("Prices rose… and rose. Then fell.", ["Prices rose… and rose.", "Then fell."]),
    ("The company is Acme Inc. It makes widgets.", ["The company is Acme Inc.", "It makes widgets."]),
    ("He arrived at 5 p.m. He left at 6 p.m. on Friday.", ["He arrived at 5 p.m.", "He left at 6 p.m. on Friday."]),
    ("He lives in St. Louis, Mo. He moved there in 2019.", ["He lives in St. Louis, Mo.", "He moved there in 2019."]),
    ("Is this real? Yes! It is.", ["Is this real?", "Yes!", "It is."]),
    ("He cited a 1.5-million-strong army (see fig. 2). That was big.",
     ["He cited a 1.5-million-strong army (see fig. 2).", "That was big."]),
    ("Rutte said the alliance agreed.  Two spaces here. And here.",
     ["Rutte said the alliance agreed.", "Two spaces here.", "And here."]),
    pytest.param("The talks were held in the U.S. Officials declined to comment.",
                 ["The talks were held in the U.S.", "Officials declined to comment."],
                 marks=pytest.mark.xfail(reason="a sentence-final abbreviation stays joined to a capitalized next "
                                                "word (pysbd and sentencex alike); ambiguous, not patched",
                                         strict=True)),
]


def assert_exact(text: str) -> list:
    sentences = split_sentences(text)
    for i, s in enumerate(sentences, start=1):
        assert text[s.start:s.end] == s.text
        assert s.sentence == i
        assert s.text == s.text.strip() and s.text
    return sentences


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_tricky_sentences(text: str, expected: list[str]) -> None:
    assert [s.text for s in assert_exact(text)] == expected


def test_multi_sentence_quotation_stays_one_sentence() -> None:
    # Measured behaviour (pysbd and sentencex alike), pinned: no split inside an open quotation.
    text = "“It is clear we must invest more. Several announced increases,” he said. Then he left."
    assert [s.text for s in assert_exact(text)] == [
        "“It is clear we must invest more. Several announced increases,” he said.", "Then he left."]


@pytest.mark.parametrize(("text", "expected"), [
    ("", []),
    ("   \n\n \t\n", []),
    ("One line", ["One line"]),
    ("a\nb\n\nc", ["a\nb", "c"]),
    ("first\nsecond\nthird", ["first", "second", "third"]),
    ("  padded  \n  also  ", ["padded", "also"]),
    ("para one\r\nstill one\r\n\r\npara two\r\n", ["para one\r\nstill one", "para two"]),
    ("a\n  \t \nb", ["a", "b"]),
    ("\n\n\nonly\n\n\n", ["only"]),
])
def test_split_paragraphs(text: str, expected: list[str]) -> None:
    assert [text[s:e] for s, e in split_paragraphs(text)] == expected


def test_blank_line_block_of_long_lines_is_one_paragraph_per_line() -> None:
    long1, long2 = "A" * 200 + ".", "B" * 180 + "."
    text = f"Title\n\n{long1}\n{long2}\n"
    assert [text[s:e] for s, e in split_paragraphs(text)] == ["Title", long1, long2]


def test_seed_article_one_paragraph_per_line() -> None:
    text = SEED.read_text(encoding="utf-8")
    paragraphs = split_paragraphs(text)
    assert [text[s:e] for s, e in paragraphs] == [line.strip() for line in text.splitlines() if line.strip()]
    sentences = assert_exact(text)
    assert len(sentences) >= len(paragraphs)
    assert {s.paragraph for s in sentences} == set(range(1, len(paragraphs) + 1))
    assert sentences[-1].text.endswith("European partners.")


def test_hard_wrapped_paragraphs_keep_sentences_whole() -> None:
    seed = SEED.read_text(encoding="utf-8").splitlines()
    text = "\n\n".join(textwrap.fill(p, 60) for p in seed[:3]) + "\n"
    sentences = assert_exact(text)
    assert len(split_paragraphs(text)) == 3
    assert [s.paragraph for s in sentences] == [1, 2, 3]
    assert "\n" in sentences[0].text  # a sentence may span wrapped lines
    assert " ".join(sentences[0].text.split()).endswith("peace negotiations with Russia.")


def test_paragraph_numbers_and_sentence_numbers() -> None:
    text = "First para. Two sentences.\n\nSecond para here.\n"
    sentences = assert_exact(text)
    assert [(s.paragraph, s.sentence) for s in sentences] == [(1, 1), (1, 2), (2, 3)]


def test_control_characters_do_not_break_spans() -> None:
    text = "Hello\x0bworld. Bye\x0c now.\x01 Odd\x7f char. End\tof text."
    assert len(assert_exact(text)) >= 2


def test_long_paragraph_is_exact() -> None:
    # No windowing any more: sentencex is linear in the paragraph length.
    text = " ".join(f"Sentence number {i} says Mr. Smith paid $1.5 million." for i in range(400))
    sentences = assert_exact(text)
    assert len(sentences) == 400
    assert all(s.text.startswith("Sentence number") for s in sentences)


def test_paragraph_without_boundary_is_cut_at_the_length_cap() -> None:
    """Without a sentence end, a run is one sentence only up to MAX_SENTENCE_CHARS (1,000): then it is
    cut at a space (issue 11: a 2 MB text without punctuation printed 3.9 MB as one answer)."""
    text = "word " * 2000 + "end."
    pieces = [s.text for s in assert_exact(text)]
    assert len(pieces) == 11 and all(len(p) <= 1000 for p in pieces)
    assert " ".join(pieces) == text


@pytest.mark.parametrize("title", ["Mr", "Mrs", "Ms", "Mx", "Dr", "Prof", "Gen", "Gov", "Sen", "Rep", "Amb", "Atty"])
def test_title_before_a_name_never_ends_a_sentence(title: str) -> None:
    text = f"They agreed. {title}. Smith said so. Then {title}. Jones left."
    assert [s.text for s in assert_exact(text)] == ["They agreed.", f"{title}. Smith said so.", f"Then {title}. Jones left."]


def test_street_abbreviation_can_end_a_sentence() -> None:
    text = "His lab was near Foote Ave. and Kiowa St. He chose it for the power."
    assert [s.text for s in assert_exact(text)] == [
        "His lab was near Foote Ave. and Kiowa St.", "He chose it for the power."]


def test_misplaced_segment_is_found_and_unfindable_one_is_merged(monkeypatch: pytest.MonkeyPatch) -> None:
    def odd(chunk: str) -> list[dict]:
        return [
            {"start_index": 99, "end_index": 3, "text": "First sentence. "},  # bad offsets: found by text
            {"start_index": 16, "end_index": 33, "text": "SOMETHING ALTERED "},  # not in the text: merged
            {"start_index": 33, "end_index": 43, "text": "Third one."},
        ]

    monkeypatch.setattr(segment, "_boundaries", odd)
    text = "First sentence. Second sentence. Third one."
    assert [s.text for s in assert_exact(text)] == ["First sentence.", "Second sentence. Third one."]


def test_astral_characters_keep_offsets_exact() -> None:
    text = "Hi 😀 there. “Ok.” Next 🇺🇸 one. Café\u0301 done. End."
    assert [s.text for s in assert_exact(text)] == ["Hi 😀 there.", "“Ok.”", "Next 🇺🇸 one.", "Café\u0301 done.", "End."]


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab .?!\n\r\t“”\"'$%U.S.Mr…\x00\x0b")), max_size=300))
def test_spans_always_exact_and_cover_text(text: str) -> None:
    sentences = assert_exact(text)
    covered = "".join(s.text for s in sentences)
    paragraphs = "".join(text[s:e] for s, e in split_paragraphs(text))
    assert "".join(covered.split()) == "".join(paragraphs.split())
