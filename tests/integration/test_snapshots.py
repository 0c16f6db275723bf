"""Content snapshots: a project uploaded once (as azureml-core's content/v1.0 and v2.0 calls send it)
and run many times with snapshotrun; azureml-core 1.61 itself judges its snapshot calls and a
``submit_child`` that goes through snapshotrun."""

from __future__ import annotations

import hashlib
import io
import json
import os
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conformance.sdk_venv import sdk_python
from tests.conftest import POSTGRES_URL
from tests.execution import definition, driver_log, make_compute, project_zip, run_url, start, wait_status
from tests.resources import create_workspace
from tests.sdk import AZUREML_CORE, blob_host_server
from tests.server import Backend, Server

NIL = "00000000-0000-0000-0000-000000000000"
PROJECT = {
    "train.py": "import sys\nfrom pkg.util import greet\nprint(greet(open('data/input.csv').read().strip()), "
                "*sys.argv[1:])\n",
    "pkg/__init__.py": "",
    "pkg/util.py": "def greet(name):\n    return f'hello from the snapshot, {name}'\n",
    "data/input.csv": "alice",
    "data/raw/big.bin": bytes(range(256)) * 5000,
}


# --- the SDK's side ------------------------------------------------------------------------------

def write_project(folder: Path, files: dict[str, str | bytes]) -> Path:
    for name, content in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode() if isinstance(content, str) else content)
    (folder / "empty").mkdir(exist_ok=True)
    return folder


def sdk_tree(path: Path, name: str = "") -> tuple[dict, bytes]:
    """The tree azureml-core builds (merkle_tree.create_merkletree), children as a list, as the v1.0
    upload serialises it; and its digest."""
    stamp = "2024-05-01T10:00:00.000001"
    if path.is_file():
        digest = hashlib.sha512(path.read_bytes() + name.encode() + b"File")
        return {"name": name, "type": "File", "hash": digest.hexdigest(), "timestamp": stamp, "children": []}, \
            digest.digest()
    children, digest = [], hashlib.sha512()
    for child in sorted(os.listdir(path)):
        node, child_digest = sdk_tree(path / child, child)
        children.append(node)
        digest.update(child_digest)
    return {"name": name, "type": "Directory", "hash": digest.hexdigest(), "timestamp": stamp,
            "children": children}, digest.digest()


def tree_files(node: dict, prefix: str = "") -> dict[str, dict]:
    children = node["children"].values() if isinstance(node["children"], dict) else node["children"]
    found = {}
    for child in children:
        path = f"{prefix}/{child['name']}" if prefix else child["name"]
        found.update({path: child} if child["type"] == "File" else tree_files(child, path))
    return found


def create_v1(client: httpx.Client, workspace_id: str, folder: Path, paths: list[str] | None = None,
              parent: str | None = None, snapshot_id: str | None = None) -> tuple[str, httpx.Response]:
    """POST content/v1.0 .../snapshots/{id} as azureml-core 1.0.x does: each file a ``files`` part named
    by its path, the tree a ``files`` part named ``dirTreeRootFile``, the git properties a field."""
    snapshot_id = snapshot_id or str(uuid.uuid4())
    tree, _ = sdk_tree(folder)
    paths = paths if paths is not None else sorted(tree_files(tree))
    files = [("files", (path, (folder / path).read_bytes())) for path in paths]
    files.append(("files", ("dirTreeRootFile", json.dumps(tree), "application/json", {"dirTreeRootFile": "true"})))
    response = client.post(f"/content/v1.0{workspace_id}/snapshots/{snapshot_id}",
                           params={"parentSnapshotId": parent or NIL}, files=files,
                           data={"properties": json.dumps({"azureml.git.dirty": "False"})})
    return snapshot_id, response


def metadata(client: httpx.Client, workspace_id: str, snapshot_id: str) -> dict:
    response = client.get(f"/content/v1.0{workspace_id}/snapshots/{snapshot_id}/metadata")
    assert response.status_code == 200, response.text
    return response.json()


def sas_files(client: httpx.Client, workspace_id: str, snapshot_id: str) -> dict[str, bytes]:
    """Every file of a snapshot, downloaded through the links of .../sas (no token: the link is signed)."""
    response = client.get(f"/content/v1.0{workspace_id}/snapshots/{snapshot_id}/sas")
    assert response.status_code == 200, response.text
    return {path: httpx.get(node["sasUrl"]).raise_for_status().content
            for path, node in tree_files(response.json()).items()}


