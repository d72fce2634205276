"""Loading files, uploads, pasted text and URLs into Documents."""

from __future__ import annotations

import gzip
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from index.documents import (
    SUPPORTED_SUFFIXES,
    list_sources,
    load_bytes,
    load_path,
    load_text,
    load_url,
    make_doc_id,
)
from index.errors import DocumentTooLargeError, FetchError, NewsQAError, UnsupportedDocumentError
from index.models import Document

ROOT = Path(__file__).resolve().parents[1]
SEED = ROOT / "seeds" / "nato-defense-ministers.txt"
DOCS = Path(__file__).resolve().parent / "data" / "docs"
HTML = DOCS / "sample-article.html"
WRAPPED = DOCS / "hard-wrapped.md"
ARTICLE = "Storm closes harbor\nA storm closed the harbor on Monday. Ferries will resume on Wednesday.\n"


def assert_consistent(doc: Document) -> None:
    """Every span exact, numbering consecutive, every sentence inside its paragraph."""
    assert doc.sentences and doc.paragraphs
    for i, s in enumerate(doc.sentences, start=1):
        assert doc.text[s.start:s.end] == s.text
        assert s.sentence == i
        pstart, pend = doc.paragraphs[s.paragraph - 1]
        assert pstart <= s.start < s.end <= pend
    assert doc.doc_id == make_doc_id(doc.doc_id)


def write(folder: Path, name: str, data: bytes | str) -> Path:
    path = folder / name
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


# ---------------------------------------------------------------- files

def test_seed_article_loads_exactly() -> None:
    doc = load_path(SEED)
    assert doc.text == SEED.read_text(encoding="utf-8")
    assert_consistent(doc)
    assert len(doc.paragraphs) == 10  # one paragraph per line
    assert len(doc.sentences) >= 10
    # The title comes from the sidecar seeds/nato-defense-ministers.txt.meta.json; the text file is unchanged.
    assert (doc.doc_id, doc.title, doc.source) == ("nato-defense-ministers", "NATO defense ministers on Ukraine and spending", str(SEED))
    assert doc.url is None and doc.published is None


def test_sidecar_metadata_applied(tmp_path: Path) -> None:
    path = write(tmp_path, "article.txt", ARTICLE)
    write(tmp_path, "article.txt.meta.json", json.dumps({
        "title": "Harbor closed", "url": "https://example.com/harbor", "published": "2025-02-13",
        "doc_id": "Harbor Story"}))
    doc = load_path(path)
    assert (doc.title, doc.url, doc.published, doc.doc_id) == (
        "Harbor closed", "https://example.com/harbor", "2025-02-13", "harbor-story")
    assert doc.text == ARTICLE  # metadata never changes the text
    assert load_path(path, doc_id="override").doc_id == "override"


@pytest.mark.parametrize(("meta", "match"), [
    ("{not json", "cannot read metadata file"),
    ("[1, 2]", "must hold a JSON object"),
    ('{"title": 5}', "'title'.*must be a non-empty string"),
    ('{"published": "13/02/2025"}', "not an ISO date"),
])
def test_bad_sidecar_refused(tmp_path: Path, meta: str, match: str) -> None:
    path = write(tmp_path, "article.txt", ARTICLE)
    write(tmp_path, "article.txt.meta.json", meta)
    with pytest.raises(UnsupportedDocumentError, match=match):
        load_path(path)


@pytest.mark.parametrize(("text", "title"), [
    (ARTICLE, "Storm closes harbor"),  # short first line, no period, more text after
    ("# Storm closes harbor\n\nA storm closed the harbor.", "Storm closes harbor"),
    ("Is the harbor safe?\nA storm closed the harbor.", "Is the harbor safe?"),
    ("A storm closed the harbor.\nFerries will resume.", "Harbor news"),  # ends with a period
    ("Storm closes harbor", "Harbor news"),  # nothing after it
    ("A" * 130 + "\nMore text.", "Harbor news"),  # too long
])
def test_title_rules(tmp_path: Path, text: str, title: str) -> None:
    doc = load_path(write(tmp_path, "harbor_news.txt", text))
    assert doc.title == title
    assert doc.text == text


