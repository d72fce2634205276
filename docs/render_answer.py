"""Render a real answer of the bot, as Discord's dark theme shows it, to docs/answer.png (for the README).

The picture is made from the real thing: the packaged model answers a seed question over ``seeds/``,
``bot/format.py`` builds the embed and ``bot/cogs/qa.py`` the buttons, exactly as the bot sends them;
this script only draws that payload (HTML + CSS in the style of Discord's dark theme, markdown rendered
with markdown-it-py) and screenshots it with headless Chromium. Rerun it whenever the answer format
changes:

    .venv/bin/python docs/render_answer.py                       # writes docs/answer.png
    .venv/bin/python docs/render_answer.py --html /tmp/a.html    # also keep the HTML

Needs Chromium (Debian: ``apt-get install chromium``) and the test extras (markdown-it-py). A dev tool:
not part of ``make test``.
"""

from __future__ import annotations

import argparse
import html
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from anywhere: the project's own bot/ and index/

QUESTION = "How much did European allies and Canada invest in defense in 2024?"
WIDTH = 640  # CSS pixels: a narrow Discord chat column (an embed is at most 516 wide)
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--hide-scrollbars", "--mute-audio")


def real_payload(question: str) -> tuple[dict, list[dict]]:
    """The embed and the button rows the bot sends for ``question`` over the seed articles (real model)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from bot.cogs.qa import answer_view
    from bot.format import answer_payload
    from bot.runtime import make_engine
    from bot.settings import Settings

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(index_dir=Path(tmp) / "index", seeds_dir=ROOT / "seeds")
        engine = make_engine(settings)
        try:
            engine.ensure("seeds")
            answer = engine.ask(question, corpus="seeds", k=settings.answer_top_k)
        finally:
            engine.close()
    payload = answer_payload(answer)
    if not payload.embeds:
        raise SystemExit(f"the seeds do not answer {question!r}; pick a question they answer")
    (embed,) = payload.embeds
    return embed.to_dict(), answer_view(1, answer, private=False).to_components()


# ------------------------------------------------------------------ Discord markdown -> HTML


def _markdown():
    from markdown_it import MarkdownIt

    # Discord: no HTML, a newline is a line break, no headings/lists/code blocks in what the bot sends
    return MarkdownIt("commonmark", {"html": False, "breaks": True, "linkify": False}).disable(
        ["heading", "lheading", "list", "code", "fence", "hr", "html_block", "html_inline", "reference"])


def inline(text: str) -> str:
    """Discord's inline markdown (escapes, bold, links) as HTML, without the surrounding <p>."""
    out = _markdown().renderInline(text)
    return out.replace("<a href=", '<a target="_blank" href=')


def blocks(text: str) -> str:
    """A description or field value: lines starting with "> " are quotes (a line each, as in Discord)."""
    md = _markdown()
    out, quote = [], []

    def flush() -> None:
        if quote:
            out.append('<div class="quote">' + "<br>".join(md.renderInline(q) for q in quote) + "</div>")
            quote.clear()

    for line in text.split("\n"):
        if line.startswith("> "):
            quote.append(line[2:])
        else:
            flush()
            out.append(f'<div class="line">{md.renderInline(line) or "&nbsp;"}</div>')
    flush()
    return "".join(out)


# ------------------------------------------------------------------ the page

CSS = """
* { box-sizing: border-box; }
body { margin: 0; background: #313338; color: #dbdee1; width: %(width)dpx;
       font-family: "gg sans", "Noto Sans", "Helvetica Neue", Helvetica, Arial, sans-serif;
       font-size: 16px; line-height: 1.375; -webkit-font-smoothing: antialiased; }
.message { position: relative; padding: 2px 48px 14px 72px; margin-top: 14px; }
.reply { position: relative; display: flex; align-items: center; gap: 4px; height: 22px; margin-left: 0;
         font-size: 14px; color: #b5bac1; }
.reply::before { content: ""; position: absolute; left: -36px; top: 10px; width: 33px; height: 12px;
                 border-left: 2px solid #4e5058; border-top: 2px solid #4e5058; border-top-left-radius: 6px; }
.reply .mini { width: 16px; height: 16px; border-radius: 50%%; background: #f0b232; display: inline-block; }
.reply .who { color: #f0b232; font-weight: 500; }
.reply .cmd { color: #00a8fc; }
.avatar { position: absolute; left: 16px; top: 26px; width: 40px; height: 40px; border-radius: 50%%;
          background: #5865f2; color: #fff; display: flex; align-items: center; justify-content: center;
          font-weight: 700; font-size: 18px; }
.header { display: flex; align-items: baseline; gap: 6px; }
.name { color: #f2f3f5; font-weight: 500; font-size: 16px; }
.app { background: #5865f2; color: #fff; font-size: 10px; font-weight: 600; border-radius: 4px;
       padding: 1px 4px; line-height: 15px; position: relative; top: -2px; }
.time { color: #949ba4; font-size: 12px; }
.embed { margin-top: 4px; max-width: 516px; background: #2b2d31; border-left: 4px solid %(colour)s;
         border-radius: 4px; padding: 8px 16px 16px 12px; }
.embed-title { color: #f2f3f5; font-weight: 600; font-size: 16px; margin-top: 8px; }
.embed-description { font-size: 14px; line-height: 1.125rem; margin-top: 8px; color: #dbdee1; }
.field { margin-top: 8px; font-size: 14px; line-height: 1.125rem; }
.field-name { color: #f2f3f5; font-weight: 600; margin-bottom: 2px; }
.footer { margin-top: 8px; font-size: 12px; color: #b5bac1; font-weight: 500; }
.quote { border-left: 4px solid #4e5058; border-radius: 4px; padding: 0 8px 0 12px; margin: 0; }
strong { color: #f2f3f5; font-weight: 700; }
a { color: #00a8fc; text-decoration: none; }
.buttons { display: flex; gap: 8px; margin-top: 8px; flex-wrap: wrap; }
.button { height: 32px; min-width: 60px; padding: 2px 16px; border-radius: 8px; font-size: 14px;
          font-weight: 500; color: #fff; display: flex; align-items: center; justify-content: center; gap: 6px; }
.style-1 { background: #5865f2; } .style-2 { background: #4e5058; } .style-3 { background: #248046; }
.style-4 { background: #da373c; }
"""


