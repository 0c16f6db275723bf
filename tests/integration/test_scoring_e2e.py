"""End to end: a run trains a scikit-learn model and writes it to outputs/; it is registered from the run's
files, listed and deployed with a score.py; scored with curl exactly as the walkthrough's step 7 does, and
the predictions equal those of the same model loaded here; keys rotate; a model in use cannot be deleted;
the service is deleted, then the model (walkthrough step 6). A service outlives a server restart. And the
official client deploys: azureml-core's ``Model.deploy`` (its generated ``main.py`` wrapping a source
directory's ``score.py``), ``wait_for_deployment``, ``run``, keys, ``update``, logs, list and delete.

scikit-learn lives in a venv built once and cached (tests/conformance/sdk_venv.py); the run and the service
use it as their user-managed interpreter.
"""

from __future__ import annotations

import json
import subprocess
import textwrap
import time
import uuid

import httpx
import pytest

from tests.conformance.sdk_venv import sdk_python
from tests.execution import definition, make_compute, project_zip, run_url, start, wait_status
from tests.integration.test_registry import API, assert_mms_error, download, mms, register
from tests.resources import create_workspace
from tests.sdk import AZUREML_CORE, blob_host_server, in_run_environment
from tests.server import Backend, Server
from tests.services import (
    THIS_PYTHON,
    delete,
    deploy,
    deployment,
    keys,
    score,
    service,
    stop_scoring,
    wait_state,
)

TRAIN = """
import os
import joblib
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

features, labels = load_iris(return_X_y=True)
model = LogisticRegression(max_iter=1000).fit(features, labels)
os.makedirs("outputs", exist_ok=True)
joblib.dump(model, "outputs/model.pkl")
print("trained; accuracy", model.score(features, labels))
"""

SCORE = """
import json
import os

import joblib
import numpy as np


def init():
    global model
    model = joblib.load(os.path.join(os.environ["AZUREML_MODEL_DIR"], "model.pkl"))


def run(raw_data):
    data = np.array(json.loads(raw_data)["data"])
    return model.predict(data).tolist()
"""

PREDICT = """
import json, sys
import joblib, numpy as np
model = joblib.load(sys.argv[1])
print(json.dumps(model.predict(np.array(json.loads(sys.argv[2]))).tolist()))
"""

SAMPLES = [[5.1, 3.5, 1.4, 0.2], [6.2, 2.9, 4.3, 1.3], [7.7, 3.0, 6.1, 2.3], [5.9, 3.0, 5.1, 1.8],
           [4.6, 3.1, 1.5, 0.2], [6.7, 3.1, 4.4, 1.4]]


@pytest.fixture(scope="module")
def sklearn_python() -> str:
    return str(sdk_python("scikit-learn"))


def curl(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["curl", "-sS", *args], capture_output=True, text=True, check=True)


def test_train_register_deploy_score_rotate_and_delete(server: Server, arm: httpx.Client, workspace: dict,
                                                       sklearn_python: str, tmp_path):
    environment = {"Python": {"InterpreterPath": sklearn_python, "UserManagedDependencies": True}}
    experiment = f"iris-{uuid.uuid4().hex[:6]}"
    compute = make_compute(arm, workspace, "scoring-cpu")
    response = start(arm, workspace["id"], experiment, project_zip({"train.py": TRAIN}),
                     definition("train.py", compute, environment=environment))
    assert response.status_code == 200, response.text
    run_id = response.json()["runId"]
    run = wait_status(arm, run_url(workspace["id"], experiment, run_id), seconds=300)
    assert run["status"] == "Completed", run.get("error")

    name = f"iris-{uuid.uuid4().hex[:6]}"
    registered = arm.post(f"{mms(workspace)}/models", params=API, json={
        "name": name, "url": "outputs/model.pkl", "runId": run_id, "framework": "ScikitLearn"})
    assert registered.status_code == 200, registered.text
    model_id = registered.json()["id"]
    # walkthrough step 3: list the registered models, as the how-to does
    listed = arm.get(f"{mms(workspace)}/models", params={"api-version": "2019-11-01"}).json()["value"]
    assert model_id in [m["id"] for m in listed]

    service_name = f"iris-svc-{uuid.uuid4().hex[:6]}"
    try:
        _deploy_score_rotate_delete(arm, workspace, service_name, model_id, sklearn_python, tmp_path)
    finally:
        arm.delete(f"{mms(workspace)}/services/{service_name}", params=API)
        stop_scoring(server.data_dir)


