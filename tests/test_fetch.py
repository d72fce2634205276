"""Safe URL fetching against a local http.server; no test touches the internet."""

from __future__ import annotations

import gzip
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import index.fetch as fetch
from index.errors import DocumentTooLargeError, FetchError
from index.fetch import FetchedPage, address_problem, check_address, fetch_url

HTML = b"<html><head><title>T</title></head><body><p>Hello, world.</p></body></html>"
BOMB = gzip.compress(b"\0" * 3_000_000)


class Handler(BaseHTTPRequestHandler):
    """Routes for the tests; HTTP/1.0 so a body without Content-Length ends at close."""

    def log_message(self, *args: object) -> None:  # keep test output quiet
        pass

    def send(self, status: int, body: bytes = b"", ctype: str | None = "text/plain; charset=utf-8",
             length: bool = True, extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        if ctype:
            self.send_header("Content-Type", ctype)
        if length:
            self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        try:
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout test)
            pass

    def redirect(self, location: str) -> None:
        self.send(302, b"", extra={"Location": location})

    def do_GET(self) -> None:
        p = self.path
        if p == "/article.html":
            self.send(200, HTML, "text/html; charset=utf-8")
        elif p == "/plain.txt":
            self.send(200, "Plain text. Ünïcode.".encode(), "text/plain; charset=utf-8")
        elif p == "/markdown":
            self.send(200, b"# Title\n\nBody.", "text/markdown")
        elif p == "/image.png":
            self.send(200, b"\x89PNG\r\n\x1a\n", "image/png")
        elif p == "/no-type":
            self.send(200, b"hello", None)
        elif p == "/big":
            self.send(200, b"x" * 2000)
        elif p == "/big-nolength":
            self.send(200, b"x" * 2000, length=False)
        elif p == "/gzip-ok":
            self.send(200, gzip.compress(b"compressed text. " * 10), extra={"Content-Encoding": "gzip"})
        elif p == "/gzip-bomb":
            self.send(200, BOMB, extra={"Content-Encoding": "gzip"})
        elif p == "/brotli":
            self.send(200, b"??", extra={"Content-Encoding": "br"})
        elif p == "/echo-headers":
            body = f"{self.headers['Host']}|{self.headers['Accept-Encoding']}|{self.headers['User-Agent']}"
            self.send(200, body.encode())
        elif p.startswith("/redirect/"):
            n = int(p.rsplit("/", 1)[1])
            self.redirect(f"/redirect/{n - 1}" if n > 0 else "/plain.txt")
        elif p == "/absolute-redirect":
            self.redirect(f"http://127.0.0.1:{self.server.server_address[1]}/plain.txt")
        elif p == "/loop":
            self.redirect("/loop")
        elif p == "/to-private":
            self.redirect("http://10.0.0.1/secret")
        elif p == "/to-metadata":
            self.redirect("http://169.254.169.254/latest/meta-data/")
        elif p == "/to-file":
            self.redirect("file:///etc/passwd")
        elif p == "/to-ftp":
            self.redirect("ftp://127.0.0.1/x")
        elif p == "/no-location":
            self.send(302, b"")
        elif p == "/slow":
            time.sleep(1.5)
            self.send(200, b"late")
        else:
            self.send(404, b"not found")


@pytest.fixture(scope="module")
def base() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def get(url: str, **kw: object) -> FetchedPage:
    kw.setdefault("allow_private", True)
    return fetch_url(url, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("address", [
    "127.0.0.1", "127.8.9.10", "10.0.0.1", "172.16.5.4", "192.168.1.1", "169.254.169.254", "::1",
    "::ffff:127.0.0.1", "::ffff:169.254.169.254", "64:ff9b::7f00:1", "224.0.0.1", "ff02::1", "0.0.0.0", "::",
    "100.64.0.1", "fe80::1", "fc00::1", "240.0.0.1", "255.255.255.255", "192.0.2.1",
])
def test_non_public_addresses_refused(address: str) -> None:
    assert address_problem(address)
    with pytest.raises(FetchError, match="ALLOW_PRIVATE_URLS"):
        check_address(address, url="http://x/")
    check_address(address, allow_private=True)  # allowed when configured


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:2800:220:1:248:1893:25c8:1946",
                                     "::ffff:93.184.216.34"])
def test_public_addresses_allowed(address: str) -> None:
    assert address_problem(address) is None
    check_address(address)


def test_refusal_message_is_plain(base: str) -> None:
    with pytest.raises(FetchError) as err:
        fetch_url("http://127.0.0.1/")
    assert str(err.value) == ("refused http://127.0.0.1/: 127.0.0.1 is a loopback address; "
                              "set ALLOW_PRIVATE_URLS=true to allow it")


