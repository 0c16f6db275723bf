"""Storage accounts, key vaults, container registries and Application Insights components."""

from __future__ import annotations

import httpx
import pytest

from tests.resources import DEPENDENCY_BODIES, create_group, group_path, wait_for

TYPES = list(DEPENDENCY_BODIES)
NAMES = {"Microsoft.Storage/storageAccounts": "crudsa", "Microsoft.KeyVault/vaults": "crud-kv",
         "Microsoft.Insights/components": "crud-ai", "Microsoft.ContainerRegistry/registries": "crudacr"}


@pytest.mark.parametrize("resource_type", TYPES)
def test_crud(arm: httpx.Client, subscription: str, resource_type: str):
    version, body = DEPENDENCY_BODIES[resource_type]
    rg = "deps-crud-" + resource_type.split("/")[1].lower()
    create_group(arm, subscription, rg)
    path = f"{group_path(subscription, rg)}/providers/{resource_type}/{NAMES[resource_type]}"
    created = arm.put(f"{path}?api-version={version}", json={"location": "westus2", "tags": {"a": "1"}, **body})
    assert created.status_code == 201, created.text
    resource = created.json()
    assert resource["id"] == path and resource["name"] == NAMES[resource_type]
    assert resource["type"] == resource_type and resource["location"] == "westus2"
    assert resource["properties"]["provisioningState"] == "Succeeded"

    assert arm.put(f"{path}?api-version={version}", json={"location": "westus2", **body}).status_code == 200
    assert arm.patch(f"{path}?api-version={version}", json={"tags": {"b": "2"}}).json()["tags"] == {"b": "2"}
    assert arm.get(f"{path}?api-version={version}").json()["tags"] == {"b": "2"}
    in_group = arm.get(f"{group_path(subscription, rg)}/providers/{resource_type}?api-version={version}").json()
    assert [r["name"] for r in in_group["value"]] == [NAMES[resource_type]]
    in_subscription = arm.get(f"/subscriptions/{subscription}/providers/{resource_type}?api-version={version}")
    assert NAMES[resource_type] in [r["name"] for r in in_subscription.json()["value"]]

    assert arm.delete(f"{path}?api-version={version}").status_code == 200
    missing = arm.get(f"{path}?api-version={version}")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "ResourceNotFound"
    assert arm.delete(f"{path}?api-version={version}").status_code == 204


def test_shapes_and_what_they_are_for(arm: httpx.Client, subscription: str):
    rg = "deps-shapes"
    create_group(arm, subscription, rg)
    base = f"{group_path(subscription, rg)}/providers"
    storage = arm.put(f"{base}/Microsoft.Storage/storageAccounts/shapesa?api-version=2019-06-01",
                      json={"location": "westus2"}).json()
    assert storage["sku"] == {"name": "Standard_LRS", "tier": "Standard"} and storage["kind"] == "StorageV2"
    assert storage["properties"]["primaryEndpoints"]["blob"].endswith("/storage/shapesa/blob/")
    keys = arm.post(f"{base}/Microsoft.Storage/storageAccounts/shapesa/listKeys?api-version=2019-06-01").json()
    assert [k["keyName"] for k in keys["keys"]] == ["key1", "key2"]
    assert keys["keys"][0]["value"] != keys["keys"][1]["value"]

    vault = arm.put(f"{base}/Microsoft.KeyVault/vaults/shape-kv?api-version=2019-09-01",
                    json={"location": "westus2"}).json()
    assert vault["properties"]["sku"] == {"family": "A", "name": "standard"}
    assert vault["properties"]["vaultUri"].endswith("/vaults/shape-kv/")

    registry_url = f"{base}/Microsoft.ContainerRegistry/registries/shapeacr"
    registry = arm.put(f"{registry_url}?api-version=2019-05-01", json={"location": "westus2"}).json()
    assert registry["sku"]["name"] == "Basic" and registry["properties"]["adminUserEnabled"] is False
    refused = arm.post(f"{registry_url}/listCredentials?api-version=2019-05-01")
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "UnAuthorizedForCredentialOperations"
    arm.patch(f"{registry_url}?api-version=2019-05-01", json={"properties": {"adminUserEnabled": True}})
    credentials = arm.post(f"{registry_url}/listCredentials?api-version=2019-05-01").json()
    assert credentials["username"] == "shapeacr" and len(credentials["passwords"]) == 2

    insights = arm.put(f"{base}/Microsoft.Insights/components/shape-ai?api-version=2020-02-02",
                       json={"location": "westus2", "kind": "web"}).json()
    key = insights["properties"]["InstrumentationKey"]
    assert insights["properties"]["ConnectionString"].startswith(f"InstrumentationKey={key};")
    again = arm.put(f"{base}/Microsoft.Insights/components/shape-ai?api-version=2020-02-02",
                    json={"location": "westus2", "kind": "web"}).json()
    assert again["properties"]["InstrumentationKey"] == key


def test_bad_inputs(arm: httpx.Client, subscription: str):
    rg = "deps-bad"
    create_group(arm, subscription, rg)
    base = f"{group_path(subscription, rg)}/providers"
    cases = [
        (f"{base}/Microsoft.Storage/storageAccounts/Bad_Name?api-version=2019-06-01", {"location": "westus2"},
         400, "InvalidResourceName"),
        (f"{base}/Microsoft.Storage/storageAccounts/okname?api-version=2018-01-01", {"location": "westus2"},
         400, "InvalidApiVersionParameter"),
        (f"{base}/Microsoft.Storage/storageAccounts/okname?api-version=2019-06-01", {"tags": {}},
         400, "InvalidRequestContent"),
        (f"{base}/Microsoft.Storage/storageAccounts/okname?api-version=2019-06-01", {"location": "mars"},
         400, "LocationNotAvailableForResourceType"),
        (f"{base}/Microsoft.Compute/virtualMachines/vm?api-version=2019-06-01", {"location": "westus2"},
         404, "InvalidResourceNamespace"),
        (f"{base}/Microsoft.Storage/fileShares/x?api-version=2019-06-01", {"location": "westus2"},
         404, "InvalidResourceType"),
        (f"{group_path(subscription, 'no-such-rg')}/providers/Microsoft.Storage/storageAccounts/okname"
         "?api-version=2019-06-01", {"location": "westus2"}, 404, "ResourceGroupNotFound"),
    ]
    for url, body, status, code in cases:
        response = arm.put(url, json=body)
        assert response.status_code == status, (url, response.text)
        assert response.json()["error"]["code"] == code
    arm.put(f"{base}/Microsoft.Storage/storageAccounts/takensa?api-version=2019-06-01", json={"location": "westus2"})
    create_group(arm, subscription, "deps-bad-2")
    taken = arm.put(f"{group_path(subscription, 'deps-bad-2')}/providers/Microsoft.Storage/storageAccounts/takensa"
                    "?api-version=2019-06-01", json={"location": "westus2"})
    assert taken.status_code == 409 and taken.json()["error"]["code"] == "StorageAccountAlreadyTaken"


def test_resource_group_delete_removes_its_resources(arm: httpx.Client, subscription: str):
    rg = "deps-cascade"
    create_group(arm, subscription, rg)
    url = f"{group_path(subscription, rg)}/providers/Microsoft.Storage/storageAccounts/cascadesa?api-version=2019-06-01"
    arm.put(url, json={"location": "westus2"})
    deleted = arm.delete(f"{group_path(subscription, rg)}?api-version=2021-04-01")
    assert wait_for(arm, deleted.headers["azure-asyncoperation"]).json()["status"] == "Succeeded"
    create_group(arm, subscription, rg)
    assert arm.get(url).status_code == 404
