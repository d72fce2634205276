"""The Discord bot: a ``commands.Bot`` over the engine, one cog per feature (``bot/cogs``).

``create_bot`` builds it without connecting, so tests (SimCord) and ``bot.main`` hand it an engine.
Every engine and SQLite call runs in a worker thread (``run_blocking``); the event loop never blocks.

Each server has its own corpus, named by its id and created from the seeds on first use; direct
messages read the shared ``seeds`` corpus, which Discord never changes. Cogs reach a server's corpus
only through ``in_corpus`` (reads) and ``writable_corpus`` (admin writes).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import discord
from discord import app_commands
from discord.ext import commands

from index.database import StoreUnavailableError
from index.engine import Engine, clean_question
from index.errors import IndexCorruptError, ModelMismatchError, NewsQAError
from index.models import Answer, ChangeReport

from .format import escape, plain_clip
from .logs import describe_error
from .records import Records
from .settings import Settings

log = logging.getLogger(__name__)

T = TypeVar("T")

EXTENSIONS = ("bot.cogs.qa", "bot.cogs.figures", "bot.cogs.admin", "bot.cogs.meta", "bot.cogs.feeds")
DEFER_AFTER = 1.5  # seconds of work before an interaction is deferred
GENERIC_ERROR = "Something went wrong on my side while doing that. The error is logged; please try again later."
# What a public "thinking…" becomes, briefly, when the answer failed (the asker is told why privately)
NEUTRAL_PLACEHOLDER = "This one couldn't be answered; the asker has been told why."
NOT_ADMIN = "This command is for admins: members with **Manage Server** or an admin role."
SEEDS_CORPUS = "seeds"  # what direct messages read: the shared seed articles, never changed from Discord
RETRY_REBUILD_AFTER = 60.0  # seconds before a failed rebuild of a corpus is tried again
STOPPING_MESSAGE = "I'm restarting right now; please try again in a minute."
RECORDS_UNAVAILABLE = ("My records database can't be reached right now, so I can't do that; please try again in a "
                       "few minutes. (The details are in the bot's log.)")
NETWORK_ERRORS = (aiohttp.ClientError, OSError, asyncio.TimeoutError)  # Discord can't be reached


class CorpusRebuildingError(NewsQAError):
    """A corpus was found corrupt (or built with another model) and is being rebuilt from its sources."""


class ReadOnlyCorpusError(NewsQAError):
    """Direct messages read the shared seeds, which cannot be changed from Discord."""


def rebuilding_message(guild_id: int | None) -> str:
    whose = "this server's index" if guild_id is not None else "the index"
    return f"{whose} is being rebuilt from its sources; try again in a moment"


class NotAdmin(app_commands.CheckFailure):
    """The member is neither a Manage Server holder nor in ADMIN_ROLE_IDS."""


class BotStopping(app_commands.CheckFailure):
    """The bot is shutting down and takes no new interactions."""


class OnCooldown(app_commands.CheckFailure):
    """The member asked too many questions (or looked up too many figures) too quickly."""

    def __init__(self, retry_after: float, what: str = "asking questions") -> None:
        super().__init__(f"retry after {retry_after:.0f} s")
        self.retry_after = retry_after
        self.what = what


def cooldown_message(retry_after: float, what: str = "asking questions") -> str:
    seconds = max(1, int(retry_after + 0.999))
    unit = "second" if seconds == 1 else "seconds"
    return f"You're {what} faster than I can keep up with. Please try again in {seconds} {unit}."


class Cooldown:
    """At most ``rate`` uses per ``per`` seconds for each user (a sliding window).

    A use is counted when it starts (so two at once cannot both slip through) and given back with
    ``refund`` when it ends without an answer or a decline: an error, a refused question.
    """

    def __init__(self, rate: int, per: float, what: str = "asking questions") -> None:
        self.rate = max(1, rate)
        self.per = max(0.0, per)
        self.what = what  # for the message: "You're <what> faster than I can keep up with"
        self._hits: dict[int, deque[float]] = {}

    def hit(self, user_id: int) -> float | None:
        """Count one question; return how many seconds to wait instead when over the limit."""
        if self.per <= 0:
            return None
        now = time.monotonic()  # module attribute on purpose: SimCord's virtual clock patches it
        window = self._hits.setdefault(user_id, deque())
        while window and now - window[0] >= self.per:
            window.popleft()
        if len(window) >= self.rate:
            return self.per - (now - window[0])
        window.append(now)
        if len(self._hits) > 10_000:  # forget idle users now and then
            self._hits = {u: w for u, w in self._hits.items() if w and now - w[-1] < self.per}
        return None

    def refund(self, user_id: int) -> None:
        """Give back the user's latest use (it ended in an error, not an answer)."""
        window = self._hits.get(user_id)
        if window:
            window.pop()


