"""azureml-core as the judge of the model registry: ``Model.register`` from a local file (the SDK uploads it
through the artifact service and Azure Blob, creates an asset, registers the model), ``run.register_model``
from a run's uploaded outputs, ``Model.list`` (following ``nextLink`` over small pages), ``Model(ws, name)``
for the latest version, download, tags and delete.

The SDK runs in its own interpreter with a run's ``AZUREML_*`` variables (in-run mode) holding the server's
token; the blob host names it rebuilds resolve to the server (amlite/compute/runtime/sitecustomize.py).
"""

from __future__ import annotations

import pickle
import subprocess
import textwrap
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest

from tests.conftest import POSTGRES_URL
from tests.conformance.sdk_venv import sdk_python
from tests.resources import create_workspace
from tests.sdk import AZUREML_CORE, BLOB_SUFFIX, blob_host_server, in_run_environment
from tests.server import Backend, Server


SCRIPT = textwrap.dedent("""
    import os, pickle, sys
    from azureml.core import Run
    from azureml.core.model import Model

    name = sys.argv[1]
    run = Run.get_context(allow_offline=False)
    ws = run.experiment.workspace
    with open("model.pkl", "wb") as out:
        pickle.dump({"coef": [1.5, -2.0]}, out)

    first = Model.register(ws, model_path="model.pkl", model_name=name, tags={"stage": "dev"},
                           properties={"accuracy": "0.9"}, description="from the SDK",
                           model_framework=Model.Framework.SCIKITLEARN, model_framework_version="1.3")
    second = Model.register(ws, model_path="model.pkl", model_name=name, tags={"stage": "prod"})
    run.upload_file("outputs/model.pkl", "model.pkl")
    third = run.register_model(model_name=name, model_path="outputs/model.pkl", tags={"stage": "prod"})
    print("REGISTERED", first.id, second.id, third.id)
    print("FRAMEWORK", first.model_framework, first.model_framework_version, first.description)
    print("LISTED", sorted(m.id for m in Model.list(ws, name=name)))
    print("TAGGED", sorted(m.id for m in Model.list(ws, name=name, tags=[["stage", "prod"]])))
    print("LATEST", Model.list(ws, name=name, latest=True)[0].id, Model(ws, name=name).version)
    print("RUN", third.run_id == run.id, third.experiment_name == run.experiment.name)

    path = Model(ws, name=name, version=3).download(target_dir="down", exist_ok=True)
    with open(path, "rb") as back:
        print("DOWNLOADED", pickle.load(back))
    first.add_tags({"checked": "yes"})
    print("TAGS", sorted(Model(ws, id=first.id).tags.items()))
    second.delete()
    print("AFTER", sorted(m.id for m in Model.list(ws, name=name)))
""")


@pytest.fixture(scope="module")
def blob_server(backend: Backend, tmp_path_factory) -> Iterator[Server]:
    # pages of two, so that Model.list follows nextLink
    with blob_host_server(backend, tmp_path_factory.mktemp(f"amlite-models-{backend.name}"), POSTGRES_URL,
                          AMLITE_PAGE_SIZE="2") as running:
        yield running


def test_register_list_download_and_delete_with_azureml_core(blob_server: Server, tmp_path):
    python = str(sdk_python(AZUREML_CORE))
    experiment, run_id, name = "sdk-models", f"sdk_{uuid.uuid4().hex[:8]}", f"sdk-model-{uuid.uuid4().hex[:6]}"
    with blob_server.client() as client:
        workspace = create_workspace(client, blob_server.credentials["subscriptionId"], "models-rg", "models-ws")
        run = client.patch(f"/history/v1.0{workspace['id']}/experiments/{experiment}/runs/{run_id}",
                           json={"status": "Running"}).json()
    env = in_run_environment(blob_server, workspace, experiment, run, tmp_path, blob_hosts=True)
    result = subprocess.run([python, "-c", SCRIPT, name], env=env, cwd=tmp_path, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, (result.stdout[-2000:], result.stderr[-6000:])
    lines = {line.split(" ", 1)[0]: line.split(" ", 1)[1] for line in result.stdout.splitlines() if " " in line}
    v1, v2, v3 = f"{name}:1", f"{name}:2", f"{name}:3"
    assert lines["REGISTERED"] == f"{v1} {v2} {v3}"
    assert lines["FRAMEWORK"] == "ScikitLearn 1.3 from the SDK"
    assert lines["LISTED"] == str([v1, v2, v3])
    assert lines["TAGGED"] == str([v2, v3])
    assert lines["LATEST"] == f"{v3} 3"
    assert lines["RUN"] == "True True"
    assert lines["DOWNLOADED"] == "{'coef': [1.5, -2.0]}"
    assert lines["TAGS"] == str([("checked", "yes"), ("stage", "dev")])
    assert lines["AFTER"] == str([v1, v3])

    with blob_server.client() as client:
        model = client.get(f"/modelmanagement/v1.0{workspace['id']}/models/{v1}",
                           params={"api-version": "2018-11-19"}).json()
        assert model["url"].startswith("aml://asset/") and model["properties"] == {"accuracy": "0.9"}
        links = client.get(f"/modelmanagement/v1.0{workspace['id']}/models/{v1}/download",
                           params={"api-version": "2018-11-19"}).json()["value"]
        assert [item["path"] for item in links] == ["model.pkl"]
        link = urlsplit(links[0]["contentUri"])  # a blob host name: sent to the server by its Host header
        assert link.hostname.endswith(f".blob.{BLOB_SUFFIX}")
        content = httpx.get(f"{blob_server.base_url}{link.path}?{link.query}", headers={"Host": link.netloc},
                            verify=blob_server.verify)
        assert pickle.loads(content.content) == {"coef": [1.5, -2.0]}
