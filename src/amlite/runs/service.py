"""Runs: the PATCH upsert the SDK drives, events that move status and times, tags, queries."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from amlite.arm.tables import Resource
from amlite.db.base import utcnow
from amlite.errors import BadRequest, Conflict, NotFound
from amlite.identity.tokens import Caller
from amlite.runs import states
from amlite.runs.experiments import get_or_create_experiment
from amlite.runs.filters import parse_filter, parse_order
from amlite.runs.paging import Page, decode_offset, encode_offset
from amlite.runs.schemas import BaseEvent, CreateRun
from amlite.runs.tables import Experiment, Run

_RUN_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,256}$")
EVENT_PREFIX = "microsoft.machinelearning.run."


def find_run(session: Session, workspace: Resource, run_id: str) -> Run | None:
    return session.scalars(select(Run).where(Run.workspace_id == workspace.id, Run.run_id == run_id)).first()


def get_run(session: Session, workspace: Resource, run_id: str, experiment: Experiment | None = None) -> Run:
    run = find_run(session, workspace, run_id)
    if run is None or (experiment is not None and run.experiment_id != experiment.id):
        where = f"experiment '{experiment.name}'" if experiment is not None else f"workspace '{workspace.name}'"
        raise NotFound(f"Run '{run_id}' was not found in {where}.", code="RunNotFound", target="runId")
    return run


def _merge(current: dict[str, str] | None, changes: dict[str, str | None]) -> dict[str, str]:
    """Keys set to null are removed, as the SDK's tag updates expect."""
    merged = dict(current or {})
    for key, value in changes.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def _next_run_number(session: Session, workspace: Resource) -> int:
    return (session.scalar(select(func.max(Run.run_number)).where(Run.workspace_id == workspace.id)) or 0) + 1


def _cancel_uri(base_url: str, workspace: Resource, experiment: str, run_id: str) -> str:
    return f"{base_url}/execution/v1.0{workspace.resource_id}/experiments/{experiment}/runId/{run_id}/cancel"


def _insert_run(session: Session, run: Run, workspace: Resource) -> Run:
    """Insert with the next run number; retried when a concurrent insert took that number."""
    for _attempt in range(20):
        run.run_number = _next_run_number(session, workspace)
        try:
            with session.begin_nested():
                session.add(run)
            return run
        except IntegrityError:
            if find_run(session, workspace, run.run_id) is not None:
                raise Conflict(f"Run '{run.run_id}' was created concurrently; retry the update.",
                               code="RunAlreadyExists", target="runId") from None
    raise Conflict("Too many concurrent run creations; retry.", code="TooManyConcurrentRuns")


def upsert_run(session: Session, workspace: Resource, experiment_name: str, run_id: str, body: CreateRun,
               caller: Caller, base_url: str) -> Run:
    if body.runId is not None and body.runId != run_id:
        raise BadRequest(f"The body's runId '{body.runId}' differs from the path's '{run_id}'.",
                         code="RunIdMismatch", target="runId")
    run = find_run(session, workspace, run_id)
    if run is None:
        if not _RUN_ID.match(run_id):
            raise BadRequest(f"'{run_id}' is not a valid run id: 1 to 256 letters, digits, '_', '-', '.' or ':'.",
                             code="InvalidRunId", target="runId")
        experiment = get_or_create_experiment(session, workspace, experiment_name)
        run = create_run(session, workspace, experiment, run_id, body, caller, base_url)
        return run
    experiment = session.get(Experiment, run.experiment_id)
    if experiment.name_key != experiment_name.lower():
        raise Conflict(f"Run '{run_id}' belongs to experiment '{experiment.name}', not '{experiment_name}'.",
                       code="RunInAnotherExperiment", target="experimentName")
    apply_update(run, body)
    return run


def create_run(session: Session, workspace: Resource, experiment: Experiment, run_id: str, body: CreateRun,
               caller: Caller, base_url: str) -> Run:
    root_run_id = run_id
    if body.parentRunId:
        root_run_id = get_run(session, workspace, body.parentRunId).root_run_id
    now = utcnow()
    run = Run(
        workspace_id=workspace.id, experiment_id=experiment.id, run_id=run_id, run_uuid=str(uuid.uuid4()),
        root_run_id=root_run_id, parent_run_id=body.parentRunId, status="NotStarted",
        data_container_id=body.dataContainerId or f"dcid.{run_id}",
        created_by=caller.created_by(),
        cancel_uri=_cancel_uri(base_url, workspace, experiment.name, run_id),
        properties={}, tags={}, warnings=[], created_at=now, modified_at=now, revision=0,
    )
    apply_update(run, body)
    _insert_run(session, run, workspace)
    experiment.latest_run_id, experiment.latest_run_created_at = run_id, now
    return run


def _check_properties(run: Run, changes: dict[str, str | None]) -> None:
    for key, value in changes.items():
        current = (run.properties or {}).get(key)
        if current is not None and value != current:
            raise BadRequest(f"Property '{key}' of run '{run.run_id}' is already set to '{current}'; "
                             "run properties cannot be changed once set (use tags).",
                             code="PropertyImmutable", target=f"properties.{key}")


