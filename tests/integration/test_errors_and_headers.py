"""One error envelope, Azure's request ids on every response, malformed JSON, unknown routes and methods."""

from __future__ import annotations

import httpx

from tests.server import Server

API = "api-version=2019-11-01"


def test_request_and_correlation_ids(server: Server, arm: httpx.Client, subscription: str):
    ok = arm.get(f"/subscriptions/{subscription}/resourceGroups?{API}",
                 headers={"x-ms-correlation-request-id": "corr-123", "x-ms-client-request-id": "client-9"})
    assert ok.headers["x-ms-correlation-request-id"] == "corr-123"
    assert ok.headers["x-ms-client-request-id"] == "client-9"
    first, second = ok.headers["x-ms-request-id"], arm.get(f"/subscriptions?{API}").headers["x-ms-request-id"]
    assert first != second
    for response in (httpx.get(f"{server.base_url}/subscriptions?{API}"), httpx.get(f"{server.base_url}/nowhere"),
                     httpx.get(f"{server.base_url}/health")):
        assert response.headers["x-ms-request-id"]
        assert response.headers["x-ms-correlation-request-id"]


def test_malformed_json_names_line_and_column(arm: httpx.Client, subscription: str):
    response = arm.put(f"/subscriptions/{subscription}/resourceGroups/rg-json?{API}",
                       content=b'{\n  "location": "westus2",\n  "tags": {oops}\n}',
                       headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "InvalidRequestContent"
    assert "line 3, column 12" in error["message"]


def test_unknown_route_and_wrong_method(arm: httpx.Client, subscription: str):
    missing = arm.get(f"/subscriptions/{subscription}/nothingHere?{API}")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "NotFound"
    wrong = arm.post(f"/subscriptions/{subscription}/resourceGroups?{API}")
    assert wrong.status_code == 405
    assert wrong.json()["error"]["code"] == "MethodNotAllowed"
    assert "GET" in wrong.headers["allow"]


def test_openapi_document_has_stable_operation_ids(arm: httpx.Client):
    document = arm.get("/openapi.json").json()
    operation_ids = {op["operationId"] for path in document["paths"].values() for op in path.values()}
    assert {"ResourceGroups_CreateOrUpdate", "ResourceGroups_List", "Token_V1", "Subscriptions_Get"} <= operation_ids


def test_health_is_public(server: Server):
    assert httpx.get(f"{server.base_url}/health").json()["status"] == "ok"
