"""Turn files, uploads, pasted text and web pages into Documents ready to index.

One file is one document. ``.txt`` and ``.md`` files must be UTF-8; their document text is the file's
decoded content exactly, so every sentence span points into the file as it is. A UTF-8 byte order
mark is accepted and dropped: spans are then offsets into the decoded text without the BOM (one
character less than a character count of the raw file would give). ``.html``/``.htm`` files and
fetched web pages go through trafilatura; their document text is the extracted article, one
paragraph per block separated by blank lines, and spans point into that text.

Sidecar metadata: a file ``<name>.meta.json`` beside a source (for ``article.txt``,
``article.txt.meta.json``) is a JSON object with any of these string keys::

    {"title": "NATO defense ministers", "url": "https://...", "published": "2025-02-13",
     "doc_id": "nato-defense-ministers"}

``published`` must be an ISO date (or date-time). Sidecar values win over what is found in the file.
Sidecars are never sources themselves.

Titles, when not given: the sidecar, then (HTML) the page metadata, then the first line when it looks
like a title (short, no final period, more text after it; the text itself is not changed), then the
file name with hyphens and underscores as spaces. Document ids are slugs (``make_doc_id``).
"""

from __future__ import annotations

import codecs
import hashlib
import json
import logging
import os
import re
import stat
import unicodedata
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from index.errors import DocumentTooLargeError, UnsupportedDocumentError
from index.extract import article_blocks, blocks_text, strip_site_name, wrap_leading_text
from index.fetch import fetch_url
from index.models import Document
from index.segment import split_paragraphs, split_sentences

log = logging.getLogger(__name__)

SUPPORTED_SUFFIXES = (".txt", ".md", ".html", ".htm")
META_SUFFIX = ".meta.json"
_TEXT_SUFFIXES = (".txt", ".md")
_CONTENT_TYPES = {"text/plain": ".txt", "text/markdown": ".md", "text/x-markdown": ".md",
                  "text/html": ".html", "application/xhtml+xml": ".html"}
_MAGIC = ((b"%PDF", "a PDF"), (b"PK\x03\x04", "a zip archive (.docx, .xlsx, .zip ...)"),
          (b"\x1f\x8b", "a gzip archive"), (b"\x89PNG", "a PNG image"), (b"\xff\xd8\xff", "a JPEG image"),
          (b"GIF8", "a GIF image"), (b"\xd0\xcf\x11\xe0", "an old Office document"),
          (b"7z\xbc\xaf", "a 7-Zip archive"), (b"Rar!", "a RAR archive"), (b"RIFF", "a RIFF media file"))
_BINARY_BYTES = bytes(range(0x00, 0x09)) + bytes(range(0x0E, 0x1B)) + bytes(range(0x1C, 0x20))
_META_KEYS = ("title", "url", "published", "doc_id")
_MAX_ID = 64
_TITLE_MAX = 120
_MIN_ARTICLE_WORDS = 5
_UTF8_BOM = "\ufeff"
# UTF-32 first: its little-endian mark starts with the UTF-16 one.
_BOMS = ((codecs.BOM_UTF32_LE, "UTF-32"), (codecs.BOM_UTF32_BE, "UTF-32"),
         (codecs.BOM_UTF16_LE, "UTF-16"), (codecs.BOM_UTF16_BE, "UTF-16"))
_MAX_SIDECAR_BYTES = 1024 * 1024
TITLE_LIMIT = 200  # characters kept of any title (sidecar, page, --title, upload)
# Control characters, bidi embeddings/overrides/isolates and line/paragraph separators: a title is one
# plain line, and an U+202E would reverse what is printed after it in a terminal or a chat client.
_TITLE_JUNK = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]")
_FILE_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a named pipe (FIFO)"),
               (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
               (stat.S_ISSOCK, "a socket"))


