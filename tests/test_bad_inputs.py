"""The bad-input table of docs/RELIABILITY.md as tests: each hostile question, file or URL gets a clear error
or a safe answer, and an input that is refused leaves the index exactly as it was.

Levels: the engine (questions), the loaders (index.documents / index.fetch, then Engine.add) and, where it
is cheap, the real bot under SimCord (tests/botfixtures.py). No test touches the internet: URLs go to a
local http.server on 127.0.0.1, or to 169.254.169.254, which must be refused before any connection.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from bot.console import format_answer
from bot.format import answer_payload
from index.documents import TITLE_LIMIT, list_sources, load_bytes, load_path, load_text, load_url
from index.engine import Engine
from index.segment import MAX_SENTENCE_CHARS
from index.errors import DocumentTooLargeError, FetchError, InvalidQuestionError, UnsupportedDocumentError
from tests.botfixtures import World, bot_engine, bot_settings, simcord_bot, world  # noqa: F401

PARSED_MENTION = re.compile(r"@(everyone|here)\b|<@[!&]?\d{15,21}>")
ZALGO = "H̷̢̛̞̤̲̣̟͓̩̓̈́̽͑̔͠ȍ̵̧̨̟̟̱̳̗͎̯̈́̎̈́w̸̧̛̹̤̪̤̓̆̈́̕ m̴̡̧̝̜̭̈́̃̓̾̈́͜ų̸̛̺̯̔̓͑c̷̛̙̗̗̪̉̓h̶̨̛̝̼̞̃̌̚ d̷̢̛̯̜̹̓̓i̴̢̛̝̘̤̓̕d̶̢̛̠̗̓ allies invest in defense?"
RTL = "كم أنفق الحلفاء على الدفاع في عام 2024؟ ‏כמה הוציאו בעלות הברית על הגנה?‮ reversed"
CONTROL = "How much\x00 did\x07 allies\x1b[31m invest\u202e in\u200b defense\x7f in 2024?\r\n\t"
FENCE = "```\n@everyone\n``` **bold** __u__ ||spoiler|| [link](http://evil.example) <@123456789012345678> > quote"
ARTICLE = ("Zorblax mining output rose to 900 tonnes in 2024, the ministry said. "
           "Officials expect it to double by 2030. The mine employs 1,200 people.\n")


# ------------------------------------------------------------------ questions, at the engine


@pytest.mark.parametrize(("question", "match"), [
    ("", "empty"),
    ("   \n\t  ", "empty"),
    ("\x00\x01\x02\x7f", "empty"),  # control characters only: nothing left to ask
    ("x" * 6000, "6000 characters long; the limit is 2000"),
    ("word " * 1200, "the limit is 2000"),
])
def test_bad_question_is_refused_with_a_clear_message(fake_engine: Engine, question: str, match: str) -> None:
    with pytest.raises(InvalidQuestionError, match=match):
        fake_engine.ask(question)


@pytest.mark.parametrize("question", [CONTROL, RTL, ZALGO, FENCE, "@everyone @here how much was invested?",
                                      "Ω" * 1999, "🙂" * 500, "\u202e\u2066" * 10 + "defense 2024"])
def test_odd_question_gets_a_safe_answer(fake_engine: Engine, question: str) -> None:
    answer = fake_engine.ask(question)
    assert 0.0 <= answer.confidence <= 1.0
    assert "\x00" not in answer.question and "\x1b" not in answer.question  # control characters were cleaned
    payload = answer_payload(answer)
    for e in payload.embeds:
        assert len(e) <= 6000
        assert not PARSED_MENTION.search(e.title or "") and not PARSED_MENTION.search(e.description or "")
    assert not PARSED_MENTION.search(payload.content or "")
    assert payload.kwargs()["allowed_mentions"].to_dict() == {"parse": []}


def test_control_characters_do_not_stop_the_answer(fake_engine: Engine) -> None:
    answer = fake_engine.ask(CONTROL)
    assert answer.answered and "$485 billion" in answer.hits[0].text


# ------------------------------------------------------------------ files and text, at the loaders + engine


def _snapshot(engine: Engine, corpus: str = "default") -> tuple[int, list[str]] | None:
    """Generation and document ids of a corpus (None while it does not exist yet)."""
    if not engine.has_corpus(corpus):
        return None
    return engine.stats(corpus).generation, [d.doc_id for d in engine.documents(corpus)]


def _bot_snapshot(world: World) -> tuple[int, list[str]] | None:
    """The corpus the bot answers this server from (each server has its own)."""
    return _snapshot(world.bot.engine, world.bot.corpus_for(world.guild.id))


def _refused(engine: Engine, make, error: type[Exception], match: str) -> None:
    """``make()`` builds a document; it must raise ``error`` and the index must stay as it was."""
    before = _snapshot(engine)
    with pytest.raises(error, match=match):
        engine.add([make()])
    assert _snapshot(engine) == before


def _zip_bomb_bytes() -> bytes:
    return gzip.compress(b"<p>" + b"A" * 50_000_000 + b"</p>", compresslevel=9)  # 50 MB -> ~50 kB


@pytest.mark.parametrize(("name", "data", "error", "match"), [
    ("empty.txt", b"", UnsupportedDocumentError, "no sentences"),
    ("blank.txt", b"  \n\n\t \r\n  ", UnsupportedDocumentError, "no sentences"),
    ("binary.txt", bytes(range(256)) * 8, UnsupportedDocumentError, "binary"),
    ("elf.txt", b"\x7fELF\x02\x01\x01" + bytes(500), UnsupportedDocumentError, "binary"),
    ("truncated.txt", "Allies spent €485 billion".encode()[:-1] + "€".encode()[:2], UnsupportedDocumentError,
     "not valid UTF-8"),
    ("latin1.txt", "Café crème prices rose.".encode("latin-1"), UnsupportedDocumentError, "not valid UTF-8"),
    ("bomb.html", None, UnsupportedDocumentError, "gzip archive"),
    ("archive.html", b"PK\x03\x04" + bytes(100), UnsupportedDocumentError, "zip archive"),
    ("photo.txt", b"\x89PNG\r\n\x1a\n" + bytes(100), UnsupportedDocumentError, "PNG"),
    ("script.exe", b"MZ\x90\x00", UnsupportedDocumentError, "supported are"),
    ("nav.html", b"<html><body><nav>Home</nav></body></html>", UnsupportedDocumentError, "no article text"),
])
def test_bad_file_is_refused_and_the_index_is_unchanged(fake_engine: Engine, tmp_path: Path, name: str,
                                                         data: bytes | None, error: type, match: str) -> None:
    data = _zip_bomb_bytes() if data is None else data
    path = tmp_path / name
    path.write_bytes(data)
    _refused(fake_engine, lambda: load_path(path), error, match)
    _refused(fake_engine, lambda: load_bytes(data, name=name), error, match)  # the same bytes as an upload


def test_fifty_megabyte_file_is_refused_before_it_is_read(fake_engine: Engine, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "huge.txt"
    with open(path, "wb") as fh:  # sparse: 50 MB on paper, nothing written
        fh.truncate(50 * 1024 * 1024)
    opened: list[str] = []
    real_open = os.open
    monkeypatch.setattr(os, "open", lambda file, *a, **k: opened.append(str(file)) or real_open(file, *a, **k))
    _refused(fake_engine, lambda: load_path(path), DocumentTooLargeError, "52,428,800 bytes, over the 5,000,000")
    assert str(path) not in opened, "the file was opened although its size alone refuses it"


@pytest.mark.parametrize("make", ["fifo", "zero", "urandom", "folder"])
def test_a_file_that_is_not_a_regular_file_is_refused_before_it_is_read(fake_engine: Engine, tmp_path: Path,
                                                                        make: str) -> None:
    """A FIFO would hang the add (open blocks until a writer comes); /dev/zero would read forever."""
    path = tmp_path / "x.txt"
    if make == "fifo":
        os.mkfifo(path)
    elif make == "folder":
        path.mkdir()
    else:
        path.symlink_to(f"/dev/{make}")
    kind = {"fifo": "a named pipe", "folder": "a folder"}.get(make, "a character device")
    _refused(fake_engine, lambda: load_path(path), UnsupportedDocumentError, f"is {kind}.*not a regular file")


def test_build_skips_links_out_of_the_source_folder_and_devices(tmp_path: Path, caplog: pytest.LogCaptureFixture
                                                                ) -> None:
    folder = tmp_path / "src"
    folder.mkdir()
    (folder / "kept.txt").write_text(ARTICLE)
    secret = tmp_path / "secret.txt"
    secret.write_text("The password is hunter2. Nobody should index it.")
    (folder / "outside.txt").symlink_to(secret)
    (folder / "inside.txt").symlink_to(folder / "kept.txt")  # a link within the folder is fine
    (folder / "zero.txt").symlink_to("/dev/zero")
    os.mkfifo(folder / "pipe.md")
    assert [p.name for p in list_sources(folder)] == ["inside.txt", "kept.txt"]
    assert "outside the source folder" in caplog.text and "not a regular file" in caplog.text


def test_build_reads_source_files_within_the_upload_limit(tmp_path: Path, seeds_dir: Path) -> None:
    from index.embed import HashingEncoder
    from index.engine import EngineSettings

    (seeds_dir / "long.txt").write_text(ARTICLE * 40)  # ~5.6 kB
    engine = Engine(tmp_path / "idx", HashingEncoder(), EngineSettings(seeds_dir=seeds_dir, max_document_bytes=5000))
    with pytest.raises(DocumentTooLargeError, match="long.txt is 5,560 bytes, over the 5,000-byte limit"):
        engine.build()
    engine.close()


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-be", "utf-32", "utf-32-be"])
def test_utf16_and_utf32_text_with_a_bom_is_read(fake_engine: Engine, tmp_path: Path, codec: str) -> None:
    data = ("\ufeff" + ARTICLE).encode({"utf-16": "utf-16-le", "utf-32": "utf-32-le"}.get(codec, codec))
    path = tmp_path / "wide.txt"
    path.write_bytes(data)
    for doc in (load_path(path), load_bytes(data, name="wide.txt")):
        assert doc.text == ARTICLE and "900 tonnes" in doc.sentences[0].text
        assert all(doc.text[s.start:s.end] == s.text for s in doc.sentences)
    html = ("\ufeff<html><head><title>Zorblax</title></head><body><article><p>" + ARTICLE
            + "</p></article></body></html>").encode("utf-16-le")
    assert "900 tonnes" in load_bytes(html, name="wide.html").text


def test_broken_utf16_is_refused_with_how_to_convert(tmp_path: Path) -> None:
    data = "\ufeffZorblax output rose.".encode("utf-16-le") + b"\x00\xd8"  # ends in half a surrogate pair
    with pytest.raises(UnsupportedDocumentError, match="UTF-16 byte order mark.*save it as UTF-8"):
        load_bytes(data, name="wide.txt")


@pytest.mark.parametrize(("meta", "match"), [
    ({"url": "javascript:alert(1)"}, "only http:// and https:// links"),
    ({"url": "file:///etc/passwd"}, "only http:// and https:// links"),
    ({"url": "https://"}, "no host name"),
    ({"url": "http://[::1"}, "not a valid URL"),
    ({"title": "\x00\u202e\n"}, "no printable text"),
])
def test_bad_sidecar_metadata_is_refused(fake_engine: Engine, tmp_path: Path, meta: dict, match: str) -> None:
    path = tmp_path / "article.txt"
    path.write_text(ARTICLE)
    (tmp_path / "article.txt.meta.json").write_text(json.dumps(meta))
    _refused(fake_engine, lambda: load_path(path), UnsupportedDocumentError, match)


def test_sidecar_titles_are_one_capped_plain_line(fake_engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "article.txt"
    path.write_text(ARTICLE)
    meta = tmp_path / "article.txt.meta.json"
    meta.write_text(json.dumps({"title": "Zorblax\x00 output\nrises \u202eevil\x1b[31m red"}))
    assert load_path(path).title == "Zorblax output rises evil [31m red"
    meta.write_text(json.dumps({"title": "word " * 20_000}))
    title = load_path(path).title
    assert len(title) <= TITLE_LIMIT and title.endswith("…")
    # the same rules for a title given with the upload, and for the one a page declares
    assert len(load_bytes(ARTICLE.encode(), name="a.txt", title="x" * 5000).title) <= TITLE_LIMIT
    page = f"<html><head><title>{'T' * 999}\u202e</title></head><body><p>{ARTICLE}</p></body></html>"
    assert len(load_bytes(page.encode(), name="a.html").title) <= TITLE_LIMIT


def test_a_huge_sidecar_is_refused_before_it_is_read(tmp_path: Path) -> None:
    path = tmp_path / "article.txt"
    path.write_text(ARTICLE)
    (tmp_path / "article.txt.meta.json").symlink_to("/dev/zero")
    with pytest.raises(UnsupportedDocumentError, match="character device"):
        load_path(path)
    (tmp_path / "article.txt.meta.json").unlink()
    (tmp_path / "article.txt.meta.json").write_text(json.dumps({"title": "x" * 2_000_000}))
    with pytest.raises(DocumentTooLargeError, match="over the 1,048,576-byte limit"):
        load_path(path)


@pytest.mark.parametrize("text", [
    "zorblax output rose and " * 80_000,  # ~2 MB without a single sentence mark
    "Zorblax output rose. " + "x" * 10_000 + " and fell.",  # a 10,000-character "word"
    "Zorblax, " * 3000 + "the end.",  # clause marks only
])
def test_text_without_sentence_ends_is_cut_into_bounded_sentences(fake_engine: Engine, text: str) -> None:
    doc = load_text(text, title="Run-on")
    assert max(s.end - s.start for s in doc.sentences) <= MAX_SENTENCE_CHARS
    assert [s.sentence for s in doc.sentences] == list(range(1, len(doc.sentences) + 1))
    for s in doc.sentences:
        assert doc.text[s.start:s.end] == s.text
    assert "".join(s.text for s in doc.sentences).replace(" ", "") == text.replace(" ", "")  # nothing lost
    fake_engine.add([doc])
    answer = fake_engine.ask("zorblax output rose")
    assert all(len(h.text) <= MAX_SENTENCE_CHARS for h in answer.hits)
    assert len(format_answer(answer)) < 8 * MAX_SENTENCE_CHARS  # was 3.9 MB for one answer


@pytest.mark.parametrize(("text", "match"), [("", "no sentences"), (" \n\t\n ", "no sentences"),
                                             ("nul\x00inside. More text here.", "NUL")])
def test_bad_pasted_text_is_refused(fake_engine: Engine, text: str, match: str) -> None:
    _refused(fake_engine, lambda: load_text(text, title="Pasted"), UnsupportedDocumentError, match)


@pytest.mark.parametrize("text", [
    RTL + " " + RTL + ".\n\nوقال المسؤولون إن الإنتاج سيتضاعف بحلول عام 2030.",
    ZALGO + " " + ZALGO + ". Second sentence about zorblax mining output.",
    "Control\x01 characters\x07 in\x1b[0m an article about zorblax mining. It said\u2028so.",
    FENCE + "\n\nZorblax output rose to 900 tonnes. @everyone should know. <@&123456789012345678> too.",
])
def test_odd_article_text_is_indexed_with_exact_spans(fake_engine: Engine, text: str) -> None:
    doc = load_text(text, title="Odd article")
    for s in doc.sentences:
        assert doc.text[s.start:s.end] == s.text
    before = fake_engine.stats().generation
    fake_engine.add([doc])
    assert fake_engine.stats().generation == before + 1
    answer = fake_engine.ask("zorblax mining output")
    payload = answer_payload(answer)
    for e in payload.embeds:
        assert not PARSED_MENTION.search(e.description or "")
        assert len(e) <= 6000


# ------------------------------------------------------------------ URLs


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        if self.path.startswith("/drip"):
            self._drip()
            return
        if self.path == "/article.txt":
            body, extra = ARTICLE.encode(), {}
        elif self.path == "/bomb.html":  # 10 MB of HTML in ~10 kB on the wire
            body = gzip.compress(b"<html><body><p>" + b"A" * 10_000_000 + b"</p></body></html>")
            extra = {"Content-Encoding": "gzip"}
        elif self.path == "/to-loopback":
            self.send_response(302)
            self.send_header("Location", f"http://127.0.0.1:{self.server.server_address[1]}/article.txt")
            self.end_headers()
            return
        elif self.path == "/to-metadata":
            self.send_response(302)
            self.send_header("Location", "http://169.254.169.254/latest/meta-data/iam/security-credentials/")
            self.end_headers()
            return
        else:
            self.send_response(404)
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/html" if self.path.endswith(".html") else "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        for k, v in extra.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)


    def _drip(self) -> None:
        """One byte every 0.1 s for 6 s: of the headers (/drip-headers) or of the body (/drip)."""
        body = ARTICLE.encode()[:60]
        try:
            if self.path == "/drip-headers":
                self.wfile.write(b"HTTP/1.1 200 OK\r\n")
                for _ in range(60):
                    self.wfile.write(b"X")
                    self.wfile.flush()
                    time.sleep(0.1)
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            for i in range(len(body)):
                self.wfile.write(body[i:i + 1])
                self.wfile.flush()
                time.sleep(0.1)
        except OSError:  # the client gave up: what the deadline is for
            pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def no_connections(monkeypatch: pytest.MonkeyPatch) -> list[tuple]:
    """Record (and refuse) every outgoing connection the fetcher tries."""
    tried: list[tuple] = []

    def refuse(address, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003
        tried.append(address)
        raise OSError("test: no connection allowed")

    monkeypatch.setattr(socket, "create_connection", refuse)
    return tried


def test_url_to_loopback_is_refused_without_allow_private(fake_engine: Engine, server: str) -> None:
    _refused(fake_engine, lambda: load_url(server + "/article.txt"), FetchError,
             r"127\.0\.0\.1 is a loopback address; set ALLOW_PRIVATE_URLS=true")
    # the same server is fine once private addresses are allowed: the refusal was the address, not the page
    assert "900 tonnes" in load_url(server + "/article.txt", allow_private=True).text


@pytest.mark.parametrize("url", ["http://169.254.169.254/latest/meta-data/", "https://169.254.169.254/",
                                 "http://[::ffff:169.254.169.254]/", "http://[fe80::1]/", "http://0.0.0.0/",
                                 "http://10.0.0.1/", "http://localhost/"])
def test_url_to_metadata_or_private_address_is_refused_before_connecting(
        fake_engine: Engine, no_connections: list, url: str) -> None:
    _refused(fake_engine, lambda: load_url(url), FetchError, "ALLOW_PRIVATE_URLS")
    assert no_connections == []


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.com/x", "gopher://x/", "javascript:alert(1)",
                                 "http:///nohost"])
def test_non_http_urls_are_refused(fake_engine: Engine, no_connections: list, url: str) -> None:
    _refused(fake_engine, lambda: load_url(url), FetchError, "refused")
    assert no_connections == []


@pytest.mark.parametrize(("path", "match"), [("/to-loopback", "loopback"), ("/to-metadata", "link-local")])
def test_redirect_to_a_private_address_is_refused(fake_engine: Engine, server: str,
                                                  monkeypatch: pytest.MonkeyPatch, path: str, match: str) -> None:
    """The first hop (our local server, named ``localhost``) is allowed; the redirect target must be vetted
    again on its own and refused (loopback 127.0.0.1, or the cloud metadata address)."""
    import index.fetch as fetch

    real = fetch.check_address
    first_hop = server.replace("127.0.0.1", "localhost")

    def allow_only_the_first_hop(address: str, *, url: str = "", allow_private: bool = False) -> None:
        if url.startswith(first_hop):
            return None
        return real(address, url=url, allow_private=allow_private)

    monkeypatch.setattr(fetch, "check_address", allow_only_the_first_hop)
    _refused(fake_engine, lambda: load_url(first_hop + path), FetchError, match)


def test_gzip_bomb_served_with_content_encoding_is_cut_off(fake_engine: Engine, server: str) -> None:
    _refused(fake_engine, lambda: load_url(server + "/bomb.html", allow_private=True, max_bytes=1_000_000),
             DocumentTooLargeError, "larger than the 1,000,000-byte limit")


@pytest.mark.parametrize("path", ["/drip", "/drip-headers"])
def test_a_slow_drip_server_cannot_outlast_the_fetch_timeout(fake_engine: Engine, server: str, path: str) -> None:
    """Each byte comes well within a socket timeout, but the whole fetch must end at the deadline."""
    started = time.monotonic()
    _refused(fake_engine, lambda: load_url(server + path, allow_private=True, timeout=1.0), FetchError,
             "timed out after 1 s")
    assert time.monotonic() - started < 4.0  # the server would go on for 6 s


@pytest.mark.parametrize(("url", "match"), [
    ("http://a..b/", "not a valid host name"),
    ("http://" + "a" * 64 + ".example/", "not a valid host name"),
    ("http://[::1/", "not a valid URL"),
    ("http://example.com:99999/", "not a valid URL"),
])
def test_malformed_url_is_refused_with_a_message(fake_engine: Engine, no_connections: list, url: str,
                                                 match: str) -> None:
    _refused(fake_engine, lambda: load_url(url), FetchError, match)
    assert no_connections == []


# ------------------------------------------------------------------ through the bot (SimCord)


def _no_ping(message) -> None:
    assert not message.mention_everyone and not message.role_mentions and not message.mentions


@pytest.mark.parametrize("question", ["   ", "\x00\x01\x02"])
async def test_bot_refuses_empty_questions_privately(world: World, question: str) -> None:
    result = await world.alice.slash(world.channel, "ask", question=question)
    assert result.response.ephemeral and "empty" in result.response.content
    assert world.env.errors


async def test_bot_cannot_be_sent_a_6000_character_question(world: World) -> None:
    """/ask declares max_length 2000, so Discord (SimCord) refuses the option before the bot sees it."""
    with pytest.raises(Exception, match="(?i)length|long|2000"):
        await world.alice.slash(world.channel, "ask", question="x" * 6000)


@pytest.mark.parametrize("question", [CONTROL, RTL, ZALGO, FENCE, "@everyone @here what did allies invest?"])
async def test_bot_answers_odd_questions_without_pinging(world: World, question: str) -> None:
    result = await world.alice.slash(world.channel, "ask", question=question)
    msg = result.response
    _no_ping(msg.message)
    assert len(msg.content or "") <= 2000 and sum(len(e) for e in msg.embeds) <= 6000
    for e in msg.embeds:
        assert not PARSED_MENTION.search(e.title or "") and not PARSED_MENTION.search(e.description or "")


@pytest.mark.parametrize(("name", "data", "expected"), [
    ("binary.txt", bytes(range(256)) * 8, "binary"),
    ("truncated.txt", "Allies spent €".encode()[:-1], "utf-8"),
    ("bomb.html", None, "gzip archive"),
    ("empty.txt", b"", "no sentences"),
])
async def test_bot_refuses_bad_uploads_and_keeps_the_index(world: World, name: str, data: bytes | None,
                                                           expected: str) -> None:
    data = _zip_bomb_bytes() if data is None else data
    await world.bot.corpus_ready(world.guild.id)  # the server's corpus exists, so "unchanged" means something
    before = _bot_snapshot(world)
    assert before is not None
    result = await world.admin.slash(world.channel, "add-article", file=(name, data))
    assert result.response.ephemeral and result.response.content.startswith("Sorry, ")
    assert expected in result.response.content.lower()
    assert _bot_snapshot(world) == before
    assert world.env.errors


async def test_bot_refuses_the_same_article_under_another_name(world: World) -> None:
    await world.bot.corpus_ready(world.guild.id)
    first = await world.admin.slash(world.channel, "add-article", file=("zorblax.txt", ARTICLE.encode()))
    assert not first.response.content.startswith("Sorry, ")
    before = _bot_snapshot(world)
    again = await world.admin.slash(world.channel, "add-article", file=("zorblax-copy.txt", ARTICLE.encode()))
    assert again.response.ephemeral and again.response.content.startswith("Sorry, ")
    assert "same text as zorblax) is already indexed" in again.response.content
    assert _bot_snapshot(world) == before
    assert world.env.errors


async def test_bot_refuses_a_50_mb_upload_before_downloading_it(world: World) -> None:
    await world.bot.corpus_ready(world.guild.id)  # the server's corpus exists, so "unchanged" means something
    before = _bot_snapshot(world)
    assert before is not None
    result = await world.admin.slash(world.channel, "add-article", file=("huge.txt", b"a" * (50 * 1024 * 1024)))
    assert result.response.ephemeral and "52,428,800 bytes" in result.response.content
    assert not result.deferred
    assert _bot_snapshot(world) == before
    assert world.env.errors  # the refusal went through the tree's error handler


@pytest.mark.parametrize("url", ["http://169.254.169.254/latest/meta-data/", "http://127.0.0.1:9/x",
                                 "file:///etc/passwd"])
async def test_bot_refuses_private_urls(world: World, no_connections: list, url: str) -> None:
    await world.bot.corpus_ready(world.guild.id)  # the server's corpus exists, so "unchanged" means something
    before = _bot_snapshot(world)
    assert before is not None
    result = await world.admin.slash(world.channel, "add-article", url=url)
    assert result.response.ephemeral and result.response.content.startswith("Sorry, ")
    assert "refused" in result.response.content
    assert no_connections == []
    assert _bot_snapshot(world) == before
    assert world.env.errors
