"""A tiny Discord on a local port, for tests that run the real ``newsqa run`` in a child process.

SimCord runs the bot in the test's own process; signals, start-up retries and reconnects need a real
process talking to a real socket. This serves what discord.py needs for that (log-in, the gateway with
heartbeats, READY and RESUMED, slash-command interactions with their callbacks, message edits and
attachment downloads), records every request, and can go offline and come back (an outage).
Anything else is answered 404 and recorded.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
from collections.abc import Callable
from typing import Any

from aiohttp import WSMsgType, web

APP_ID = 910000000000000001
GUILD_ID = 910000000000000100
CHANNEL_ID = 910000000000000101
ADMIN_ID = 910000000000000102
NOW = "2026-01-01T00:00:00+00:00"
BOT_USER = {"id": str(APP_ID), "username": "newsqa", "discriminator": "0", "avatar": None, "global_name": None,
            "bot": True}
ADMIN_USER = {"id": str(ADMIN_ID), "username": "boss", "discriminator": "0", "avatar": None, "global_name": None}


def _json(data: Any, status: int = 200) -> web.Response:
    # discord.py parses a body as JSON only when Content-Type is exactly application/json (no charset)
    return web.Response(body=json.dumps(data).encode(), status=status, headers={"Content-Type": "application/json"})


class FakeDiscord:
    """Discord's REST API and gateway on 127.0.0.1, served from a background thread."""

    def __init__(self, *, reject_token: bool = False, failing_logins: int = 0) -> None:
        self.reject_token = reject_token
        self.failing_logins = failing_logins  # the first log-ins get a 503 (a Discord outage)
        self.requests: list[tuple[str, str, Any]] = []
        self.identifies = 0
        self.resumes = 0
        self.files: dict[str, bytes] = {}
        self._ids = itertools.count(920000000000000000)
        self._seq = itertools.count(1)
        self._sockets: set[web.WebSocketResponse] = set()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self.port = 0

    # ------------------------------------------------------------ control (from the test's thread)

    def start(self) -> FakeDiscord:
        self._thread.start()
        self._call(self._start())
        return self

    def stop(self) -> None:
        self._call(self._stop_site())
        if self._runner is not None:
            self._call(self._runner.cleanup())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def go_offline(self) -> None:
        """An outage: open connections are cut and new ones refused until ``come_back``."""
        self._call(self._stop_site())

    def come_back(self) -> None:
        self._call(self._start_site())

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v10"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gateway"

    def slash(self, name: str, options: list[dict] | None = None, resolved: dict | None = None) -> str:
        """An admin uses a slash command in the test server; returns the interaction id."""
        iid = str(next(self._ids))
        data = {
            "id": iid, "application_id": str(APP_ID), "type": 2, "token": f"token-{iid}", "version": 1,
            "guild_id": str(GUILD_ID), "channel_id": str(CHANNEL_ID),
            "channel": {"id": str(CHANNEL_ID), "type": 0, "guild_id": str(GUILD_ID), "name": "general",
                        "position": 0, "permission_overwrites": [], "nsfw": False, "parent_id": None,
                        "rate_limit_per_user": 0, "topic": None, "flags": 0},
            "member": {"user": ADMIN_USER, "roles": [], "joined_at": NOW, "deaf": False, "mute": False,
                       "flags": 0, "permissions": "2147483647", "nick": None, "avatar": None},
            "app_permissions": "2147483647", "locale": "en-US", "guild_locale": "en-US", "entitlements": [],
            "authorizing_integration_owners": {"0": str(GUILD_ID)}, "context": 0,
            "attachment_size_limit": 10_485_760,
            "data": {"id": str(next(self._ids)), "name": name, "type": 1, "options": options or [],
                     "resolved": resolved or {}},
        }
        self._call(self._dispatch("INTERACTION_CREATE", data))
        return iid

    def attach(self, name: str, data: bytes) -> tuple[list[dict], dict]:
        """Options and resolved data for a slash command's ``file`` option carrying ``data``."""
        self.files[name] = data
        aid = str(next(self._ids))
        url = f"http://127.0.0.1:{self.port}/attachments/{name}"
        attachment = {"id": aid, "filename": name, "size": len(data), "url": url, "proxy_url": url,
                      "content_type": "text/plain; charset=utf-8"}
        return [{"name": "file", "type": 11, "value": aid}], {"attachments": {aid: attachment}}

    def responses(self, iid: str) -> list[tuple[str, str, Any]]:
        """Every callback and message edit made for one interaction."""
        token = f"token-{iid}"
        return [r for r in list(self.requests) if token in r[1]]

    def wait_for(self, condition: Callable[[], Any], timeout: float = 30, what: str = "condition",
                 poll: float = 0.05) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = condition()
            if value:
                return value
            time.sleep(poll)
        raise AssertionError(f"fake Discord: timed out waiting for {what}; requests: {self.requests[-10:]}")

    def _call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(30)

    # ------------------------------------------------------------ server (in its own thread)

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_get("/gateway", self._gateway)
        app.router.add_get("/attachments/{name}", self._attachment)
        app.router.add_route("*", "/api/v10/{path:.*}", self._api)
        self._runner = web.AppRunner(app, shutdown_timeout=0.1)
        await self._runner.setup()
        await self._start_site()

    async def _start_site(self) -> None:
        self._site = web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True)
        await self._site.start()
        if not self.port:
            self.port = self._site._server.sockets[0].getsockname()[1]

    async def _stop_site(self) -> None:
        if self._site is not None:  # refuse new connections first, then cut the open ones
            await self._site.stop()
            self._site = None
        for ws in list(self._sockets):
            await ws.close(code=1001, message=b"going away")
        await self._runner.server.shutdown(0.1)  # kept-alive HTTP connections too

    async def _dispatch(self, event: str, data: dict) -> None:
        for ws in list(self._sockets):
            await ws.send_json({"op": 0, "t": event, "s": next(self._seq), "d": data})

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self._sockets.add(ws)
        await ws.send_json({"op": 10, "d": {"heartbeat_interval": 41250}})
        try:
            async for msg in ws:
                if msg.type is not WSMsgType.TEXT:
                    continue
                payload = json.loads(msg.data)
                op = payload.get("op")
                if op == 1:
                    await ws.send_json({"op": 11})
                elif op == 2:
                    self.identifies += 1
                    await ws.send_json({"op": 0, "t": "READY", "s": next(self._seq), "d": {
                        "v": 10, "user": BOT_USER, "guilds": [], "session_id": f"session-{self.identifies}",
                        "resume_gateway_url": self.gateway_url, "application": {"id": str(APP_ID), "flags": 0},
                        "shard": [0, 1]}})
                elif op == 6:
                    self.resumes += 1
                    await ws.send_json({"op": 0, "t": "RESUMED", "s": next(self._seq), "d": {}})
        finally:
            self._sockets.discard(ws)
        return ws

    async def _attachment(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        self.requests.append(("GET", f"/attachments/{name}", None))
        if name not in self.files:
            return _json({"message": "Unknown attachment", "code": 0}, status=404)
        return web.Response(body=self.files[name], content_type="text/plain")

    def _message(self, body: dict | None, *, flags: int = 0) -> dict:
        body = body or {}
        return {"id": str(next(self._ids)), "channel_id": str(CHANNEL_ID), "guild_id": str(GUILD_ID),
                "author": BOT_USER, "content": body.get("content") or "", "timestamp": NOW,
                "edited_timestamp": None, "tts": False, "mention_everyone": False, "mentions": [],
                "mention_roles": [], "attachments": [], "embeds": body.get("embeds") or [], "pinned": False,
                "type": 0, "flags": body.get("flags", flags), "components": body.get("components") or []}

    async def _api(self, request: web.Request) -> web.Response:
        path = "/" + request.match_info["path"]
        body = None
        if request.can_read_body:
            try:
                body = await request.json()
            except (json.JSONDecodeError, UnicodeDecodeError):
                body = None
        self.requests.append((request.method, path, body))
        if path == "/users/@me" and request.method == "GET":
            if self.failing_logins > 0:
                self.failing_logins -= 1
                return web.Response(status=503, text="upstream connect error", content_type="text/plain")
            if self.reject_token:
                return _json({"message": "401: Unauthorized", "code": 0}, status=401)
            return _json(BOT_USER)
        if path == "/oauth2/applications/@me":
            return _json({"id": str(APP_ID), "name": "newsqa", "description": "", "icon": None,
                                      "bot_public": True, "bot_require_code_grant": False, "verify_key": "0" * 64,
                                      "owner": ADMIN_USER, "flags": 0, "team": None, "summary": ""})
        if path in ("/gateway/bot", "/gateway"):
            return _json({"url": self.gateway_url, "shards": 1, "session_start_limit": {
                "total": 1000, "remaining": 999, "reset_after": 0, "max_concurrency": 1}})
        if path.startswith("/interactions/") and path.endswith("/callback"):
            iid = path.split("/")[2]
            kind = (body or {}).get("type", 5)
            data = (body or {}).get("data") or {}
            reply = {"interaction": {"id": iid, "type": 2, "response_message_loading": kind == 5,
                                     "response_message_ephemeral": bool(data.get("flags", 0) & 64)}}
            if kind == 4:
                reply["resource"] = {"type": 4, "message": self._message(data)}
            return _json(reply)
        if path.startswith("/webhooks/"):
            return _json(self._message(body))
        return _json({"message": "404: Not Found", "code": 0}, status=404)
