"""The feed embeds and texts, without Discord: limits, escaping, times shown as Discord timestamps."""

from __future__ import annotations

from bot.feedformat import article_embed, feeds_embed, more_text, preview_embed
from bot.format import embed_size_ok
from index.feedpoll import NewArticle
from index.feeds import Feed, FeedItem, ParsedFeed
from index.models import Figure


def feed(n: int, **changes) -> Feed:
    base = dict(id=n, corpus="1", url=f"https://example.com/{n}.xml", title=f"Feed {n} " + "x" * 200,
                channel_id=None, added_at="2026-01-01T00:00:00+00:00", added_by="boss", etag=None,
                last_modified=None, checked_at="2026-01-02T00:00:00+00:00", new_at=None, error=None, error_at=None,
                failures=0, checks=1, next_check=1.8e9, articles=n)
    return Feed(**(base | changes))


def test_preview_lists_the_latest_items_and_stays_within_discord_limits():
    items = tuple(FeedItem(link=f"https://example.com/a/{n}", title=f"Story *{n}* @everyone " + "y" * 300,
                           published="2026-01-01T10:00:00+00:00") for n in range(40))
    embed = preview_embed(ParsedFeed(url="https://example.com/f.xml", title="Herald", items=items),
                          channel="<#5>", interval_minutes=30)
    assert embed_size_ok(embed) and len(embed.description) <= 4096
    assert embed.description.count("• ") == 5 and "…and 35 more" in embed.description
    assert "@everyone" not in embed.description and r"\*0\*" in embed.description
    assert "<t:1767261600:R>" in embed.description and "<#5>" in embed.description


def test_feeds_listing_shows_errors_and_fits_twenty_long_feeds():
    feeds = [feed(n) for n in range(1, 21)]
    feeds[3] = feed(4, error="refused https://x/: 10.0.0.1 is a private address", failures=2, channel_id=77)
    embed = feeds_embed(feeds, max_feeds=20, polling=False)
    assert embed_size_ok(embed)
    assert embed.title == "Feeds (20 of 20)"
    assert "⚠️ refused https://x/: 10.0.0.1 is a private address (failed 2× in a row" in embed.description
    assert "→ <#77>" in embed.description and "last new article never" in embed.description
    assert embed.footer.text.startswith("Automatic checks are off")
    assert "follows no feeds" in feeds_embed([], max_feeds=20, polling=True).description


def test_new_article_post_has_key_figures_and_no_mentions():
    article = NewArticle(doc_id="budget", title="@everyone Budget passes", url="https://example.com/budget",
                         feed_id=1, announce=True)
    figure = Figure(doc_id="budget", text="$7 million", value=7e6, unit="USD", kind="money",
                    label="city budget", paragraph=1, sentence=1, start=0, end=10)
    embed = article_embed(article, [figure], feed_title="Herald")
    assert embed.title.startswith("New: ") and "@everyone" not in embed.title
    assert "**$7 million** — city budget" in embed.description
    assert embed.url == "https://example.com/budget" and embed.footer.text == "From Herald"
    assert more_text(2, "Herald") == "…and 2 more new articles from Herald (see /articles)."