def test_local_server_refused_without_allow_private(base: str) -> None:
    with pytest.raises(FetchError, match="loopback"):
        fetch_url(base + "/plain.txt")
    with pytest.raises(FetchError, match="loopback"):
        fetch_url(base.replace("127.0.0.1", "localhost") + "/plain.txt")


def test_html_ok(base: str) -> None:
    page = get(base + "/article.html")
    assert page == FetchedPage(base + "/article.html", "text/html", "utf-8", HTML)


@pytest.mark.parametrize(("path", "ctype", "charset", "body"),
                         [("/plain.txt", "text/plain", "utf-8", "Plain text. Ünïcode.".encode()),
                          ("/markdown", "text/markdown", None, b"# Title\n\nBody.")])
def test_text_ok(base: str, path: str, ctype: str, charset: str | None, body: bytes) -> None:
    page = get(base + path)
    assert (page.content_type, page.charset, page.body) == (ctype, charset, body)


@pytest.mark.parametrize(("path", "named"), [("/image.png", "image/png"), ("/no-type", "no content type")])
def test_wrong_content_type_refused(base: str, path: str, named: str) -> None:
    with pytest.raises(FetchError, match=named):
        get(base + path)


@pytest.mark.parametrize("path", ["/big", "/big-nolength", "/gzip-bomb"])
def test_oversized_refused(base: str, path: str) -> None:
    with pytest.raises(DocumentTooLargeError, match="1,000-byte limit"):
        get(base + path, max_bytes=1000)


def test_gzip_bomb_refused_while_decompressing(base: str) -> None:
    assert len(BOMB) < 100_000  # so the Content-Length check alone cannot catch it
    with pytest.raises(DocumentTooLargeError, match="100,000-byte limit"):
        get(base + "/gzip-bomb", max_bytes=100_000)


def test_size_exactly_at_limit_ok(base: str) -> None:
    assert len(get(base + "/big", max_bytes=2000).body) == 2000


def test_gzip_decompressed(base: str) -> None:
    assert get(base + "/gzip-ok").body == b"compressed text. " * 10


def test_unknown_encoding_refused(base: str) -> None:
    with pytest.raises(FetchError, match="'br'"):
        get(base + "/brotli")


def test_headers_sent(base: str) -> None:
    local = base.replace("127.0.0.1", "localhost")
    body = get(local + "/echo-headers", user_agent="tester/1").body.decode()
    assert body == f"{local.removeprefix('http://')}|identity|tester/1"


@pytest.mark.parametrize("path", ["/redirect/3", "/absolute-redirect", "/redirect/4"])
def test_redirect_chain_ok(base: str, path: str) -> None:
    # /redirect/4 is exactly five redirects, the most allowed.
    page = get(base + path)
    assert page.url == base + "/plain.txt"
    assert page.body.startswith(b"Plain text.")


def test_too_many_redirects_refused(base: str) -> None:
    with pytest.raises(FetchError, match="more than 5 redirects"):
        get(base + "/redirect/5")  # six redirects
    with pytest.raises(FetchError, match="redirects"):
        get(base + "/loop")


@pytest.mark.parametrize(("path", "match"), [("/to-private", "10.0.0.1 is a private address"),
                                             ("/to-metadata", "169.254.169.254 is a link-local")])
def test_redirect_to_private_address_refused(base: str, monkeypatch: pytest.MonkeyPatch, path: str,
                                             match: str) -> None:
    real = fetch.address_problem
    # Pretend our local server is public, so only the redirect target is private.
    monkeypatch.setattr(fetch, "address_problem", lambda a: None if a == "127.0.0.1" else real(a))
    with pytest.raises(FetchError, match=match):
        fetch_url(base + path)


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/x", "file:///etc/passwd", "gopher://x/", "javascript:alert(1)",
                                 "127.0.0.1/no-scheme"])
def test_bad_schemes_refused(url: str) -> None:
    with pytest.raises(FetchError, match="only http and https"):
        fetch_url(url, allow_private=True)


@pytest.mark.parametrize("path", ["/to-file", "/to-ftp"])
def test_redirect_to_bad_scheme_refused(base: str, path: str) -> None:
    with pytest.raises(FetchError, match="only http and https"):
        get(base + path)


def test_http_error_and_missing_location(base: str) -> None:
    with pytest.raises(FetchError, match="HTTP 404"):
        get(base + "/nothing-here")
    with pytest.raises(FetchError, match="without a Location"):
        get(base + "/no-location")


def test_timeout(base: str) -> None:
    started = time.monotonic()
    with pytest.raises(FetchError, match="timed out after 0.3 s"):
        get(base + "/slow", timeout=0.3)
    assert time.monotonic() - started < 1.4


def test_unresolvable_host() -> None:
    with pytest.raises(FetchError, match="cannot resolve"):
        fetch_url("http://no-such-host.invalid/")


def test_no_host() -> None:
    with pytest.raises(FetchError, match="no host"):
        fetch_url("http:///path")
