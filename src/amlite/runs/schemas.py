"""Wire models of run history requests, and the JSON of experiments and runs (the spec's shapes)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from amlite.runs.tables import Experiment, Run
from amlite.web.body import WireModel


def iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


class CreatedFrom(WireModel):
    type: str | None = None
    locationType: str | None = None
    location: str | None = None


class CreateRun(WireModel):
    runId: str | None = None
    parentRunId: str | None = None
    status: str | None = None
    startTimeUtc: datetime | None = None
    endTimeUtc: datetime | None = None
    heartbeatEnabled: bool | None = None
    options: dict[str, Any] | None = None
    name: str | None = None
    displayName: str | None = None
    dataContainerId: str | None = None
    description: str | None = None
    hidden: bool | None = None
    runType: str | None = None
    properties: dict[str, str | None] | None = None
    scriptName: str | None = None
    target: str | None = None
    tags: dict[str, str | None] | None = None
    runDefinition: dict[str, Any] | None = None
    createdFrom: CreatedFrom | None = None
    cancelUri: str | None = None
    diagnosticsUri: str | None = None


class BatchRuns(WireModel):
    runs: list[dict[str, Any]]


class ModifyExperiment(WireModel):
    name: str | None = None
    description: str | None = None
    tags: dict[str, str] | None = None
    archive: bool | None = None


class QueryParams(WireModel):
    filter: str | None = None
    continuationToken: str | None = None
    orderBy: str | None = None
    top: int | None = None


class DeleteTags(WireModel):
    tags: list[str]


class BaseEvent(WireModel):
    timestamp: datetime | None = None
    name: str
    data: dict[str, Any] | None = None


class BatchEvents(WireModel):
    events: list[dict[str, Any]]


def experiment_json(experiment: Experiment) -> dict[str, Any]:
    body: dict[str, Any] = {
        "experimentId": experiment.id,
        "name": experiment.name,
        "description": experiment.description,
        "createdUtc": iso(experiment.created_at),
        "tags": experiment.tags or {},
        "archivedTime": iso(experiment.archived_at),
        "latestCreatedRunCreatedUtc": iso(experiment.latest_run_created_at),
        "latestCreatedRunId": experiment.latest_run_id,
    }
    return {k: v for k, v in body.items() if v is not None}


def run_json(run: Run) -> dict[str, Any]:
    body: dict[str, Any] = {
        "runId": run.run_id,
        "runUuid": run.run_uuid,
        "runNumber": run.run_number,
        "rootRunId": run.root_run_id,
        "parentRunId": run.parent_run_id,
        "experimentId": run.experiment_id,
        "status": run.status,
        "createdUtc": iso(run.created_at),
        "createdBy": run.created_by,
        "lastModifiedUtc": iso(run.modified_at),
        "startTimeUtc": iso(run.start_time),
        "endTimeUtc": iso(run.end_time),
        "heartbeatEnabled": run.heartbeat_enabled,
        "options": run.options,
        "name": run.name,
        "displayName": run.name,
        "dataContainerId": run.data_container_id,
        "description": run.description,
        "hidden": run.hidden,
        "runType": run.run_type,
        "properties": run.properties or {},
        "scriptName": run.script_name,
        "target": run.target,
        "tags": run.tags or {},
        "runDefinition": run.run_definition,
        "createdFrom": run.created_from,
        "error": run.error,
        "warnings": run.warnings or None,
        "cancelUri": run.cancel_uri,
        "diagnosticsUri": run.diagnostics_uri,
        "revision": run.revision,
    }
    return {k: v for k, v in body.items() if v is not None}


def run_details_json(run: Run, log_files: dict[str, str]) -> dict[str, Any]:
    keys = ("runId", "target", "status", "parentRunId", "startTimeUtc", "endTimeUtc", "error", "warnings", "tags",
            "properties", "runDefinition", "revision")
    full = run_json(run)
    details = {key: full[key] for key in keys if key in full}
    details["logFiles"] = log_files
    return details
