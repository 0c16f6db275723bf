"""Test helpers: a workspace made over HTTP the way the walkthrough makes one (its four dependent
resources, then the workspace), and polling of long-running operations."""

from __future__ import annotations

import time
import uuid

import httpx

ML_API = "api-version=2019-11-01"
DEPENDENTS = {
    # workspace property -> (resource type, api-version, request body)
    "storageAccount": ("Microsoft.Storage/storageAccounts", "2019-06-01",
                       {"sku": {"name": "Standard_LRS"}, "kind": "StorageV2"}),
    "keyVault": ("Microsoft.KeyVault/vaults", "2019-09-01", {}),
    "applicationInsights": ("Microsoft.Insights/components", "2015-05-01",
                            {"kind": "web", "properties": {"Application_Type": "web"}}),
    "containerRegistry": ("Microsoft.ContainerRegistry/registries", "2019-05-01",
                          {"sku": {"name": "Basic"}, "properties": {"adminUserEnabled": True}}),
}


def poll(client: httpx.Client, url: str, timeout: float = 30) -> httpx.Response:
    """Follow an ``Azure-AsyncOperation`` URL until the operation is no longer InProgress."""
    deadline = time.monotonic() + timeout
    while True:
        response = client.get(url)
        assert response.status_code == 200, response.text
        if response.json()["status"] != "InProgress":
            return response
        assert time.monotonic() < deadline, f"operation still running after {timeout}s: {response.text}"
        time.sleep(0.1)


def ready_workspace(client: httpx.Client, subscription: str, group: str, name: str,
                    location: str = "westus2") -> dict:
    """A workspace in ``group`` (created if missing) whose provisioningState is Succeeded."""
    base = f"/subscriptions/{subscription}/resourceGroups/{group}"
    assert client.put(f"{base}?api-version=2019-11-01", json={"location": location}).status_code in (200, 201)
    suffix = uuid.uuid4().hex[:10]
    properties = {}
    for member, (resource_type, version, body) in DEPENDENTS.items():
        resource_id = f"{base}/providers/{resource_type}/ws{suffix}{member[:4].lower()}"
        response = client.put(f"{resource_id}?api-version={version}", json={"location": location, **body})
        assert response.status_code in (200, 201), response.text
        properties[member] = resource_id
    url = f"{base}/providers/Microsoft.MachineLearningServices/workspaces/{name}?{ML_API}"
    response = client.put(url, json={"location": location, "properties": properties})
    assert response.status_code in (200, 202), response.text
    if response.status_code == 202:
        assert poll(client, response.headers["Azure-AsyncOperation"]).json()["status"] == "Succeeded"
    workspace = client.get(url).json()
    assert workspace["properties"]["provisioningState"] == "Succeeded", workspace
    return workspace
