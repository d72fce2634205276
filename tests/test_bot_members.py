"""End to end under SimCord: the bot as members and admins meet it (issue 9). Threads it may not post in,
replies and chatter that are not questions, the question allowance, /source with citations as shown,
direct messages, honest status lines, limits from one setting, failed public answers, figure look-ups."""

from __future__ import annotations

import time

import discord
import pytest
import simcord

import bot.app
from bot.app import NEUTRAL_PLACEHOLDER, create_bot
from bot.citations import NumberedRef, ParagraphRef, SentenceRef, find_document, parse_citation
from bot.format import NO_ANSWER
from bot.settings import Settings, SettingsError, load_settings
from index.embed import HashingEncoder
from index.engine import Engine, EngineSettings
from index.models import DocumentInfo
from tests.botfixtures import (  # noqa: F401
    ANSWERABLE,
    SEEDS,
    ZORB,
    ZORB_QUESTION,
    World,
    bot_engine,
    bot_settings,
    simcord_bot,
    world,
)

TITLE = "NATO defense ministers on Ukraine and spending"


def from_bot(world: World, messages) -> list:
    return [m for m in messages if m.author.id == world.bot.user.id]


# ------------------------------------------------------------------ 1. threads it may not post in


@pytest.mark.parametrize("denied", ["send_messages_in_threads", "create_public_threads"])
async def test_without_thread_permissions_the_answer_is_posted_in_the_channel(world: World, denied: str):
    me = world.bot.user
    channel = world.guild.create_text_channel(
        "no-threads", overwrites={me: discord.PermissionOverwrite(**{denied: False})})
    question = await world.alice.send(channel, f"<@{me.id}> {ANSWERABLE}")
    assert channel.threads == []  # no empty thread left behind
    answer = channel.last_message
    assert answer.author.id == me.id
    assert "$485 billion" in answer.embeds[0].description
    assert answer.reference is not None and answer.reference.message_id == question.id


async def test_a_refused_send_into_the_new_thread_falls_back_to_the_channel(world: World, monkeypatch):
    me = world.bot.user
    channel = world.guild.create_text_channel(
        "no-threads", overwrites={me: discord.PermissionOverwrite(send_messages_in_threads=False)})
    # The bot's view of its permissions is stale (e.g. an overwrite changed a moment ago): Discord refuses.
    monkeypatch.setattr(discord.TextChannel, "permissions_for", lambda self, who: discord.Permissions.all())
    await world.alice.send(channel, f"<@{me.id}> {ANSWERABLE}")
    answer = channel.last_message
    assert answer.author.id == me.id and "$485 billion" in answer.embeds[0].description
    assert channel.threads == []  # the empty thread was deleted


# ------------------------------------------------------------------ 2. replies and chatter, the allowance


async def test_replies_and_chatter_are_not_questions_and_use_no_allowance(world: World):
    world.bot.cooldown.rate = 2
    me = world.bot.user
    await world.alice.send(world.channel, f"<@{me.id}> {ANSWERABLE}")  # 1 of 2
    (thread,) = world.channel.threads
    answer = thread.last_message
    thanks = await world.alice.send(thread, "thanks, that's great", reply_to=answer)  # Discord's Reply: a mention
    await world.alice.send(thread, "is that really true")
    await world.alice.send(thread, "is that really true?", reply_to=answer)
    assert thread.last_message.author.id == world.alice.id
    assert len(from_bot(world, thread.history())) == 1  # still only the answer
    (reaction,) = [m for m in thread.history() if m.id == thanks.id][0].reactions
    assert str(reaction.emoji) == "👍" and reaction.count == 1  # the bot acknowledged the thanks
    # none of that used the allowance: a real follow-up (2 of 2) is answered, the next is refused
    await world.alice.send(thread, "Who is the NATO Secretary General?", reply_to=answer)
    assert "Mark Rutte" in thread.last_message.embeds[0].description
    await world.alice.send(thread, "What did allies spend on defense in 2024?")
    assert "try again in" in thread.last_message.content


async def test_a_reply_to_an_answer_in_the_channel_is_chatter_unless_it_asks(world: World):
    me = world.bot.user
    channel = world.guild.create_text_channel(
        "no-threads", overwrites={me: discord.PermissionOverwrite(create_public_threads=False)})
    await world.alice.send(channel, f"<@{me.id}> {ANSWERABLE}")
    answer = channel.last_message
    await world.alice.send(channel, "is that really true", reply_to=answer)
    assert channel.last_message.author.id == world.alice.id
    await world.alice.send(channel, "Who is the NATO Secretary General?", reply_to=answer)
    assert "Mark Rutte" in channel.last_message.embeds[0].description