def apply_update(run: Run, body: CreateRun) -> None:
    """Merge a (partial) CreateRun into the run."""
    if body.status is not None:
        set_status(run, states.canonical(body.status))
    simple = {"name": body.name or body.displayName, "description": body.description, "run_type": body.runType,
              "script_name": body.scriptName, "target": body.target, "hidden": body.hidden,
              "heartbeat_enabled": body.heartbeatEnabled, "run_definition": body.runDefinition,
              "options": body.options, "diagnostics_uri": body.diagnosticsUri,
              "created_from": body.createdFrom.model_dump(exclude_none=True) if body.createdFrom else None}
    for attribute, value in simple.items():
        if value is not None:
            setattr(run, attribute, value)
    if body.cancelUri:
        run.cancel_uri = body.cancelUri
    if body.startTimeUtc is not None:
        run.start_time = _utc(body.startTimeUtc)
    if body.endTimeUtc is not None:
        run.end_time = _utc(body.endTimeUtc)
    if body.properties:
        _check_properties(run, body.properties)
        run.properties = _merge(run.properties, body.properties)
    if body.tags:
        run.tags = _merge(run.tags, body.tags)
    touch(run)


def touch(run: Run) -> None:
    run.modified_at = utcnow()
    run.revision = (run.revision or 0) + 1


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def set_status(run: Run, status: str, at: datetime | None = None) -> None:
    """Move the run (checked against the state machine) and keep its times true."""
    states.check(run.run_id, run.status, status)
    now = at or utcnow()
    run.status = status
    if status == "Running" and run.start_time is None:
        run.start_time = now
    if status in states.TERMINAL:
        if run.end_time is None:
            run.end_time = now
        run.heartbeat_deadline = None


def apply_event(run: Run, event: BaseEvent, heartbeat_timeout: int) -> None:
    name = event.name.lower()
    if not name.startswith(EVENT_PREFIX):
        raise BadRequest(f"Unknown event '{event.name}'. Events are named "
                         "'Microsoft.MachineLearning.Run.<Start|Completed|Failed|Canceled|CancelRequested|"
                         "Heartbeat|Warning|Error>'.", code="InvalidEventName", target="name")
    kind = name[len(EVENT_PREFIX):]
    data = {k.lower(): v for k, v in (event.data or {}).items()}
    when = _event_time(data.get("starttime") or data.get("endtime")) or (
        _utc(event.timestamp) if event.timestamp else None)
    statuses = {"start": "Running", "completed": "Completed", "failed": "Failed", "canceled": "Canceled",
                "cancelrequested": "CancelRequested"}
    if kind in statuses:
        set_status(run, statuses[kind], when)
    elif kind == "heartbeat":
        ttl = int(data.get("timetoliveseconds") or heartbeat_timeout)
        run.heartbeat_enabled = True
        run.heartbeat_deadline = utcnow() + timedelta(seconds=ttl)
        if run.status == "NotResponding":
            set_status(run, "Running")
    elif kind == "warning":
        run.warnings = [*(run.warnings or []), {"source": str(data.get("source") or ""),
                                                 "message": str(data.get("message") or "")}]
    elif kind == "error":
        error = data.get("errorresponse")
        if not isinstance(error, dict):
            raise BadRequest("An Error event carries data.ErrorResponse: {\"error\": {\"code\", \"message\"}}.",
                             code="InvalidEventData", target="data")
        run.error = error
    else:
        raise BadRequest(f"Unknown event '{event.name}'.", code="InvalidEventName", target="name")
    touch(run)


def _event_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return _utc(datetime.fromisoformat(value.replace("Z", "+00:00")))
    except ValueError:
        raise BadRequest(f"'{value}' is not an ISO 8601 time.", code="InvalidEventData", target="data") from None


def delete_tags(run: Run, keys: list[str]) -> Run:
    run.tags = {k: v for k, v in (run.tags or {}).items() if k not in set(keys)}
    touch(run)
    return run


def query_runs(session: Session, workspace: Resource, experiment: Experiment | None, filter_text: str | None,
               order_text: str | None, token: str | None, top: int | None, page_size: int,
               parent_run_id: str | None = None) -> Page[Run]:
    offset = decode_offset(token)
    limit = min(top or page_size, page_size)
    query = select(Run).where(Run.workspace_id == workspace.id)
    if experiment is not None:
        query = query.where(Run.experiment_id == experiment.id)
    if parent_run_id is not None:
        query = query.where(Run.parent_run_id == parent_run_id)
    condition = parse_filter(filter_text)
    if condition is not None:
        query = query.where(condition)
    rows = list(session.scalars(query.order_by(*parse_order(order_text)).offset(offset).limit(limit + 1)))
    return Page(rows[:limit], encode_offset(offset + limit) if len(rows) > limit else None)


def run_counts(session: Session, experiment: Experiment) -> dict[str, int]:
    counts = dict(session.execute(select(Run.status, func.count()).where(Run.experiment_id == experiment.id)
                                  .group_by(Run.status)).all())
    return {status[0].lower() + status[1:]: counts.get(status, 0) for status in states.ALL}


def delete_run(session: Session, run: Run) -> None:
    if run.status not in states.TERMINAL and run.status != "NotStarted":
        raise Conflict(f"Run '{run.run_id}' is {run.status}; cancel it before deleting it.",
                       code="RunIsActive", target="runId")
    session.delete(run)


def mark_not_responding(session: Session) -> int:
    """Watchdog tick: live runs whose heartbeat deadline passed become NotResponding."""
    silent = session.scalars(select(Run).where(
        Run.heartbeat_deadline.is_not(None), Run.heartbeat_deadline < utcnow(),
        Run.status.in_(("Starting", "Running", "Finalizing")))).all()
    for run in silent:
        set_status(run, "NotResponding")
        run.heartbeat_deadline = None
        touch(run)
    return len(silent)
