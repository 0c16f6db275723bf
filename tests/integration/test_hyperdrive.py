"""HyperDrive: sweeps over a toy script's arguments, run for real, as azureml-train-core submits them
(a snapshot uploaded first, then a multipart ``config`` to hyperdrive/v1.0 with its ARM scope encoded)."""

from __future__ import annotations

import itertools
import json
import os
import sys
import time
import uuid
from collections.abc import Iterator
from urllib.parse import quote

import httpx
import pytest

from tests.execution import TERMINAL, make_compute, run_url, wait_status
from tests.resources import create_workspace
from tests.server import Backend, Server

# Logs metric values to run history with the run's own token, as azureml-core's run.log does, retrying
# while the server is away (it restarts in one test).
METRIC_LOGGER = """
import json, os, sys, time, urllib.error, urllib.request

def log(name, value):
    env = os.environ
    url = (f"{env['AZUREML_SERVICE_ENDPOINT']}/history/v1.0/subscriptions/{env['AZUREML_ARM_SUBSCRIPTION']}"
           f"/resourceGroups/{env['AZUREML_ARM_RESOURCEGROUP']}/providers/Microsoft.MachineLearningServices"
           f"/workspaces/{env['AZUREML_ARM_WORKSPACE_NAME']}/experiments/{env['AZUREML_ARM_PROJECT_NAME']}"
           f"/runs/{env['AZUREML_RUN_ID']}/batch/metrics")
    body = {"values": [{"name": name, "metricType": "azureml.v1.scalar", "cells": [{name: value}]}]}
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST", headers={
        "Authorization": f"Bearer {env['AZUREML_RUN_TOKEN']}", "Content-Type": "application/json"})
    for attempt in range(120):
        try:
            return urllib.request.urlopen(request).read()
        except urllib.error.URLError as error:
            if isinstance(error, urllib.error.HTTPError) or attempt == 119:
                raise
            time.sleep(0.5)

args = dict(zip(sys.argv[1::2], sys.argv[2::2]))
"""
# score = y - (x - 3)^2: the best child is the one whose arguments give the largest score.
QUADRATIC = METRIC_LOGGER + """
time.sleep(float(args.get("--sleep", "0")))
log("score", float(args["--y"]) - (float(args["--x"]) - 3) ** 2)
"""
# score = x / 4 at every interval; x >= 3 reports three intervals, a poorer x keeps reporting for 30 s.
INTERVALS = METRIC_LOGGER + """
x = int(args["--x"])
for _ in range(3 if x >= 3 else 60):
    log("score", x / 4)
    time.sleep(0.1 if x >= 3 else 0.5)
"""
GRID_SCRIPT = METRIC_LOGGER + """
log("score", float(args["--a"]) + (0.5 if args["--b"] == "q" else 0.0))
"""
ACTIVE = ("NotStarted", "Queued", "Preparing", "Starting", "Running", "Finalizing", "CancelRequested")


# --- the SDK's side ------------------------------------------------------------------------------

def upload_snapshot(client: httpx.Client, workspace_id: str, files: dict[str, str]) -> str:
    snapshot_id = str(uuid.uuid4())
    response = client.post(f"/content/v1.0{workspace_id}/snapshots/{snapshot_id}",
                           files=[("files", (name, text.encode())) for name, text in files.items()])
    assert response.status_code == 200, response.text
    return snapshot_id


def sweep_config(snapshot_id: str, compute: str, space: dict, *, generator: str = "RANDOM", total: int = 4,
                 concurrent: int = 2, policy: dict | None = None, arguments: list | None = None) -> dict:
    """A CreateExperimentDto as HyperDriveConfig builds it; Overrides is a serialised RunConfiguration."""
    overrides = {"script": "train.py", "arguments": arguments or [], "target": compute, "framework": "Python",
                 "communicator": "None", "nodeCount": 1, "maxRunDurationSeconds": None,
                 "environment": {"python": {"interpreterPath": sys.executable, "userManagedDependencies": True}},
                 "history": {"outputCollection": True}}
    return {
        "name": "sweep", "description": "a test sweep", "user": "tester", "platform": "AML",
        "max_concurrent_jobs": concurrent, "max_total_jobs": total, "max_duration_minutes": 60,
        "generator_config": {"name": generator, "parameter_space": space},
        "policy_config": policy or {"name": "Default"},
        "primary_metric_config": {"name": "score", "goal": "maximize"},
        "platform_config": {"ServiceAddress": "ignored", "SubscriptionId": "ignored",
                            "Definition": {"Overrides": overrides, "TargetDetails": None, "SnapshotId": snapshot_id,
                                           "TelemetryValues": {}}},
        "resume_from": None, "resume_child_runs": None, "study_id": None,
    }


