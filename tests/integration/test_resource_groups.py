"""Resource groups: create, update, read, check, list with paging, patch, asynchronous delete."""

from __future__ import annotations

import time

import httpx

API = "api-version=2019-11-01"


def rg_url(subscription: str, name: str) -> str:
    return f"/subscriptions/{subscription}/resourceGroups/{name}?{API}"


def poll(client: httpx.Client, url: str, seconds: float = 30) -> httpx.Response:
    deadline = time.monotonic() + seconds
    while True:
        response = client.get(url)
        if response.status_code != 202 or time.monotonic() > deadline:
            return response
        assert response.headers["retry-after"] == "1"
        time.sleep(0.2)


def test_put_creates_then_updates(arm: httpx.Client, subscription: str):
    created = arm.put(rg_url(subscription, "rg-crud"), json={"location": "westus2", "tags": {"a": "1"}})
    assert created.status_code == 201
    assert created.json() == {
        "id": f"/subscriptions/{subscription}/resourceGroups/rg-crud", "name": "rg-crud",
        "type": "Microsoft.Resources/resourceGroups", "location": "westus2", "tags": {"a": "1"},
        "properties": {"provisioningState": "Succeeded"},
    }
    updated = arm.put(rg_url(subscription, "RG-CRUD"), json={"Location": "West US 2", "Tags": {"b": "2"}})
    assert updated.status_code == 200
    assert updated.json()["name"] == "rg-crud"
    assert updated.json()["tags"] == {"b": "2"}
    assert arm.get(rg_url(subscription, "rg-crud")).json()["tags"] == {"b": "2"}


def test_head_patch_and_location_rules(arm: httpx.Client, subscription: str):
    arm.put(rg_url(subscription, "rg-head"), json={"location": "eastus"})
    assert arm.head(rg_url(subscription, "rg-head")).status_code == 204
    assert arm.head(rg_url(subscription, "rg-absent")).status_code == 404
    patched = arm.patch(rg_url(subscription, "rg-head"), json={"tags": {"env": "dev"}})
    assert patched.status_code == 200 and patched.json()["tags"] == {"env": "dev"}
    moved = arm.put(rg_url(subscription, "rg-head"), json={"location": "westus"})
    assert moved.status_code == 409
    assert moved.json()["error"]["code"] == "InvalidResourceGroupLocation"
    assert arm.get(rg_url(subscription, "rg-head")).json()["location"] == "eastus"


def test_bad_inputs_are_refused_and_lose_nothing(arm: httpx.Client, subscription: str):
    arm.put(rg_url(subscription, "rg-keep"), json={"location": "eastus", "tags": {"keep": "me"}})
    cases = [
        (rg_url(subscription, "rg-keep"), b'{"location": "eastus", "tags": ', "InvalidRequestContent"),
        (rg_url(subscription, "rg-keep"), b'{"tags": {}}', "InvalidRequestContent"),
        (rg_url(subscription, "rg-keep"), b'{"location": "eastus", "tags": {"x": 5}}', "InvalidRequestContent"),
        (rg_url(subscription, "rg-keep"), b'{"location": "atlantis"}', "LocationNotAvailableForResourceGroup"),
        (rg_url(subscription, "bad%20name!"), b'{"location": "eastus"}', "InvalidResourceGroup"),
        (rg_url(subscription, "ends-with-dot."), b'{"location": "eastus"}', "InvalidResourceGroup"),
    ]
    for url, body, code in cases:
        response = arm.put(url, content=body, headers={"Content-Type": "application/json"})
        assert response.status_code == 400, (body, response.text)
        assert response.json()["error"]["code"] == code
    assert arm.get(rg_url(subscription, "rg-keep")).json()["tags"] == {"keep": "me"}
    missing = arm.get(rg_url(subscription, "rg-never"))
    assert missing.status_code == 404
    assert missing.json() == {"error": {"code": "ResourceGroupNotFound",
                                        "message": "Resource group 'rg-never' could not be found."}}


def test_list_pages_with_top_and_next_link(arm: httpx.Client, subscription: str):
    for index in range(5):
        arm.put(rg_url(subscription, f"rg-page-{index}"), json={"location": "westus2"})
    names: list[str] = []
    url: str | None = f"/subscriptions/{subscription}/resourcegroups?{API}&$top=2"
    pages = 0
    while url:
        body = arm.get(url).json()
        assert len(body["value"]) <= 2
        names += [g["name"] for g in body["value"]]
        url = body.get("nextLink")
        pages += 1
    assert pages >= 3
    assert [n for n in names if n.startswith("rg-page-")] == [f"rg-page-{i}" for i in range(5)]
    assert len(names) == len(set(names))


def test_delete_is_asynchronous_and_removes_the_group(arm: httpx.Client, subscription: str):
    arm.put(rg_url(subscription, "rg-delete"), json={"location": "westus2"})
    response = arm.delete(rg_url(subscription, "rg-delete"))
    assert response.status_code == 202
    location, status_url = response.headers["location"], response.headers["azure-asyncoperation"]
    final = poll(arm, location)
    assert final.status_code == 200
    status = arm.get(status_url).json()
    assert status["status"] == "Succeeded" and "endTime" in status
    gone = arm.get(rg_url(subscription, "rg-delete"))
    assert gone.status_code == 404
    again = arm.delete(rg_url(subscription, "rg-delete"))
    assert again.status_code == 404


def test_paths_are_case_insensitive_and_accept_a_trailing_slash(arm: httpx.Client, subscription: str):
    arm.put(rg_url(subscription, "rg-case"), json={"location": "westus2"})
    for path in (f"/SUBSCRIPTIONS/{subscription}/RESOURCEGROUPS/rg-case", f"/subscriptions/{subscription}/resourcegroups/RG-CASE/"):
        response = arm.get(f"{path}?{API}")
        assert response.status_code == 200, path
        assert response.json()["name"] == "rg-case"
    assert arm.get(f"/subscriptions/{subscription}/resourceGroups/?{API}").status_code == 200
