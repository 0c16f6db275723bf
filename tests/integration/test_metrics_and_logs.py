"""Metrics (history v1.0 and metric v2.0) and run logs."""

from __future__ import annotations

import threading
import uuid

import httpx
import pytest

from tests.server import Server


@pytest.fixture
def run_url(arm: httpx.Client, workspace: dict) -> tuple[str, str, str]:
    """(history experiment url, run id, metric v2 run url) of a fresh Running run."""
    experiment = f"m-{uuid.uuid4().hex[:8]}"
    run_id = f"{experiment}_run"
    history = f"/history/v1.0{workspace['id']}/experiments/{experiment}"
    assert arm.patch(f"{history}/runs/{run_id}", json={"status": "Running"}).status_code == 200
    return history, run_id, f"/metric/v2.0{workspace['id']}/runs/{run_id}"


def scalar(name: str, value, metric_id: str | None = None) -> dict:
    return {"metricId": metric_id or str(uuid.uuid4()), "metricType": "azureml.v1.scalar", "name": name,
            "numCells": 1, "cells": [{name: value}],
            "schema": {"numProperties": 1, "properties": [{"propertyId": name, "name": name, "type": "float"}]}}


def test_v1_scalar_list_and_table_metrics(arm: httpx.Client, run_url):
    history, run_id, _ = run_url
    assert arm.post(f"{history}/runs/{run_id}/metrics", json=scalar("acc", 0.5)).status_code == 200
    listed = {"metricId": str(uuid.uuid4()), "metricType": "azureml.v1.list", "name": "losses", "numCells": 3,
              "cells": [{"losses": 3.0}, {"losses": 2.0}, {"losses": 1.0}],
              "schema": {"numProperties": 1, "properties": [{"propertyId": "losses", "name": "losses",
                                                             "type": "float"}]}}
    table = {"metricId": str(uuid.uuid4()), "metricType": "azureml.v1.table", "name": "scores", "numCells": 2,
             "cells": [{"fold": 1, "auc": 0.8}, {"fold": 2, "auc": 0.9}],
             "schema": {"numProperties": 2, "properties": [{"propertyId": "fold", "name": "fold", "type": "int"},
                                                           {"propertyId": "auc", "name": "auc", "type": "float"}]}}
    batch = arm.post(f"{history}/runs/{run_id}/batch/metrics",
                     json={"values": [listed, table, scalar("acc", 0.75)]})
    assert batch.status_code == 200

    metrics = arm.get(f"{history}/metrics", params={"$filter": f"RunId eq '{run_id}'"}).json()["value"]
    assert [(m["name"], m["numCells"]) for m in metrics] == [("acc", 1), ("losses", 3), ("scores", 2), ("acc", 1)]
    assert metrics[1]["cells"] == listed["cells"] and metrics[2]["cells"] == table["cells"]
    assert all(m["runId"] == run_id for m in metrics)
    assert metrics[2]["schema"]["properties"][1] == {"propertyId": "auc", "name": "auc", "type": "float"}
    one = arm.get(f"{history}/metrics/{table['metricId']}").json()
    assert one["name"] == "scores" and one["cells"] == table["cells"]
    queried = arm.post(f"{history}/metrics:query", json={"filter": f"RunId eq '{run_id}'"}).json()["value"]
    assert len(queried) == 4
    assert arm.get(f"{history}/runs/{run_id}/metricsingest/wait").status_code == 200

    latest = arm.post(f"{history}/metrics:latest", json={"runIds": [run_id]}).json()["value"]
    assert latest[0]["metrics"]["acc"]["value"] == 0.75 and latest[0]["metrics"]["acc"]["count"] == 2
    assert latest[0]["metrics"]["scores"]["value"] == {"fold": 2, "auc": 0.9}


def test_v2_batch_full_series_paging_and_list(arm: httpx.Client, run_url):
    _, _, v2 = run_url
    values = [{"name": "loss", "columns": {"loss": "Double"}, "properties": {"uxMetricType": "azureml.v1.scalar"},
               "value": [{"metricId": str(uuid.uuid4()), "step": step, "data": {"loss": 1.0 / (step + 1)}}
                         for step in range(250)]}]
    assert arm.post(f"{v2}/batch", json={"values": values}).status_code == 200
    seen, token = [], None
    while True:
        page = arm.post(f"{v2}/full", json={"metricName": "loss", "top": 100, "continuationToken": token}).json()
        seen += [(v["step"], v["data"]["loss"]) for v in page["value"]]
        token = page.get("continuationToken")
        if not token:
            break
    assert seen == [(step, 1.0 / (step + 1)) for step in range(250)]
    definitions = arm.post(f"{v2}/list", json={}).json()["value"]
    assert definitions == [{"metricKey": {"namespace": None, "name": "loss"}, "columns": {"loss": "Double"},
                            "properties": {"uxMetricType": "azureml.v1.scalar"}, "count": 250, "lastStep": 249}]
    missing = arm.post(f"{v2}/full", json={"metricName": "nope"})
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "MetricNotFound"


