"""The model registry (modelmanagement/v1.0 and /api): assets, models registered from uploaded files and
from a real run's outputs, versions, filters, ordering, paging, JSON patch, download, delete, and bad
inputs answered in the MMS envelope. Bodies under /modelmanagement are validated against the swagger."""

from __future__ import annotations

import pickle
import uuid
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.execution import definition, make_compute, project_zip, run_url, start, wait_status
from tests.server import Server

API = {"api-version": "2018-11-19"}
MODEL_KEYS = {"createdTime", "description", "id", "mimeType", "name", "properties", "unpack", "url", "version",
              "experimentName", "runId", "datasets", "framework", "frameworkVersion", "kvTags"}


def mms(workspace: dict) -> str:
    return f"/modelmanagement/v1.0{workspace['id']}"


def upload(client: httpx.Client, workspace: dict, origin: str, container: str, path: str, data: bytes) -> None:
    response = client.post(f"/artifact/v2.0{workspace['id']}/artifacts/content/{origin}/{container}/{path}",
                           content=data)
    assert response.status_code == 200, response.text


def uploaded_asset(client: httpx.Client, workspace: dict, data: bytes = b"weights", **extra) -> dict:
    """What azureml-core's Model.register does first: the file to LocalUpload, then an asset naming it."""
    container = f"upload-{uuid.uuid4().hex[:8]}"
    upload(client, workspace, "LocalUpload", container, "model.pkl", data)
    body = {"name": "model", "artifacts": [{"prefix": f"LocalUpload/{container}/model.pkl"}], **extra}
    response = client.post(f"{mms(workspace)}/assets", params=API, json=body)
    assert response.status_code == 200, response.text
    return response.json()


def register(client: httpx.Client, workspace: dict, name: str, url: str | None = None, **extra) -> dict:
    url = url or f"aml://asset/{uploaded_asset(client, workspace)['id']}"
    response = client.post(f"{mms(workspace)}/models", params=API, json={"name": name, "url": url, **extra})
    assert response.status_code == 200, response.text
    return response.json()


def listed(client: httpx.Client, workspace: dict, **params) -> list[dict]:
    response = client.get(f"{mms(workspace)}/models", params={**API, **params})
    assert response.status_code == 200, response.text
    return response.json()["value"]


