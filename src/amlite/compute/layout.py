"""Where execution keeps its files under the data dir."""

from __future__ import annotations

from pathlib import Path

from amlite.arm.tables import Resource
from amlite.runs.tables import Run
from amlite.settings import Settings


def snapshot_zip(settings: Settings, run: Run) -> Path:
    return settings.data_dir / "snapshots" / f"{run.run_uuid}.zip"


def run_dir(settings: Settings, run: Run) -> Path:
    return settings.data_dir / "runs" / run.run_uuid


def environment_cache(settings: Settings) -> Path:
    return settings.data_dir / "envs"


def storage_account_name(workspace: Resource) -> str:
    return workspace.properties["storageAccount"].rstrip("/").rsplit("/", 1)[-1]