def expected(files: dict[str, str | bytes]) -> dict[str, bytes]:
    return {name: content.encode() if isinstance(content, str) else content for name, content in files.items()}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return write_project(tmp_path / "project", PROJECT)


# --- creating and reading ------------------------------------------------------------------------

def test_create_from_a_directory_tree_as_the_sdk_sends_it(arm: httpx.Client, workspace: dict, project: Path):
    snapshot_id, response = create_v1(arm, workspace["id"], project)
    assert response.status_code == 200, response.text

    snapshot = metadata(arm, workspace["id"], snapshot_id)
    assert snapshot["id"] == snapshot_id
    sdk_root, _ = sdk_tree(project)
    assert snapshot["root"]["hash"] == sdk_root["hash"], "the server hashes as the SDK does, so its diffs agree"
    stored = tree_files(snapshot["root"])
    assert sorted(stored) == sorted(PROJECT)
    for path, node in tree_files(sdk_root).items():
        assert stored[path]["hash"] == node["hash"] and stored[path]["sizeBytes"] == (project / path).stat().st_size
        assert stored[path]["children"] == {}
    assert snapshot["root"]["children"]["empty"] == {**snapshot["root"]["children"]["empty"], "type": "Directory",
                                                     "children": {}}
    assert snapshot["properties"] == {"azureml.git.dirty": "False"}

    latest = arm.get(f"/content/v1.0{workspace['id']}/snapshots/latest/metadata")
    assert latest.status_code == 200 and latest.json()["id"] == snapshot_id


def test_files_come_back_identical(arm: httpx.Client, workspace: dict, project: Path):
    snapshot_id, response = create_v1(arm, workspace["id"], project)
    assert response.status_code == 200, response.text
    assert sas_files(arm, workspace["id"], snapshot_id) == expected(PROJECT)

    link = arm.get(f"/content/v1.0{workspace['id']}/snapshots/{snapshot_id}")
    assert link.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(httpx.get(link.json()).raise_for_status().content))
    assert {name: archive.read(name) for name in archive.namelist() if not name.endswith("/")} == expected(PROJECT)
    assert "empty/" in archive.namelist()
    location = arm.get(f"/content/v1.0{workspace['id']}/snapshots/{snapshot_id}/fileslocation").json()
    assert location.split("?")[0] == link.json().split("?")[0]  # the same zip (each link has its own expiry)


def test_a_child_snapshot_sends_only_what_changed(arm: httpx.Client, workspace: dict, project: Path):
    parent_id, _ = create_v1(arm, workspace["id"], project)
    (project / "pkg" / "util.py").write_text("def greet(name):\n    return f'changed, {name}'\n")
    (project / "data" / "input.csv").unlink()
    (project / "notes.txt").write_text("new file")
    child_id, response = create_v1(arm, workspace["id"], project, ["notes.txt", "pkg/util.py"], parent=parent_id)
    assert response.status_code == 200, response.text

    files = sas_files(arm, workspace["id"], child_id)
    assert sorted(files) == ["data/raw/big.bin", "notes.txt", "pkg/__init__.py", "pkg/util.py", "train.py"]
    assert files["pkg/util.py"] == (project / "pkg" / "util.py").read_bytes()
    assert files["data/raw/big.bin"] == PROJECT["data/raw/big.bin"]
    assert metadata(arm, workspace["id"], child_id)["parentSnapshotId"] == parent_id
    assert sas_files(arm, workspace["id"], parent_id) == expected(PROJECT), "the parent is unchanged"


def test_the_v2_flow_of_azureml_core(arm: httpx.Client, workspace: dict, project: Path):
    """getblob hands out blob links, the files go there with Azure's Put Blob, then the snapshot names them."""
    base = f"/content/v2.0{workspace['id']}/snapshots"
    paths = sorted(PROJECT)
    links = arm.post(f"{base}/getblob", json={"FileNames": paths})
    assert links.status_code == 200, links.text
    nodes = links.json()["fileNodes"]
    assert [node["fullName"] for node in nodes] == paths
    for node in nodes:
        put = httpx.put(node["blobUri"], content=(project / node["fullName"]).read_bytes(),
                        headers={"x-ms-blob-type": "BlockBlob"})
        assert put.status_code == 201, put.text
    tree, _ = sdk_tree(project)
    snapshot_id = str(uuid.uuid4())
    body = {"ParentSnapshotId": None, "Tags": None, "Properties": {}, "DirTreeNode": tree,
            "FileRevisionList": {"FileNodes": [{"FullName": node["fullName"], "BlobUri": node["blobUri"],
                                                "FileSize": (project / node["fullName"]).stat().st_size}
                                               for node in nodes]}}
    created = arm.post(f"{base}/{snapshot_id}", json=body)
    assert created.status_code == 200, created.text
    assert sas_files(arm, workspace["id"], snapshot_id) == expected(PROJECT)

    zipped = arm.post(f"{base}/{snapshot_id}/zip")
    assert zipped.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(httpx.get(zipped.json()["zipSasUri"]).raise_for_status().content))
    assert archive.read("train.py") == PROJECT["train.py"].encode()


