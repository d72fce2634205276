"""End to end under SimCord: asking by /ask, by mention, in an ask channel and in the answer thread;
the no-answer reply; the buttons; mentions that must not ping; the cooldown."""

from __future__ import annotations

import pytest

from bot.cogs.qa import reads_as_question
from bot.format import NO_ANSWER
from tests.botfixtures import (  # noqa: F401
    ANSWERABLE,
    UNANSWERABLE,
    World,
    bot_engine,
    bot_settings,
    simcord_bot,
    world,
)


def labels(message) -> list[str]:
    return [c.get("label") or c["emoji"]["name"] for row in message.components for c in row["components"]]


def button(message, name: str) -> str:
    """The custom id of the button labelled (or with the emoji) ``name``."""
    for row in message.components:
        for c in row["components"]:
            if name in (c.get("label"), (c.get("emoji") or {}).get("name")):
                return c["custom_id"]
    raise AssertionError(f"no button {name!r} in {labels(message)}")


def assert_no_ping(message) -> None:
    assert not message.mention_everyone
    assert not message.role_mentions


async def test_ask_answers_with_quoted_passage_citations_and_buttons(world: World):
    result = await world.alice.slash(world.channel, "ask", question=ANSWERABLE)
    msg = result.response
    assert not msg.ephemeral
    (embed,) = msg.embeds
    assert "**He noted that in 2024, NATO allies in Europe and Canada invested $485 billion" in embed.description
    assert embed.fields[-1].name == "Sources"
    assert embed.fields[-1].value.startswith("[1] NATO defense ministers") and ", ¶7" in embed.fields[-1].value
    assert embed.footer.text.startswith("Confidence ")
    assert labels(msg) == ["More context", "👍", "👎"]
    assert_no_ping(msg.message)


async def test_more_context_shows_the_paragraph_privately(world: World):
    msg = (await world.alice.slash(world.channel, "ask", question=ANSWERABLE)).response
    result = await world.alice.click(msg.message, label="More context")
    shown = result.followups[0] if result.followups else result.response
    assert shown.ephemeral
    assert "Two\\-thirds of allies" in shown.embeds[0].description or "Two-thirds" in shown.embeds[0].description
    assert shown.embeds[0].footer.text.startswith("nato-defense-ministers:8")


async def test_private_ask_can_be_shared_to_the_channel(world: World):
    result = await world.alice.slash(world.channel, "ask", question=ANSWERABLE, private=True)
    msg = result.response
    assert msg.ephemeral
    assert labels(msg)[-1] == "Share to channel"
    shared = await world.alice.click(msg.message, label="Share to channel")
    public = shared.response
    assert not public.ephemeral
    assert public.content.startswith(f"{world.alice.mention} shared an answer")
    assert "$485 billion" in public.embeds[0].description
    assert "Share to channel" not in labels(public)
    assert_no_ping(public.message)


async def test_no_answer_is_plain_with_closest_passages_behind_a_button(world: World):
    result = await world.alice.slash(world.channel, "ask", question=UNANSWERABLE)
    msg = result.response
    assert msg.content.startswith(NO_ANSWER)
    assert msg.embeds == []
    assert labels(msg)[0] == "Show closest passages"
    closest = await world.alice.click(msg.message, label="Show closest passages")
    assert closest.response.ephemeral
    assert "not an answer" in closest.response.embeds[0].description


async def test_feedback_buttons_store_votes_and_thumbs_down_shows_in_gaps(world: World):
    msg = (await world.alice.slash(world.channel, "ask", question=ANSWERABLE)).response
    up = await world.alice.click(msg.message, custom_id=button(msg, "👍"))
    assert up.response.ephemeral and up.response.content.startswith("Thanks")
    down = await world.admin.click(msg.message, custom_id=button(msg, "👎"))
    assert down.response.ephemeral
    votes = world.bot.records.feedback(guild_id=world.guild.id)
    assert {(v["user_id"], v["vote"]) for v in votes} == {(world.alice.id, "up"), (world.admin.id, "down")}
    assert votes[0]["question"] == ANSWERABLE and votes[0]["hits"][0]["doc_id"] == "nato-defense-ministers"
    again = await world.alice.click(msg.message, custom_id=button(msg, "👎"))  # changing one's vote replaces it
    assert again.response.ephemeral
    assert sorted(v["vote"] for v in world.bot.records.feedback(guild_id=world.guild.id)) == ["down", "down"]
    gaps = await world.admin.slash(world.channel, "gaps")
    assert ANSWERABLE.replace("?", "") in gaps.response.embeds[0].description
    assert "👎" in gaps.response.embeds[0].description


async def test_mention_gets_an_answer_in_a_thread_and_follow_up_needs_no_mention(world: World):
    me = world.bot.user
    question = await world.alice.send(world.channel, f"<@{me.id}> {ANSWERABLE}")
    threads = world.channel.threads
    assert len(threads) == 1
    thread = threads[0]
    reply = thread.last_message
    assert reply.author.id == me.id
    assert "$485 billion" in reply.embeds[0].description
    assert thread.id == question.id  # the thread hangs off the question
    await world.alice.send(thread, "Who is the NATO Secretary General?")
    follow = thread.last_message
    assert follow.author.id == me.id and "Mark Rutte" in follow.embeds[0].description
    count = len(thread.history())
    await world.alice.send(thread, "thanks, that's great")  # chatter, not a question
    assert len(thread.history()) == count + 1


