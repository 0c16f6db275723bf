"""Routes of metrics: history v1.0 (post, batch, list, query, get) and metric v2.0 (batch, full, list)."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Depends, Query, Request, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from amlite.arm.tables import Resource
from amlite.errors import BadRequest, NotFound
from amlite.identity.auth import authenticate
from amlite.runs import metrics
from amlite.runs.experiments import get_experiment
from amlite.runs.metric_schemas import (
    BatchMetricDto,
    BatchMetricV2Dto,
    FullMetricRequest,
    LatestMetricsRequest,
    MetricDto,
)
from amlite.runs.schemas import QueryParams
from amlite.runs.service import get_run
from amlite.runs.tables import MetricPoint, MetricSeries, Run
from amlite.web.body import body_of
from amlite.web.deps import DB, app_context
from amlite.web.responses import json_response
from amlite.workspaces.dataplane import WORKSPACE_PATH, in_workspace

router = APIRouter(dependencies=[Depends(authenticate)], tags=["metrics"])

EXPERIMENT = "/history/v1.0" + WORKSPACE_PATH + "/experiments/{experimentName}"
RUN = EXPERIMENT + "/runs/{runId}"
V2_RUN = "/metric/v2.0" + WORKSPACE_PATH + "/runs/{runId}"
READ = in_workspace("experiments/runs/read")
WRITE = in_workspace("experiments/runs/write")
_RUN_FILTER = re.compile(r"^\s*RunId\s+eq\s+'([^']+)'\s*$", re.IGNORECASE)


def _experiment_run(session: Session, workspace: Resource, experiment_name: str, run_id: str) -> Run:
    return get_run(session, workspace, run_id, get_experiment(session, workspace, experiment_name))


def _max_points(request: Request) -> int:
    return app_context(request).settings.metric_batch_max_points


@router.post(RUN + "/metrics", operation_id="RunMetrics_Post")
def post_metric(request: Request, experimentName: str, runId: str,
                body: MetricDto = body_of(MetricDto, exact_first=True),
                workspace: Resource = WRITE, session: Session = DB):
    run = _experiment_run(session, workspace, experimentName, runId)
    metrics.ingest(session, run, metrics.from_v1([body]), _max_points(request))
    return Response(status_code=200)


@router.post(RUN + "/batch/metrics", operation_id="RunMetrics_BatchPost")
def post_metrics(request: Request, experimentName: str, runId: str,
                 body: BatchMetricDto = body_of(BatchMetricDto, exact_first=True),
                 workspace: Resource = WRITE, session: Session = DB):
    run = _experiment_run(session, workspace, experimentName, runId)
    metrics.ingest(session, run, metrics.from_v1(body.values), _max_points(request))
    return Response(status_code=200)


@router.get(RUN + "/metricsingest/wait", operation_id="RunMetrics_WaitOnIngest")
def wait_on_ingest(experimentName: str, runId: str, workspace: Resource = READ, session: Session = DB):
    """Ingest is synchronous here: once a post answered, its points are readable."""
    _experiment_run(session, workspace, experimentName, runId)
    return json_response({})


def _run_metric_page(request: Request, session: Session, workspace: Resource, experiment_name: str,
                     params: QueryParams):
    experiment = get_experiment(session, workspace, experiment_name)
    query = select(Run.id, Run.run_id).where(Run.experiment_id == experiment.id)
    if params.filter:
        match = _RUN_FILTER.match(params.filter)
        if match is None:
            raise BadRequest("Metric queries filter on one run: $filter=RunId eq '<runId>'.", code="InvalidFilter",
                             target="$filter")
        query = query.where(Run.run_id == match.group(1))
    run_ids = dict(session.execute(query).all())
    series_by_id = {s.id: s for s in session.scalars(select(MetricSeries).where(MetricSeries.run_pk.in_(run_ids)))}
    page_size = app_context(request).settings.page_size
    page = metrics.read_points(session, list(series_by_id), params.continuationToken,
                               min(params.top or page_size, page_size) * 10)
    body: dict[str, Any] = {"value": metrics.v1_run_metrics(run_ids, series_by_id, page.items)}
    if page.continuation_token:
        body["continuationToken"] = page.continuation_token
    return json_response(body)


@router.get(EXPERIMENT + "/metrics", operation_id="RunMetrics_List")
def list_metrics(request: Request, experimentName: str, filter_: str | None = Query(None, alias="$filter"),
                 top: int | None = Query(None, alias="$top", ge=1),
                 token: str | None = Query(None, alias="$continuationToken"),
                 workspace: Resource = READ, session: Session = DB):
    return _run_metric_page(request, session, workspace, experimentName,
                            QueryParams(filter=filter_, top=top, continuationToken=token))


@router.post(EXPERIMENT + "/metrics:query", operation_id="RunMetrics_GetByQuery")
def query_metrics(request: Request, experimentName: str, body: QueryParams = body_of(QueryParams),
                  workspace: Resource = READ, session: Session = DB):
    return _run_metric_page(request, session, workspace, experimentName, body)


@router.get(EXPERIMENT + "/metrics/{metricId}", operation_id="RunMetrics_Get")
def get_metric(experimentName: str, metricId: str, workspace: Resource = READ, session: Session = DB):
    experiment = get_experiment(session, workspace, experimentName)
    rows = session.execute(
        select(MetricPoint, MetricSeries, Run.run_id).join(MetricSeries, MetricPoint.series_id == MetricSeries.id)
        .join(Run, MetricSeries.run_pk == Run.id)
        .where(Run.experiment_id == experiment.id, MetricPoint.metric_id == metricId).order_by(MetricPoint.id)
    ).all()
    if not rows:
        raise NotFound(f"Metric '{metricId}' was not found in experiment '{experiment.name}'.",
                       code="MetricNotFound", target="metricId")
    series = rows[0][1]
    (entry,) = metrics.v1_run_metrics({series.run_pk: rows[0][2]}, {series.id: series}, [r[0] for r in rows])
    return json_response(entry)


@router.post(EXPERIMENT + "/metrics:latest", operation_id="RunMetrics_Latest")
def latest_metrics(experimentName: str, body: LatestMetricsRequest = body_of(LatestMetricsRequest),
                   workspace: Resource = READ, session: Session = DB):
    """amlite extension: the latest value of each metric for many runs at once (to compare runs)."""
    experiment = get_experiment(session, workspace, experimentName)
    runs = list(session.scalars(select(Run).where(Run.experiment_id == experiment.id,
                                                  Run.run_id.in_(body.runIds))))
    missing = set(body.runIds) - {r.run_id for r in runs}
    if missing:
        raise NotFound(f"Runs not found in experiment '{experiment.name}': {', '.join(sorted(missing))}.",
                       code="RunNotFound", target="runIds")
    return json_response({"value": metrics.latest_values(session, runs, body.metricNames)})


# metric v2.0 -----------------------------------------------------------------------------------


@router.post(V2_RUN + "/batch", operation_id="MetricV2_PostRunMetrics")
def post_metrics_v2(request: Request, runId: str,
                    body: BatchMetricV2Dto = body_of(BatchMetricV2Dto, exact_first=True),
                    workspace: Resource = WRITE, session: Session = DB):
    run = get_run(session, workspace, runId)
    metrics.ingest(session, run, metrics.from_v2(body.values), _max_points(request))
    return json_response({"errors": []})


@router.post(V2_RUN + "/full", operation_id="MetricV2_GetFullFidelity")
def full_series(request: Request, runId: str, body: FullMetricRequest = body_of(FullMetricRequest),
                workspace: Resource = READ, session: Session = DB):
    """One metric's whole series, page by page (``continuationToken``), never loaded all at once."""
    run = get_run(session, workspace, runId)
    series = metrics.find_series(session, run, body.metricName)
    if series is None:
        raise NotFound(f"Run '{runId}' has no metric '{body.metricName}'.", code="MetricNotFound",
                       target="metricName")
    limit = min(body.top or 10000, 10000)
    page = metrics.read_points(session, [series.id], body.continuationToken, limit, body.startTime, body.endTime)
    result = metrics.v2_series_json(series, page.items)
    if page.continuation_token:
        result["continuationToken"] = page.continuation_token
    return json_response(result)


@router.post(V2_RUN + "/list", operation_id="MetricV2_ListMetrics")
def list_metric_definitions(runId: str, workspace: Resource = READ, session: Session = DB):
    run = get_run(session, workspace, runId)
    return json_response({"value": [
        {"metricKey": {"namespace": None, "name": s.name}, "columns": s.columns,
         "properties": {metrics.UX_TYPE: s.metric_type}, "count": s.point_count, "lastStep": s.last_step}
        for s in metrics.list_series(session, run)
    ]})