def test_latest_of_a_workspace_without_snapshots_is_empty(arm: httpx.Client, subscription: str):
    fresh = create_workspace(arm, subscription, "snap-rg", "snap-empty")
    response = arm.get(f"/content/v1.0{fresh['id']}/snapshots/latest/metadata")
    assert response.status_code == 200
    assert response.json() == {"id": NIL, "root": {}}


def test_delete(arm: httpx.Client, workspace: dict, project: Path):
    snapshot_id, _ = create_v1(arm, workspace["id"], project)
    link = arm.get(f"/content/v1.0{workspace['id']}/snapshots/{snapshot_id}/sas").json()["children"]["train.py"]
    assert arm.delete(f"/content/v1.0{workspace['id']}/snapshots/{snapshot_id}").status_code == 200
    missing = arm.get(f"/content/v1.0{workspace['id']}/snapshots/{snapshot_id}/metadata")
    assert missing.status_code == 404 and snapshot_id in missing.json()["error"]["message"]
    assert httpx.get(link["sasUrl"]).status_code == 404


def test_meta_probes(arm: httpx.Client):
    assert arm.get("/content/v1.0/meta/alive").status_code == 200
    assert arm.get("/content/v1.0/meta/ping").status_code == 200
    assert arm.get("/content/v1.0/meta/version").json()["version"]


# --- bad input -----------------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["../evil.py", "/etc/evil.py", "a/../../evil.py", "C:/evil.py", "a\\evil.py"])
def test_bad_paths_are_refused(arm: httpx.Client, workspace: dict, path: str):
    response = arm.post(f"/content/v1.0{workspace['id']}/snapshots/{uuid.uuid4()}",
                        files=[("files", (path, b"print('escaped')"))])
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "InvalidSnapshot"
    assert path in response.json()["error"]["message"]


def test_a_tree_naming_a_parent_folder_is_refused(arm: httpx.Client, workspace: dict):
    tree = {"name": "", "type": "Directory", "children": [{"name": "..", "type": "Directory", "children": []}]}
    response = arm.post(f"/content/v1.0{workspace['id']}/snapshots/{uuid.uuid4()}",
                        files=[("files", ("dirTreeRootFile", json.dumps(tree), "application/json"))])
    assert response.status_code == 400
    assert "'..' is not a valid snapshot path" in response.json()["error"]["message"]


def test_getblob_refuses_bad_paths(arm: httpx.Client, workspace: dict):
    response = arm.post(f"/content/v2.0{workspace['id']}/snapshots/getblob", json={"FileNames": ["ok.py", "../x"]})
    assert response.status_code == 400
    assert "'../x'" in response.json()["error"]["message"]


def test_snapshot_ids_are_uuids_and_unique(arm: httpx.Client, workspace: dict, project: Path):
    _, bad = create_v1(arm, workspace["id"], project, ["train.py"], snapshot_id="not-a-uuid")
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "InvalidSnapshotId"
    snapshot_id, _ = create_v1(arm, workspace["id"], project)
    _, again = create_v1(arm, workspace["id"], project, snapshot_id=snapshot_id)
    assert again.status_code == 409


def test_an_unknown_parent_is_refused(arm: httpx.Client, workspace: dict, project: Path):
    parent = str(uuid.uuid4())
    _, response = create_v1(arm, workspace["id"], project, parent=parent)
    assert response.status_code == 404
    assert parent in response.json()["error"]["message"]


@pytest.fixture(scope="module")
def small_server(backend: Backend, tmp_path_factory) -> Iterator[Server]:
    """A server whose snapshots hold at most 3 files and 1000 bytes."""
    store = Backend.postgresql(POSTGRES_URL) if backend.name == "postgresql" else Backend.sqlite()
    try:
        running = Server(tmp_path_factory.mktemp(f"amlite-small-snapshots-{backend.name}"), store, env={
            "AMLITE_SNAPSHOT_MAX_FILES": "3", "AMLITE_SNAPSHOT_MAX_BYTES": "1000"}).start()
        yield running
        running.stop()
    finally:
        store.drop()


