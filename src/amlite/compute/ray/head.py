"""Local Ray nodes for ``amlite serve --ray-local`` (and the tests and benchmarks): ``ray start --block``
in a session of its own, on a loopback address, with its own temp dir and token auth (a token made for
it, so nothing is written to ``~/.ray``). Stopping one signals only the session it leads.

Two nodes on one machine need their own addresses (e.g. 127.0.0.2 for the head, 127.0.0.3 for a worker)
and temp dirs. Ray still binds some internal ports on all interfaces; the token guards them.
"""

from __future__ import annotations

import ctypes
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx

READY_SECONDS = 180


def free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def find_ray(executable: str | None) -> str:
    """The `ray` CLI: the one named, else `ray` on PATH."""
    found = shutil.which(executable or "ray")
    if found is None:
        raise FileNotFoundError(f"The Ray CLI '{executable or 'ray'}' was not found: install ray[default] "
                                f"(e.g. pip install 'ray[default]==2.60.0') or name it with AMLITE_RAY_EXECUTABLE.")
    return found


def _die_with_parent() -> None:
    """The node gets SIGTERM when the process that started it dies, however it died (PR_SET_PDEATHSIG)."""
    ctypes.CDLL(None).prctl(1, signal.SIGTERM)


def _session(leader: int) -> set[int]:
    """The live processes of the session ``leader`` leads."""
    members = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat[stat.rindex(")") + 2:].split()[3]) == leader:
                members.add(int(entry.name))
    return members


class LocalRayNode:
    """A Ray head (``head`` None) or a worker joining ``head``, started with :meth:`start`."""

    def __init__(self, executable: str, temp_dir: Path, *, host: str = "127.0.0.1", head: LocalRayNode | None = None,
                 cpus: int | None = None, memory_gb: float | None = None, token: str | None = None) -> None:
        self.executable = executable
        self.temp_dir = temp_dir  # short: Ray's socket paths under it must fit in 107 bytes
        self.host = host
        self.head = head
        self.cpus = cpus
        self.memory_gb = memory_gb
        self.token = head.token if head else (token or secrets.token_hex(32))
        self.gcs_port = head.gcs_port if head else free_port(host)
        self.dashboard_port = free_port(host)
        self.process: subprocess.Popen | None = None

    @property
    def address(self) -> str:
        """The Job API (the dashboard) of the cluster."""
        return self.head.address if self.head else f"http://{self.host}:{self.dashboard_port}"

    def environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_", "VIRTUAL_ENV"))}
        # `python` on the nodes is the one beside `ray` (the agent's interpreter, when ray lives in a venv)
        env.update(PATH=f"{Path(self.executable).parent}{os.pathsep}{env.get('PATH', '')}",
                   RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=self.token, RAY_USAGE_STATS_ENABLED="0")
        return env

    def command(self) -> list[str]:
        command = [self.executable, "start", "--block", "--temp-dir", str(self.temp_dir),
                   "--node-ip-address", self.host, "--disable-usage-stats"]
        if self.head is None:
            command += ["--head", "--port", str(self.gcs_port), "--dashboard-host", self.host,
                        "--dashboard-port", str(self.dashboard_port), "--include-dashboard", "true"]
        else:
            command += ["--address", f"{self.head.host}:{self.gcs_port}"]
        if self.cpus is not None:
            command += ["--num-cpus", str(self.cpus)]
        if self.memory_gb is not None:
            command += ["--memory", str(int(self.memory_gb * (1 << 30)))]
        return command

    def start(self, log: Path) -> LocalRayNode:
        """Start the node and wait until the cluster's Job API lists this node alive."""
        self.temp_dir.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as out:
            self.process = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL, stdout=out,
                                            stderr=subprocess.STDOUT, env=self.environment(), start_new_session=True,
                                            preexec_fn=_die_with_parent)
        deadline = time.monotonic() + READY_SECONDS
        while not self._listed():
            if self.process.poll() is not None:
                raise RuntimeError(f"ray start exited with code {self.process.returncode}:\n"
                                   f"{log.read_text(errors='replace')[-3000:]}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the Ray node at {self.host} was not up after {READY_SECONDS} s")
            time.sleep(0.2)
        return self

    def _listed(self) -> bool:
        try:
            response = httpx.get(f"{self.address}/api/v0/nodes", params={"detail": "1"}, timeout=5,
                                 headers={"Authorization": f"Bearer {self.token}"})
            nodes = response.json()["data"]["result"]["result"] if response.status_code == 200 else []
        except (httpx.HTTPError, ValueError, KeyError):
            return False
        # a head asked for 127.0.0.1 registers with the machine's address: Ray keeps that one for other machines
        return any(node.get("state") == "ALIVE" and (self.head is None or node.get("node_ip") == self.host)
                   for node in nodes)

    def stop(self, timeout: float = 10) -> None:
        """SIGTERM the node (`ray start`), then SIGKILL what stays of its session."""
        if self.process is None:
            return
        members = _session(self.process.pid)
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)  # `ray start --block` stops its own processes
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
        self.kill(members)

    def kill(self, members: set[int] | None = None) -> None:
        """SIGKILL the node's processes at once (as a machine that dies)."""
        if self.process is None:
            return
        for pid in (members or set()) | _session(self.process.pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.process.wait()
        self.process = None
