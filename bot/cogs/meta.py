"""/help and /articles."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from ..app import NewsQABot, reply, respond_soon
from ..format import COLOUR, Payload, articles_embed

HELP_USER = """\
**Ask** — `/ask question` (add `private: True` to see the answer alone; a button shares it later), \
mention me with a question, send me a direct message, or ask in a Q&A channel. Follow-up questions in \
my answer thread, or as a reply to an answer, need no mention; other chat there is left alone.
Answers are the articles' own sentences: the answering sentence is **bold**, citations [1] [2] [3] link to it.
Buttons: 📖 **More context** (the whole paragraph, just for you) and 👍/👎 to tell us how it went.
**`/figures [topic]`** — key figures, ranked by a topic or limited to an article.
**`/figure query`** — the one figure that answers e.g. “defense spending in 2024”.
**`/source citation`** — the full paragraph around a citation, typed as an answer shows it: `[2]`, \
“Title, ¶7” or `article-id:8`.
**`/articles`** — what is indexed, with publication dates and sizes.
Each server has its own articles; direct messages answer from the shared starter articles."""

HELP_ADMIN = """\
`/reindex` rebuild from the sources · `/add-article` a file (.txt .md .html), a URL or pasted text · \
`/remove-article` · `/gaps` questions we could not answer · `/status` index size, model, latency · `/feed-add` follow a news feed (new articles come in by themselves) · `/feed-remove` · `/feeds`.
For members with Manage Server or an admin role; changes apply to this server only and are audited."""


def help_embed(*, cooldown: str) -> discord.Embed:
    embed = discord.Embed(title="newsqa — answers from the news, with citations", colour=COLOUR,
                          description=HELP_USER)
    embed.add_field(name="Admins", value=HELP_ADMIN, inline=False)
    embed.set_footer(text=f"No AI writes the answers: every sentence is quoted from an article. {cooldown}")
    return embed


class Meta(commands.Cog):
    """Help and the list of articles."""

    def __init__(self, bot: NewsQABot) -> None:
        self.bot = bot

    @app_commands.command(name="help", description="How to ask questions and what each command does")
    async def help(self, interaction: discord.Interaction) -> None:
        """Everything the bot does, on one screen."""
        s = self.bot.settings
        cooldown = (f"Up to {s.cooldown_questions} questions and {s.cooldown_lookups} figure look-ups per "
                    f"{s.cooldown_seconds:g} s each.")
        await interaction.response.send_message(embed=help_embed(cooldown=cooldown), ephemeral=True)

    @app_commands.command(name="articles", description="List the indexed articles with their dates and sizes")
    async def articles(self, interaction: discord.Interaction) -> None:
        """The articles this server's answers come from."""
        docs = await respond_soon(interaction, self.bot.in_corpus(interaction.guild_id, self.bot.engine.documents),
                                  ephemeral=False)
        await reply(interaction, **Payload(embeds=(articles_embed(docs),)).kwargs())


async def setup(bot: NewsQABot) -> None:
    await bot.add_cog(Meta(bot))
