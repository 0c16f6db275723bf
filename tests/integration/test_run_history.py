"""Run history: experiments, runs (the SDK's PATCH upsert), status events, tags, queries, counts."""

from __future__ import annotations

import threading
import time
import uuid

import httpx
import pytest

from tests.server import Server


@pytest.fixture
def history(workspace: dict) -> str:
    return f"/history/v1.0{workspace['id']}"


def new_experiment(arm: httpx.Client, history: str) -> str:
    name = f"exp-{uuid.uuid4().hex[:8]}"
    assert arm.post(f"{history}/experiments/{name}").status_code == 200
    return name


def test_walkthrough_lists_experiments_and_reads_a_run(arm: httpx.Client, history: str):
    name = new_experiment(arm, history)
    listing = arm.get(f"{history}/experiments?api-version=2019-11-01")
    assert listing.status_code == 200
    assert name in [e["name"] for e in listing.json()["value"]]
    created = arm.patch(f"{history}/experiments/{name}/runs/{name}_1", json={"status": "NotStarted"})
    run = arm.get(f"{history}/experiments/{name}/runs/{name}_1?api-version=2019-11-01").json()
    assert run == created.json()
    assert run["runId"] == f"{name}_1" and run["status"] == "NotStarted"
    assert run["dataContainerId"] == f"dcid.{name}_1" and run["rootRunId"] == f"{name}_1"
    assert run["runNumber"] >= 1 and len(run["runUuid"]) == 36
    assert run["createdBy"]["userTenantId"] and run["createdUtc"].endswith("Z")
    assert run["cancelUri"].endswith(f"/experiments/{name}/runId/{name}_1/cancel")


def test_experiments(arm: httpx.Client, history: str):
    name = new_experiment(arm, history)
    again = arm.post(f"{history}/experiments/{name}")
    assert again.status_code == 409
    error = again.json()
    assert error["error"]["code"] == "ExperimentAlreadyExists" and error["correlation"]["request"]
    by_name = arm.get(f"{history}/experiments/{name.upper()}").json()
    by_id = arm.get(f"{history}/experimentids/{by_name['experimentId']}").json()
    assert by_id["name"] == name
    modified = arm.patch(f"{history}/experimentids/{by_id['experimentId']}",
                         json={"description": "d", "tags": {"a": "1", "b": "2"}}).json()
    assert modified["description"] == "d" and modified["tags"] == {"a": "1", "b": "2"}
    trimmed = arm.request("DELETE", f"{history}/experimentids/{by_id['experimentId']}/tags", json={"tags": ["a"]})
    assert trimmed.json()["tags"] == {"b": "2"}
    archived = arm.patch(f"{history}/experimentids/{by_id['experimentId']}", json={"archive": True}).json()
    assert archived["archivedTime"]
    active = [e["name"] for e in arm.get(f"{history}/experiments").json()["value"]]
    assert name not in active
    everything = [e["name"] for e in arm.get(f"{history}/experiments?viewType=All").json()["value"]]
    assert name in everything
    missing = arm.get(f"{history}/experiments/never-made")
    assert missing.status_code == 404 and "never-made" in missing.json()["error"]["message"]
    assert arm.post(f"{history}/experiments/bad name!").status_code == 400


def test_experiment_paging(arm: httpx.Client, history: str):
    for _ in range(3):
        new_experiment(arm, history)
    seen, token, pages = [], None, 0
    while True:
        url = f"{history}/experiments?$top=2" + (f"&$continuationToken={token}" if token else "")
        body = arm.get(url).json()
        seen += [e["experimentId"] for e in body["value"]]
        pages += 1
        token = body.get("continuationToken")
        if not token:
            break
    assert pages >= 2 and len(seen) == len(set(seen)) >= 3
    queried = arm.post(f"{history}/experiments:query", json={"top": 2}).json()
    assert len(queried["value"]) == 2 and queried["continuationToken"]


