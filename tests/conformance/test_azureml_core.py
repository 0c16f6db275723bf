"""azureml-core as the judge of run history, in-run mode: a script calls ``Run.get_context()`` with the
``AZUREML_*`` variables that a submitted run gets, sets tags, logs metrics and completes; the history
API then shows what it wrote."""

from __future__ import annotations

import subprocess
import textwrap
import uuid

import httpx
import pytest

from tests.conformance.sdk_venv import sdk_python
from tests.execution import definition, driver_log, make_compute, project_zip, run_url, start, wait_status
from tests.sdk import AZUREML_CORE, in_run_environment
from tests.server import Server

SCRIPT = textwrap.dedent("""
    from azureml.core import Run
    run = Run.get_context(allow_offline=False)
    run.tag("stage", "test")
    run.set_tags({"team": "ml"})
    run.log("accuracy", 0.91)
    run.log("accuracy", 0.93)
    run.log_list("losses", [0.5, 0.4, 0.3])
    run.log_table("scores", {"fold": [1, 2], "auc": [0.8, 0.9]})
    run.complete()
    print("SEEN", sorted(run.get_metrics()))
""")


@pytest.fixture(scope="session")
def azureml_python() -> str:
    return str(sdk_python(AZUREML_CORE))


def test_in_run_mode_tags_and_metrics(server: Server, arm: httpx.Client, workspace: dict, azureml_python: str,
                                      tmp_path):
    experiment, run_id = f"sdk-{uuid.uuid4().hex[:6]}", f"sdk_{uuid.uuid4().hex[:8]}"
    history = f"/history/v1.0{workspace['id']}/experiments/{experiment}"
    run = arm.patch(f"{history}/runs/{run_id}", json={"status": "Running"}).json()
    env = in_run_environment(server, workspace, experiment, run, tmp_path)
    result = subprocess.run([azureml_python, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-4000:]
    assert "SEEN ['accuracy', 'losses', 'scores']" in result.stdout

    shown = arm.get(f"{history}/runs/{run_id}").json()
    assert shown["tags"].items() >= {"stage": "test", "team": "ml"}.items()
    v2 = f"/metric/v2.0{workspace['id']}/runs/{run_id}"
    accuracy = arm.post(f"{v2}/full", json={"metricName": "accuracy"}).json()["value"]
    assert [point["data"]["accuracy"] for point in accuracy] == [0.91, 0.93]
    losses = arm.post(f"{v2}/full", json={"metricName": "losses"}).json()["value"]
    assert [point["data"]["losses"] for point in losses] == [0.5, 0.4, 0.3]
    scores = arm.post(f"{v2}/full", json={"metricName": "scores"}).json()["value"]
    assert [(p["data"]["fold"], p["data"]["auc"]) for p in scores] == [(1, 0.8), (2, 0.9)]
    listed = arm.get(f"{history}/metrics", params={"$filter": f"RunId eq '{run_id}'"}).json()["value"]
    assert {m["name"] for m in listed} == {"accuracy", "losses", "scores"}


def test_submitted_script_logs_through_run_get_context(arm: httpx.Client, workspace: dict, azureml_python: str):
    """startrun of a script that uses azureml-core: the agent gives it the AZUREML_* variables and a run
    token, and what it logs shows in the history API."""
    compute = make_compute(arm, workspace, "sdk-compute")
    script = ("from azureml.core import Run\n"
              "run = Run.get_context(allow_offline=False)\n"
              "run.log('score', 0.7)\n"
              "run.tag('from', 'script')\n"
              "run.flush()\n"
              "print('logged for', run.id)\n")
    environment = {"Python": {"InterpreterPath": azureml_python, "UserManagedDependencies": True}}
    name = f"sdk-{uuid.uuid4().hex[:6]}"
    response = start(arm, workspace["id"], name, project_zip({"train.py": script}),
                     definition("train.py", compute, environment=environment))
    run_id = response.json()["runId"]
    run = wait_status(arm, run_url(workspace["id"], name, run_id), seconds=300)
    assert run["status"] == "Completed", (run.get("error"), driver_log(arm, workspace["id"], run_id))
    assert f"logged for {run_id}" in driver_log(arm, workspace["id"], run_id)
    assert run["tags"]["from"] == "script"
    score = arm.post(f"/metric/v2.0{workspace['id']}/runs/{run_id}/full", json={"metricName": "score"}).json()
    assert [point["data"]["score"] for point in score["value"]] == [0.7]
