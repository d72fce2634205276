"""Fetch a web page safely: no private addresses (SSRF), bounded size and time, text types only.

Only the standard library is used. Each hop of a redirect chain is checked again: the scheme must be
http or https, and every address the host resolves to must be publicly routable unless
``allow_private``. The connection then goes to the vetted address itself (the Host header and TLS
SNI/certificate check still use the host name), so a DNS answer that changes between the check and
the connect cannot redirect us to an internal service. Environment proxies are never used.
"""

from __future__ import annotations

import http.client
import ipaddress
import logging
import socket
import ssl
import threading
import time
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import SplitResult, urljoin, urlsplit

from index.errors import DocumentTooLargeError, FetchError

log = logging.getLogger(__name__)

ALLOWED_CONTENT_TYPES = ("text/html", "application/xhtml+xml", "text/plain", "text/markdown")
MAX_REDIRECTS = 5
_REDIRECT_STATUSES = (301, 302, 303, 307, 308)
_CHUNK = 64 * 1024
_SETTING = "ALLOW_PRIVATE_URLS"
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class FetchedPage:
    """A fetched page: the final URL after redirects, its media type, charset and (decoded) body."""

    url: str
    content_type: str
    charset: str | None
    body: bytes
    etag: str | None = None  # validators for a conditional GET of the same URL next time
    last_modified: str | None = None
    not_modified: bool = False  # HTTP 304 to a conditional GET: the body is empty, nothing changed


def _embedded_ipv4(ip: Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address carried inside an IPv6 one (mapped, NAT64, 6to4, Teredo), if any."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return None
    if ip.ipv4_mapped:
        return ip.ipv4_mapped
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.sixtofour:
        return ip.sixtofour
    if ip.teredo:
        return ip.teredo[1]
    return None


def address_problem(address: str) -> str | None:
    """Why ``address`` (a literal IP) must not be fetched from, e.g. "a loopback address"; None if public."""
    try:
        ip: Address = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return "not an IP address"
    inner = _embedded_ipv4(ip)
    if inner is not None:
        problem = address_problem(str(inner))
        return f"an IPv6 address wrapping {inner}, {problem}" if problem else None
    checks = (
        (ip.is_loopback, "a loopback address"),
        (ip.is_unspecified, "an unspecified address"),
        (ip.is_link_local, "a link-local address (this includes cloud metadata services)"),
        (ip.is_multicast, "a multicast address"),
        (ip.is_private, "a private address"),
        (ip.is_reserved, "a reserved address"),
        (isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local, "a site-local address"),
        (not ip.is_global, "not a publicly routable address"),
    )
    return next((reason for bad, reason in checks if bad), None)


def check_address(address: str, *, url: str = "", allow_private: bool = False) -> None:
    """Raise FetchError if ``address`` (a literal IP) is loopback, private, link-local, etc."""
    if allow_private:
        return
    problem = address_problem(address)
    if problem:
        where = f"refused {url}: " if url else "refused: "
        raise FetchError(f"{where}{address} is {problem}; set {_SETTING}=true to allow it")


def _resolve(host: str, port: int) -> list[tuple[int, str]]:
    """(family, address) pairs for host, via getaddrinfo (a literal IP resolves to itself)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise FetchError(f"cannot resolve host {host!r}: {exc}; check the URL") from exc
    except UnicodeError as exc:  # the idna codec: an empty label ("a..b") or one over 63 characters
        raise FetchError(f"refused: {host!r} is not a valid host name (empty or over-long label); "
                         "check the URL") from exc
    seen: list[tuple[int, str]] = []
    for family, _type, _proto, _name, sockaddr in infos:
        item = (family, str(sockaddr[0]))
        if item not in seen:
            seen.append(item)
    return seen


def _vet_host(host: str, port: int, *, url: str, allow_private: bool) -> list[tuple[int, str]]:
    """Resolve ``host`` and refuse if ANY of its addresses is not public (unless allowed)."""
    addresses = _resolve(host, port)
    if not addresses:
        raise FetchError(f"cannot resolve host {host!r} for {url}; check the URL")
    for _family, address in addresses:
        check_address(address, url=url, allow_private=allow_private)
    return addresses


class _Deadline:
    """One total time limit for a whole fetch (every hop, headers and body).

    A socket timeout only bounds each single receive: a server that sends one byte every half second
    never trips it. A timer thread therefore shuts down every socket of the fetch when the time is
    up, which wakes a receive blocked in any layer (headers, chunked body, TLS).
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.at = time.monotonic() + seconds
        self.expired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True
        self._timer.start()

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock)
            if not self.expired:
                return
        self._shutdown(sock)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            sockets = list(self._sockets)
        for sock in sockets:
            self._shutdown(sock)

    @staticmethod
    def _shutdown(sock: socket.socket) -> None:
        try:  # the plain socket method: SSLSocket.shutdown would also tear down TLS state under a reader
            socket.socket.shutdown(sock, socket.SHUT_RDWR)
        except OSError:
            pass  # already closed

    def cancel(self) -> None:
        self._timer.cancel()


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """An HTTP connection to a pre-vetted address; the Host header still names the host."""

    def __init__(self, host: str, port: int, address: str, timeout: float, deadline: _Deadline) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address
        self._deadline = deadline

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)
        self._deadline.watch(self.sock)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """An HTTPS connection to a pre-vetted address; SNI and the certificate check use the host name."""

    def __init__(self, host: str, port: int, address: str, timeout: float, deadline: _Deadline) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address
        self._deadline = deadline

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self._deadline.watch(sock)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def _timed_out(seconds: float, url: str) -> FetchError:
    return FetchError(f"timed out after {seconds:g} s fetching {url}; try again or raise the timeout")


