"""Admin commands: /reindex, /add-article, /remove-article, /gaps, /status; each one is audited.

Long work is deferred (privately), shows progress by editing its message about once a second, and
ends with what changed. The engine keeps answering from the old index until the new one is complete.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import PurePath

import discord
from discord import app_commands
from discord.ext import commands

from index.documents import SUPPORTED_SUFFIXES, load_bytes, load_text, load_url
from index.errors import DocumentTooLargeError, NewsQAError, UnsupportedDocumentError
from index.models import ChangeReport, Document

from ..app import PLACEHOLDER, NewsQABot, admin_only, defer_thinking, reply, report_error, respond_soon
from ..format import Payload, gaps_embed, plain_clip, progress_text, report_text, squash, status_embed

log = logging.getLogger(__name__)

PROGRESS_EVERY = 1.0  # seconds between progress edits


class ProgressMessage:
    """A progress callback for the engine (called from the worker thread) that edits the deferred message."""

    def __init__(self, interaction: discord.Interaction, action: str, loop: asyncio.AbstractEventLoop) -> None:
        self.interaction = interaction
        self.action = action
        self.loop = loop
        self.last = float("-inf")
        self.finished = False
        self.pending: list[concurrent.futures.Future] = []
        self.edits = 0

    def __call__(self, stage: str, done: int, total: int) -> None:
        now = time.monotonic()
        if self.finished or now - self.last < PROGRESS_EVERY:
            return
        self.last = now
        text = progress_text(self.action, stage, done, total)
        self.pending.append(asyncio.run_coroutine_threadsafe(self._edit(text), self.loop))

    async def _edit(self, text: str) -> None:
        if self.finished:
            return
        try:
            await self.interaction.edit_original_response(content=text)
            self.edits += 1
        except discord.HTTPException as exc:
            log.warning("progress edit failed: %s", exc)

    async def finish(self) -> None:
        """Stop editing and wait for edits in flight, so the final message is never overwritten."""
        self.finished = True
        for future in self.pending:
            try:
                await asyncio.wrap_future(future)
            except Exception:  # already logged in _edit
                pass


class PasteModal(discord.ui.Modal, title="Add an article"):
    """Pasted article text, for /add-article without a file or URL."""

    article_title = discord.ui.TextInput(label="Title (optional)", required=False, max_length=200)
    text = discord.ui.TextInput(label="Article text", style=discord.TextStyle.paragraph, min_length=20,
                                max_length=4000, placeholder="Paste the article here")

    def __init__(self, cog: Admin, title: str | None) -> None:
        super().__init__()
        self.cog = cog
        if title:
            self.article_title.default = title

    async def on_submit(self, interaction: discord.Interaction) -> None:
        try:
            await defer_thinking(interaction, ephemeral=True)
            doc = await self.cog.bot.run_blocking(load_text, self.text.value,
                                                  title=self.article_title.value.strip() or None)
            await self.cog.add_document(interaction, doc, "pasted text")
        except Exception as exc:
            await report_error(interaction, exc)


class Admin(commands.Cog):
    """Manage the index (admins only: Manage Server or a role in ADMIN_ROLE_IDS)."""

    def __init__(self, bot: NewsQABot) -> None:
        self.bot = bot
        if bot.settings.admin_role_ids:
            # Role admins may lack Manage Server: let the client show the commands; the bot still checks.
            for command in self.get_app_commands():
                command.default_permissions = None

    # ------------------------------------------------------------ shared

    async def run_change(self, interaction: discord.Interaction, action: str, label: str,
                         work: Callable[[ProgressMessage], ChangeReport], detail: str,
                         corpus: str | None = None) -> ChangeReport:
        """Run a write in a worker thread with progress edits, then audit and report what changed.

        With ``corpus``, the document lists before and after say what changed in an updated article.
        Shutdown lets it finish and logs whether it went live (``admin_write``). The audit is written
        before the admin is told, so a change is recorded even when Discord can't be reached."""
        async with self.bot.admin_write(f"/{action} {detail}") as write:
            if not interaction.response.is_done():
                await defer_thinking(interaction, ephemeral=True)
            before = await self.bot.run_blocking(self.bot.engine.documents, corpus) if corpus else []
            await interaction.edit_original_response(content=f"{label}: starting…")
            progress = ProgressMessage(interaction, label, asyncio.get_running_loop())
            try:
                report = await self.bot.run_blocking(work, progress)
            except Exception as exc:
                await progress.finish()
                await self.bot.audit(interaction, action, f"failed: {detail}: {exc}")
                raise
            write.report = report
            await progress.finish()
            after = await self.bot.run_blocking(self.bot.engine.documents, corpus) if report.updated else []
            await self.bot.audit(
                interaction, action,
                f"{detail} → {report.documents} documents, {report.sentences} sentences, {report.figures} figures "
                f"in {report.seconds:.1f} s" + (f"; added {', '.join(report.added)}" if report.added else "")
                + (f"; updated {', '.join(report.updated)}" if report.updated else "")
                + (f"; removed {', '.join(report.removed)}" if report.removed else ""),
            )
            await interaction.edit_original_response(content=report_text(label, report, before=before, after=after))
            interaction.extras.pop(PLACEHOLDER, None)  # the report stays: a later error is told in a follow-up
            return report

    async def add_document(self, interaction: discord.Interaction, doc: Document, detail: str) -> ChangeReport:
        corpus = await self.bot.writable_corpus(interaction.guild_id)
        return await self.run_change(
            interaction, "add-article", "Adding the article",
            lambda progress: self.bot.engine.add([doc], corpus=corpus, progress=progress),
            f"{detail} “{plain_clip(squash(doc.title), 100)}” ({doc.doc_id})", corpus=corpus,
        )

    # ------------------------------------------------------------ commands

    @app_commands.command(name="reindex", description="Rebuild the index from the current sources (admins)")
    @app_commands.default_permissions(manage_guild=True)
    @app_commands.guild_only()
    @admin_only()
    async def reindex(self, interaction: discord.Interaction) -> None:
        """Rebuild; questions keep being answered from the old index until the new one is complete."""
        corpus = await self.bot.writable_corpus(interaction.guild_id)
        await self.run_change(interaction, "reindex", "Reindex",
                              lambda progress: self.bot.engine.build(corpus, progress=progress), f"corpus {corpus}")

    @app_commands.command(name="add-article", description="Add an article from a file, a URL or pasted text (admins)")
    @app_commands.describe(
        file="A .txt, .md or .html file with the article",
        url="The address of a web page with the article",
        title="The title to show in citations (optional)",
    )
    @app_commands.default_permissions(manage_guild=True)
    @app_commands.guild_only()
    @admin_only()
    async def add_article(self, interaction: discord.Interaction, file: discord.Attachment | None = None,
                          url: app_commands.Range[str, 1, 2000] | None = None,
                          title: app_commands.Range[str, 1, 200] | None = None) -> None:
        """Add one article; with neither a file nor a URL, a form opens for pasted text."""
        settings = self.bot.settings
        if file is not None and url is not None:
            raise UnsupportedDocumentError("give either a file or a URL, not both")
        if file is None and url is None:
            await interaction.response.send_modal(PasteModal(self, title))
            return
        if file is not None:
            suffix = PurePath(file.filename).suffix.lower()
            if suffix not in SUPPORTED_SUFFIXES:
                raise UnsupportedDocumentError(
                    f"{file.filename} is not a .txt, .md or .html file; save the article as one of those")
            if file.size > settings.max_upload_bytes:  # checked before downloading anything
                raise DocumentTooLargeError(
                    f"{file.filename} is {file.size:,} bytes; the limit is {settings.max_upload_bytes:,} bytes")
            await defer_thinking(interaction, ephemeral=True)
            data = await file.read()
            doc = await self.bot.run_blocking(load_bytes, data, name=file.filename, title=title,
                                              content_type=file.content_type, max_bytes=settings.max_upload_bytes)
            detail = f"file {file.filename}"
        else:
            await defer_thinking(interaction, ephemeral=True)
            await interaction.edit_original_response(content="Fetching the page…")
            doc = await self.bot.run_blocking(load_url, url, max_bytes=settings.max_upload_bytes,
                                              timeout=settings.fetch_timeout, allow_private=settings.allow_private_urls)
            if title:
                doc = replace(doc, title=title)
            detail = f"URL {url}"
        await self.add_document(interaction, doc, detail)

    @app_commands.command(name="remove-article", description="Remove an article from the index (admins)")
    @app_commands.describe(document="The article to remove (start typing its title)")
    @app_commands.default_permissions(manage_guild=True)
    @app_commands.guild_only()
    @admin_only()
    async def remove_article(self, interaction: discord.Interaction, document: app_commands.Range[str, 1, 100]
                             ) -> None:
        """Remove one article (also from future rebuilds)."""
        corpus = await self.bot.writable_corpus(interaction.guild_id)
        await self.run_change(interaction, "remove-article", "Removing the article",
                              lambda progress: self.bot.engine.remove(document, corpus=corpus, progress=progress),
                              f"document {document}")

    @remove_article.autocomplete("document")
    async def remove_article_document(self, interaction: discord.Interaction, current: str
                                      ) -> list[app_commands.Choice[str]]:
        try:
            docs = await self.bot.in_corpus(interaction.guild_id, self.bot.engine.documents)
        except NewsQAError:
            return []
        needle = current.lower().strip()
        return [
            app_commands.Choice(name=plain_clip(squash(f"{d.title} ({d.doc_id})"), 100), value=d.doc_id[:100])
            for d in docs if needle in d.title.lower() or needle in d.doc_id
        ][:25]

    @app_commands.command(name="gaps", description="Recent questions that went unanswered or got a 👎 (admins)")
    @app_commands.default_permissions(manage_guild=True)
    @app_commands.guild_only()
    @admin_only()
    async def gaps(self, interaction: discord.Interaction) -> None:
        """What to add next."""
        rows = await self.bot.run_blocking(self.bot.records.gaps, guild_id=interaction.guild_id, limit=20)
        await interaction.response.send_message(**Payload(embeds=(gaps_embed(rows),)).kwargs(), ephemeral=True)
        await self.bot.audit(interaction, "gaps", f"viewed {len(rows)} questions")

    @app_commands.command(name="status", description="Index size, model, last reindex and answer latency (admins)")
    @app_commands.default_permissions(manage_guild=True)
    @app_commands.guild_only()
    @admin_only()
    async def status(self, interaction: discord.Interaction) -> None:
        """How the bot is doing."""
        stats = await respond_soon(interaction, self.bot.in_corpus(interaction.guild_id, self.bot.engine.stats),
                                   ephemeral=True)
        last = await self.bot.run_blocking(self.bot.records.last_change, guild_id=interaction.guild_id)
        latency = await self.bot.run_blocking(self.bot.records.latency, guild_id=interaction.guild_id)
        embed = status_embed(stats, last_change=last, latency=latency)
        await reply(interaction, **Payload(embeds=(embed,)).kwargs(), ephemeral=True)
        await self.bot.audit(interaction, "status", "viewed")


async def setup(bot: NewsQABot) -> None:
    await bot.add_cog(Admin(bot))