async def test_only_answered_or_declined_questions_use_the_allowance(world: World):
    world.bot.cooldown.rate = 1
    world.configure(max_question_chars=50)
    refused = await world.alice.slash(world.channel, "ask", question="x" * 60)  # refused: not counted
    assert refused.response.ephemeral and "limit is 50" in refused.response.content
    world.configure(max_question_chars=2000)
    original = world.bot.engine.ask

    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire")

    world.bot.engine.ask = broken
    failed = await world.alice.slash(world.channel, "ask", question=ANSWERABLE)  # an error: not counted
    assert "Something went wrong" in failed.response.content
    await world.alice.send(world.channel, f"<@{world.bot.user.id}> {ANSWERABLE}")  # an error: not counted
    assert "Something went wrong" in world.channel.last_message.content
    world.bot.engine.ask = original
    declined = await world.alice.slash(world.channel, "ask", question="What is the capital of Peru?")
    assert declined.response.content.startswith(NO_ANSWER)  # declined: counted
    again = await world.alice.slash(world.channel, "ask", question=ANSWERABLE)
    assert again.response.ephemeral and "try again in" in again.response.content
    assert world.env.errors  # the refusals and errors went through the tree's error handler


# ------------------------------------------------------------------ 3. /source with the citation as shown


async def test_source_accepts_every_citation_form_the_answer_shows(world: World):
    asked = await world.alice.slash(world.channel, "ask", question=ANSWERABLE)
    sources = asked.response.embeds[0].fields[-1].value
    shown = sources.split("\n")[0]  # what a member sees and copies: "[1] NATO defense ministers…, ¶7"
    assert shown == f"[1] {TITLE}, ¶7"
    bob = world.guild.add_member(world.env.create_user("bob"))  # another member, who did not ask
    for typed in (shown, f"{TITLE}, ¶7", "[1]", "1", "nato-defense-ministers:8", "NATO defense ministers "
                  "on Ukraine and spending, paragraph 7", "nato-defense-ministers:8 · paragraph 7"):
        result = await bob.slash(world.channel, "source", citation=typed)
        assert result.response.ephemeral, typed
        assert "**He noted that in 2024" in result.response.embeds[0].description, typed
    whole = await bob.slash(world.channel, "source", citation=f"{TITLE}, ¶1")  # a paragraph no answer cited
    assert whole.response.embeds and "**" not in whole.response.embeds[0].description
    for typed, expected in (("[7]", "no source [7]"), ("Some other article, ¶2", "no article titled"),
                            (f"{TITLE}, ¶99", "has no paragraph 99"), ("the nato one", "article-id:sentence")):
        refused = await bob.slash(world.channel, "source", citation=typed)
        assert refused.response.ephemeral and expected in refused.response.content.replace("\\", ""), typed
    assert world.env.errors


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("[2]", NumberedRef(2)),
        (" 3 ", NumberedRef(3)),
        ("nato-defense-ministers:8", SentenceRef("nato-defense-ministers", 8)),
        ("NATO-Defense-Ministers # 8", SentenceRef("nato-defense-ministers", 8)),
        ("nato-defense-ministers:8 · paragraph 7", SentenceRef("nato-defense-ministers", 8)),
        (f"[1] {TITLE}, ¶7", ParagraphRef(TITLE, 7)),
        (f"{TITLE}, ¶7 — He noted that in 2024", ParagraphRef(TITLE, 7)),  # an autocomplete name
        ("NATO defense ministers on Ukraine and…, ¶ 7", ParagraphRef("NATO defense ministers on Ukraine and…", 7)),
        (f"{TITLE} para. 7", ParagraphRef(TITLE, 7)),
        (f"{TITLE} p7", ParagraphRef(TITLE, 7)),
        ("the nato one", None),
        ("", None),
    ],
)
def test_parse_citation_reads_every_displayed_form(typed, expected):
    assert parse_citation(typed) == expected


def test_find_document_by_title_cut_title_or_id():
    docs = [DocumentInfo(doc_id="nato-defense-ministers", title=TITLE, source="s", url=None, published=None,
                         sentences=13, figures=1, chars=100, added_at="2026-01-01"),
            DocumentInfo(doc_id="nato-summit", title="NATO summit in The Hague", source="s", url=None,
                         published=None, sentences=5, figures=0, chars=50, added_at="2026-01-01")]
    assert find_document(TITLE.lower(), docs) is docs[0]
    assert find_document("NATO defense ministers on…", docs) is docs[0]
    assert find_document("nato-summit", docs) is docs[1]
    assert find_document("NATO…", docs) is None  # two titles start so: ambiguous
    assert find_document("Quokka ferries", docs) is None


