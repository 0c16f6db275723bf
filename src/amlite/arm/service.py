"""Management-plane use cases: subscriptions, provider registration, resource groups."""

from __future__ import annotations

import re
import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from amlite.arm.catalog import PROVIDERS, Provider, find_provider, normalize_region
from amlite.arm.ids import resource_group_id
from amlite.arm.resources import ResourceId
from amlite.arm.schemas import ResourceGroupPatch, ResourceGroupPut
from amlite.arm.tables import Operation, ProviderRegistration, ResourceGroup, Subscription
from amlite.errors import BadRequest, Conflict, NotFound
from amlite.identity.rbac import Authorizer

_RESOURCE_GROUP_NAME = re.compile(r"^[-\w._()]{1,90}$")


# Subscriptions -----------------------------------------------------------------------------


def create_subscription(session: Session, tenant_id: str, display_name: str, register: bool = True) -> Subscription:
    subscription = Subscription(id=str(uuid.uuid4()), tenant_id=tenant_id, display_name=display_name)
    session.add(subscription)
    session.flush()
    if register:
        for provider in PROVIDERS:
            if provider.registration_required:
                set_registration(session, subscription.id, provider, "Registered")
    return subscription


def list_all_subscriptions(session: Session) -> list[Subscription]:
    return list(session.scalars(select(Subscription).order_by(Subscription.created_at)))


def visible_subscriptions(session: Session, authz: Authorizer) -> list[Subscription]:
    return [s for s in list_all_subscriptions(session) if authz.sees_subscription(s.id)]


def get_subscription(session: Session, authz: Authorizer, subscription_id: str) -> Subscription:
    """The subscription, or 404 ``SubscriptionNotFound`` when it is absent or the caller has no role in it."""
    subscription = session.get(Subscription, subscription_id.lower())
    if subscription is None or not authz.sees_subscription(subscription.id):
        raise NotFound(f"The subscription '{subscription_id}' could not be found.", code="SubscriptionNotFound")
    return subscription


# Providers ---------------------------------------------------------------------------------


def registration_state(session: Session, subscription_id: str, provider: Provider) -> str:
    if not provider.registration_required:
        return "Registered"
    row = session.get(ProviderRegistration, (subscription_id, provider.namespace.lower()))
    return row.state if row else "NotRegistered"


def set_registration(session: Session, subscription_id: str, provider: Provider, state: str) -> None:
    row = session.get(ProviderRegistration, (subscription_id, provider.namespace.lower()))
    if row is None:
        session.add(ProviderRegistration(
            subscription_id=subscription_id, namespace_key=provider.namespace.lower(), state=state
        ))
    else:
        row.state = state
    session.flush()


def provider_or_404(namespace: str) -> Provider:
    provider = find_provider(namespace)
    if provider is None:
        raise NotFound(
            f"The resource namespace '{namespace}' is invalid or not served by this server.",
            code="InvalidResourceNamespace",
        )
    return provider


def require_registered(session: Session, subscription_id: str, namespace: str) -> None:
    """409 ``MissingSubscriptionRegistration`` unless the subscription may use the namespace."""
    provider = provider_or_404(namespace)
    if registration_state(session, subscription_id, provider) != "Registered":
        message = (
            f"The subscription is not registered to use namespace '{provider.namespace}'. "
            "See https://aka.ms/rps-not-found for how to register subscriptions."
        )
        raise Conflict(
            message,
            code="MissingSubscriptionRegistration",
            details=[{"code": "MissingSubscriptionRegistration", "target": provider.namespace, "message": message}],
        )


# Resource groups ---------------------------------------------------------------------------


def find_resource_group(session: Session, subscription_id: str, name: str) -> ResourceGroup | None:
    return session.scalars(
        select(ResourceGroup).where(
            ResourceGroup.subscription_id == subscription_id, ResourceGroup.name_key == name.lower()
        )
    ).first()


def get_resource_group(session: Session, subscription_id: str, name: str) -> ResourceGroup:
    group = find_resource_group(session, subscription_id, name)
    if group is None:
        raise NotFound(f"Resource group '{name}' could not be found.", code="ResourceGroupNotFound")
    return group


def _check_location(location: str) -> str:
    region = normalize_region(location)
    if region is None:
        raise BadRequest(
            f"The provided location '{location}' is not available for resource group. "
            "List available regions with GET /subscriptions/{subscriptionId}/providers/Microsoft.Resources.",
            code="LocationNotAvailableForResourceGroup",
        )
    return region