def _deploy_score_rotate_delete(arm: httpx.Client, workspace: dict, service_name: str, model_id: str,
                                sklearn_python: str, tmp_path) -> None:
    body = deployment(arm, workspace, service_name, SCORE, [model_id],
                      environment={"python": {"userManagedDependencies": True, "interpreterPath": sklearn_python}})
    found = deploy(arm, workspace, body)
    assert found["state"] == "Healthy" and [m["id"] for m in found["models"]] == [model_id]
    key = keys(arm, workspace, service_name)

    # walkthrough step 7, verbatim
    reply = curl(found["scoringUri"], "-H", f"Authorization:Bearer {key['primaryKey']}", "-H",
                 "Content-Type: application/json", "-d", json.dumps({"data": SAMPLES}))
    predictions = json.loads(reply.stdout)
    (tmp_path / "model.pkl").write_bytes(download(arm, workspace, model_id)["model.pkl"])
    expected = subprocess.run([sklearn_python, "-c", PREDICT, str(tmp_path / "model.pkl"), json.dumps(SAMPLES)],
                              capture_output=True, text=True, check=True)
    assert predictions == json.loads(expected.stdout)
    assert set(predictions) == {0, 1, 2}
    refused = curl("-o", "/dev/null", "-w", "%{http_code}", found["scoringUri"], "-H",
                   "Content-Type: application/json", "-d", json.dumps({"data": SAMPLES}))
    assert refused.stdout == "401"  # no key

    # key rotation: the old primary key stops working at once, the secondary goes on working
    rotated = arm.post(f"{mms(workspace)}/services/{service_name}/regenerateKeys", params=API,
                       json={"keyType": "Primary"}).json()
    assert score(found["scoringUri"], key["primaryKey"], {"data": SAMPLES}).status_code == 401
    assert score(found["scoringUri"], rotated["primaryKey"], {"data": SAMPLES}).json() == predictions
    assert score(found["scoringUri"], key["secondaryKey"], {"data": SAMPLES}).json() == predictions

    # a model in use cannot be deleted
    in_use = arm.delete(f"{mms(workspace)}/models/{model_id}", params={"api-version": "2019-11-01"})
    assert_mms_error(in_use, 412, "ModelInUse")
    assert service_name in in_use.json()["message"]

    delete(arm, workspace, service_name)
    assert_mms_error(arm.get(f"{mms(workspace)}/services/{service_name}", params=API), 404, "ServiceNotFound")
    # walkthrough step 6: the model is deleted once no service uses it
    deleted = arm.delete(f"{mms(workspace)}/models/{model_id}", params={"api-version": "2019-11-01"})
    assert deleted.status_code == 200, deleted.text
    assert_mms_error(arm.get(f"{mms(workspace)}/models/{model_id}", params=API), 404, "ModelNotFound")


ECHO_PID = "import os\ndef init():\n    pass\ndef run(raw):\n    return os.getpid()\n"


@pytest.fixture
def own_server(tmp_path_factory):
    """A server of this test's own (it is restarted), on SQLite."""
    server = Server(tmp_path_factory.mktemp("amlite-restart"), Backend.sqlite()).start()
    yield server
    server.stop()
    stop_scoring(server.data_dir)


def test_a_service_outlives_a_server_restart(own_server: Server):
    with own_server.client() as client:
        workspace = create_workspace(client, own_server.credentials["subscriptionId"], "restart-rg", "restart-ws")
        model = register(client, workspace, "restart-model")
        found = deploy(client, workspace, deployment(client, workspace, "survivor", ECHO_PID, [model["id"]],
                                                     environment=THIS_PYTHON))
        key = keys(client, workspace, "survivor")["primaryKey"]
    pid = score(found["scoringUri"], key, {"data": []}).json()

    own_server.stop()
    assert score(found["scoringUri"], key, {"data": []}).json() == pid  # scoring goes on without the server

    restarted = Server(own_server.data_dir, own_server.backend, port=own_server.port).start()
    try:
        with restarted.client() as client:
            again = service(client, workspace, "survivor")
            assert again["state"] == "Healthy" and again["scoringUri"] == found["scoringUri"]
            assert score(found["scoringUri"], key, {"data": []}).json() == pid  # the same replica, reattached

            subprocess.run(["kill", "-9", str(pid)], check=True)  # no longer the server's child
            deadline = time.monotonic() + 120
            while (answer := score(found["scoringUri"], key, {"data": []})).status_code != 200:
                assert answer.status_code == 503 and time.monotonic() < deadline, answer.text
                time.sleep(0.1)
            assert answer.json() != pid
            wait_state(client, workspace, "survivor", "Healthy")
            logs = client.get(f"{mms(workspace)}/services/survivor/logs", params=API).json()["content"]
            assert "replica 0 exited; restarting" in logs
            delete(client, workspace, "survivor")
    finally:
        restarted.stop()


