"""Response helpers for wire JSON and ARM list pages."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import JSONResponse


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers=headers)


def next_link(request: Request, base_url: str, **params: str | int) -> str:
    """The URL of the next page: this request's URL with ``params`` replaced."""
    query = {k: v for k, v in request.query_params.items() if k not in params}
    query.update({k: str(v) for k, v in params.items()})
    return f"{base_url}{request.url.path}?{urlencode(query)}"