async def test_source_autocomplete_offers_the_channels_citations_but_not_private_ones(world: World):
    await world.admin.slash(world.channel, "add-article", file=("zorblax.txt", ZORB.encode()))
    bob = world.guild.add_member(world.env.create_user("bob"))
    assert await bob.autocomplete(world.channel, "source", "citation", "") == []
    await world.alice.slash(world.channel, "ask", question=ANSWERABLE)
    offered = await bob.autocomplete(world.channel, "source", "citation", "")
    assert offered and offered[0]["value"] == "nato-defense-ministers:8"
    private = await world.alice.slash(world.channel, "ask", question=ZORB_QUESTION, private=True)
    assert not any("zorblax" in c["value"] for c in await bob.autocomplete(world.channel, "source", "citation", ""))
    assert any("zorblax" in c["value"] for c in await world.alice.autocomplete(world.channel, "source", "citation",
                                                                               ""))
    elsewhere = world.guild.create_text_channel("elsewhere")
    assert await bob.autocomplete(elsewhere, "source", "citation", "") == []
    await world.alice.click(private.response.message, label="Share to channel")  # now everyone has seen it
    assert any("zorblax" in c["value"] for c in await bob.autocomplete(world.channel, "source", "citation", ""))


# ------------------------------------------------------------------ 4. direct messages


async def test_a_question_by_direct_message_is_answered_from_the_seeds(world: World):
    await world.admin.slash(world.channel, "add-article", file=("zorblax.txt", ZORB.encode()))
    dora = world.env.create_user("dora")
    me = world.bot.user
    await dora.send_dm(ANSWERABLE)
    answer = dora.dm_channel.last_message
    assert answer.author.id == me.id and "$485 billion" in answer.embeds[0].description
    await dora.send_dm(ZORB_QUESTION)  # a server's own article is not in the DM corpus
    assert dora.dm_channel.last_message.content.startswith(NO_ANSWER)
    await dora.send_dm("hi")
    assert "Ask me a question" in dora.dm_channel.last_message.content
    world.bot.cooldown.rate = 2  # the same allowance as in a server
    await dora.send_dm(ANSWERABLE)
    assert "try again in" in dora.dm_channel.last_message.content
    (row,) = [q for q in world.bot.records._run("SELECT guild_id, corpus FROM questions WHERE user_id = ?",
                                                 (dora.id,))][:1]
    assert row == (None, "seeds")


# ------------------------------------------------------------------ 5. honest status lines


HTML = b"""<html><head><title>Zorblax harvest hits a record</title>
<meta property="article:published_time" content="2024-10-03T08:00:00Z"></head><body><article>
<h1>Zorblax harvest hits a record</h1>
<p>The Zorbland farm ministry said the zorblax harvest reached 900 tonnes in 2024, a record for the valley.</p>
<p>Farmers celebrated the zorblax harvest with a festival that lasted three days and drew visitors.</p>
</article></body></html>"""


async def test_articles_shows_the_publication_date_and_labels_the_date_added(world: World):
    await world.admin.slash(world.channel, "add-article", file=("zorblax.html", HTML))
    embed = (await world.alice.slash(world.channel, "articles")).response.embeds[0]
    seed, added = embed.description.split("\n\n")
    today = world.documents()[0].added_at[:10]
    assert f"added {today}" in seed and "published" not in seed  # the seed has no date of its own
    assert "published 2024-10-03" in added and f"added {today}" in added


async def test_re_adding_an_article_says_updated_and_what_changed(world: World):
    first = await world.admin.slash(world.channel, "add-article", file=("zorblax.txt", ZORB.encode()))
    assert "Added: `" in first.response.content
    again = await world.admin.slash(world.channel, "add-article", file=("zorblax.txt", ZORB.encode()))
    assert "Added" not in again.response.content
    assert "Updated: `zorblax" in again.response.content and "same title and length" in again.response.content
    longer = ZORB + "\n\nThe ministry expects a smaller harvest in 2025."
    changed = await world.admin.slash(world.channel, "add-article", file=("zorblax.txt", longer.encode()))
    assert "Updated: `zorblax" in changed.response.content and "3 → 4 sentences" in changed.response.content
    assert "the index now has 2 documents" in changed.response.content
    audit = world.bot.records.audit_log(guild_id=world.guild.id)[0]
    assert "updated zorblax" in audit["detail"] and "added" not in audit["detail"]