def assert_mms_error(response: httpx.Response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["code"] == code, body
    assert body["statusCode"] == status and body["message"] and isinstance(body["details"], list)
    return body


def download(client: httpx.Client, workspace: dict, model_id: str) -> dict[str, bytes]:
    response = client.get(f"{mms(workspace)}/models/{model_id}/download", params=API)
    assert response.status_code == 200, response.text
    return {item["path"]: httpx.get(item["contentUri"]).content for item in response.json()["value"]}


# Registering --------------------------------------------------------------------------------------


def test_register_from_an_uploaded_asset(arm: httpx.Client, workspace: dict):
    asset = uploaded_asset(arm, workspace, b"pickled weights", kvTags={"source": "upload"})
    assert asset["artifacts"][0]["prefix"].endswith("/model.pkl") and asset["kvTags"] == {"source": "upload"}
    assert arm.get(f"{mms(workspace)}/assets/{asset['id']}", params=API).json()["id"] == asset["id"]

    name = f"reg-{uuid.uuid4().hex[:8]}"
    model = register(arm, workspace, name, f"aml://asset/{asset['id']}", kvTags={"stage": "dev"},
                     properties={"accuracy": "0.9"}, description="first", framework="ScikitLearn",
                     frameworkVersion="1.3")
    assert MODEL_KEYS <= set(model)
    assert (model["id"], model["name"], model["version"]) == (f"{name}:1", name, 1)
    assert model["url"] == f"aml://asset/{asset['id']}" and model["mimeType"] == "application/json"
    assert model["framework"] == "ScikitLearn" and model["kvTags"] == {"stage": "dev"}

    fetched = arm.get(f"{mms(workspace)}/models/{name}:1", params=API).json()
    assert fetched == model
    assert download(arm, workspace, f"{name}:1") == {"model.pkl": b"pickled weights"}


def test_register_defaults_and_artifact_urls(server: Server, arm: httpx.Client, workspace: dict):
    container = f"art-{uuid.uuid4().hex[:8]}"
    upload(arm, workspace, "LocalUpload", container, "bundle/a.txt", b"a")
    upload(arm, workspace, "LocalUpload", container, "bundle/sub/b.txt", b"b")
    name = f"folder-{uuid.uuid4().hex[:8]}"
    model = register(arm, workspace, name, f"aml://artifact/LocalUpload/{container}/bundle")
    assert model["framework"] == "Custom" and model["description"] is None and model["datasets"] == []
    assert model["createdBy"]["userName"] == server.credentials["clientId"]
    assert download(arm, workspace, model["id"]) == {"bundle/a.txt": b"a", "bundle/sub/b.txt": b"b"}


def test_versions_count_up_per_name_even_under_concurrent_registration(arm: httpx.Client, workspace: dict,
                                                                        server: Server):
    name = f"conc-{uuid.uuid4().hex[:8]}"
    url = f"aml://asset/{uploaded_asset(arm, workspace)['id']}"

    def one(_index: int) -> int:
        with server.client() as client:
            return register(client, workspace, name, url)["version"]

    with ThreadPoolExecutor(8) as pool:
        versions = list(pool.map(one, range(8)))
    assert sorted(versions) == list(range(1, 9))
    assert register(arm, workspace, name, url)["version"] == 9
    assert register(arm, workspace, f"{name}-other", url)["version"] == 1


def test_register_from_a_real_runs_outputs(arm: httpx.Client, workspace: dict):
    """A run writes outputs/model.pkl; it is registered three ways: as run.register_model does (an asset
    with the run's artifact prefix), by the run's artifact id, and by its path in the run with runId."""
    script = ("import os, pickle\n"
              "os.makedirs('outputs', exist_ok=True)\n"
              "pickle.dump({'coef': [0.5, -1.25], 'intercept': 3.0}, open('outputs/model.pkl', 'wb'))\n")
    experiment = f"reg-{uuid.uuid4().hex[:6]}"
    compute = make_compute(arm, workspace, "registry-cpu")
    response = start(arm, workspace["id"], experiment, project_zip({"train.py": script}),
                     definition("train.py", compute))
    assert response.status_code == 200, response.text
    run_id = response.json()["runId"]
    run = wait_status(arm, run_url(workspace["id"], experiment, run_id))
    assert run["status"] == "Completed", run.get("error")
    prefix = f"ExperimentRun/{run['dataContainerId']}/outputs/model.pkl"

    asset = arm.post(f"{mms(workspace)}/assets", params=API,
                     json={"name": "trained", "artifacts": [{"prefix": prefix}], "runid": run_id}).json()
    name = f"run-{uuid.uuid4().hex[:6]}"
    from_asset = register(arm, workspace, name, f"aml://asset/{asset['id']}", runId=run_id,
                          experimentName=experiment)
    from_artifact = register(arm, workspace, name, f"aml://artifact/{prefix}")
    from_path = register(arm, workspace, name, "outputs/model.pkl", runId=run_id)
    assert [m["version"] for m in (from_asset, from_artifact, from_path)] == [1, 2, 3]
    assert from_path["experimentName"] == experiment and from_path["runId"] == run_id
    for model in (from_asset, from_artifact, from_path):
        files = download(arm, workspace, model["id"])
        assert pickle.loads(files["model.pkl"]) == {"coef": [0.5, -1.25], "intercept": 3.0}
    assert [m["id"] for m in listed(arm, workspace, runId=run_id)] == [from_path["id"], from_asset["id"]]

    missing = arm.post(f"{mms(workspace)}/models", params=API,
                       json={"name": name, "url": "outputs/nothing.pkl", "runId": run_id})
    assert_mms_error(missing, 404, "ArtifactNotFound")


# Listing ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def family(arm_module: httpx.Client, workspace: dict) -> dict:
    """Models tagged with one batch id: a:1 (dev, sklearn), a:2 (prod), b:1 (prod, owner), made in that order."""
    batch = uuid.uuid4().hex[:8]
    url = f"aml://asset/{uploaded_asset(arm_module, workspace)['id']}"
    a, b = f"fam-a-{batch}", f"fam-b-{batch}"
    made = [
        register(arm_module, workspace, a, url, kvTags={"batch": batch, "stage": "dev"}, framework="ScikitLearn",
                 properties={"team": "red"}, description="the first try"),
        register(arm_module, workspace, a, url, kvTags={"batch": batch, "stage": "prod"}, framework="Onnx",
                 properties={"team": "blue"}, description="better"),
        register(arm_module, workspace, b, url, kvTags={"batch": batch, "stage": "prod", "owner": "ana"},
                 framework="Onnx", properties={"team": "blue"}),
    ]
    return {"batch": batch, "a": a, "b": b, "ids": [m["id"] for m in made]}


@pytest.fixture(scope="module")
def arm_module(server: Server):
    with server.client() as client:
        yield client


@pytest.mark.parametrize(("params", "expected"), [
    ({}, [2, 1, 0]),
    ({"orderBy": "CreatedAtAsc"}, [0, 1, 2]),
    ({"orderBy": "createdatdesc"}, [2, 1, 0]),
    ({"name": "A"}, [1, 0]),
    ({"tags": "stage=prod"}, [2, 1]),
    ({"tags": "stage=prod,owner"}, [2]),
    ({"tags": "owner=bob"}, []),
    ({"tag": "owner"}, [2]),
    ({"properties": "team=blue"}, [2, 1]),
    ({"properties": "team"}, [2, 1, 0]),
    ({"framework": "onnx"}, [2, 1]),
    ({"description": "first"}, [0]),
    ({"version": 2}, [1]),
    ({"latestVersionOnly": "true"}, [2, 1]),
    ({"latestVersionOnly": "true", "tags": "stage=dev"}, [0]),
])
def test_list_filters_and_orders(arm: httpx.Client, workspace: dict, family: dict, params: dict, expected: list):
    params = {**params, "tags": ",".join(filter(None, [f"batch={family['batch']}", params.get("tags")]))}
    if params.get("name") == "A":
        params["name"] = family["a"]
    assert [m["id"] for m in listed(arm, workspace, **params)] == [family["ids"][i] for i in expected]


def test_updated_at_orders_by_the_last_change(arm: httpx.Client, workspace: dict, family: dict):
    patched = arm.patch(f"{mms(workspace)}/models/{family['ids'][0]}", params=API,
                        json=[{"op": "add", "path": "/kvTags/touched", "value": "yes"}])
    assert patched.status_code == 200, patched.text
    ordered = listed(arm, workspace, tags=f"batch={family['batch']}", orderBy="UpdatedAtDesc")
    assert ordered[0]["id"] == family["ids"][0]
    assert listed(arm, workspace, tags=f"batch={family['batch']}", orderBy="UpdatedAtAsc")[-1]["id"] == \
        family["ids"][0]


def test_count_and_next_link_page_through_everything(server: Server, arm: httpx.Client, workspace: dict,
                                                     family: dict):
    url = f"{mms(workspace)}/models"
    params = {**API, "tags": f"batch={family['batch']}", "count": 2, "orderBy": "CreatedAtAsc"}
    first = arm.get(url, params=params).json()
    assert [m["id"] for m in first["value"]] == family["ids"][:2]
    assert "$skipToken" in parse_qs(urlsplit(first["nextLink"]).query)
    assert first["nextLink"].startswith(server.base_url)
    second = arm.get(first["nextLink"]).json()
    assert [m["id"] for m in second["value"]] == family["ids"][2:] and "nextLink" not in second

    post = arm.post(f"{url}/list", params=API,
                    json={"tags": f"batch={family['batch']}", "count": 2, "orderBy": "CreatedAtAsc"}).json()
    assert [m["id"] for m in post["value"]] == family["ids"][:2]
    rest = arm.post(f"{url}/list", params=API, json=post["nextRequest"]).json()
    assert [m["id"] for m in rest["value"]] == family["ids"][2:] and "nextRequest" not in rest


def test_the_api_prefix_of_sdk_1_0_76(arm: httpx.Client, workspace: dict, family: dict):
    legacy = f"/api{workspace['id']}/models"
    shown = arm.get(f"{legacy}/{family['ids'][2]}", params=API).json()
    assert shown["id"] == family["ids"][2] and MODEL_KEYS <= set(shown)
    assert [m["id"] for m in arm.get(legacy, params={**API, "tags": f"batch={family['batch']}"}).json()["value"]] \
        == family["ids"][::-1]
    assert_mms_error(arm.get(f"{legacy}/nope:1", params=API), 404, "ModelNotFound")


# Patching -----------------------------------------------------------------------------------------


def test_patch_tags_properties_and_description(arm: httpx.Client, workspace: dict):
    model = register(arm, workspace, f"patch-{uuid.uuid4().hex[:8]}", kvTags={"a": "1", "b": "2"},
                     properties={"p": "x"})
    url = f"{mms(workspace)}/models/{model['id']}"
    patched = arm.patch(url, params=API, headers={"Content-Type": "application/json-patch+json"}, json=[
        {"op": "replace", "path": "/kvTags", "value": {"a": "10"}},
        {"op": "add", "path": "/kvTags/c", "value": "3"},
        {"op": "add", "path": "/properties", "value": {"p": "x", "q": "y"}},
        {"op": "replace", "path": "/description", "value": "tuned"},
        {"op": "add", "path": "/datasets", "value": [{"name": "training", "id": "ds-1"}]},
    ])
    assert patched.status_code == 200, patched.text
    body = patched.json()
    assert body["kvTags"] == {"a": "10", "c": "3"} and body["properties"] == {"p": "x", "q": "y"}
    assert body["description"] == "tuned" and body["datasets"] == [{"name": "training", "id": "ds-1"}]
    assert body["modifiedTime"] >= body["createdTime"]
    removed = arm.patch(url, params=API, json=[{"op": "remove", "path": "/kvTags/a"},
                                               {"op": "remove", "path": "/description"}]).json()
    assert removed["kvTags"] == {"c": "3"} and removed["description"] is None
    assert arm.get(url, params=API).json() == removed


@pytest.mark.parametrize(("patch", "status", "code"), [
    ([{"op": "frobnicate", "path": "/kvTags", "value": {}}], 400, "InvalidPatchOperation"),
    ([{"op": "replace", "path": "/kvTags"}], 400, "InvalidPatchOperation"),
    ([{"op": "replace", "path": "/name", "value": "other"}], 400, "InvalidPatchPath"),
    ([{"op": "remove", "path": "/kvTags/absent"}], 400, "InvalidPatchPath"),
    ([{"op": "replace", "path": "/properties/p", "value": "changed"}], 400, "ImmutableProperty"),
    ([{"op": "replace", "path": "/kvTags", "value": {"n": 1}}], 400, "InvalidRequestContent"),
    ([{"op": "test", "path": "/kvTags/a", "value": "2"}], 409, "PatchTestFailed"),
    ({"kvTags": {"a": "1"}}, 400, "InvalidPatch"),
])
def test_bad_patches_change_nothing(arm: httpx.Client, workspace: dict, patch, status: int, code: str):
    model = register(arm, workspace, f"badpatch-{uuid.uuid4().hex[:8]}", kvTags={"a": "1"}, properties={"p": "x"})
    url = f"{mms(workspace)}/models/{model['id']}"
    assert_mms_error(arm.patch(url, params=API, json=[{"op": "add", "path": "/kvTags/z", "value": "z"}, *patch]
                               if isinstance(patch, list) else patch), status, code)
    assert arm.get(url, params=API).json() == model


# Assets -------------------------------------------------------------------------------------------


def test_assets_list_patch_and_delete(arm: httpx.Client, workspace: dict):
    run_id, batch = f"run-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex[:8]
    made = [uploaded_asset(arm, workspace, name=f"asset-{i}", runid=run_id, kvTags={"batch": batch, "i": str(i)},
                           properties={"kind": "even" if i % 2 == 0 else "odd"}) for i in range(3)]
    ids = [a["id"] for a in made]
    url = f"{mms(workspace)}/assets"

    def names(**params) -> list[str]:
        response = arm.get(url, params={**API, **params})
        assert response.status_code == 200, response.text
        return [a["id"] for a in response.json()["value"]]

    assert names(runId=run_id) == ids[::-1]
    assert names(runId=run_id, orderby="CreatedAtAsc") == ids
    assert names(runId=run_id, name="asset-1") == [ids[1]]
    assert names(tags=f"batch={batch},i=2") == [ids[2]]
    assert names(runId=run_id, properties="kind=even") == [ids[2], ids[0]]
    first = arm.get(url, params={**API, "runId": run_id, "count": 2}).json()
    assert [a["id"] for a in first["value"]] == ids[:0:-1]
    assert [a["id"] for a in arm.get(first["nextLink"]).json()["value"]] == [ids[0]]

    patched = arm.patch(f"{url}/{ids[0]}", params=API, json=[
        {"op": "add", "path": "/kvTags/new", "value": "tag"}, {"op": "replace", "path": "/description", "value": "d"}])
    assert patched.status_code == 200, patched.text
    assert patched.json()["kvTags"]["new"] == "tag" and patched.json()["description"] == "d"

    model = register(arm, workspace, f"uses-{uuid.uuid4().hex[:8]}", f"aml://asset/{ids[0]}")
    assert_mms_error(arm.delete(f"{url}/{ids[0]}", params=API), 412, "AssetInUse")
    assert arm.delete(f"{mms(workspace)}/models/{model['id']}", params=API).status_code == 200
    assert arm.delete(f"{url}/{ids[0]}", params=API).status_code == 200
    assert_mms_error(arm.get(f"{url}/{ids[0]}", params=API), 404, "AssetNotFound")


# Walkthrough steps 3 and 6, as curl sends them ----------------------------------------------------


def test_walkthrough_lists_and_deletes_a_model(server: Server, arm: httpx.Client, workspace: dict):
    name = f"walk-{uuid.uuid4().hex[:8]}"
    model = register(arm, workspace, name)
    headers = {"Authorization": f"Bearer {server.token()}"}
    base = f"{server.base_url}/modelmanagement/v1.0{workspace['id']}/models"
    listing = httpx.get(f"{base}?api-version=2019-11-01", headers=headers)
    assert listing.status_code == 200, listing.text
    assert model["id"] in [m["id"] for m in listing.json()["value"]]

    deleted = httpx.delete(f"{base}/{model['id']}?api-version=2019-11-01", headers=headers)
    assert deleted.status_code == 200, deleted.text
    gone = httpx.get(f"{base}/{model['id']}?api-version=2019-11-01", headers=headers)
    assert_mms_error(gone, 404, "ModelNotFound")
    assert_mms_error(httpx.delete(f"{base}/{model['id']}?api-version=2019-11-01", headers=headers), 404,
                     "ModelNotFound")
    assert model["id"] not in [m["id"] for m in httpx.get(f"{base}?api-version=2019-11-01",
                                                           headers=headers).json()["value"]]


# Bad inputs ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("body", "status", "code"), [
    ({"url": "aml://asset/0123456789abcdef0123456789abcdef"}, 404, "AssetNotFound"),
    ({"url": "s3://bucket/model.pkl"}, 400, "InvalidModelUrl"),
    ({"url": "outputs/model.pkl"}, 400, "InvalidModelUrl"),
    ({"url": "outputs/model.pkl", "runId": "no-such-run"}, 404, "RunNotFound"),
    ({"url": "aml://artifact/LocalUpload/no-such-container/model.pkl"}, 404, "ArtifactNotFound"),
    ({"url": "aml://artifact/LocalUpload"}, 400, "InvalidArtifactPrefix"),
    ({"url": "aml://artifact/Local Upload/x/y"}, 400, "InvalidArtifactPath"),
    ({"url": "aml://asset/x", "name": "-starts-with-a-dash"}, 400, "InvalidModelName"),
    ({"name": None}, 400, "InvalidRequestContent"),
])
def test_bad_registrations(arm: httpx.Client, workspace: dict, body: dict, status: int, code: str):
    body = {"name": "bad", "url": "aml://asset/x", **body}
    assert_mms_error(arm.post(f"{mms(workspace)}/models", params=API, json=body), status, code)


