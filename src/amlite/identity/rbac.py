"""Role-based access: built-in roles as action patterns, assignments on resource-id scopes."""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from amlite.errors import Forbidden
from amlite.identity.tables import RoleAssignment
from amlite.identity.tokens import Caller

# role -> (allowed action patterns, denied action patterns), matched case-insensitively.
ROLES: Final[dict[str, tuple[tuple[str, ...], tuple[str, ...]]]] = {
    "Owner": (("*",), ()),
    "Contributor": (("*",), ("microsoft.authorization/*/write", "microsoft.authorization/*/delete")),
    "Reader": (("*/read",), ()),
}


def role_allows(role: str, action: str) -> bool:
    allowed, denied = ROLES[role]
    action = action.lower()
    return any(fnmatchcase(action, p) for p in allowed) and not any(fnmatchcase(action, p) for p in denied)


def scope_key(scope: str) -> str:
    """Resource ids compare case-insensitively and without a trailing slash."""
    return "/" + scope.strip("/").lower()


def within(resource_id: str, scope: str) -> bool:
    resource, parent = scope_key(resource_id), scope_key(scope)
    return parent == "/" or resource == parent or resource.startswith(parent + "/")


class Authorizer:
    """What one caller may do, from its role assignments (read once per request)."""

    def __init__(self, session: Session, caller: Caller) -> None:
        self.caller = caller
        self.assignments = session.execute(
            select(RoleAssignment.role, RoleAssignment.scope_key).where(
                RoleAssignment.principal_id == caller.object_id
            )
        ).all()

    def can(self, action: str, resource_id: str) -> bool:
        if self.caller.scope is not None and not within(resource_id, self.caller.scope):
            return False
        return any(within(resource_id, scope) and role_allows(role, action) for role, scope in self.assignments)

    def check(self, action: str, resource_id: str) -> None:
        if not self.can(action, resource_id):
            raise Forbidden(
                f"The client '{self.caller.app_id}' with object id '{self.caller.object_id}' does not have "
                f"authorization to perform action '{action}' over scope '{resource_id}' or the scope is invalid. "
                "If access was recently granted, please refresh your credentials.",
                code="AuthorizationFailed",
            )

    def sees_subscription(self, subscription_id: str) -> bool:
        """True when any assignment lies in (or above) the subscription."""
        sub = scope_key(f"/subscriptions/{subscription_id}")
        return any(within(scope, sub) or within(sub, scope) for _role, scope in self.assignments)
