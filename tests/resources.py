"""Making ARM resources over HTTP for tests: a workspace's four dependencies, and a ready workspace."""

from __future__ import annotations

import time
import uuid

import httpx

ML_API = "api-version=2019-11-01"
DEPENDENCY_BODIES = {
    "Microsoft.Storage/storageAccounts": ("2019-06-01", {"sku": {"name": "Standard_LRS"}, "kind": "StorageV2"}),
    "Microsoft.KeyVault/vaults": ("2019-09-01", {"properties": {"sku": {"family": "A", "name": "standard"}}}),
    "Microsoft.Insights/components": ("2015-05-01", {"kind": "web", "properties": {"Application_Type": "web"}}),
    "Microsoft.ContainerRegistry/registries": ("2019-05-01", {"sku": {"name": "Basic"},
                                                             "properties": {"adminUserEnabled": True}}),
}


def group_path(subscription: str, group: str) -> str:
    return f"/subscriptions/{subscription}/resourceGroups/{group}"


def create_group(arm: httpx.Client, subscription: str, group: str, location: str = "westus2") -> None:
    response = arm.put(f"{group_path(subscription, group)}?api-version=2021-04-01", json={"location": location})
    assert response.status_code in (200, 201), response.text


def create_dependencies(arm: httpx.Client, subscription: str, group: str, stem: str,
                        location: str = "westus2") -> dict[str, str]:
    """The four dependent resources, named ``{stem}sa``/``{stem}kv``/``{stem}ai``/``{stem}acr``; their ids by type."""
    ids = {}
    suffixes = {"storageAccounts": "sa", "vaults": "kv", "components": "ai", "registries": "acr"}
    for resource_type, (version, body) in DEPENDENCY_BODIES.items():
        name = f"{stem}{suffixes[resource_type.split('/')[1]]}"
        path = f"{group_path(subscription, group)}/providers/{resource_type}/{name}"
        response = arm.put(f"{path}?api-version={version}", json={"location": location, **body})
        assert response.status_code in (200, 201), response.text
        ids[resource_type] = path
    return ids


def wait_for(client: httpx.Client, url: str, seconds: float = 30) -> httpx.Response:
    """Follow an ``Azure-AsyncOperation`` URL until the operation is no longer InProgress."""
    deadline = time.monotonic() + seconds
    while True:
        response = client.get(url)
        assert response.status_code == 200, response.text
        if response.json()["status"] != "InProgress":
            return response
        assert time.monotonic() < deadline, f"operation still running after {seconds}s: {response.text}"
        time.sleep(0.1)


def create_workspace(arm: httpx.Client, subscription: str, group: str, name: str,
                     location: str = "westus2") -> dict:
    """A workspace with fresh dependencies, provisioned (Succeeded); answers its JSON."""
    create_group(arm, subscription, group, location)
    ids = create_dependencies(arm, subscription, group, f"ws{uuid.uuid4().hex[:12]}", location)
    body = {"location": location, "identity": {"type": "SystemAssigned"}, "properties": {
        "storageAccount": ids["Microsoft.Storage/storageAccounts"], "keyVault": ids["Microsoft.KeyVault/vaults"],
        "applicationInsights": ids["Microsoft.Insights/components"],
        "containerRegistry": ids["Microsoft.ContainerRegistry/registries"]}}
    path = f"{group_path(subscription, group)}/providers/Microsoft.MachineLearningServices/workspaces/{name}"
    response = arm.put(f"{path}?{ML_API}", json=body)
    assert response.status_code == 202, response.text
    assert wait_for(arm, response.headers["azure-asyncoperation"]).json()["status"] == "Succeeded"
    return arm.get(f"{path}?{ML_API}").json()
