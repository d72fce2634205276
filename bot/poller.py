"""The feed poller inside the bot process: checks due feeds every minute and announces new articles.

A poll of one server's feeds runs in the poller's own thread (``index.feedpoll.poll_corpus``), at a lower
CPU priority, with its own copy of the model to embed new articles: the event loop stays free, the
cores and the engine's encoder go to questions first, and questions are answered from the old index
until the new articles are in. One poll at a time; no failure stops the loop (each is logged, and a feed's own errors are kept for
/feeds). A feed added with /feed-add is polled at once, outside this schedule.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import logging
from collections import defaultdict

import discord

from index.embed import Encoder, SentenceTransformerEncoder
from index.feedpoll import PollReport, lower_priority, poll_corpus
from index.feeds import Feed, FeedStore

from .app import CorpusRebuildingError, NewsQABot, serves
from .feedformat import article_embed, more_text

log = logging.getLogger(__name__)

TICK = 60.0  # seconds between looks for due feeds (each feed has its own schedule)
FIRST_LOOK = 30.0  # seconds after start-up before the first look


class FeedPoller:
    """Polls every server's due feeds in the background; ``poll`` runs one server's poll now."""

    def __init__(self, bot: NewsQABot, store: FeedStore) -> None:
        self.bot = bot
        self.store = store
        self.polls = 0  # completed polls (for tests and logs)
        self._task: asyncio.Task[None] | None = None
        self._locks: dict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="feed-poll",
                                                               initializer=lower_priority)
        self._embedder: Encoder | None = None

    def start(self) -> None:
        if self._task is None and self.bot.settings.feed_poll_minutes > 0:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="feed-poller")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
        self._executor.shutdown(wait=False, cancel_futures=True)

    def _poll_blocking(self, corpus: str, feeds: list[Feed] | None) -> PollReport:
        engine = self.bot.engine
        if self._embedder is None and isinstance(engine.encoder, SentenceTransformerEncoder):
            # A second copy of the model (~90 MB) so that embedding a poll's articles never holds the
            # engine's encoder, which questions need.
            self._embedder = SentenceTransformerEncoder(self.bot.settings.embed_model)
        return poll_corpus(engine, self.store, corpus, self.bot.settings.feed_polling(), feeds=feeds,
                           embedder=self._embedder)

    async def _run(self) -> None:
        delay = FIRST_LOOK
        while True:
            await asyncio.sleep(delay)
            delay = TICK
            try:
                await self.poll_due()
            except asyncio.CancelledError:
                raise
            except Exception:  # the loop must outlive any bug in one round
                log.exception("feed poll round failed; trying again in %.0f s", TICK)

    async def poll_due(self) -> list[PollReport]:
        """Poll every server that has feeds due now."""
        due = await self.bot.run_blocking(self.store.due)
        reports = []
        for corpus, feeds in due.items():
            if not serves(self.bot.settings, int(corpus) if corpus.isdigit() else None):
                continue  # another process's shard polls it (one poll, one "New:" post per feed)
            report = await self.poll(corpus, feeds)
            if report is not None:
                reports.append(report)
        return reports

    async def poll(self, corpus: str, feeds: list[Feed] | None = None) -> PollReport | None:
        """Poll one corpus's feeds (default: its due ones) and announce what came in; None if it could not run."""
        guild_id = int(corpus) if corpus.isdigit() else None
        async with self._locks[corpus]:
            try:
                if guild_id is not None:
                    await self.bot.corpus_ready(guild_id)  # a server's corpus starts from the seeds
                report = await asyncio.get_running_loop().run_in_executor(
                    self._executor, functools.partial(self._poll_blocking, corpus, feeds))
            except CorpusRebuildingError:
                log.info("corpus %s is being rebuilt; its feeds are polled next time", corpus)
                return None
            except Exception:
                log.exception("polling the feeds of corpus %s failed; trying again next time", corpus)
                return None
            finally:
                self.polls += 1
        await self.announce(report)
        return report

    async def announce(self, report: PollReport) -> None:
        """Post "New: <title>" for new articles in their feed's channel: a few per feed, the rest in one line."""
        limit = self.bot.settings.feed_posts_per_poll
        fresh = [a for a in report.added if a.announce and a.feed_id is not None]
        if not fresh or limit <= 0:
            return
        feeds = {f.id: f for f in await self.bot.run_blocking(self.store.feeds, report.corpus)}
        by_feed: dict[int, list] = defaultdict(list)
        for article in fresh:
            by_feed[article.feed_id].append(article)
        for feed_id, articles in by_feed.items():
            feed = feeds.get(feed_id)
            if feed is None or not feed.channel_id:
                continue
            channel = self.bot.get_channel(feed.channel_id)
            if channel is None or not hasattr(channel, "send"):
                log.warning("feed %s: channel %s is gone or not a text channel; not announcing", feed_id,
                            feed.channel_id)
                continue
            try:
                for article in articles[:limit]:
                    figures = await self.bot.run_blocking(self.bot.engine.figures, corpus=report.corpus,
                                                          doc_id=article.doc_id, limit=3)
                    await channel.send(embed=article_embed(article, figures, feed_title=feed.title),
                                       allowed_mentions=discord.AllowedMentions.none())
                if len(articles) > limit:
                    await channel.send(more_text(len(articles) - limit, feed.title),
                                       allowed_mentions=discord.AllowedMentions.none())
            except discord.HTTPException as exc:
                log.warning("could not announce new articles of feed %s in channel %s: %s", feed_id,
                            feed.channel_id, exc)
            except Exception:
                log.exception("announcing new articles of feed %s failed", feed_id)
