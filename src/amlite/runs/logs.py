"""Run log files (``azureml-logs/70_driver_log.txt`` and the like): appended by the run side, read by
clients from an offset (to tail a live run) or whole. Kept under ``<data-dir>/runlogs``."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from amlite.arm.tables import Resource
from amlite.errors import BadRequest, NotFound
from amlite.runs.tables import Run
from amlite.settings import Settings


def run_log_dir(settings: Settings, workspace: Resource, run: Run) -> Path:
    return settings.data_dir / "runlogs" / workspace.properties["workspaceId"] / run.run_uuid


def _safe(name: str) -> PurePosixPath:
    path = PurePosixPath(name)
    if not name or path.is_absolute() or any(part in ("..", "") for part in path.parts) or "\\" in name:
        raise BadRequest(f"'{name}' is not a valid log path: use a relative path without '..'.",
                         code="InvalidLogPath", target="path")
    return path


def append(settings: Settings, workspace: Resource, run: Run, name: str, data: bytes, max_bytes: int) -> int:
    """Append to a log file; answers its new size."""
    target = run_log_dir(settings, workspace, run) / _safe(name)
    target.parent.mkdir(parents=True, exist_ok=True)
    size = target.stat().st_size if target.exists() else 0
    if size + len(data) > max_bytes:
        raise BadRequest(f"Log '{name}' would exceed {max_bytes} bytes.", code="LogTooLarge", target="path")
    with target.open("ab") as handle:
        handle.write(data)
    return size + len(data)


def open_log(settings: Settings, workspace: Resource, run: Run, name: str) -> Path:
    target = run_log_dir(settings, workspace, run) / _safe(name)
    if not target.is_file():
        raise NotFound(f"Run '{run.run_id}' has no log '{name}'.", code="LogNotFound", target="path")
    return target


def list_logs(settings: Settings, workspace: Resource, run: Run) -> dict[str, int]:
    root = run_log_dir(settings, workspace, run)
    if not root.is_dir():
        return {}
    return {path.relative_to(root).as_posix(): path.stat().st_size for path in sorted(root.rglob("*")) if path.is_file()}


def log_files(settings: Settings, workspace: Resource, run: Run) -> dict[str, str]:
    """RunDetails.logFiles: each log's name and the URL that reads it."""
    experiment_base = f"{settings.base_url}/history/v1.0{workspace.resource_id}/runs/{run.run_id}/logs"
    return {name: f"{experiment_base}/{name}" for name in list_logs(settings, workspace, run)}
