"""The authenticator: ``Authorization: Bearer <jwt>`` -> an Authorizer for the calling principal."""

from __future__ import annotations

import re

from fastapi import Request
from sqlalchemy.orm import Session

from amlite.arm.tables import Subscription
from amlite.errors import Unauthenticated
from amlite.identity.rbac import Authorizer
from amlite.identity.tables import Principal
from amlite.web.deps import DB, app_context

_SUBSCRIPTION_IN_PATH = re.compile(r"^/subscriptions/([^/]+)", re.IGNORECASE)


def authenticate(request: Request, session: Session = DB) -> Authorizer:
    context = app_context(request)
    try:
        caller = context.tokens.verify(_bearer_token(request))
        if session.get(Principal, caller.object_id) is None:
            raise Unauthenticated(
                f"The principal '{caller.object_id}' of the access token no longer exists.",
                code="InvalidAuthenticationToken",
            )
    except Unauthenticated as error:
        tenant = _tenant_for(request, session) or "common"
        description = error.message.replace('"', "'")
        error.headers["WWW-Authenticate"] = (
            f'Bearer authorization_uri="{context.settings.base_url}/{tenant}", '
            f'error="invalid_token", error_description="{description}"'
        )
        raise
    return Authorizer(session, caller)


def _bearer_token(request: Request) -> str:
    header = request.headers.get("authorization")
    if not header:
        raise Unauthenticated("Authentication failed. The 'Authorization' header is missing.")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token or " " in token:
        raise Unauthenticated(
            "Authentication failed. The 'Authorization' header is provided in an invalid format: "
            "it must be 'Bearer <access token>' with exactly one space."
        )
    return token


def _tenant_for(request: Request, session: Session) -> str | None:
    """The tenant to name in the challenge: the one owning the subscription in the path, if any."""
    match = _SUBSCRIPTION_IN_PATH.match(request.url.path)
    if match is None:
        return None
    subscription = session.get(Subscription, match.group(1).lower())
    return subscription.tenant_id if subscription else None