def scope_url(workspace_id: str, experiment: str, *, encoded: bool) -> str:
    scope = f"{workspace_id.lstrip('/')}/experiments/{experiment}"
    return f"/hyperdrive/v1.0/{quote(scope, safe='') if encoded else scope}/runs"


def create_sweep(client: httpx.Client, workspace_id: str, experiment: str, config: dict, *,
                 encoded: bool = True, run_id: str | None = None) -> httpx.Response:
    url = scope_url(workspace_id, experiment, encoded=encoded) + (f"/{run_id}" if run_id else "")
    return client.post(url, files={"config": ("config.json", json.dumps(config), "application/json")})


def children(client: httpx.Client, workspace_id: str, experiment: str, parent_id: str) -> list[dict]:
    response = client.get(f"{run_url(workspace_id, experiment, parent_id)}/children")
    assert response.status_code == 200, response.text
    return response.json()["value"]


def metric(client: httpx.Client, workspace_id: str, experiment: str, run_id: str) -> float | None:
    response = client.post(f"/history/v1.0{workspace_id}/experiments/{experiment}/metrics:latest",
                           json={"runIds": [run_id]})
    assert response.status_code == 200, response.text
    found = {entry["runId"]: entry["metrics"] for entry in response.json()["value"]}
    return found.get(run_id, {}).get("score", {}).get("value")


def hyperparameters(child: dict) -> dict:
    return json.loads(child["tags"]["hyperparameters"])


def experiment_name() -> str:
    return f"hd-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def compute(server: Server, workspace: dict) -> str:
    with server.client() as client:
        return make_compute(client, workspace, "hd-compute", max_nodes=4)


# --- sweeps --------------------------------------------------------------------------------------

def test_random_sweep_two_at_a_time_names_the_true_best(arm: httpx.Client, workspace: dict, compute: str):
    name = experiment_name()
    snapshot = upload_snapshot(arm, workspace["id"], {"train.py": QUADRATIC})
    space = {"--x": ["uniform", [0, 6]], "--y": ["choice", [[0, 1, 2]]]}
    response = create_sweep(arm, workspace["id"], name,
                            sweep_config(snapshot, compute, space, total=8, concurrent=2, arguments=["--sleep", 1]))
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["code"] == 201
    result = created["result"]
    parent_id = result["platform_config"]["ParentRunId"]
    assert result["hyperdrive_run_id"] == parent_id and result["status"] == "Running"
    assert result["generator_config"]["name"] == "RANDOM" and result["max_total_jobs"] == 8
    assert result["primary_metric_config"] == {"name": "score", "goal": "MAXIMIZE"}

    most_active = 0
    deadline = time.monotonic() + 240
    while (parent := arm.get(run_url(workspace["id"], name, parent_id)).json())["status"] not in TERMINAL:
        active = [c["status"] for c in children(arm, workspace["id"], name, parent_id) if c["status"] in ACTIVE]
        assert len(active) <= 2, active
        most_active = max(most_active, len(active))
        assert time.monotonic() < deadline, "the sweep did not finish"
        time.sleep(0.2)
    assert most_active == 2, "two children ran at once"

    assert parent["status"] == "Completed" and parent["runType"] == "hyperdrive"
    runs = children(arm, workspace["id"], name, parent_id)
    assert len(runs) == 8 and all(c["status"] == "Completed" for c in runs), [c["status"] for c in runs]
    scores = {}
    for child in runs:
        values = hyperparameters(child)
        assert 0 <= values["--x"] <= 6 and values["--y"] in (0, 1, 2)
        assert child["runDefinition"]["Configuration"]["arguments"] == [
            "--sleep", 1, "--x", values["--x"], "--y", values["--y"]]
        scores[child["runId"]] = metric(arm, workspace["id"], name, child["runId"])
        assert scores[child["runId"]] == pytest.approx(values["--y"] - (values["--x"] - 3) ** 2)
    best = max(scores, key=scores.__getitem__)
    assert parent["properties"]["best_child_run_id"] == best
    assert float(parent["properties"]["score"]) == pytest.approx(scores[best])
    assert parent["properties"]["runTemplate"] == "HyperDrive"


