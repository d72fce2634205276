"""bot.format as pure functions: core results in, Discord payloads out (no Discord connection)."""

from __future__ import annotations

import re

import discord
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot import format as fmt
from index.citations import make_citation
from index.models import Answer, DocumentInfo, Figure, Hit, Passage

PING = re.compile(r"@(everyone|here)|<@&\d+>|<@!?\d+>")


def make_hit(rank: int = 1, *, text: str = "Allies invested $485 billion in defense.", before: str = "He spoke.",
             after: str = "More is needed.", title: str = "NATO defense ministers", url: str | None = None) -> Hit:
    head = f"{before} " if before else ""
    context = head + text + (f" {after}" if after else "")
    start = len(head)
    return Hit(
        rank=rank, score=0.9, doc_id="nato", title=title, source="seeds/nato.txt", paragraph=7, sentence=8,
        start=100 + start, end=100 + start + len(text), text=text, context=context, context_start=100,
        context_end=100 + len(context),
        citation=make_citation(doc_id="nato", title=title, paragraph=7, sentence=8, source="seeds/nato.txt",
                               url=url, text=text),
    )


def all_text(payload: fmt.Payload) -> list[str]:
    out = [payload.content or ""]
    for e in payload.embeds:
        d = e.to_dict()
        out += [d.get("title", ""), d.get("description", ""), d.get("footer", {}).get("text", ""),
                d.get("author", {}).get("name", "")]
        out += [f["name"] for f in d.get("fields", [])] + [f["value"] for f in d.get("fields", [])]
    return out


def assert_safe(payload: fmt.Payload) -> None:
    assert len(payload.content or "") <= 2000
    assert len(payload.embeds) <= 10
    assert sum(len(e) for e in payload.embeds) <= 6000
    for e in payload.embeds:
        assert fmt.embed_size_ok(e), e.to_dict()
    for text in all_text(payload):
        assert not PING.search(text), text
    assert payload.kwargs()["allowed_mentions"].to_dict() == {"parse": []}


def bold_balanced(text: str) -> bool:
    """Unescaped ``**`` come in pairs (escaped characters are skipped)."""
    unescaped = re.sub(r"\\.", "x", text)
    return unescaped.count("**") % 2 == 0 and "***" not in unescaped


def test_answer_payload_quotes_best_passage_in_bold_with_numbered_citations():
    hits = (make_hit(1, url="https://example.com/nato"), make_hit(2, text="Two-thirds spend 2%."),
            make_hit(3, text="Rutte wants 3%."))
    payload = fmt.answer_payload(Answer("How much?", True, 0.81, hits))
    (embed,) = payload.embeds
    assert payload.content is None
    assert "**Allies invested $485 billion in defense.**" in embed.description
    assert embed.description.startswith("> He spoke.")
    assert [f.name for f in embed.fields] == ["[2] NATO defense ministers", "[3] NATO defense ministers", "Sources"]
    sources = embed.fields[-1].value.splitlines()
    assert sources[0].startswith("[1] [NATO defense ministers, ¶7](https://example.com/nato#:~:text=")
    assert sources[1] == "[2] NATO defense ministers, ¶7"
    assert embed.footer.text == "Confidence 81%"
    assert_safe(payload)


def test_no_answer_is_plain_text_without_passages():
    payload = fmt.answer_payload(Answer("Capital of Peru?", False, 0.2, (make_hit(),)))
    assert payload.embeds == ()
    assert payload.content.startswith(fmt.NO_ANSWER)
    assert "$485" not in payload.content
    closest = fmt.closest_payload(Answer("Capital of Peru?", False, 0.2, (make_hit(),)))
    assert "not an answer" in closest.embeds[0].description
    assert "not an answer" in closest.embeds[0].footer.text


def test_a_passage_declined_for_a_missing_value_says_what_it_lacks_not_its_confidence():
    answer = Answer("How much will the talks cost?", False, 0.97, (make_hit(text="Talks could start at once."),),
                    missing="money")
    payload = fmt.answer_payload(answer)
    assert payload.embeds == () and payload.content.startswith(fmt.NO_ANSWER)
    assert "state no amount of money" in payload.content
    footer = fmt.closest_payload(answer).embeds[0].footer.text
    assert footer == "Closest passages, not an answer: the best one states no amount of money"
    assert "97%" not in footer


@pytest.mark.parametrize("text", ["@everyone look", "@here", "<@&123456789012345678>", "<@123456789012345678>"])
def test_mentions_in_article_text_are_defused(text):
    payload = fmt.answer_payload(Answer(f"{text}?", True, 0.9, (make_hit(text=f"Says {text} now.", title=text),)))
    assert_safe(payload)