def test_bom_is_stripped(tmp_path: Path) -> None:
    doc = load_path(write(tmp_path, "bom.txt", b"\xef\xbb\xbf" + ARTICLE.encode()))
    assert doc.text == ARTICLE
    assert_consistent(doc)


@pytest.mark.parametrize(("data", "match"), [
    (b"Some text\x00with a NUL byte.", "binary .*NUL bytes at offset 9"),
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * 20, "PNG image"),
    (b"PK\x03\x04" + b"rest of a zip", "zip archive"),
    (b"\x1f\x8b\x08\x00" + b"gz", "gzip"),
    (b"%PDF-1.7\n...", "PDF"),
    (bytes(range(1, 9)) * 50, "mostly control bytes"),
    ("Caf\u00e9 au lait. It is good.".encode("latin-1"), r"not valid UTF-8 \(byte 0xe9 at offset 3\); save it as UTF-8"),
    (b"", "has no sentences to index"),
    (b"  \n\n\t \r\n", "has no sentences to index"),
])
def test_bad_content_refused(tmp_path: Path, data: bytes, match: str) -> None:
    path = write(tmp_path, "bad.txt", data)
    with pytest.raises(UnsupportedDocumentError, match=match) as err:
        load_path(path)
    assert "bad.txt" in str(err.value)


def test_control_characters_accepted(tmp_path: Path) -> None:
    text = "Odd\x0bcontrol\x0c characters. They\x1b[0m stay in the text.\n"
    doc = load_path(write(tmp_path, "odd.txt", text))
    assert doc.text == text
    assert_consistent(doc)


def test_oversized_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "big.txt", "A sentence. " * 100)
    with pytest.raises(DocumentTooLargeError, match=r"big.txt is 1,200 bytes, over the 1,000-byte limit"):
        load_path(path, max_bytes=1000)
    assert load_path(path, max_bytes=1200).sentences


@pytest.mark.parametrize("name", ["report.pdf", "letter.docx", "notes", "data.json", "article.txt.meta.json"])
def test_unsupported_suffix_refused(tmp_path: Path, name: str) -> None:
    path = write(tmp_path, name, ARTICLE)
    with pytest.raises(UnsupportedDocumentError, match=name.replace(".", r"\.")):
        load_path(path)


def test_missing_file_refused(tmp_path: Path) -> None:
    with pytest.raises(UnsupportedDocumentError, match="cannot read .*nope.txt"):
        load_path(tmp_path / "nope.txt")


def test_hard_wrapped_markdown_paragraphs() -> None:
    doc = load_path(WRAPPED)
    assert doc.text == WRAPPED.read_text(encoding="utf-8")
    assert_consistent(doc)
    assert doc.title == "Skerra lighthouse to be automated"
    assert doc.doc_id == "hard-wrapped"
    paragraphs = [doc.text[s:e] for s, e in doc.paragraphs]
    assert len(paragraphs) == 4
    assert paragraphs[1].startswith("The council voted") and paragraphs[1].endswith("officials said.")
    texts = [" ".join(s.text.split()) for s in doc.sentences]
    assert texts[1:] == [
        "The council voted on Tuesday to automate the Skerra lighthouse, ending more than a century of "
        "resident keepers.",
        "The work will cost $1.2 million and take about 18 months, officials said.",
        "“It is the end of an era,” said Mr. Jonsson, the last keeper.",
        "He has lived on the island since Jan. 5, 1998.",
        "Critics, e.g. the local fishing association, say automation will cut response times by 40%.",
        "The council disagrees.",
    ]
    assert [s.paragraph for s in doc.sentences] == [1, 2, 2, 3, 3, 4, 4]


def test_html_fixture_extracted() -> None:
    doc = load_path(HTML)
    assert_consistent(doc)
    assert doc.title == "Allies pledge more air defense for Ukraine"
    assert doc.published == "2025-02-14"
    assert doc.url == "https://news.example.com/world/2025/02/14/allies-pledge-air-defense"
    assert doc.doc_id == "sample-article"
    assert len(doc.paragraphs) == 4
    assert doc.text.startswith("NATO defense ministers agreed on Thursday")
    assert doc.text.endswith("targets for every member state.")
    for junk in ("Subscribe", "ADVERTISEMENT", "Sponsored", "cookies", "Related stories", "All rights reserved",
                 "Privacy policy", "Share on", "Celebrity chef", "dataLayer"):
        assert junk not in doc.text