def test_a_model_needs_files(arm: httpx.Client, workspace: dict):
    empty = arm.post(f"{mms(workspace)}/assets", params=API, json={"name": "empty"}).json()
    assert empty["artifacts"] == []
    response = arm.post(f"{mms(workspace)}/models", params=API,
                        json={"name": "empty", "url": f"aml://asset/{empty['id']}"})
    assert_mms_error(response, 400, "EmptyAsset")


@pytest.mark.parametrize(("artifacts", "status", "code"), [
    ([{"prefix": "LocalUpload/nothing-here/model.pkl"}], 404, "ArtifactNotFound"),
    ([{"prefix": "LocalUpload"}], 400, "InvalidArtifactPrefix"),
    ([{"id": "LocalUpload/nothing-here/model.pkl"}], 404, "ArtifactNotFound"),
    ([{}], 400, "InvalidAssetArtifact"),
])
def test_bad_assets(arm: httpx.Client, workspace: dict, artifacts: list, status: int, code: str):
    response = arm.post(f"{mms(workspace)}/assets", params=API, json={"name": "bad", "artifacts": artifacts})
    assert_mms_error(response, status, code)


@pytest.mark.parametrize(("query", "code"), [
    ("?api-version=2099-01-01", "InvalidApiVersionParameter"),
    ("?api-version=", "MissingApiVersionParameter"),
    ("?api-version=2018-11-19&orderBy=Sideways", "InvalidQueryParameter"),
    ("?api-version=2018-11-19&count=0", "InvalidRequestContent"),
    ("?api-version=2018-11-19&$skipToken=garbage", "InvalidContinuationToken"),
    ("?api-version=2018-11-19&tags=,=x", "InvalidQueryParameter"),
])
def test_bad_queries_in_the_mms_envelope(arm: httpx.Client, workspace: dict, query: str, code: str):
    for prefix in (f"/modelmanagement/v1.0{workspace['id']}", f"/api{workspace['id']}"):
        assert_mms_error(arm.get(f"{prefix}/models{query}"), 400, code)


