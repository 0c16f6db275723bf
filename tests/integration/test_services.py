"""Scoring services (modelmanagement/v1.0 and /api): create as an operation, get, list with filters and
paging, patch (metadata at once; a new deployment without dropping requests), keys, logs, delete; scoring
through the front (keys, bad JSON, run() errors, health, swagger, resource limits); crashed replicas
restarted; and bad inputs. Entry scripts run in the test's own interpreter (the worker needs nothing else).
Bodies under /modelmanagement are validated against the swagger."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.integration.test_registry import API, assert_mms_error, mms, register
from tests.server import Server
from tests.services import (
    create,
    delete,
    deploy,
    deployment,
    keys,
    score,
    service,
    stop_scoring,
    wait_operation,
    wait_state,
)

ECHO = """
import json, os, time
VERSION = "v1"
def init():
    print("init: model dir", os.environ["AZUREML_MODEL_DIR"], sorted(os.listdir(os.environ["AZUREML_MODEL_DIR"])))
def run(raw):
    data = json.loads(raw)
    if data.get("fail"):
        raise ValueError("no such feature: " + data["fail"])
    time.sleep(data.get("sleep", 0))
    return {"version": VERSION, "echo": data, "pid": os.getpid(), "cpus": len(os.sched_getaffinity(0))}