@pytest.mark.parametrize("html", [b"", b"<html><body><nav><a href='/'>Home</a></nav></body></html>"])
def test_html_without_article_refused(html: bytes) -> None:
    with pytest.raises(UnsupportedDocumentError, match="no article text found in empty.html"):
        load_bytes(html, name="empty.html")


def test_html_title_falls_back_to_title_tag() -> None:
    html = ("<html><head><title>Harbor news</title></head><body><article><p>"
            + "A storm closed the harbor on Monday and the ferries stopped. " * 3 + "</p></article></body></html>")
    assert load_bytes(html.encode(), name="page.html").title == "Harbor news"


def test_list_sources(tmp_path: Path) -> None:
    for name in ["b.txt", "a.md", "c.HTML", "d.htm", ".hidden.txt", "a.md.meta.json", "x.pdf", "y.json"]:
        write(tmp_path, name, ARTICLE)
    (tmp_path / "sub").mkdir()
    write(tmp_path / "sub", "nested.txt", ARTICLE)
    assert [p.name for p in list_sources(tmp_path)] == ["a.md", "b.txt", "c.HTML", "d.htm"]
    assert SUPPORTED_SUFFIXES == (".txt", ".md", ".html", ".htm")


def test_list_sources_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(NewsQAError, match="nowhere does not exist"):
        list_sources(tmp_path / "nowhere")
    with pytest.raises(NewsQAError, match="is not a folder"):
        list_sources(write(tmp_path, "file.txt", ARTICLE))


# ---------------------------------------------------------------- ids

@pytest.mark.parametrize(("name", "expected"), [
    ("nato-defense-ministers", "nato-defense-ministers"),
    ("NATO Defense Ministers: Talks?", "nato-defense-ministers-talks"),
    ("Ünïcödé — Title_with_underscores", "unicode-title-with-underscores"),
    ("https://news.example.com/world/2025/02/14/allies-pledge.html?x=1", "allies-pledge"),
    ("https://www.example.com/", "example-com"),
    ("https://example.com/news/12345/index.html", "news"),
    ("", "document"),
    ("!!!", "doc-9a7b006d"),
    ("Привет мир", "doc-6b49ee5b"),
    ("word " * 30, ("word-" * 13)[:-1]),  # cut at a hyphen, 64 characters
])
def test_make_doc_id(name: str, expected: str) -> None:
    doc_id = make_doc_id(name)
    assert doc_id == expected
    assert 0 < len(doc_id) <= 64


def test_make_doc_id_long_without_hyphens() -> None:
    assert make_doc_id("x" * 100) == "x" * 64


# ---------------------------------------------------------------- uploads and pasted text

@pytest.mark.parametrize(("name", "content_type", "data"), [
    ("harbor.txt", None, ARTICLE.encode()),
    ("harbor", "text/plain; charset=utf-8", ARTICLE.encode()),
    ("harbor", "text/markdown", ARTICLE.encode()),
    ("harbor.bin", "text/plain", ARTICLE.encode()),
    ("harbor.html", None, HTML.read_bytes()),
    ("harbor", "text/html", HTML.read_bytes()),
])
def test_load_bytes(name: str, content_type: str | None, data: bytes) -> None:
    doc = load_bytes(data, name=name, content_type=content_type)
    assert_consistent(doc)
    assert doc.source == name
    assert doc.doc_id == "harbor"


def test_load_bytes_text_is_exact_and_titled() -> None:
    doc = load_bytes(ARTICLE.encode(), name="message.txt", source="discord attachment", title="Harbor closed")
    assert (doc.text, doc.title, doc.doc_id, doc.source) == (ARTICLE, "Harbor closed", "harbor-closed",
                                                             "discord attachment")


