"""The run status state machine: forward moves only, cancel and failure from anywhere live,
terminal statuses stay terminal."""

from __future__ import annotations

from amlite.errors import BadRequest

TERMINAL = frozenset({"Completed", "Failed", "Canceled"})
# Live statuses in the order a run passes through them (Preparing and Provisioning share a rank).
_RANK = {"NotStarted": 0, "Queued": 1, "Preparing": 2, "Provisioning": 2, "Starting": 3, "Running": 4,
         "Finalizing": 5}
ALL = (*_RANK, "CancelRequested", "NotResponding", *sorted(TERMINAL))
_CANONICAL = {status.lower(): status for status in ALL}


def canonical(status: str) -> str:
    found = _CANONICAL.get(status.lower())
    if found is None:
        raise BadRequest(f"'{status}' is not a run status. The statuses are {', '.join(ALL)}.",
                         code="InvalidRunStatus", target="status")
    return found


def allowed(current: str, new: str) -> bool:
    if current == new:
        return True
    if current in TERMINAL:
        return False
    if new in TERMINAL or new == "CancelRequested":
        return True
    if current == "CancelRequested":
        return new == "Finalizing"
    if new == "NotResponding":
        return current in ("Starting", "Running", "Finalizing")
    if current == "NotResponding":
        return new in ("Running", "Finalizing")
    return _RANK[new] > _RANK[current]


def check(run_id: str, current: str, new: str) -> None:
    if not allowed(current, new):
        why = "it is a terminal status" if current in TERMINAL else "runs only move forward"
        raise BadRequest(f"Run '{run_id}' cannot move from status {current} to {new}: {why}.",
                         code="InvalidRunStatusTransition", target="status")
