"""Helpers for scoring-service tests: an entry script uploaded as an artifact, a deployment posted as
azureml-core posts it, its operation followed to the end, and the processes a test server's services run."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
import uuid
from pathlib import Path

import httpx

from tests.integration.test_registry import API, mms, upload
from tests.server import processes_under

TERMINAL = ("Succeeded", "Failed", "Cancelled", "TimedOut")
# The test's own interpreter: the services' environments need nothing else (the worker is standard library).
THIS_PYTHON = {"python": {"userManagedDependencies": True, "interpreterPath": sys.executable}}


def entry_script(client: httpx.Client, workspace: dict, text: str, name: str = "score.py") -> dict:
    """The script as an asset of a deployment: ``{id, url, mimeType}`` (what InferenceConfig sends)."""
    container = f"{uuid.uuid4().hex[:8]}"
    upload(client, workspace, "LocalUpload", container, name, text.encode())
    artifact_id = f"LocalUpload/{container}/{name}"
    return {"id": artifact_id, "url": f"aml://artifact/{artifact_id}", "mimeType": "application/x-python"}


def deployment(client: httpx.Client, workspace: dict, name: str, script: str, model_ids: list[str], *,
               environment: dict | None = None, compute_type: str = "ACI", **extra) -> dict:
    """A CreateServiceRequest body with the script as its driverProgram."""
    request = {"driverProgram": "score.py", "assets": [entry_script(client, workspace, script)],
               "modelIds": model_ids, "environment": environment or THIS_PYTHON}
    return {"name": name, "computeType": compute_type, "authEnabled": True, "environmentImageRequest": request,
            "containerResourceRequirements": {"cpu": 1, "memoryInGB": 1}, **extra}


def create(client: httpx.Client, workspace: dict, body: dict) -> str:
    """POST the service; answers the Operation-Location to poll."""
    response = client.post(f"{mms(workspace)}/services", params=API, json=body)
    assert response.status_code == 202, response.text
    return response.headers["Operation-Location"]


def wait_operation(client: httpx.Client, location: str, seconds: float = 300) -> dict:
    """Poll ``GET {base}/operations/{id}`` (the id is the last segment, as the SDK does) until it ends."""
    url = f"{location.split('/operations/')[0]}/operations/{location.rsplit('/', 1)[-1].split('?')[0]}"
    deadline = time.monotonic() + seconds
    while True:
        response = client.get(url, params=API)
        assert response.status_code == 200, response.text
        if response.json()["state"] in TERMINAL:
            return response.json()
        assert time.monotonic() < deadline, f"operation still {response.json()['state']} after {seconds}s"
        time.sleep(0.2)


def deploy(client: httpx.Client, workspace: dict, body: dict) -> dict:
    """Create a service and wait for it: answers the service (its deployment must have succeeded)."""
    operation = wait_operation(client, create(client, workspace, body))
    assert operation["state"] == "Succeeded", operation
    return service(client, workspace, body["name"])


def service(client: httpx.Client, workspace: dict, name: str) -> dict:
    response = client.get(f"{mms(workspace)}/services/{name}", params=API)
    assert response.status_code == 200, response.text
    return response.json()


def keys(client: httpx.Client, workspace: dict, name: str) -> dict:
    response = client.post(f"{mms(workspace)}/services/{name}/listkeys", params=API)
    assert response.status_code == 200, response.text
    return response.json()


def score(uri: str, key: str | None, body: str | bytes | dict) -> httpx.Response:
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {key}"} if key else {})}
    content = body if isinstance(body, (str, bytes)) else None
    return httpx.post(uri, headers=headers, content=content, json=None if content is not None else body, timeout=60)


def wait_state(client: httpx.Client, workspace: dict, name: str, wanted: str, seconds: float = 120) -> dict:
    deadline = time.monotonic() + seconds
    while True:
        found = service(client, workspace, name)
        if found["state"] == wanted:
            return found
        assert time.monotonic() < deadline, f"service still {found['state']} after {seconds}s"
        time.sleep(0.1)


def delete(client: httpx.Client, workspace: dict, name: str) -> None:
    response = client.delete(f"{mms(workspace)}/services/{name}", params=API)
    assert response.status_code == 200, response.text


def stop_scoring(data_dir: Path) -> None:
    """End the scoring front and replicas of a test server's data dir: they outlive servers by design
    (call it once the server is stopped, or has no service left: its supervisor restarts a front it needs)."""
    for folder in (data_dir / "services", data_dir / "scoring"):
        for pid in processes_under(folder):
            if pid != os.getpid():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
