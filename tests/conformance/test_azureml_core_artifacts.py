"""azureml-core as the judge of artifacts: a submitted script uploads a file with ``run.upload_file``,
lists the run's files and downloads it back.

The SDK does not use the upload link as given: it rebuilds ``https://{account}.blob.{suffix}`` from it
and talks the Azure Blob protocol there. The server runs with ``AMLITE_BLOB_HOST_SUFFIX`` and https, and
inside the run those host names resolve to it (amlite/compute/runtime/sitecustomize.py).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import POSTGRES_URL
from tests.conformance.sdk_venv import sdk_python
from tests.execution import definition, driver_log, make_compute, project_zip, run_url, start, wait_status
from tests.resources import create_workspace
from tests.sdk import AZUREML_CORE, BLOB_SUFFIX, blob_host_server
from tests.server import Backend, Server

PAYLOAD_BYTES = 3 * 1024 * 1024 + 17  # more than one 1 MiB chunk, not a round number

SCRIPT = f"""
import hashlib
from azureml.core import Run

run = Run.get_context(allow_offline=False)
payload = bytes(i % 251 for i in range({PAYLOAD_BYTES}))
with open("payload.bin", "wb") as out:
    out.write(payload)
run.upload_file("uploads/payload.bin", "payload.bin")
print("NAMES", sorted(run.get_file_names()))
run.download_file("uploads/payload.bin", "back.bin")
with open("back.bin", "rb") as back:
    print("SAME", back.read() == payload)
print("MD5", hashlib.md5(payload).hexdigest())
"""


@pytest.fixture(scope="module")
def blob_server(backend: Backend, tmp_path_factory) -> Iterator[Server]:
    with blob_host_server(backend, tmp_path_factory.mktemp(f"amlite-blobhosts-{backend.name}"), POSTGRES_URL) as running:
        yield running


def test_upload_file_list_and_download_in_a_run(blob_server: Server):
    python = str(sdk_python(AZUREML_CORE))
    with blob_server.client() as client:
        workspace = create_workspace(client, blob_server.credentials["subscriptionId"], "blob-rg", "blob-ws")
        compute = make_compute(client, workspace, "sdk-files")
        environment = {"Python": {"InterpreterPath": python, "UserManagedDependencies": True}}
        response = start(client, workspace["id"], "sdk-files", project_zip({"train.py": SCRIPT}),
                         definition("train.py", compute, environment=environment))
        run_id = response.json()["runId"]
        run = wait_status(client, run_url(workspace["id"], "sdk-files", run_id), seconds=300)
        log = driver_log(client, workspace["id"], run_id)
        assert run["status"] == "Completed", (run.get("error"), log)
        assert "SAME True" in log, log
        assert "'uploads/payload.bin'" in log.split("NAMES", 1)[1].splitlines()[0], log

        container = run["dataContainerId"]
        content = client.get(f"/artifact/v2.0{workspace['id']}/artifacts/content/ExperimentRun/{container}"
                             "/uploads/payload.bin")
        assert content.status_code == 200
        assert len(content.content) == PAYLOAD_BYTES
        assert hashlib.md5(content.content).hexdigest() in log


def test_blob_host_names_reach_the_blob_endpoint(blob_server: Server):
    """A blob host name that the server does not know as an account answers in Azure Storage's shape,
    not as an API route: the Host header alone picks the blob endpoint."""
    response = httpx.get(f"{blob_server.base_url}/azureml/some/blob.txt", verify=blob_server.verify,
                         headers={"Host": f"nosuchaccount.blob.{BLOB_SUFFIX}:{blob_server.port}"})
    assert response.status_code in (403, 404)
    assert response.headers["content-type"].startswith("application/xml")
