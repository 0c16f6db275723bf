"""Wire models of the management plane (requests) and the JSON they answer with."""

from __future__ import annotations

from typing import Any

from amlite.arm.catalog import REGIONS, Provider
from amlite.arm.ids import provider_id, resource_group_id, subscription_id
from amlite.arm.tables import ResourceGroup, Subscription
from amlite.web.body import WireModel


class ResourceGroupPut(WireModel):
    location: str
    tags: dict[str, str] | None = None
    managedBy: str | None = None


class ResourceGroupPatch(WireModel):
    location: str | None = None
    tags: dict[str, str] | None = None
    managedBy: str | None = None


def subscription_json(subscription: Subscription) -> dict[str, Any]:
    return {
        "id": subscription_id(subscription.id),
        "authorizationSource": "RoleBased",
        "managedByTenants": [],
        "subscriptionId": subscription.id,
        "tenantId": subscription.tenant_id,
        "displayName": subscription.display_name,
        "state": subscription.state,
        "subscriptionPolicies": {
            "locationPlacementId": "Public_2014-09-01",
            "quotaId": "PayAsYouGo_2014-09-01",
            "spendingLimit": "Off",
        },
    }


def resource_group_json(group: ResourceGroup) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": resource_group_id(group.subscription_id, group.name),
        "name": group.name,
        "type": "Microsoft.Resources/resourceGroups",
        "location": group.location,
        "properties": {"provisioningState": group.provisioning_state},
    }
    if group.tags:
        body["tags"] = group.tags
    if group.managed_by:
        body["managedBy"] = group.managed_by
    return body


def provider_json(subscription: str, provider: Provider, state: str) -> dict[str, Any]:
    return {
        "id": provider_id(subscription, provider.namespace),
        "namespace": provider.namespace,
        "registrationState": state,
        "registrationPolicy": "RegistrationRequired" if provider.registration_required else "RegistrationFree",
        "resourceTypes": [
            {
                "resourceType": resource_type,
                "locations": sorted(REGIONS.values()),
                "apiVersions": sorted(versions, reverse=True),
                "capabilities": "None",
            }
            for resource_type, versions in provider.resource_types.items()
        ],
    }


class MoveResourcesRequest(WireModel):
    resources: list[str]
    targetResourceGroup: str
