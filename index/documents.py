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

import hashlib
import json
import logging
import re
import unicodedata
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from index.errors import DocumentTooLargeError, UnsupportedDocumentError
from index.extract import article_blocks, blocks_text, clean_title
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
    if not meta_path.is_file():
        return {}
    try:
        raw: Any = json.loads(meta_path.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
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

    result = trafilatura.bare_extraction(data, with_metadata=True, include_comments=False)
    title = clean_title(getattr(result, "title", None), getattr(result, "sitename", None)) if result else None
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
    return Document(doc_id=make_doc_id(doc_id), title=title, source=source, text=text,
                    sentences=tuple(sentences), url=url, published=published,
                    paragraphs=tuple(split_paragraphs(text)))


def _from_bytes(data: bytes, *, name: str, kind: str, source: str, title: str | None, url: str | None,
                published: str | None, doc_id: str | None, charset: str | None = None,
                fallback_title: str | None = None) -> Document:
    """The shared path for files, uploads and fetched pages once the type is known."""
    _check_binary(data, name)
    if kind in _TEXT_SUFFIXES:
        if charset and charset.lower().replace("_", "-") not in ("utf-8", "utf8", "us-ascii", "ascii"):
            try:
                text = data.decode(charset)
            except (LookupError, UnicodeDecodeError) as exc:
                raise UnsupportedDocumentError(f"{name} cannot be decoded as {charset}: {exc}") from exc
        else:
            text = _decode_utf8(data, name)
        found_title = None
    else:
        html: bytes | str = data
        try:
            html = data.decode(charset or "utf-8").removeprefix(_UTF8_BOM)
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
    try:
        size = path.stat().st_size
        _check_size(size, name, max_bytes)
        data = path.read_bytes()
    except OSError as exc:
        raise UnsupportedDocumentError(f"cannot read {path}: {exc.strerror or exc}; check the path") from exc
    _check_size(len(data), name, max_bytes)  # it may have grown since stat()
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
    """The loadable files directly in ``folder``, sorted; hidden files and sidecars are skipped."""
    folder = Path(folder)
    if not folder.is_dir():
        what = "is not a folder" if folder.exists() else "does not exist"
        raise UnsupportedDocumentError(f"source folder {folder} {what}; create it or point to an existing folder")
    return sorted(
        p for p in folder.iterdir()
        if p.is_file() and not p.name.startswith(".") and not p.name.endswith(META_SUFFIX)
        and p.suffix.lower() in SUPPORTED_SUFFIXES
    )
