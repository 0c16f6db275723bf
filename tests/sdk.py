"""The Azure ML SDK (azureml-core) as a judge: its version, a server set up the way its uploads need, and
the environment a script gets to use it in-run mode."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import amlite.compute
from tests.server import Backend, Server

AZUREML_CORE = "azureml-core==1.61.0.post4"
BLOB_SUFFIX = "amlite.internal"
# what the run agent puts on a run's PYTHONPATH: resolves {account}.blob.{suffix} to the server
RUNTIME = Path(amlite.compute.__file__).parent / "runtime"


@contextlib.contextmanager
def blob_host_server(backend: Backend, folder: Path, postgres_url: str | None, **env: str) -> Iterator[Server]:
    """A server with a store of its own (on the same kind of backend), serving https and blob links as
    ``https://{account}.blob.amlite.internal``: the SDK rebuilds upload URLs in that form."""
    store = Backend.postgresql(postgres_url) if backend.name == "postgresql" else Backend.sqlite()
    try:
        running = Server(folder, store, tls=True, env={"AMLITE_BLOB_HOST_SUFFIX": BLOB_SUFFIX, **env}).start()
        try:
            yield running
        finally:
            running.stop()
            running.stop_agents()
    finally:
        store.drop()


def in_run_environment(server: Server, workspace: dict, experiment: str, run: dict, home: Path,
                       blob_hosts: bool = False) -> dict[str, str]:
    """The ``AZUREML_*`` variables of a run (what the agent gives a submitted script), for a script the test
    starts itself; ``blob_hosts`` adds what a run's scripts get to reach blob host names."""
    ids = workspace["id"].split("/")
    env = {
        **os.environ,
        "HOME": str(home),  # the SDK caches discovery under ~/.azureml
        "AZUREML_ARM_SUBSCRIPTION": ids[2], "AZUREML_ARM_RESOURCEGROUP": ids[4],
        "AZUREML_ARM_WORKSPACE_NAME": ids[8], "AZUREML_ARM_PROJECT_NAME": experiment,
        "AZUREML_RUN_ID": run["runId"], "AZUREML_EXPERIMENT_ID": run["experimentId"],
        "AZUREML_WORKSPACE_ID": workspace["properties"]["workspaceId"],
        "AZUREML_RUN_TOKEN": server.token(), "AZUREML_SERVICE_ENDPOINT": server.base_url,
        "AZUREML_DISCOVERY_SERVICE_ENDPOINT": workspace["properties"]["discoveryUrl"],
    }
    if blob_hosts:
        env.update({"REQUESTS_CA_BUNDLE": str(server.ca_file), "PYTHONPATH": str(RUNTIME),
                    "AMLITE_BLOB_HOST_SUFFIX": BLOB_SUFFIX, "AMLITE_BLOB_HOST_ADDRESS": "127.0.0.1"})
    return env