"""


def unique(stem: str) -> str:
    return f"{stem}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module", autouse=True)
def cleanup(server: Server, workspace: dict) -> Iterator[None]:
    """Services left by a failed test are deleted, and the scoring processes ended, after the module."""
    yield
    with server.client() as client:
        for item in client.get(f"{mms(workspace)}/services", params=API).json()["value"]:
            client.delete(f"{mms(workspace)}/services/{item['name']}", params=API)
    stop_scoring(server.data_dir)


@pytest.fixture(scope="module")
def model(server: Server, workspace: dict) -> dict:
    with server.client() as client:
        return register(client, workspace, unique("svc-model"))


def test_create_get_score_and_delete(arm: httpx.Client, workspace: dict, model: dict):
    name = unique("echo")
    body = deployment(arm, workspace, name, ECHO, [model["id"]], kvTags={"team": "red"}, description="echo",
                      properties={"owner": "ana"})
    location = create(arm, workspace, body)
    assert f"{mms(workspace)}/operations/" in location
    transitioning = service(arm, workspace, name)
    assert transitioning["state"] in ("Transitioning", "Healthy")
    operation = wait_operation(arm, location)
    assert operation["state"] == "Succeeded" and operation["operationType"] == "Service"
    assert operation["resourceLocation"].endswith(f"/services/{name}") and operation["endTime"]

    found = service(arm, workspace, name)
    for key in ("computeType", "createdTime", "description", "kvTags", "name", "properties", "appInsightsEnabled",
                "authEnabled", "cname", "containerResourceRequirements", "location", "publicIp", "scoringUri",
                "sslCertificate", "sslEnabled", "sslKey", "state", "swaggerUri"):
        assert key in found, key
    assert (found["state"], found["computeType"], found["kvTags"], found["description"]) == (
        "Healthy", "ACI", {"team": "red"}, "echo")
    assert [m["id"] for m in found["models"]] == [model["id"]]
    assert found["environmentImageRequest"]["modelIds"] == [model["id"]]
    assert found["swaggerUri"] == found["scoringUri"].rsplit("/", 1)[0] + "/swagger.json"

    key = keys(arm, workspace, name)
    assert key["primaryKey"] != key["secondaryKey"]
    answer = score(found["scoringUri"], key["primaryKey"], {"data": [1, 2]})
    assert answer.status_code == 200, answer.text
    assert answer.json()["echo"] == {"data": [1, 2]} and answer.json()["cpus"] == 1
    assert score(found["scoringUri"], key["secondaryKey"], {"data": []}).status_code == 200
    assert httpx.get(found["swaggerUri"]).json()["swagger"] == "2.0"

    delete(arm, workspace, name)
    assert_mms_error(arm.get(f"{mms(workspace)}/services/{name}", params=API), 404, "ServiceNotFound")
    try:
        gone = score(found["scoringUri"], key["primaryKey"], {"data": []}).status_code
    except httpx.ConnectError:
        gone = None  # the scoring front stops with the last service
    assert gone in (404, None)


def test_scoring_errors_keys_health_and_logs(arm: httpx.Client, workspace: dict, model: dict):
    name = unique("errors")
    found = deploy(arm, workspace, deployment(arm, workspace, name, ECHO, [model["id"]]))
    uri, key = found["scoringUri"], keys(arm, workspace, name)["primaryKey"]

    assert score(uri, None, {"data": []}).status_code == 401
    assert score(uri, "wrong", {"data": []}).status_code == 401
    assert httpx.post(uri, headers={"Authorization": key}, json={}).status_code == 401  # no Bearer scheme
    bad = score(uri, key, '{"data": [1, 2')
    assert bad.status_code == 400 and "not valid JSON" in bad.text
    failed = score(uri, key, {"fail": "petal_width"})
    assert failed.status_code == 500 and "ValueError: no such feature: petal_width" in failed.text
    first = score(uri, key, {"data": [1]})
    assert first.status_code == 200  # the replica stays up after run() raised
    assert httpx.get(uri).status_code == 200 and httpx.get(uri).text == "Healthy"  # the health probe

    logs = ""
    for _attempt in range(100):  # request records reach the log within a second
        logs = arm.get(f"{mms(workspace)}/services/{name}/logs", params={**API, "tail": 50}).json()["content"]
        if all(f"POST /score  {status}" in logs for status in (401, 400, 500, 200)):
            break
        time.sleep(0.1)
    assert "init: model dir" in logs and "model.pkl" in logs
    assert "ValueError: no such feature" in logs  # the traceback run() left on stderr
    assert "POST /score  401" in logs and "POST /score  400" in logs and "POST /score  500" in logs
    assert "POST /score  200" in logs
    tail = arm.get(f"{mms(workspace)}/services/{name}/logs", params={**API, "tail": 1}).json()["content"]
    assert len(tail.splitlines()) <= 4  # a title and one line per source
    delete(arm, workspace, name)


def test_key_rotation(arm: httpx.Client, workspace: dict, model: dict):
    name = unique("keys")
    found = deploy(arm, workspace, deployment(arm, workspace, name, ECHO, [model["id"]]))
    old = keys(arm, workspace, name)
    url = f"{mms(workspace)}/services/{name}/regenerateKeys"

    rotated = arm.post(url, params=API, json={"keyType": "Primary"})
    assert rotated.status_code == 200, rotated.text
    new = rotated.json()
    assert new["primaryKey"] != old["primaryKey"] and new["secondaryKey"] == old["secondaryKey"]
    assert keys(arm, workspace, name) == new
    assert score(found["scoringUri"], old["primaryKey"], {"data": []}).status_code == 401  # at once
    assert score(found["scoringUri"], new["primaryKey"], {"data": []}).status_code == 200
    assert score(found["scoringUri"], old["secondaryKey"], {"data": []}).status_code == 200

    chosen = arm.post(url, params=API, json={"keyType": "Secondary", "keyValue": "my-own-secondary-key"}).json()
    assert chosen["secondaryKey"] == "my-own-secondary-key"
    assert score(found["scoringUri"], old["secondaryKey"], {"data": []}).status_code == 401
    assert score(found["scoringUri"], "my-own-secondary-key", {"data": []}).status_code == 200
    assert_mms_error(arm.post(url, params=API, json={"keyType": "Tertiary"}), 400, "InvalidKeyType")
    delete(arm, workspace, name)


def test_list_filters_and_paging(arm: httpx.Client, workspace: dict, model: dict):
    batch = uuid.uuid4().hex[:8]
    other = register(arm, workspace, unique("other-model"))
    names = [f"list-{batch}-{i}" for i in range(3)]
    for index, name in enumerate(names):
        body = deployment(arm, workspace, name, ECHO, [model["id"] if index < 2 else other["id"]],
                          compute_type="AKS" if index == 2 else "ACI", numReplicas=1,
                          kvTags={"batch": batch, "stage": "prod" if index else "dev"},
                          properties={"index": str(index)})
        deploy(arm, workspace, body)

    def listed(**params) -> list[str]:
        params = {**API, "tags": ",".join(filter(None, [f"batch={batch}", params.pop("tags", None)])), **params}
        response = arm.get(f"{mms(workspace)}/services", params=params)
        assert response.status_code == 200, response.text
        return [item["name"] for item in response.json()["value"]]

    assert listed() == names[::-1]
    assert listed(orderby="CreatedAtAsc") == names
    assert listed(tags="stage=prod") == names[:0:-1]
    assert listed(properties="index=1") == [names[1]]
    assert listed(modelId=model["id"]) == names[1::-1]
    assert listed(modelName=other["name"]) == [names[2]]
    assert listed(computeType="aks") == [names[2]]
    assert listed(name=names[0]) == [names[0]]
    assert listed(imageId="some-image:1") == []

    first = arm.get(f"{mms(workspace)}/services", params={**API, "tags": f"batch={batch}", "count": 2}).json()
    assert [item["name"] for item in first["value"]] == names[:0:-1]
    token = parse_qs(urlsplit(first["nextLink"]).query)["$skipToken"][0]
    rest = arm.get(f"{mms(workspace)}/services", params={**API, "tags": f"batch={batch}", "count": 2,
                                                        "$skipToken": token}).json()
    assert [item["name"] for item in rest["value"]] == [names[0]] and "nextLink" not in rest

    aks = service(arm, workspace, names[2])
    for key in ("autoScaler", "computeName", "containerResourceRequirements", "dataCollection",
                "maxConcurrentRequestsPerContainer", "maxQueueWaitMs", "numReplicas", "scoringTimeoutMs"):
        assert key in aks, key
    assert aks["deploymentStatus"] == {"desiredReplicas": 1, "updatedReplicas": 1, "availableReplicas": 1}
    for name in names:
        delete(arm, workspace, name)


def test_the_legacy_prefix(arm: httpx.Client, workspace: dict, model: dict):
    """azureml-core 1.0.76: /api{ws}/services with api-version 2018-11-19; it polls {base}/operations/{id}."""
    name = unique("legacy")
    legacy = f"/api{workspace['id']}"
    response = arm.post(f"{legacy}/services", params=API, json=deployment(arm, workspace, name, ECHO, [model["id"]]))
    assert response.status_code == 202, response.text
    location = response.headers["Operation-Location"]
    assert f"{legacy}/operations/" in location
    assert wait_operation(arm, location)["state"] == "Succeeded"
    assert arm.get(f"{legacy}/services/{name}", params=API).json()["state"] == "Healthy"
    assert arm.get(f"{legacy}/services/{name}").status_code == 400  # the api-version is required under /api
    assert arm.delete(f"{legacy}/services/{name}", params=API).status_code == 200


def test_patch_metadata_and_a_new_deployment_without_dropping_requests(arm: httpx.Client, workspace: dict,
                                                                       model: dict):
    name = unique("patch")
    found = deploy(arm, workspace, deployment(arm, workspace, name, ECHO, [model["id"]], properties={"a": "1"}))
    key = keys(arm, workspace, name)["primaryKey"]
    url = f"{mms(workspace)}/services/{name}"

    tagged = arm.patch(url, params=API, json=[{"op": "add", "path": "/kvTags/stage", "value": "prod"},
                                              {"op": "replace", "path": "/description", "value": "patched"}])
    assert tagged.status_code == 200, tagged.text
    assert (tagged.json()["kvTags"], tagged.json()["description"]) == ({"stage": "prod"}, "patched")
    immutable = arm.patch(url, params=API, json=[{"op": "replace", "path": "/properties/a", "value": "2"}])
    assert_mms_error(immutable, 400, "ImmutableProperty")

    unauthenticated = arm.patch(url, params=API, json=[{"op": "replace", "path": "/authEnabled", "value": False}])
    assert unauthenticated.status_code == 200 and unauthenticated.json()["authEnabled"] is False
    assert score(found["scoringUri"], None, {"data": []}).status_code == 200
    arm.patch(url, params=API, json=[{"op": "replace", "path": "/authEnabled", "value": True}])
    assert score(found["scoringUri"], None, {"data": []}).status_code == 401

    answers: list[httpx.Response] = []
    stop = threading.Event()

    def keep_scoring() -> None:
        with httpx.Client(timeout=60) as client:
            while not stop.is_set():
                answers.append(client.post(found["scoringUri"], json={"data": [1]},
                                           headers={"Authorization": f"Bearer {key}"}))

    scorer = threading.Thread(target=keep_scoring)
    scorer.start()
    try:
        while not answers:
            time.sleep(0.01)
        script = deployment(arm, workspace, name, ECHO.replace('"v1"', '"v2"'), [model["id"]])
        response = arm.patch(url, params=API, json=[
            {"op": "replace", "path": "/environmentImageRequest", "value": script["environmentImageRequest"]},
            {"op": "replace", "path": "/numReplicas", "value": 2}])
        assert response.status_code == 202, response.text
        busy = arm.patch(url, params=API, json=[{"op": "replace", "path": "/numReplicas", "value": 3}])
        assert_mms_error(busy, 409, "ServiceBusy")
        assert wait_operation(arm, response.headers["Operation-Location"])["state"] == "Succeeded"
        seen = len(answers)
        while len(answers) < seen + 20:
            time.sleep(0.01)
    finally:
        stop.set()
        scorer.join()
    assert [a.status_code for a in answers if a.status_code != 200] == []
    versions = [a.json()["version"] for a in answers]
    assert versions[0] == "v1" and versions[-1] == "v2"
    assert versions == sorted(versions)  # once switched, never back
    updated = service(arm, workspace, name)
    assert updated["numReplicas"] == 2 and updated["state"] == "Healthy"
    with ThreadPoolExecutor(4) as pool:  # requests at the same time go to the replica with fewer in flight
        parallel = list(pool.map(lambda _: score(found["scoringUri"], key, {"sleep": 0.3}), range(4)))
    assert len({answer.json()["pid"] for answer in parallel}) == 2
    delete(arm, workspace, name)


CRASHING = """
import json, os, time
MARKER = os.environ["TEST_MARKER"]
def init():
    if os.path.exists(MARKER + ".started"):  # a restart: wait until the test lets it go on
        while not os.path.exists(MARKER + ".release"):
            time.sleep(0.05)
    open(MARKER + ".started", "w").close()
