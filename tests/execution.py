"""Helpers for execution tests: project zips, run definitions, startrun, waiting for a status."""

from __future__ import annotations

import io
import json
import sys
import time
import zipfile

import httpx

from tests.resources import wait_for

TERMINAL = ("Completed", "Failed", "Canceled")
ML_API = "api-version=2019-11-01"


def project_zip(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return buffer.getvalue()


def definition(script: str, target: str, *, arguments: list | None = None, max_seconds: int | None = None,
               node_count: int = 1, environment: dict | None = None, communicator: str = "None") -> dict:
    """A PascalCase run definition, as the how-to posts it; by default it runs this test's Python."""
    environment = environment or {"Python": {"InterpreterPath": sys.executable, "UserManagedDependencies": True}}
    configuration = {"Script": script, "Arguments": arguments or [], "Target": target, "NodeCount": node_count,
                     "Framework": "Python", "Communicator": communicator, "Environment": environment,
                     "History": {"OutputCollection": True}}
    if max_seconds is not None:
        configuration["MaxRunDurationSeconds"] = max_seconds
    return {"Configuration": configuration}


def start(client: httpx.Client, workspace_id: str, experiment: str, zip_bytes: bytes, run_definition: dict,
          run_id: str | None = None) -> httpx.Response:
    url = f"/execution/v1.0{workspace_id}/experiments/{experiment}/startrun"
    return client.post(url, params={"runId": run_id} if run_id else None, files={
        "projectZipFile": ("project.zip", zip_bytes, "application/zip"),
        "runDefinitionFile": ("definition.json", json.dumps(run_definition), "application/json"),
    })


def run_url(workspace_id: str, experiment: str, run_id: str) -> str:
    return f"/history/v1.0{workspace_id}/experiments/{experiment}/runs/{run_id}"


def wait_status(client: httpx.Client, url: str, wanted: tuple[str, ...] = TERMINAL, seconds: float = 120) -> dict:
    deadline = time.monotonic() + seconds
    while True:
        run = client.get(url).json()
        if run["status"] in wanted:
            return run
        assert time.monotonic() < deadline, f"run still {run['status']} after {seconds}s"
        time.sleep(0.2)


def driver_log(client: httpx.Client, workspace_id: str, run_id: str, rank: int = 0) -> str:
    name = "70_driver_log.txt" if rank == 0 else f"70_driver_log_{rank}.txt"
    response = client.get(f"/history/v1.0{workspace_id}/runs/{run_id}/logs/azureml-logs/{name}")
    return response.text if response.status_code == 200 else ""


def make_compute(client: httpx.Client, workspace: dict, name: str, max_nodes: int = 1, idle: str = "PT30M") -> str:
    """An AmlCompute cluster (Standard_D1, scaling from 0) in the workspace, provisioned."""
    body = {"location": "westus2", "properties": {"computeType": "AmlCompute", "properties": {
        "vmSize": "Standard_D1", "vmPriority": "Dedicated",
        "scaleSettings": {"maxNodeCount": max_nodes, "minNodeCount": 0, "nodeIdleTimeBeforeScaleDown": idle}}}}
    response = client.put(f"{workspace['id']}/computes/{name}?{ML_API}", json=body)
    if response.status_code == 201:
        assert wait_for(client, response.headers["Azure-AsyncOperation"]).json()["status"] == "Succeeded"
    return name
