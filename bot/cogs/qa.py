"""Questions and answers: /ask, questions in channel messages and threads, and the answer buttons."""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable

import discord
from discord import app_commands
from discord.ext import commands

from index.errors import NewsQAError
from index.models import Answer

from ..app import GENERIC_ERROR, NewsQABot, cooldown_message, question_cooldown, reply, respond_soon, send_private
from ..format import answer_payload, closest_payload, escape, passages_payload, plain_clip, squash

log = logging.getLogger(__name__)

QUESTION_WORDS = frozenset(
    "who whom whose what when where why how which is are was were does do did can could should would will "
    "has have had may might must shall".split()
)
_WORD = re.compile(r"[\w']+")


def reads_as_question(text: str) -> bool:
    """True when a message reads as a question: it ends with "?" or starts with a question word.

    Deliberately simple (no model): "What did NATO agree", "How much was spent?" and "spending in 2024?"
    are questions; "thanks!" and "good morning" are not.
    """
    text = squash(text)
    if not text:
        return False
    if text.rstrip(" )»\"'”").endswith("?"):
        return True
    first = _WORD.match(text.lower())
    return bool(first) and first.group(0) in QUESTION_WORDS and len(text.split()) >= 3


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
            await interaction.response.defer(ephemeral=True, thinking=True)
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
        async def respond(answer: Answer) -> None:
            payload = answer_payload(answer)
            kwargs = payload.kwargs()
            kwargs["content"] = f"{interaction.user.mention} shared an answer:" + (
                "\n" + payload.content if payload.content else "")
            await interaction.response.send_message(**kwargs, view=answer_view(self.qid, answer, private=False))

        await _on_stored_answer(interaction, self.qid, respond)


DYNAMIC_ITEMS = (MoreContextButton, ClosestButton, VoteButton, ShareButton)


def answer_view(qid: int, answer: Answer, *, private: bool) -> discord.ui.View:
    """The buttons under an answer: context or closest passages, feedback, and share when private."""
    view = discord.ui.View(timeout=None)
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


class QA(commands.Cog):
    """Ask questions: /ask, a mention, a question in an ask channel, or a follow-up in the answer thread."""

    def __init__(self, bot: NewsQABot) -> None:
        self.bot = bot

    @app_commands.command(name="ask", description="Ask a question about the indexed news articles")
    @app_commands.describe(
        question="Your question, e.g. How much did European allies spend on defense in 2024?",
        private="Only you see the answer (you can share it to the channel afterwards)",
    )
    @question_cooldown()
    async def ask(self, interaction: discord.Interaction, question: app_commands.Range[str, 1, 2000],
                  private: bool = False) -> None:
        """Answer with the articles' own sentences and citations."""
        question = self.bot.check_question(question)  # refuses empty/over-long questions at once
        answer, qid = await respond_soon(
            interaction,
            self.bot.answer(question, guild_id=interaction.guild_id, user_id=interaction.user.id,
                            channel_id=interaction.channel_id),
            ephemeral=private,
        )
        payload = answer_payload(answer)
        await reply(interaction, **payload.kwargs(), view=answer_view(qid, answer, private=private), ephemeral=private)

    # ------------------------------------------------------------ messages

    def question_in(self, message: discord.Message) -> str | None:
        """The question a message asks the bot, "" when it mentions the bot without one, else None."""
        me = self.bot.user
        if me is None or message.author.bot or message.guild is None:
            return None
        if message.type not in (discord.MessageType.default, discord.MessageType.reply):
            return None
        content = message.content or ""
        if any(m.id == me.id for m in message.mentions):
            return squash(re.sub(rf"<@!?{me.id}>", " ", content))
        channel = message.channel
        in_ask_channel = channel.id in self.bot.settings.ask_channel_ids
        in_our_thread = isinstance(channel, discord.Thread) and channel.owner_id == me.id
        if (in_ask_channel or in_our_thread) and reads_as_question(content):
            return squash(content)
        return None

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        question = self.question_in(message)
        if question is None:
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

    async def answer_message(self, message: discord.Message, question: str) -> None:
        """Answer a channel message: in a new thread on it, or in the thread it was asked in."""
        if not question:
            await self._reply(message, "Ask me a question about the indexed articles, e.g. "
                                       "“How much did allies spend on defense in 2024?” — or use /help.")
            return
        retry = self.bot.cooldown.hit(message.author.id)
        if retry is not None:
            await self._reply(message, cooldown_message(retry))
            return
        question = self.bot.check_question(question)
        answer, qid = await self.bot.answer(question, guild_id=message.guild and message.guild.id,
                                            user_id=message.author.id, channel_id=message.channel.id)
        kwargs = answer_payload(answer).kwargs() | {"view": answer_view(qid, answer, private=False)}
        if isinstance(message.channel, discord.Thread):
            await message.reply(**kwargs)
            return
        try:
            thread = await message.create_thread(name=thread_name(question), auto_archive_duration=1440)
        except discord.HTTPException as exc:  # no permission to create threads, or not a text channel
            log.info("no thread for message %s (%s); replying in the channel", message.id, exc)
            await message.reply(**kwargs)
            return
        await thread.send(**kwargs)


async def setup(bot: NewsQABot) -> None:
    bot.add_dynamic_items(*DYNAMIC_ITEMS)
    await bot.add_cog(QA(bot))
