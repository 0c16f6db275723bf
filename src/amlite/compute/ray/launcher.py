"""The driver of a multi-node run on Ray: the entrypoint of its Ray job (``python -m
amlite.compute.ray.launcher agent.json``, in the job's working directory, on the cluster's Python, where
``ray`` is installed; the server never imports this module).

It reserves one bundle per node (the compute's VM size) in a STRICT_SPREAD placement group, starts a node
agent on each bundle (an actor that runs ``python -m amlite.compute.agent`` for its rank, with rank 0's
node address and a free port there as MASTER_ADDR and MASTER_PORT), and reports the run's end from the
nodes' ends. A failing node stops the others; Ray's stop (amlite's cancel) stops them all.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import ray
from ray.exceptions import RayError
from ray.util.placement_group import placement_group, remove_placement_group
from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

from amlite.compute.agent import CONTROL_LOG, NODE_LOST, Server, _resolve

GIB = 1 << 30
WAIT_SECONDS = 0.5


@ray.remote(max_concurrency=2)  # stop() is served while run() waits
class NodeAgent:
    """One node of the run. The agent runs as a child process, so that it and its scripts stop when this
    actor dies (the agent watches its parent)."""

    def __init__(self) -> None:
        self.process: subprocess.Popen | None = None
        self.stopped = False

    def address(self) -> tuple[str, int]:
        host = ray.util.get_node_ip_address()
        with socket.socket() as probe:
            probe.bind((host, 0))
            return host, probe.getsockname()[1]

    def run(self, config: dict[str, Any]) -> dict[str, Any]:
        rank = config["ranks"][0]
        folder = Path.cwd() / f"node-{rank}"  # the actor's working directory is the job's, on this node
        folder.mkdir(exist_ok=True)
        config = {**_resolve(config, Path.cwd()), "runDir": str(folder), "resultFile": str(folder / "result.json")}
        path = folder / "agent.json"
        path.write_text(json.dumps(config))
        path.chmod(0o600)
        self.process = subprocess.Popen([sys.executable, "-m", "amlite.compute.agent", str(path)],
                                        stdin=subprocess.DEVNULL)
        if self.stopped:
            self.process.terminate()
        code = self.process.wait()
        result = folder / "result.json"
        if result.is_file():
            return json.loads(result.read_text())
        return {"status": "Failed", "error": {"error": {"code": "NodeLost", "message": (
            f"The agent of rank {rank} exited with code {code} without reporting an end.")}}}

    def stop(self) -> None:
        self.stopped = True
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()


def report(server: Server, ends: list[dict[str, Any]], canceled: bool) -> None:
    """The run's end from its nodes' (in rank order): a cancel, else the first failure, else Completed."""
    failure = next((end["error"]["error"] for end in ends if end["status"] == "Failed" and end.get("error")), None)
    if canceled or (failure is None and any(end["status"] == "Canceled" for end in ends)):
        server.event("Canceled")
    elif failure is not None:
        server.fail(failure["code"], failure["message"])
    else:
        server.event("Completed")


class Launcher:
    def __init__(self, raw: dict[str, Any], config: dict[str, Any]) -> None:
        self.raw = raw  # as shipped: its relative paths are resolved on each node
        self.config = config
        self.server = Server(config)
        self.stop = threading.Event()
        self.orphaned = False

    def log(self, text: str) -> None:
        self.server.append(CONTROL_LOG, f"{text}\n".encode())

    def watch_parent(self, parent: int) -> None:
        while not self.stop.wait(0.2):
            if os.getppid() != parent:
                self.orphaned = True
                self.stop.set()

    def run(self) -> None:
        config = self.config
        count = config["nodeCount"]
        shape = {"CPU": config["vcpus"], "memory": int(config["memoryGb"] * GIB)}
        if config.get("gpus"):
            shape["GPU"] = config["gpus"]
        ray.init()
        group = placement_group([shape] * count, strategy="STRICT_SPREAD")
        self.log(f"Waiting for {count} Ray nodes with {shape} each (a STRICT_SPREAD placement group).")
        while not ray.wait([group.ready()], timeout=WAIT_SECONDS)[0]:
            if self.stop.is_set():
                return self.end([], canceled=True)
        if not self.server.status("Starting"):
            return self.end([], canceled=True)
        options = {"num_cpus": shape["CPU"], "memory": shape["memory"], "num_gpus": shape.get("GPU", 0)}
        agents = [NodeAgent.options(scheduling_strategy=PlacementGroupSchedulingStrategy(group, index), **options)
                  .remote() for index in range(count)]
        host, port = ray.get(agents[0].address.remote())
        self.log(f"{count} nodes placed; MASTER_ADDR={host} MASTER_PORT={port}.")
        pending = {agent.run.remote({**self.raw, "role": "node", "ranks": [rank], "leader": rank == 0,
                                     "masterAddr": host, "masterPort": port}): rank
                   for rank, agent in enumerate(agents)}
        ends: dict[int, dict[str, Any]] = {}
        stopping = False
        while pending:
            done, _ = ray.wait(list(pending), timeout=WAIT_SECONDS)
            for ref in done:
                rank = pending.pop(ref)
                try:
                    ends[rank] = ray.get(ref)
                except RayError as error:
                    ends[rank] = {"status": "Failed", "error": {"error": {"code": "NodeLost", "message": (
                        f"The node of rank {rank} was lost: {type(error).__name__}: {error}")}}}
            failed = any(end["status"] == "Failed" for end in ends.values())
            if (self.stop.is_set() or failed) and not stopping:
                stopping = True
                for agent in agents:
                    agent.stop.remote()
        remove_placement_group(group)
        canceled = self.stop.is_set() and not self.orphaned
        self.end([ends[rank] for rank in sorted(ends)], canceled)

    def end(self, ends: list[dict[str, Any]], canceled: bool) -> None:
        if self.orphaned:
            self.server.fail("NodeLost", NODE_LOST)
        else:
            report(self.server, ends, canceled)


def main() -> None:
    path = Path(sys.argv[1]).absolute()
    raw = json.loads(path.read_text())
    launcher = Launcher(raw, _resolve(json.loads(path.read_text()), path.parent))
    signal.signal(signal.SIGTERM, lambda *_: launcher.stop.set())
    threading.Thread(target=launcher.watch_parent, args=(os.getppid(),), daemon=True).start()
    launcher.run()


if __name__ == "__main__":
    main()
