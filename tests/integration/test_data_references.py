"""Runs use datastores: a run definition's ``DataReferences`` (download mode) are fetched into the run's
working directory before the script starts, and the script finds them where ``$AZUREML_DATAREFERENCE_x``
says, in its arguments and in its environment."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest
from azure.storage.blob import BlobServiceClient

from tests.azurite import ACCOUNT, KEY, Azurite
from tests.execution import definition, driver_log, make_compute, project_zip, run_url, start, wait_status
from tests.server import Backend, Server

SCRIPT = """
import os, sys
root = sys.argv[1]
assert root == os.environ["AZUREML_DATAREFERENCE_training"], (root, os.environ.get("AZUREML_DATAREFERENCE_training"))
for folder, _, files in sorted(os.walk(root)):
    for name in sorted(files):
        path = os.path.join(folder, name)
        print("FILE", os.path.relpath(path, root), open(path).read())
"""


@pytest.fixture(scope="module")
def azurite(backend: Backend, tmp_path_factory) -> Iterator[Azurite]:
    started = Azurite(tmp_path_factory.mktemp("azurite-data")).start()
    yield started
    started.stop()


@pytest.fixture(scope="module")
def compute(server: Server, workspace: dict) -> str:
    with server.client() as client:
        return make_compute(client, workspace, "data-compute")


def _datastore(client: httpx.Client, workspace: dict, name: str, azurite: Azurite, container: str) -> None:
    body = {"name": name, "dataStoreType": "AzureBlob", "azureStorageSection": {
        "accountName": ACCOUNT, "containerName": container, "endpoint": f"127.0.0.1:{azurite.port}",
        "protocol": "http", "credentialType": "AccountKey", "credential": KEY}}
    response = client.post(f"/datastore/v1.0{workspace['id']}/datastores", json=body,
                           params={"createIfNotExists": "true"})
    assert response.status_code == 200, response.text


def _run_with(client: httpx.Client, workspace: dict, compute: str, references: dict) -> tuple[dict, str]:
    run_definition = definition("read.py", compute, arguments=["$AZUREML_DATAREFERENCE_training"])
    run_definition["Configuration"]["DataReferences"] = references
    experiment = f"data-{uuid.uuid4().hex[:6]}"
    response = start(client, workspace["id"], experiment, project_zip({"read.py": SCRIPT}), run_definition)
    assert response.status_code == 200, response.text
    run_id = response.json()["runId"]
    run = wait_status(client, run_url(workspace["id"], experiment, run_id))
    return run, driver_log(client, workspace["id"], run_id)


def test_download_from_an_azure_blob_datastore(arm: httpx.Client, workspace: dict, compute: str, azurite: Azurite):
    container = f"data{uuid.uuid4().hex[:8]}"
    _datastore(arm, workspace, "remote_training", azurite, container)
    blobs = BlobServiceClient(f"http://127.0.0.1:{azurite.port}/{ACCOUNT}",
                              credential={"account_name": ACCOUNT, "account_key": KEY}).get_container_client(container)
    blobs.upload_blob("train/a.csv", b"1,2")
    blobs.upload_blob("train/nested/b.csv", b"3,4")
    blobs.upload_blob("train2/ignored.csv", b"no")  # shares the prefix 'train' but is another folder

    run, log = _run_with(arm, workspace, compute, {"training": {
        "DataStoreName": "remote_training", "Mode": "Download", "PathOnDataStore": "train"}})
    assert run["status"] == "Completed", (run.get("error"), log)
    assert "FILE a.csv 1,2" in log
    assert "FILE nested/b.csv 3,4" in log
    assert "ignored" not in log


def test_download_from_a_storage_account_of_this_server(server: Server, arm: httpx.Client, workspace: dict,
                                                       compute: str):
    """The workspace's own blob store is a container of its storage account in amlite's artifact store;
    on the file store that is a folder under the data dir, where files dropped in are the datastore's."""
    store = arm.get(f"/datastore/v1.0{workspace['id']}/datastores/workspaceblobstore").json()
    section = store["azureStorageSection"]
    folder = server.data_dir / "storage" / section["accountName"] / section["containerName"] / "inputs"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "x.txt").write_text("local bytes")

    run, log = _run_with(arm, workspace, compute, {"training": {
        "DataStoreName": "workspaceblobstore", "Mode": "Mount", "PathOnDataStore": "inputs",
        "PathOnCompute": "mydata"}})
    assert run["status"] == "Completed", (run.get("error"), log)
    assert "FILE x.txt local bytes" in log


@pytest.mark.parametrize("reference, message", [
    ({"DataStoreName": "no_such_store", "Mode": "Download"}, "no_such_store"),
    ({"DataStoreName": "workspaceblobstore", "Mode": "Upload"}, "mode 'Upload' is not supported"),
    ({"DataStoreName": "workspaceblobstore", "Mode": "Download", "PathOnCompute": "../outside"}, "PathOnCompute"),
    ({"DataStoreName": "workspaceblobstore", "Mode": "Download", "PathOnDataStore": "a/../../b"}, "not a valid"),
])
def test_bad_data_references_are_refused_at_submission(arm: httpx.Client, workspace: dict, compute: str,
                                                      reference: dict, message: str):
    run_definition = definition("read.py", compute)
    run_definition["Configuration"]["DataReferences"] = {"training": reference}
    response = start(arm, workspace["id"], "data-bad", project_zip({"read.py": SCRIPT}), run_definition)
    assert response.status_code in (400, 404), response.text
    assert message in response.json()["error"]["message"]
