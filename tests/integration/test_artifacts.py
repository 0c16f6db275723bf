"""Artifacts (artifact/v2.0, run history's artifact routes, signed blob links), each test on both artifact
stores: ``file://`` and Azure Blob (Azurite). Uploads and downloads through links use azure-storage-blob."""

from __future__ import annotations

import base64
import hashlib
import os
import random
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.storage.blob import BlobClient

from tests.azurite import KEY, Azurite
from tests.execution import definition, make_compute, project_zip, run_url, start, wait_status
from tests.resources import create_workspace
from tests.server import Backend, Server

UPLOAD_LIMIT = 64 << 10  # the main test servers refuse uploads above 64 KiB
PAGE_SIZE = 3


@pytest.fixture(scope="module")
def azurite(tmp_path_factory) -> Iterator[Azurite]:
    started = Azurite(tmp_path_factory.mktemp("azurite")).start()
    yield started
    started.stop()


@pytest.fixture(scope="module", params=["file", "azureblob"])
def store(request) -> str:
    return request.param


@dataclass
class Place:
    """A test server on one artifact store, and a workspace in it."""

    server: Server
    workspace: dict

    @property
    def artifacts(self) -> str:
        return f"/artifact/v2.0{self.workspace['id']}/artifacts"

    @property
    def history(self) -> str:
        return f"/history/v1.0{self.workspace['id']}"

    def client(self) -> httpx.Client:
        return self.server.client()


@contextmanager
def serving(request, store: str, name: str, **settings: object) -> Iterator[Place]:
    """A server of its own on ``store`` with these settings (``AMLITE_<NAME>``), and a workspace."""
    env = {f"AMLITE_{key.upper()}": str(value) for key, value in settings.items()}
    if store == "azureblob":
        azurite: Azurite = request.getfixturevalue("azurite")
        env |= {"AMLITE_ARTIFACT_STORE": azurite.store_uri(f"amlite-{name}"), "AMLITE_ARTIFACT_STORE_KEY": KEY}
    folder = request.getfixturevalue("tmp_path_factory").mktemp(f"artifacts-{name}-{store}")
    server = Server(folder, Backend.sqlite(), env=env).start()
    try:
        with server.client() as client:
            workspace = create_workspace(client, server.credentials["subscriptionId"], "art-rg", "art-ws")
        yield Place(server, workspace)
    finally:
        server.stop()
        server.stop_agents()


@pytest.fixture(scope="module")
def place(request, store: str) -> Iterator[Place]:
    with serving(request, store, "main", page_size=PAGE_SIZE, artifact_upload_max_bytes=UPLOAD_LIMIT) as main:
        yield main


def container() -> str:
    return f"c{uuid.uuid4().hex[:12]}"


def create(client: httpx.Client, place: Place, origin: str, box: str, *paths: str) -> dict:
    """Empty artifacts through the swagger's BatchCreateEmptyArtifacts; answers their content information."""
    response = client.post(f"{place.artifacts}/{origin}/{box}/batch/metadata",
                           json={"paths": [{"path": path} for path in paths]})
    assert response.status_code == 200, response.text
    body = response.json()
    assert sorted(body["artifacts"]) == sorted(paths) and body["errors"] == {}
    return body["artifactContentInformation"]


def blob(uri: str, **config: int) -> BlobClient:
    return BlobClient.from_blob_url(uri, **config)


def md5(data: bytes) -> bytes:
    return hashlib.md5(data).digest()


# Uploading and downloading through links --------------------------------------------------------


def test_batch_metadata_then_put_blob_through_the_link(place: Place):
    box = container()
    with place.client() as client:
        infos = create(client, place, "LocalUpload", box, "model/weights.bin", "notes.txt")
        data = os.urandom(5000)
        link = infos["model/weights.bin"]["contentUri"]
        assert "/blob/" in link and "sig=" in link and infos["model/weights.bin"]["origin"] == "LocalUpload"
        blob(link).upload_blob(data)
        properties = blob(link).get_blob_properties()  # a HEAD, as SDKs do after uploading
        assert properties.size == len(data)
        assert bytes(properties.content_settings.content_md5) == md5(data)
        assert properties.blob_type == "BlockBlob" and properties.etag
        assert blob(link).download_blob().readall() == data
        empty = infos["notes.txt"]["contentUri"]
        blob(empty).upload_blob(b"")
        assert blob(empty).get_blob_properties().size == 0 and blob(empty).download_blob().readall() == b""

        head = httpx.head(link)
        assert head.status_code == 200
        assert head.headers["content-length"] == str(len(data))
        assert base64.b64decode(head.headers["content-md5"]) == md5(data)
        assert head.headers["x-ms-blob-type"] == "BlockBlob"

        info = client.get(f"{place.artifacts}/LocalUpload/{box}/contentinfo", params={"path": "model/weights.bin"})
        assert info.status_code == 200
        assert httpx.get(info.json()["contentUri"]).content == data
        assert client.get(f"{place.artifacts}/LocalUpload/{box}/content",
                          params={"path": "model/weights.bin"}).content == data


