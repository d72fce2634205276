"""What the feed commands and the poller show: pure functions from feeds and articles to embeds and text."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import discord

from index.feedpoll import NewArticle, PollReport
from index.feeds import Feed, ParsedFeed
from index.models import Figure

from .format import COLOUR, clip, escape, fit_lines, plain_clip, safe_url

PREVIEW_ITEMS = 5


def when(iso: str | None, *, never: str = "never") -> str:
    """An ISO time as a Discord timestamp that each reader sees in their own time zone ("2 hours ago")."""
    if not iso:
        return never
    try:
        return discord.utils.format_dt(datetime.fromisoformat(iso), "R")
    except ValueError:
        return escape(iso)


def link(title: str, url: str | None, limit: int = 200) -> str:
    shown = clip(title, limit)
    target = safe_url(url)
    return f"[{shown}]({target})" if target else shown


def preview_embed(feed: ParsedFeed, *, channel: str | None, interval_minutes: float | None) -> discord.Embed:
    """What /feed-add found at the URL, before the admin confirms."""
    embed = discord.Embed(title=clip(f"Follow “{feed.title}”?", 256), url=safe_url(feed.url), colour=COLOUR)
    lines = [f"• {link(item.title, item.link)}" + (f" ({when(item.published)})" if item.published else "")
             for item in feed.items[:PREVIEW_ITEMS]]
    latest = "\n".join(fit_lines(lines, 3000)) or "The feed has no items yet."
    more = len(feed.items) - PREVIEW_ITEMS
    where = (f"New articles will be announced in {channel} (a few per check, no pings)." if channel
             else "New articles will not be announced (give a channel to announce them).")
    embed.description = (f"{clip(feed.url, 300)}\n\n**Latest items**\n{latest}"
                         + (f"\n…and {more} more" if more > 0 else "")
                         + "\n\nIts articles will be added to this server's index, and the feed checked "
                         + (f"every {interval_minutes:g} minutes. " if interval_minutes
                            else "whenever the feeds are polled from the command line (automatic checks are off). ")
                         + where)
    return embed


def feeds_embed(feeds: Sequence[Feed], *, max_feeds: int, polling: bool) -> discord.Embed:
    """/feeds: each feed's title, channel, last check, last new article and last error."""
    embed = discord.Embed(title=f"Feeds ({len(feeds)} of {max_feeds})", colour=COLOUR)
    if not feeds:
        embed.description = "This server follows no feeds yet. Add one with /feed-add."
        return embed
    blocks = []
    for f in feeds:
        head = f"**{f.id}. {link(f.title, f.url, 150)}**" + (f" → <#{f.channel_id}>" if f.channel_id else "")
        body = (f"checked {when(f.checked_at)} · last new article {when(f.new_at)} · "
                f"{f.articles} article{'s' if f.articles != 1 else ''} in the index")
        if f.error:
            retry = discord.utils.format_dt(datetime.fromtimestamp(f.next_check).astimezone(), "R")
            body += f"\n⚠️ {clip(f.error, 300)} (failed {f.failures}× in a row; next try {retry})"
        blocks.append(f"{head}\n{body}")
    embed.description = "\n\n".join(fit_lines(blocks, 3900, "\n\n"))
    if not polling:
        embed.set_footer(text="Automatic checks are off (FEED_POLL_MINUTES=0).")
    return embed


def article_embed(article: NewArticle, figures: Sequence[Figure], *, feed_title: str) -> discord.Embed:
    """The "New: <title>" post, with the article's key figures."""
    embed = discord.Embed(title=clip(f"New: {article.title}", 256), url=safe_url(article.url), colour=COLOUR)
    lines = [f"**{clip(f.text, 80)}** — {clip(f.label, 200)}" for f in figures]
    embed.description = ("\n".join(fit_lines(lines, 1500)) if lines else "No key figures in this one.") + \
        "\n\nAsk me about it with /ask."
    embed.set_footer(text=plain_clip(f"From {feed_title}", 200))
    return embed


def more_text(count: int, feed_title: str) -> str:
    return plain_clip(f"…and {count} more new article{'s' if count != 1 else ''} from {escape(feed_title)} "
                      "(see /articles).", 2000)


def feeds_text(feeds: Sequence[Feed]) -> str:
    """``newsqa feed list`` for a terminal."""
    if not feeds:
        return "No feeds. Add one with `newsqa feed add URL`."
    out = []
    for f in feeds:
        out.append(f"{f.id}. {f.title}\n   {f.url}\n   checked {f.checked_at or 'never'}, last new article "
                   f"{f.new_at or 'never'}, {f.articles} articles in the index"
                   + (f"\n   last error ({f.failures}x in a row): {f.error}" if f.error else ""))
    return "\n".join(out)


def poll_text(report: PollReport) -> str:
    """``newsqa feed poll`` for a terminal."""
    lines = []
    for c in report.checks:
        state = (f"error: {c.error}" if c.error else "unchanged (304)" if c.unchanged else f"{c.queued} new items")
        lines.append(f"  {c.feed_id}. {c.title}: {state}")
    lines.append(f"added {len(report.added)} articles" + (f": {', '.join(a.doc_id for a in report.added)}"
                                                          if report.added else ""))
    for url, error in report.failed:
        lines.append(f"  could not add {url}: {error}")
    if report.duplicates:
        lines.append(f"{report.duplicates} duplicates skipped")
    if report.expired:
        lines.append(f"aged out: {', '.join(report.expired)}")
    if report.waiting:
        lines.append(f"{report.waiting} items wait for the next poll (FEED_ARTICLES_PER_POLL)")
    lines.append(f"({report.seconds:.1f} s)")
    return "\n".join(lines)
