"""What the running server holds: settings, the store, the token service, the operation runner, the
artifact store and the compute backend."""

from __future__ import annotations

from dataclasses import dataclass, field

from amlite.arm.operations import OperationRunner
from amlite.artifacts.stores import ArtifactStore
from amlite.background import PeriodicService
from amlite.compute.backends.choice import Backends
from amlite.db.engine import Database
from amlite.identity.tokens import TokenService
from amlite.secrets import SecretBox
from amlite.settings import Settings


@dataclass
class AppContext:
    settings: Settings
    db: Database
    tokens: TokenService
    operations: OperationRunner
    secrets: SecretBox
    backend: Backends  # by name; poll and cancel go to the backend a run's handle names
    artifacts: ArtifactStore
    # background services by name (e.g. "scheduler"), so that a route can wake one
    services: dict[str, PeriodicService] = field(default_factory=dict)