def test_large_upload_goes_in_blocks_and_reads_back_in_ranges(place: Place):
    box = container()
    with place.client() as client:
        link = create(client, place, "LocalUpload", box, "big.bin")["big.bin"]["contentUri"]
    data = os.urandom(40 << 10)
    blob(link, max_single_put_size=16 << 10, max_block_size=8 << 10).upload_blob(data)
    properties = blob(link).get_blob_properties()
    assert properties.size == len(data)
    assert bytes(properties.content_settings.content_md5) == md5(data)
    assert blob(link, max_single_get_size=8 << 10, max_chunk_get_size=8 << 10).download_blob().readall() == data

    part = httpx.get(link, headers={"x-ms-range": "bytes=1000-1999"})
    assert part.status_code == 206 and part.content == data[1000:2000]
    assert part.headers["content-range"] == f"bytes 1000-1999/{len(data)}"
    checked = httpx.get(link, headers={"Range": "bytes=100-", "x-ms-range-get-content-md5": "true"})
    assert checked.content == data[100:] and base64.b64decode(checked.headers["content-md5"]) == md5(data[100:])
    beyond = httpx.get(link, headers={"x-ms-range": f"bytes={len(data)}-"})
    assert beyond.status_code == 416 and "<Code>InvalidRange</Code>" in beyond.text


def test_overwriting_needs_overwrite_and_conditions_hold(place: Place):
    box = container()
    with place.client() as client:
        link = create(client, place, "LocalUpload", box, "a.txt")["a.txt"]["contentUri"]
    blob(link).upload_blob(b"first")
    with pytest.raises(HttpResponseError) as refused:
        blob(link).upload_blob(b"second")  # If-None-Match: *
    assert refused.value.status_code == 409 and refused.value.error_code == "BlobAlreadyExists"
    blob(link).upload_blob(b"second", overwrite=True)
    assert blob(link).download_blob().readall() == b"second"
    etag = blob(link).get_blob_properties().etag
    assert httpx.get(link, headers={"If-None-Match": etag}).status_code == 304
    assert httpx.get(link, headers={"If-Match": '"0x0"'}).status_code == 412


# Listing, content information, direct upload --------------------------------------------------


def test_listing_pages_with_continuation_tokens(place: Place):
    box = container()
    paths = [f"dir/file{i}.txt" for i in range(5)] + ["other/x.txt", "top.txt"]
    with place.client() as client:
        create(client, place, "LocalUpload", box, *paths)

        def walk(url: str, params: dict | None = None) -> list[dict]:
            found, token = [], None
            while True:
                page = client.get(url, params={**(params or {}), **({"continuationToken": token} if token else {})})
                assert page.status_code == 200, page.text
                assert len(page.json()["value"]) <= PAGE_SIZE
                found += page.json()["value"]
                token = page.json().get("continuationToken")
                if not token:
                    return found

        listed = walk(f"{place.artifacts}/LocalUpload/{box}")
        assert [a["path"] for a in listed] == sorted(paths)
        assert {a["artifactId"] for a in listed} == {f"LocalUpload/{box}/{p}" for p in paths}
        assert all(a["etag"] and a["createdTime"] and a["origin"] == "LocalUpload" for a in listed)
        in_dir = sorted(p for p in paths if p.startswith("dir/"))
        assert [a["path"] for a in walk(f"{place.artifacts}/LocalUpload/{box}", {"path": "dir"})] == in_dir
        assert [a["path"] for a in walk(f"{place.artifacts}/LocalUpload/{box}/dir")] == in_dir  # the SDK's form
        prefixed = walk(f"{place.artifacts}/LocalUpload/{box}/prefix/contentinfo", {"path": "dir/file"})
        assert [i["path"] for i in prefixed] == in_dir and all("sig=" in i["contentUri"] for i in prefixed)
        sdk_prefixed = walk(f"{place.artifacts}/prefix/contentinfo/LocalUpload/{box}/dir/file")
        assert [i["path"] for i in sdk_prefixed] == in_dir
        bad = client.get(f"{place.artifacts}/LocalUpload/{box}", params={"continuationToken": "not-a-token"})
        assert bad.status_code == 400


