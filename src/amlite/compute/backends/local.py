"""Local processes: each run's agent is a child process in its own session, so it outlives a
server restart; its handle is (pid, process start time), which survives pid reuse."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from amlite.compute.backends.base import Capacity, Health, RunContext


def start_ticks(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (field 22 of /proc/<pid>/stat)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()
    if fields[0] == "Z":  # a zombie has exited
        return None
    return int(fields[19])


class LocalBackend:
    name = "local"
    capabilities = frozenset({"multi-node", "cpu-limit", "memory-limit", "survives-restart"})

    def submit(self, context: RunContext) -> dict[str, Any]:
        context.run_dir.mkdir(parents=True, exist_ok=True)
        with (context.run_dir / "agent.log").open("ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "amlite.compute.agent", str(context.agent_config)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                cwd=context.run_dir, start_new_session=True,
            )
        return {"backend": self.name, "pid": process.pid, "startTicks": start_ticks(process.pid)}

    def poll(self, handle: dict[str, Any]) -> Health:
        pid = handle["pid"]
        try:  # reap it if it is our own child that exited
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
        ticks = start_ticks(pid)
        return "alive" if ticks is not None and ticks == handle.get("startTicks") else "gone"

    def cancel(self, handle: dict[str, Any]) -> None:
        """Ask the agent to stop; it ends the run's processes and reports Canceled."""
        if self.poll(handle) == "alive":
            try:
                os.kill(handle["pid"], signal.SIGTERM)
            except ProcessLookupError:
                pass

    def lost(self, handle: dict[str, Any]) -> str:
        return ("The run's node was lost: its agent stopped without reporting an end "
                "(the machine or the agent died).")

    def capacity(self) -> Capacity | None:
        return None
