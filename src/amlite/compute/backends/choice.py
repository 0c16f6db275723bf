"""The backends a server runs with, by name. A compute chooses one (its ``amlite.backend`` extension
property, else the server's default); a run's handle names the backend that started it, so polls and
cancels go back to that one."""

from __future__ import annotations

from typing import Any

from amlite.compute.backends.base import BackendError, ComputeBackend, Health

NAMES = ("local", "ray")


class Backends:
    def __init__(self, backends: dict[str, ComputeBackend], default: str) -> None:
        self.backends = backends
        self.default = default

    def choose(self, name: str | None) -> ComputeBackend:
        """The backend a compute asked for (None: the server's default)."""
        backend = self.backends.get(name or self.default)
        if backend is None:
            raise BackendError(f"The compute asks for the '{name}' backend, which this server does not run "
                               f"(start it with --ray-address or --ray-local for Ray).")
        return backend

    def of(self, handle: dict[str, Any]) -> ComputeBackend | None:
        return self.backends.get(handle.get("backend", "local"))

    def poll(self, handle: dict[str, Any]) -> Health:
        backend = self.of(handle)
        return backend.poll(handle) if backend is not None else "gone"

    def cancel(self, handle: dict[str, Any]) -> None:
        backend = self.of(handle)
        if backend is not None:
            backend.cancel(handle)

    def lost(self, handle: dict[str, Any]) -> str:
        backend = self.of(handle)
        if backend is None:
            return (f"The run was started by the '{handle.get('backend')}' backend, which this server no longer "
                    f"runs: it cannot be followed.")
        return backend.lost(handle)
