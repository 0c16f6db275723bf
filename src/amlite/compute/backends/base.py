"""The ComputeBackend seam: ``submit(context) -> handle``, ``cancel(handle)``, ``poll(handle)``.

The handle is plain JSON stored on the run row, so that any server process (after a restart,
or another replica) can poll or cancel what another one submitted. Its ``backend`` member names
the backend that made it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

Health = Literal["alive", "gone"]


class BackendError(Exception):
    """A backend could not do what was asked (e.g. its cluster refused or did not answer)."""


@dataclass(frozen=True)
class RunContext:
    """What a backend needs to start a run's agent."""

    run_id: str
    run_dir: Path
    agent_config: Path  # the agent's JSON configuration (tokens, limits, environment, ...)
    node_count: int
    vcpus: int
    memory_gb: float
    gpus: int = 0


@dataclass
class Capacity:
    """A cluster's live nodes (CPUs, memory in GiB, GPUs of each) and what amlite's runs hold of them.

    Admission asks whether a run's nodes fit; placement inside the cluster is the cluster's own
    business, so fragmentation is not modelled: a run that fits here may still wait a moment there.
    """

    nodes: list[tuple[float, float, float]] = field(default_factory=list)
    held: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])

    @staticmethod
    def _per_node(node: tuple[float, float, float], size: tuple[float, float, float]) -> int:
        return min(int(have // want) if want else 1 << 30 for have, want in zip(node, size))

    def slots(self, size: tuple[float, float, float]) -> int:
        """How many nodes of ``size`` the live nodes hold in all."""
        return sum(self._per_node(node, size) for node in self.nodes)

    def fits(self, count: int, size: tuple[float, float, float]) -> bool:
        """Are there ``count`` nodes of ``size`` free now: on ``count`` different hosts when more than one."""
        hosts = sum(1 for node in self.nodes if self._per_node(node, size) >= 1)
        totals = [sum(node[i] for node in self.nodes) for i in range(3)]
        free = all(count * size[i] <= totals[i] - self.held[i] + 1e-9 for i in range(3))
        return free and hosts >= (count if count > 1 else 1)

    def take(self, count: int, size: tuple[float, float, float]) -> None:
        self.held = [held + count * want for held, want in zip(self.held, size)]


class ComputeBackend(Protocol):
    name: str
    # what the backend can honour, e.g. {"multi-node", "cpu-limit", "memory-limit", "survives-restart"}
    capabilities: frozenset[str]

    def submit(self, context: RunContext) -> dict[str, Any]: ...

    def cancel(self, handle: dict[str, Any]) -> None: ...

    def poll(self, handle: dict[str, Any]) -> Health: ...

    def lost(self, handle: dict[str, Any]) -> str:
        """Why a run whose agent is gone without reporting an end was lost, for its error."""
        ...

    def capacity(self) -> Capacity | None:
        """The cluster's live nodes, or None when the backend has no such view (its nodes are
        whatever the compute's scale settings say)."""
        ...
