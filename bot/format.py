"""Pure formatting: core results in, Discord message payloads out (no connection, no I/O).

Every piece of article or user text goes through :func:`escape` (markdown and mentions) and is cut
*before* escaping by :func:`clip`, so a cut never lands inside an escape sequence and the bold
``**…**`` around an answering sentence is always balanced. Each embed part is capped by the limits
in ``LIMITS`` and the budgets below add up to less than the 6000-character total.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from urllib.parse import quote

import discord

from bot.console import CLOSE_CALL, MISSING, NO_ANSWER  # the same words in Discord and in the console chat
from index.models import Answer, ChangeReport, DocumentInfo, Figure, Hit, IndexStats, Passage

COLOUR = discord.Colour.blurple()
ELLIPSIS = "…"


@dataclass(frozen=True)
class Limits:
    """Discord's limits (docs/DISCORD.md)."""

    content: int = 2000
    title: int = 256
    description: int = 4096
    fields: int = 25
    field_name: int = 256
    field_value: int = 1024
    footer: int = 2048
    author: int = 256
    total: int = 6000


LIMITS = Limits()

# Budgets of the answer embed: 256 + 2048 + 2 * (100 + 1024) + (8 + 1024) + 128 = 5712 < 6000.
TITLE_BUDGET = 256
LEAD_BUDGET = 2048
EXTRA_NAME_BUDGET = 100
SOURCES_BUDGET = 1024
FOOTER_BUDGET = 128

_SPECIAL = re.compile(r"([\\*_~|`\[\]<])")
_LINE_START = re.compile(r"^(\s*)([#>+-])", re.MULTILINE)  # headings, quotes, lists
_NUMBERED = re.compile(r"^(\s*\d+)\.", re.MULTILINE)  # "1." lists
_MENTION = re.compile(r"@(everyone|here|[!&]?[0-9]{15,21})")
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class Payload:
    """What to send: plain content and/or embeds (``allowed_mentions`` is always none)."""

    content: str | None = None
    embeds: tuple[discord.Embed, ...] = field(default_factory=tuple)

    def kwargs(self) -> dict:
        """Keyword arguments for ``send``/``send_message``/``edit`` (no mention can ping)."""
        out: dict = {"allowed_mentions": discord.AllowedMentions.none()}
        if self.content is not None:
            out["content"] = self.content
        out["embeds"] = list(self.embeds)
        return out


# ------------------------------------------------------------------ text primitives


def squash(text: str) -> str:
    """Collapse all whitespace (newlines included) to single spaces."""
    return _SPACE.sub(" ", text or "").strip()


def escape(text: str) -> str:
    """Escape every markdown character and defuse @everyone, @here, user and role mentions.

    Escaping is unconditional (unlike ``discord.utils.escape_markdown``'s default, which leaves a lone
    ``*`` alone) so that separately escaped pieces can be concatenated around our own ``**``.
    """
    text = _SPECIAL.sub(r"\\\1", text)
    text = _LINE_START.sub(r"\1\\\2", text)
    text = _NUMBERED.sub(r"\1\\.", text)
    # discord.utils.escape_mentions, also matching mentions whose "<" we have just escaped
    return _MENTION.sub("@\u200b\\1", text)


def _cut_right(text: str, n: int) -> str:
    """The first ``n`` characters, ending at a word boundary when one is near."""
    if n <= 0:
        return ""
    cut = text[:n]
    space = cut.rfind(" ")
    if space >= n * 0.7:
        cut = cut[:space]
    return cut.rstrip()


def _cut_left(text: str, n: int) -> str:
    if n <= 0:
        return ""
    cut = text[-n:]
    space = cut.find(" ")
    if 0 <= space <= n * 0.3:
        cut = cut[space + 1:]
    return cut.lstrip()