@pytest.mark.parametrize(("name", "content_type", "data", "error", "match"), [
    ("scan.pdf", "application/pdf", b"%PDF-1.4", UnsupportedDocumentError, "scan.pdf has type '.pdf'"),
    ("file", None, b"text", UnsupportedDocumentError, "file has no file type"),
    ("photo.txt", None, b"\x89PNG\r\n\x1a\n\x00", UnsupportedDocumentError, "PNG"),
    ("big.txt", None, b"A sentence. " * 10, DocumentTooLargeError, "over the 100-byte limit"),
    ("latin.txt", None, "é".encode("latin-1"), UnsupportedDocumentError, "offset 0"),
])
def test_load_bytes_refused(name: str, content_type: str | None, data: bytes, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        load_bytes(data, name=name, content_type=content_type, max_bytes=100)


def test_load_text() -> None:
    doc = load_text(ARTICLE)
    assert_consistent(doc)
    assert (doc.text, doc.title, doc.doc_id, doc.source) == (ARTICLE, "Storm closes harbor", "storm-closes-harbor",
                                                             "pasted text")
    titled = load_text("A storm closed the harbor. Ferries stopped.", title="Skerra lighthouse", source="chat")
    assert (titled.doc_id, titled.title, titled.source) == ("skerra-lighthouse", "Skerra lighthouse", "chat")
    untitled = load_text("A storm closed the harbor on Monday. Ferries will resume on Wednesday.")
    assert untitled.title == "A storm closed the harbor on Monday. Ferries …"
    assert load_text(ARTICLE, doc_id="Given ID").doc_id == "given-id"


@pytest.mark.parametrize("text", ["", "   \n\t ", "\ufeff"])
def test_load_text_empty_refused(text: str) -> None:
    with pytest.raises(UnsupportedDocumentError, match="pasted text has no sentences to index"):
        load_text(text)


# ---------------------------------------------------------------- URLs

class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        routes = {
            "/world/2025/allies-pledge-air-defense": (HTML.read_bytes(), "text/html; charset=utf-8", {}),
            "/redirect": (b"", None, {"Location": "/world/2025/allies-pledge-air-defense"}),
            "/notes/harbor.txt": (ARTICLE.encode(), "text/plain; charset=utf-8", {}),
            "/12345": (b"Harbor report\nThe harbor closed. It reopens soon.", "text/plain", {}),
            "/latin": ("Caf\u00e9 society. It is back.".encode("latin-1"), "text/plain; charset=iso-8859-1", {}),
            "/gz.txt": (gzip.compress(ARTICLE.encode()), "text/plain", {"Content-Encoding": "gzip"}),
            "/image": (b"\x89PNG\r\n\x1a\n", "image/png", {}),
        }
        body, ctype, extra = routes.get(self.path, (b"missing", "text/plain", {}))
        self.send_response(302 if "Location" in extra else 200 if self.path in routes else 404)
        if ctype:
            self.send_header("Content-Type", ctype)
        for k, v in extra.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def base() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_load_url_html_follows_redirect(base: str) -> None:
    doc = load_url(base + "/redirect", allow_private=True)
    assert_consistent(doc)
    final = base + "/world/2025/allies-pledge-air-defense"
    assert (doc.source, doc.url, doc.doc_id) == (final, final, "allies-pledge-air-defense")
    assert doc.title == "Allies pledge more air defense for Ukraine"
    assert doc.published == "2025-02-14"
    assert "Subscribe" not in doc.text


@pytest.mark.parametrize(("path", "title", "doc_id"), [
    ("/notes/harbor.txt", "Storm closes harbor", "harbor"),
    ("/12345", "Harbor report", "harbor-report"),  # no slug in the path: id from the title
    ("/latin", "Latin", "latin"),  # no title line: the path names it
    ("/gz.txt", "Storm closes harbor", "storm-closes-harbor"),  # "gz" is too short to be a slug
])
def test_load_url_text(base: str, path: str, title: str, doc_id: str) -> None:
    doc = load_url(base + path, allow_private=True)
    assert_consistent(doc)
    assert doc.url == base + path
    assert (doc.title, doc.doc_id) == (title, doc_id)


def test_load_url_latin1_decoded_with_declared_charset(base: str) -> None:
    assert load_url(base + "/latin", allow_private=True).text.startswith("Café society.")


def test_load_url_refusals(base: str) -> None:
    with pytest.raises(FetchError, match="loopback.*ALLOW_PRIVATE_URLS"):
        load_url(base + "/notes/harbor.txt")
    with pytest.raises(FetchError, match="image/png"):
        load_url(base + "/image", allow_private=True)
    with pytest.raises(DocumentTooLargeError):
        load_url(base + "/notes/harbor.txt", allow_private=True, max_bytes=10)