def page(embed: dict, rows: list[dict]) -> str:
    """The whole page: "alice used /ask", then the bot's message with the embed and its buttons."""
    colour = f"#{embed.get('color', 0x5865F2):06x}"
    parts = [f'<div class="embed-title">{inline(embed["title"])}</div>' if embed.get("title") else "",
             f'<div class="embed-description">{blocks(embed["description"])}</div>'
             if embed.get("description") else ""]
    for field in embed.get("fields", []):
        parts.append(f'<div class="field"><div class="field-name">{inline(field["name"])}</div>'
                     f'<div>{blocks(field["value"])}</div></div>')
    if embed.get("footer"):
        parts.append(f'<div class="footer">{html.escape(embed["footer"]["text"])}</div>')
    buttons = []
    for row in rows:
        for c in row.get("components", []):
            emoji = (c.get("emoji") or {}).get("name") or ""
            label = html.escape(c.get("label") or "")
            buttons.append(f'<div class="button style-{c.get("style", 2)}">{emoji}{" " if emoji and label else ""}'
                           f"{label}</div>")
    return f"""<!doctype html><html><head><meta charset="utf-8"><style>{CSS % {"width": WIDTH, "colour": colour}}
</style></head><body><div class="message">
<div class="reply"><span class="mini"></span><span class="who">alice</span> used
<span class="cmd">/ask</span></div>
<div class="avatar">N</div>
<div class="header"><span class="name">newsqa</span><span class="app">APP</span>
<span class="time">Today at 12:00</span></div>
<div class="embed">{"".join(parts)}</div>
<div class="buttons">{"".join(buttons)}</div>
</div>
<script>document.title = "height:" + Math.ceil(document.body.getBoundingClientRect().height);</script>
</body></html>"""


# ------------------------------------------------------------------ screenshot


def find_browser(given: str | None) -> str:
    for name in ((given,) if given else BROWSERS):
        path = shutil.which(name)
        if path:
            return path
    raise SystemExit("no Chromium found; install it (Debian: apt-get install chromium) or pass --browser")


def screenshot(html_path: Path, out: Path, browser: str, scale: float) -> None:
    """Render ``html_path`` at its own height to ``out`` with headless Chromium."""
    with tempfile.TemporaryDirectory() as profile:
        flags = [*CHROMIUM_FLAGS, f"--user-data-dir={profile}"]
        dom = subprocess.run([browser, *flags, f"--window-size={WIDTH},2000", "--dump-dom", html_path.as_uri()],
                             capture_output=True, text=True, timeout=120, check=True).stdout
        found = re.search(r"<title>height:(\d+)</title>", dom)
        height = (int(found.group(1)) if found else 900) + 16  # and a margin below the buttons
        subprocess.run([browser, *flags, f"--window-size={WIDTH},{height}", f"--force-device-scale-factor={scale}",
                        f"--screenshot={out}", html_path.as_uri()],
                       capture_output=True, timeout=120, check=True)
    if not out.exists() or out.stat().st_size == 0:
        raise SystemExit(f"Chromium wrote no screenshot to {out}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--question", default=QUESTION, help="a question the seed articles answer")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "answer.png", help="the PNG to write")
    parser.add_argument("--html", type=Path, help="also write the HTML page here")
    parser.add_argument("--browser", help="Chromium or Chrome executable (default: found on PATH)")
    parser.add_argument("--scale", type=float, default=1.5, help="device pixels per CSS pixel")
    args = parser.parse_args(argv)
    browser = find_browser(args.browser)
    embed, rows = real_payload(args.question)
    text = page(embed, rows)
    with tempfile.TemporaryDirectory() as tmp:
        html_path = Path(tmp) / "answer.html"
        html_path.write_text(text, encoding="utf-8")
        if args.html:
            args.html.write_text(text, encoding="utf-8")
        screenshot(html_path, args.out.resolve(), browser, args.scale)
    print(f"wrote {args.out} ({args.out.stat().st_size:,} bytes) for: {args.question}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
