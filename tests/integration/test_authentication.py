"""Every route but the public ones demands a valid token; bad tokens get ARM's 401 and a challenge."""

from __future__ import annotations

import base64
import json
import re
import tempfile

import httpx
import pytest

from amlite.server import api_routes, create_app
from amlite.settings import Settings
from tests.forge import forge_token
from tests.server import Server

# The only operations the API itself leaves open: Azure AD's token service and metadata, discovery, health.
PUBLIC_OPERATIONS = {
    "Token_V1", "Token_V2", "OpenIdConfiguration_V1", "OpenIdConfiguration_V2", "Jwks_V1", "Jwks_V2",
    "Health_Get", "Discovery_Get",
    # blob links carry their own signature (artifacts/links.py)
    "Blob_Get", "Blob_Put",
}


def _all_routes():
    with tempfile.TemporaryDirectory() as data_dir:
        app = create_app(Settings(data_dir=data_dir))
        routes = [(route.path, sorted(route.methods), route.operation_id or route.name) for route in api_routes(app)]
        app.state.context.db.dispose()
    return routes


ROUTES = _all_routes()


def test_route_table_is_not_empty_and_operation_ids_are_unique():
    ids = [operation for _path, _methods, operation in ROUTES]
    assert len(ids) > 15
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize(("path", "methods", "operation"),
                         [r for r in ROUTES if r[2] not in PUBLIC_OPERATIONS], ids=lambda v: str(v))
def test_every_private_route_answers_401_without_a_token(server: Server, subscription: str, path, methods, operation):
    url = re.sub(r"\{subscriptionId\}", subscription, path)
    url = re.sub(r"\{[^}]+\}", "x", url)
    for method in methods:
        response = httpx.request(method, f"{server.base_url}{url}?api-version=2019-11-01")
        assert response.status_code == 401, f"{method} {path}"
        assert response.headers["www-authenticate"].startswith("Bearer authorization_uri=")
        if method != "HEAD":
            body = response.json()
            # the Model Management Service's envelope is flat (ModelErrorResponse); the others nest "error"
            assert (body["error"] if "error" in body else body)["code"] == "AuthenticationFailed"


@pytest.mark.parametrize("operation", sorted(PUBLIC_OPERATIONS))
def test_public_routes_exist(operation):
    assert operation in {r[2] for r in ROUTES}


def _get(server: Server, subscription: str, authorization: str) -> httpx.Response:
    return httpx.get(f"{server.base_url}/subscriptions/{subscription}/resourceGroups?api-version=2019-11-01",
                     headers={"Authorization": authorization})


def test_malformed_token(server: Server, subscription: str):
    response = _get(server, subscription, "Bearer not-a-jwt")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "InvalidAuthenticationToken"
    challenge = response.headers["www-authenticate"]
    assert f'authorization_uri="{server.base_url}/{server.credentials["tenantId"]}"' in challenge
    assert 'error="invalid_token"' in challenge


@pytest.mark.parametrize("authorization", ["Bearer", "Bearer  two-spaces", "Basic abc", "bearer"])
def test_malformed_header(server: Server, subscription: str, authorization: str):
    response = _get(server, subscription, authorization)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "AuthenticationFailed"


def test_tampered_signature(server: Server, subscription: str):
    header, payload, signature = server.token().split(".")
    flipped = ("A" if signature[10] != "A" else "B")
    tampered = f"{header}.{payload}.{signature[:10]}{flipped}{signature[11:]}"
    response = _get(server, subscription, f"Bearer {tampered}")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "InvalidAuthenticationToken"


def test_tampered_claims(server: Server, subscription: str):
    header, payload, signature = server.token().split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["oid"] = "00000000-0000-0000-0000-000000000000"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    response = _get(server, subscription, f"Bearer {header}.{forged}.{signature}")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "InvalidAuthenticationToken"


def test_expired_token(server: Server, subscription: str):
    response = _get(server, subscription, f"Bearer {forge_token(server, lifetime=-3600)}")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "ExpiredAuthenticationToken"
    assert "is earlier than current UTC time" in response.json()["error"]["message"]


def test_wrong_audience(server: Server, subscription: str):
    response = _get(server, subscription, f"Bearer {forge_token(server, audience='https://vault.azure.net')}")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "InvalidAuthenticationTokenAudience"


def test_forged_token_with_valid_lifetime_is_accepted(server: Server, subscription: str):
    """The control for the two tests above: only the expiry or audience made them fail."""
    assert _get(server, subscription, f"Bearer {forge_token(server)}").status_code == 200
