"""Role-based access: Reader cannot write, scopes bound what a principal sees, strangers see nothing."""

from __future__ import annotations


import pytest

from tests.server import Server

API = "api-version=2019-11-01"


@pytest.fixture(scope="module")
def reader(server: Server, subscription: str) -> dict:
    return server.new_principal(subscription, "Reader")


def test_reader_reads_but_cannot_write(server: Server, subscription: str, reader: dict, arm):
    arm.put(f"/subscriptions/{subscription}/resourceGroups/authz-read?{API}", json={"location": "westus2"})
    with server.client(reader) as client:
        assert client.get(f"/subscriptions/{subscription}/resourceGroups/authz-read?{API}").status_code == 200
        response = client.put(f"/subscriptions/{subscription}/resourceGroups/authz-write?{API}",
                              json={"location": "westus2"})
        assert response.status_code == 403
        error = response.json()["error"]
        assert error["code"] == "AuthorizationFailed"
        assert reader["clientId"] in error["message"]
        assert "Microsoft.Resources/subscriptions/resourceGroups/write" in error["message"]
        assert f"/subscriptions/{subscription}/resourceGroups/authz-write" in error["message"]
        delete = client.delete(f"/subscriptions/{subscription}/resourceGroups/authz-read?{API}")
        assert delete.status_code == 403
        register = client.post(f"/subscriptions/{subscription}/providers/Microsoft.Storage/unregister?{API}")
        assert register.status_code == 403
    assert arm.get(f"/subscriptions/{subscription}/resourceGroups/authz-write?{API}").status_code == 404
    assert arm.get(f"/subscriptions/{subscription}/resourceGroups/authz-read?{API}").status_code == 200


def test_scope_limits_a_contributor_to_its_resource_group(server: Server, subscription: str, arm):
    scope = f"/subscriptions/{subscription}/resourceGroups/authz-scoped"
    arm.put(f"{scope}?{API}", json={"location": "westus2"})
    arm.put(f"/subscriptions/{subscription}/resourceGroups/authz-other?{API}", json={"location": "westus2"})
    scoped = server.new_principal(subscription, "Contributor", scope)
    with server.client(scoped) as client:
        assert client.patch(f"{scope}?{API}", json={"tags": {"team": "a"}}).status_code == 200
        names = [g["name"] for g in client.get(f"/subscriptions/{subscription}/resourceGroups?{API}").json()["value"]]
        assert names == ["authz-scoped"]
        other = client.put(f"/subscriptions/{subscription}/resourceGroups/authz-other?{API}",
                           json={"location": "westus2"})
        assert other.status_code == 403
        assert client.get(f"/subscriptions/{subscription}?{API}").status_code == 200


def test_principal_without_role_in_a_subscription_gets_404(server: Server, subscription: str):
    other = server.new_subscription("elsewhere")
    stranger = server.new_principal(other, "Owner")
    with server.client(stranger) as client:
        for path in (f"/subscriptions/{subscription}?{API}", f"/subscriptions/{subscription}/resourceGroups?{API}",
                     f"/subscriptions/{subscription}/providers?{API}"):
            response = client.get(path)
            assert response.status_code == 404, path
            assert response.json()["error"]["code"] == "SubscriptionNotFound"
        put = client.put(f"/subscriptions/{subscription}/resourceGroups/intrude?{API}", json={"location": "westus2"})
        assert put.status_code == 404
        listed = [s["subscriptionId"] for s in client.get(f"/subscriptions?{API}").json()["value"]]
        assert listed == [other]


def test_deleted_principal_loses_access(server: Server, subscription: str):
    doomed = server.new_principal(subscription, "Reader")
    token = server.token(doomed)
    server.cli("principal", "delete", doomed["clientId"])
    with server.client(token=token) as client:
        response = client.get(f"/subscriptions/{subscription}/resourceGroups?{API}")
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "InvalidAuthenticationToken"
