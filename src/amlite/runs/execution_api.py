"""Routes of execution (execution/v1.0): startrun with a project zip and a run definition, snapshotrun
with a run definition naming an uploaded snapshot, cancel."""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from sqlalchemy.orm import Session

from amlite.arm.tables import Resource
from amlite.compute.submission import cancel_run, parse_definition, start_run, start_snapshot_run
from amlite.errors import BadRequest
from amlite.identity.auth import authenticate
from amlite.identity.rbac import Authorizer
from amlite.runs.experiments import get_experiment
from amlite.runs.schemas import run_json
from amlite.runs.service import get_run
from amlite.web.body import part_json, read_json
from amlite.web.deps import DB, app_context
from amlite.web.responses import json_response
from amlite.workspaces.dataplane import WORKSPACE_PATH, in_workspace

router = APIRouter(dependencies=[Depends(authenticate)], tags=["execution"])

EXPERIMENT = "/execution/v1.0" + WORKSPACE_PATH + "/experiments/{experimentName}"
HISTORY_RUN = "/history/v1.0" + WORKSPACE_PATH + "/experiments/{experimentName}/runs/{runId}"
SUBMIT = in_workspace("experiments/runs/submit/action")


@dataclass
class StartRunParts:
    definition: dict[str, Any]
    zip_path: Path


async def startrun_parts(request: Request) -> StartRunParts:
    """The multipart parts ``runDefinitionFile`` and ``projectZipFile`` (names read case-insensitively)."""
    settings = app_context(request).settings
    if "multipart/form-data" not in request.headers.get("content-type", ""):
        raise BadRequest("startrun takes multipart/form-data with the parts 'runDefinitionFile' and "
                         "'projectZipFile'.", code="InvalidRequestContent")
    form = await request.form(max_files=4, max_fields=16)
    parts = {key.lower(): value for key, value in form.multi_items()}
    definition_part, zip_part = parts.get("rundefinitionfile"), parts.get("projectzipfile")
    if definition_part is None or not isinstance(zip_part, UploadFile):
        raise BadRequest("startrun needs a 'runDefinitionFile' part and a 'projectZipFile' file part.",
                         code="InvalidRequestContent")
    definition = await part_json(definition_part, "The run definition", "InvalidRunDefinition", "runDefinitionFile")
    uploads = settings.data_dir / "uploads"
    uploads.mkdir(parents=True, exist_ok=True)
    handle = tempfile.NamedTemporaryFile(dir=uploads, suffix=".zip", delete=False)
    with handle:
        await run_in_threadpool(shutil.copyfileobj, zip_part.file, handle)
    return StartRunParts(definition, Path(handle.name))


@router.post(EXPERIMENT + "/startrun", operation_id="Runs_StartRun")
def startrun(request: Request, experimentName: str, runId: str | None = None,
             parts: StartRunParts = Depends(startrun_parts), authz: Authorizer = Depends(authenticate),
             workspace: Resource = SUBMIT, session: Session = DB):
    context = app_context(request)
    try:
        run = start_run(session, context.settings, context.artifacts, workspace, authz.caller, experimentName,
                        runId, parse_definition(parts.definition), parts.definition, parts.zip_path)
    finally:
        parts.zip_path.unlink(missing_ok=True)
    session.commit()
    context.services["scheduler"].wake()
    return json_response({"runId": run.run_id})


@router.post(EXPERIMENT + "/snapshotrun", operation_id="Runs_StartSnapshotRun")
def snapshotrun(request: Request, experimentName: str, runId: str | None = None,
                document: Any = Depends(read_json), authz: Authorizer = Depends(authenticate),
                workspace: Resource = SUBMIT, session: Session = DB):
    context = app_context(request)
    run = start_snapshot_run(session, context.settings, context.artifacts, workspace, authz.caller, experimentName,
                             runId, parse_definition(document), document)
    session.commit()
    context.services["scheduler"].wake()
    return json_response({"runId": run.run_id})


def _cancel(request: Request, session: Session, workspace: Resource, experiment_name: str, run_id: str):
    context = app_context(request)
    run = get_run(session, workspace, run_id, get_experiment(session, workspace, experiment_name))
    tell_backend = cancel_run(run)
    session.commit()
    if tell_backend:
        context.backend.cancel(run.backend_handle)
    return run


@router.post(EXPERIMENT + "/runId/{runId}/cancel", operation_id="Runs_CancelRunWithUri")
def cancel(request: Request, experimentName: str, runId: str,
           workspace: Resource = in_workspace("experiments/runs/cancel/action"), session: Session = DB):
    return json_response({"runId": _cancel(request, session, workspace, experimentName, runId).run_id})


@router.post(HISTORY_RUN + "/cancel", operation_id="Runs_Cancel")
def cancel_from_history(request: Request, experimentName: str, runId: str,
                        workspace: Resource = in_workspace("experiments/runs/cancel/action"),
                        session: Session = DB):
    return json_response(run_json(_cancel(request, session, workspace, experimentName, runId)))