def test_metadata_content_info_and_write_links_in_both_spellings(place: Place):
    box = container()
    with place.client() as client:
        created = client.post(f"{place.artifacts}/metadata",
                              json={"origin": "LocalUpload", "container": box, "path": "one/model.pkl"})
        assert created.status_code == 200 and created.json()["artifactId"] == f"LocalUpload/{box}/one/model.pkl"
        write = client.get(f"{place.artifacts}/LocalUpload/{box}/write", params={"path": "one/model.pkl"})
        assert write.status_code == 200
        blob(write.json()["contentUri"]).upload_blob(b"pickled")
        sdk_write = client.get(f"{place.artifacts}/write/LocalUpload/{box}/one/model.pkl").json()["contentUri"]
        blob(sdk_write).upload_blob(b"pickled again", overwrite=True)

        got = client.get(f"{place.artifacts}/LocalUpload/{box}/metadata", params={"path": "one/model.pkl"})
        assert got.status_code == 200 and got.json()["path"] == "one/model.pkl"
        assert client.get(f"{place.artifacts}/metadata/LocalUpload/{box}/one/model.pkl").json() == got.json()
        info = client.get(f"{place.artifacts}/contentinfo/LocalUpload/{box}/one/model.pkl").json()
        assert httpx.get(info["contentUri"]).content == b"pickled again"
        assert client.get(f"{place.artifacts}/content/LocalUpload/{box}/one/model.pkl").content == b"pickled again"

        by_id = client.post(f"{place.artifacts}/batch/metadata",
                            json={"artifactIds": [f"LocalUpload/{box}/one/model.pkl", f"LocalUpload/{box}/none"]})
        assert by_id.status_code == 200
        assert list(by_id.json()["artifacts"]) == [f"LocalUpload/{box}/one/model.pkl"]
        assert by_id.json()["errors"][f"LocalUpload/{box}/none"]["error"]["code"] == "ArtifactNotFound"
        missing = client.get(f"{place.artifacts}/LocalUpload/{box}/contentinfo", params={"path": "nothing.txt"})
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "ArtifactNotFound"


def test_direct_upload_and_append(place: Place):
    box = container()
    with place.client() as client:
        url = f"{place.artifacts}/ExperimentRun/{box}/content"
        first = client.post(url, params={"path": "logs/run.log"}, content=b"line 1\n",
                            headers={"Content-Type": "application/octet-stream"})
        assert first.status_code == 200 and first.json()["path"] == "logs/run.log"
        appended = client.post(url, params={"path": "logs/run.log", "append": "true"}, content=b"line 2\n")
        assert appended.status_code == 200 and appended.json()["etag"] != first.json()["etag"]
        sdk = client.post(f"{place.artifacts}/content/ExperimentRun/{box}/logs/run.log", params={"append": "true"},
                          content=b"line 3\n")
        assert sdk.status_code == 200
        assert client.get(url, params={"path": "logs/run.log"}).content == b"line 1\nline 2\nline 3\n"
        refused = client.post(url, params={"path": "logs/run.log", "allowOverwrite": "false"}, content=b"x")
        assert refused.status_code == 409
        replaced = client.post(url, params={"path": "logs/run.log"}, content=b"fresh")
        assert replaced.status_code == 200
        info = client.get(f"{place.artifacts}/ExperimentRun/{box}/contentinfo", params={"path": "logs/run.log"})
        assert httpx.get(info.json()["contentUri"]).content == b"fresh"


