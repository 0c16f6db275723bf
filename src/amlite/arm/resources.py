"""The store of tracked resources (rows of ``resources``), shared by every resource provider."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from amlite.arm.tables import Resource, ResourceGroup
from amlite.errors import BadRequest, NotFound

_RESOURCE_ID = re.compile(
    r"^/?subscriptions/(?P<subscription>[^/]+)/resourceGroups/(?P<group>[^/]+)"
    r"/providers/(?P<namespace>[^/]+)/(?P<type>[^/]+)/(?P<name>[^/]+)/?$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class ResourceId:
    subscription: str
    resource_group: str
    namespace: str
    type: str
    name: str

    @classmethod
    def parse(cls, value: str) -> ResourceId | None:
        """A top-level resource id; the leading '/' is optional and case does not matter."""
        match = _RESOURCE_ID.match(value.strip())
        if match is None:
            return None
        return cls(match["subscription"].lower(), match["group"], match["namespace"], match["type"], match["name"])

    @property
    def type_key(self) -> str:
        return f"{self.namespace}/{self.type}".lower()

    def __str__(self) -> str:
        return (f"/subscriptions/{self.subscription}/resourceGroups/{self.resource_group}"
                f"/providers/{self.namespace}/{self.type}/{self.name}")


def find_resource(session: Session, subscription_id: str, resource_group: str, type_key: str,
                  name: str) -> Resource | None:
    return session.scalars(
        select(Resource).join(ResourceGroup, Resource.resource_group_id == ResourceGroup.id).where(
            Resource.subscription_id == subscription_id,
            ResourceGroup.name_key == resource_group.lower(),
            Resource.type_key == type_key.lower(),
            Resource.name_key == name.lower(),
        )
    ).first()


def find_by_id(session: Session, resource_id: ResourceId) -> Resource | None:
    return find_resource(session, resource_id.subscription, resource_id.resource_group, resource_id.type_key,
                         resource_id.name)


def not_found(type_name: str, name: str, resource_group: str) -> NotFound:
    return NotFound(
        f"The Resource '{type_name}/{name}' under resource group '{resource_group}' was not found.",
        code="ResourceNotFound",
    )


def get_resource(session: Session, subscription_id: str, resource_group: str, type_name: str, name: str) -> Resource:
    resource = find_resource(session, subscription_id, resource_group, type_name, name)
    if resource is None:
        raise not_found(type_name, name, resource_group)
    return resource


def list_resources(session: Session, subscription_id: str, type_key: str, resource_group: str | None = None,
                   after: int | None = None, limit: int | None = None) -> list[Resource]:
    query = select(Resource).where(Resource.subscription_id == subscription_id, Resource.type_key == type_key.lower())
    if resource_group is not None:
        query = query.join(ResourceGroup, Resource.resource_group_id == ResourceGroup.id).where(
            ResourceGroup.name_key == resource_group.lower()
        )
    if after is not None:
        query = query.where(Resource.id > after)
    query = query.order_by(Resource.id)
    if limit is not None:
        query = query.limit(limit)
    return list(session.scalars(query))


def tracked_json(resource: Resource, properties: dict[str, Any] | None = None) -> dict[str, Any]:
    """The ARM envelope of a tracked resource."""
    body: dict[str, Any] = {
        "id": resource.resource_id,
        "name": resource.name,
        "type": f"{resource.namespace}/{resource.type}",
        "location": resource.location,
        "tags": resource.tags or {},
    }
    if resource.sku is not None:
        body["sku"] = resource.sku
    if resource.kind is not None:
        body["kind"] = resource.kind
    if resource.identity is not None:
        body["identity"] = resource.identity
    body["properties"] = properties if properties is not None else resource.properties
    return body


def string_map(value: Any, member: str) -> dict[str, str]:
    """Validate a tags-like member: an object of strings."""
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise BadRequest(f"The member '{member}' must be an object whose values are strings.",
                         code="InvalidRequestContent")
    return value
