"""Run history's artifact routes (``.../runs/{runId}/artifacts``): the artifacts of origin ``ExperimentRun``
in the run's data container, in the SDK's spelling (path at the end) and the swagger's (``?path=``)."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from amlite.artifacts.api import PATH, READ, WRITE, created_json, list_json, prefix_json
from amlite.artifacts.schemas import ArtifactPathList, artifact_json, content_info_json
from amlite.artifacts.service import RUN_ORIGIN as ORIGIN
from amlite.artifacts.service import Artifacts
from amlite.identity.auth import authenticate
from amlite.runs.experiments import get_experiment
from amlite.runs.service import get_run
from amlite.web.body import body_of
from amlite.web.responses import json_response
from amlite.workspaces.dataplane import WORKSPACE_PATH

router = APIRouter(dependencies=[Depends(authenticate)], tags=["history"])

RUN_ARTIFACTS = ("/history/v1.0" + WORKSPACE_PATH +
                 "/experiments/{experimentName}/runs/{runId}/artifacts")


def _container(artifacts: Artifacts, experiment_name: str, run_id: str) -> str:
    experiment = get_experiment(artifacts.session, artifacts.workspace, experiment_name)
    return get_run(artifacts.session, artifacts.workspace, run_id, experiment).data_container_id


@router.get(RUN_ARTIFACTS, operation_id="RunArtifacts_ListInContainer")
def list_in_container(experimentName: str, runId: str, continuationToken: str | None = None,
                      artifacts: Artifacts = READ):
    container = _container(artifacts, experimentName, runId)
    return json_response(list_json(artifacts, ORIGIN, container, continuationToken))


@router.get(RUN_ARTIFACTS + "/path", operation_id="RunArtifacts_ListInPath")
@router.get(RUN_ARTIFACTS + "/path/{path:path}", operation_id="RunArtifact_ListInPath")
def list_in_path(experimentName: str, runId: str, path: str = "", continuationToken: str | None = None,
                 artifacts: Artifacts = READ):
    container = _container(artifacts, experimentName, runId)
    return json_response(list_json(artifacts, ORIGIN, container, continuationToken, folder=path))


@router.get(RUN_ARTIFACTS + "/metadata", operation_id="RunArtifacts_GetById")
def get_artifact(experimentName: str, runId: str, path: str = PATH, artifacts: Artifacts = READ):
    container = _container(artifacts, experimentName, runId)
    return json_response(artifact_json(artifacts.get(ORIGIN, container, path)))


@router.get(RUN_ARTIFACTS + "/contentinfo", operation_id="RunArtifacts_GetContentInformation")
@router.get(RUN_ARTIFACTS + "/contentinfo/{path:path}", operation_id="RunArtifact_GetContentInformation")
def content_info(experimentName: str, runId: str, path: str = "", artifacts: Artifacts = READ):
    artifact = artifacts.get(ORIGIN, _container(artifacts, experimentName, runId), path)
    return json_response(content_info_json(artifact, artifacts.read_link(artifact)))


@router.get(RUN_ARTIFACTS + "/artifacturi", operation_id="RunArtifacts_GetSasUri")
@router.get(RUN_ARTIFACTS + "/artifacturi/{path:path}", operation_id="RunArtifact_GetSasUri")
def artifact_uri(experimentName: str, runId: str, path: str = "", artifacts: Artifacts = READ):
    artifact = artifacts.get(ORIGIN, _container(artifacts, experimentName, runId), path)
    return json_response(artifacts.read_link(artifact))


@router.get(RUN_ARTIFACTS + "/prefix/contentinfo", operation_id="RunArtifacts_ListSasByPrefix")
@router.get(RUN_ARTIFACTS + "/prefix/contentinfo/{path:path}", operation_id="RunArtifact_ListSasByPrefix")
def prefix_content_info(experimentName: str, runId: str, path: str = "", continuationToken: str | None = None,
                        artifacts: Artifacts = READ):
    container = _container(artifacts, experimentName, runId)
    return json_response(prefix_json(artifacts, ORIGIN, container, path, continuationToken))


@router.post(RUN_ARTIFACTS + "/batch/metadata", operation_id="RunArtifacts_BatchCreateEmptyArtifacts")
def batch_create(experimentName: str, runId: str, body: ArtifactPathList = body_of(ArtifactPathList),
                 artifacts: Artifacts = WRITE):
    container = _container(artifacts, experimentName, runId)
    return json_response(created_json(artifacts, artifacts.create(ORIGIN, container, [p.path for p in body.paths])))
