"""Execution: startrun runs a zipped project for real on an AmlCompute cluster."""

from __future__ import annotations

import threading
import time
import uuid

import httpx
import pytest

from tests.execution import ML_API, definition, driver_log, make_compute, project_zip, run_url, start, wait_status
from tests.server import Server
SLEEPER = "import sys, time\nprint('sleeping', flush=True)\ntime.sleep(float(sys.argv[1]))\nprint('woke')\n"


@pytest.fixture(scope="module")
def cpu(server: Server, workspace: dict) -> str:
    with server.client() as client:
        return make_compute(client, workspace, "cpu-compute", max_nodes=2)


def experiment() -> str:
    return f"ex-{uuid.uuid4().hex[:8]}"


def test_walkthrough_step5_hello(arm: httpx.Client, workspace: dict, cpu: str):
    name = experiment()
    zip_bytes = project_zip({"hello.py": "import sys\nprint('Hello, REST!', *sys.argv[1:])\n"})
    run_definition = {"Configuration": {
        "Script": "hello.py", "Arguments": ["234"], "SourceDirectoryDataStore": None, "Framework": "Python",
        "Communicator": "None", "Target": cpu, "MaxRunDurationSeconds": 1200, "NodeCount": 1,
        "Environment": {
            "Python": {"InterpreterPath": "python", "UserManagedDependencies": False,
                       "CondaDependencies": {"name": "project_environment",
                                             "dependencies": ["python=3.6.2", {"pip": ["six"]}]}},
            "Docker": {"BaseImage": "mcr.microsoft.com/azureml/base:intelmpi2018.3-ubuntu16.04"}},
        "History": {"OutputCollection": True}}}
    before = int(time.time() * 1000)
    response = start(arm, workspace["id"], name, zip_bytes, run_definition)
    assert response.status_code == 200, response.text
    run_id = response.json()["runId"]
    assert set(response.json()) == {"runId"}
    prefix, millis = run_id.rsplit("_", 1)
    assert prefix == name and before <= int(millis) <= int(time.time() * 1000)

    run = wait_status(arm, run_url(workspace["id"], name, run_id), seconds=300)
    assert run["status"] == "Completed", run.get("error")
    assert run["startTimeUtc"] <= run["endTimeUtc"]
    assert run["target"] == cpu and run["scriptName"] == "hello.py"
    assert run["runDefinition"]["Configuration"]["Arguments"] == ["234"]
    log = driver_log(arm, workspace["id"], run_id)
    assert "Hello, REST! 234" in log
    warnings = " ".join(w["message"] for w in run.get("warnings", []))
    assert "3.6.2" in warnings and "mcr.microsoft.com/azureml/base" in warnings


def test_three_runs_queue_on_a_one_node_compute(arm: httpx.Client, workspace: dict):
    compute = make_compute(arm, workspace, "single", max_nodes=1)
    name = experiment()
    zip_bytes = project_zip({"sleep.py": SLEEPER})
    run_ids = [start(arm, workspace["id"], name, zip_bytes, definition("sleep.py", compute, arguments=[1]))
               .json()["runId"] for _ in range(3)]
    seen_running = 0
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        statuses = [arm.get(run_url(workspace["id"], name, r)).json()["status"] for r in run_ids]
        counts = arm.get(f"{workspace['id']}/computes/{compute}?{ML_API}").json()["properties"]["properties"]
        active = sum(s in ("Preparing", "Starting", "Running", "Finalizing") for s in statuses)
        assert active <= 1, statuses
        assert counts["currentNodeCount"] <= 1
        nodes = counts["nodeStateCounts"]
        assert nodes["runningNodeCount"] + nodes["preparingNodeCount"] + nodes["idleNodeCount"] == \
            counts["currentNodeCount"]
        seen_running = max(seen_running, active)
        if all(s == "Completed" for s in statuses):
            break
        time.sleep(0.2)
    runs = [arm.get(run_url(workspace["id"], name, r)).json() for r in run_ids]
    assert [r["status"] for r in runs] == ["Completed"] * 3
    for earlier, later in zip(runs, runs[1:]):
        assert earlier["endTimeUtc"] <= later["startTimeUtc"], "the runs ran one after another"
    assert seen_running == 1


