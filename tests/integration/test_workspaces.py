"""Workspaces: walkthrough steps 3, 8 and 9 verbatim, provisioning, dependency errors, keys, delete."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.resources import create_dependencies, create_group, create_workspace, group_path, wait_for
from tests.server import Server

API = "api-version=2019-11-01"
ML = "providers/Microsoft.MachineLearningServices/workspaces"


def workspace_path(subscription: str, group: str, name: str) -> str:
    return f"{group_path(subscription, group)}/{ML}/{name}"


def test_walkthrough_step8_create_then_step3_list_and_discover(server: Server, arm: httpx.Client, subscription: str):
    rg, sub = "walk-rg", subscription
    create_group(arm, sub, rg)
    create_dependencies(arm, sub, rg, "walk")
    body = {
        "location": "westus2",
        "properties": {
            "friendlyName": "walkthrough workspace", "description": "made as the how-to does",
            "containerRegistry": f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.ContainerRegistry/registries/walkacr",
            "keyVault": f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Keyvault/vaults/walkkv",
            "applicationInsights": f"subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.insights/components/walkai",
            "storageAccount": f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Storage/storageAccounts/walksa",
        },
        "identity": {"type": "systemAssigned"},
    }
    response = arm.put(f"{workspace_path(sub, rg, 'walk-ws')}?{API}", json=body)
    assert response.status_code == 202
    assert response.json()["properties"]["provisioningState"] == "Creating"
    location = response.headers["location"]
    deadline = time.monotonic() + 30
    while (progress := arm.get(location)).status_code == 202 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert progress.status_code == 200
    assert progress.json()["properties"]["provisioningState"] == "Succeeded"

    listing = arm.get(f"{group_path(sub, rg)}/{ML}/?{API}").json()["value"]
    assert [w["name"] for w in listing] == ["walk-ws"]
    workspace = listing[0]
    props = workspace["properties"]
    assert workspace["type"] == "Microsoft.MachineLearningServices/workspaces"
    assert workspace["identity"]["type"] == "SystemAssigned" and workspace["identity"]["principalId"]
    assert workspace["identity"]["tenantId"] == server.credentials["tenantId"]
    assert workspace["sku"] == {"name": "Basic", "tier": "Basic"}
    assert props["applicationInsights"].startswith("/subscriptions/")
    assert props["friendlyName"] == "walkthrough workspace"
    assert len(props["workspaceId"]) == 36 and props["creationTime"]
    assert "dependencyErrors" not in props

    discovery = httpx.get(props["discoveryUrl"])  # no Authorization header, as the SDK does
    assert discovery.status_code == 200
    assert discovery.json().items() >= {key: server.base_url for key in (
        "api", "catalog", "experimentation", "gallery", "history", "hyperdrive", "labeling", "modelmanagement",
        "pipelines", "studiocoreservices")}.items()

    by_subscription = arm.get(f"/subscriptions/{sub}/{ML}?{API}").json()["value"]
    assert "walk-ws" in [w["name"] for w in by_subscription]
    again = arm.put(f"{workspace_path(sub, rg, 'WALK-WS')}?{API}", json=body)
    assert again.status_code == 200
    assert again.json()["properties"]["workspaceId"] == props["workspaceId"]


@pytest.mark.parametrize("version", ["2018-03-01-preview", "2019-05-01", "2019-06-01", "2019-11-01",
                                     "2020-08-01", "2022-05-01"])
def test_api_versions_real_clients_send(arm: httpx.Client, subscription: str, version: str):
    response = arm.get(f"/subscriptions/{subscription}/{ML}?api-version={version}")
    assert response.status_code == 200


def test_missing_or_broken_dependencies_fail_the_operation(arm: httpx.Client, subscription: str):
    rg = "deps-rg"
    create_group(arm, subscription, rg)
    ids = create_dependencies(arm, subscription, rg, "deps")
    base = {"storageAccount": ids["Microsoft.Storage/storageAccounts"], "keyVault": ids["Microsoft.KeyVault/vaults"],
            "applicationInsights": ids["Microsoft.Insights/components"],
            "containerRegistry": ids["Microsoft.ContainerRegistry/registries"]}
    for member, wrong in [("storageAccount", "nosuchsa"), ("keyVault", "nosuchkv"),
                          ("applicationInsights", "nosuchai"), ("containerRegistry", "nosuchacr")]:
        properties = {**base, member: base[member].rsplit("/", 1)[0] + "/" + wrong}
        response = arm.put(f"{workspace_path(subscription, rg, 'ws-' + member.lower())}?{API}",
                           json={"location": "westus2", "properties": properties})
        assert response.status_code == 202
        status = wait_for(arm, response.headers["azure-asyncoperation"]).json()
        assert status["status"] == "Failed"
        assert status["error"]["code"] == "DependentResourceNotFound"
        assert wrong in status["error"]["message"]
        result = arm.get(response.headers["location"])
        assert result.status_code == 409 and wrong in result.json()["error"]["message"]
        workspace = arm.get(f"{workspace_path(subscription, rg, 'ws-' + member.lower())}?{API}").json()
        assert workspace["properties"]["provisioningState"] == "Failed"
        assert workspace["properties"]["dependencyErrors"][0]["target"] == member


def test_registry_admin_user_disabled_then_fixed(arm: httpx.Client, subscription: str):
    rg = "admin-rg"
    create_group(arm, subscription, rg)
    ids = create_dependencies(arm, subscription, rg, "adm")
    registry = ids["Microsoft.ContainerRegistry/registries"]
    patched = arm.patch(f"{registry}?api-version=2019-05-01", json={"properties": {"adminUserEnabled": False}})
    assert patched.json()["properties"]["adminUserEnabled"] is False
    body = {"location": "westus2", "properties": {
        "storageAccount": ids["Microsoft.Storage/storageAccounts"], "keyVault": ids["Microsoft.KeyVault/vaults"],
        "applicationInsights": ids["Microsoft.Insights/components"], "containerRegistry": registry}}
    response = arm.put(f"{workspace_path(subscription, rg, 'adm-ws')}?{API}", json=body)
    status = wait_for(arm, response.headers["azure-asyncoperation"]).json()
    assert status["status"] == "Failed"
    assert status["error"]["code"] == "ContainerRegistryAdminUserDisabled"
    assert "admin user" in status["error"]["message"] and "admacr" in status["error"]["message"]

    arm.patch(f"{registry}?api-version=2019-05-01", json={"properties": {"adminUserEnabled": True}})
    retry = arm.put(f"{workspace_path(subscription, rg, 'adm-ws')}?{API}", json=body)
    assert retry.status_code == 202
    assert wait_for(arm, retry.headers["azure-asyncoperation"]).json()["status"] == "Succeeded"


def test_invalid_bodies(arm: httpx.Client, subscription: str):
    rg = "bad-ws-rg"
    create_group(arm, subscription, rg)
    url = f"{workspace_path(subscription, rg, 'bad-ws')}?{API}"
    cases = [
        ({"properties": {}}, "InvalidRequestContent"),
        ({"location": "westus2", "properties": {"keyVault": "x", "storageAccount": "y", "applicationInsights": "z"}},
         "InvalidDependentResourceId"),
        ({"location": "westus2", "identity": {"type": "UserAssigned"}, "properties": {}}, "InvalidRequestContent"),
        ({"location": "westus2", "properties": {
            "storageAccount": f"/subscriptions/{subscription}/resourceGroups/{rg}/providers/Microsoft.KeyVault/vaults/v",
            "keyVault": "a", "applicationInsights": "b"}}, "InvalidDependentResourceId"),
    ]
    for body, code in cases:
        response = arm.put(url, json=body)
        assert response.status_code == 400, body
        assert response.json()["error"]["code"] == code
    assert arm.get(url).status_code == 404


def test_patch_keys_and_delete(arm: httpx.Client, subscription: str):
    workspace = create_workspace(arm, subscription, "keys-rg", "keys-ws")
    path = workspace["id"]
    patched = arm.patch(f"{path}?{API}", json={"tags": {"team": "ml"},
                                              "properties": {"friendlyName": "Keys", "description": "d"}})
    assert patched.status_code == 200
    assert patched.json()["tags"] == {"team": "ml"}
    assert patched.json()["properties"]["friendlyName"] == "Keys"

    keys = arm.post(f"{path}/listKeys?{API}").json()
    storage = workspace["properties"]["storageAccount"]
    account_keys = arm.post(f"{storage}/listKeys?api-version=2019-06-01").json()["keys"]
    assert keys["userStorageKey"] == account_keys[0]["value"]
    assert keys["userStorageResourceId"] == storage
    assert keys["containerRegistryCredentials"]["username"] == workspace["properties"]["containerRegistry"].rsplit("/", 1)[1]
    assert len(keys["containerRegistryCredentials"]["passwords"]) == 2
    insights = arm.get(f"{workspace['properties']['applicationInsights']}?api-version=2015-05-01").json()
    assert keys["appInsightsInstrumentationKey"] == insights["properties"]["InstrumentationKey"]
    assert arm.post(f"{path}/resyncKeys?{API}").status_code == 200

    deleted = arm.delete(f"{path}?{API}")
    assert deleted.status_code == 202
    assert wait_for(arm, deleted.headers["azure-asyncoperation"]).json()["status"] == "Succeeded"
    assert arm.get(f"{path}?{API}").status_code == 404
    assert arm.get(f"{storage}?api-version=2019-06-01").status_code == 200, "dependencies stay"
    assert arm.delete(f"{path}?{API}").status_code == 204


def test_deleted_dependency_is_reported_not_a_500(arm: httpx.Client, subscription: str):
    workspace = create_workspace(arm, subscription, "broken-rg", "broken-ws")
    registry = workspace["properties"]["containerRegistry"]
    assert arm.delete(f"{registry}?api-version=2019-05-01").status_code == 200
    shown = arm.get(f"{workspace['id']}?{API}").json()
    assert shown["properties"]["provisioningState"] == "Succeeded"
    (problem,) = shown["properties"]["dependencyErrors"]
    assert problem["target"] == "containerRegistry" and problem["code"] == "DependentResourceNotFound"
    keys = arm.post(f"{workspace['id']}/listKeys?{API}")
    assert keys.status_code == 409
    assert registry.rsplit("/", 1)[1] in keys.json()["error"]["message"]
    assert arm.post(f"{workspace['id']}/resyncKeys?{API}").status_code == 409


def test_move_is_refused_and_nothing_moves(arm: httpx.Client, subscription: str):
    workspace = create_workspace(arm, subscription, "move-rg", "move-ws")
    create_group(arm, subscription, "move-target")
    for action in ("moveResources", "validateMoveResources"):
        response = arm.post(f"{group_path(subscription, 'move-rg')}/{action}?api-version=2021-04-01", json={
            "resources": [workspace["id"], workspace["properties"]["storageAccount"]],
            "targetResourceGroup": group_path(subscription, "move-target")})
        assert response.status_code == 400
        error = response.json()["error"]
        assert error["code"] == "ResourceMoveNotSupported"
        assert "workspace" in error["message"] and "Nothing was moved" in error["message"]
        assert {d["target"] for d in error["details"]} == {workspace["id"], workspace["properties"]["storageAccount"]}
    assert arm.get(f"{workspace['id']}?{API}").status_code == 200


def test_unregistered_provider(server: Server, arm: httpx.Client, subscription: str):
    created = server.new_subscription("unregistered", "--no-register")
    owner = server.new_principal(created, "Owner")
    sub = created
    with server.client(owner) as client:
        create_group(client, sub, "rg")
        response = client.put(f"{group_path(sub, 'rg')}/providers/Microsoft.Storage/storageAccounts/unregsa"
                              "?api-version=2019-06-01", json={"location": "westus2"})
        assert response.status_code == 409
        error = response.json()["error"]
        assert error["code"] == "MissingSubscriptionRegistration"
        assert error["message"] == ("The subscription is not registered to use namespace 'Microsoft.Storage'. "
                                    "See https://aka.ms/rps-not-found for how to register subscriptions.")
        assert error["details"] == [{"code": "MissingSubscriptionRegistration", "target": "Microsoft.Storage",
                                     "message": error["message"]}]
        ws = client.put(f"{workspace_path(sub, 'rg', 'ws')}?{API}", json={"location": "westus2", "properties": {}})
        assert ws.status_code == 409 and "Microsoft.MachineLearningServices" in ws.json()["error"]["message"]
        client.post(f"/subscriptions/{sub}/providers/Microsoft.Storage/register?{API}")
        assert client.put(f"{group_path(sub, 'rg')}/providers/Microsoft.Storage/storageAccounts/unregsa"
                          "?api-version=2019-06-01", json={"location": "westus2"}).status_code == 201


def test_reader_and_stranger(server: Server, arm: httpx.Client, subscription: str):
    workspace = create_workspace(arm, subscription, "rbac-rg", "rbac-ws")
    reader = server.new_principal(subscription, "Reader")
    with server.client(reader) as client:
        assert client.get(f"{workspace['id']}?{API}").status_code == 200
        denied = client.put(f"{workspace['id']}?{API}", json={"location": "westus2", "properties": {}})
        assert denied.status_code == 403 and denied.json()["error"]["code"] == "AuthorizationFailed"
        assert client.post(f"{workspace['id']}/listKeys?{API}").status_code == 403
    other = server.new_subscription("stranger")
    stranger = server.new_principal(other, "Owner")
    with server.client(stranger) as client:
        response = client.get(f"{workspace['id']}?{API}")
        assert response.status_code == 404 and response.json()["error"]["code"] == "SubscriptionNotFound"
