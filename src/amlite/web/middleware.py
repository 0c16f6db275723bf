"""Pure-ASGI middleware: Azure's request and correlation ids on every response, and a last-resort 500."""

from __future__ import annotations

import logging
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from amlite.errors import AmliteError
from amlite.web.errors import render_error

log = logging.getLogger("amlite.http")


class RequestIdMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        request_id = str(uuid.uuid4())
        correlation_id = headers.get("x-ms-correlation-request-id") or request_id
        extra = [
            (b"x-ms-request-id", request_id.encode()),
            (b"x-ms-correlation-request-id", correlation_id.encode("latin-1")),
        ]
        if "x-ms-client-request-id" in headers:
            extra.append((b"x-ms-client-request-id", headers["x-ms-client-request-id"].encode("latin-1")))
        scope.setdefault("state", {})["request_id"] = request_id
        started = False

        async def send_with_ids(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message["headers"] = list(message.get("headers", [])) + extra
            await send(message)

        try:
            await self.app(scope, receive, send_with_ids)
        except Exception:
            log.exception("unhandled error on %s %s", scope.get("method"), scope.get("path"))
            if started:
                raise
            error = AmliteError("The server met an unexpected error. Quote the x-ms-request-id when reporting it.")
            response = render_error(scope.get("path", ""), error, request_id)
            await response(scope, receive, send_with_ids)