def error_text(error: BaseException) -> str:
    """The plain-language, private message for an error; unexpected errors are logged with their traceback."""
    original = getattr(error, "original", error)
    if isinstance(error, NotAdmin):
        return NOT_ADMIN
    if isinstance(error, OnCooldown):
        return cooldown_message(error.retry_after, error.what)
    if isinstance(error, BotStopping):
        return STOPPING_MESSAGE
    if isinstance(original, StoreUnavailableError):  # the operator's problem: details in the log, not in Discord
        log.error("%s", original)
        return RECORDS_UNAVAILABLE
    if isinstance(original, NewsQAError):
        log.info("refused: %s", original)
        return "Sorry, " + escape(str(original))
    if isinstance(error, app_commands.CheckFailure):
        return "You can't use this command here."
    if isinstance(original, NETWORK_ERRORS):  # Discord unreachable mid-command (an outage): one line, no traceback
        log.warning("could not reach Discord to answer: %s", describe_error(original))
        return GENERIC_ERROR
    log.exception("unexpected error", exc_info=original)
    return GENERIC_ERROR


async def report_error(interaction: discord.Interaction, error: BaseException) -> None:
    """Answer an error privately (and log it when it was not expected)."""
    await send_private(interaction, error_text(error))


class NewsQATree(app_commands.CommandTree):
    """Answers every command error privately in plain language; unexpected ones are logged."""

    async def on_error(self, interaction: discord.Interaction, error: app_commands.AppCommandError) -> None:
        refund_allowance(interaction)  # a question that ended in an error does not use up the allowance
        await report_error(interaction, error)

    async def interaction_check(self, interaction: discord.Interaction, /) -> bool:
        if getattr(interaction.client, "stopping", False):
            if interaction.type is discord.InteractionType.autocomplete:
                return False
            raise BotStopping()
        return True


PLACEHOLDER = "placeholder"  # interaction.extras key: "public" or "private" while "thinking…" is showing


async def defer_thinking(interaction: discord.Interaction, *, ephemeral: bool) -> None:
    """Defer with "thinking…", remembering who sees it (``send_private`` must not show an error to everyone)."""
    await interaction.response.defer(ephemeral=ephemeral, thinking=True)
    interaction.extras[PLACEHOLDER] = "private" if ephemeral else "public"


async def send_private(interaction: discord.Interaction, text: str) -> None:
    """Tell the user something only they can see, whatever state the interaction is in.

    - not answered yet: a private response;
    - a private "thinking…": the text replaces it;
    - a public "thinking…" (everyone sees it): it first becomes a neutral line (so the follow-up is a new,
      private message: the first follow-up of a pending defer would replace it and be public), the user is
      told privately, and the placeholder is deleted;
    - already answered (e.g. a shared answer): a private follow-up; what everyone sees is never replaced.
    """
    text = plain_clip(text, 2000)
    none = discord.AllowedMentions.none()
    placeholder = interaction.extras.pop(PLACEHOLDER, None)
    try:
        if not interaction.response.is_done():
            await interaction.response.send_message(text, ephemeral=True, allowed_mentions=none)
        elif placeholder == "private":
            await interaction.edit_original_response(content=text, embeds=[], view=None, allowed_mentions=none)
        elif placeholder == "public":
            await interaction.edit_original_response(content=NEUTRAL_PLACEHOLDER, embeds=[], view=None,
                                                     allowed_mentions=none)
            await interaction.followup.send(text, ephemeral=True, allowed_mentions=none)
            try:
                await interaction.delete_original_response()
            except discord.HTTPException as exc:  # the neutral line stays; nothing private is shown
                log.info("could not delete the placeholder of a failed answer: %s", exc)
        else:
            await interaction.followup.send(text, ephemeral=True, allowed_mentions=none)
    except discord.HTTPException:
        log.exception("could not tell the user about an error")
    except NETWORK_ERRORS as exc:
        log.warning("could not tell the user about an error: %s", describe_error(exc))


