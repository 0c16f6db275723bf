"""Bootstrap on an empty store, and the administration commands on the store the server uses."""

from __future__ import annotations

import json
import stat

import httpx

from tests.server import Server

AUTH_FILE_KEYS = {"clientId", "clientSecret", "subscriptionId", "tenantId", "activeDirectoryEndpointUrl",
                  "resourceManagerEndpointUrl", "activeDirectoryGraphResourceId", "sqlManagementEndpointUrl",
                  "galleryEndpointUrl", "managementEndpointUrl"}


def test_bootstrap_credentials_file(server: Server):
    path = server.data_dir / "bootstrap-credentials.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    creds = json.loads(path.read_text())
    assert set(creds) == AUTH_FILE_KEYS
    assert creds["activeDirectoryEndpointUrl"] == server.base_url
    assert creds["resourceManagerEndpointUrl"] == f"{server.base_url}/"
    assert len(creds["clientSecret"]) >= 32
    log = server.output()
    assert creds["clientSecret"] in log and log.count(creds["clientSecret"]) == 1
    assert f"listening on {server.base_url}" in log


def test_subscription_create_and_list(server: Server):
    created = json.loads(server.cli("subscription", "create", "--name", "team-a", "--json").stdout)
    assert created["displayName"] == "team-a" and created["state"] == "Enabled"
    listed = json.loads(server.cli("subscription", "list", "--json").stdout)
    assert created["subscriptionId"] in [s["subscriptionId"] for s in listed]
    table = server.cli("subscription", "list").stdout
    assert "team-a" in table


def test_principal_create_list_delete(server: Server, subscription: str):
    auth = json.loads(server.cli("principal", "create", "--subscription", subscription, "--role", "Reader",
                                 "--name", "ci-reader", "--sdk-auth").stdout)
    assert set(auth) == AUTH_FILE_KEYS
    assert auth["subscriptionId"] == subscription
    assert auth["activeDirectoryEndpointUrl"] == server.base_url
    server.token(auth)

    listed = json.loads(server.cli("principal", "list", "--json").stdout)
    mine = next(p for p in listed if p["appId"] == auth["clientId"])
    assert mine["displayName"] == "ci-reader"
    assert mine["roles"] == [{"role": "Reader", "scope": f"/subscriptions/{subscription}"}]
    assert auth["clientSecret"] not in json.dumps(listed)

    deleted = json.loads(server.cli("principal", "delete", auth["clientId"], "--json").stdout)
    assert deleted["deleted"] is True
    response = httpx.post(f"{server.base_url}/{auth['tenantId']}/oauth2/token", data={
        "grant_type": "client_credentials", "resource": "https://management.azure.com/",
        "client_id": auth["clientId"], "client_secret": auth["clientSecret"]})
    assert response.status_code == 401 and response.json()["error"] == "invalid_client"


def test_cli_errors_are_clear(server: Server, subscription: str):
    missing = server.cli("principal", "create", "--subscription", "no-such-sub", check=False)
    assert missing.returncode == 1 and "Subscription 'no-such-sub' not found" in missing.stderr
    bad_role = server.cli("principal", "create", "--subscription", subscription, "--role", "God", check=False)
    assert bad_role.returncode == 1 and "Unknown role 'God'" in bad_role.stderr
    outside = server.cli("principal", "create", "--subscription", subscription,
                         "--scope", "/subscriptions/other/resourceGroups/x", check=False)
    assert outside.returncode == 1 and "not inside subscription" in outside.stderr
    absent = server.cli("principal", "delete", "00000000-0000-0000-0000-000000000000", check=False)
    assert absent.returncode == 1 and "No service principal" in absent.stderr


def test_db_upgrade(server: Server):
    assert "latest revision" in server.cli("db", "upgrade").stdout
