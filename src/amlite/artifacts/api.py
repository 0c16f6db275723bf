"""Routes of artifact/v2.0.

Two spellings of each operation are served: the one the azureml SDK sends (``.../artifacts/contentinfo/
{origin}/{container}/{path}``, the path unencoded at the end, operation ids ``Artifact_*``) and the
swagger's (``.../artifacts/{origin}/{container}/contentinfo?path=``, ids ``Artifacts_*``). Routes with a
literal segment first come before the catch-all list-in-path route. ``hardDelete`` is accepted and
needs no handling: a delete always removes the artifact's bytes too.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import StreamingResponse
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from amlite.arm.tables import Resource
from amlite.artifacts.schemas import (
    ArtifactIdList,
    ArtifactPathList,
    NewArtifact,
    artifact_json,
    content_info_json,
)
from amlite.artifacts.service import Artifacts
from amlite.artifacts.tables import Artifact
from amlite.errors import AmliteError
from amlite.identity.auth import authenticate
from amlite.runs.paging import page_json
from amlite.web.body import body_chunks, body_of
from amlite.web.deps import DB, app_context
from amlite.web.responses import json_response
from amlite.workspaces.dataplane import WORKSPACE_PATH, in_workspace

router = APIRouter(dependencies=[Depends(authenticate)], tags=["artifact"])

ARTIFACTS = "/artifact/v2.0" + WORKSPACE_PATH + "/artifacts"
IN_CONTAINER = ARTIFACTS + "/{origin}/{container}"


def artifacts_in(action: str) -> Any:
    """A route dependency giving the artifact service of the addressed workspace, once the caller may
    do ``action`` there."""

    def dependency(request: Request, workspace: Resource = in_workspace(action), session: Session = DB) -> Artifacts:
        return Artifacts.of(app_context(request), session, workspace)

    return Depends(dependency)


READ = artifacts_in("artifacts/read")
WRITE = artifacts_in("artifacts/write")
DELETE = artifacts_in("artifacts/delete")


# Rendering shared with run history's artifact routes -----------------------------------------


def created_json(artifacts: Artifacts, created: list[Artifact]) -> dict[str, Any]:
    """BatchArtifactContentInformation of new artifacts: each with a write link, keyed by path."""
    return {"artifacts": {a.path: artifact_json(a) for a in created},
            "artifactContentInformation": {a.path: content_info_json(a, artifacts.write_link(a)) for a in created},
            "errors": {}}


def list_json(artifacts: Artifacts, origin: str, container: str, token: str | None,
              folder: str | None = None) -> dict[str, Any]:
    return page_json(artifacts.list(origin, container, token, folder=folder), artifact_json)


def prefix_json(artifacts: Artifacts, origin: str, container: str, prefix: str, token: str | None) -> dict[str, Any]:
    page = artifacts.list(origin, container, token, prefix=prefix)
    return page_json(page, lambda a: content_info_json(a, artifacts.read_link(a)))


def download(artifacts: Artifacts, artifact: Artifact) -> StreamingResponse:
    info, chunks = artifacts.download(artifact)
    return StreamingResponse(chunks, media_type=info.content_type or "application/octet-stream",
                             headers={"Content-Length": str(info.size), "ETag": info.etag})


async def upload(request: Request, artifacts: Artifacts, origin: str, container: str, path: str, append: bool,
                 allow_overwrite: bool) -> Response:
    """The request body, streamed into the store (in a worker thread, as the store blocks)."""
    artifact = await run_in_threadpool(
        artifacts.upload, origin, container, path, body_chunks(request), append=append,
        allow_overwrite=allow_overwrite, content_type=request.headers.get("content-type"),
        max_bytes=app_context(request).settings.artifact_upload_max_bytes)
    return json_response(artifact_json(artifact))


# Workspace-wide -------------------------------------------------------------------------------


@router.post(ARTIFACTS + "/metadata", operation_id="Artifacts_Create")
def create_artifact(body: NewArtifact = body_of(NewArtifact), artifacts: Artifacts = WRITE):
    return json_response(artifact_json(artifacts.create(body.origin, body.container, [body.path])[0]))


@router.post(ARTIFACTS + "/batch/metadata", operation_id="Artifacts_BatchGetById")
def batch_get_by_id(body: ArtifactIdList = body_of(ArtifactIdList), artifacts: Artifacts = READ):
    found, infos, errors = {}, {}, {}
    for artifact_id in body.artifactIds:
        try:
            artifact = artifacts.get_by_id(artifact_id)
        except AmliteError as error:  # reported per id; the others are answered
            errors[artifact_id] = {"error": {"code": error.code, "message": error.message}}
            continue
        found[artifact_id] = artifact_json(artifact)
        infos[artifact_id] = content_info_json(artifact, artifacts.read_link(artifact))
    return json_response({"artifacts": found, "artifactContentInformation": infos, "errors": errors})


# The SDK's spelling: {verb}/{origin}/{container}/{path} -------------------------------------------


@router.post(ARTIFACTS + "/batch/metadata/{origin}/{container}", operation_id="Artifact_BatchCreateEmptyArtifacts")
@router.post(IN_CONTAINER + "/batch/metadata", operation_id="Artifacts_BatchCreateEmptyArtifacts")
def batch_create(origin: str, container: str, body: ArtifactPathList = body_of(ArtifactPathList),
                 artifacts: Artifacts = WRITE):
    return json_response(created_json(artifacts, artifacts.create(origin, container, [p.path for p in body.paths])))


@router.delete(ARTIFACTS + "/batch/{origin}/{container}", operation_id="Artifact_DeleteMetaDataInContainer")
@router.delete(IN_CONTAINER + "/batch", operation_id="Artifacts_DeleteMetaDataInContainer")
def delete_container(origin: str, container: str, artifacts: Artifacts = DELETE):
    artifacts.delete_container(origin, container)
    return Response(status_code=200)


@router.get(ARTIFACTS + "/content/{origin}/{container}/{path:path}", operation_id="Artifact_Download")
def download_sdk(origin: str, container: str, path: str, artifacts: Artifacts = READ):
    return download(artifacts, artifacts.get(origin, container, path))


@router.post(ARTIFACTS + "/content/{origin}/{container}/{path:path}", operation_id="Artifact_Upload")
async def upload_sdk(request: Request, origin: str, container: str, path: str, append: bool = False,
                     artifacts: Artifacts = WRITE):
    return await upload(request, artifacts, origin, container, path, append, allow_overwrite=True)


@router.get(ARTIFACTS + "/contentinfo/{origin}/{container}/{path:path}", operation_id="Artifact_GetContentInformation")
def content_info_sdk(origin: str, container: str, path: str, artifacts: Artifacts = READ):
    artifact = artifacts.get(origin, container, path)
    return json_response(content_info_json(artifact, artifacts.read_link(artifact)))


@router.get(ARTIFACTS + "/metadata/{origin}/{container}/{path:path}", operation_id="Artifact_Get")
def get_sdk(origin: str, container: str, path: str, artifacts: Artifacts = READ):
    return json_response(artifact_json(artifacts.get(origin, container, path)))


@router.delete(ARTIFACTS + "/metadata/{origin}/{container}/{path:path}", operation_id="Artifact_DeleteMetaData")
def delete_sdk(origin: str, container: str, path: str, artifacts: Artifacts = DELETE):
    artifacts.delete([artifacts.get(origin, container, path)])
    return Response(status_code=200)


@router.get(ARTIFACTS + "/prefix/contentinfo/{origin}/{container}/{path:path}",
            operation_id="Artifact_ListSasByPrefix")
def prefix_sdk(origin: str, container: str, path: str, continuationToken: str | None = None,
               artifacts: Artifacts = READ):
    return json_response(prefix_json(artifacts, origin, container, path, continuationToken))


@router.get(ARTIFACTS + "/write/{origin}/{container}/{path:path}", operation_id="Artifact_GetWriteSas")
def write_sdk(origin: str, container: str, path: str, artifacts: Artifacts = WRITE):
    artifact = artifacts.get(origin, container, path)
    return json_response(content_info_json(artifact, artifacts.write_link(artifact)))


# The swagger's spelling: {origin}/{container}/{verb}?path= ----------------------------------------

PATH = Query(..., min_length=1)


@router.get(IN_CONTAINER + "/metadata", operation_id="Artifacts_Get")
def get_artifact(origin: str, container: str, path: str = PATH, artifacts: Artifacts = READ):
    return get_sdk(origin, container, path, artifacts)


@router.delete(IN_CONTAINER + "/metadata", operation_id="Artifacts_DeleteMetaData")
def delete_artifact(origin: str, container: str, path: str = PATH, artifacts: Artifacts = DELETE):
    return delete_sdk(origin, container, path, artifacts)


@router.post(IN_CONTAINER + "/batch/metadata:delete", operation_id="Artifacts_DeleteBatchMetaData")
def delete_batch(origin: str, container: str, body: ArtifactPathList = body_of(ArtifactPathList),
                 artifacts: Artifacts = DELETE):
    artifacts.delete_paths(origin, container, [p.path for p in body.paths])
    return Response(status_code=200)


@router.get(IN_CONTAINER + "/content", operation_id="Artifacts_Download")
def download_artifact(origin: str, container: str, path: str = PATH, artifacts: Artifacts = READ):
    return download_sdk(origin, container, path, artifacts)


@router.post(IN_CONTAINER + "/content", operation_id="Artifacts_Upload")
async def upload_artifact(request: Request, origin: str, container: str, path: str = PATH, append: bool = False,
                          allowOverwrite: bool = True, artifacts: Artifacts = WRITE):
    return await upload(request, artifacts, origin, container, path, append, allowOverwrite)


@router.get(IN_CONTAINER + "/contentinfo", operation_id="Artifacts_GetContentInformation")
def content_info(origin: str, container: str, path: str = PATH, artifacts: Artifacts = READ):
    return content_info_sdk(origin, container, path, artifacts)


@router.get(IN_CONTAINER + "/write", operation_id="Artifacts_GetSas")
def write_link(origin: str, container: str, path: str = PATH, artifacts: Artifacts = WRITE):
    return write_sdk(origin, container, path, artifacts)


@router.get(IN_CONTAINER + "/prefix/contentinfo", operation_id="Artifacts_ListSasByPrefix")
def prefix_content_info(origin: str, container: str, path: str = "", continuationToken: str | None = None,
                        artifacts: Artifacts = READ):
    return json_response(prefix_json(artifacts, origin, container, path, continuationToken))


# Listing (last: {path} swallows the rest of the URL) ---------------------------------------------


@router.get(IN_CONTAINER, operation_id="Artifacts_ListInContainer")
def list_in_container(origin: str, container: str, path: str | None = None, continuationToken: str | None = None,
                      artifacts: Artifacts = READ):
    return json_response(list_json(artifacts, origin, container, continuationToken, folder=path))


@router.get(IN_CONTAINER + "/{path:path}", operation_id="Artifact_ListInPath")
def list_in_path(origin: str, container: str, path: str, continuationToken: str | None = None,
                 artifacts: Artifacts = READ):
    return json_response(list_json(artifacts, origin, container, continuationToken, folder=path))