def make_doc_id(name: str) -> str:
    """A slug (lowercase ascii letters, digits and hyphens, at most 64 characters, never empty).

    ``name`` is a file stem, a title or a URL; for a URL the last meaningful path segment (without
    its extension) is used, or the host name when the path has none.
    """
    if "://" in name:
        name = _url_segment(name) or (urlsplit(name).hostname or "").removeprefix("www.")
    slug = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii").lower()
    slug = re.sub(r"[^a-z0-9]+", "-", slug).strip("-")
    if len(slug) > _MAX_ID:
        cut = slug.rfind("-", 0, _MAX_ID + 1)
        slug = slug[: cut if cut >= _MAX_ID // 2 else _MAX_ID].strip("-")
    if not slug and name.strip():
        # e.g. a title in a non-Latin script: stable, distinct per name
        slug = "doc-" + hashlib.sha1(name.strip().encode("utf-8")).hexdigest()[:8]
    return slug or "document"


def _url_segment(url: str) -> str | None:
    """The last meaningful path segment of a URL, without extension ("index" and numbers don't count)."""
    segments = [Path(unquote(s)).stem for s in urlsplit(url).path.split("/") if s]
    useful = [s for s in segments if sum(c.isalpha() for c in s) >= 3 and s.lower() not in ("index", "amp")]
    return useful[-1] if useful else None


def _title_from_name(name: str) -> str:
    stem = Path(name).name
    for suffix in (META_SUFFIX, *SUPPORTED_SUFFIXES):
        if stem.lower().endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    words = " ".join(re.sub(r"[-_]+", " ", stem).split())
    return (words[:1].upper() + words[1:]) if words else "Untitled"


def _first_line_title(text: str) -> str | None:
    """The first line when it looks like a headline: short, no final period, more text after it."""
    stripped = text.lstrip()
    line, _, rest = stripped.partition("\n")
    line = line.strip().lstrip("#").strip().strip("*_").strip()
    if not line or not rest.strip() or len(line) > _TITLE_MAX or line[-1] in ".,;:":
        return None
    return line


def _check_size(size: int, name: str, max_bytes: int) -> None:
    if size > max_bytes:
        raise DocumentTooLargeError(
            f"{name} is {size:,} bytes, over the {max_bytes:,}-byte limit; split it or raise the limit")


def _not_regular(mode: int) -> str | None:
    """What a non-regular file is ("a named pipe (FIFO)", ...); None for a regular file."""
    if stat.S_ISREG(mode):
        return None
    return next((what for test, what in _FILE_KINDS if test(mode)), "not a regular file")


def read_file(path: Path, *, max_bytes: int, what: str = "file") -> bytes:
    """The bytes of a regular file of at most ``max_bytes``; refuse anything else before reading it.

    A FIFO would block the open, and a link to /dev/zero or /dev/urandom would read until memory runs
    out: the type is checked before opening (non-blocking) and again on the open descriptor, and the
    read itself stops one byte past the limit whatever the file claims its size is.
    """
    try:
        info = os.stat(path)
        kind = _not_regular(info.st_mode)
        if kind is None:
            _check_size(info.st_size, str(path), max_bytes)
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
            with os.fdopen(fd, "rb") as fh:
                kind = _not_regular(os.fstat(fh.fileno()).st_mode)  # swapped after the first check
                data = b"" if kind else fh.read(max_bytes + 1)
    except (OSError, ValueError) as exc:  # ValueError: a NUL or a lone surrogate in the path
        reason = getattr(exc, "strerror", None) or exc
        raise UnsupportedDocumentError(f"cannot read {what} {path}: {reason}; check the path") from exc
    if kind:
        raise UnsupportedDocumentError(f"{what} {path} is {kind}, not a regular file; give the path of a saved file")
    _check_size(len(data), str(path), max_bytes)  # it may have grown since stat()
    return data


def clean_title(title: str) -> str:
    """A title as one plain line: control and bidi-override characters out, at most TITLE_LIMIT characters."""
    text = " ".join(_TITLE_JUNK.sub(" ", title or "").split())
    if len(text) > TITLE_LIMIT:
        cut = text.rfind(" ", 0, TITLE_LIMIT)
        text = text[: cut if cut > TITLE_LIMIT // 2 else TITLE_LIMIT - 1].rstrip() + "…"
    return text


def web_url_problem(url: str) -> str | None:
    """Why ``url`` cannot be a document's link (only http/https with a host can); None if fine."""
    try:
        parts = urlsplit(url.strip())
    except ValueError as exc:
        return f"it is not a valid URL ({exc})"
    if parts.scheme.lower() not in ("http", "https"):
        return f"only http:// and https:// links are kept, not {parts.scheme or 'no scheme'!r}"
    if not parts.hostname:
        return "it has no host name"
    if any(ch.isspace() or unicodedata.category(ch)[0] == "C" for ch in url.strip()):
        return "it contains spaces or control characters"
    return None


def _decode_bom(data: bytes, name: str) -> str | None:
    """The text of a file starting with a UTF-16 or UTF-32 byte order mark (None without one)."""
    for bom, codec in _BOMS:
        if data.startswith(bom):
            try:
                return data.decode(codec.lower())  # the codec reads and drops the mark
            except UnicodeDecodeError as exc:
                if codec == "UTF-32":
                    continue  # FF FE 00 00 may also be UTF-16 starting with a NUL: try that next
                raise UnsupportedDocumentError(
                    f"{name} starts with a {codec} byte order mark but is not valid {codec} "
                    f"(offset {exc.start}); save it as UTF-8 text (e.g. `iconv -f {codec} -t UTF-8`)") from exc
    return None


def _check_binary(data: bytes, name: str) -> None:
    """Refuse known binary formats, NUL bytes and data that is mostly control bytes."""
    for magic, what in _MAGIC:
        if data.startswith(magic):
            raise UnsupportedDocumentError(f"{name} looks like {what}, not text; save the article as .txt, .md or .html")
    if b"\x00" in data:
        raise UnsupportedDocumentError(
            f"{name} is binary (it contains NUL bytes at offset {data.index(0)}); save the article as UTF-8 text")
    head = data[:8192]
    if head and sum(head.count(bytes([b])) for b in _BINARY_BYTES) * 10 > len(head):
        raise UnsupportedDocumentError(f"{name} looks binary (mostly control bytes); save the article as UTF-8 text")


def _decode_utf8(data: bytes, name: str) -> str:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UnsupportedDocumentError(
            f"{name} is not valid UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
            "save it as UTF-8 and try again") from exc
    return text.removeprefix(_UTF8_BOM)


def _kind(name: str, content_type: str | None) -> str:
    """The suffix that decides how to read ``name``: from the name, else from the content type."""
    suffix = Path(name).suffix.lower()
    if suffix in SUPPORTED_SUFFIXES:
        return suffix
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media in _CONTENT_TYPES:
        return _CONTENT_TYPES[media]
    what = f"type {suffix!r}" if suffix else "no file type"
    if media:
        what += f" (content type {media!r})"
    raise UnsupportedDocumentError(
        f"{name} has {what}; supported are {', '.join(SUPPORTED_SUFFIXES)} — save the article as one of those")


def _read_sidecar(path: Path) -> dict[str, str]:
    meta_path = path.with_name(path.name + META_SUFFIX)
    if not meta_path.exists():
        return {}
    data = read_file(meta_path, max_bytes=_MAX_SIDECAR_BYTES, what="metadata file")
    try:
        raw: Any = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UnsupportedDocumentError(f"cannot read metadata file {meta_path}: {exc}; fix or delete it") from exc
    if not isinstance(raw, dict):
        raise UnsupportedDocumentError(f"metadata file {meta_path} must hold a JSON object; fix or delete it")
    unknown = sorted(set(raw) - set(_META_KEYS))
    if unknown:
        log.warning("ignoring unknown keys %s in %s (known: %s)", unknown, meta_path, ", ".join(_META_KEYS))
    meta: dict[str, str] = {}
    for key in _META_KEYS:
        value = raw.get(key)
        if value is None:
            continue
        if not isinstance(value, str) or not value.strip():
            raise UnsupportedDocumentError(f"{key!r} in {meta_path} must be a non-empty string, not {value!r}")
        meta[key] = value.strip()
    if "published" in meta and not _is_iso_date(meta["published"]):
        raise UnsupportedDocumentError(
            f"'published' in {meta_path} is {meta['published']!r}, not an ISO date; write it like 2025-02-13")
    if "url" in meta and (problem := web_url_problem(meta["url"])):
        raise UnsupportedDocumentError(f"'url' in {meta_path} is {meta['url'][:100]!r}: {problem}; fix or remove it")
    if "title" in meta:
        meta["title"] = clean_title(meta["title"])
        if not meta["title"]:
            raise UnsupportedDocumentError(f"'title' in {meta_path} has no printable text; fix or remove it")
    return meta


def _is_iso_date(value: str) -> bool:
    for parse in (date.fromisoformat, datetime.fromisoformat):
        try:
            parse(value)
            return True
        except ValueError:
            pass
    return False


def _extract_html(data: bytes | str, name: str) -> tuple[str, str | None, str | None, str | None]:
    """(article text, title, published date, url) from HTML: trafilatura, then index.extract's cleaning."""
    import trafilatura  # imported lazily: it is slow to import and only HTML needs it

    tree = trafilatura.load_html(data)
    result = None if tree is None else trafilatura.bare_extraction(
        wrap_leading_text(tree), with_metadata=True, include_comments=False)
    title = strip_site_name(getattr(result, "title", None), getattr(result, "sitename", None)) if result else None
    if not title:
        page = data if isinstance(data, str) else data.decode("utf-8", "replace")
        m = re.search(r"<title[^>]*>(.*?)</title>", page, re.I | re.S)
        title = " ".join(m.group(1).split()) if m else None
    body = getattr(result, "body", None) if result is not None else None
    text = blocks_text(article_blocks(body, title)) if body is not None else ""
    if len(text.split()) < _MIN_ARTICLE_WORDS:  # e.g. only a nav link ("Home") survived extraction
        raise UnsupportedDocumentError(f"no article text found in {name}; save the article text as .txt instead")
    return text, title or None, getattr(result, "date", None) or None, getattr(result, "url", None) or None


def _document(text: str, *, name: str, doc_id: str, title: str, source: str, url: str | None = None,
              published: str | None = None) -> Document:
    """Segment ``text`` and wrap it up; refuse text with nothing to index."""
    sentences = split_sentences(text)
    if not sentences:
        raise UnsupportedDocumentError(f"{name} has no sentences to index (it is empty or only whitespace); "
                                       "add the article text")
    if url and web_url_problem(url):
        log.warning("%s: dropping link %r (%s)", name, url[:100], web_url_problem(url))
        url = None
    return Document(doc_id=make_doc_id(doc_id), title=clean_title(title) or _title_from_name(name), source=source,
                    text=text, sentences=tuple(sentences), url=url, published=published,
                    paragraphs=tuple(split_paragraphs(text)))


def _from_bytes(data: bytes, *, name: str, kind: str, source: str, title: str | None, url: str | None,
                published: str | None, doc_id: str | None, charset: str | None = None,
                fallback_title: str | None = None) -> Document:
    """The shared path for files, uploads and fetched pages once the type is known."""
    wide = _decode_bom(data, name)
    _check_binary(data if wide is None else wide.encode("utf-8", "surrogatepass"), name)
    if wide is not None:
        log.info("%s: decoded from a UTF-16/32 byte order mark; spans are offsets into the decoded text", name)
    if kind in _TEXT_SUFFIXES and wide is not None:
        text = wide
        found_title = None
    elif kind in _TEXT_SUFFIXES:
        if charset and charset.lower().replace("_", "-") not in ("utf-8", "utf8", "us-ascii", "ascii"):
            try:
                text = data.decode(charset)
            except (LookupError, UnicodeDecodeError) as exc:
                raise UnsupportedDocumentError(f"{name} cannot be decoded as {charset}: {exc}") from exc
        else:
            text = _decode_utf8(data, name)
        found_title = None
    else:
        html: bytes | str = data if wide is None else wide
        try:
            html = html.decode(charset or "utf-8").removeprefix(_UTF8_BOM) if isinstance(html, bytes) else html
        except (LookupError, UnicodeDecodeError):
            pass  # let trafilatura detect the encoding from the bytes and <meta charset>
        text, found_title, found_date, found_url = _extract_html(html, name)
        published = published or found_date
        url = url or found_url
    title = title or found_title or _first_line_title(text) or fallback_title or _title_from_name(name)
    return _document(text, name=name, doc_id=doc_id or Path(name).stem, title=title, source=source,
                     url=url, published=published)


def load_path(path: Path, *, max_bytes: int = 5_000_000, doc_id: str | None = None) -> Document:
    """Load one file (.txt, .md, .html, .htm) as one document, applying its sidecar metadata if any."""
    path = Path(path)
    name = path.name
    if name.endswith(META_SUFFIX):
        raise UnsupportedDocumentError(f"{name} is a metadata sidecar, not an article; load the file it describes")
    kind = _kind(name, None)
    data = read_file(path, max_bytes=max_bytes)
    meta = _read_sidecar(path)
    return _from_bytes(data, name=name, kind=kind, source=str(path), title=meta.get("title"), url=meta.get("url"),
                       published=meta.get("published"), doc_id=doc_id or meta.get("doc_id"))


def load_bytes(data: bytes, *, name: str, source: str | None = None, title: str | None = None,
               content_type: str | None = None, url: str | None = None, max_bytes: int = 5_000_000) -> Document:
    """Load an in-memory upload (e.g. a chat attachment called ``name``) as one document."""
    kind = _kind(name, content_type)
    _check_size(len(data), name, max_bytes)
    charset = None
    m = re.search(r"charset=\"?([\w.:-]+)", content_type or "", re.I)
    if m:
        charset = m.group(1)
    return _from_bytes(data, name=name, kind=kind, source=source or name, title=title, url=url,
                       published=None, doc_id=title, charset=charset if kind not in _TEXT_SUFFIXES else None)


def load_text(text: str, *, title: str | None = None, source: str = "pasted text", doc_id: str | None = None
              ) -> Document:
    """Load pasted text as one document; without a title, the first line or first words name it."""
    text = text.removeprefix(_UTF8_BOM)
    if "\x00" in text:
        raise UnsupportedDocumentError(f"{source} contains NUL characters; paste plain text")
    if not title:
        words = text.split()
        first_words = " ".join(words[:8]) + (" …" if len(words) > 8 else "")
        title = _first_line_title(text) or first_words[:_TITLE_MAX] or "Pasted text"
    return _document(text, name=source, doc_id=doc_id or title, title=title, source=source)


def load_url(url: str, *, max_bytes: int = 5_000_000, timeout: float = 15.0, allow_private: bool = False
             ) -> Document:
    """Fetch ``url`` safely (see index.fetch) and load the page: HTML through trafilatura, else plain text."""
    page = fetch_url(url, max_bytes=max_bytes, timeout=timeout, allow_private=allow_private)
    segment = _url_segment(page.url)
    host = (urlsplit(page.url).hostname or "web page").removeprefix("www.")
    doc = _from_bytes(page.body, name=page.url, kind=_CONTENT_TYPES.get(page.content_type, ".txt"),
                      source=page.url, title=None, url=page.url, published=None, doc_id="page",
                      charset=page.charset, fallback_title=_title_from_name(segment) if segment else host)
    # The URL's slug is stable across re-fetches; without one, the title beats the host name.
    return replace(doc, doc_id=make_doc_id(segment or doc.title))


def list_sources(folder: Path) -> list[Path]:
    """The loadable files directly in ``folder``, sorted; hidden files and sidecars are skipped.

    So are (with a warning) links that lead out of the folder and anything that is not a regular file
    (a FIFO or a device named ``x.txt``).
    """
    folder = Path(folder)
    if not folder.is_dir():
        what = "is not a folder" if folder.exists() else "does not exist"
        raise UnsupportedDocumentError(f"source folder {folder} {what}; create it or point to an existing folder")
    inside = folder.resolve()
    out = []
    for p in folder.iterdir():
        if p.name.startswith(".") or p.name.endswith(META_SUFFIX) or p.suffix.lower() not in SUPPORTED_SUFFIXES:
            continue
        target = p.resolve()
        if target.parent != inside and inside not in target.parents:
            log.warning("skipping %s: it links to %s, outside the source folder", p, target)
            continue
        try:
            kind = _not_regular(target.stat().st_mode)
        except OSError as exc:
            log.warning("skipping %s: %s", p, exc.strerror or exc)
            continue
        if kind:
            log.warning("skipping %s: it is %s, not a regular file", p, kind)
            continue
        out.append(p)
    return sorted(out)