def test_limits(small_server: Server):
    with small_server.client() as client:
        workspace = create_workspace(client, small_server.credentials["subscriptionId"], "small-rg", "small-ws")
        url = f"/content/v1.0{workspace['id']}/snapshots"
        too_big = client.post(f"{url}/{uuid.uuid4()}", files=[("files", ("big.bin", b"x" * 1001))])
        assert too_big.status_code == 413, too_big.text
        assert "limit of 1000 bytes" in too_big.json()["error"]["message"]
        too_many = client.post(f"{url}/{uuid.uuid4()}", files=[("files", (f"f{i}.py", b"")) for i in range(4)])
        assert too_many.status_code == 400, too_many.text
        assert "limit of 3" in too_many.json()["error"]["message"]
        body = client.post(f"{url}/{uuid.uuid4()}", files=[("files", (f"f{i}.py", b"x" * 100)) for i in range(40)])
        assert body.status_code in (400, 413)
        assert client.get(f"{url}/latest/metadata").json()["id"] == NIL, "nothing was kept"


# --- running -------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def cpu(server: Server, workspace: dict) -> str:
    with server.client() as client:
        return make_compute(client, workspace, "snap-compute", max_nodes=2)


def snapshotrun(client: httpx.Client, workspace_id: str, experiment: str, run_definition: dict) -> httpx.Response:
    return client.post(f"/execution/v1.0{workspace_id}/experiments/{experiment}/snapshotrun", json=run_definition)


def test_a_snapshot_runs_twice(arm: httpx.Client, workspace: dict, cpu: str, project: Path):
    snapshot_id, response = create_v1(arm, workspace["id"], project)
    assert response.status_code == 200, response.text
    experiment = f"snap-{uuid.uuid4().hex[:8]}"
    run_ids = []
    for argument in ("first", "second"):
        run_definition = {**definition("train.py", cpu, arguments=[argument]), "SnapshotId": snapshot_id}
        started = snapshotrun(arm, workspace["id"], experiment, run_definition)
        assert started.status_code == 200, started.text
        run_ids.append(started.json()["runId"])
    assert run_ids[0] != run_ids[1]
    for run_id, argument in zip(run_ids, ("first", "second")):
        run = wait_status(arm, run_url(workspace["id"], experiment, run_id))
        assert run["status"] == "Completed", run.get("error")
        assert run["properties"]["ContentSnapshotId"] == snapshot_id
        assert f"hello from the snapshot, alice {argument}" in driver_log(arm, workspace["id"], run_id)
    assert sas_files(arm, workspace["id"], snapshot_id) == expected(PROJECT), "runs leave the snapshot as it was"


def test_snapshotrun_with_an_unknown_or_missing_snapshot(arm: httpx.Client, workspace: dict, cpu: str):
    unknown = str(uuid.uuid4())
    response = snapshotrun(arm, workspace["id"], "snap-missing", {**definition("train.py", cpu), "SnapshotId": unknown})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "SnapshotNotFound"
    assert f"Snapshot '{unknown}' was not found" in response.json()["error"]["message"]
    response = snapshotrun(arm, workspace["id"], "snap-missing", definition("train.py", cpu))
    assert response.status_code == 400
    assert "SnapshotId" in response.json()["error"]["message"]
    response = snapshotrun(arm, workspace["id"], "snap-missing", {**definition("train.py", cpu), "SnapshotId": "x"})
    assert response.status_code == 400


def test_snapshotrun_needs_the_script_in_the_snapshot(arm: httpx.Client, workspace: dict, cpu: str, project: Path):
    snapshot_id, _ = create_v1(arm, workspace["id"], project)
    response = snapshotrun(arm, workspace["id"], "snap-noscript",
                           {**definition("nope.py", cpu), "SnapshotId": snapshot_id})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "ScriptNotFound"


def test_startrun_records_its_project_as_a_snapshot(arm: httpx.Client, workspace: dict, cpu: str):
    files = {"hello.py": "print('hi')\n", "lib/data.txt": "some data"}
    response = start(arm, workspace["id"], "snap-startrun", project_zip(files), definition("hello.py", cpu))
    assert response.status_code == 200, response.text
    run = arm.get(run_url(workspace["id"], "snap-startrun", response.json()["runId"])).json()
    snapshot_id = run["properties"]["ContentSnapshotId"]
    assert sas_files(arm, workspace["id"], snapshot_id) == expected(files)
    wait_status(arm, run_url(workspace["id"], "snap-startrun", run["runId"]))


