"""CORS as llama-server answers it (`--cors-origins`): which web pages' scripts may call the
server from a browser.

"localhost" (llama-mtp's default) reflects an Origin only when it is this machine
(localhost, 127.0.0.1, [::1], any port); "*" reflects every Origin, with credentials
(llama-server's default: any web page the user visits may then drive the model); anything else
is a comma-separated list of allowed origins. A preflight (OPTIONS) is answered before the API
key is checked, as browsers send none with it.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

METHODS = "GET, POST, DELETE, OPTIONS"
LOCALHOST = re.compile(r"^https?://(localhost|127\.0\.0\.1|\[::1\])(:\d+)?$")


def allowed_origin(origin: str, setting: str) -> str | None:
    """The Access-Control-Allow-Origin value for a request from `origin` (None: none)."""
    if not origin:
        return None
    if setting == "*":
        return origin
    if setting == "localhost":
        return origin if LOCALHOST.match(origin) else None
    return origin if origin in {o.strip() for o in setting.split(",")} else None


class CorsMiddleware:
    """An ASGI middleware adding the CORS headers and answering preflights (see the module)."""

    def __init__(self, app: ASGIApp, *, origins: str = "localhost") -> None:
        self.app = app
        self.origins = origins

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        allow = allowed_origin(headers.get("origin", ""), self.origins)
        extra = [(b"access-control-allow-origin", allow.encode("latin-1"))] if allow else []
        if scope["method"] == "OPTIONS":
            extra += [
                (b"access-control-allow-credentials", b"true"),
                (b"access-control-allow-methods", METHODS.encode()),
                (b"access-control-allow-headers", b"*"),
                (b"content-length", b"0"),
            ]
            await send({"type": "http.response.start", "status": 200, "headers": extra})
            await send({"type": "http.response.body", "body": b""})
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start" and extra:
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, send_with_cors)