SDK_DEPLOY = textwrap.dedent("""
    import json, os
    from azureml.core import Environment, Run
    from azureml.core.model import InferenceConfig, Model
    from azureml.core.webservice import AciWebservice, Webservice

    run = Run.get_context(allow_offline=False)
    ws = run.experiment.workspace
    with open("model.pkl", "wb") as out:
        out.write(b"weights")
    model = Model.register(ws, model_path="model.pkl", model_name="sdk-deployed")
    os.makedirs("src", exist_ok=True)
    with open("src/score.py", "w") as script:
        script.write("import json, os\\n"
                     "def init():\\n"
                     "    global files\\n"
                     "    files = sorted(os.listdir(os.environ['AZUREML_MODEL_DIR']))\\n"
                     "def run(data):\\n"
                     "    return {'got': json.loads(data), 'files': files}\\n")
    environment = Environment("scoring")
    environment.python.user_managed_dependencies = True
    environment.python.interpreter_path = "python3"
    config = InferenceConfig(entry_script="score.py", source_directory="src", environment=environment)
    service = Model.deploy(ws, "sdk-service", [model], config,
                           AciWebservice.deploy_configuration(cpu_cores=1, memory_gb=1, auth_enabled=True))
    service.wait_for_deployment()
    print("STATE", service.state)
    print("RUN", json.dumps(service.run(json.dumps({"data": [1]}))))
    primary, _secondary = service.get_keys()
    service.regen_key("Primary")
    print("ROTATED", service.get_keys()[0] != primary)
    print("AGAIN", json.dumps(service.run(json.dumps({"data": [2]}))))  # the SDK fetches the new key on 401
    service.update(tags={"stage": "prod"})
    print("TAGS", json.dumps(Webservice(ws, "sdk-service").tags))
    print("LOGGED", "POST /score  200" in service.get_logs())
    print("LISTED", json.dumps([found.name for found in Webservice.list(ws)]))
    service.delete()
    print("AFTER", json.dumps([found.name for found in Webservice.list(ws)]))
""")


def test_azureml_core_deploys_scores_and_deletes_a_service(tmp_path_factory, tmp_path):
    python = str(sdk_python(AZUREML_CORE))
    folder = tmp_path_factory.mktemp("amlite-sdk-deploy")
    try:
        with blob_host_server(Backend.sqlite(), folder, None) as server:
            with server.client() as client:
                workspace = create_workspace(client, server.credentials["subscriptionId"], "sdk-rg", "sdk-ws")
                run = client.patch(f"/history/v1.0{workspace['id']}/experiments/deploy/runs/sdk_deploy",
                                   json={"status": "Running"}).json()
            env = in_run_environment(server, workspace, "deploy", run, tmp_path, blob_hosts=True)
            result = subprocess.run([python, "-c", SDK_DEPLOY], env=env, cwd=tmp_path, capture_output=True,
                                    text=True, timeout=600)
    finally:  # once the server is gone (its supervisor would start the front again)
        stop_scoring(folder)
    assert result.returncode == 0, (result.stdout[-2000:], result.stderr[-6000:])
    lines = {line.split(" ", 1)[0]: line.split(" ", 1)[1] for line in result.stdout.splitlines() if " " in line}
    assert lines["STATE"] == "Healthy"
    assert json.loads(lines["RUN"]) == {"got": {"data": [1]}, "files": ["model.pkl"]}
    assert lines["ROTATED"] == "True"
    assert json.loads(lines["AGAIN"])["got"] == {"data": [2]}
    assert json.loads(lines["TAGS"]) == {"stage": "prod"}
    assert lines["LOGGED"] == "True"
    assert json.loads(lines["LISTED"]) == ["sdk-service"] and json.loads(lines["AFTER"]) == []