def test_metric_keys_in_any_case_and_unknown_keys(arm: httpx.Client, run_url):
    """Bodies spelled as the SDK spells them take a faster way; others must come out the same."""
    history, run_id, v2 = run_url
    pascal = {"Values": [{"Name": "loss", "Columns": {"loss": "Double"}, "Extra": 1,
                          "Value": [{"MetricId": str(uuid.uuid4()), "Step": 0, "Data": {"loss": 0.5}},
                                    {"metricid": str(uuid.uuid4()), "data": {"loss": 0.25}, "unknown": True}]}]}
    assert arm.post(f"{v2}/batch", json=pascal).status_code == 200
    exact = {"values": [{"name": "loss", "columns": {"loss": "Double"},
                         "value": [{"metricId": str(uuid.uuid4()), "data": {"loss": 0.125}}]}]}
    assert arm.post(f"{v2}/batch", json=exact).status_code == 200
    one = scalar("acc", 0.5)
    one["Description"] = one.pop("description", "accuracy")
    assert arm.post(f"{history}/runs/{run_id}/metrics", json=one).status_code == 200
    page = arm.post(f"{v2}/full", json={"metricName": "loss"}).json()
    assert [(v["step"], v["data"]) for v in page["value"]] == [(0, {"loss": 0.5}), (1, {"loss": 0.25}),
                                                               (2, {"loss": 0.125})]
    latest = arm.post(f"{history}/metrics:latest", json={"runIds": [run_id]}).json()["value"][0]["metrics"]
    assert latest["acc"]["value"] == 0.5 and latest["loss"] == {**latest["loss"], "value": 0.125, "count": 3}


def test_bad_metric_bodies(arm: httpx.Client, run_url):
    history, run_id, v2 = run_url
    cases = [
        (f"{history}/runs/{run_id}/metrics", {"cells": [{"x": 1}]}),
        (f"{history}/runs/{run_id}/metrics", {"name": "x", "cells": [5]}),
        (f"{history}/runs/{run_id}/metrics", {"name": "x", "cells": [{}]}),
        (f"{history}/runs/{run_id}/batch/metrics", {"values": "nope"}),
        (f"{v2}/batch", {"values": [{"name": "x", "value": [{"step": -1, "data": {"x": 1}}]}]}),
    ]
    for url, body in cases:
        response = arm.post(url, json=body)
        assert response.status_code == 400, (body, response.text)
        assert set(response.json()) >= {"error", "correlation"}
    unknown = arm.post(f"{history}/runs/no-such-run/metrics", json=scalar("x", 1))
    assert unknown.status_code == 404 and "no-such-run" in unknown.json()["error"]["message"]


def test_twenty_concurrent_writers_lose_no_point(server: Server, run_url):
    history, run_id, v2 = run_url
    token = server.token()
    barrier = threading.Barrier(20, timeout=120)
    failures: list[int] = []

    def writer(index: int) -> None:
        with server.client(token=token) as client:
            barrier.wait()
            for batch in range(5):
                values = [scalar("shared", index * 1000 + batch * 10 + i) for i in range(10)]
                response = client.post(f"{history}/runs/{run_id}/batch/metrics", json={"values": values})
                if response.status_code != 200:
                    failures.append(response.status_code)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    with server.client() as client:
        points, token = [], None
        while True:
            page = client.post(f"{v2}/full", json={"metricName": "shared", "continuationToken": token}).json()
            points += page["value"]
            token = page.get("continuationToken")
            if not token:
                break
    assert len(points) == 20 * 5 * 10
    assert sorted(p["data"]["shared"] for p in points) == sorted(
        i * 1000 + b * 10 + k for i in range(20) for b in range(5) for k in range(10))
    assert sorted(p["step"] for p in points) == list(range(1000)), "every point has its own step"


def test_logs_append_tail_and_details(arm: httpx.Client, run_url, workspace: dict):
    history, run_id, _ = run_url
    logs = f"/history/v1.0{workspace['id']}/runs/{run_id}/logs"
    name = "azureml-logs/70_driver_log.txt"
    assert arm.post(f"{logs}/{name}", content=b"line 1\n").json() == {"path": name, "size": 7}
    first = arm.get(f"{logs}/{name}")
    assert first.text == "line 1\n" and first.headers["x-ms-log-size"] == "7"
    arm.post(f"{logs}/{name}", content=b"line 2\n")
    tail = arm.get(f"{logs}/{name}", params={"offset": 7})
    assert tail.text == "line 2\n" and tail.headers["x-ms-log-size"] == "14"
    assert arm.get(f"{logs}/{name}", params={"offset": 100}).text == ""
    assert arm.get(logs).json() == {"value": [{"path": name, "size": 14}]}
    details = arm.get(f"{history}/runs/{run_id}/details").json()
    assert details["logFiles"][name].endswith(f"/runs/{run_id}/logs/{name}")
    assert arm.get(details["logFiles"][name]).text == "line 1\nline 2\n"
    for bad in ("../escape.txt", "a/../../b"):
        assert arm.post(f"{logs}/{bad}", content=b"x").status_code in (400, 404)
    assert arm.get(f"{logs}/missing.txt").status_code == 404