async def test_progress_counts_only_sentences_not_embedded_before(world: World):
    await world.admin.slash(world.channel, "add-article", file=("zorblax.txt", ZORB.encode()))
    edits = [(r.json or {}).get("content", "") for r in world.env.http_requests
             if r.method == "PATCH" and "@original" in r.path]
    embedding = [e for e in edits if "embedding" in e]
    assert embedding, edits
    assert all("3/3" in e or "/3 " in e for e in embedding), embedding  # the 3 new sentences, not all 16


# ------------------------------------------------------------------ 6. limits from one setting


async def test_the_ask_option_limit_comes_from_max_question_chars(tmp_path):
    settings = Settings(index_dir=tmp_path / "index", seeds_dir=SEEDS, max_question_chars=300)
    engine = Engine(settings.index_dir, HashingEncoder(), EngineSettings(seeds_dir=SEEDS))
    engine.ensure("seeds")
    try:
        async with simcord.run(create_bot(engine, settings)) as env:
            synced = {c.name: c for c in await env.bot.tree.sync()}
            (question,) = [o for o in synced["ask"].options if o.name == "question"]
            assert question.max_length == 300
    finally:
        engine.close()


@pytest.mark.parametrize(("value", "ok"), [("6000", True), ("6001", False), ("9", False)])
def test_max_question_chars_stays_within_discords_option_limit(value, ok):
    environ = {"MAX_QUESTION_CHARS": value}
    if ok:
        assert load_settings(None, environ).max_question_chars == int(value)
    else:
        with pytest.raises(SettingsError, match="MAX_QUESTION_CHARS"):
            load_settings(None, environ)


# ------------------------------------------------------------------ 7. a failed public answer


async def test_a_failed_public_answer_is_told_privately_and_leaves_nothing_in_the_channel(world: World,
                                                                                         monkeypatch):
    # SimCord's virtual clock fires only immediate timers: with no grace period the slow answer defers at once
    monkeypatch.setattr(bot.app, "DEFER_AFTER", 0)  # "thinking…" shows publicly

    def broken(*args, **kwargs):
        time.sleep(0.5)
        raise RuntimeError("disk on fire")

    world.bot.engine.ask = broken
    result = await world.alice.slash(world.channel, "ask", question=ANSWERABLE)
    callbacks = [(r.json or {}).get("type") for r in world.env.http_requests if r.path.endswith("/callback")]
    assert callbacks == [5]  # a public "thinking…" (deferred channel message) was shown
    told = [m for m in result.followups if "Something went wrong" in (m.content or "")]
    assert told and all(m.ephemeral for m in told)
    public = from_bot(world, world.channel.history())
    assert not any("Something went wrong" in (m.content or "") or "disk" in (m.content or "") for m in public)
    assert public == []  # the placeholder is gone
    edits = [(r.json or {}).get("content") for r in world.env.http_requests
             if r.method == "PATCH" and "@original" in r.path]
    assert edits == [NEUTRAL_PLACEHOLDER]  # never the error itself
    assert world.env.errors  # the error reached the tree's handler: seen and accepted


async def test_an_error_after_a_public_answer_never_replaces_it(world: World):
    private = await world.alice.slash(world.channel, "ask", question=ANSWERABLE, private=True)

    def broken(*args, **kwargs):
        raise RuntimeError("records on fire")

    world.bot.records.shared = broken  # fails after the shared answer was posted for everyone
    shared = await world.alice.click(private.response.message, label="Share to channel")
    public = shared.response.message
    assert not shared.response.ephemeral and "$485 billion" in public.embeds[0].description
    assert "$485 billion" in world.channel.last_message.embeds[0].description  # still the answer
    (told,) = shared.followups
    assert told.ephemeral and "Something went wrong" in told.content


# ------------------------------------------------------------------ 8. figure look-ups have their own limit


async def test_figures_and_figure_use_their_own_generous_limit(world: World):
    world.bot.cooldown.rate = 1
    world.bot.lookups.rate = 3
    await world.alice.slash(world.channel, "ask", question=ANSWERABLE)  # the question allowance is spent
    assert "try again" in (await world.alice.slash(world.channel, "ask", question=ANSWERABLE)).response.content
    assert (await world.alice.slash(world.channel, "figures")).response.embeds  # look-ups still work
    assert (await world.alice.slash(world.channel, "figure", query="defense spending in 2024")).response.embeds
    assert (await world.alice.slash(world.channel, "figures", topic="GDP")).response.embeds
    refused = await world.alice.slash(world.channel, "figures")
    assert refused.response.ephemeral
    assert "looking up figures faster than I can keep up with" in refused.response.content
    assert world.env.errors  # the refusals went through the tree's error handler
    help_text = (await world.alice.slash(world.channel, "help")).response.embeds[0].footer.text
    assert "50 questions and 20 figure look-ups per 30 s" in help_text
