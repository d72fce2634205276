"""Questions and answers: /ask, questions in channel messages and threads, and the answer buttons."""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import discord
from bm25s.stopwords import STOPWORDS_EN_PLUS
from discord import app_commands
from discord.ext import commands

from index.errors import NewsQAError
from index.models import Answer

from ..app import (
    GENERIC_ERROR,
    NewsQABot,
    cooldown_message,
    defer_thinking,
    question_cooldown,
    reply,
    respond_soon,
    send_private,
)
from ..format import answer_payload, closest_payload, escape, passages_payload, plain_clip, squash
from ..settings import SLASH_OPTION_CHARS

log = logging.getLogger(__name__)

QUESTION_WORDS = frozenset(
    "who whom whose what when where why how which is are was were does do did can could should would will "
    "has have had may might must shall".split()
)
# Words that say nothing about the articles: with only these, "is that really true?" or "how?" is talk
# about an answer, not a question the articles could answer. (The same stopword list as the BM25 index.)
FILLER_WORDS = frozenset(STOPWORDS_EN_PLUS) | frozenset(
    "much many could would may might must shall also anyway else ever still yet please "
    "thanks thank thx ty cheers ok okay yes yeah yep yup no nope sure right true false correct really indeed "
    "exactly great good nice cool awesome amazing perfect wow lol haha hmm hm oh ah interesting helpful "
    "mean means meant make makes sense say said says know think guess got get it's that's "
    "hi hello hey hiya yo morning afternoon evening night bye goodbye welcome".split()
)
THANKS_WORDS = frozenset("thanks thank thx ty cheers".split())
_WORD = re.compile(r"[\w']+")


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower().replace("’", "'"))


def has_content(text: str) -> bool:
    """True when the text names something the articles could be about (a word that is not filler)."""
    return any(w not in FILLER_WORDS and w.removesuffix("'s") not in FILLER_WORDS for w in _words(text))


def says_thanks(text: str) -> bool:
    return bool(THANKS_WORDS & set(_words(text)))


def reads_as_question(text: str) -> bool:
    """True when a message reads as a question about the articles: it ends with "?" or starts with a
    question word, and names something (not only filler such as "is that really true?").

    Deliberately simple (no model): "What did NATO agree", "How much was spent?" and "spending in 2024?"
    are questions; "thanks!", "good morning" and "is that really true" are not.
    """
    text = squash(text)
    if not text or not has_content(text):
        return False
    if text.rstrip(" )»\"'”").endswith("?"):
        return True
    first = _WORD.match(text.lower())
    return bool(first) and first.group(0) in QUESTION_WORDS and len(text.split()) >= 3


@dataclass(frozen=True)
class Incoming:
    """A message the bot may answer: its text (the bot's mention removed) and how it reached the bot."""

    text: str
    addressed: bool  # a mention of the bot or a direct message: spoken to the bot, not only near it


def thread_name(question: str) -> str:
    """A thread title from a question (no markdown is rendered there; mentions are defused anyway)."""
    return plain_clip(squash(question), 90).replace("@", "@\u200b") or "Question"


# ------------------------------------------------------------------ buttons (persistent across restarts)


async def _component_failed(interaction: discord.Interaction, exc: Exception) -> None:
    if isinstance(exc, NewsQAError):
        await send_private(interaction, "Sorry, " + escape(str(exc)))
    else:
        log.exception("button %s failed", interaction.data and interaction.data.get("custom_id"), exc_info=exc)
        await send_private(interaction, GENERIC_ERROR)


async def _stored_answer(interaction: discord.Interaction, qid: int) -> Answer | None:
    bot: NewsQABot = interaction.client  # type: ignore[assignment]
    answer = await bot.run_blocking(bot.records.answer, qid, guild_id=interaction.guild_id)
    if answer is None:
        await send_private(interaction, "I no longer have that answer; please ask the question again.")
    return answer


