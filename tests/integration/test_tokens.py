"""The token service: v1 and v2 endpoints, OpenID metadata, JWKS, and its OAuth2 errors."""

from __future__ import annotations

import httpx
import jwt
import pytest

from tests.server import MANAGEMENT, Server


def post_token(server: Server, path: str = "oauth2/token", tenant: str | None = None, **fields) -> httpx.Response:
    tenant = tenant or server.credentials["tenantId"]
    return httpx.post(f"{server.base_url}/{tenant}/{path}", data=fields)


def client_fields(server: Server, **overrides) -> dict:
    fields = {"grant_type": "client_credentials", "resource": MANAGEMENT,
              "client_id": server.credentials["clientId"], "client_secret": server.credentials["clientSecret"]}
    fields.update(overrides)
    return {k: v for k, v in fields.items() if v is not None}


def test_v2_token_has_numbers_as_numbers_and_verifies_against_jwks(server: Server):
    creds = server.credentials
    response = post_token(server, "oauth2/v2.0/token", grant_type="client_credentials",
                          scope="https://management.azure.com/.default",
                          client_id=creds["clientId"], client_secret=creds["clientSecret"])
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3599 and body["ext_expires_in"] == 3599
    assert response.headers["cache-control"] == "no-store"

    metadata = httpx.get(f"{server.base_url}/{creds['tenantId']}/v2.0/.well-known/openid-configuration").json()
    assert metadata["token_endpoint"] == f"{server.base_url}/{creds['tenantId']}/oauth2/v2.0/token"
    assert metadata["issuer"] == f"{server.base_url}/{creds['tenantId']}/v2.0"
    keys = httpx.get(metadata["jwks_uri"]).json()["keys"]
    header = jwt.get_unverified_header(body["access_token"])
    (jwk,) = [k for k in keys if k["kid"] == header["kid"]]
    claims = jwt.decode(body["access_token"], jwt.PyJWK(jwk).key, algorithms=["RS256"],
                        audience="https://management.azure.com", issuer=metadata["issuer"])
    assert claims["tid"] == creds["tenantId"]
    assert claims["appid"] == creds["clientId"]
    assert claims["exp"] - claims["iat"] == 3599
    assert {"oid", "nbf", "iat"} <= set(claims)


def test_v1_token_claims_and_v1_metadata(server: Server):
    creds = server.credentials
    token = post_token(server, **client_fields(server)).json()["access_token"]
    metadata = httpx.get(f"{server.base_url}/{creds['tenantId']}/.well-known/openid-configuration").json()
    assert metadata["token_endpoint"].endswith(f"/{creds['tenantId']}/oauth2/token")
    jwks = httpx.get(metadata["jwks_uri"]).json()
    client = jwt.PyJWKClient(metadata["jwks_uri"])
    assert jwks["keys"][0]["kty"] == "RSA"
    claims = jwt.decode(token, client.get_signing_key_from_jwt(token).key, algorithms=["RS256"],
                        audience=MANAGEMENT, issuer=metadata["issuer"])
    assert claims["ver"] == "1.0"


def test_every_token_is_different_and_secrets_never_repeat(server: Server):
    first = post_token(server, **client_fields(server)).json()["access_token"]
    second = post_token(server, **client_fields(server)).json()["access_token"]
    assert first != second


@pytest.mark.parametrize(
    ("fields", "status", "error", "aadsts"),
    [
        ({"client_secret": "wrong"}, 401, "invalid_client", "AADSTS7000215"),
        ({"client_id": "00000000-0000-0000-0000-000000000000"}, 401, "invalid_client", "AADSTS7000215"),
        ({"client_secret": None}, 401, "invalid_client", "AADSTS7000216"),
        ({"client_id": None}, 400, "invalid_request", "AADSTS900144"),
        ({"grant_type": "password"}, 400, "unsupported_grant_type", "AADSTS70003"),
        ({"grant_type": None}, 400, "invalid_request", "AADSTS900144"),
        ({"resource": None}, 400, "invalid_request", "AADSTS900144"),
        ({"resource": "https://example.org/"}, 400, "invalid_resource", "AADSTS500011"),
    ],
)
def test_v1_errors_are_oauth2_errors(server: Server, fields, status, error, aadsts):
    response = post_token(server, **client_fields(server, **fields))
    assert response.status_code == status
    body = response.json()
    assert body["error"] == error
    assert body["error_description"].startswith(aadsts)
    assert "access_token" not in body


def test_unknown_tenant(server: Server):
    response = post_token(server, tenant="11111111-2222-3333-4444-555555555555", **client_fields(server))
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    assert "AADSTS90002" in response.json()["error_description"]
    metadata = httpx.get(f"{server.base_url}/11111111-2222-3333-4444-555555555555/v2.0/.well-known/openid-configuration")
    assert metadata.status_code == 400


def test_v2_scope_must_be_dot_default(server: Server):
    creds = server.credentials
    response = post_token(server, "oauth2/v2.0/token", grant_type="client_credentials",
                          scope="https://management.azure.com/user_impersonation",
                          client_id=creds["clientId"], client_secret=creds["clientSecret"])
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_scope"
