"""Key figures and sources: /figures, /figure and /source."""

from __future__ import annotations

import logging
from dataclasses import replace

import discord
from discord import app_commands
from discord.ext import commands

from index.errors import DocumentNotFoundError, NewsQAError
from index.models import Figure, Passage

from ..app import NewsQABot, lookup_cooldown, reply, respond_soon
from ..citations import HOW_TO_TYPE, NumberedRef, ParagraphRef, SentenceRef, find_document, parse_citation
from ..format import Payload, figure_embed, figures_embed, passages_payload, plain_clip, squash

log = logging.getLogger(__name__)

def choice(name: str, value: str) -> app_commands.Choice[str]:
    return app_commands.Choice(name=plain_clip(squash(name), 100) or value[:100], value=value[:100])


class Figures(commands.Cog):
    """The key figures of the articles, and the source paragraph of a citation."""

    def __init__(self, bot: NewsQABot) -> None:
        self.bot = bot

    @app_commands.command(name="figures", description="List the key figures, ranked by a topic when you give one")
    @app_commands.describe(topic="A topic or article title, e.g. defense spending (leave empty for all)")
    @lookup_cooldown()
    async def figures(self, interaction: discord.Interaction, topic: app_commands.Range[str, 1, 200] | None = None
                      ) -> None:
        """Key figures with their citations."""
        found = await respond_soon(interaction, self._figures(interaction.guild_id, topic), ephemeral=False)
        payload = Payload(embeds=(figures_embed(found, topic=topic),))
        await reply(interaction, **payload.kwargs())

    async def _figures(self, guild_id: int | None, topic: str | None) -> list[Figure]:
        engine = self.bot.engine
        docs = await self.bot.in_corpus(guild_id, engine.documents)
        match = next((d for d in docs if topic and squash(topic).lower() in (d.title.lower(), d.doc_id)), None)
        if match is not None:  # a document title from autocomplete: its figures in document order
            return await self.bot.in_corpus(guild_id, engine.figures, None, doc_id=match.doc_id, limit=10)
        return await self.bot.in_corpus(guild_id, engine.figures, topic, limit=10)

    @figures.autocomplete("topic")
    async def figures_topic(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        try:
            docs = await self.bot.in_corpus(interaction.guild_id, self.bot.engine.documents)
            figures = await self.bot.in_corpus(interaction.guild_id, self.bot.engine.figures, None)
        except NewsQAError:
            return []
        needle = current.lower().strip()
        out: list[app_commands.Choice[str]] = []
        seen: set[str] = set()
        for d in docs:
            if needle in d.title.lower() and d.title.lower() not in seen:
                seen.add(d.title.lower())
                out.append(choice(f"📄 {d.title}", d.title))
        for f in figures:
            label = squash(f.label)
            if label and needle in label.lower() and label.lower() not in seen:
                seen.add(label.lower())
                out.append(choice(label, label))
        return out[:25]

    @app_commands.command(name="figure", description="Find the one figure that answers a question")
    @app_commands.describe(query="What you want a number for, e.g. defense spending in 2024")
    @lookup_cooldown()
    async def figure(self, interaction: discord.Interaction, query: app_commands.Range[str, 1, 300]) -> None:
        """The best-matching figure with its sentence and citation."""
        query = self.bot.check_question(query)
        found = await respond_soon(
            interaction,
            self.bot.in_corpus(interaction.guild_id, self.bot.engine.figures, query, limit=1),
            ephemeral=False,
        )
        none = discord.AllowedMentions.none()
        if not found or found[0].score <= 0:
            await reply(interaction, content="I couldn't find a figure for that in the indexed articles.",
                        allowed_mentions=none)
            return
        await reply(interaction, embed=figure_embed(found[0], query), allowed_mentions=none)

    @app_commands.command(name="source", description="Show the full paragraph around a cited sentence")
    @app_commands.describe(citation="A citation as an answer shows it: [2], “Title, ¶7”, or article-id:sentence "
                                    "(start typing to pick one)")
    async def source(self, interaction: discord.Interaction, citation: app_commands.Range[str, 1, 300]) -> None:
        """The paragraph around a cited sentence, privately."""
        passage = await respond_soon(interaction, self._passage(interaction, citation), ephemeral=True)
        await reply(interaction, **passages_payload([passage]).kwargs(), ephemeral=True)

    async def _passage(self, interaction: discord.Interaction, text: str) -> Passage:
        """The passage a typed citation names, in any form the bot displays."""
        bot, guild_id = self.bot, interaction.guild_id
        ref = parse_citation(text)
        if ref is None:
            raise DocumentNotFoundError(f"“{squash(text)}” is not a citation I recognise; {HOW_TO_TYPE}")
        if isinstance(ref, SentenceRef):
            return await bot.in_corpus(guild_id, bot.engine.passage, ref.doc_id, ref.sentence)
        if isinstance(ref, NumberedRef):
            hits = await bot.run_blocking(bot.records.latest_answer_hits, user_id=interaction.user.id,
                                          guild_id=guild_id, channel_id=interaction.channel_id)
            if not 1 <= ref.number <= len(hits):
                shown = (f"the latest answer here has sources [1] to [{len(hits)}]" if hits
                         else "there is no recent answer in this channel")
                raise DocumentNotFoundError(f"there is no source [{ref.number}]: {shown}; {HOW_TO_TYPE}")
            hit = hits[ref.number - 1]
            return await bot.in_corpus(guild_id, bot.engine.passage, hit.doc_id, hit.sentence)
        assert isinstance(ref, ParagraphRef)
        docs = await bot.in_corpus(guild_id, bot.engine.documents)
        doc = find_document(ref.title, docs)
        if doc is None:
            raise DocumentNotFoundError(f"no article titled “{squash(ref.title)}” here; /articles lists them, "
                                        f"or {HOW_TO_TYPE}")
        # The sentence an answer in this channel cited in that paragraph, bold as in the answer.
        seen = await bot.run_blocking(bot.records.recent_hits, user_id=interaction.user.id, guild_id=guild_id,
                                      channel_id=interaction.channel_id)
        cited = next((h for h in seen if h.doc_id == doc.doc_id and h.paragraph == ref.paragraph), None)
        if cited is not None:
            return await bot.in_corpus(guild_id, bot.engine.passage, doc.doc_id, cited.sentence)
        first = await bot.in_corpus(guild_id, bot.engine.paragraph_sentence, doc.doc_id, ref.paragraph)
        passage = await bot.in_corpus(guild_id, bot.engine.passage, doc.doc_id, first)
        return replace(passage, sentence_start=0, sentence_end=0)  # the whole paragraph: no sentence was named

    @source.autocomplete("citation")
    async def source_citation(self, interaction: discord.Interaction, current: str
                              ) -> list[app_commands.Choice[str]]:
        """Citations of the answers shown in this channel (and the member's own), filtered by what they typed."""
        rows = await self.bot.run_blocking(self.bot.records.recent_hits, user_id=interaction.user.id,
                                           guild_id=interaction.guild_id, channel_id=interaction.channel_id,
                                           limit=25)
        needle = current.lower().strip()
        out = []
        for hit in rows:
            key = f"{hit.doc_id}:{hit.sentence}"
            name = f"{hit.citation.label} — {hit.text}"
            if needle in name.lower() or needle in key:
                out.append(choice(name, key))
        return out[:25]


async def setup(bot: NewsQABot) -> None:
    await bot.add_cog(Figures(bot))
