"""AmlCompute clusters over HTTP: walkthrough step 4 verbatim, resize, nodes, usage, delete, errors."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import select

from amlite.db.engine import Database
from amlite.workspaces.tables import Compute
from tests.server import Server
from tests.resources import ML_API, create_workspace, wait_for

SECRET = "Wh1te-Rabbit-Pa55word!"
# Walkthrough step 4, as the how-to sends it ({loc} filled in).
STEP4_BODY = {
    "location": "westus2",
    "properties": {"computeType": "AmlCompute",
                   "properties": {"vmSize": "Standard_D1", "vmPriority": "Dedicated",
                                  "scaleSettings": {"maxNodeCount": 1, "minNodeCount": 0,
                                                    "nodeIdleTimeBeforeScaleDown": "PT30M"}}},
    "userAccountCredentials": {"adminUserName": "azureuser", "adminUserPassword": SECRET},
}


def cluster(vm_size: str = "Standard_D1", minimum: int = 0, maximum: int = 2, **aml: object) -> dict:
    """A spec-shaped ComputeResource body."""
    return {"properties": {"computeType": "AmlCompute", "properties": {
        "vmSize": vm_size, "scaleSettings": {"minNodeCount": minimum, "maxNodeCount": maximum}, **aml}}}


@pytest.fixture(scope="module")
def workspace(server: Server, subscription: str) -> dict:
    with server.client() as client:
        return create_workspace(client, subscription, "computes-rg", "computes-ws")


def compute_url(workspace: dict, name: str = "", suffix: str = "") -> str:
    return f"{workspace['id']}/computes{'/' + name if name else ''}{suffix}?{ML_API}"


def create(client: httpx.Client, workspace: dict, name: str, body: dict) -> dict:
    response = client.put(compute_url(workspace, name), json=body)
    assert response.status_code == 201, response.text
    assert wait_for(client, response.headers["Azure-AsyncOperation"]).json()["status"] == "Succeeded"
    return client.get(compute_url(workspace, name)).json()


def change(client: httpx.Client, response: httpx.Response, url: str) -> dict:
    """Wait for the resize a PUT or PATCH started; answers the compute afterwards."""
    assert response.status_code == 200, response.text
    assert wait_for(client, response.headers["Azure-AsyncOperation"]).json()["status"] == "Succeeded"
    return client.get(url).json()


def test_walkthrough_step4_creates_a_cluster(arm: httpx.Client, workspace: dict):
    seen: list[httpx.Response] = []
    arm.event_hooks["response"].append(seen.append)
    url = compute_url(workspace, "step4-cluster")
    created = arm.put(url, json=STEP4_BODY)
    assert created.status_code == 201, created.text
    assert created.headers["Azure-AsyncOperation"]
    assert created.json()["properties"]["provisioningState"] == "Creating"
    assert wait_for(arm, created.headers["Azure-AsyncOperation"]).json()["status"] == "Succeeded"

    compute = arm.get(url).json()
    assert compute["id"] == f"{workspace['id']}/computes/step4-cluster"
    assert compute["type"] == "Microsoft.MachineLearningServices/workspaces/computes"
    assert compute["location"] == "westus2"
    envelope = compute["properties"]
    assert envelope["computeType"] == "AmlCompute"
    assert envelope["provisioningState"] == "Succeeded"
    assert envelope["computeLocation"] == "westus2"
    assert envelope["isAttachedCompute"] is False
    assert envelope["createdOn"] and envelope["modifiedOn"] >= envelope["createdOn"]
    aml = envelope["properties"]
    assert aml["vmSize"] == "Standard_D1"
    assert aml["vmPriority"] == "Dedicated"
    assert aml["scaleSettings"] == {"maxNodeCount": 1, "minNodeCount": 0, "nodeIdleTimeBeforeScaleDown": "PT30M"}
    assert aml["allocationState"] == "Steady"
    assert aml["allocationStateTransitionTime"]
    assert aml["currentNodeCount"] == aml["targetNodeCount"] == 0
    assert aml["nodeStateCounts"] == {"idleNodeCount": 0, "runningNodeCount": 0, "preparingNodeCount": 0,
                                      "unusableNodeCount": 0, "leavingNodeCount": 0, "preemptedNodeCount": 0}
    assert aml["errors"] == []
    assert aml["userAccountCredentials"] == {"adminUserName": "azureuser"}

    listed = arm.get(compute_url(workspace)).json()["value"]
    assert compute in listed
    arm.get(created.headers["Location"])
    assert seen and not any(SECRET in response.text for response in seen)


def test_the_password_is_stored_encrypted(server: Server, arm: httpx.Client, workspace: dict):
    create(arm, workspace, "sealed", cluster(userAccountCredentials={"adminUserName": "ops",
                                                                   "adminUserPassword": SECRET}))
    db = Database(server.backend.database_url or f"sqlite:///{server.data_dir / 'amlite.db'}")
    try:
        with db.session() as session:
            stored = session.scalars(select(Compute).where(Compute.name_key == "sealed")).one()
            assert stored.admin_user_name == "ops"
            assert stored.admin_credentials and SECRET not in stored.admin_credentials
    finally:
        db.dispose()


def test_resize_with_put_and_patch(arm: httpx.Client, workspace: dict):
    url = compute_url(workspace, "resizable")
    before = create(arm, workspace, "resizable", cluster(maximum=1))["properties"]["properties"]

    body = cluster(maximum=3)
    body["properties"]["properties"]["scaleSettings"]["nodeIdleTimeBeforeScaleDown"] = "PT120S"
    aml = change(arm, arm.put(url, json=body), url)["properties"]["properties"]
    assert aml["scaleSettings"] == {"maxNodeCount": 3, "minNodeCount": 0, "nodeIdleTimeBeforeScaleDown": "PT120S"}
    assert aml["currentNodeCount"] == 0

    patched = arm.patch(url, json={"properties": {"scaleSettings": {"maxNodeCount": 3, "minNodeCount": 1}}})
    assert patched.json()["properties"]["provisioningState"] == "Updating"
    compute = change(arm, patched, url)
    aml = compute["properties"]["properties"]
    assert compute["properties"]["provisioningState"] == "Succeeded"
    assert aml["scaleSettings"] == {"maxNodeCount": 3, "minNodeCount": 1, "nodeIdleTimeBeforeScaleDown": "PT120S"}
    assert aml["currentNodeCount"] == aml["targetNodeCount"] == aml["nodeStateCounts"]["idleNodeCount"] == 1
    assert aml["allocationState"] == "Steady"
    assert aml["allocationStateTransitionTime"] > before["allocationStateTransitionTime"]

    # azureml-core nests the settings as in a ComputeResource
    sdk_patch = {"properties": {"properties": {"scaleSettings": {"maxNodeCount": 3, "minNodeCount": 2}}}}
    aml = change(arm, arm.patch(url, json=sdk_patch), url)["properties"]["properties"]
    assert aml["currentNodeCount"] == aml["nodeStateCounts"]["idleNodeCount"] == 2

    nodes = arm.post(compute_url(workspace, "resizable", "/listNodes"))
    assert nodes.status_code == 200
    assert nodes.json()["computeType"] == "AmlCompute"
    assert [n["nodeState"] for n in nodes.json()["nodes"]] == ["idle", "idle"]
    assert len({n["nodeId"] for n in nodes.json()["nodes"]}) == 2


def test_a_get_body_put_back_updates_the_scale(arm: httpx.Client, workspace: dict):
    """What clients that read, modify and write do (azure-mgmt's begin_create_or_update with a fetched object)."""
    url = compute_url(workspace, "round-trip")
    fetched = create(arm, workspace, "round-trip", cluster(userAccountCredentials={"adminUserName": "ops",
                                                                                   "adminUserPassword": SECRET}))
    fetched["properties"]["properties"]["scaleSettings"]["maxNodeCount"] = 5
    aml = change(arm, arm.put(url, json=fetched), url)["properties"]["properties"]
    assert aml["scaleSettings"]["maxNodeCount"] == 5
    assert aml["userAccountCredentials"] == {"adminUserName": "ops"}


def test_enum_values_and_sizes_are_read_in_any_case(arm: httpx.Client, workspace: dict):
    body = cluster("STANDARD_ds2_V2", vmPriority="lowpriority", remoteLoginPortPublicAccess="disabled")
    body["properties"]["computeType"] = "amlcompute"
    aml = create(arm, workspace, "any-case", body)["properties"]["properties"]
    assert (aml["vmSize"], aml["vmPriority"], aml["remoteLoginPortPublicAccess"]) == \
        ("Standard_DS2_v2", "LowPriority", "Disabled")


def test_location_defaults_to_the_workspace(arm: httpx.Client, workspace: dict):
    compute = create(arm, workspace, "no-location", cluster())
    assert compute["location"] == compute["properties"]["computeLocation"] == workspace["location"]


def test_list_keys_is_refused_for_amlcompute(arm: httpx.Client, workspace: dict):
    create(arm, workspace, "keyless", cluster())
    response = arm.post(compute_url(workspace, "keyless", "/listKeys"))
    assert response.status_code == 400
    assert "AmlCompute" in response.json()["error"]["message"]


@pytest.mark.parametrize("action", ["Delete", "Detach"])
def test_delete_is_asynchronous(arm: httpx.Client, workspace: dict, action: str):
    name = f"gone-{action.lower()}"
    create(arm, workspace, name, cluster(minimum=1))
    url = f"{compute_url(workspace, name)}&underlyingResourceAction={action}"
    response = arm.delete(url)
    assert response.status_code == 202
    assert response.headers["Azure-AsyncOperation"] and response.headers["Location"]
    deadline = time.monotonic() + 30
    while (result := arm.get(response.headers["Location"])).status_code == 202:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert result.status_code == 200
    assert wait_for(arm, response.headers["Azure-AsyncOperation"]).json()["status"] == "Succeeded"
    missing = arm.get(compute_url(workspace, name))
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "ResourceNotFound"
    assert arm.delete(url).status_code == 200  # already gone


def _with(path: str, value: object) -> dict:
    body = cluster()
    *parents, leaf = path.split(".")
    node = body
    for key in parents:
        node = node[key]
    node[leaf] = value
    return body


@pytest.mark.parametrize(("body", "phrase"), [
    (_with("properties.properties.vmSize", "Standard_Z99"), "Standard_D1, Standard_D2"),
    (cluster(minimum=3, maximum=2), "minNodeCount (3) cannot be greater than maxNodeCount (2)"),
    (cluster(minimum=-1), "cannot be negative"),
    (cluster(maximum=-2, minimum=-3), "cannot be negative"),
    (_with("properties.properties.scaleSettings.nodeIdleTimeBeforeScaleDown", "30 minutes"), "ISO 8601 duration"),
    (_with("properties.properties.scaleSettings.nodeIdleTimeBeforeScaleDown", "PT"), "ISO 8601 duration"),
    (_with("properties.computeType", "AKS"), "a computeType this server does not run"),
    (_with("properties.properties.vmPriority", "Spot"), "Dedicated, LowPriority"),
    (_with("properties.properties.remoteLoginPortPublicAccess", "Open"), "Enabled, Disabled, NotSpecified"),
    (_with("properties.properties.scaleSettings", None), "scaleSettings is required"),
    (_with("userAccountCredentials", {"adminUserName": "nopass"}), "adminUserPassword or an adminUserSshPublicKey"),
    ({**cluster(), "location": "atlantis"}, "not a known region"),
], ids=["vm-size", "min-over-max", "negative-min", "negative-max", "duration", "empty-duration", "compute-type",
        "priority", "remote-login", "no-scale-settings", "credentials-without-secret", "location"])
def test_invalid_settings_are_refused(arm: httpx.Client, workspace: dict, body: dict, phrase: str):
    response = arm.put(compute_url(workspace, "invalid"), json=body)
    assert response.status_code == 400, response.text
    assert phrase in response.json()["error"]["message"]
    assert arm.get(compute_url(workspace, "invalid")).status_code == 404


def test_settings_other_than_scale_cannot_change(arm: httpx.Client, workspace: dict):
    create(arm, workspace, "fixed-size", cluster())
    response = arm.put(compute_url(workspace, "fixed-size"), json=cluster("Standard_D2"))
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "CannotChangeComputeProperty"


def test_invalid_scale_patch_and_underlying_action(arm: httpx.Client, workspace: dict):
    create(arm, workspace, "strict", cluster())
    patch = arm.patch(compute_url(workspace, "strict"),
                      json={"properties": {"scaleSettings": {"maxNodeCount": 1, "minNodeCount": 2}}})
    assert patch.status_code == 400
    delete = arm.delete(f"{compute_url(workspace, 'strict')}&underlyingResourceAction=Shred")
    assert delete.status_code == 400
    assert arm.get(compute_url(workspace, "strict")).status_code == 200


def test_a_workspace_that_is_not_ready_gets_no_computes(arm: httpx.Client, subscription: str, workspace: dict):
    group = f"/subscriptions/{subscription}/resourceGroups/computes-rg"
    broken = {member: f"{group}/providers/{kind}/missing{index}" for index, (member, kind) in enumerate([
        ("storageAccount", "Microsoft.Storage/storageAccounts"), ("keyVault", "Microsoft.KeyVault/vaults"),
        ("applicationInsights", "Microsoft.Insights/components")])}
    url = f"{group}/providers/Microsoft.MachineLearningServices/workspaces/broken-ws?{ML_API}"
    response = arm.put(url, json={"location": "westus2", "properties": broken})
    assert wait_for(arm, response.headers["Azure-AsyncOperation"]).json()["status"] == "Failed"
    refused = arm.put(url.replace("?", "/computes/cluster?"), json=cluster())
    assert refused.status_code == 409
    assert "Succeeded" in refused.json()["error"]["message"]


def test_vm_sizes_usages_and_quotas(arm: httpx.Client, server: Server, subscription: str):
    with server.client() as client:
        workspace = create_workspace(client, subscription, "usage-rg", "usage-ws", location="switzerlandnorth")
    create(arm, workspace, "dsv2", cluster("Standard_DS2_v2", minimum=2, maximum=4))
    create(arm, workspace, "nc-low", cluster("Standard_NC6", minimum=1, vmPriority="LowPriority"))
    create(arm, workspace, "idle-d", cluster("Standard_D3"))
    region = f"/subscriptions/{subscription}/providers/Microsoft.MachineLearningServices/locations/switzerlandnorth"

    sizes = arm.get(f"{region}/vmSizes?{ML_API}").json()["amlCompute"]
    d1 = next(s for s in sizes if s["name"] == "Standard_D1")
    assert (d1["vCPUs"], d1["memoryGB"], d1["family"]) == (1, 3.5, "standardDFamily")
    assert {"Standard_NC6", "Standard_NC6s_v3", "Standard_E8s_v3", "Standard_F16s_v2"} <= {s["name"] for s in sizes}

    usages = {(u["id"], u["type"]): u for u in arm.get(f"{region}/usages?{ML_API}").json()["value"]}
    base = f"/subscriptions/{subscription}/usages"
    types = "Microsoft.MachineLearningServices/"

    def current(resource_id: str, kind: str) -> int:
        return usages[(resource_id, types + kind)]["currentValue"]

    assert current(base, "totalCores/usages") == 3
    assert current(base, "dedicatedCores/usages") == 4
    assert current(base, "lowPriorityCores/usages") == 6
    assert current(f"{base}/Standard_DSv2_Family_Cluster_Dedicated_vCPUs", "vmFamily/usages") == 4
    assert current(f"{base}/Standard_D_Family_Cluster_Dedicated_vCPUs", "vmFamily/usages") == 0
    assert current(f"{base}/Standard_NC_Family_Cluster_LowPriority_vCPUs", "vmFamily/usages") == 6
    key = "Standard_DSv2_Family_Cluster_Dedicated_vCPUs"
    assert current(f"{workspace['id']}/usages/{key}", "workspaces/usages") == 4
    assert current(f"{workspace['id']}/computes/dsv2/usages/{key}", "workspaces/computes/usages") == 4

    quotas = arm.get(f"{region}/Quotas?{ML_API}").json()["value"]
    mine = [q for q in quotas if q["id"] == f"{workspace['id']}/quotas/{key}"]
    assert len(mine) == 1 and mine[0]["limit"] > 0
    assert f"/subscriptions/{subscription}/quotas/{key}" in {q["id"] for q in quotas}

    # Usages_List declares no error response, so this one is read without the spec hook.
    unknown = httpx.get(f"{server.base_url}{region.replace('switzerlandnorth', 'atlantis')}/usages?{ML_API}",
                        headers={"Authorization": arm.headers["Authorization"]})
    assert unknown.status_code == 400
    assert "not a known region" in unknown.json()["error"]["message"]


@pytest.fixture(scope="module")
def small_pages(server: Server) -> Iterator[Server]:
    """A second replica on the same store, answering pages of two."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AMLITE_PAGE_SIZE", "2")
        replica = Server(server.data_dir, server.backend).start()
    yield replica
    replica.stop()


def test_list_pages_with_next_link(arm: httpx.Client, workspace: dict, small_pages: Server):
    for index in range(3):
        create(arm, workspace, f"paged-{index}", cluster())
    names, url, pages = [], compute_url(workspace), 0
    with small_pages.client() as client:
        while url:
            body = client.get(url).json()
            assert len(body["value"]) <= 2
            names += [c["name"] for c in body["value"]]
            url, pages = body.get("nextLink"), pages + 1
    assert pages >= 2
    assert [n for n in names if n.startswith("paged-")] == ["paged-0", "paged-1", "paged-2"]
    assert len(names) == len(set(names))


@pytest.fixture(scope="module")
def reader(server: Server, subscription: str) -> dict:
    return server.new_principal(subscription, "Reader")


def test_reader_reads_but_cannot_create(server: Server, arm: httpx.Client, workspace: dict, reader: dict):
    create(arm, workspace, "readable", cluster())
    with server.client(reader) as client:
        assert client.get(compute_url(workspace, "readable")).status_code == 200
        refused = client.put(compute_url(workspace, "by-reader"), json=cluster())
        assert refused.status_code == 403
        assert "Microsoft.MachineLearningServices/workspaces/computes/write" in refused.json()["error"]["message"]
        assert client.delete(compute_url(workspace, "readable")).status_code == 403
        assert client.post(compute_url(workspace, "readable", "/listNodes")).status_code == 403


def test_another_subscriptions_principal_gets_404(server: Server, workspace: dict):
    other = server.new_subscription("compute-elsewhere")
    stranger = server.new_principal(other, "Owner")
    with server.client(stranger) as client:
        for response in (client.get(compute_url(workspace)), client.put(compute_url(workspace, "x"), json=cluster()),
                         client.get(compute_url(workspace, "readable"))):
            assert response.status_code == 404
            assert response.json()["error"]["code"] == "SubscriptionNotFound"
