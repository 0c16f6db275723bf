"""Wire models of workspace requests, and the workspace JSON."""

from __future__ import annotations

from typing import Any

from pydantic import field_validator

from amlite.arm.resources import tracked_json
from amlite.arm.tables import Resource
from amlite.web.body import WireModel

WORKSPACES = "Microsoft.MachineLearningServices/workspaces"
DEPENDENCIES = {
    # property -> (resource type it must name, what to call it in messages)
    "storageAccount": ("Microsoft.Storage/storageAccounts", "storage account"),
    "keyVault": ("Microsoft.KeyVault/vaults", "key vault"),
    "applicationInsights": ("Microsoft.Insights/components", "Application Insights component"),
    "containerRegistry": ("Microsoft.ContainerRegistry/registries", "container registry"),
}


class Sku(WireModel):
    name: str = "Basic"
    tier: str | None = None


class Identity(WireModel):
    type: str = "SystemAssigned"

    @field_validator("type")
    @classmethod
    def _system_assigned(cls, value: str) -> str:
        if value.lower() != "systemassigned":
            raise ValueError("the only identity type is 'SystemAssigned'")
        return "SystemAssigned"


class WorkspacePutProperties(WireModel):
    friendlyName: str | None = None
    description: str | None = None
    storageAccount: str | None = None
    keyVault: str | None = None
    applicationInsights: str | None = None
    containerRegistry: str | None = None
    hbiWorkspace: bool = False


class WorkspacePut(WireModel):
    location: str
    tags: dict[str, str] | None = None
    sku: Sku | None = None
    identity: Identity | None = None
    properties: WorkspacePutProperties = WorkspacePutProperties()


class WorkspacePatchProperties(WireModel):
    friendlyName: str | None = None
    description: str | None = None


class WorkspacePatch(WireModel):
    tags: dict[str, str] | None = None
    sku: Sku | None = None
    properties: WorkspacePatchProperties = WorkspacePatchProperties()


def workspace_json(workspace: Resource, problems: list[dict[str, Any]]) -> dict[str, Any]:
    """The workspace as ARM shows it; ``problems`` lists dependencies that are missing or broken."""
    properties = {k: v for k, v in workspace.properties.items() if v is not None}
    if problems:
        properties["dependencyErrors"] = problems
    return tracked_json(workspace, properties)