def run(raw):
    data = json.loads(raw)
    if data.get("crash"):
        os._exit(1)
    if data.get("allocate"):
        hog = bytearray(data["allocate"] << 20)
        time.sleep(2)
    return os.getpid()
"""


def test_a_crashed_replica_is_restarted_and_the_service_is_unhealthy_meanwhile(arm: httpx.Client, workspace: dict,
                                                                               model: dict, tmp_path):
    name = unique("crash")
    marker = str(tmp_path / "marker")
    environment = {"python": {"userManagedDependencies": True, "interpreterPath": "python3"},
                   "environmentVariables": {"TEST_MARKER": marker}}
    found = deploy(arm, workspace, deployment(arm, workspace, name, CRASHING, [model["id"]], environment=environment,
                                              containerResourceRequirements={"cpu": 0.5, "memoryInGB": 0.25}))
    key = keys(arm, workspace, name)["primaryKey"]
    first = score(found["scoringUri"], key, {"data": []}).json()

    assert score(found["scoringUri"], key, {"crash": True}).status_code == 502
    wait_state(arm, workspace, name, "Unhealthy")  # until the restarted replica's init() may finish
    assert score(found["scoringUri"], key, {"data": []}).status_code == 503
    (tmp_path / "marker.release").touch()
    wait_state(arm, workspace, name, "Healthy")
    second = score(found["scoringUri"], key, {"data": []})
    assert second.status_code == 200 and second.json() != first
    logs = arm.get(f"{mms(workspace)}/services/{name}/logs", params=API).json()["content"]
    assert "replica 0 exited with code 1; restarting" in logs

    # memoryInGB is a limit: a replica that passes it is stopped, then restarted
    assert score(found["scoringUri"], key, {"allocate": 400}).status_code == 502
    for _attempt in range(200):
        logs = arm.get(f"{mms(workspace)}/services/{name}/logs", params=API).json()["content"]
        if "exited with code 137" in logs:
            break
        time.sleep(0.1)
    assert "more than the service's memoryInGB (0.25 GB)" in logs and "exited with code 137" in logs
    wait_state(arm, workspace, name, "Healthy")
    assert score(found["scoringUri"], key, {"data": []}).status_code == 200
    delete(arm, workspace, name)


# Bad inputs ---------------------------------------------------------------------------------------


def test_unknown_model_and_malformed_requests_are_refused(arm: httpx.Client, workspace: dict, model: dict):
    url = f"{mms(workspace)}/services"
    good = deployment(arm, workspace, unique("bad"), ECHO, [model["id"]])

    def refused(body: dict, status: int, code: str) -> None:
        assert_mms_error(arm.post(url, params=API, json=body), status, code)

    refused({**good, "environmentImageRequest": {**good["environmentImageRequest"], "modelIds": ["nope:1"]}},
            404, "ModelNotFound")
    refused({**good, "name": "Bad_Name"}, 400, "InvalidServiceName")
    refused({**good, "computeType": "IOT"}, 400, "UnsupportedComputeType")
    refused({key: value for key, value in good.items() if key != "environmentImageRequest"}, 400,
            "EnvironmentImageRequestRequired")
    refused({**good, "environmentImageRequest": {**good["environmentImageRequest"], "driverProgram": "main.py"}},
            400, "EntryScriptNotFound")
    refused({**good, "environmentImageRequest": {**good["environmentImageRequest"],
                                                 "assets": [{"url": "https://example.com/score.py"}]}},
            400, "InvalidAssetUrl")
    refused({**good, "containerResourceRequirements": {"cpu": 0}}, 400, "InvalidRequestContent")
    refused({**good, "environmentImageRequest": {**good["environmentImageRequest"], "environment": {"python": 3}}},
            400, "InvalidEnvironment")
    assert_mms_error(arm.get(f"{url}/nothing-here", params=API), 404, "ServiceNotFound")
    assert_mms_error(arm.get(f"{mms(workspace)}/operations/{uuid.uuid4()}", params=API), 404, "OperationNotFound")
    assert_mms_error(arm.post(f"{url}/nothing-here/token", params=API), 404, "ServiceNotFound")

    deploy(arm, workspace, good)
    refused(good, 409, "ServiceAlreadyExists")
    delete(arm, workspace, good["name"])


def test_an_entry_script_without_run_fails_its_deployment(arm: httpx.Client, workspace: dict, model: dict):
    name = unique("norun")
    body = deployment(arm, workspace, name, "def init():\n    pass\n", [model["id"]])
    operation = wait_operation(arm, create(arm, workspace, body))
    assert operation["state"] == "Failed", operation
    assert operation["error"]["code"] == "ReplicaFailed"
    assert "defines no run() function" in operation["error"]["message"]
    failed = service(arm, workspace, name)
    assert failed["state"] == "Failed" and failed["error"]["code"] == "ReplicaFailed"
    logs = arm.get(f"{mms(workspace)}/services/{name}/logs", params=API).json()["content"]
    assert "defines no run() function" in logs
    delete(arm, workspace, name)


def test_an_entry_script_that_raises_in_init_fails_with_its_traceback(arm: httpx.Client, workspace: dict,
                                                                      model: dict):
    """In a venv built from a pip list by the runs' environment cache (empty: the worker needs nothing)."""
    name = unique("badinit")
    script = "def init():\n    load_the_model()\n\ndef load_the_model():\n    1 / 0\n\ndef run(raw):\n    return 1\n"
    environment = {"python": {"userManagedDependencies": False,
                              "condaDependencies": {"dependencies": [{"pip": []}]}}}
    body = deployment(arm, workspace, name, script, [model["id"]], environment=environment)
    operation = wait_operation(arm, create(arm, workspace, body))
    assert operation["state"] == "Failed", operation
    message = operation["error"]["message"]
    assert "init() of the entry script score.py raised" in message
    assert "in load_the_model" in message and "ZeroDivisionError: division by zero" in message
    assert "ZeroDivisionError" in operation["operationLog"]
    assert "environment" in operation["operationLog"].lower()  # the deployment's own log: its venv
    delete(arm, workspace, name)