def test_run_upsert_tags_properties_and_status_machine(arm: httpx.Client, history: str):
    exp = new_experiment(arm, history)
    url = f"{history}/experiments/{exp}/runs/{exp}_r"
    created = arm.patch(url, json={"runId": f"{exp}_r", "status": "NotStarted", "target": "local",
                                   "scriptName": "train.py", "tags": {"t": "1"}, "properties": {"p": "x"}},
                        headers={"Content-Type": "application/json-patch+json"})
    assert created.status_code == 200
    merged = arm.patch(url, json={"tags": {"u": "2"}, "properties": {"q": "y"}}).json()
    assert merged["tags"] == {"t": "1", "u": "2"} and merged["properties"] == {"p": "x", "q": "y"}
    assert merged["target"] == "local" and merged["scriptName"] == "train.py"
    immutable = arm.patch(url, json={"properties": {"p": "changed"}})
    assert immutable.status_code == 400 and immutable.json()["error"]["code"] == "PropertyImmutable"

    event = {"name": "Microsoft.MachineLearning.Run.Start", "timestamp": "2026-01-01T00:00:00Z",
             "data": {"RunId": f"{exp}_r", "StartTime": "2026-01-01T00:00:00Z"}}
    assert arm.post(f"{url}/events", json=event).status_code == 200
    running = arm.get(url).json()
    assert running["status"] == "Running" and running["startTimeUtc"].startswith("2026-01-01T00:00:00")
    done = {"name": "Microsoft.MachineLearning.Run.Completed", "data": {"RunId": f"{exp}_r"}}
    assert arm.post(f"{url}/events", json=done).status_code == 200
    completed = arm.get(url).json()
    assert completed["status"] == "Completed" and completed["endTimeUtc"]
    back = arm.patch(url, json={"status": "Running"})
    assert back.status_code == 400
    assert back.json()["error"]["code"] == "InvalidRunStatusTransition"
    assert "Completed" in back.json()["error"]["message"]
    assert arm.post(f"{url}/events", json=event).status_code == 400
    assert arm.get(url).json()["status"] == "Completed"
    assert arm.patch(url, json={"status": "Sleeping"}).status_code == 400
    unknown = arm.post(f"{url}/events", json={"name": "Microsoft.MachineLearning.Run.Dance", "data": {}})
    assert unknown.status_code == 400

    removed = arm.request("DELETE", f"{url}/tags", json=["t"]).json()
    assert removed["tags"] == {"u": "2"}
    details = arm.get(f"{url}/details").json()
    assert details["runId"] == f"{exp}_r" and details["logFiles"] == {}


def test_children_queries_and_counts(arm: httpx.Client, history: str):
    exp = new_experiment(arm, history)
    base = f"{history}/experiments/{exp}/runs"
    arm.patch(f"{base}/parent", json={"status": "Running", "runType": "hyperdrive"})
    for index in range(4):
        arm.patch(f"{base}/child{index}", json={"parentRunId": "parent", "tags": {"lr": str(index)},
                                                "status": "Completed" if index % 2 else "Running"})
    child = arm.get(f"{base}/child0").json()
    assert child["parentRunId"] == "parent" and child["rootRunId"] == "parent"
    children = arm.get(f"{base}/parent/children").json()["value"]
    assert sorted(c["runId"] for c in children) == [f"child{i}" for i in range(4)]

    def ids(query: str) -> list[str]:
        return [r["runId"] for r in arm.get(f"{base}?{query}").json()["value"]]

    assert sorted(ids("$filter=Status eq 'Completed'")) == ["child1", "child3"]
    assert ids("$filter=Tags/lr eq '2'") == ["child2"]
    assert sorted(ids("$filter=ParentRunId eq 'parent' and (Tags/lr eq '0' or Tags/lr eq '3')")) == ["child0", "child3"]
    assert ids("$filter=RunType eq 'hyperdrive'") == ["parent"]
    assert len(ids("$filter=CreatedUtc gt 2020-01-01T00:00:00Z")) == 5
    assert ids("$filter=CreatedUtc lt 2020-01-01T00:00:00Z") == []
    ordered = ids("$orderby=RunNumber asc")
    assert ordered == ["parent", "child0", "child1", "child2", "child3"]
    assert ids("$orderby=RunNumber desc") == list(reversed(ordered))
    page = arm.get(f"{base}?$orderby=RunNumber asc&$top=2").json()
    assert [r["runId"] for r in page["value"]] == ordered[:2]
    rest = arm.get(f"{base}?$orderby=RunNumber asc&$top=2&$continuationToken={page['continuationToken']}").json()
    assert [r["runId"] for r in rest["value"]] == ordered[2:4]
    queried = arm.post(f"{base}:query", json={"filter": "Status eq 'Running'", "orderBy": "RunNumber asc"}).json()
    assert [r["runId"] for r in queried["value"]] == ["parent", "child0", "child2"]
    for bad in ("Status eq", "Nope eq 'x'", "Status eq 'x' and", "CreatedUtc gt yesterday"):
        response = arm.get(f"{base}?$filter={bad}")
        assert response.status_code == 400 and response.json()["error"]["code"] == "InvalidFilter", bad
    counts = arm.get(f"{history}/experiments/{exp}/runcounts").json()
    assert counts["running"] == 3 and counts["completed"] == 2 and counts["failed"] == 0


