"""Continuation tokens of the data plane: opaque to clients, an offset or a last-seen key inside."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from amlite.errors import BadRequest

T = TypeVar("T")


@dataclass
class Page(Generic[T]):
    items: list[T]
    continuation_token: str | None


def page_json(page: Page[T], render: Callable[[T], Any]) -> dict[str, Any]:
    """``{"value": [...], "continuationToken"?}``, the data plane's page."""
    body: dict[str, Any] = {"value": [render(item) for item in page.items]}
    if page.continuation_token:
        body["continuationToken"] = page.continuation_token
    return body


def encode_token(document: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(document, separators=(",", ":")).encode()).decode()


def decode_token(token: str | None) -> dict:
    if not token:
        return {}
    try:
        document = json.loads(base64.urlsafe_b64decode(token.encode()))
    except ValueError:
        document = None
    if not isinstance(document, dict):
        raise BadRequest("The continuation token is not one this server issued.", code="InvalidContinuationToken")
    return document


def encode_offset(offset: int) -> str:
    return encode_token({"offset": offset})


def decode_offset(token: str | None) -> int:
    offset = decode_token(token).get("offset", 0)
    if not isinstance(offset, int) or offset < 0:
        raise BadRequest("The continuation token is not one this server issued.", code="InvalidContinuationToken")
    return offset