def test_delete_one_a_batch_and_a_whole_container(place: Place):
    box = container()
    with place.client() as client:
        infos = create(client, place, "LocalUpload", box, "a.txt", "b.txt", "c.txt", "d/e.txt")
        for path, info in infos.items():
            blob(info["contentUri"]).upload_blob(path.encode())
        base = f"{place.artifacts}/LocalUpload/{box}"
        assert client.delete(f"{base}/metadata", params={"path": "a.txt", "hardDelete": "true"}).status_code == 200
        assert client.get(f"{base}/metadata", params={"path": "a.txt"}).status_code == 404
        gone = httpx.get(infos["a.txt"]["contentUri"])
        assert gone.status_code == 404 and gone.headers["x-ms-error-code"] == "BlobNotFound"
        with pytest.raises(ResourceNotFoundError):
            blob(infos["a.txt"]["contentUri"]).get_blob_properties()
        assert client.delete(f"{place.artifacts}/metadata/LocalUpload/{box}/b.txt").status_code == 200
        batch = client.post(f"{base}/batch/metadata:delete", json={"paths": [{"path": "c.txt"}, {"path": "zz"}]})
        assert batch.status_code == 200
        assert [a["path"] for a in client.get(base).json()["value"]] == ["d/e.txt"]
        assert client.delete(f"{base}/batch").status_code == 200
        assert client.get(base).json()["value"] == []
        assert httpx.get(infos["d/e.txt"]["contentUri"]).status_code == 404

        again = create(client, place, "LocalUpload", box, "x.txt")
        blob(again["x.txt"]["contentUri"]).upload_blob(b"x")
        assert client.delete(f"{place.artifacts}/batch/LocalUpload/{box}").status_code == 200  # the SDK's form
        assert client.get(base).json()["value"] == []


# Run files ------------------------------------------------------------------------------------


def test_run_history_artifact_routes(place: Place):
    experiment, run_id = f"ex-{uuid.uuid4().hex[:8]}", f"run-{uuid.uuid4().hex[:8]}"
    with place.client() as client:
        run = client.patch(f"{place.history}/experiments/{experiment}/runs/{run_id}", json={"status": "Running"})
        assert run.status_code == 200 and run.json()["dataContainerId"] == f"dcid.{run_id}"
        base = f"{place.history}/experiments/{experiment}/runs/{run_id}/artifacts"
        created = client.post(f"{base}/batch/metadata", json={"paths": [{"path": "outputs/a.txt"},
                                                                         {"path": "outputs/b.txt"}]})
        assert created.status_code == 200
        for path, info in created.json()["artifactContentInformation"].items():
            assert info["container"] == f"dcid.{run_id}" and info["origin"] == "ExperimentRun"
            blob(info["contentUri"]).upload_blob(path.encode())

        assert [a["path"] for a in client.get(base).json()["value"]] == ["outputs/a.txt", "outputs/b.txt"]
        assert len(client.get(f"{base}/path", params={"path": "outputs"}).json()["value"]) == 2
        assert len(client.get(f"{base}/path/outputs").json()["value"]) == 2
        assert client.get(f"{base}/metadata", params={"path": "outputs/a.txt"}).json()["path"] == "outputs/a.txt"
        for info in (client.get(f"{base}/contentinfo", params={"path": "outputs/a.txt"}).json(),
                     client.get(f"{base}/contentinfo/outputs/a.txt").json()):
            assert httpx.get(info["contentUri"]).content == b"outputs/a.txt"
        for uri in (client.get(f"{base}/artifacturi", params={"path": "outputs/b.txt"}).json(),
                    client.get(f"{base}/artifacturi/outputs/b.txt").json()):
            assert httpx.get(uri).content == b"outputs/b.txt"
        prefixed = client.get(f"{base}/prefix/contentinfo", params={"path": "outputs/"}).json()["value"]
        assert [i["path"] for i in prefixed] == ["outputs/a.txt", "outputs/b.txt"]
        assert len(client.get(f"{base}/prefix/contentinfo/outputs").json()["value"]) == 2
        same = client.get(f"{place.artifacts}/ExperimentRun/dcid.{run_id}").json()["value"]
        assert [a["path"] for a in same] == ["outputs/a.txt", "outputs/b.txt"]