async def respond_soon(interaction: discord.Interaction, work: Awaitable[T], *, ephemeral: bool) -> T:
    """Await ``work``; if it takes longer than DEFER_AFTER seconds, defer first (Discord wants a reply in 3 s).

    Fast work is answered directly, so an error in it can still be answered privately; after a public
    defer, ``send_private`` keeps an error out of the channel.
    """
    task = asyncio.ensure_future(work)
    if DEFER_AFTER > 0:  # 0: defer at once
        await asyncio.wait({task}, timeout=DEFER_AFTER)
    if not task.done() and not interaction.response.is_done():
        await defer_thinking(interaction, ephemeral=ephemeral)
    return await task


async def reply(interaction: discord.Interaction, **kwargs: Any) -> None:
    """Send the response, or the follow-up that replaces "thinking…" when the interaction was deferred."""
    if interaction.response.is_done():
        await interaction.followup.send(**kwargs)
        interaction.extras.pop(PLACEHOLDER, None)  # "thinking…" is the answer now
    else:
        await interaction.response.send_message(**kwargs)


@dataclass
class RunningWrite:
    """An admin change in progress; ``report`` is set once it is live in the index."""

    what: str
    report: ChangeReport | None = None


class NewsQABot(commands.Bot):
    """The newsqa bot: answers from ``engine``; questions, feedback and audit go to ``records``."""

    def __init__(self, engine: Engine | None, settings: Settings, records: Records | None, *,
                 sync_guild: bool = True) -> None:
        intents = discord.Intents.none()
        intents.guilds = True
        intents.guild_messages = True
        intents.dm_messages = True  # questions by direct message (not privileged: DMs carry their content)
        intents.message_content = True  # privileged: questions in ASK_CHANNEL_IDS without a mention
        # Sharded (ShardedNewsQABot): this process's shards; the others run in other processes.
        shards = {} if settings.shard_count is None else {
            "shard_count": settings.shard_count,
            "shard_ids": list(settings.shard_ids) if settings.shard_ids is not None else None}
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents,
            allowed_mentions=discord.AllowedMentions.none(),
            help_command=None,
            tree_cls=NewsQATree,
            **shards,
        )
        self.engine = engine
        self.settings = settings
        self.records = records
        self.sync_guild = sync_guild
        self.cooldown = Cooldown(settings.cooldown_questions, settings.cooldown_seconds)
        # /figures and /figure are cheap lookups: their own, more generous allowance
        self.lookups = Cooldown(settings.cooldown_lookups, settings.cooldown_seconds, "looking up figures")
        self.failed_extensions: dict[str, str] = {}
        self.rebuilds: dict[str, asyncio.Task[None]] = {}  # corpus -> its one running rebuild
        self._failed_rebuilds: dict[str, float] = {}  # corpus -> when its last rebuild failed
        self._ready_corpora: set[str] = set()  # corpora known to exist and load
        self._corpus_locks: dict[str, asyncio.Lock] = {}
        self.stopping = False  # set by shutdown(): no new questions or commands
        self.writes: dict[asyncio.Task[Any], str] = {}  # admin writes running -> what they do

    # ------------------------------------------------------------ lifecycle

    async def setup_hook(self) -> None:
        for name in EXTENSIONS:
            if name in self.extensions:  # a log-in retried after a network error runs this hook again
                continue
            try:
                await self.load_extension(name)
            except Exception as exc:  # one broken cog must not take the others down
                log.exception("could not load %s", name)
                self.failed_extensions[name] = str(exc)
        if self.sync_guild and self.settings.discord_guild_id:
            await self.sync_commands(self.settings.discord_guild_id)

    async def sync_commands(self, guild_id: int | None = None) -> list[app_commands.AppCommand]:
        """Sync the command tree to one guild (instant) or, with ``None``, globally (up to an hour)."""
        if guild_id is None:
            synced = await self.tree.sync()
            log.info("synced %d commands globally", len(synced))
            return synced
        guild = discord.Object(id=guild_id)
        self.tree.copy_global_to(guild=guild)
        synced = await self.tree.sync(guild=guild)
        log.info("synced %d commands to guild %s", len(synced), guild_id)
        return synced

    async def on_message(self, message: discord.Message) -> None:
        # No prefix commands: questions in messages are handled by the qa cog's listener.
        return

    def dispatch(self, event_name: str, /, *args: Any, **kwargs: Any) -> None:
        if self.stopping and event_name == "message":  # shutting down: no new questions from messages
            return
        super().dispatch(event_name, *args, **kwargs)

    async def on_ready(self) -> None:
        servers = ", ".join(f"{g.name} ({g.id})" for g in sorted(self.guilds, key=lambda g: g.id)[:20])
        more = f" and {len(self.guilds) - 20} more" if len(self.guilds) > 20 else ""
        log.info("connected to Discord as %s (%s); serving %d servers%s%s", self.user, self.user and self.user.id,
                 len(self.guilds), f": {servers}" if servers else "", more)

    @contextlib.asynccontextmanager
    async def admin_write(self, what: str) -> AsyncIterator[RunningWrite]:
        """Mark an admin change as running, so that shutdown lets it finish and says how it ended.

        The caller sets ``report`` on the yielded record once the engine has made the change live."""
        task = asyncio.current_task()
        assert task is not None
        write = RunningWrite(what)
        self.writes[task] = what
        try:
            yield write
        finally:
            self.writes.pop(task, None)
            if self.stopping:
                if write.report is not None:
                    log.info("stopping: %s completed: it is in the index (generation %d)", what,
                             write.report.generation)
                else:
                    log.warning("stopping: %s did not complete: the index is unchanged", what)

    async def shutdown(self, timeout: float, *, hurry: asyncio.Event | None = None) -> list[str]:
        """Take no new interactions, let running admin writes and rebuilds finish (up to ``timeout``
        seconds, or until ``hurry`` is set), then close the Discord connection and the records.

        Returns what was still running and is abandoned: the process exits without waiting for it, and
        since a write goes live only once complete, the index keeps its last complete generation.
        """
        self.stopping = True
        running = {**self.writes, **{task: f"rebuild of corpus {c}" for c, task in self.rebuilds.items()}}
        if running:
            log.info("stopping: waiting up to %.0f s for %s", timeout, "; ".join(running.values()))
            hurried = asyncio.ensure_future((hurry or asyncio.Event()).wait())
            pending = set(running)
            deadline = time.monotonic() + timeout
            while pending and not hurried.done() and (left := deadline - time.monotonic()) > 0:
                done, _ = await asyncio.wait(pending | {hurried}, timeout=left, return_when=asyncio.FIRST_COMPLETED)
                pending -= done
            hurried.cancel()
        abandoned = [what for task, what in running.items() if not task.done()]
        for what in abandoned:
            log.warning("stopping: %s did not finish in time and is abandoned; the index keeps its last complete "
                        "generation without it (run it again after the restart)", what)
        await self.close()
        return abandoned

    async def close(self) -> None:
        await super().close()
        if self.records is not None:
            self.records.close()

    # ------------------------------------------------------------ helpers for the cogs

    def corpus_for(self, guild_id: int | None) -> str:
        """A server's own corpus (named by its id); direct messages read the shared seeds."""
        return str(guild_id) if guild_id is not None else SEEDS_CORPUS

    async def corpus_ready(self, guild_id: int | None) -> str:
        """The name of this server's corpus, created from the seeds on first use and checked to load.

        One creation per corpus at a time (an asyncio lock here; the engine's writer lock across
        processes). A corrupt or mismatched corpus starts a rebuild and raises CorpusRebuildingError.
        """
        assert self.engine is not None
        corpus = self.corpus_for(guild_id)
        self._refuse_while_rebuilding(corpus, guild_id)
        if corpus in self._ready_corpora:
            return corpus
        async with self._corpus_locks.setdefault(corpus, asyncio.Lock()):
            if corpus not in self._ready_corpora:
                try:
                    await self.run_blocking(self._prepare_corpus, corpus)
                except (IndexCorruptError, ModelMismatchError) as exc:
                    self.start_rebuild(corpus, exc)
                    raise CorpusRebuildingError(rebuilding_message(guild_id)) from exc
                self._ready_corpora.add(corpus)
        return corpus

    def _prepare_corpus(self, corpus: str) -> None:
        report = self.engine.ensure(corpus)
        if report is not None:
            log.info("created corpus %s from the seeds: %d documents in %.2f s", corpus, report.documents,
                     report.seconds)
        self.engine.index(corpus)  # load it now, so a broken index is found before the question is asked

    def _refuse_while_rebuilding(self, corpus: str, guild_id: int | None) -> None:
        if corpus in self.rebuilds:
            raise CorpusRebuildingError(rebuilding_message(guild_id))
        failed = self._failed_rebuilds.get(corpus)
        if failed is not None and time.monotonic() - failed < RETRY_REBUILD_AFTER:
            raise CorpusRebuildingError(
                f"{'this server' if guild_id is not None else 'the'} index is broken and rebuilding it failed; "
                "the error is logged. An admin can try /reindex in a minute")

    async def in_corpus(self, guild_id: int | None, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """Call an engine method on this server's corpus (``corpus=`` is passed) in a worker thread."""
        corpus = await self.corpus_ready(guild_id)
        try:
            return await self.run_blocking(fn, *args, corpus=corpus, **kwargs)
        except (IndexCorruptError, ModelMismatchError) as exc:
            self._ready_corpora.discard(corpus)
            self.start_rebuild(corpus, exc)
            raise CorpusRebuildingError(rebuilding_message(guild_id)) from exc

    async def writable_corpus(self, guild_id: int | None) -> str:
        """The corpus an admin command may change: the server's own; never the seeds of direct messages."""
        if guild_id is None:
            raise ReadOnlyCorpusError("direct messages read the shared seed articles, which can't be changed "
                                      "from Discord; use this command in your server")
        return await self.corpus_ready(guild_id)

    def start_rebuild(self, corpus: str, reason: BaseException) -> None:
        """Rebuild a broken corpus from its sources in a worker thread (one rebuild per corpus at a time)."""
        if corpus in self.rebuilds:
            return
        log.error("%s; rebuilding it from its sources now", reason)
        self.rebuilds[corpus] = asyncio.get_running_loop().create_task(self._rebuild(corpus))

    async def _rebuild(self, corpus: str) -> None:
        try:
            report = await self.run_blocking(self.engine.build, corpus)
            self._failed_rebuilds.pop(corpus, None)
            log.info("rebuilt corpus %s: %d documents in %.1f s", corpus, report.documents, report.seconds)
        except Exception:
            self._failed_rebuilds[corpus] = time.monotonic()
            log.exception("rebuilding corpus %s failed; rebuild it with `newsqa index build --corpus %s`",
                          corpus, corpus)
        finally:
            self.rebuilds.pop(corpus, None)

    async def run_blocking(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """Run a blocking engine or SQLite call in a worker thread."""
        return await asyncio.to_thread(fn, *args, **kwargs)

    def check_question(self, question: str) -> str:
        """Clean a question or raise InvalidQuestionError (cheap: no model call)."""
        return clean_question(question, self.settings.max_question_chars)

    async def answer(self, question: str, *, guild_id: int | None, user_id: int | None,
                     channel_id: int | None, public: bool) -> tuple[Answer, int | None]:
        """Answer in a worker thread and log the question; returns the answer and its record id.

        ``public``: the answer is shown to everyone in the channel, not only to the asker. When the records
        database cannot be reached (RECORDS_URL's server down), the answer is still given, without a record
        id (so without buttons), and the operator is told in the log.
        """
        assert self.engine is not None and self.records is not None
        corpus = await self.corpus_ready(guild_id)  # a new server's corpus is created here, outside the timing
        started = time.perf_counter()
        answer = await self.in_corpus(guild_id, self.engine.ask, question, k=self.settings.answer_top_k)
        latency_ms = (time.perf_counter() - started) * 1000
        try:
            qid = await self.run_blocking(self.records.log_question, answer, user_id=user_id, guild_id=guild_id,
                                          channel_id=channel_id, corpus=corpus, latency_ms=latency_ms,
                                          public=public)
        except StoreUnavailableError as exc:
            log.error("question not recorded, answered without buttons: %s", exc)
            qid = None
        log.info("question %s server=%s %s confidence=%.2f in %.0f ms%s", qid,
                 guild_id if guild_id is not None else "DM", "answered" if answer.answered else "declined",
                 answer.confidence, latency_ms, f" question={question!r}" if self.settings.log_questions else "")
        return answer, qid

    def is_admin(self, interaction: discord.Interaction) -> bool:
        """Manage Server (or Administrator) in this channel, or a role listed in ADMIN_ROLE_IDS."""
        perms = interaction.permissions
        if perms.manage_guild or perms.administrator:
            return True
        roles = getattr(interaction.user, "roles", ())
        return any(role.id in self.settings.admin_role_ids for role in roles)

    async def audit(self, interaction: discord.Interaction, action: str, detail: str) -> None:
        """Write an admin action to the audit log and, when AUDIT_CHANNEL_ID is set, post it there."""
        user = interaction.user
        if self.records is not None:
            try:
                await self.run_blocking(self.records.audit, user_id=user.id, user_name=str(user),
                                        guild_id=interaction.guild_id, action=action, detail=detail)
            except StoreUnavailableError as exc:  # the change is done: say so; the entry is in this log (below)
                log.error("audit entry not recorded: %s", exc)
        log.info("audit: %s (%s) %s: %s", user, user.id, action, detail)
        channel_id = self.settings.audit_channel_id
        if not channel_id:
            return
        channel = self.get_channel(channel_id)
        if channel is None or not hasattr(channel, "send"):
            log.warning("AUDIT_CHANNEL_ID=%s is not a text channel the bot can see", channel_id)
            return
        text = f"🛠️ {user.mention} used `/{action}`: {escape(detail)}"
        try:
            await channel.send(plain_clip(text, 2000), allowed_mentions=discord.AllowedMentions.none())
        except discord.HTTPException as exc:
            log.warning("could not post to the audit channel %s: %s", channel_id, exc)
        except NETWORK_ERRORS as exc:
            log.warning("could not post to the audit channel %s: %s", channel_id, describe_error(exc))


class ShardedNewsQABot(NewsQABot, commands.AutoShardedBot):
    """The bot over several Discord shards (SHARD_COUNT), all or SHARD_IDS of them in this process."""


def serves(settings: Settings, guild_id: int | None) -> bool:
    """Whether this process serves a server (Discord's rule: shard = (guild_id >> 22) % shard_count).
    Corpora of no server (the CLI's) belong to the process that runs shard 0."""
    if settings.shard_count is None:
        return True
    mine = settings.shard_ids if settings.shard_ids is not None else range(settings.shard_count)
    shard = 0 if guild_id is None else (guild_id >> 22) % settings.shard_count
    return shard in mine


def create_bot(engine: Engine, settings: Settings, *, records_path: Path | None = None) -> NewsQABot:
    """Build the bot without connecting (tests hand it an engine over a temporary index).

    Its records go to ``records_path`` (a SQLite file) when given, else where RECORDS_URL says (bot.stores)."""
    from .stores import open_records

    records = Records(records_path) if records_path else open_records(settings, engine.index_dir)
    cls = NewsQABot if settings.shard_count is None else ShardedNewsQABot
    return cls(engine, settings, records)


def admin_only() -> Callable[[T], T]:
    """An app-command check made by the bot (not only hidden in the client): admins only."""

    async def predicate(interaction: discord.Interaction) -> bool:
        bot = interaction.client
        if isinstance(bot, NewsQABot) and bot.is_admin(interaction):
            return True
        raise NotAdmin()

    return app_commands.check(predicate)


ALLOWANCE = "allowance"  # interaction.extras key: the Cooldown this interaction used


def _allowance_check(pick: Callable[[NewsQABot], Cooldown]) -> Callable[[T], T]:
    async def predicate(interaction: discord.Interaction) -> bool:
        bot = interaction.client
        if not isinstance(bot, NewsQABot):
            return True
        allowance = pick(bot)
        retry = allowance.hit(interaction.user.id)
        if retry is not None:
            raise OnCooldown(retry, allowance.what)
        interaction.extras[ALLOWANCE] = allowance
        return True

    return app_commands.check(predicate)


def refund_allowance(interaction: discord.Interaction) -> None:
    """Give back the use an interaction took from its allowance (it ended in an error)."""
    allowance = interaction.extras.pop(ALLOWANCE, None)
    if allowance is not None:
        allowance.refund(interaction.user.id)


def question_cooldown() -> Callable[[T], T]:
    """COOLDOWN_QUESTIONS per COOLDOWN_SECONDS for each member, counted for questions answered or declined."""
    return _allowance_check(lambda bot: bot.cooldown)


def lookup_cooldown() -> Callable[[T], T]:
    """COOLDOWN_LOOKUPS per COOLDOWN_SECONDS for each member: /figures and /figure, apart from questions."""
    return _allowance_check(lambda bot: bot.lookups)
