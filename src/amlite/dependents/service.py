"""Generic create/read/update/delete for the dependent resource kinds."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from amlite.arm.catalog import normalize_region
from amlite.arm.resources import find_resource, not_found
from amlite.arm.service import get_resource_group
from amlite.arm.tables import Resource, Subscription
from amlite.dependents.kinds import BuildContext, Kind
from amlite.errors import BadRequest, Conflict
from amlite.secrets import SecretBox
from amlite.web.body import WireModel


class TrackedResourcePut(WireModel):
    location: str
    tags: dict[str, str] | None = None
    sku: dict[str, Any] | None = None
    kind: str | None = None
    properties: dict[str, Any] | None = None


class TrackedResourcePatch(WireModel):
    tags: dict[str, str] | None = None
    sku: dict[str, Any] | None = None
    properties: dict[str, Any] | None = None


def _context(base_url: str, subscription: Subscription, resource: Resource) -> BuildContext:
    return BuildContext(base_url, subscription.tenant_id, subscription.id, resource.name, resource.location)


def _check_name(session: Session, kind: Kind, name: str, existing: Resource | None) -> None:
    if not kind.valid_name(name):
        raise BadRequest(f"'{name}' is not a valid {kind.label} name. {kind.name_rule}",
                         code="InvalidResourceName", target="name")
    if kind.name_taken_code and existing is None:
        taken = session.scalars(select(Resource.id).where(
            Resource.type_key == kind.type_name.lower(), Resource.name_key == name.lower()
        )).first()
        if taken is not None:
            raise Conflict(f"The {kind.label} named {name} is already taken.", code=kind.name_taken_code)


def put_resource(session: Session, secrets: SecretBox, base_url: str, subscription: Subscription,
                 resource_group: str, kind: Kind, name: str, body: TrackedResourcePut) -> tuple[Resource, bool]:
    group = get_resource_group(session, subscription.id, resource_group)
    location = normalize_region(body.location)
    if location is None:
        raise BadRequest(f"The location '{body.location}' is not available for resource type '{kind.type_name}'.",
                         code="LocationNotAvailableForResourceType")
    resource = find_resource(session, subscription.id, resource_group, kind.type_name, name)
    _check_name(session, kind, name, resource)
    created = resource is None
    if created:
        resource = Resource(
            subscription_id=subscription.id, resource_group_id=group.id, resource_group=group.name,
            namespace=kind.namespace, type=kind.type, type_key=kind.type_name.lower(), name=name,
            name_key=name.lower(), location=location, properties={}, secrets=secrets.seal(kind.new_secrets()),
        )
        session.add(resource)
    elif resource.location != location:
        raise Conflict(f"The {kind.label} '{name}' already exists in location '{resource.location}'; "
                       "a resource cannot change location.", code="InvalidResourceLocation")
    resource.tags = body.tags or {}
    resource.sku = body.sku if body.sku is not None else (resource.sku or kind.default_sku)
    resource.kind = body.kind or resource.kind or kind.default_kind
    resource.properties = kind.build(_context(base_url, subscription, resource), body.properties or {},
                                     resource.properties)
    session.flush()
    return resource, created


def patch_resource(base_url: str, subscription: Subscription, kind: Kind, resource: Resource,
                   body: TrackedResourcePatch) -> Resource:
    if body.tags is not None:
        resource.tags = body.tags
    if body.sku is not None:
        resource.sku = body.sku
    if body.properties:
        resource.properties = kind.build(_context(base_url, subscription, resource), body.properties,
                                         resource.properties)
    return resource


def get_resource(session: Session, subscription_id: str, resource_group: str, kind: Kind, name: str) -> Resource:
    resource = find_resource(session, subscription_id, resource_group, kind.type_name, name)
    if resource is None:
        raise not_found(kind.type_name, name, resource_group)
    return resource


def account_keys(secrets: SecretBox, account: Resource) -> list[str]:
    """A storage account's keys, in the order listKeys shows them."""
    return secrets.open(account.secrets)["keys"]


def storage_keys(secrets: SecretBox, account: Resource) -> dict[str, Any]:
    keys = account_keys(secrets, account)
    return {"keys": [{"keyName": f"key{i + 1}", "value": value, "permissions": "FULL"} for i, value in enumerate(keys)]}


def registry_credentials(secrets: SecretBox, registry: Resource) -> dict[str, Any]:
    if not registry.properties.get("adminUserEnabled"):
        raise BadRequest(
            f"Cannot perform credential operations for {registry.resource_id} as admin user is disabled. "
            "Enable the admin user (properties.adminUserEnabled: true) first.",
            code="UnAuthorizedForCredentialOperations",
        )
    passwords = secrets.open(registry.secrets)["passwords"]
    return {"username": registry.name,
            "passwords": [{"name": "password", "value": passwords[0]}, {"name": "password2", "value": passwords[1]}]}