def test_batch_runs_and_events(arm: httpx.Client, history: str):
    exp = new_experiment(arm, history)
    result = arm.patch(f"{history}/experiments/{exp}/batch/runs", json={"runs": [
        {"runId": "b1", "status": "NotStarted"}, {"runId": "b2", "parentRunId": "nope"}]}).json()
    assert list(result["runs"]) == ["b1"] and result["errors"]["b2"]["error"]["code"] == "RunNotFound"
    events = arm.post(f"{history}/experiments/{exp}/batch/events", json={"events": [
        {"name": "Microsoft.MachineLearning.Run.Start", "data": {"RunId": "b1"}},
        {"name": "Microsoft.MachineLearning.Run.Warning", "data": {"RunId": "b1", "Source": "me", "Message": "hm"}},
        {"name": "Microsoft.MachineLearning.Run.Start", "data": {"RunId": "missing"}}]}).json()
    assert len(events["errors"]) == 1
    run = arm.get(f"{history}/experiments/{exp}/runs/b1").json()
    assert run["status"] == "Running" and run["warnings"] == [{"source": "me", "message": "hm"}]
    assert arm.get(f"{history}/runs/b1").json()["runId"] == "b1"
    active = arm.delete(f"{history}/experiments/{exp}/runs/b1")
    assert active.status_code == 409
    arm.post(f"{history}/experiments/{exp}/runs/b1/events",
             json={"name": "Microsoft.MachineLearning.Run.Failed", "data": {"RunId": "b1"}})
    assert arm.delete(f"{history}/experiments/{exp}/runs/b1").status_code == 200
    assert arm.get(f"{history}/experiments/{exp}/runs/b1").status_code == 404


def test_silent_heartbeat_makes_a_run_not_responding(arm: httpx.Client, history: str):
    exp = new_experiment(arm, history)
    url = f"{history}/experiments/{exp}/runs/beat"
    arm.patch(url, json={"status": "Running"})
    arm.post(f"{url}/events", json={"name": "Microsoft.MachineLearning.Run.Heartbeat",
                                    "data": {"RunId": "beat", "TimeToLiveSeconds": 1}})
    deadline = time.monotonic() + 30
    while arm.get(url).json()["status"] != "NotResponding" and time.monotonic() < deadline:
        time.sleep(0.2)
    assert arm.get(url).json()["status"] == "NotResponding"
    arm.post(f"{url}/events", json={"name": "Microsoft.MachineLearning.Run.Heartbeat",
                                    "data": {"RunId": "beat", "TimeToLiveSeconds": 60}})
    assert arm.get(url).json()["status"] == "Running"


def test_racing_creators_make_one_experiment(server: Server, history: str):
    name = f"race-{uuid.uuid4().hex[:8]}"
    statuses: list[int] = []
    token = server.token()
    barrier = threading.Barrier(8, timeout=120)

    def create() -> None:
        with server.client(token=token) as client:
            barrier.wait()
            statuses.append(client.post(f"{history}/experiments/{name}").status_code)

    threads = [threading.Thread(target=create) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200] + [409] * 7
    with server.client() as client:
        listed = [e for e in client.get(f"{history}/experiments?viewType=All").json()["value"] if e["name"] == name]
    assert len(listed) == 1


def test_reader_cannot_write_runs(server: Server, arm: httpx.Client, history: str):
    reader = server.new_principal(server.credentials["subscriptionId"], "Reader")
    exp = new_experiment(arm, history)
    with server.client(reader) as client:
        assert client.get(f"{history}/experiments/{exp}").status_code == 200
        denied = client.patch(f"{history}/experiments/{exp}/runs/r1", json={})
        assert denied.status_code == 403 and denied.json()["error"]["code"] == "AuthorizationFailed"