def test_grid_sweep_covers_the_grid_once(arm: httpx.Client, workspace: dict, compute: str):
    name = experiment_name()
    snapshot = upload_snapshot(arm, workspace["id"], {"train.py": GRID_SCRIPT})
    space = {"--a": ["choice", [[1, 2, 3]]], "--b": ["choice", [["p", "q"]]]}
    parent_id = f"HD_{uuid.uuid4()}"
    config = sweep_config(snapshot, compute, space, generator="GRID", total=10, concurrent=3)
    response = create_sweep(arm, workspace["id"], name, config, encoded=False, run_id=parent_id)
    assert response.status_code == 201, response.text
    assert response.json()["result"]["hyperdrive_run_id"] == parent_id
    assert response.json()["result"]["max_total_jobs"] == 6, "the grid has 6 points"

    again = create_sweep(arm, workspace["id"], name, config, run_id=parent_id)
    assert again.status_code == 201 and again.json()["result"]["hyperdrive_run_id"] == parent_id, again.text

    parent = wait_status(arm, run_url(workspace["id"], name, parent_id), seconds=240)
    assert parent["status"] == "Completed"
    runs = children(arm, workspace["id"], name, parent_id)
    points = sorted((hyperparameters(c)["--a"], hyperparameters(c)["--b"]) for c in runs)
    assert points == sorted(itertools.product([1, 2, 3], ["p", "q"]))
    assert sorted(c["runId"] for c in runs) == sorted(f"{parent_id}_{n}" for n in range(6))
    assert parent["properties"]["best_child_run_id"] == next(
        c["runId"] for c in runs if hyperparameters(c) == {"--a": 3, "--b": "q"})
    assert parent["properties"]["space_size"] == "6"


def test_bandit_stops_the_children_outside_the_slack(arm: httpx.Client, workspace: dict, compute: str):
    name = experiment_name()
    snapshot = upload_snapshot(arm, workspace["id"], {"train.py": INTERVALS})
    policy = {"name": "Bandit", "properties": {"evaluation_interval": 1, "delay_evaluation": 2, "slack_amount": 0.3}}
    response = create_sweep(arm, workspace["id"], name, sweep_config(
        snapshot, compute, {"--x": ["choice", [[1, 2, 3, 4]]]}, generator="GRID", total=4, concurrent=4,
        policy=policy))
    assert response.status_code == 201, response.text
    assert response.json()["result"]["policy_config"]["properties"]["slack_amount"] == 0.3
    parent_id = response.json()["result"]["hyperdrive_run_id"]

    parent = wait_status(arm, run_url(workspace["id"], name, parent_id), seconds=240)
    assert parent["status"] == "Completed"
    outcome = {hyperparameters(c)["--x"]: c for c in children(arm, workspace["id"], name, parent_id)}
    # best 1.0 less 0.3: x = 1 (0.25) and x = 2 (0.5) fall outside; x = 3 (0.75) and x = 4 stay
    assert {x: c["status"] for x, c in outcome.items()} == {1: "Canceled", 2: "Canceled", 3: "Completed",
                                                             4: "Completed"}
    for x in (1, 2):
        warning = " ".join(w["message"] for w in outcome[x]["warnings"])
        assert "Bandit" in warning and "slack_amount 0.3" in warning, warning
    assert all("warnings" not in outcome[x] for x in (3, 4))
    assert parent["properties"]["best_child_run_id"] == outcome[4]["runId"]


def test_cancel_mid_sweep(arm: httpx.Client, workspace: dict, compute: str):
    name = experiment_name()
    snapshot = upload_snapshot(arm, workspace["id"], {"train.py": QUADRATIC})
    config = sweep_config(snapshot, compute, {"--x": ["uniform", [0, 6]], "--y": ["randint", [3]]}, total=6,
                          concurrent=2, arguments=["--sleep", 60])
    parent_id = create_sweep(arm, workspace["id"], name, config).json()["result"]["hyperdrive_run_id"]
    deadline = time.monotonic() + 120
    while [c["status"] for c in children(arm, workspace["id"], name, parent_id)] != ["Running", "Running"]:
        assert time.monotonic() < deadline, "the first two children did not start"
        time.sleep(0.2)

    scope = scope_url(workspace["id"], name, encoded=True)
    response = arm.post(f"{scope}/{parent_id}/cancel")
    assert response.status_code == 200, response.text
    assert response.json() == {"code": 200, "result": f"Cancellation requested for {parent_id}"}
    parent = wait_status(arm, run_url(workspace["id"], name, parent_id), seconds=60)
    assert parent["status"] == "Canceled"
    runs = children(arm, workspace["id"], name, parent_id)
    assert len(runs) == 2, "nothing was generated after the cancel"
    assert all(c["status"] == "Canceled" for c in runs)
    assert arm.post(f"{scope}/{parent_id}/cancel").status_code == 200, "cancelling again changes nothing"