def _check_not_deleting(group: ResourceGroup) -> None:
    if group.provisioning_state == "Deleting":
        raise Conflict(
            f"The resource group '{group.name}' is in deprovisioning state and cannot perform this operation.",
            code="ResourceGroupBeingDeleted",
        )


def put_resource_group(
    session: Session, subscription_id: str, name: str, body: ResourceGroupPut
) -> tuple[ResourceGroup, bool]:
    """Create or update; answers the group and whether it was created."""
    if not _RESOURCE_GROUP_NAME.match(name) or name.endswith("."):
        raise BadRequest(
            f"The provided resource group name '{name}' is invalid. It can only contain letters, digits, "
            "'-', '.', '(', ')' or '_', be 1 to 90 characters long, and must not end with '.'.",
            code="InvalidResourceGroup",
            target="resourceGroupName",
        )
    location = _check_location(body.location)
    group = find_resource_group(session, subscription_id, name)
    if group is None:
        group = ResourceGroup(
            subscription_id=subscription_id, name=name, name_key=name.lower(), location=location,
            tags=body.tags or {}, managed_by=body.managedBy, provisioning_state="Succeeded",
        )
        session.add(group)
        session.flush()
        return group, True
    _check_not_deleting(group)
    if group.location != location:
        raise Conflict(
            f"Invalid resource group location '{body.location}'. "
            f"The Resource group already exists in location '{group.location}'.",
            code="InvalidResourceGroupLocation",
        )
    group.tags = body.tags or {}
    group.managed_by = body.managedBy
    session.flush()
    return group, False


def patch_resource_group(session: Session, group: ResourceGroup, body: ResourceGroupPatch) -> ResourceGroup:
    _check_not_deleting(group)
    if body.location is not None and _check_location(body.location) != group.location:
        raise Conflict(
            f"Invalid resource group location '{body.location}'. "
            f"The Resource group already exists in location '{group.location}'.",
            code="InvalidResourceGroupLocation",
        )
    if body.tags is not None:
        group.tags = body.tags
    if body.managedBy is not None:
        group.managed_by = body.managedBy
    session.flush()
    return group


def list_resource_groups(
    session: Session, authz: Authorizer, subscription_id: str, after: str | None, limit: int
) -> tuple[list[ResourceGroup], str | None]:
    """A page of the groups the caller may read, ordered by name; and the key to continue after."""
    query = select(ResourceGroup).where(ResourceGroup.subscription_id == subscription_id)
    if after:
        query = query.where(ResourceGroup.name_key > after)
    page: list[ResourceGroup] = []
    for group in session.scalars(query.order_by(ResourceGroup.name_key)):
        if authz.can("Microsoft.Resources/subscriptions/resourceGroups/read",
                     resource_group_id(subscription_id, group.name)):
            if len(page) == limit:
                return page, page[-1].name_key
            page.append(group)
    return page, None


def begin_delete_resource_group(group: ResourceGroup) -> None:
    _check_not_deleting(group)
    group.provisioning_state = "Deleting"


def delete_resource_group(session: Session, operation: Operation) -> None:
    """Operation handler: removes the group and everything in it."""
    group = session.scalars(
        select(ResourceGroup).where(
            ResourceGroup.subscription_id == operation.subscription_id,
            ResourceGroup.name_key == operation.payload["resourceGroup"].lower(),
        )
    ).first()
    if group is not None:
        session.delete(group)


def refuse_move(resources: list[str]) -> BadRequest:
    """Moves between resource groups or subscriptions are not supported; the error names what was asked."""
    types = {value: ResourceId.parse(value) for value in resources}
    details = [
        {"code": "ResourceMoveNotSupported", "target": value,
         "message": f"Resources of type '{parsed.namespace}/{parsed.type}' cannot be moved." if parsed
         else "This is not a resource id."}
        for value, parsed in types.items()
    ]
    moves_workspace = any(p and p.type_key == "microsoft.machinelearningservices/workspaces" for p in types.values())
    reason = ("Moving a Machine Learning workspace to another resource group or subscription is not supported"
              if moves_workspace else "Moving resources to another resource group or subscription is not supported")
    return BadRequest(f"{reason}. Nothing was moved.", code="ResourceMoveNotSupported", details=details)
