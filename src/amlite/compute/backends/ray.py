"""Ray: each run is a Ray job, submitted through Ray's Job Submission REST API (the dashboard's
``/api/jobs/`` and ``/api/packages/``, with the cluster's auth token), so the server needs no ``ray``.

The job's entrypoint is the run's agent (``python -m amlite.compute.agent agent.json``), placed by Ray
with the compute's VM size as its CPU, memory and GPU request; with NodeCount > 1 it is the launcher
(amlite/compute/ray/launcher.py), which places one node agent per node. The agent talks to the server
over HTTP as on local compute, so statuses, logs, outputs and metrics are kept in amlite's stores;
the queue, admission, MaxRunDurationSeconds and the cancel of queued runs stay amlite's (Ray Jobs
is not a queue, has no deadline, and forgets its jobs when its head restarts).

The handle is ``{"backend": "ray", "address": <Job API>, "submissionId": ...}``.
"""

from __future__ import annotations

import json
import logging
import shlex
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from amlite.compute.backends.base import BackendError, Capacity, Health, RunContext
from amlite.compute.ray import packages

log = logging.getLogger("amlite.ray")
GIB = 1 << 30
LIVE = ("PENDING", "RUNNING")


class RayBackend:
    name = "ray"
    capabilities = frozenset({"multi-node", "cpu-limit", "memory-limit", "survives-restart"})

    def __init__(self, address: str, token: str | None, *, python: str = "python",
                 env_cache: str = "~/.cache/amlite/envs", unreachable_seconds: float = 30.0,
                 stop_grace_seconds: int = 60) -> None:
        self.address = address.rstrip("/")
        self.client = httpx.Client(headers={"Authorization": f"Bearer {token}"} if token else {}, timeout=30)
        self.python = python
        self.env_cache = env_cache
        self.unreachable_seconds = unreachable_seconds
        self.stop_grace_seconds = stop_grace_seconds
        self._lock = threading.Lock()
        self._silent_since: dict[str, float] = {}  # submission id -> when polls stopped being answered
        self._endings: dict[str, str] = {}  # submission id -> why its job ended under the run
        self._cluster_silent = False

    # HTTP --------------------------------------------------------------------------------------

    def _call(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        try:
            return self.client.request(method, url, **kwargs)
        except httpx.HTTPError as error:
            raise BackendError(f"The Ray cluster at {self.address} did not answer: {error}") from error

    def _upload(self, data: bytes, check: bool = False) -> str:
        """Put a package in Ray's package store (once: ``check`` asks first); answers its URI."""
        name = packages.package_name(data)
        url = f"{self.address}/api/packages/gcs/{name}"
        if not check or self._call("GET", url).status_code != 200:
            response = self._call("PUT", url, content=data)
            if response.status_code != 200:
                raise BackendError(f"Ray refused the package {name}: HTTP {response.status_code} {response.text[:300]}")
        return f"gcs://{name}"

    # the seam ----------------------------------------------------------------------------------

    def submit(self, context: RunContext) -> dict[str, Any]:
        config = json.loads(context.agent_config.read_text())
        files = {"snapshot.zip": Path(config["snapshot"]).read_bytes()}
        if config.get("caFile"):
            files["ca.pem"] = Path(config["caFile"]).read_bytes()
            config["caFile"] = "ca.pem"
        # paths on the node: relative ones are taken from the job's working directory
        config.update(snapshot="snapshot.zip", runDir=".", envCache=self.env_cache, watchParent=True,
                      gpus=context.gpus)
        files["agent.json"] = json.dumps(config).encode()
        runtime_env = {
            "working_dir": self._upload(packages.zip_files(files)),
            "py_modules": [self._upload(packages.agent_bundle(), check=True)],
            # Ray's stop: SIGTERM, then SIGKILL after this long; the agent needs the time to stop its scripts
            # and keep their outputs
            "env_vars": {"RAY_JOB_STOP_WAIT_TIME_S": str(self.stop_grace_seconds)},
        }
        module = "amlite.compute.agent" if context.node_count == 1 else "amlite.compute.ray.launcher"
        submission_id = f"amlite-{context.run_dir.name}"
        body: dict[str, Any] = {
            # through /bin/sh -c: exec makes the agent the supervisor's child, so that it sees it die
            "entrypoint": f"exec {shlex.quote(self.python)} -m {module} agent.json",
            "submission_id": submission_id,
            "runtime_env": runtime_env,
            "metadata": {"amlite.runId": context.run_id},
        }
        if context.node_count == 1:  # one node: the agent's own job takes the node's resources
            body.update(entrypoint_num_cpus=context.vcpus, entrypoint_memory=int(context.memory_gb * GIB))
            if context.gpus:
                body["entrypoint_num_gpus"] = context.gpus
        response = self._call("POST", f"{self.address}/api/jobs/", json=body)
        if response.status_code != 200:
            raise BackendError(f"Ray refused the run's job: HTTP {response.status_code} {response.text[:500]}")
        return {"backend": self.name, "address": self.address, "submissionId": submission_id}

    def poll(self, handle: dict[str, Any]) -> Health:
        """Alive while Ray has the job PENDING or RUNNING, and while its cluster has been silent for less
        than ``unreachable_seconds``; gone when the job ended, Ray forgot it, or the silence lasted."""
        submission = handle["submissionId"]
        try:
            response = self.client.get(f"{handle['address']}/api/jobs/{submission}")
            status = response.json()["status"] if response.status_code == 200 else None
            silent = None if response.status_code in (200, 404) else f"HTTP {response.status_code}"
        except (httpx.HTTPError, ValueError, KeyError) as error:
            response, status, silent = None, None, f"{type(error).__name__}: {error}"
        with self._lock:
            if silent is not None:
                since = self._silent_since.setdefault(submission, time.monotonic())
                if time.monotonic() - since < self.unreachable_seconds:
                    return "alive"
                self._endings[submission] = (
                    f"The Ray cluster at {handle['address']} has not answered for {self.unreachable_seconds:g} s "
                    f"({silent}): its head is down or unreachable, and the run's job {submission} was lost with it.")
                return "gone"
            self._silent_since.pop(submission, None)
            if status in LIVE:
                return "alive"
            if response is not None and response.status_code == 404:
                self._endings[submission] = (
                    f"Ray no longer knows the run's job {submission}: its head restarted (Ray forgets its jobs "
                    f"then), and the run was lost with it.")
            else:
                job = response.json()
                self._endings[submission] = (f"The run's Ray job {submission} ended {status} without the run "
                                             f"reporting an end: {job.get('message') or 'no message'}")
            return "gone"

    def lost(self, handle: dict[str, Any]) -> str:
        with self._lock:
            self._silent_since.pop(handle["submissionId"], None)
            return self._endings.pop(handle["submissionId"], f"The run's Ray job {handle['submissionId']} was lost.")

    def cancel(self, handle: dict[str, Any]) -> None:
        """Ray's stop: SIGTERM to the agent (which stops its scripts and reports Canceled). A job still
        PENDING starts later all the same; its agent then finds the run canceled and ends at once."""
        try:
            self.client.post(f"{handle['address']}/api/jobs/{handle['submissionId']}/stop")
        except httpx.HTTPError as error:
            log.warning("could not stop Ray job %s: %s", handle["submissionId"], error)

    def capacity(self) -> Capacity:
        """The cluster's live nodes (Ray's state API); none while the cluster does not answer."""
        try:
            response = self.client.get(f"{self.address}/api/v0/nodes", params={"detail": "1", "limit": "10000"})
            response.raise_for_status()
            nodes = response.json()["data"]["result"]["result"]
        except (httpx.HTTPError, ValueError, KeyError) as error:
            if not self._cluster_silent:
                log.warning("the Ray cluster at %s does not answer: %s", self.address, error)
            self._cluster_silent = True
            return Capacity()
        self._cluster_silent = False
        return Capacity(nodes=[(float(total.get("CPU", 0)), float(total.get("memory", 0)) / GIB,
                                float(total.get("GPU", 0)))
                               for node in nodes if node.get("state") == "ALIVE"
                               for total in [node.get("resources_total") or {}]])