def test_a_real_runs_outputs_and_driver_log_are_its_artifacts(place: Place):
    script = ("import os\n"
              "os.makedirs('outputs/model', exist_ok=True)\n"
              "os.makedirs('logs', exist_ok=True)\n"
              "open('outputs/model/weights.txt', 'w').write('trained')\n"
              "open('logs/train.log', 'w').write('epoch 1')\n"
              "print('training done', flush=True)\n")
    experiment = f"ex-{uuid.uuid4().hex[:8]}"
    with place.client() as client:
        compute = make_compute(client, place.workspace, "art-cpu")
        response = start(client, place.workspace["id"], experiment, project_zip({"train.py": script}),
                         definition("train.py", compute))
        assert response.status_code == 200, response.text
        run_id = response.json()["runId"]
        run = wait_status(client, run_url(place.workspace["id"], experiment, run_id))
        assert run["status"] == "Completed", run.get("error")

        base = f"{place.history}/experiments/{experiment}/runs/{run_id}/artifacts"
        paths = [a["path"] for a in client.get(base).json()["value"]]
        assert {"outputs/model/weights.txt", "logs/train.log", "azureml-logs/70_driver_log.txt"} <= set(paths)
        weights = client.get(f"{base}/contentinfo/outputs/model/weights.txt").json()["contentUri"]
        assert httpx.get(weights).content == b"trained"
        log = client.get(f"{base}/contentinfo/azureml-logs/70_driver_log.txt").json()["contentUri"]
        assert "training done" in httpx.get(log).text
        details = client.get(f"{run_url(place.workspace['id'], experiment, run_id)}/details").json()
        assert "sig=" in details["logFiles"]["azureml-logs/70_driver_log.txt"]
        assert "training done" in httpx.get(details["logFiles"]["azureml-logs/70_driver_log.txt"]).text


# Bad inputs -----------------------------------------------------------------------------------


def test_dot_dot_paths_are_refused(place: Place):
    box = container()
    with place.client() as client:
        for path in ("../escape.txt", "a/../../escape.txt", "/abs.txt", "a//b.txt", "./a.txt"):
            response = client.post(f"{place.artifacts}/LocalUpload/{box}/batch/metadata",
                                   json={"paths": [{"path": path}]})
            assert response.status_code == 400, path
            assert response.json()["error"]["code"] == "InvalidArtifactPath"
        upload = client.post(f"{place.artifacts}/LocalUpload/{box}/content", params={"path": "../../escape.txt"},
                             content=b"x")
        assert upload.status_code == 400
        encoded = client.post(f"{place.artifacts}/content/LocalUpload/{box}/%2E%2E/%2E%2E/escape.txt", content=b"x")
        assert encoded.status_code == 400
    assert not list(place.server.data_dir.rglob("escape.txt"))


def test_tampered_or_misused_links_answer_403(place: Place):
    box = container()
    with place.client() as client:
        infos = create(client, place, "LocalUpload", box, "a.txt", "b.txt")
        blob(infos["a.txt"]["contentUri"]).upload_blob(b"secret a")
        read_link = client.get(f"{place.artifacts}/LocalUpload/{box}/contentinfo",
                               params={"path": "a.txt"}).json()["contentUri"]
    link = infos["a.txt"]["contentUri"]
    signature = link.split("sig=")[1].split("&")[0]
    tampered = link.replace(f"sig={signature}", f"sig={'A' if signature[0] != 'A' else 'B'}{signature[1:]}")
    for bad in (tampered, link.replace("a.txt", "b.txt"), link.replace("sp=rcw", "sp=rcwd"),
                link.split("?")[0]):
        response = httpx.get(bad)
        assert response.status_code == 403, bad
        assert response.headers["x-ms-error-code"] == "AuthenticationFailed"
        assert "<Code>AuthenticationFailed</Code>" in response.text
    put = httpx.put(read_link, content=b"overwritten", headers={"x-ms-blob-type": "BlockBlob"})
    assert put.status_code == 403 and put.headers["x-ms-error-code"] == "AuthorizationPermissionMismatch"
    extra = f"{read_link}&timeout=30&comp=metadata&blockid=QUJD"  # parameters a client adds are not signed
    assert httpx.get(extra).content == b"secret a"


def test_oversize_uploads_answer_413_and_keep_the_old_content(place: Place):
    box = container()
    with place.client() as client:
        link = create(client, place, "LocalUpload", box, "a.bin")["a.bin"]["contentUri"]
        blob(link).upload_blob(b"old content")
        too_big = os.urandom(UPLOAD_LIMIT + 1)
        put = httpx.put(link, content=too_big, headers={"x-ms-blob-type": "BlockBlob"})
        assert put.status_code == 413 and put.headers["x-ms-error-code"] == "RequestBodyTooLarge"

        def unknown_length() -> Iterator[bytes]:
            yield too_big
        streamed = httpx.put(link, content=unknown_length(), headers={"x-ms-blob-type": "BlockBlob"})
        assert streamed.status_code == 413
        with pytest.raises(HttpResponseError) as blocks:
            blob(link, max_single_put_size=8 << 10, max_block_size=8 << 10).upload_blob(too_big, overwrite=True)
        assert blocks.value.status_code == 413
        direct = client.post(f"{place.artifacts}/LocalUpload/{box}/content", params={"path": "a.bin"},
                             content=too_big)
        assert direct.status_code == 413
        appended = client.post(f"{place.artifacts}/LocalUpload/{box}/content",
                               params={"path": "a.bin", "append": "true"}, content=too_big[:UPLOAD_LIMIT])
        assert appended.status_code == 413
        assert httpx.get(link).content == b"old content"


