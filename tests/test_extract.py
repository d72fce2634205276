"""Real news pages in, article sentences out (index/extract.py through index.documents.load_path).

The pages in tests/data/pages are whole saved pages with their hand-checked bodies (see SOURCE.md there).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from index.documents import load_path
from index.extract import Block, article_blocks, normalize, strip_site_name, wrap_leading_text
from index.search import heading_flags
from index.segment import split_sentences

PAGES = Path(__file__).resolve().parent / "data" / "pages"


def _squeeze(text: str) -> str:
    return normalize(text).replace(" ", "")


def _answerable(doc) -> list[str]:
    flags = heading_flags(doc.title, doc.text, doc.sentences, doc.paragraphs)
    return [s.text for s, heading in zip(doc.sentences, flags) if not heading]


@pytest.mark.parametrize("page", sorted(p.stem for p in PAGES.glob("*.html")))
def test_page_keeps_the_body_and_nothing_else(page: str) -> None:
    doc = load_path(PAGES / f"{page}.html")
    body = (PAGES / "bodies" / f"{page}.txt").read_text(encoding="utf-8")
    kept = _squeeze(doc.text)
    body_sentences = [s.text for s in split_sentences(body) if any(c.isalnum() for c in s.text)]
    recalled = [s for s in body_sentences if _squeeze(s) in kept]
    assert len(recalled) / len(body_sentences) >= 0.9, [s for s in body_sentences if s not in recalled]
    squeezed_body = _squeeze(body)
    extra = [s for s in _answerable(doc) if _squeeze(s) not in squeezed_body]
    assert extra == []


def test_headline_is_the_title_not_a_sentence() -> None:
    doc = load_path(PAGES / "foxbusiness-home-depot-earnings.html")
    assert doc.title == "Home Depot sales miss, shares plunge"
    assert "Home Depot sales miss, shares plunge" not in doc.text
    assert all("GET FOX BUSINESS" not in s for s in _answerable(doc))


def test_table_rows_become_lines_of_text() -> None:
    doc = load_path(PAGES / "foxbusiness-home-depot-earnings.html")
    assert "HD THE HOME DEPOT INC. 225.86 -12.99 -5.44%" in doc.text
    assert "|" not in doc.text


def test_hidden_copies_of_the_article_are_dropped() -> None:
    doc = load_path(PAGES / "businessinsider-10-things-in-tech.html")
    assert doc.text.count("T-Mobile CEO John Legere is stepping down") == 1
    assert "Reuters" not in doc.text.split("\n\n")[0]  # the photo caption with its credit is gone
    assert "datePublished" not in doc.text and "2019-11-19T08:57" not in doc.text


def test_question_subheadings_stay_as_context_but_are_never_answers() -> None:
    doc = load_path(PAGES / "bbc-assange-sweden-drops-investigation.html")
    assert "## What did the prosecutors say?" in doc.text
    answerable = _answerable(doc)
    assert not any(s.endswith("?") and "prosecutors say" in s for s in answerable)
    assert any("seven witnesses" in s for s in answerable)


def test_lead_before_the_first_line_break_is_kept() -> None:
    # trafilatura alone drops this page's first paragraph, the text before the first <br> of its <div>.
    doc = load_path(PAGES / "macrumors-13-inch-macbook-pro-scissor.html")
    assert doc.text.startswith("Following the 16-inch MacBook Pro, Apple plans to release a new 13-inch MacBook Pro")
    assert "A preview of the report was shared with paying subscribers." in doc.text


def test_wrap_leading_text_moves_the_lead_and_its_inline_elements_into_a_paragraph() -> None:
    from lxml import html

    div = html.fromstring('<div>Lead text by <em><a href="#">a paper</a></em>. More.<br><br>Second.<img src="x"></div>')
    wrap_leading_text(div.getroottree())
    first = div[0]
    assert first.tag == "p" and first.text_content() == "Lead text by a paper. More."
    assert [c.tag for c in div] == ["p", "br", "br", "img"] and div.text is None
    plain = html.fromstring("<div>No line breaks here.</div>")
    wrap_leading_text(plain.getroottree())
    assert plain.text == "No line breaks here." and len(plain) == 0


def test_title_drops_the_site_name() -> None:
    assert strip_site_name("Sweden Drops Its Investigation Into Rape Allegation | Al Bawaba", "Al Bawaba") == (
        "Sweden Drops Its Investigation Into Rape Allegation")
    assert strip_site_name("Browns player on Rudolph: He asked for it", None) == "Browns player on Rudolph: He asked for it"
    assert strip_site_name("Home Depot sales miss - Fox Business", "Fox Business") == "Home Depot sales miss"


def _xml(markup: str):
    from lxml import etree

    return etree.fromstring(markup)


def test_furniture_blocks_are_dropped_and_shouted_subheadings_become_headings() -> None:
    body = _xml(
        "<body><head rend='h1'>Storm hits the coast</head><p class='article__meta'>5:45 AM PST by Jane Roe</p>"
        "<p>The storm hit the coast on Monday, officials said.</p><p>Write to Jane Roe at jane@example.com</p>"
        "<p>WHAT HAPPENS NEXT?</p><p>Crews will clear roads by Friday.</p><p>https://example.com/story</p>"
        "<p>The storm hit the coast on Monday, officials said.</p><p>___</p><p>Explore further</p>"
        "<list><item><head rend='h3'>Other story</head><head rend='h4'>Its dek</head></item></list></body>"
    )
    blocks = article_blocks(body, "Storm hits the coast")
    assert blocks == [
        Block("paragraph", "The storm hit the coast on Monday, officials said."),
        Block("heading", "WHAT HAPPENS NEXT?", 3),
        Block("paragraph", "Crews will clear roads by Friday."),
    ]


def test_text_headline_line_is_marked_never_an_answer(tmp_path: Path) -> None:
    path = tmp_path / "storm.txt"
    path.write_text("Storm hits the coast\n\nThe storm hit the coast on Monday.\n\nWhy did it happen?\n\n"
                    "Warm water fed it, forecasters said.\n", encoding="utf-8")
    doc = load_path(path)
    flags = heading_flags(doc.title, doc.text, doc.sentences, doc.paragraphs)
    marked = [s.text for s, f in zip(doc.sentences, flags) if f]
    assert marked == ["Storm hits the coast", "Why did it happen?"]
    assert not re.search(r"Storm hits", doc.text[doc.sentences[1].start:])