def test_markdown_in_article_text_is_escaped_and_bold_stays_balanced():
    hit = make_hit(text="A *lone star, `code`, __under__ and a trailing backslash \\", before="# Heading [x](http://e)",
                   after="> not a quote ||spoiler||")
    payload = fmt.answer_payload(Answer("q", True, 0.9, (hit,)))
    desc = payload.embeds[0].description
    assert "\\*lone star" in desc and "\\`code\\`" in desc and "\\_\\_under\\_\\_" in desc
    assert "\\[x\\]" in desc and "\\|\\|spoiler\\|\\|" in desc
    assert bold_balanced(desc)
    assert desc.count("**") == 2


def test_very_long_sentence_and_title_fit_every_limit():
    hit = make_hit(text="word " * 3000 + "end.", title="T" * 5000, before="b " * 2000, after="a " * 2000,
                   url="https://example.com/" + "x" * 3000)
    payload = fmt.answer_payload(Answer("q" * 5000, True, 0.9, (hit, hit, hit)))
    assert_safe(payload)
    desc = payload.embeds[0].description
    assert desc.startswith("> **word") and bold_balanced(desc)


def test_clip_never_splits_an_escape():
    text = "*" * 100
    for limit in range(1, 60):
        out = fmt.clip(text, limit)
        assert len(out) <= limit
        assert not re.sub(r"\\.", "", out.removesuffix(fmt.ELLIPSIS)), out  # only whole escape pairs


def test_other_embeds_fit():
    cit = make_citation(doc_id="d", title="T" * 400, paragraph=1, sentence=2, source="s", url=None, text="x")
    passage = Passage(doc_id="d", title="T" * 400, paragraph=1, sentence=2, text="p " * 5000, sentence_start=10,
                      sentence_end=30, citation=cit)
    assert_safe(fmt.passages_payload([passage] * 3))
    fig = Figure(doc_id="d", text="$485 billion" * 50, value=4.85e11, unit="USD", kind="money", label="l" * 900,
                 paragraph=1, sentence=2, start=0, end=12, citation=cit, sentence_text="s" * 5000)
    assert_safe(fmt.Payload(embeds=(fmt.figures_embed([fig] * 30, topic="@everyone" * 50),)))
    assert_safe(fmt.Payload(embeds=(fmt.figure_embed(fig, "@here " * 100),)))
    doc = DocumentInfo(doc_id="d" * 64, title="@everyone " * 50, source="s", url="https://e.com/" + "x" * 600,
                       published="2025-02-13", sentences=3, figures=1, chars=100, added_at="2025-02-13T00:00:00")
    assert_safe(fmt.Payload(embeds=(fmt.articles_embed([doc] * 60),)))
    assert_safe(fmt.Payload(embeds=(fmt.gaps_embed([{"question": "@here " * 100, "reason": "down",
                                                     "when": "2025-01-01T00:00:00"}] * 40),)))


def test_safe_url_refuses_non_http_and_parentheses():
    assert fmt.safe_url("javascript:alert(1)") is None
    assert fmt.safe_url("https://e.com/a (b)") == "https://e.com/a%20%28b%29"


PIECES = list("*_~|`\\[]()<>#-@!&:.1 \n") + ["@everyone", "@here", "<@&123456789012345678>", "**", "http://x.y/", "a"]
texts = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=3000) | st.lists(
    st.sampled_from(PIECES), max_size=300
).map("".join)
long_texts = st.builds(lambda t, n: t * n, texts, st.integers(1, 8))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=long_texts, title=long_texts, question=texts, before=texts, after=texts, answered=st.booleans(),
       n=st.integers(1, 3), url=st.none() | st.just("https://example.com/a_b(c)"))
def test_property_every_answer_fits_and_cannot_ping(text, title, question, before, after, answered, n, url):
    text = text if text.strip() else "x"
    hits = tuple(make_hit(i, text=text, before=before, after=after, title=title or "t", url=url)
                 for i in range(1, n + 1))
    answer = Answer(question or "q", answered, 0.5, hits)
    for payload in (fmt.answer_payload(answer), fmt.closest_payload(answer)):
        assert_safe(payload)
        for e in payload.embeds:
            assert bold_balanced(e.description or "")
            for f in e.fields:
                assert bold_balanced(f.value)


def test_payload_kwargs_never_allow_mentions():
    kwargs = fmt.Payload(content="hi").kwargs()
    assert kwargs["allowed_mentions"].to_dict() == discord.AllowedMentions.none().to_dict() == {"parse": []}


def test_close_call_says_it_is_unsure_before_the_first_passage():
    hits = (make_hit(1), make_hit(2, text="Two-thirds spend 2%."))
    sure = fmt.answer_payload(Answer("How much?", True, 0.81, hits)).embeds[0]
    unsure = fmt.answer_payload(Answer("How much?", True, 0.81, hits, close_call=True)).embeds[0]
    assert fmt.CLOSE_CALL not in sure.description and "close call" not in sure.footer.text
    assert unsure.description.startswith(fmt.CLOSE_CALL + "\n> He spoke.")
    assert "**Allies invested $485 billion in defense.**" in unsure.description
    assert unsure.footer.text == "Confidence 81% · close call between passages"