def test_content_md5_mismatch_fails_and_keeps_the_old_content(place: Place):
    box = container()
    with place.client() as client:
        link = create(client, place, "LocalUpload", box, "a.bin")["a.bin"]["contentUri"]
    blob(link).upload_blob(b"old content")
    wrong = base64.b64encode(md5(b"something else")).decode()
    put = httpx.put(link, content=b"new content", headers={"x-ms-blob-type": "BlockBlob", "Content-MD5": wrong})
    assert put.status_code == 400 and put.headers["x-ms-error-code"] == "Md5Mismatch"
    right = base64.b64encode(md5(b"new content")).decode()
    ok = httpx.put(link, content=b"new content", headers={"x-ms-blob-type": "BlockBlob", "Content-MD5": right,
                                                           "x-ms-blob-content-type": "text/plain"})
    assert ok.status_code == 201 and ok.headers["content-md5"] == right
    assert ok.headers["x-ms-request-server-encrypted"] == "true" and ok.headers["etag"]
    got = httpx.get(link)
    assert got.content == b"new content" and got.headers["content-type"] == "text/plain"
    no_type = httpx.put(link, content=b"x")
    assert no_type.status_code == 400 and no_type.headers["x-ms-error-code"] == "MissingRequiredHeader"


def test_expired_links_answer_403(request, store: str):
    with serving(request, store, "expiring", artifact_link_seconds=0) as place:
        with place.client() as client:
            link = create(client, place, "LocalUpload", container(), "a.txt")["a.txt"]["contentUri"]
        response = httpx.put(link, content=b"late", headers={"x-ms-blob-type": "BlockBlob"})
        assert response.status_code == 403 and response.headers["x-ms-error-code"] == "AuthenticationFailed"
        assert "expiry" in response.text


# Memory ---------------------------------------------------------------------------------------


def _reset_peak(pid: int) -> None:
    """Start VmHWM afresh from the current RSS (Linux: ``5`` to clear_refs), so start-up's peak hides nothing."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def _memory(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak) of a process, in bytes."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return {key: int(fields[key].split()[0]) * 1024 for key in ("VmRSS", "VmHWM")}


def test_200_mb_through_a_link_keeps_server_memory_flat(request, store: str):
    size, chunk = 200 << 20, 1 << 20
    seed = random.Random(6).randbytes(chunk)

    def chunks() -> Iterator[bytes]:
        for index in range(size // chunk):
            yield seed[index:] + seed[:index]

    expected = hashlib.md5()
    for piece in chunks():
        expected.update(piece)
    with serving(request, store, "memory") as place:
        with place.client() as client:
            links = create(client, place, "LocalUpload", container(), "warm.bin", "big.bin")
        warm, link = links["warm.bin"]["contentUri"], links["big.bin"]["contentUri"]
        httpx.put(warm, content=os.urandom(chunk), headers={"x-ms-blob-type": "BlockBlob"}).raise_for_status()
        httpx.get(warm).raise_for_status()
        pid = place.server.process.pid
        _reset_peak(pid)
        before = _memory(pid)

        put = httpx.put(link, content=chunks(), timeout=300,
                        headers={"x-ms-blob-type": "BlockBlob", "Content-Length": str(size)})
        assert put.status_code == 201, put.text
        assert base64.b64decode(put.headers["content-md5"]) == expected.digest()
        head = httpx.head(link)
        assert head.headers["content-length"] == str(size)
        got = hashlib.md5()
        with httpx.stream("GET", link, timeout=300) as response:
            assert response.headers["content-length"] == str(size)
            for piece in response.iter_bytes():
                got.update(piece)
        assert got.digest() == expected.digest()

        growth = _memory(pid)["VmHWM"] - before["VmRSS"]
        assert growth < 100 << 20, f"the server grew by {growth >> 20} MiB moving 200 MiB"