def _remaining(deadline: _Deadline, url: str) -> float:
    left = deadline.at - time.monotonic()
    if left <= 0 or deadline.expired:
        raise _timed_out(deadline.seconds, url)
    return left


def _split(url: str) -> SplitResult:
    """urlsplit, with a malformed URL ("http://[::1/") refused instead of raising ValueError."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - parsed lazily: a bad port raises here
    except ValueError as exc:
        raise FetchError(f"refused {url}: it is not a valid URL ({exc}); check it") from exc
    return parts


def _open(url: str, *, deadline: _Deadline, allow_private: bool, user_agent: str,
          accept: str | None = None, headers: Mapping[str, str] | None = None
          ) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
    """Check one hop's URL, connect to a vetted address and send the GET."""
    parts = _split(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise FetchError(f"refused {url}: only http and https URLs can be fetched, not {scheme or 'no scheme'!r}")
    host = parts.hostname
    if not host:
        raise FetchError(f"refused {url}: the URL has no host name")
    port = parts.port or (443 if scheme == "https" else 80)
    addresses = _vet_host(host, port, url=url, allow_private=allow_private)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    conn_class = _PinnedHTTPSConnection if scheme == "https" else _PinnedHTTPConnection
    last_error: Exception | None = None
    for _family, address in addresses:
        conn = conn_class(host, port, address, _remaining(deadline, url), deadline)
        try:
            conn.putrequest("GET", path, skip_accept_encoding=True)
            conn.putheader("User-Agent", user_agent)
            conn.putheader("Accept", accept or ", ".join(ALLOWED_CONTENT_TYPES) + ";q=0.9, */*;q=0.1")
            conn.putheader("Accept-Encoding", "identity")
            for name, value in (headers or {}).items():
                conn.putheader(name, value)
            conn.endheaders()
            resp = conn.getresponse()
            if deadline.expired:  # cut off mid-headers: what arrived is not the whole answer
                raise TimeoutError
            return conn, resp
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            if isinstance(exc, TimeoutError) or deadline.expired:
                raise _timed_out(deadline.seconds, url) from exc
            last_error = exc
            log.debug("connect to %s (%s) failed: %s", host, address, exc)
    raise FetchError(f"could not fetch {url}: {last_error}; check the URL or try again later")


def _decoder(encoding: str, url: str) -> zlib._Decompress | None:
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return None
    if encoding in ("gzip", "x-gzip"):
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    if encoding == "deflate":
        return zlib.decompressobj(zlib.MAX_WBITS)
    raise FetchError(f"refused {url}: unsupported Content-Encoding {encoding!r} (we asked for identity)")


def _read_body(conn: http.client.HTTPConnection, resp: http.client.HTTPResponse, *, url: str,
               max_bytes: int, deadline: _Deadline) -> bytes:
    """Read the body, decompressing incrementally, and stop as soon as it passes max_bytes."""
    too_large = DocumentTooLargeError(
        f"{url} is larger than the {max_bytes:,}-byte limit; save a smaller excerpt or raise the limit")
    length = resp.getheader("Content-Length")
    if length and length.strip().isdigit() and int(length) > max_bytes:
        raise DocumentTooLargeError(
            f"{url} is {int(length):,} bytes, over the {max_bytes:,}-byte limit; "
            "save a smaller excerpt or raise the limit")
    decoder = _decoder(resp.getheader("Content-Encoding", ""), url)
    out = bytearray()
    while True:
        if conn.sock is not None:
            conn.sock.settimeout(_remaining(deadline, url))
        try:
            chunk = resp.read(_CHUNK)
        except (OSError, http.client.HTTPException) as exc:
            if deadline.expired:
                raise _timed_out(deadline.seconds, url) from exc
            raise FetchError(f"lost the connection while reading {url}: {exc}; try again") from exc
        if not chunk:
            if deadline.expired:  # the watchdog's shutdown reads as an early end of the body
                raise _timed_out(deadline.seconds, url)
            break
        if decoder is None:
            out += chunk
        else:
            data = chunk
            while data:
                try:
                    out += decoder.decompress(data, max_bytes + 1 - len(out))
                except zlib.error as exc:
                    raise FetchError(f"{url} sent a corrupt compressed body: {exc}") from exc
                if len(out) > max_bytes:
                    raise too_large
                data = decoder.unconsumed_tail
        if len(out) > max_bytes:
            raise too_large
    if decoder is not None:
        out += decoder.flush()
        if len(out) > max_bytes:
            raise too_large
    return bytes(out)


def _content_type(resp: http.client.HTTPResponse, url: str, accepted: Sequence[str] = ALLOWED_CONTENT_TYPES,
                  what: str = "a web page or text") -> tuple[str, str | None]:
    message = resp.msg
    media = message.get_content_type() if message.get("Content-Type") else ""
    if media not in accepted:
        shown = message.get("Content-Type") or "no content type"
        raise FetchError(f"refused {url}: content type {shown!r} is not {what} "
                         f"(accepted: {', '.join(accepted)})")
    charset = message.get_content_charset()
    return media, charset


def fetch_url(url: str, *, max_bytes: int = 5_000_000, timeout: float = 15.0, allow_private: bool = False,
              user_agent: str = "newsqa/0.1", content_types: Sequence[str] = ALLOWED_CONTENT_TYPES,
              what: str = "a web page or text", etag: str | None = None, last_modified: str | None = None
              ) -> FetchedPage:
    """Fetch ``url`` with SSRF protection, following up to 5 redirects, within size and time limits.

    ``timeout`` is a total deadline for the whole fetch (every hop, headers and body), not a limit
    per network read. ``content_types`` (with ``what`` naming them in the refusal) are the media types
    accepted. With ``etag`` or ``last_modified`` from an earlier fetch, the GET is conditional and an
    unchanged resource comes back as ``not_modified`` with an empty body.
    """
    deadline = _Deadline(timeout)
    try:
        return _fetch(url.strip(), deadline=deadline, max_bytes=max_bytes, allow_private=allow_private,
                      user_agent=user_agent, content_types=content_types, what=what, etag=etag,
                      last_modified=last_modified)
    finally:
        deadline.cancel()


def _fetch(url: str, *, deadline: _Deadline, max_bytes: int, allow_private: bool, user_agent: str,
           content_types: Sequence[str], what: str, etag: str | None, last_modified: str | None) -> FetchedPage:
    current = url
    conditional = {k: v for k, v in (("If-None-Match", etag), ("If-Modified-Since", last_modified)) if v}
    accept = None if content_types == ALLOWED_CONTENT_TYPES else ", ".join(content_types) + ";q=0.9, */*;q=0.1"
    for hop in range(MAX_REDIRECTS + 1):
        conn, resp = _open(current, deadline=deadline, allow_private=allow_private, user_agent=user_agent,
                           accept=accept, headers=conditional)
        try:
            if resp.status == 304 and conditional:
                return FetchedPage(url=current, content_type="", charset=None, body=b"", etag=etag,
                                   last_modified=last_modified, not_modified=True)
            if resp.status in _REDIRECT_STATUSES:
                location = resp.getheader("Location")
                if not location:
                    raise FetchError(f"{current} answered HTTP {resp.status} without a Location to go to")
                log.debug("redirect %d: %s -> %s", hop + 1, current, location)
                try:
                    current = urljoin(current, location.strip())
                except ValueError as exc:
                    raise FetchError(f"{current} redirected to a malformed URL {location!r} ({exc})") from exc
                continue
            if not 200 <= resp.status < 300:
                raise FetchError(f"{current} answered HTTP {resp.status} {resp.reason}; check the URL")
            media, charset = _content_type(resp, current, content_types, what)
            body = _read_body(conn, resp, url=current, max_bytes=max_bytes, deadline=deadline)
            if deadline.expired:
                raise _timed_out(deadline.seconds, current)
            log.info("fetched %s (%s, %d bytes)", current, media, len(body))
            return FetchedPage(url=current, content_type=media, charset=charset, body=body,
                               etag=resp.getheader("ETag"), last_modified=resp.getheader("Last-Modified"))
        except (TimeoutError, http.client.HTTPException, OSError) as exc:
            if isinstance(exc, TimeoutError) or deadline.expired:
                raise _timed_out(deadline.seconds, current) from exc
            raise FetchError(f"lost the connection to {current}: {exc}; try again") from exc
        finally:
            conn.close()
    raise FetchError(f"refused {url}: more than {MAX_REDIRECTS} redirects (last was {current})")
