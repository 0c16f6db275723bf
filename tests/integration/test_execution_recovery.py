"""Restart recovery: a run survives its server's restart; a run whose agent died ends Failed."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator

import pytest

from tests.execution import definition, make_compute, project_zip, run_url, start, wait_status
from tests.resources import create_workspace
from tests.server import Backend, Server, processes_under

SLEEPER = "import sys, time\nprint('started', flush=True)\ntime.sleep(float(sys.argv[1]))\nprint('finished')\n"


@pytest.fixture
def lone_server(backend: Backend, tmp_path) -> Iterator[Server]:
    """A server of its own, since these tests stop and restart it."""
    store = Backend.postgresql(os.environ["AMLITE_TEST_POSTGRES_URL"]) if backend.name == "postgresql" else Backend.sqlite()
    running = Server(tmp_path, store).start()
    yield running
    running.stop()
    running.stop_agents()
    store.drop()


def restart(server: Server) -> None:
    server.stop()
    server.start()


def test_run_outlives_a_server_restart(lone_server: Server):
    with lone_server.client() as client:
        workspace = create_workspace(client, lone_server.credentials["subscriptionId"], "rec-rg", "rec-ws")
        compute = make_compute(client, workspace, "rec")
        run_id = start(client, workspace["id"], "recover", project_zip({"sleep.py": SLEEPER}),
                       definition("sleep.py", compute, arguments=[4])).json()["runId"]
        wait_status(client, run_url(workspace["id"], "recover", run_id), ("Running",))
    restart(lone_server)
    with lone_server.client() as client:
        run = wait_status(client, run_url(workspace["id"], "recover", run_id))
        assert run["status"] == "Completed", run.get("error")


def test_run_whose_agent_died_is_failed_as_node_lost(lone_server: Server):
    with lone_server.client() as client:
        workspace = create_workspace(client, lone_server.credentials["subscriptionId"], "lost-rg", "lost-ws")
        compute = make_compute(client, workspace, "lost")
        run_id = start(client, workspace["id"], "lost", project_zip({"sleep.py": SLEEPER}),
                       definition("sleep.py", compute, arguments=[120])).json()["runId"]
        running = wait_status(client, run_url(workspace["id"], "lost", run_id), ("Running",))
        queued = start(client, workspace["id"], "lost", project_zip({"sleep.py": SLEEPER}),
                       definition("sleep.py", compute, arguments=[1])).json()["runId"]
    lone_server.stop()
    for pid in processes_under(lone_server.data_dir / "runs" / running["runUuid"]):
        os.kill(pid, signal.SIGKILL)
    time.sleep(0.5)
    lone_server.start()
    with lone_server.client() as client:
        lost = wait_status(client, run_url(workspace["id"], "lost", run_id), seconds=30)
        assert lost["status"] == "Failed" and lost["error"]["error"]["code"] == "NodeLost"
        after = wait_status(client, run_url(workspace["id"], "lost", queued), seconds=120)
        assert after["status"] == "Completed", "the queued run stayed queued, then ran"
