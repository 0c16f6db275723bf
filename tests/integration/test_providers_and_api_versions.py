"""Providers and their registration, and the api-version policy."""

from __future__ import annotations


import httpx
import pytest

from tests.server import Server

API = "api-version=2019-11-01"


def test_providers_list_and_registration(arm: httpx.Client, subscription: str):
    listing = arm.get(f"/subscriptions/{subscription}/providers?{API}").json()["value"]
    states = {p["namespace"]: p["registrationState"] for p in listing}
    assert states["Microsoft.MachineLearningServices"] == "Registered"
    assert {"Microsoft.Storage", "Microsoft.KeyVault", "Microsoft.ContainerRegistry", "Microsoft.Insights"} <= set(states)
    ml = arm.get(f"/subscriptions/{subscription}/providers/microsoft.machinelearningservices?{API}").json()
    assert ml["namespace"] == "Microsoft.MachineLearningServices"
    workspaces = next(t for t in ml["resourceTypes"] if t["resourceType"] == "workspaces")
    assert "2019-11-01" in workspaces["apiVersions"]

    url = f"/subscriptions/{subscription}/providers/Microsoft.Insights"
    assert arm.post(f"{url}/unregister?{API}").json()["registrationState"] == "NotRegistered"
    assert arm.get(f"{url}?{API}").json()["registrationState"] == "NotRegistered"
    assert arm.post(f"{url}/register?{API}").json()["registrationState"] == "Registered"
    unknown = arm.post(f"/subscriptions/{subscription}/providers/Contoso.Widgets/register?{API}")
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "InvalidResourceNamespace"


def test_cli_subscription_without_registration(server: Server):
    created = server.new_subscription("bare", "--no-register")
    owner = server.new_principal(created, "Owner")
    with server.client(owner) as client:
        providers = client.get(f"/subscriptions/{created}/providers?{API}").json()["value"]
        states = {p["namespace"]: p["registrationState"] for p in providers}
        assert states["Microsoft.MachineLearningServices"] == "NotRegistered"
        assert states["Microsoft.Resources"] == "Registered"


def test_missing_api_version(arm: httpx.Client, subscription: str):
    response = arm.get(f"/subscriptions/{subscription}/resourceGroups")
    assert response.status_code == 400
    assert response.json()["error"] == {
        "code": "MissingApiVersionParameter",
        "message": "The api-version query parameter (?api-version=) is required for all requests.",
    }


@pytest.mark.parametrize("version", ["2010-01-01", "latest", "2019-11-01-preview"])
def test_unsupported_api_version_lists_the_supported_ones(arm: httpx.Client, subscription: str, version: str):
    response = arm.get(f"/subscriptions/{subscription}/resourceGroups?api-version={version}")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "InvalidApiVersionParameter"
    assert f"'{version}'" in error["message"]
    assert "2019-11-01" in error["message"] and "2025-04-01" in error["message"]


@pytest.mark.parametrize("version", ["2019-06-01", "2019-11-01", "2021-04-01", "2022-12-01", "2025-04-01"])
def test_resources_accepts_the_versions_clients_send(arm: httpx.Client, subscription: str, version: str):
    assert arm.get(f"/subscriptions/{subscription}/resourceGroups?api-version={version}").status_code == 200
    assert arm.get(f"/subscriptions?api-version={version}").status_code == 200
