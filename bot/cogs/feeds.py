"""News feeds: /feed-add, /feed-remove and /feeds (admins; each change is audited), and the poller.

/feed-add fetches the URL (through the same safe fetcher as /add-article), shows the feed's title and
latest items, and subscribes only when the admin confirms; the feed's articles then come in at once.
/feed-remove asks whether to keep the feed's articles in the index or remove them with it.
"""

from __future__ import annotations

import asyncio
import logging

import discord
from discord import app_commands
from discord.ext import commands

from index.errors import NewsQAError
from index.feedpoll import unsubscribe
from index.feeds import Feed, FeedError, FeedFetch, FeedStore, fetch_feed

from ..app import NewsQABot, admin_only, error_text, report_error
from ..feedformat import feeds_embed, preview_embed
from ..format import Payload, escape, plain_clip, squash
from ..poller import FeedPoller
from ..stores import open_feed_store

log = logging.getLogger(__name__)

CONFIRM_SECONDS = 300.0


class OwnerView(discord.ui.View):
    """Buttons only the admin who ran the command may press."""

    def __init__(self, owner_id: int) -> None:
        super().__init__(timeout=CONFIRM_SECONDS)
        self.owner_id = owner_id

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        if interaction.user.id != self.owner_id:
            await interaction.response.send_message("These buttons belong to the admin who ran the command.",
                                                    ephemeral=True)
            return False
        return True

    async def on_error(self, interaction: discord.Interaction, error: Exception, item: discord.ui.Item) -> None:
        await report_error(interaction, error)


