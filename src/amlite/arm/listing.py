"""ARM list pages of tracked resources: ``{"value": [...], "nextLink"?}`` with a ``$skiptoken``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from amlite.arm.resources import list_resources
from amlite.arm.tables import Resource, Subscription
from amlite.identity.rbac import Authorizer
from amlite.web.deps import app_context
from amlite.web.responses import json_response, next_link


def tracked_page(request: Request, session: Session, authz: Authorizer, subscription: Subscription,
                 type_name: str, group: str | None, skiptoken: str | None,
                 render: Callable[[Resource], dict[str, Any]]) -> JSONResponse:
    """One page of a type's resources in a subscription (or one of its groups) that the caller may read."""
    settings = app_context(request).settings
    after = int(skiptoken) if skiptoken and skiptoken.isdigit() else None
    rows = list_resources(session, subscription.id, type_name, group, after, settings.page_size + 1)
    page = rows[: settings.page_size]
    body: dict[str, Any] = {"value": [render(r) for r in page if authz.can(f"{type_name}/read", r.resource_id)]}
    if len(rows) > settings.page_size:
        body["nextLink"] = next_link(request, settings.base_url, **{"$skiptoken": page[-1].id})
    return json_response(body)