async def _on_stored_answer(
    interaction: discord.Interaction, qid: int, respond: Callable[[Answer], Awaitable[None]]
) -> None:
    """Run a button's ``respond`` on the stored answer ``qid``; failures are answered privately."""
    try:
        answer = await _stored_answer(interaction, qid)
        if answer is not None:
            await respond(answer)
    except Exception as exc:
        await _component_failed(interaction, exc)


class MoreContextButton(discord.ui.DynamicItem[discord.ui.Button], template=r"newsqa:ctx:(?P<qid>\d+)"):
    """Privately shows the paragraphs around the cited sentences."""

    def __init__(self, qid: int) -> None:
        super().__init__(discord.ui.Button(label="More context", emoji="📖", style=discord.ButtonStyle.secondary,
                                           custom_id=f"newsqa:ctx:{qid}"))
        self.qid = qid

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str]):
        return cls(int(match["qid"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        bot: NewsQABot = interaction.client  # type: ignore[assignment]

        async def respond(answer: Answer) -> None:
            await defer_thinking(interaction, ephemeral=True)
            passages = []
            for hit in answer.hits[:3]:
                try:
                    passages.append(await bot.in_corpus(interaction.guild_id, bot.engine.passage, hit.doc_id,
                                                        hit.sentence))
                except NewsQAError as exc:  # e.g. the article was removed since
                    log.info("more context for question %d: %s", self.qid, exc)
            payload = passages_payload(passages, intro=None if passages else
                                       "Those articles are no longer in the index.")
            await interaction.followup.send(**payload.kwargs(), ephemeral=True)

        await _on_stored_answer(interaction, self.qid, respond)


class ClosestButton(discord.ui.DynamicItem[discord.ui.Button], template=r"newsqa:closest:(?P<qid>\d+)"):
    """Privately shows the closest passages of an unanswered question, labelled as not an answer."""

    def __init__(self, qid: int) -> None:
        super().__init__(discord.ui.Button(label="Show closest passages", style=discord.ButtonStyle.secondary,
                                           custom_id=f"newsqa:closest:{qid}"))
        self.qid = qid

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str]):
        return cls(int(match["qid"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        async def respond(answer: Answer) -> None:
            await interaction.response.send_message(**closest_payload(answer).kwargs(), ephemeral=True)

        await _on_stored_answer(interaction, self.qid, respond)


class VoteButton(discord.ui.DynamicItem[discord.ui.Button], template=r"newsqa:vote:(?P<qid>\d+):(?P<vote>up|down)"):
    """👍/👎 feedback, stored with the question, its hits and the user id."""

    def __init__(self, qid: int, vote: str) -> None:
        super().__init__(discord.ui.Button(emoji="👍" if vote == "up" else "👎", style=discord.ButtonStyle.secondary,
                                           custom_id=f"newsqa:vote:{qid}:{vote}"))
        self.qid = qid
        self.vote = vote

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str]):
        return cls(int(match["qid"]), match["vote"])

    async def callback(self, interaction: discord.Interaction) -> None:
        try:
            bot: NewsQABot = interaction.client  # type: ignore[assignment]
            stored = await bot.run_blocking(bot.records.vote, self.qid, interaction.user.id, self.vote,
                                            guild_id=interaction.guild_id)
            if not stored:
                await send_private(interaction, "I no longer have that answer, so I couldn't record your vote.")
                return
            text = ("Thanks! Glad it helped." if self.vote == "up" else
                    "Thanks for telling me. Admins see this question in /gaps so they can add a better source.")
            await send_private(interaction, text)
        except Exception as exc:
            await _component_failed(interaction, exc)


class ShareButton(discord.ui.DynamicItem[discord.ui.Button], template=r"newsqa:share:(?P<qid>\d+)"):
    """Posts a private answer to the channel for everyone."""

    def __init__(self, qid: int) -> None:
        super().__init__(discord.ui.Button(label="Share to channel", style=discord.ButtonStyle.primary,
                                           custom_id=f"newsqa:share:{qid}"))
        self.qid = qid

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str]):
        return cls(int(match["qid"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        bot: NewsQABot = interaction.client  # type: ignore[assignment]

        async def respond(answer: Answer) -> None:
            payload = answer_payload(answer)
            kwargs = payload.kwargs()
            kwargs["content"] = f"{interaction.user.mention} shared an answer:" + (
                "\n" + payload.content if payload.content else "")
            await interaction.response.send_message(**kwargs, view=answer_view(self.qid, answer, private=False))
            # everyone in the channel sees its citations now (/source [n] and autocomplete)
            await bot.run_blocking(bot.records.shared, self.qid, guild_id=interaction.guild_id,
                                   channel_id=interaction.channel_id)

        await _on_stored_answer(interaction, self.qid, respond)


DYNAMIC_ITEMS = (MoreContextButton, ClosestButton, VoteButton, ShareButton)


def answer_view(qid: int | None, answer: Answer, *, private: bool) -> discord.ui.View:
    """The buttons under an answer: context or closest passages, feedback, and share when private.
    None when the question could not be recorded (every button reads the record): no buttons."""
    view = discord.ui.View(timeout=None)
    if qid is None:
        return view
    if answer.answered:
        view.add_item(MoreContextButton(qid))
    elif answer.hits:
        view.add_item(ClosestButton(qid))
    view.add_item(VoteButton(qid, "up"))
    view.add_item(VoteButton(qid, "down"))
    if private:
        view.add_item(ShareButton(qid))
    return view


# ------------------------------------------------------------------ the cog


HINT = ("Ask me a question about the indexed articles, e.g. "
        "“How much did allies spend on defense in 2024?” — or use /help.")


class QA(commands.Cog):
    """Ask questions: /ask, a mention, a direct message, a question in an ask channel, a reply to an
    answer, or a follow-up in the answer thread."""

    def __init__(self, bot: NewsQABot) -> None:
        self.bot = bot
        # MAX_QUESTION_CHARS drives both Discord's limit on the option and the bot's own check (discord.py
        # has no public setter; the annotation's bound is Discord's cap, settings.py keeps the value under it).
        self.ask._params["question"].max_value = bot.settings.max_question_chars

    @app_commands.command(name="ask", description="Ask a question about the indexed news articles")
    @app_commands.describe(
        question="Your question, e.g. How much did European allies spend on defense in 2024?",
        private="Only you see the answer (you can share it to the channel afterwards)",
    )
    @question_cooldown()
    async def ask(self, interaction: discord.Interaction, question: app_commands.Range[str, 1, SLASH_OPTION_CHARS],
                  private: bool = False) -> None:
        """Answer with the articles' own sentences and citations."""
        question = self.bot.check_question(question)  # refuses empty/over-long questions at once
        answer, qid = await respond_soon(
            interaction,
            self.bot.answer(question, guild_id=interaction.guild_id, user_id=interaction.user.id,
                            channel_id=interaction.channel_id, public=not private),
            ephemeral=private,
        )
        payload = answer_payload(answer)
        await reply(interaction, **payload.kwargs(), view=answer_view(qid, answer, private=private), ephemeral=private)

    # ------------------------------------------------------------ messages

    def incoming(self, message: discord.Message) -> Incoming | None:
        """What a message says to the bot, or None when it is not for the bot.

        Addressed: a direct message, or an explicit @mention in the text. Near the bot: a Discord reply
        to one of its messages (which mentions it without the member typing it), a message in its answer
        thread or in an ask channel; those count only when they read as a question.
        """
        me = self.bot.user
        if me is None or message.author.bot:
            return None
        if message.type not in (discord.MessageType.default, discord.MessageType.reply):
            return None
        content = message.content or ""
        if message.guild is None:
            return Incoming(squash(content), addressed=True)
        mention = re.compile(rf"<@!?{me.id}>")
        if mention.search(content):
            return Incoming(squash(mention.sub(" ", content)), addressed=True)
        channel = message.channel
        near = (self._replies_to_me(message) or channel.id in self.bot.settings.ask_channel_ids
                or (isinstance(channel, discord.Thread) and channel.owner_id == me.id))
        return Incoming(squash(content), addressed=False) if near else None

    def _replies_to_me(self, message: discord.Message) -> bool:
        ref = message.reference
        replied = ref and (ref.resolved if isinstance(ref.resolved, discord.Message) else ref.cached_message)
        return bool(replied) and replied.author.id == self.bot.user.id

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        incoming = self.incoming(message)
        if incoming is None:
            return
        text = incoming.text
        if (incoming.addressed and has_content(text)) or reads_as_question(text):
            question = text
        elif says_thanks(text) and (incoming.addressed or self._replies_to_me(message)):
            await self._react(message, "👍")  # "thanks!" is not a question: acknowledge, don't answer
            return
        elif incoming.addressed:
            await self._reply(message, HINT)
            return
        else:  # chatter near the bot ("is that really true", "nice"): not a question, no allowance used
            return
        try:
            await self.answer_message(message, question)
        except NewsQAError as exc:
            await self._reply(message, "Sorry, " + escape(str(exc)))
        except Exception:
            log.exception("answering message %s failed", message.id)
            await self._reply(message, GENERIC_ERROR)

    async def _reply(self, message: discord.Message, text: str, **kwargs) -> discord.Message | None:
        try:
            return await message.reply(text, allowed_mentions=discord.AllowedMentions.none(), **kwargs)
        except discord.HTTPException:
            log.exception("could not reply to message %s", message.id)
            return None

    async def _react(self, message: discord.Message, emoji: str) -> None:
        try:
            await message.add_reaction(emoji)
        except discord.HTTPException as exc:  # e.g. no Add Reactions permission: staying quiet is fine
            log.info("could not react to message %s: %s", message.id, exc)

    async def answer_message(self, message: discord.Message, question: str) -> None:
        """Answer a message: in a new thread on it, in the thread it was asked in, or in the channel or DM.

        The member's allowance is used only when the question is answered or declined ("I couldn't find
        that"): a refused question or an error gives it back.
        """
        user_id = message.author.id
        retry = self.bot.cooldown.hit(user_id)
        if retry is not None:
            await self._reply(message, cooldown_message(retry))
            return
        try:
            question = self.bot.check_question(question)
            guild_id = message.guild.id if message.guild is not None else None
            answer, qid = await self.bot.answer(question, guild_id=guild_id, user_id=user_id,
                                                channel_id=message.channel.id, public=True)
            await self.deliver(message, question, answer_payload(answer).kwargs()
                               | {"view": answer_view(qid, answer, private=False)})
        except BaseException:
            self.bot.cooldown.refund(user_id)
            raise

    async def deliver(self, message: discord.Message, question: str, kwargs: dict) -> None:
        """Post an answer in a new thread on the question when the bot may, else as a reply in place."""
        channel = message.channel
        if message.guild is None or isinstance(channel, discord.Thread):
            await message.reply(**kwargs)
            return
        perms = channel.permissions_for(message.guild.me)
        if not (perms.create_public_threads and perms.send_messages_in_threads):
            log.info("no thread permissions in channel %s; answering message %s there", channel.id, message.id)
            await message.reply(**kwargs)
            return
        try:
            thread = await message.create_thread(name=thread_name(question), auto_archive_duration=1440)
        except discord.HTTPException as exc:  # not a channel with threads, or a permission overwrite
            log.info("no thread for message %s (%s); replying in the channel", message.id, exc)
            await message.reply(**kwargs)
            return
        try:
            await thread.send(**kwargs)
        except discord.Forbidden as exc:  # e.g. a thread permission the channel's overwrites deny
            log.info("could not post in thread %s (%s); replying in the channel", thread.id, exc)
            await message.reply(**kwargs)
            try:
                await thread.delete()  # don't leave an empty thread behind (needs Manage Threads)
            except discord.HTTPException:
                log.info("could not delete the empty thread %s", thread.id)


async def setup(bot: NewsQABot) -> None:
    bot.add_dynamic_items(*DYNAMIC_ITEMS)
    await bot.add_cog(QA(bot))