async def test_mention_without_question_gets_a_hint(world: World):
    await world.alice.send(world.channel, f"<@{world.bot.user.id}>")
    assert "Ask me a question" in world.channel.last_message.content


async def test_question_in_ask_channel_without_mention_and_chatter_is_ignored(world: World):
    world.configure(ask_channel_ids=frozenset({world.channel.id}))
    await world.alice.send(world.channel, "good morning everyone")
    assert world.channel.threads == []
    assert world.channel.last_message.author.id == world.alice.id
    await world.alice.send(world.channel, ANSWERABLE)
    (thread,) = world.channel.threads
    assert "$485 billion" in thread.last_message.embeds[0].description


async def test_question_elsewhere_without_mention_is_ignored(world: World):
    await world.alice.send(world.channel, ANSWERABLE)
    assert world.channel.threads == []
    assert world.channel.last_message.author.id == world.alice.id


async def test_question_with_everyone_and_role_mentions_pings_nobody(world: World):
    role = world.guild.create_role("Everybody")
    question = f"@everyone @here <@&{role.id}> how much did allies invest in defense in 2024?"
    result = await world.alice.slash(world.channel, "ask", question=question)
    msg = result.response.message
    assert_no_ping(msg)
    assert "@\u200beveryone" in msg.embeds[0].title and "@everyone" not in msg.embeds[0].title
    await world.alice.send(world.channel, f"<@{world.bot.user.id}> {question}")
    reply = world.channel.threads[0].last_message
    assert_no_ping(reply)
    assert "@everyone" not in world.channel.threads[0].name


async def test_empty_or_too_long_question_is_refused_privately(world: World):
    world.configure(max_question_chars=50)
    result = await world.alice.slash(world.channel, "ask", question="x" * 60)
    assert result.response.ephemeral
    assert "limit is 50" in result.response.content
    assert world.env.errors  # the refusal went through the tree's error handler: seen and accepted


async def test_cooldown_tells_the_member_when_to_retry(world: World):
    world.bot.cooldown.rate, world.bot.cooldown.per = 2, 30.0
    for _ in range(2):
        assert not (await world.alice.slash(world.channel, "ask", question=ANSWERABLE)).response.ephemeral
    refused = await world.alice.slash(world.channel, "ask", question=ANSWERABLE)
    assert refused.response.ephemeral
    assert "try again in 30 seconds" in refused.response.content
    assert world.env.errors  # the check failure went through the tree's error handler
    other = await world.admin.slash(world.channel, "ask", question=ANSWERABLE)  # per member
    assert not other.response.ephemeral
    await world.alice.send(world.channel, f"<@{world.bot.user.id}> {ANSWERABLE}")
    assert "try again" in world.channel.last_message.content
    await world.env.advance_time(31)
    assert not (await world.alice.slash(world.channel, "ask", question=ANSWERABLE)).response.ephemeral


async def test_engine_failure_is_answered_privately_and_logged(world: World, caplog):
    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire")

    world.bot.engine.ask = broken
    result = await world.alice.slash(world.channel, "ask", question=ANSWERABLE)
    assert world.env.errors  # the error reached the tree's handler: seen and accepted
    shown = result.response
    assert shown.ephemeral and "Something went wrong" in shown.content
    assert "disk on fire" not in shown.content
    assert any(r.exc_info and "disk on fire" in str(r.exc_info[1]) for r in caplog.records)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("How much did allies spend?", True),
        ("what did NATO agree on", True),
        ("spending in 2024?", True),
        ("Is Rutte the secretary general", True),
        ("thanks!", False),
        ("good morning", False),
        ("how?", False),  # names nothing the articles could answer
        ("who knows", False),  # too short to be a question without a question mark
        ("", False),
        ("is that really true", False),  # talk about an answer, not a question about the articles
        ("is that really true?", False),
        ("thanks, that's great", False),
        ("What does that mean?", False),
        ("and Canada?", True),
        ("Who is the NATO Secretary General?", True),
    ],
)
def test_reads_as_question(text, expected):
    assert reads_as_question(text) is expected


async def test_close_call_is_said_before_the_passages(world: World, bot_engine):
    import dataclasses

    from bot.format import CLOSE_CALL

    bot_engine.use_retrieval(dataclasses.replace(bot_engine.settings.retrieval, close_call_margin=1e9))
    msg = (await world.alice.slash(world.channel, "ask", question=ANSWERABLE)).response
    (embed,) = msg.embeds
    assert embed.description.startswith(CLOSE_CALL)
    assert "$485 billion" in embed.description and embed.footer.text.endswith("close call between passages")


async def test_a_question_for_an_amount_the_passages_lack_is_declined_saying_so(world: World, bot_engine):
    import dataclasses

    # Threshold 0: only the missing amount can decline it (the seed article gives no cost of the talks).
    bot_engine.use_retrieval(dataclasses.replace(bot_engine.settings.retrieval, threshold=0.0))
    msg = (await world.alice.slash(world.channel, "ask", question="How much will the peace talks cost?")).response
    assert msg.content.startswith(NO_ANSWER) and "state no amount of money" in msg.content and msg.embeds == []
    closest = await world.alice.click(msg.message, label="Show closest passages")
    assert closest.response.embeds[0].footer.text.endswith("the best one states no amount of money")