# --- azureml-core as the judge -------------------------------------------------------------------

SDK_SCRIPT = """
import os, shutil, sys, tempfile, zipfile
from azureml.core import Run

run = Run.get_context(allow_offline=False)
snapshots = run._client.snapshots
home = os.environ["HOME"] = tempfile.mkdtemp()  # the SDK caches the latest snapshot's tree under HOME
project = os.path.join(home, "project")
files = {"main.py": "print('hi')\\n", "pkg/mod.py": "X = 1\\n", "data/blob.bin": bytes(range(256)) * 4000}
for name, content in files.items():
    os.makedirs(os.path.dirname(os.path.join(project, name)), exist_ok=True)
    with open(os.path.join(project, name), "wb") as out:
        out.write(content.encode() if isinstance(content, str) else content)

first = snapshots.create_snapshot(project)
print("FIRST", first, flush=True)
shutil.rmtree(os.path.join(home, ".azureml", ".projectcontent"))
print("AGAIN", snapshots.create_snapshot(project), flush=True)  # diffed against latest/metadata: no change
with open(os.path.join(project, "pkg", "mod.py"), "w") as out:
    out.write("X = 2\\n")
second = snapshots.create_snapshot(project)
print("SECOND", second, flush=True)
with zipfile.ZipFile(snapshots.restore_snapshot(second, home)) as archive:
    print("RESTORED", archive.read("pkg/mod.py") == b"X = 2\\n", archive.read("data/blob.bin") == files["data/blob.bin"])

os.environ["AML_FORCE_EXECUTE_WITH_SNAPSHOT"] = "1"  # submit with snapshotrun, whatever the project's size
from azureml.core import Environment, ScriptRunConfig
environment = Environment("child")
environment.python.user_managed_dependencies = True
environment.python.interpreter_path = sys.executable
child = run.submit_child(ScriptRunConfig(source_directory=project, script="main.py", environment=environment,
                                         compute_target=run.get_details()["target"]))
child.wait_for_completion()
print("CHILD", child.id, child.get_status(), child.get_properties()["ContentSnapshotId"], flush=True)
"""


@pytest.fixture(scope="module")
def sdk_server(backend: Backend, tmp_path_factory) -> Iterator[Server]:
    with blob_host_server(backend, tmp_path_factory.mktemp(f"amlite-sdk-snapshots-{backend.name}"),
                          POSTGRES_URL) as running:
        yield running


def test_azureml_core_uploads_diffs_and_restores_snapshots(sdk_server: Server):
    python = str(sdk_python(AZUREML_CORE))
    with sdk_server.client() as client:
        workspace = create_workspace(client, sdk_server.credentials["subscriptionId"], "sdk-rg", "sdk-ws")
        compute = make_compute(client, workspace, "sdk-snapshots", max_nodes=2)  # the judge and its child
        environment = {"Python": {"InterpreterPath": python, "UserManagedDependencies": True}}
        response = start(client, workspace["id"], "sdk-snapshots", project_zip({"judge.py": SDK_SCRIPT}),
                         definition("judge.py", compute, environment=environment))
        run_id = response.json()["runId"]
        run = wait_status(client, run_url(workspace["id"], "sdk-snapshots", run_id), seconds=300)
        log = driver_log(client, workspace["id"], run_id)
        assert run["status"] == "Completed", (run.get("error"), log)
        assert "RESTORED True True" in log, log
        ids = {line.split()[0]: line.split()[1] for line in log.splitlines()
               if line.split()[:1] in (["FIRST"], ["AGAIN"], ["SECOND"])}
        assert ids["AGAIN"] == ids["FIRST"], "the SDK's tree and the server's agree: nothing to upload"
        second = metadata(client, workspace["id"], ids["SECOND"])
        assert second["parentSnapshotId"] == ids["FIRST"]
        assert sorted(tree_files(second["root"])) == ["data/blob.bin", "main.py", "pkg/mod.py"]
        child_id, status, snapshot_id = log.split("\nCHILD ", 1)[1].split()[:3]
        assert (status, snapshot_id) == ("Completed", ids["SECOND"]), log
        assert driver_log(client, workspace["id"], child_id).strip() == "hi"