def clip(text: str, limit: int, *, left: bool = False) -> str:
    """``escape(text)`` cut to at most ``limit`` characters, with an ellipsis where text was dropped.

    The raw text is cut first and escaped afterwards, so no escape sequence is ever split. With
    ``left=True`` the beginning is dropped instead of the end.
    """
    if limit <= 0:
        return ""
    escaped = escape(text)
    if len(escaped) <= limit:
        return escaped
    n = min(len(text), limit)
    while n > 0:
        part = _cut_left(text, n) if left else _cut_right(text, n)
        out = ELLIPSIS + escape(part) if left else escape(part) + ELLIPSIS
        if len(out) <= limit:
            return out
        n -= max(1, (len(out) - limit + 1) // 2)
    return ELLIPSIS if limit >= 1 else ""


def plain_clip(text: str, limit: int) -> str:
    """Cut our own (already safe) text to ``limit`` characters."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + ELLIPSIS


def safe_url(url: str | None, limit: int = 512) -> str | None:
    """A URL usable inside a markdown link ``[..](url)``: http(s) only, no spaces or parentheses."""
    if not url or not url.startswith(("http://", "https://")):
        return None
    url = quote(url, safe=":/?#[]@!$&'*+,;=%~.-_")
    url = url.replace("(", "%28").replace(")", "%29")
    return url if len(url) <= limit else None


def quote_passage(context: str, start: int, end: int, limit: int) -> str:
    """``> context`` with ``context[start:end]`` (the answering sentence) in bold, within ``limit``.

    The sentence keeps priority; the text around it is trimmed from the far ends.
    """
    limit = max(limit, 12)
    if not 0 <= start <= end <= len(context):
        start, end = 0, len(context)
    before, sentence, after = squash(context[:start]), squash(context[start:end]), squash(context[end:])
    prefix = "> "
    if not sentence:
        return prefix + clip(squash(context), limit - len(prefix))
    bold = "**" + clip(sentence, limit - len(prefix) - 4) + "**"
    room = limit - len(prefix) - len(bold)
    left = clip(before, room // 2 - 1, left=True) if before and room // 2 - 1 > 0 else ""
    room -= len(left) + (1 if left else 0)
    right = clip(after, room - 1) if after and room - 1 > 0 else ""
    return prefix + " ".join(p for p in (left, bold, right) if p)


def hit_quote(hit: Hit, limit: int) -> str:
    """The quoted context window of a hit with its sentence in bold."""
    a, b = hit.start - hit.context_start, hit.end - hit.context_start
    if hit.context[a:b] != hit.text:
        found = hit.context.find(hit.text)
        a, b = (found, found + len(hit.text)) if found >= 0 else (0, len(hit.context))
    return quote_passage(hit.context, a, b, limit)


def citation_line(number: int, hit_or_figure: Hit | Figure | Passage, limit: int = 300) -> str:
    """``[n] Title, ¶p`` linked to the sentence when the source has a URL."""
    citation = hit_or_figure.citation
    if citation is None:
        return f"[{number}]"
    label = clip(f"{citation.title}, ¶{citation.paragraph}", min(limit - 20, 200))
    link = safe_url(citation.link or citation.url)
    text = f"[{number}] [{label}]({link})" if link else f"[{number}] {label}"
    if len(text) > limit:
        text = f"[{number}] {label}"
    return text


# ------------------------------------------------------------------ answers


def _question_title(question: str) -> str:
    return clip(squash(question), TITLE_BUDGET)


def answer_embed(answer: Answer, *, heading: str | None = None) -> discord.Embed:
    """The answer embed: best passage quoted, up to two more, numbered citations, confidence."""
    hits = answer.hits[:3]
    embed = discord.Embed(title=_question_title(answer.question), colour=COLOUR)
    lead = ""
    if heading:
        lead = plain_clip(heading, 200) + "\n"
    if hits:
        lead += hit_quote(hits[0], LEAD_BUDGET - len(lead) - 6) + " [1]"
    embed.description = lead or NO_ANSWER
    for number, hit in enumerate(hits[1:], 2):
        name = f"[{number}] " + clip(hit.citation.title, EXTRA_NAME_BUDGET - 5)
        embed.add_field(name=name, value=hit_quote(hit, LIMITS.field_value), inline=False)
    if hits:
        lines, used = [], 0
        for number, hit in enumerate(hits, 1):
            line = citation_line(number, hit, limit=SOURCES_BUDGET // len(hits) - 1)
            lines.append(line)
            used += len(line) + 1
        embed.add_field(name="Sources", value="\n".join(lines)[:SOURCES_BUDGET], inline=False)
    if answer.missing:  # declined however close: its confidence would only confuse
        footer = f"Closest passages, not an answer: the best one states no {MISSING[answer.missing]}"
    else:
        footer = f"Confidence {answer.confidence:.0%}"
    if answer.answered and answer.close_call:
        footer += " · close call between passages"
    elif not answer.answered and not answer.missing:
        footer += " · closest passages, not an answer"
    embed.set_footer(text=footer[:FOOTER_BUDGET])
    return embed


def answer_payload(answer: Answer) -> Payload:
    """The reply to a question: an answer embed, or the plain no-answer message.

    A close call (the best passage barely ahead of the next) is said first, so that the first passage
    is not taken for the answer."""
    if not answer.answered:
        return no_answer_payload(answer)
    return Payload(embeds=(answer_embed(answer, heading=CLOSE_CALL if answer.close_call else None),))


def no_answer_payload(answer: Answer) -> Payload:
    """A plain "not found" reply; the closest passages are offered behind a button, not shown."""
    text = NO_ANSWER
    if answer.missing:
        text += (f" The closest passages are behind the button below, but they state no "
                 f"{MISSING[answer.missing]}.")
    elif answer.hits:
        text += " The closest passages are behind the button below, but they don't answer it."
    else:
        text += " Try /articles to see what is indexed."
    return Payload(content=text)


def closest_payload(answer: Answer) -> Payload:
    """The closest passages of an unanswered question, clearly labelled as not an answer."""
    if not answer.hits:
        return Payload(content="There are no passages close to that question.")
    return Payload(embeds=(answer_embed(answer, heading="Closest passages (not an answer):"),))


# ------------------------------------------------------------------ other commands


def passage_embed(passage: Passage, *, limit: int = 3500) -> discord.Embed:
    """The full paragraph around a cited sentence, the sentence in bold; description within ``limit``."""
    embed = discord.Embed(title=clip(passage.title, LIMITS.title), colour=COLOUR)
    embed.description = quote_passage(passage.text, passage.sentence_start, passage.sentence_end, limit)
    embed.add_field(name="Source", value=citation_line(1, passage, limit=400).removeprefix("[1] "), inline=False)
    embed.set_footer(text=plain_clip(f"{passage.doc_id}:{passage.sentence} · paragraph {passage.paragraph}", 200))
    return embed


def passages_payload(passages: Sequence[Passage], *, intro: str | None = None) -> Payload:
    """Up to three paragraphs, one embed each, sharing the 6000-character budget."""
    passages = list(passages)[:3]
    if not passages:
        return Payload(content=intro or "No passage found.")
    # Each embed also carries a title (<= 256), a source field (<= 406) and a footer (<= 200).
    limit = min(3500, (LIMITS.total - 200) // len(passages) - 256 - 406 - 200)
    return Payload(content=intro, embeds=tuple(passage_embed(p, limit=limit) for p in passages))


def fit_lines(lines: Iterable[str], budget: int, sep: str = "\n") -> list[str]:
    """The leading ``lines`` whose join with ``sep`` stays within ``budget`` characters."""
    kept: list[str] = []
    used = 0
    for line in lines:
        cost = len(line) + (len(sep) if kept else 0)
        if used + cost > budget:
            break
        kept.append(line)
        used += cost
    return kept


def figures_embed(figures: Sequence[Figure], *, topic: str | None = None, limit: int = 10) -> discord.Embed:
    """Key figures, each with its label and numbered citation."""
    title = f"Key figures: {squash(topic)}" if topic else "Key figures"
    embed = discord.Embed(title=clip(title, LIMITS.title), colour=COLOUR)
    if not figures:
        embed.description = "No figures found" + (" for that topic." if topic else " in the indexed articles.")
        return embed
    lines = (f"**{clip(f.text, 80)}** — {clip(f.label, 200)}\n{citation_line(number, f, limit=300)}"
             for number, f in enumerate(figures[:limit], 1))
    embed.description = "\n\n".join(fit_lines(lines, 3800, "\n\n"))
    return embed


def figure_embed(figure: Figure, query: str) -> discord.Embed:
    """The one figure that answers a query, with its sentence and citation."""
    embed = discord.Embed(title=clip(f"{figure.text}", LIMITS.title), colour=COLOUR)
    at = figure.sentence_text.find(figure.text)
    span = (at, at + len(figure.text)) if at >= 0 else (0, len(figure.sentence_text))
    embed.description = (
        f"For: {clip(squash(query), 300)}\n**{clip(figure.text, 100)}** — {clip(figure.label, 300)}\n\n"
        + quote_passage(figure.sentence_text, *span, 2000)
    )
    embed.add_field(name="Source", value=citation_line(1, figure), inline=False)
    return embed


def document_dates(doc: DocumentInfo) -> str:
    """"published 2025-02-13 · added 2026-11-29": the article's own date when its page gave one, always
    labelled, apart from the day it was added here."""
    dates = []
    if doc.published:
        dates.append(f"published {clip(doc.published[:10], 10)}")
    if doc.added_at:
        dates.append(f"added {clip(doc.added_at[:10], 10)}")
    return " · ".join(dates) or "no date"


def articles_embed(docs: Sequence[DocumentInfo], *, limit: int = 20) -> discord.Embed:
    """The indexed documents with titles, dates and sizes."""
    embed = discord.Embed(title=f"Indexed articles ({len(docs)})", colour=COLOUR)
    if not docs:
        embed.description = "No articles are indexed yet."
        return embed
    def line(d: DocumentInfo) -> str:
        link = safe_url(d.url)
        name = clip(d.title, 150)
        name = f"[{name}]({link})" if link else name
        return f"**{name}**\n`{clip(d.doc_id, 64)}` · {document_dates(d)} · {d.sentences} sentences · {d.chars:,} chars"

    lines = fit_lines((line(d) for d in docs[:limit]), 3800, "\n\n")
    shown = len(lines)
    if shown < len(docs):
        lines.append(f"… and {len(docs) - shown} more")
    embed.description = "\n\n".join(lines)
    return embed


def document_change(before: DocumentInfo, after: DocumentInfo | None) -> str:
    """What replacing an article changed: its title, its length, or nothing."""
    if after is None:
        return "replaced"
    changes = []
    if squash(before.title) != squash(after.title):
        changes.append(f"title “{clip(squash(before.title), 60)}” → “{clip(squash(after.title), 60)}”")
    if before.sentences != after.sentences:
        changes.append(f"{before.sentences} → {after.sentences} sentences")
    elif before.chars != after.chars:
        changes.append(f"{before.chars:,} → {after.chars:,} chars")
    if before.url != after.url and after.url:
        changes.append("new URL")
    return ", ".join(changes) or "same title and length"


def report_text(action: str, report: ChangeReport, *, before: Sequence[DocumentInfo] = (),
                after: Sequence[DocumentInfo] = ()) -> str:
    """What a build/add/remove changed, in one line; ``before``/``after`` (the document lists around an
    add) say what changed in an updated article."""
    text = (
        f"{action}: the index now has {report.documents} documents, {report.sentences} sentences and "
        f"{report.figures} figures (took {report.seconds:.1f} s)."
    )
    if report.added:
        text += " Added: " + ", ".join(f"`{clip(d, 64)}`" for d in report.added[:10]) + "."
    if report.updated:
        old = {d.doc_id: d for d in before}
        new = {d.doc_id: d for d in after}
        text += " Updated: " + ", ".join(
            f"`{clip(d, 64)}`" + (f" ({document_change(old[d], new.get(d))})" if d in old else "")
            for d in report.updated[:10]) + "."
    if report.removed:
        text += " Removed: " + ", ".join(f"`{clip(d, 64)}`" for d in report.removed[:10]) + "."
    return plain_clip(text, LIMITS.content)


def progress_text(action: str, stage: str, done: int, total: int) -> str:
    """A progress line for a long admin action ("embedding" counts only sentences new to the index)."""
    if total and stage == "embedding":
        return f"{action}: embedding new sentences {done}/{total} ({done / total:.0%})…"
    if total:
        return f"{action}: {stage} {done}/{total} sentences ({done / total:.0%})…"
    return f"{action}: {stage}…"


def status_embed(stats: IndexStats, *, last_change: str | None, latency: dict) -> discord.Embed:
    """Index size, model, last reindex and answer latency."""
    embed = discord.Embed(title="newsqa status", colour=COLOUR)
    size = stats.extra.get("bytes_on_disk") or 0
    embed.add_field(name="Index", value=(
        f"corpus `{clip(stats.corpus, 64)}` (generation {stats.generation})\n{stats.documents} documents · "
        f"{stats.sentences} sentences · {stats.figures} figures\n{size / 1e6:.1f} MB on disk"), inline=False)
    embed.add_field(name="Model", value=clip(f"{stats.model} ({stats.dimension} dimensions, {stats.index_type})", 300),
                    inline=False)
    embed.add_field(name="Last reindex", value=clip(last_change or stats.built_at, 300), inline=False)
    if latency.get("count"):
        value = (f"median {latency['median_ms']:.0f} ms · p95 {latency['p95_ms']:.0f} ms over the last "
                 f"{latency['count']} questions")
    else:
        value = "no questions answered yet"
    embed.add_field(name="Answer latency", value=value, inline=False)
    return embed


def gaps_embed(rows: Sequence[dict], *, limit: int = 20) -> discord.Embed:
    """Recent unanswered or 👎 questions."""
    embed = discord.Embed(title="Questions the articles did not answer", colour=COLOUR)
    if not rows:
        embed.description = "No unanswered or 👎 questions recently."
        return embed
    lines = (
        f"• {clip(squash(row['question']), 200)} — "
        f"{'👎' if row.get('reason') == 'down' else 'unanswered'}, {row['when'][:16].replace('T', ' ')}"
        for row in rows[:limit]
    )
    embed.description = "\n".join(fit_lines(lines, 3800))
    embed.set_footer(text="Add articles that answer these with /add-article.")
    return embed


def embed_size_ok(embed: discord.Embed) -> bool:
    """True when ``embed`` is within every per-part limit and the total."""
    d = embed.to_dict()
    if len(d.get("title", "")) > LIMITS.title or len(d.get("description", "")) > LIMITS.description:
        return False
    fields = d.get("fields", [])
    if len(fields) > LIMITS.fields:
        return False
    for f in fields:
        if not f["name"] or not f["value"] or len(f["name"]) > LIMITS.field_name or len(f["value"]) > LIMITS.field_value:
            return False
    if len(d.get("footer", {}).get("text", "")) > LIMITS.footer:
        return False
    if len(d.get("author", {}).get("name", "")) > LIMITS.author:
        return False
    return len(embed) <= LIMITS.total
