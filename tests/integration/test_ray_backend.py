"""The Ray backend: the execution suite's runs on a real local Ray cluster (a head started once for the
session), then what only Ray has: two nodes with one rank each, a head killed mid-run, the choice of
backend per compute, node counts from Ray's live nodes, and `amlite serve --ray-local`."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.execution import ML_API, definition, driver_log, make_compute, project_zip, run_url, start, wait_status
from tests.integration import test_execution as scenarios
from tests.conftest import POSTGRES_URL
from tests.ray_cluster import HEAD_HOST, WORKER_HOST, RayCluster, ray_executable
from tests.resources import create_workspace
from tests.server import Backend, Server

SLEEPER = scenarios.SLEEPER
WHERE = "import os\nprint('rank', os.environ['RANK'], os.environ['MASTER_ADDR'], os.environ['MASTER_PORT'], os.getcwd())\n"


@pytest.fixture(scope="session")
def ray_cluster(tmp_path_factory) -> Iterator[RayCluster]:
    cluster = RayCluster(tmp_path_factory.mktemp("ray")).start()
    yield cluster
    cluster.close()


@pytest.fixture(scope="session")
def ray_server(backend: Backend, ray_cluster: RayCluster, tmp_path_factory) -> Iterator[Server]:
    """A server of its own (the suite's other servers run locally) whose computes all run on the cluster."""
    store = Backend.postgresql(POSTGRES_URL) if backend.name == "postgresql" else Backend.sqlite()
    folder = tmp_path_factory.mktemp(f"amlite-ray-{backend.name}")
    running = Server(folder, store, env=ray_cluster.server_env(folder / "ray-envs")).start()
    yield running
    running.stop()
    running.stop_agents()
    store.drop()


@pytest.fixture(scope="session")
def ray_workspace(ray_server: Server) -> dict:
    with ray_server.client() as client:
        return create_workspace(client, ray_server.credentials["subscriptionId"], "ray-rg", "ray-ws")


@pytest.fixture
def ray_arm(ray_server: Server) -> Iterator[httpx.Client]:
    with ray_server.client() as client:
        yield client


@pytest.fixture(scope="session")
def ray_cpu(ray_server: Server, ray_workspace: dict) -> str:
    with ray_server.client() as client:
        return make_compute(client, ray_workspace, "cpu-compute", max_nodes=2)


def experiment() -> str:
    return f"ray-{uuid.uuid4().hex[:8]}"


def compute_properties(client: httpx.Client, workspace: dict, name: str) -> dict:
    return client.get(f"{workspace['id']}/computes/{name}?{ML_API}").json()["properties"]["properties"]


def wait_nodes(client: httpx.Client, workspace: dict, name: str, count: int, seconds: float = 30) -> dict:
    """The compute once its currentNodeCount is ``count`` (the scheduler counts every half second)."""
    deadline = time.monotonic() + seconds
    while (properties := compute_properties(client, workspace, name))["currentNodeCount"] != count:
        assert time.monotonic() < deadline, properties
        time.sleep(0.2)
    return properties


# the execution suite's scenarios, on Ray ------------------------------------------------------------


def test_walkthrough_step5_hello(ray_arm: httpx.Client, ray_workspace: dict, ray_cpu: str):
    scenarios.test_walkthrough_step5_hello(ray_arm, ray_workspace, ray_cpu)


def test_three_runs_queue_on_a_one_node_compute(ray_arm: httpx.Client, ray_workspace: dict):
    scenarios.test_three_runs_queue_on_a_one_node_compute(ray_arm, ray_workspace)


def test_time_limit_fails_the_run(ray_arm: httpx.Client, ray_workspace: dict, ray_cpu: str):
    scenarios.test_time_limit_fails_the_run(ray_arm, ray_workspace, ray_cpu)


def test_failing_script_carries_its_log_tail(ray_arm: httpx.Client, ray_workspace: dict, ray_cpu: str):
    scenarios.test_failing_script_carries_its_log_tail(ray_arm, ray_workspace, ray_cpu)


def test_cancel_running_and_queued(ray_arm: httpx.Client, ray_workspace: dict):
    scenarios.test_cancel_running_and_queued(ray_arm, ray_workspace)


def test_cancel_through_the_history_api(ray_arm: httpx.Client, ray_workspace: dict, ray_cpu: str):
    scenarios.test_cancel_through_the_history_api(ray_arm, ray_workspace, ray_cpu)


def test_failed_environment_build_fails_the_run(ray_arm: httpx.Client, ray_workspace: dict, ray_cpu: str):
    scenarios.test_failed_environment_build_fails_the_run(ray_arm, ray_workspace, ray_cpu)


def test_outputs_and_logs_are_kept(ray_arm: httpx.Client, ray_workspace: dict, ray_cpu: str):
    name = experiment()
    script = ("import os\nos.makedirs('outputs', exist_ok=True)\nos.makedirs('logs', exist_ok=True)\n"
              "open('outputs/model.txt', 'w').write('weights')\nopen('logs/train.log', 'w').write('epoch 1')\n"
              "print('cwd', os.getcwd())\n")
    run_id = start(ray_arm, ray_workspace["id"], name, project_zip({"train.py": script}),
                   definition("train.py", ray_cpu)).json()["runId"]
    url = run_url(ray_workspace["id"], name, run_id)
    assert wait_status(ray_arm, url)["status"] == "Completed"
    log = driver_log(ray_arm, ray_workspace["id"], run_id)
    assert "/runtime_resources/working_dir_files/" in log, f"the script did not run in a Ray job: {log}"
    paths = {a["path"] for a in ray_arm.get(f"{url}/artifacts").json()["value"]}
    assert {"outputs/model.txt", "logs/train.log", "azureml-logs/70_driver_log.txt"} <= paths
    link = ray_arm.get(f"{url}/artifacts/contentinfo/outputs/model.txt").json()["contentUri"]
    assert httpx.get(link).text == "weights"


def test_metrics_logged_from_inside_the_run(ray_arm: httpx.Client, ray_workspace: dict, ray_cpu: str):
    """The script reaches the server with the run's own token and variables, as azureml-core does."""
    name = experiment()
    script = ("import json, os, urllib.request\n"
              "e = os.environ\n"
              "ws = (f\"/subscriptions/{e['AZUREML_ARM_SUBSCRIPTION']}/resourceGroups/{e['AZUREML_ARM_RESOURCEGROUP']}\"\n"
              "      f\"/providers/Microsoft.MachineLearningServices/workspaces/{e['AZUREML_ARM_WORKSPACE_NAME']}\")\n"
              "values = [{'name': 'loss', 'columns': {'loss': 'Double'}, 'value': [\n"
              "    {'step': step, 'data': {'loss': 1.0 / (step + 1)}} for step in range(3)]}]\n"
              "request = urllib.request.Request(\n"
              "    f\"{e['AZUREML_SERVICE_ENDPOINT']}/metric/v2.0{ws}/runs/{e['AZUREML_RUN_ID']}/batch\",\n"
              "    data=json.dumps({'values': values}).encode(), method='POST',\n"
              "    headers={'Authorization': 'Bearer ' + e['AZUREML_RUN_TOKEN'], 'Content-Type': 'application/json'})\n"
              "print('metrics', urllib.request.urlopen(request).status)\n")
    run_id = start(ray_arm, ray_workspace["id"], name, project_zip({"metrics.py": script}),
                   definition("metrics.py", ray_cpu)).json()["runId"]
    run = wait_status(ray_arm, run_url(ray_workspace["id"], name, run_id))
    assert run["status"] == "Completed", (run.get("error"), driver_log(ray_arm, ray_workspace["id"], run_id))
    series = ray_arm.post(f"/metric/v2.0{ray_workspace['id']}/runs/{run_id}/full", json={"metricName": "loss"}).json()
    assert [point["data"]["loss"] for point in series["value"]] == [1.0, 0.5, 1.0 / 3]


# what only Ray has ----------------------------------------------------------------------------------


def test_node_counts_follow_the_clusters_live_nodes(ray_arm: httpx.Client, ray_workspace: dict):
    """The head holds two Standard_D1 nodes (2 CPUs, 8 GiB): a compute allowed 5 shows 2, all idle."""
    make_compute(ray_arm, ray_workspace, "wide", max_nodes=5)
    properties = wait_nodes(ray_arm, ray_workspace, "wide", 2)
    assert properties["nodeStateCounts"]["idleNodeCount"] + properties["nodeStateCounts"]["runningNodeCount"] == 2


def test_a_compute_can_choose_the_local_backend(ray_arm: httpx.Client, ray_server: Server, ray_workspace: dict):
    body = {"location": "westus2", "properties": {"computeType": "AmlCompute", "properties": {
        "vmSize": "Standard_D1", "scaleSettings": {"maxNodeCount": 1}, "amlite": {"backend": "local"}}}}
    response = ray_arm.put(f"{ray_workspace['id']}/computes/on-local?{ML_API}", json=body)
    assert response.status_code in (200, 201), response.text
    assert response.json()["properties"]["properties"]["amlite"] == {"backend": "local"}
    bad = {**body, "properties": {**body["properties"], "properties": {
        **body["properties"]["properties"], "amlite": {"backend": "slurm"}}}}
    assert ray_arm.put(f"{ray_workspace['id']}/computes/on-slurm?{ML_API}", json=bad).status_code == 400
    make_compute(ray_arm, ray_workspace, "on-local")  # waits for the provisioning
    name = experiment()
    run_id = start(ray_arm, ray_workspace["id"], name, project_zip({"where.py": WHERE}),
                   definition("where.py", "on-local")).json()["runId"]
    assert wait_status(ray_arm, run_url(ray_workspace["id"], name, run_id))["status"] == "Completed"
    assert str(ray_server.data_dir / "runs") in driver_log(ray_arm, ray_workspace["id"], run_id)


def test_two_nodes_one_rank_each(ray_arm: httpx.Client, ray_workspace: dict, ray_cpu: str, ray_cluster: RayCluster):
    ray_cluster.add_worker()
    try:
        name = experiment()
        script = WHERE + "os.makedirs('outputs', exist_ok=True)\nopen(f\"outputs/rank{os.environ['RANK']}.txt\", 'w')\n"
        run_id = start(ray_arm, ray_workspace["id"], name, project_zip({"where.py": script}),
                       definition("where.py", ray_cpu, node_count=2, communicator="Gloo")).json()["runId"]
        run = wait_status(ray_arm, run_url(ray_workspace["id"], name, run_id), seconds=180)
        assert run["status"] == "Completed", run.get("error")
        ranks = [driver_log(ray_arm, ray_workspace["id"], run_id, rank).split() for rank in (0, 1)]
        assert [words[:2] for words in ranks] == [["rank", "0"], ["rank", "1"]]
        assert ranks[0][2] == ranks[1][2] in (HEAD_HOST, WORKER_HOST), "MASTER_ADDR is rank 0's node"
        assert ranks[0][3] == ranks[1][3], "one MASTER_PORT for every rank"
        homes = {str(ray_cluster.head.temp_dir): "head", str(ray_cluster.worker.temp_dir): "worker"}
        placed = [next(node for folder, node in homes.items() if words[4].startswith(folder)) for words in ranks]
        assert sorted(placed) == ["head", "worker"], f"one rank per node: {ranks}"
        assert ranks[0][2] == (HEAD_HOST if placed[0] == "head" else WORKER_HOST)
        artifacts = ray_arm.get(f"{run_url(ray_workspace['id'], name, run_id)}/artifacts/path/outputs").json()
        assert [a["path"] for a in artifacts["value"]] == ["outputs/rank0.txt", "outputs/rank1.txt"]
    finally:
        ray_cluster.remove_worker()


def test_a_head_killed_mid_run_fails_the_run(ray_arm: httpx.Client, ray_workspace: dict, ray_cpu: str,
                                             ray_cluster: RayCluster):
    name = experiment()
    run_id = start(ray_arm, ray_workspace["id"], name, project_zip({"sleep.py": SLEEPER}),
                   definition("sleep.py", ray_cpu, arguments=[120])).json()["runId"]
    url = run_url(ray_workspace["id"], name, run_id)
    wait_status(ray_arm, url, ("Running",), seconds=120)
    ray_cluster.head.kill()
    try:
        run = wait_status(ray_arm, url, seconds=60)
        assert run["status"] == "Failed"
        assert run["error"]["error"]["code"] == "NodeLost"
        assert "Ray" in run["error"]["error"]["message"], run["error"]
        wait_nodes(ray_arm, ray_workspace, ray_cpu, 0)  # no live nodes
    finally:
        ray_cluster.start()  # the same address and token: the server finds its cluster again
    after = start(ray_arm, ray_workspace["id"], name, project_zip({"where.py": WHERE}),
                  definition("where.py", ray_cpu)).json()["runId"]
    assert wait_status(ray_arm, run_url(ray_workspace["id"], name, after), seconds=120)["status"] == "Completed"


def test_serve_ray_local_starts_and_stops_its_head(ray_cluster: RayCluster, tmp_path: Path):
    """`amlite serve --ray-local` runs a head of its own (the session's is stopped meanwhile: one head at a time)."""
    ray_cluster.stop()
    try:
        server = Server(tmp_path, Backend.sqlite(), env={
            "AMLITE_RAY_LOCAL": "true", "AMLITE_RAY_EXECUTABLE": ray_executable(), "AMLITE_RAY_LOCAL_CPUS": "1",
            "AMLITE_RAY_ENV_CACHE": str(tmp_path / "ray-envs")}).start()
        try:
            address = next(line.split(" at ")[1].split()[0] for line in server.output().splitlines()
                           if line.startswith("Ray: computes run on the local head"))
            with server.client() as client:
                workspace = create_workspace(client, server.credentials["subscriptionId"], "local-rg", "local-ws")
                compute = make_compute(client, workspace, "one")
                run_id = start(client, workspace["id"], "local", project_zip({"where.py": WHERE}),
                               definition("where.py", compute)).json()["runId"]
                assert wait_status(client, run_url(workspace["id"], "local", run_id))["status"] == "Completed"
                assert "/runtime_resources/working_dir_files/" in driver_log(client, workspace["id"], run_id)
        finally:
            server.stop()
        with pytest.raises(httpx.TransportError):
            httpx.get(f"{address}/api/version", timeout=5)
    finally:
        ray_cluster.start()
