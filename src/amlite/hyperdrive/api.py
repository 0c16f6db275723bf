"""Routes of HyperDrive (hyperdrive/v1.0): create a sweep (multipart, one ``config`` part), create it
under a given parent run id, cancel it. ``{armScope}`` arrives percent-encoded from the SDK
(``subscriptions%2F...``); the server decodes the path before routing, so both spellings land here."""

from __future__ import annotations


from fastapi import APIRouter, Depends, Request
from sqlalchemy.orm import Session

from amlite.arm.tables import Resource
from amlite.errors import BadRequest
from amlite.hyperdrive import service
from amlite.hyperdrive.schemas import CreateExperiment, experiment_json
from amlite.identity.auth import authenticate
from amlite.identity.rbac import Authorizer
from amlite.web.body import parse_model, part_json
from amlite.web.deps import DB, app_context
from amlite.web.responses import json_response
from amlite.workspaces.dataplane import WORKSPACE_PATH, in_workspace

router = APIRouter(dependencies=[Depends(authenticate)], tags=["hyperdrive"])

SCOPE = "/hyperdrive/v1.0" + WORKSPACE_PATH + "/experiments/{experimentName}"
SUBMIT = in_workspace("experiments/runs/submit/action")


async def config_part(request: Request) -> CreateExperiment:
    """The ``config`` part (a file or a field) holding the CreateExperimentDto as JSON."""
    if "multipart/form-data" not in request.headers.get("content-type", ""):
        raise BadRequest("A HyperDrive run is created with multipart/form-data holding one part, 'config'.",
                         code="InvalidRequestContent")
    async with request.form(max_files=2, max_fields=8) as form:
        part = {key.lower(): value for key, value in form.multi_items()}.get("config")
        if part is None:
            raise BadRequest("The request needs a 'config' part with the HyperDrive configuration (JSON).",
                             code="InvalidRequestContent", target="config")
        document = await part_json(part, "The 'config' part", "InvalidRequestContent", "config")
    return parse_model(CreateExperiment, document)


def _create(request: Request, session: Session, workspace: Resource, authz: Authorizer, experiment_name: str,
            body: CreateExperiment, run_id: str | None):
    context = app_context(request)
    sweep, parent, outcome = service.submit(session, context, workspace, authz.caller, experiment_name, body, run_id)
    session.commit()
    service.after_commit(context, outcome)
    return json_response({"code": 201, "result": experiment_json(sweep, parent)}, status=201)


@router.post(SCOPE + "/runs", operation_id="HyperparameterTuning_CreateExperiment")
def create(request: Request, experimentName: str, body: CreateExperiment = Depends(config_part),
           authz: Authorizer = Depends(authenticate), workspace: Resource = SUBMIT, session: Session = DB):
    return _create(request, session, workspace, authz, experimentName, body, None)


@router.post(SCOPE + "/runs/{runId}", operation_id="HyperparameterTuning_CreateExperimentWithRunId")
def create_with_run_id(request: Request, experimentName: str, runId: str,
                       body: CreateExperiment = Depends(config_part), authz: Authorizer = Depends(authenticate),
                       workspace: Resource = SUBMIT, session: Session = DB):
    return _create(request, session, workspace, authz, experimentName, body, runId)


@router.post(SCOPE + "/runs/{runId}/cancel", operation_id="HyperparameterTuning_CancelExperiment")
def cancel(request: Request, experimentName: str, runId: str,
           workspace: Resource = in_workspace("experiments/runs/cancel/action"), session: Session = DB):
    sweep, parent = service.get_sweep(session, workspace, experimentName, runId)
    service.request_cancel(sweep, parent)
    session.commit()
    app_context(request).services["hyperdrive"].wake()
    return json_response({"code": 200, "result": f"Cancellation requested for {runId}"})