@pytest.mark.parametrize(("change", "words"), [
    (lambda c: c["generator_config"].update(parameter_space={"--x": ["gaussian", [0, 1]]}), "gaussian"),
    (lambda c: c["generator_config"].update(name="GRID"), "GRID sampling takes only choice"),
    (lambda c: c.pop("primary_metric_config"), "primary_metric_config"),
    (lambda c: c["generator_config"].update(name="Annealing"), "Annealing"),
    (lambda c: c.update(policy_config={"name": "Bandit", "properties": {}}), "slack_factor"),
    (lambda c: c["platform_config"]["Definition"].pop("SnapshotId"), "SnapshotId"),
    (lambda c: c.update(resume_from=[{"run_id": "HD_earlier"}]), "resume_from"),
], ids=["unknown-distribution", "grid-over-uniform", "no-primary-metric", "unknown-sampler", "bandit-no-slack",
        "no-snapshot", "warm-start"])
def test_bad_configs_answer_400(arm: httpx.Client, workspace: dict, compute: str, change, words):
    config = sweep_config(str(uuid.uuid4()), compute, {"--x": ["uniform", [0, 1]]})
    change(config)
    response = create_sweep(arm, workspace["id"], experiment_name(), config, encoded=False)
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["code"] == 400 and words in body["message"], body


def test_request_errors_keep_the_hyperdrive_envelope(arm: httpx.Client, workspace: dict, compute: str):
    name = experiment_name()
    missing_snapshot = sweep_config(str(uuid.uuid4()), compute, {"--x": ["uniform", [0, 1]]})
    response = create_sweep(arm, workspace["id"], name, missing_snapshot)
    assert response.status_code == 404 and response.json()["code"] == 404, response.text
    assert arm.post(scope_url(workspace["id"], name, encoded=True), json={}).json()["code"] == 400
    unknown = arm.post(f"{scope_url(workspace['id'], name, encoded=True)}/HD_nope/cancel")
    assert unknown.status_code == 404 and unknown.json()["code"] == 404
    anonymous = httpx.post(f"{str(arm.base_url).rstrip('/')}{scope_url(workspace['id'], name, encoded=True)}")
    assert anonymous.status_code == 401 and anonymous.json()["code"] == 401


# --- restart -------------------------------------------------------------------------------------

@pytest.fixture
def lone_server(backend: Backend, tmp_path) -> Iterator[Server]:
    """A server of its own, since the test restarts it."""
    store = Backend.postgresql(os.environ["AMLITE_TEST_POSTGRES_URL"]) if backend.name == "postgresql" \
        else Backend.sqlite()
    running = Server(tmp_path, store).start()
    yield running
    running.stop()
    running.stop_agents()
    store.drop()


def test_a_sweep_survives_a_server_restart(lone_server: Server):
    with lone_server.client() as client:
        workspace = create_workspace(client, lone_server.credentials["subscriptionId"], "hdr-rg", "hdr-ws")
        compute = make_compute(client, workspace, "hdr", max_nodes=2)
        snapshot = upload_snapshot(client, workspace["id"], {"train.py": QUADRATIC})
        config = sweep_config(snapshot, compute, {"--x": ["uniform", [0, 6]], "--y": ["choice", [[0, 1]]]},
                              generator="BayesianOptimization", total=3, concurrent=1, arguments=["--sleep", 2])
        response = create_sweep(client, workspace["id"], "restart", config)
        assert response.status_code == 201, response.text
        parent_id = response.json()["result"]["hyperdrive_run_id"]
        wait_status(client, run_url(workspace["id"], "restart", f"{parent_id}_0"), ("Running",))
    lone_server.stop()
    lone_server.start()
    with lone_server.client() as client:
        parent = wait_status(client, run_url(workspace["id"], "restart", parent_id), seconds=180)
        assert parent["status"] == "Completed"
        runs = children(client, workspace["id"], "restart", parent_id)
        assert sorted(c["runId"] for c in runs) == [f"{parent_id}_{n}" for n in range(3)]
        assert all(c["status"] == "Completed" for c in runs), [(c["status"], c.get("error")) for c in runs]
        assert len({json.dumps(hyperparameters(c), sort_keys=True) for c in runs}) == 3
