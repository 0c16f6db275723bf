"""Routes of run history (history/v1.0): experiments, runs, events."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request, Response
from sqlalchemy.orm import Session

from amlite.arm.tables import Resource
from amlite.artifacts.service import RUN_ORIGIN, Artifacts
from amlite.errors import AmliteError, BadRequest
from amlite.identity.auth import authenticate
from amlite.identity.rbac import Authorizer
from amlite.runs import experiments as experiment_service
from amlite.runs import service
from amlite.runs.logs import log_files
from amlite.runs.paging import page_json
from amlite.runs.schemas import (
    BaseEvent,
    BatchEvents,
    BatchRuns,
    CreateRun,
    DeleteTags,
    ModifyExperiment,
    QueryParams,
    experiment_json,
    run_details_json,
    run_json,
)
from amlite.web.body import body_of, parse_model, read_json
from amlite.web.deps import DB, app_context
from amlite.web.responses import json_response
from amlite.workspaces.dataplane import WORKSPACE_PATH, in_workspace

router = APIRouter(dependencies=[Depends(authenticate)], tags=["history"])

HISTORY = "/history/v1.0" + WORKSPACE_PATH
EXPERIMENT = HISTORY + "/experiments/{experimentName}"
EXPERIMENT_ID = HISTORY + "/experimentids/{experimentId}"
RUN = EXPERIMENT + "/runs/{runId}"
READ_EXPERIMENTS = in_workspace("experiments/read")
WRITE_EXPERIMENTS = in_workspace("experiments/write")
READ_RUNS = in_workspace("experiments/runs/read")
WRITE_RUNS = in_workspace("experiments/runs/write")


# Experiments ---------------------------------------------------------------------------------


def _list_experiments(request: Request, session: Session, workspace: Resource, token: str | None, top: int | None,
                      view_type: str | None):
    view = (view_type or "ActiveOnly").lower()
    page = experiment_service.list_experiments(session, workspace, token, top,
                                               app_context(request).settings.page_size, view != "activeonly")
    if view == "archivedonly":
        page.items = [e for e in page.items if e.archived_at is not None]
    return json_response(page_json(page, experiment_json))


@router.get(HISTORY + "/experiments", operation_id="Experiments_List")
def list_experiments(request: Request, continuation: str | None = Query(None, alias="$continuationToken"),
                     continuation_plain: str | None = Query(None, alias="continuationToken"),
                     top: int | None = Query(None, alias="$top", ge=1), viewType: str | None = None,
                     workspace: Resource = READ_EXPERIMENTS, session: Session = DB):
    return _list_experiments(request, session, workspace, continuation or continuation_plain, top, viewType)


@router.post(HISTORY + "/experiments:query", operation_id="Experiments_GetByQuery")
def query_experiments(request: Request, viewType: str | None = None, body: QueryParams = body_of(QueryParams),
                      workspace: Resource = READ_EXPERIMENTS, session: Session = DB):
    return _list_experiments(request, session, workspace, body.continuationToken, body.top, viewType)


@router.post(EXPERIMENT, operation_id="Experiments_Create")
def create_experiment(experimentName: str, workspace: Resource = WRITE_EXPERIMENTS, session: Session = DB):
    return json_response(experiment_json(experiment_service.create_experiment(session, workspace, experimentName)))


@router.get(EXPERIMENT, operation_id="Experiments_Get")
def get_experiment(experimentName: str, workspace: Resource = READ_EXPERIMENTS, session: Session = DB):
    return json_response(experiment_json(experiment_service.get_experiment(session, workspace, experimentName)))


@router.get(EXPERIMENT_ID, operation_id="Experiments_GetById")
def get_experiment_by_id(experimentId: str, workspace: Resource = READ_EXPERIMENTS, session: Session = DB):
    return json_response(experiment_json(experiment_service.get_experiment_by_id(session, workspace, experimentId)))


@router.patch(EXPERIMENT_ID, operation_id="Experiments_Update")
def update_experiment(experimentId: str, body: ModifyExperiment = body_of(ModifyExperiment),
                      workspace: Resource = WRITE_EXPERIMENTS, session: Session = DB):
    experiment = experiment_service.get_experiment_by_id(session, workspace, experimentId)
    return json_response(experiment_json(experiment_service.modify_experiment(experiment, body)))


@router.delete(EXPERIMENT_ID + "/tags", operation_id="Experiments_DeleteTags")
@router.post(EXPERIMENT_ID + "/tags:delete", operation_id="Experiments_DeleteTagsCommand")
def delete_experiment_tags(experimentId: str, body: DeleteTags = body_of(DeleteTags),
                           workspace: Resource = WRITE_EXPERIMENTS, session: Session = DB):
    experiment = experiment_service.get_experiment_by_id(session, workspace, experimentId)
    return json_response(experiment_json(experiment_service.delete_tags(experiment, body.tags)))


@router.delete(EXPERIMENT_ID, operation_id="Experiments_Delete")
def delete_experiment(experimentId: str, workspace: Resource = in_workspace("experiments/delete"),
                      session: Session = DB):
    session.delete(experiment_service.get_experiment_by_id(session, workspace, experimentId))
    return json_response({})


# Runs ----------------------------------------------------------------------------------------


def _runs_page(request: Request, session: Session, workspace: Resource, experiment_name: str | None,
               params: QueryParams, parent_run_id: str | None = None):
    experiment = (experiment_service.get_experiment(session, workspace, experiment_name)
                  if experiment_name is not None else None)
    page = service.query_runs(session, workspace, experiment, params.filter, params.orderBy,
                              params.continuationToken, params.top, app_context(request).settings.page_size,
                              parent_run_id)
    return json_response(page_json(page, run_json))


def _query_params(filter_: str | None, orderby: str | None, top: int | None, token: str | None) -> QueryParams:
    return QueryParams(filter=filter_, orderBy=orderby, top=top, continuationToken=token)


@router.get(EXPERIMENT + "/runs", operation_id="Runs_List")
def list_runs(request: Request, experimentName: str, filter_: str | None = Query(None, alias="$filter"),
              orderby: str | None = Query(None, alias="$orderby"), top: int | None = Query(None, alias="$top", ge=1),
              token: str | None = Query(None, alias="$continuationToken"),
              workspace: Resource = READ_RUNS, session: Session = DB):
    return _runs_page(request, session, workspace, experimentName, _query_params(filter_, orderby, top, token))


@router.post(EXPERIMENT + "/runs:query", operation_id="Runs_GetByQuery")
def query_runs(request: Request, experimentName: str, body: QueryParams = body_of(QueryParams),
               workspace: Resource = READ_RUNS, session: Session = DB):
    return _runs_page(request, session, workspace, experimentName, body)


@router.get(EXPERIMENT + "/runcounts", operation_id="Runs_GetCounts")
def run_counts(experimentName: str, workspace: Resource = READ_RUNS, session: Session = DB):
    return json_response(service.run_counts(session, experiment_service.get_experiment(session, workspace,
                                                                                     experimentName)))


@router.patch(RUN, operation_id="Runs_Patch")
def patch_run(request: Request, experimentName: str, runId: str, body: CreateRun = body_of(CreateRun),
              authz: Authorizer = Depends(authenticate), workspace: Resource = WRITE_RUNS, session: Session = DB):
    run = service.upsert_run(session, workspace, experimentName, runId, body, authz.caller,
                             app_context(request).settings.base_url)
    session.flush()
    return json_response(run_json(run))


@router.get(RUN, operation_id="Runs_Get")
def get_run(experimentName: str, runId: str, workspace: Resource = READ_RUNS, session: Session = DB):
    experiment = experiment_service.get_experiment(session, workspace, experimentName)
    return json_response(run_json(service.get_run(session, workspace, runId, experiment)))


@router.get(HISTORY + "/runs/{runId}", operation_id="Runs_GetInWorkspace")
def get_workspace_run(runId: str, workspace: Resource = READ_RUNS, session: Session = DB):
    return json_response(run_json(service.get_run(session, workspace, runId)))


@router.get(EXPERIMENT_ID + "/runs/{runId}", operation_id="Runs_GetByExperimentId")
def get_run_by_experiment_id(experimentId: str, runId: str, workspace: Resource = READ_RUNS, session: Session = DB):
    experiment = experiment_service.get_experiment_by_id(session, workspace, experimentId)
    return json_response(run_json(service.get_run(session, workspace, runId, experiment)))


@router.patch(EXPERIMENT_ID + "/runs/{runId}", operation_id="Runs_PatchByExperimentId")
def patch_run_by_experiment_id(request: Request, experimentId: str, runId: str, body: CreateRun = body_of(CreateRun),
                               authz: Authorizer = Depends(authenticate), workspace: Resource = WRITE_RUNS,
                               session: Session = DB):
    experiment = experiment_service.get_experiment_by_id(session, workspace, experimentId)
    run = service.upsert_run(session, workspace, experiment.name, runId, body, authz.caller,
                             app_context(request).settings.base_url)
    session.flush()
    return json_response(run_json(run))


@router.get(RUN + "/details", operation_id="Runs_GetDetails")
def get_run_details(request: Request, experimentName: str, runId: str, workspace: Resource = READ_RUNS,
                    session: Session = DB):
    experiment = experiment_service.get_experiment(session, workspace, experimentName)
    run = service.get_run(session, workspace, runId, experiment)
    context = app_context(request)
    files = log_files(context.settings, workspace, run)
    artifacts = Artifacts.of(context, session, workspace)
    files.update(artifacts.read_links(RUN_ORIGIN, run.data_container_id, list(files)))  # uploaded at the run's end
    return json_response(run_details_json(run, files))


@router.get(RUN + "/children", operation_id="Runs_GetChild")
def get_children(request: Request, experimentName: str, runId: str,
                 filter_: str | None = Query(None, alias="$filter"), orderby: str | None = Query(None, alias="$orderby"),
                 top: int | None = Query(None, alias="$top", ge=1),
                 token: str | None = Query(None, alias="$continuationToken"),
                 workspace: Resource = READ_RUNS, session: Session = DB):
    experiment = experiment_service.get_experiment(session, workspace, experimentName)
    service.get_run(session, workspace, runId, experiment)
    return _runs_page(request, session, workspace, None, _query_params(filter_, orderby, top, token), runId)


async def tag_keys(request: Request) -> list[str]:
    """The SDK sends a bare JSON array of keys; the spec a DeleteTagsCommand. Both are accepted."""
    data = await read_json(request)
    keys = data if isinstance(data, list) else parse_model(DeleteTags, data).tags
    if not all(isinstance(key, str) for key in keys):
        raise BadRequest("Tag keys must be strings.", code="InvalidRequestContent")
    return keys


@router.delete(RUN + "/tags", operation_id="Runs_DeleteTags")
def delete_run_tags(experimentName: str, runId: str, keys: list[str] = Depends(tag_keys),
                    workspace: Resource = WRITE_RUNS, session: Session = DB):
    experiment = experiment_service.get_experiment(session, workspace, experimentName)
    return json_response(run_json(service.delete_tags(service.get_run(session, workspace, runId, experiment), keys)))


@router.delete(RUN, operation_id="Runs_Delete")
def delete_run(experimentName: str, runId: str, workspace: Resource = in_workspace("experiments/runs/delete"),
               session: Session = DB):
    experiment = experiment_service.get_experiment(session, workspace, experimentName)
    service.delete_run(session, service.get_run(session, workspace, runId, experiment))
    return Response(status_code=200)


@router.patch(EXPERIMENT + "/batch/runs", operation_id="Runs_BatchAddOrModify")
def batch_runs(request: Request, experimentName: str, body: BatchRuns = body_of(BatchRuns),
               authz: Authorizer = Depends(authenticate), workspace: Resource = WRITE_RUNS, session: Session = DB):
    base_url = app_context(request).settings.base_url
    runs, errors = {}, {}
    for index, raw in enumerate(body.runs):
        run_id = str(raw.get("runId") or raw.get("RunId") or f"#{index}")
        try:
            with session.begin_nested():
                run = service.upsert_run(session, workspace, experimentName, run_id, parse_model(CreateRun, raw),
                                         authz.caller, base_url)
                session.flush()
            runs[run_id] = run_json(run)
        except AmliteError as error:  # reported per run; the others are kept
            errors[run_id] = {"error": {"code": error.code, "message": error.message}}
    return json_response({"runs": runs, "errors": errors})


# Events --------------------------------------------------------------------------------------


@router.post(RUN + "/events", operation_id="Events_Post")
def post_event(request: Request, experimentName: str, runId: str, body: BaseEvent = body_of(BaseEvent),
               workspace: Resource = WRITE_RUNS, session: Session = DB):
    experiment = experiment_service.get_experiment(session, workspace, experimentName)
    run = service.get_run(session, workspace, runId, experiment)
    service.apply_event(run, body, app_context(request).settings.run_heartbeat_timeout_seconds)
    return Response(status_code=200)


@router.post(EXPERIMENT + "/batch/events", operation_id="Events_BatchPost")
def post_events(request: Request, experimentName: str, body: BatchEvents = body_of(BatchEvents),
                workspace: Resource = WRITE_RUNS, session: Session = DB):
    experiment = experiment_service.get_experiment(session, workspace, experimentName)
    timeout = app_context(request).settings.run_heartbeat_timeout_seconds
    errors = []
    for raw in body.events:
        try:
            with session.begin_nested():
                event = parse_model(BaseEvent, raw)
                run_id = str({k.lower(): v for k, v in (event.data or {}).items()}.get("runid") or "")
                service.apply_event(service.get_run(session, workspace, run_id, experiment), event, timeout)
        except AmliteError as error:
            errors.append({"key": raw, "value": {"error": {"code": error.code, "message": error.message}}})
    return json_response({"errors": errors})
