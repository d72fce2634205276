"""End to end under SimCord: /figures (+ autocomplete), /figure, /source (+ autocomplete), /articles, /help,
and an answer whose sentence and title are far beyond Discord's limits."""

from __future__ import annotations

from bot.format import embed_size_ok
from index.documents import load_text
from tests.botfixtures import (  # noqa: F401
    ANSWERABLE,
    World,
    bot_engine,
    bot_settings,
    simcord_bot,
    world,
)


async def test_figures_without_topic_lists_figures_with_citations(world: World):
    embed = (await world.alice.slash(world.channel, "figures")).response.embeds[0]
    assert embed.title == "Key figures"
    assert "**$485 billion**" in embed.description and "¶7" in embed.description


async def test_figures_ranked_by_topic_and_autocomplete_offers_titles_and_topics(world: World):
    choices = await world.alice.autocomplete(world.channel, "figures", "topic", "")
    names = [c["name"] for c in choices]
    assert names[0].startswith("📄 NATO defense ministers")
    assert len(choices) > 1 and len(choices) <= 25
    result = await world.alice.slash(world.channel, "figures", topic="defense spending GDP")
    embed = result.response.embeds[0]
    assert embed.title == "Key figures: defense spending GDP"
    assert "GDP" in embed.description.split("\n")[0]
    by_doc = await world.alice.slash(world.channel, "figures", topic=choices[0]["value"])
    assert "$485 billion" in by_doc.response.embeds[0].description


async def test_figure_finds_the_one_figure(world: World):
    # "3% of GDP" is the fifth figure of the article: the topic ranking, not document order, must find it.
    result = await world.alice.slash(world.channel, "figure", query="the alliance's goal for defense spending")
    embed = result.response.embeds[0]
    assert embed.title == "3% of GDP"
    assert "**3% of GDP**" in embed.description
    assert embed.fields[0].name == "Source"


async def test_source_shows_the_paragraph_of_a_citation_from_a_recent_answer(world: World):
    await world.alice.slash(world.channel, "ask", question=ANSWERABLE)
    choices = await world.alice.autocomplete(world.channel, "source", "citation", "")
    assert choices[0]["value"] == "nato-defense-ministers:8"
    result = await world.alice.slash(world.channel, "source", citation=choices[0]["value"])
    assert result.response.ephemeral
    assert "**He noted that in 2024" in result.response.embeds[0].description
    bad = await world.alice.slash(world.channel, "source", citation="the nato one")
    assert bad.response.ephemeral and "article-id:sentence" in bad.response.content
    assert world.env.errors


async def test_articles_lists_titles_dates_and_sizes(world: World):
    embed = (await world.alice.slash(world.channel, "articles")).response.embeds[0]
    assert embed.title == "Indexed articles (1)"
    assert "NATO defense ministers" in embed.description and "13 sentences" in embed.description


async def test_help_explains_everything_on_one_screen(world: World):
    result = await world.alice.slash(world.channel, "help")
    embed = result.response.embeds[0]
    assert result.response.ephemeral
    text = embed.description + embed.fields[0].value
    for command in ("/ask", "/figures", "/figure", "/source", "/articles", "/reindex", "/add-article",
                    "/remove-article", "/gaps", "/status"):
        assert command in text, command
    assert embed_size_ok(embed)


async def test_answer_near_every_embed_limit(world: World):
    sentence = "The zorblax council approved " + " and ".join(f"item {i} at **{i}%** for @everyone"
                                                           for i in range(700)) + "."
    doc = load_text(f"Intro line here.\n\n{sentence} After that, nothing.\n\nZorblax outro.",
                    title="Zorblax " + "very long title " * 40)
    world.bot.engine.ensure(world.corpus)
    world.bot.engine.add([doc], corpus=world.corpus)
    result = await world.alice.slash(world.channel, "ask", question=sentence[:400] + "?")
    msg = result.response.message
    (embed,) = msg.embeds
    assert embed_size_ok(embed) and len(embed) <= 6000
    assert embed.description.startswith("> **The zorblax council approved")
    assert len(embed.title) <= 256
    assert not msg.mention_everyone
    context = await world.alice.click(msg, label="More context")
    shown = context.followups[0] if context.followups else context.response
    assert shown.embeds and all(embed_size_ok(e) for e in shown.embeds)