def test_time_limit_fails_the_run(arm: httpx.Client, workspace: dict, cpu: str):
    name = experiment()
    response = start(arm, workspace["id"], name, project_zip({"sleep.py": SLEEPER}),
                     definition("sleep.py", cpu, arguments=[60], max_seconds=2))
    run = wait_status(arm, run_url(workspace["id"], name, response.json()["runId"]))
    assert run["status"] == "Failed"
    assert run["error"]["error"]["code"] == "RunTimeout"
    assert "MaxRunDurationSeconds" in run["error"]["error"]["message"]


def test_failing_script_carries_its_log_tail(arm: httpx.Client, workspace: dict, cpu: str):
    name = experiment()
    script = "print('about to fail', flush=True)\nraise SystemExit(3)\n"
    response = start(arm, workspace["id"], name, project_zip({"fail.py": script}), definition("fail.py", cpu))
    run = wait_status(arm, run_url(workspace["id"], name, response.json()["runId"]))
    assert run["status"] == "Failed"
    assert "exited with code 3" in run["error"]["error"]["message"]
    assert "about to fail" in run["error"]["error"]["message"]


def test_cancel_running_and_queued(arm: httpx.Client, workspace: dict):
    compute = make_compute(arm, workspace, "cancels", max_nodes=1)
    name = experiment()
    zip_bytes = project_zip({"sleep.py": SLEEPER})
    first = start(arm, workspace["id"], name, zip_bytes, definition("sleep.py", compute, arguments=[60])).json()
    second = start(arm, workspace["id"], name, zip_bytes, definition("sleep.py", compute, arguments=[60])).json()
    wait_status(arm, run_url(workspace["id"], name, first["runId"]), ("Running",))
    assert arm.get(run_url(workspace["id"], name, second["runId"])).json()["status"] == "Queued"

    cancel = f"/execution/v1.0{workspace['id']}/experiments/{name}/runId"
    assert arm.post(f"{cancel}/{second['runId']}/cancel").status_code == 200
    assert arm.get(run_url(workspace["id"], name, second["runId"])).json()["status"] == "Canceled"
    assert arm.post(f"{cancel}/{first['runId']}/cancel").status_code == 200
    run = wait_status(arm, run_url(workspace["id"], name, first["runId"]), seconds=30)
    assert run["status"] == "Canceled"


def test_bad_submissions(arm: httpx.Client, workspace: dict, cpu: str):
    name = experiment()
    good_zip = project_zip({"hello.py": "print('hi')\n"})
    cases = [
        (b"this is not a zip", definition("hello.py", cpu), 400, "InvalidSnapshot"),
        (project_zip({"../escape.py": "x"}), definition("hello.py", cpu), 400, "InvalidSnapshot"),
        (project_zip({"/abs.py": "x"}), definition("hello.py", cpu), 400, "InvalidSnapshot"),
        (good_zip, definition("missing.py", cpu), 400, "ScriptNotFound"),
        (good_zip, definition("hello.py", "no-such-compute"), 404, "ComputeTargetNotFound"),
        (good_zip, {"Configuration": {"Script": "hello.py"}}, 400, "InvalidRequestContent"),
        (good_zip, definition("hello.py", cpu, node_count=5), 400, "InvalidNodeCount"),
    ]
    for zip_bytes, run_definition, status, code in cases:
        response = start(arm, workspace["id"], name, zip_bytes, run_definition)
        assert response.status_code == status, (code, response.text)
        assert response.json()["error"]["code"] == code
    assert "no-such-compute" in start(arm, workspace["id"], name, good_zip,
                                      definition("hello.py", "no-such-compute")).json()["error"]["message"]
    bare = arm.post(f"/execution/v1.0{workspace['id']}/experiments/{name}/startrun", json={})
    assert bare.status_code == 400


def test_concurrent_startruns_get_unique_ids(server: Server, workspace: dict, cpu: str):
    name, token = experiment(), server.token()
    zip_bytes = project_zip({"hello.py": "print('hi')\n"})
    ids: list[str] = []
    barrier = threading.Barrier(6, timeout=60)

    def submit() -> None:
        with server.client(token=token) as client:
            barrier.wait()
            response = start(client, workspace["id"], name, zip_bytes, definition("hello.py", cpu))
            ids.append(response.json().get("runId") or response.text)

    threads = [threading.Thread(target=submit) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(ids)) == 6, ids
    with server.client(token=token) as client:
        for run_id in ids:
            assert wait_status(client, run_url(workspace["id"], name, run_id))["status"] == "Completed"