def test_deleting_a_service_while_it_deploys_cancels_the_deployment(arm: httpx.Client, workspace: dict,
                                                                    model: dict, tmp_path):
    name = unique("cancel")
    environment = {"python": {"userManagedDependencies": True, "interpreterPath": "python3"},
                   "environmentVariables": {"TEST_MARKER": str(tmp_path / "marker")}}
    (tmp_path / "marker.started").touch()  # so that init() waits for a release that never comes
    location = create(arm, workspace, deployment(arm, workspace, name, CRASHING, [model["id"]],
                                                 environment=environment))
    delete(arm, workspace, name)
    assert wait_operation(arm, location)["state"] == "Cancelled"


def test_a_reader_sees_services_but_not_their_keys(server: Server, arm: httpx.Client, workspace: dict, model: dict,
                                                   subscription: str):
    name = unique("reader")
    deploy(arm, workspace, deployment(arm, workspace, name, ECHO, [model["id"]]))
    reader = server.new_principal(subscription, "Reader")
    with server.client(reader) as client:
        assert client.get(f"{mms(workspace)}/services/{name}", params=API).status_code == 200
        assert client.post(f"{mms(workspace)}/services/{name}/listkeys", params=API).status_code == 403
        assert client.delete(f"{mms(workspace)}/services/{name}", params=API).status_code == 403
    delete(arm, workspace, name)
