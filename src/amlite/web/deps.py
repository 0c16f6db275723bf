"""FastAPI dependencies shared by every router: the app context and a unit-of-work session."""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from amlite.context import AppContext


def app_context(request: Request) -> AppContext:
    return request.app.state.context


def db_session(request: Request) -> Iterator[Session]:
    with app_context(request).db.session() as session:
        yield session


# The session commits when the route function returns, before the response is sent: a client that
# sees the response and calls again must see what the call wrote.
DB = Depends(db_session, scope="function")