def test_multi_node_ranks_and_output_collection(arm: httpx.Client, workspace: dict, cpu: str):
    name = experiment()
    script = ("import os\n"
              "print('rank', os.environ['RANK'], 'of', os.environ['WORLD_SIZE'], os.environ['MASTER_ADDR'],"
              " os.environ['MASTER_PORT'], os.environ['AZUREML_RUN_ID'])\n"
              "os.makedirs('outputs', exist_ok=True)\n"
              "open(f\"outputs/rank{os.environ['RANK']}.txt\", 'w').write('done')\n")
    response = start(arm, workspace["id"], name, project_zip({"ranks.py": script}),
                     definition("ranks.py", cpu, node_count=2, communicator="Gloo"))
    run_id = response.json()["runId"]
    run = wait_status(arm, run_url(workspace["id"], name, run_id))
    assert run["status"] == "Completed", run.get("error")
    first, second = driver_log(arm, workspace["id"], run_id, 0), driver_log(arm, workspace["id"], run_id, 1)
    assert "rank 0 of 2 127.0.0.1" in first and run_id in first
    assert "rank 1 of 2 127.0.0.1" in second
    assert first.split()[5] == second.split()[5], "one MASTER_PORT for every rank"
    artifacts = arm.get(f"{run_url(workspace['id'], name, run_id)}/artifacts/path/outputs").json()["value"]
    assert [a["path"] for a in artifacts] == ["outputs/rank0.txt", "outputs/rank1.txt"]


def test_failed_environment_build_fails_the_run(arm: httpx.Client, workspace: dict, cpu: str):
    name = experiment()
    environment = {"Python": {"UserManagedDependencies": False, "CondaDependencies": {
        "dependencies": [{"pip": ["this-package-does-not-exist-amlite==1.0"]}]}}}
    response = start(arm, workspace["id"], name, project_zip({"hello.py": "print('hi')\n"}),
                     definition("hello.py", cpu, environment=environment))
    run = wait_status(arm, run_url(workspace["id"], name, response.json()["runId"]), seconds=180)
    assert run["status"] == "Failed"
    assert run["error"]["error"]["code"] == "EnvironmentBuildFailed"
    assert "this-package-does-not-exist-amlite" in run["error"]["error"]["message"]


def test_cancel_through_the_history_api(arm: httpx.Client, workspace: dict, cpu: str):
    name = experiment()
    run_id = start(arm, workspace["id"], name, project_zip({"sleep.py": SLEEPER}),
                   definition("sleep.py", cpu, arguments=[60])).json()["runId"]
    url = run_url(workspace["id"], name, run_id)
    wait_status(arm, url, ("Running",))
    asked = arm.post(f"{url}/cancel")
    assert asked.status_code == 200 and asked.json()["status"] == "CancelRequested"
    assert wait_status(arm, url, seconds=30)["status"] == "Canceled"
    assert arm.post(f"{url}/cancel").json()["status"] == "Canceled", "cancelling an ended run changes nothing"


def test_mpi_without_mpirun_fails_clearly(arm: httpx.Client, workspace: dict, cpu: str):
    name = experiment()
    response = start(arm, workspace["id"], name, project_zip({"hello.py": "print('hi')\n"}),
                     definition("hello.py", cpu, communicator="Mpi"))
    run = wait_status(arm, run_url(workspace["id"], name, response.json()["runId"]))
    assert run["status"] == "Failed"
    assert "mpirun" in run["error"]["error"]["message"]


def test_idle_nodes_are_released_after_the_idle_timeout(arm: httpx.Client, workspace: dict):
    make_compute(arm, workspace, "brief", idle="PT2S")
    name = experiment()
    run_id = start(arm, workspace["id"], name, project_zip({"hello.py": "print('hi')\n"}),
                   definition("hello.py", "brief")).json()["runId"]
    assert wait_status(arm, run_url(workspace["id"], name, run_id))["status"] == "Completed"
    compute_url = f"{workspace['id']}/computes/brief?{ML_API}"
    deadline = time.monotonic() + 30
    while arm.get(compute_url).json()["properties"]["properties"]["currentNodeCount"] != 0:
        assert time.monotonic() < deadline, "the idle node was not released"
        time.sleep(0.2)
    counts = arm.get(compute_url).json()["properties"]["properties"]
    assert counts["nodeStateCounts"]["idleNodeCount"] == 0 and counts["targetNodeCount"] == 0
