"""Tenants, service principals and role assignments: used by the token service, the CLI and bootstrap."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from amlite.errors import BadRequest, NotFound, OAuthError
from amlite.identity.rbac import ROLES, scope_key
from amlite.identity.tables import Principal, RoleAssignment, Tenant

_hasher = PasswordHasher()
# Verified against when the client is unknown, so that both failures take the same time.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(30))


@dataclass(frozen=True)
class NewPrincipal:
    principal: Principal
    client_secret: str


def create_tenant(session: Session, display_name: str) -> Tenant:
    tenant = Tenant(id=str(uuid.uuid4()), display_name=display_name)
    session.add(tenant)
    session.flush()
    return tenant


def get_tenant(session: Session, tenant_id: str) -> Tenant | None:
    return session.get(Tenant, tenant_id.lower())


def default_tenant(session: Session) -> Tenant | None:
    return session.scalars(select(Tenant).order_by(Tenant.created_at)).first()


def create_principal(session: Session, tenant_id: str, display_name: str) -> NewPrincipal:
    secret = secrets.token_urlsafe(30)
    principal = Principal(
        object_id=str(uuid.uuid4()),
        client_id=str(uuid.uuid4()),
        tenant_id=tenant_id,
        display_name=display_name,
        secret_hash=_hasher.hash(secret),
    )
    session.add(principal)
    session.flush()
    return NewPrincipal(principal, secret)


def assign_role(session: Session, principal: Principal, role: str, scope: str) -> RoleAssignment:
    canonical = {name.lower(): name for name in ROLES}.get(role.lower())
    if canonical is None:
        raise BadRequest(f"Unknown role '{role}'. The built-in roles are {', '.join(ROLES)}.", code="RoleNotFound")
    assignment = RoleAssignment(
        id=str(uuid.uuid4()), principal_id=principal.object_id, role=canonical,
        scope=scope, scope_key=scope_key(scope),
    )
    session.add(assignment)
    session.flush()
    return assignment


def find_principal(session: Session, client_or_object_id: str) -> Principal:
    key = client_or_object_id.lower()
    principal = session.scalars(
        select(Principal).where((Principal.client_id == key) | (Principal.object_id == key))
    ).first()
    if principal is None:
        raise NotFound(f"No service principal has the id '{client_or_object_id}'.", code="PrincipalNotFound")
    return principal


def list_principals(session: Session) -> list[tuple[Principal, list[RoleAssignment]]]:
    principals = session.scalars(select(Principal).order_by(Principal.created_at)).all()
    assignments = session.scalars(select(RoleAssignment).order_by(RoleAssignment.created_at)).all()
    by_principal: dict[str, list[RoleAssignment]] = {}
    for assignment in assignments:
        by_principal.setdefault(assignment.principal_id, []).append(assignment)
    return [(p, by_principal.get(p.object_id, [])) for p in principals]


def authenticate_client(session: Session, tenant_id: str, client_id: str, client_secret: str) -> Principal:
    """The principal whose secret this is, or an ``invalid_client`` error that reveals nothing more."""
    principal = session.scalars(
        select(Principal).where(Principal.client_id == client_id.lower(), Principal.tenant_id == tenant_id)
    ).first()
    try:
        _hasher.verify(principal.secret_hash if principal else _DUMMY_HASH, client_secret)
    except (VerificationError, InvalidHashError):
        principal = None
    if principal is None:
        raise OAuthError(
            401, "invalid_client",
            f"Invalid client secret provided, or no application with identifier '{client_id}' exists in "
            f"the directory '{tenant_id}'. Ensure the secret being sent in the request is the client "
            "secret value, not the client secret ID.",
            7000215,
        )
    return principal
