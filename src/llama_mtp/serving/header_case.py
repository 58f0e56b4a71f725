"""Response header names in their conventional case (Content-Type, Access-Control-Allow-Origin).

Header names are case-insensitive (RFC 9110), and ASGI frameworks emit them in lower case;
clients that copy the headers into a plain dict (llama.cpp's own server tests do) then look up
`Content-Type` and miss. llama-server sends the conventional case, and so does this (with uvicorn's h11 protocol, which
writes names as given)."""

from __future__ import annotations

from .cors import ASGIApp, Message, Receive, Scope, Send


def conventional(name: bytes) -> bytes:
    """b"access-control-allow-origin" -> b"Access-Control-Allow-Origin"."""
    return b"-".join(part[:1].upper() + part[1:] for part in name.split(b"-"))


class HeaderCaseMiddleware:
    """An ASGI middleware writing response header names in their conventional case."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_conventional(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [(conventional(k), v) for k, v in message.get("headers", [])]
            await send(message)

        await self.app(scope, receive, send_conventional)