class ConfirmFeed(OwnerView):
    """Follow / Cancel under a /feed-add preview."""

    def __init__(self, cog: Feeds, owner_id: int, corpus: str, fetched: FeedFetch, channel_id: int | None) -> None:
        super().__init__(owner_id)
        self.cog, self.corpus, self.fetched, self.channel_id = cog, corpus, fetched, channel_id
        self.interaction: discord.Interaction | None = None  # the /feed-add whose message shows the preview

    async def on_timeout(self) -> None:
        if self.interaction is None:
            return
        try:
            await self.interaction.edit_original_response(
                content=f"Not followed: nobody pressed Follow within {CONFIRM_SECONDS / 60:g} minutes.", view=None)
        except discord.HTTPException as exc:
            log.info("could not close an expired /feed-add preview: %s", exc)

    @discord.ui.button(label="Follow", style=discord.ButtonStyle.success)
    async def follow(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        bot = self.cog.bot
        feed_info = self.fetched.feed
        assert feed_info is not None
        feed = await bot.run_blocking(self.cog.store.add_feed, self.corpus, self.fetched.url, feed_info.title,
                                      channel_id=self.channel_id, added_by=str(interaction.user),
                                      max_feeds=bot.settings.max_feeds)
        self.stop()
        every = bot.settings.feed_poll_minutes
        schedule = (f"I check it every {every:g} minutes" if every > 0
                    else "Automatic checks are off (FEED_POLL_MINUTES=0), so later articles come in only when "
                         "the feeds are polled from the command line")
        await interaction.response.edit_message(
            content=f"Following **{escape(feed.title)}** (feed {feed.id}). Its latest articles are being added now; "
                    f"{schedule}. See /feeds.", embed=None, view=None)
        await bot.audit(interaction, "feed-add", f"{feed.url} “{plain_clip(squash(feed.title), 100)}”"
                        + (f" announcing in <#{self.channel_id}>" if self.channel_id else ""))
        self.cog.poll_soon(self.corpus, feed)

    @discord.ui.button(label="Cancel", style=discord.ButtonStyle.secondary)
    async def cancel(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        self.stop()
        await interaction.response.edit_message(content="Not followed.", embed=None, view=None)


class ConfirmRemove(OwnerView):
    """Keep / remove the articles of a feed being removed."""

    def __init__(self, cog: Feeds, owner_id: int, corpus: str, feed: Feed) -> None:
        super().__init__(owner_id)
        self.cog, self.corpus, self.feed = cog, corpus, feed
        self.keep.label = f"Remove the feed, keep its {feed.articles} articles"
        self.drop.label = f"Remove the feed and its {feed.articles} articles"

    @discord.ui.button(label="keep", style=discord.ButtonStyle.primary)
    async def keep(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        self.stop()
        await self.cog.remove(interaction, self.corpus, self.feed, keep_articles=True)

    @discord.ui.button(label="drop", style=discord.ButtonStyle.danger)
    async def drop(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        self.stop()
        await self.cog.remove(interaction, self.corpus, self.feed, keep_articles=False)

    @discord.ui.button(label="Cancel", style=discord.ButtonStyle.secondary)
    async def cancel(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        self.stop()
        await interaction.response.edit_message(content="Nothing removed.", view=None)


class Feeds(commands.Cog):
    """Follow news feeds (admins: Manage Server or a role in ADMIN_ROLE_IDS)."""

    def __init__(self, bot: NewsQABot) -> None:
        self.bot = bot
        self.store: FeedStore | None = None
        self.poller: FeedPoller | None = None
        self._background: set[asyncio.Task] = set()
        if bot.settings.admin_role_ids:  # as in the admin cog: role admins may lack Manage Server
            for command in self.get_app_commands():
                command.default_permissions = None

    async def cog_load(self) -> None:
        if self.bot.engine is None:  # `newsqa sync` loads the cogs for their commands only
            return
        self.store = open_feed_store(self.bot.settings, self.bot.engine.index_dir)
        self.poller = FeedPoller(self.bot, self.store)
        self.poller.start()

    async def cog_unload(self) -> None:
        if self.poller is not None:
            await self.poller.stop()
        for task in list(self._background):
            task.cancel()
        if self.store is not None:
            self.store.close()

    def poll_soon(self, corpus: str, feed: Feed) -> None:
        """Poll a newly added feed in the background (its articles come in without waiting for the schedule)."""
        assert self.poller is not None
        task = asyncio.get_running_loop().create_task(self.poller.poll(corpus, [feed]))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _store(self) -> FeedStore:
        if self.store is None:
            raise FeedError("feeds are not available in this process")
        return self.store

    # ------------------------------------------------------------ commands

    @app_commands.command(name="feed-add", description="Follow a news feed: its new articles are added automatically (admins)")
    @app_commands.describe(url="The feed's address (RSS or Atom), or a news site's page that links to its feed",
                           channel="Where to post “New: <title>” for each new article (optional; nobody is pinged)")
    @app_commands.default_permissions(manage_guild=True)
    @app_commands.guild_only()
    @admin_only()
    async def feed_add(self, interaction: discord.Interaction, url: app_commands.Range[str, 1, 2000],
                       channel: discord.TextChannel | None = None) -> None:
        """Check the feed and show what it holds; subscribing needs a click on Follow."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        try:
            embed, view = await self._preview(interaction, url.strip(), channel)
        except NewsQAError as exc:  # said in place of "thinking…", like every refusal of an admin command
            await interaction.edit_original_response(content=error_text(exc), embed=None, view=None)
            return
        await interaction.edit_original_response(content=None, embed=embed, view=view,
                                                 allowed_mentions=discord.AllowedMentions.none())

    async def _preview(self, interaction: discord.Interaction, url: str, channel: discord.TextChannel | None
                       ) -> tuple[discord.Embed, ConfirmFeed]:
        store, settings = self._store(), self.bot.settings
        corpus = await self.bot.writable_corpus(interaction.guild_id)
        feeds = await self.bot.run_blocking(store.feeds, corpus)
        if len(feeds) >= settings.max_feeds:
            raise FeedError(f"this server already follows {len(feeds)} feed{'s' if len(feeds) != 1 else ''}, "
                            f"the limit (MAX_FEEDS={settings.max_feeds}); remove one with /feed-remove first")
        if channel is not None:
            me = interaction.guild.me if interaction.guild else None
            perms = channel.permissions_for(me) if me is not None else None
            if perms is not None and not (perms.send_messages and perms.embed_links):
                raise FeedError(f"I can't post in {channel.mention}: give me Send Messages and Embed Links there, "
                                "or pick another channel")
        await interaction.edit_original_response(content="Fetching the feed…")
        fetched = await self.bot.run_blocking(fetch_feed, url, max_bytes=settings.max_upload_bytes,
                                              timeout=settings.fetch_timeout, allow_private=settings.allow_private_urls,
                                              discover=True)
        assert fetched.feed is not None
        if any(f.url == fetched.url for f in feeds):
            raise FeedError(f"this server already follows {fetched.url}")
        view = ConfirmFeed(self, interaction.user.id, corpus, fetched, channel.id if channel else None)
        view.interaction = interaction
        embed = preview_embed(fetched.feed, channel=channel.mention if channel else None,
                              interval_minutes=settings.feed_poll_minutes or None)
        return embed, view

    @app_commands.command(name="feed-remove", description="Stop following a feed; you choose whether its articles stay (admins)")
    @app_commands.describe(feed="The feed to stop following (start typing its title)")
    @app_commands.default_permissions(manage_guild=True)
    @app_commands.guild_only()
    @admin_only()
    async def feed_remove(self, interaction: discord.Interaction, feed: app_commands.Range[str, 1, 2000]) -> None:
        """Asks whether to keep the feed's articles (when it brought any)."""
        corpus = await self.bot.writable_corpus(interaction.guild_id)
        found = await self.bot.run_blocking(self._store().feed, corpus, feed)
        if found.articles == 0:
            await self.remove(interaction, corpus, found, keep_articles=True)
            return
        await interaction.response.send_message(
            f"Stop following **{escape(found.title)}**? It brought {found.articles} articles into this server's index.",
            view=ConfirmRemove(self, interaction.user.id, corpus, found), ephemeral=True,
            allowed_mentions=discord.AllowedMentions.none())

    @feed_remove.autocomplete("feed")
    async def feed_remove_choices(self, interaction: discord.Interaction, current: str
                                  ) -> list[app_commands.Choice[str]]:
        if self.store is None or interaction.guild_id is None:
            return []
        feeds = await self.bot.run_blocking(self.store.feeds, self.bot.corpus_for(interaction.guild_id))
        needle = current.lower().strip()
        return [app_commands.Choice(name=plain_clip(squash(f"{f.title} ({f.url})"), 100), value=str(f.id))
                for f in feeds if needle in f.title.lower() or needle in f.url.lower()][:25]

    async def remove(self, interaction: discord.Interaction, corpus: str, feed: Feed, *, keep_articles: bool) -> None:
        """Unsubscribe (removing the articles from the index unless kept) and say what happened."""
        if not interaction.response.is_done():
            if interaction.message is not None:  # a button under the question
                await interaction.response.edit_message(content="Removing the feed…", view=None)
            else:
                await interaction.response.defer(ephemeral=True, thinking=True)
        change = await self.bot.run_blocking(unsubscribe, self.bot.engine, self._store(), corpus, feed,
                                             keep_articles=keep_articles)
        removed = len(change.removed) if change else 0
        outcome = (f"its {feed.articles} articles stay in the index" if keep_articles and feed.articles
                   else f"{removed} of its articles were removed from the index" if not keep_articles
                   else "it had brought no articles")
        await interaction.edit_original_response(content=f"No longer following **{escape(feed.title)}**; {outcome}.",
                                                 view=None)
        await self.bot.audit(interaction, "feed-remove", f"{feed.url} “{plain_clip(squash(feed.title), 100)}”; "
                             + ("kept its articles" if keep_articles else f"removed {removed} articles"))

    @app_commands.command(name="feeds", description="The feeds this server follows: last check, last article, errors (admins)")
    @app_commands.default_permissions(manage_guild=True)
    @app_commands.guild_only()
    @admin_only()
    async def feeds(self, interaction: discord.Interaction) -> None:
        """Each feed's title, last check, last new article and last error."""
        corpus = self.bot.corpus_for(interaction.guild_id)
        feeds = await self.bot.run_blocking(self._store().feeds, corpus)
        embed = feeds_embed(feeds, max_feeds=self.bot.settings.max_feeds,
                            polling=self.bot.settings.feed_poll_minutes > 0)
        await interaction.response.send_message(**Payload(embeds=(embed,)).kwargs(), ephemeral=True)
        await self.bot.audit(interaction, "feeds", f"viewed {len(feeds)} feeds")


async def setup(bot: NewsQABot) -> None:
    await bot.add_cog(Feeds(bot))
