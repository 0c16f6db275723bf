"""startrun and snapshotrun: validate what was posted, give the run its project, and queue it on its compute."""

from __future__ import annotations

import shutil
import time
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from amlite.arm.tables import Resource
from amlite.artifacts.stores import ArtifactStore
from amlite.compute import data_references, layout, snapshots
from amlite.compute.definition import RunConfiguration, RunDefinition
from amlite.content import service as content
from amlite.errors import BadRequest, Conflict, NotFound
from amlite.identity.tokens import Caller
from amlite.runs import states
from amlite.runs.experiments import get_or_create_experiment
from amlite.runs.schemas import CreateRun
from amlite.runs.service import create_run, find_run, get_run, set_status, touch
from amlite.runs.tables import Run
from amlite.settings import Settings
from amlite.web.body import parse_model
from amlite.workspaces.compute_service import find_compute
from amlite.workspaces.tables import Compute


ID_ATTEMPTS = 50


def parse_definition(document: Any) -> RunDefinition:
    if not isinstance(document, dict):
        raise BadRequest("The run definition must be a JSON object with a 'Configuration' member.",
                         code="InvalidRunDefinition", target="runDefinitionFile")
    return parse_model(RunDefinition, document)


def _run_id(session: Session, workspace: Resource, experiment: str, requested: str | None, skip: int) -> str:
    """The requested id, or ``{experiment}_{epoch-ms}``: the first free millisecond from now + ``skip``."""
    if requested:
        if find_run(session, workspace, requested) is not None:
            raise Conflict(f"A run with id '{requested}' already exists.", code="RunAlreadyExists", target="runId")
        return requested
    millis = int(time.time() * 1000) + skip
    while find_run(session, workspace, f"{experiment}_{millis}") is not None:
        millis += 1
    return f"{experiment}_{millis}"


def _compute(session: Session, workspace: Resource, configuration: RunConfiguration) -> Compute:
    compute = find_compute(session, workspace, configuration.target)
    if compute is None:
        raise NotFound(f"The compute target '{configuration.target}' does not exist in workspace "
                       f"'{workspace.name}'.", code="ComputeTargetNotFound", target="Target")
    if compute.provisioning_state != "Succeeded":
        raise Conflict(f"The compute target '{compute.name}' is {compute.provisioning_state}.",
                       code="ComputeTargetNotReady", target="Target")
    if configuration.nodeCount > compute.max_node_count:
        raise BadRequest(f"NodeCount {configuration.nodeCount} exceeds the maxNodeCount "
                         f"({compute.max_node_count}) of compute '{compute.name}'.",
                         code="InvalidNodeCount", target="NodeCount")
    return compute


def _queue(session: Session, settings: Settings, workspace: Resource, caller: Caller, experiment_name: str,
           requested_run_id: str | None, definition: RunDefinition, raw_definition: dict[str, Any],
           compute: Compute, snapshot_id: str) -> Run:
    """Create the run, Queued on its compute, its project the snapshot ``snapshot_id``."""
    data_references.check(session, workspace, definition.configuration)
    experiment = get_or_create_experiment(session, workspace, experiment_name)
    if definition.parentRunId:
        get_run(session, workspace, definition.parentRunId)
    for skip in range(ID_ATTEMPTS):
        run_id = _run_id(session, workspace, experiment.name, requested_run_id, skip)
        try:
            run = create_run(session, workspace, experiment, run_id, CreateRun(
                parentRunId=definition.parentRunId, target=compute.name, scriptName=definition.configuration.script,
                runType=definition.runType or "azureml.scriptrun", runDefinition=raw_definition,
                properties={"azureml.runsource": "experiment", "ContentSnapshotId": snapshot_id},
            ), caller, settings.base_url)
            break
        except Conflict as error:  # a concurrent startrun took the same millisecond: take the next one
            if requested_run_id or error.code != "RunAlreadyExists":
                raise
    else:
        raise Conflict("Could not allocate a run id; retry.", code="RunAlreadyExists", target="runId")
    run.compute_id, run.node_count, run.submitted_by = compute.id, definition.configuration.nodeCount, caller.object_id
    set_status(run, "Queued")
    return run


def _script_not_found(script: str, where: str) -> BadRequest:
    return BadRequest(f"The script '{script}' is not in {where}.", code="ScriptNotFound", target="Script")


def start_run(session: Session, settings: Settings, store: ArtifactStore, workspace: Resource, caller: Caller,
              experiment_name: str, requested_run_id: str | None, definition: RunDefinition,
              raw_definition: dict[str, Any], zip_path: Path) -> Run:
    """startrun: the posted project zip is kept for the run, and recorded as a content snapshot."""
    compute = _compute(session, workspace, definition.configuration)
    names = snapshots.validate_zip(zip_path, max_files=settings.snapshot_max_files,
                                   max_bytes=settings.snapshot_max_bytes)
    if not snapshots.contains(names, definition.configuration.script):
        raise _script_not_found(definition.configuration.script, "the project zip")
    snapshot_id = str(uuid.uuid4())
    run = _queue(session, settings, workspace, caller, experiment_name, requested_run_id, definition,
                 raw_definition, compute, snapshot_id)
    content.snapshot_from_zip(session, store, settings, workspace, caller, zip_path, names, snapshot_id,
                              experiment_name)
    destination = layout.snapshot_zip(settings, run)
    destination.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(zip_path, destination)
    return run


def start_snapshot_run(session: Session, settings: Settings, store: ArtifactStore, workspace: Resource,
                       caller: Caller, experiment_name: str, requested_run_id: str | None,
                       definition: RunDefinition, raw_definition: dict[str, Any]) -> Run:
    """snapshotrun: the run gets its own zip of a stored snapshot, so the snapshot can be run again."""
    compute = _compute(session, workspace, definition.configuration)
    if not definition.snapshotId:
        raise BadRequest("snapshotrun needs the id of an uploaded snapshot in the run definition's 'SnapshotId'.",
                         code="InvalidRunDefinition", target="SnapshotId")
    snapshot = content.get_snapshot(session, workspace, definition.snapshotId, "SnapshotId")
    if not snapshots.contains(content.files_of(snapshot), definition.configuration.script):
        raise _script_not_found(definition.configuration.script, f"snapshot '{snapshot.id}'")
    run = _queue(session, settings, workspace, caller, experiment_name, requested_run_id, definition,
                 raw_definition, compute, snapshot.id)
    content.pack(store, workspace, snapshot, layout.snapshot_zip(settings, run))
    return run


def cancel_run(run: Run) -> bool:
    """Queued runs end at once; live ones are asked to stop. Answers whether the backend must be told."""
    if run.status in states.TERMINAL:
        return False
    if run.status in ("NotStarted", "Queued") and run.nodes_held == 0:
        set_status(run, "Canceled")
        touch(run)
        return False
    set_status(run, "CancelRequested")
    touch(run)
    return run.backend_handle is not None
