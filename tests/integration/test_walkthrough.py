"""Walkthrough steps 1 and 2, with curl exactly as the REST how-to runs them."""

from __future__ import annotations

import json
import subprocess
import time

from tests.server import Server


def curl(*args: str) -> dict:
    result = subprocess.run(["curl", "-sS", *args], capture_output=True, text=True, check=True)
    return json.loads(result.stdout)


def test_step1_token_then_step2_list_resource_groups(server: Server):
    creds = server.credentials
    reply = curl(
        "-X", "POST", f"{server.base_url}/{creds['tenantId']}/oauth2/token",
        "-d", "grant_type=client_credentials&resource=https%3A%2F%2Fmanagement.azure.com%2F"
              f"&client_id={creds['clientId']}&client_secret={creds['clientSecret']}",
    )
    assert set(reply) == {"token_type", "expires_in", "ext_expires_in", "expires_on", "not_before",
                          "resource", "access_token"}
    assert reply["token_type"] == "Bearer"
    assert reply["expires_in"] == reply["ext_expires_in"] == "3599"
    assert reply["resource"] == "https://management.azure.com/"
    assert all(isinstance(reply[k], str) for k in ("expires_on", "not_before"))
    assert int(reply["expires_on"]) - int(reply["not_before"]) == 3599
    assert abs(int(reply["not_before"]) - time.time()) < 60

    auth = f"Authorization: Bearer {reply['access_token']}"
    base = f"{server.base_url}/subscriptions/{creds['subscriptionId']}"
    curl("-X", "PUT", f"{base}/resourceGroups/RG1?api-version=2019-11-01", "-H", auth,
         "-H", "Content-Type: application/json", "-d", '{"location": "westus2"}')
    listing = curl(f"{base}/resourceGroups?api-version=2019-11-01", "-H", auth)
    assert {
        "id": f"/subscriptions/{creds['subscriptionId']}/resourceGroups/RG1",
        "name": "RG1",
        "type": "Microsoft.Resources/resourceGroups",
        "location": "westus2",
        "properties": {"provisioningState": "Succeeded"},
    } in listing["value"]


def test_wrong_secret_is_an_oauth_error(server: Server):
    creds = server.credentials
    reply = curl(
        "-X", "POST", f"{server.base_url}/{creds['tenantId']}/oauth2/token",
        "-d", "grant_type=client_credentials&resource=https%3A%2F%2Fmanagement.azure.com%2F"
              f"&client_id={creds['clientId']}&client_secret=not-the-secret",
    )
    assert reply["error"] == "invalid_client"
    assert "AADSTS7000215" in reply["error_description"]