def test_api_version_is_required_under_api_and_optional_under_modelmanagement(arm: httpx.Client,
                                                                               workspace: dict):
    """azureml-core 1.0.76 always sends it on /api; the later SDKs' generated clients never send it on
    /modelmanagement/v1.0, whose swagger operations have no api-version."""
    body = assert_mms_error(arm.get(f"/api{workspace['id']}/models"), 400, "MissingApiVersionParameter")
    assert "api-version" in body["message"]
    assert arm.get(f"{mms(workspace)}/models").status_code == 200
    for version in ("2018-11-19", "2019-11-01"):
        assert arm.get(f"/api{workspace['id']}/models", params={"api-version": version}).status_code == 200


def test_unknown_ids_and_workspaces(arm: httpx.Client, workspace: dict):
    assert_mms_error(arm.get(f"{mms(workspace)}/models/nope:1", params=API), 404, "ModelNotFound")
    assert_mms_error(arm.get(f"{mms(workspace)}/models/no-version", params=API), 404, "ModelNotFound")
    assert_mms_error(arm.patch(f"{mms(workspace)}/models/nope:1", params=API, json=[]), 404, "ModelNotFound")
    assert_mms_error(arm.get(f"{mms(workspace)}/assets/nope", params=API), 404, "AssetNotFound")
    other = workspace["id"].replace(workspace["name"], "no-such-workspace")
    assert arm.get(f"/modelmanagement/v1.0{other}/models", params=API).status_code == 404


def test_no_token_is_refused_in_the_mms_envelope(server: Server, workspace: dict):
    response = httpx.get(f"{server.base_url}{mms(workspace)}/models?api-version=2018-11-19")
    body = assert_mms_error(response, 401, "AuthenticationFailed")
    assert response.headers["www-authenticate"].startswith("Bearer ")
    assert body["correlation"]["RequestId"]
