"""The ComputeBackend seam: ``submit(context) -> handle``, ``cancel(handle)``, ``poll(handle)``.

The handle is plain JSON stored on the run row, so that any server process (after a restart,
or another replica) can poll or cancel what another one submitted.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

Health = Literal["alive", "gone"]


@dataclass(frozen=True)
class RunContext:
    """What a backend needs to start a run's agent."""

    run_id: str
    run_dir: Path
    agent_config: Path  # the agent's JSON configuration (tokens, limits, environment, ...)
    node_count: int
    vcpus: int
    memory_gb: float


class ComputeBackend(Protocol):
    name: str
    # what the backend can honour, e.g. {"multi-node", "cpu-limit", "memory-limit", "survives-restart"}
    capabilities: frozenset[str]

    def submit(self, context: RunContext) -> dict[str, Any]: ...

    def cancel(self, handle: dict[str, Any]) -> None: ...

    def poll(self, handle: dict[str, Any]) -> Health: ...
