"""A local Ray cluster for the tests and benchmarks: amlite's own local nodes (amlite/compute/ray/head.py)
started from a cached venv holding ray[default] (tests/conformance/sdk_venv.py). The head listens on
127.0.0.2, a worker on 127.0.0.3, each with its own temp dir; at most one head and one worker at a time."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from amlite.compute.ray.head import LocalRayNode
from tests.conformance.sdk_venv import sdk_python

RAY_REQUIREMENT = "ray[default]==2.60.0"  # as benchmarks/requirements-ray.txt pins it
HEAD_HOST, WORKER_HOST = "127.0.0.2", "127.0.0.3"


def ray_executable() -> str:
    """The `ray` CLI of the cached venv (built on first use; it has uv too, for run environments)."""
    return str(sdk_python(RAY_REQUIREMENT).parent / "ray")


class RayCluster:
    """A head with 2 CPUs and 8 GiB (two Standard_D1 nodes), and on demand a worker with 1 CPU and 4 GiB."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.temp = Path(tempfile.mkdtemp(prefix="amlr-"))  # short: Ray's socket paths must fit in 107 bytes
        self.head = LocalRayNode(ray_executable(), self.temp / "head", host=HEAD_HOST, cpus=2, memory_gb=8)
        self.worker: LocalRayNode | None = None

    def start(self) -> RayCluster:
        """Start (or restart, on the same ports and token) the head."""
        self.head.start(self.logs / "ray-head.log")
        return self

    def add_worker(self) -> LocalRayNode:
        self.worker = LocalRayNode(self.head.executable, self.temp / "worker", host=WORKER_HOST, head=self.head,
                                   cpus=1, memory_gb=4).start(self.logs / "ray-worker.log")
        return self.worker

    def remove_worker(self) -> None:
        if self.worker is not None:
            self.worker.stop()
            self.worker = None

    def stop(self) -> None:
        self.remove_worker()
        self.head.stop()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.temp, ignore_errors=True)

    def server_env(self, env_cache: Path) -> dict[str, str]:
        """What a server needs to run every compute on this cluster; a silent cluster loses its runs after 5 s."""
        return {"AMLITE_RAY_ADDRESS": self.head.address, "AMLITE_RAY_TOKEN": self.head.token,
                "AMLITE_RAY_ENV_CACHE": str(env_cache), "AMLITE_RAY_UNREACHABLE_SECONDS": "5"}
