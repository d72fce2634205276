"""A local feed server on 127.0.0.1 for the feed tests and bench/bench_feeds.py: RSS feeds, article pages,
conditional GET (ETag / Last-Modified answered with 304), redirects, slow and huge responses.

    with FeedServer() as server:
        server.feed("/a.xml", [server.article("/news/one", "One")])
        url = server.url("/a.xml")
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from xml.sax.saxutils import escape


@dataclass
class Route:
    body: bytes = b""
    ctype: str = "text/html; charset=utf-8"
    status: int = 200
    etag: str | None = None
    last_modified: str | None = None
    delay: float = 0.0
    location: str | None = None
    stream_bytes: int = 0  # send this many bytes without a Content-Length (a huge response)


@dataclass
class Item:
    path: str
    title: str
    guid: str | None = None
    published: str | None = None  # RFC 822 date
    link: str | None = None  # the link the feed gives, when not the server's own path


def article_html(title: str, number: int = 1) -> str:
    """An article page with three paragraphs and a few figures (distinct per ``number``)."""
    paragraphs = [
        f"The {title} report was published on Monday by the city council of Exampleton, officials said.",
        f"According to the report, spending on {title.lower()} rose to ${number * 7} million in 2025, "
        f"up {number % 9 + 2}% from the year before. Council member Ada Quill called the figure remarkable.",
        f"Residents will be able to comment on the {title.lower()} plan until the end of the month. "
        f"A public meeting is planned for {number % 20 + 1} March at the town hall.",
    ]
    body = "".join(f"<p>{escape(p)}</p>" for p in paragraphs)
    return (f"<html><head><title>{escape(title)} | Exampleton Herald</title></head><body><nav><a href='/'>Home</a>"
            f"</nav><article><h1>{escape(title)}</h1>{body}</article><footer>© Herald</footer></body></html>")


class FeedServer:
    """Serves routes set by the test; records each request's path and headers."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                with server._lock:
                    server.requests.append((self.path, dict(self.headers.items())))
                    route = server.routes.get(self.path)
                if route is None:
                    return self._send(404, b"not found", "text/plain")
                if route.delay:
                    time.sleep(route.delay)
                if route.location:
                    status = route.status if 300 <= route.status < 400 else 302
                    return self._send(status, b"", None, {"Location": route.location})
                if (route.etag and self.headers.get("If-None-Match") == route.etag) or (
                        route.last_modified and self.headers.get("If-Modified-Since") == route.last_modified):
                    return self._send(304, b"", None, {"ETag": route.etag or ""} if route.etag else None)
                extra = {k: v for k, v in (("ETag", route.etag), ("Last-Modified", route.last_modified)) if v}
                if route.stream_bytes:
                    return self._stream(route)
                self._send(route.status, route.body, route.ctype, extra)

            def _send(self, status: int, body: bytes, ctype: str | None, extra: dict | None = None) -> None:
                self.send_response(status)
                if ctype:
                    self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                for k, v in (extra or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                try:
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def _stream(self, route: Route) -> None:
                self.send_response(200)
                self.send_header("Content-Type", route.ctype)
                self.end_headers()
                chunk = b"<item><title>x</title></item>" * 2000
                sent = 0
                try:
                    self.wfile.write(b"<?xml version='1.0'?><rss version='2.0'><channel><title>Huge</title>")
                    while sent < route.stream_bytes:
                        self.wfile.write(chunk)
                        sent += len(chunk)
                except (BrokenPipeError, ConnectionResetError):
                    pass
                server.streamed = sent

        self.streamed = 0
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> FeedServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def url(self, path: str) -> str:
        return self.base + path

    def set(self, path: str, **route: object) -> None:
        with self._lock:
            self.routes[path] = Route(**route)  # type: ignore[arg-type]

    def article(self, path: str, title: str, *, number: int = 1, delay: float = 0.0, guid: str | None = None,
                published: str | None = None, link: str | None = None) -> Item:
        """Serve an article page at ``path``; returns the feed item that links to it."""
        self.set(path, body=article_html(title, number).encode(), delay=delay)
        return Item(path, title, guid=guid, published=published, link=link)

    def feed(self, path: str, items: list[Item], *, title: str = "Exampleton Herald", etag: str | None = None,
             last_modified: str | None = None) -> None:
        """Serve an RSS 2.0 feed of ``items`` at ``path``."""
        entries = "".join(
            f"<item><title>{escape(i.title)}</title><link>{escape(i.link or self.url(i.path))}</link>"
            + (f"<guid isPermaLink='false'>{escape(i.guid)}</guid>" if i.guid else "")
            + (f"<pubDate>{i.published}</pubDate>" if i.published else "") + "</item>"
            for i in items)
        body = (f"<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel><title>{escape(title)}</title>"
                f"<link>{self.base}/</link><description>News</description>{entries}</channel></rss>").encode()
        self.set(path, body=body, ctype="application/rss+xml; charset=utf-8", etag=etag, last_modified=last_modified)

    def hits(self, path: str) -> list[dict[str, str]]:
        """The headers of each request made for ``path``."""
        with self._lock:
            return [h for p, h in self.requests if p == path]


def rfc822(days_ago: float = 0.0) -> str:
    return formatdate(time.time() - days_ago * 86400, usegmt=True)


__all__ = ["FeedServer", "Item", "article_html", "rfc822"]
