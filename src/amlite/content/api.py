"""Routes of the content service: snapshots as the SDK calls them (content/v1.0 multipart, content/v2.0
blob links), and the service's meta probes."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from amlite import __version__
from amlite.arm.tables import Resource
from amlite.artifacts.links import READ, WRITE, BlobLinks
from amlite.compute.layout import storage_account_name
from amlite.content import service
from amlite.content.multipart import Form, read_form
from amlite.content.schemas import CreateSnapshotV2, FileNames, snapshot_json, tree_with_links
from amlite.content.trees import read_tree
from amlite.errors import BadRequest
from amlite.identity.auth import authenticate
from amlite.identity.rbac import Authorizer
from amlite.web.body import body_of
from amlite.web.deps import DB, app_context
from amlite.web.responses import json_response
from amlite.workspaces.dataplane import WORKSPACE_PATH, in_workspace

router = APIRouter(dependencies=[Depends(authenticate)], tags=["content"])

V1 = "/content/v1.0" + WORKSPACE_PATH + "/snapshots"
V2 = "/content/v2.0" + WORKSPACE_PATH + "/snapshots"
READ_SNAPSHOTS = in_workspace("snapshots/read")
WRITE_SNAPSHOTS = in_workspace("snapshots/write")
# room for the directory tree and the part headers on top of the snapshot's own bytes
FORM_OVERHEAD = 32 << 20
DIR_TREE_PARTS = ("dirtree", "dirtreerootfile")


# --- meta --------------------------------------------------------------------------------------

@router.get("/content/v1.0/meta/alive", operation_id="Snapshots_Alive")
@router.get("/content/v1.0/meta/ping", operation_id="Snapshots_Ping")
def alive():
    return Response(status_code=200)


@router.get("/content/v1.0/meta/version", operation_id="Snapshots_Version")
def version():
    return json_response({"name": "content", "version": __version__, "properties": {}})


# --- v1.0 --------------------------------------------------------------------------------------

async def snapshot_form(request: Request) -> AsyncIterator[Form]:
    settings = app_context(request).settings
    form = await read_form(request, settings.data_dir / "uploads",
                           max_bytes=settings.snapshot_max_bytes + FORM_OVERHEAD,
                           max_files=settings.snapshot_max_files + 1, max_field_bytes=FORM_OVERHEAD)
    try:
        yield form
    finally:
        form.close()


def _json_part(text: str, name: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        raise BadRequest(f"The '{name}' part is not valid JSON.", code="InvalidRequestContent", target=name) from None


def _v1_snapshot(form: Form, snapshot_id: str, parent_id: str | None,
                 project_name: str | None) -> tuple[service.NewSnapshot, list[service.Upload]]:
    """The old SDK's form: every file a part with the file's path as its filename, the tree a
    ``files`` part named ``dirTreeRootFile`` (or a ``dirTree`` field, as the swagger has it)."""
    tree_text = next((form.fields[name] for name in DIR_TREE_PARTS if name in form.fields), None)
    uploads = []
    for part in form.files:
        if part.headers.get("dirtreerootfile") == "true" or part.field.lower() in DIR_TREE_PARTS or (
                part.filename == "dirTreeRootFile" and (part.content_type or "").startswith("application/json")):
            tree_text = b"".join(form.chunks(part)).decode("utf-8", "replace")
            continue
        uploads.append(service.Upload(part.filename, lambda part=part: form.chunks(part), part.size))
    properties = _json_part(form.fields["properties"], "properties") if form.fields.get("properties") else {}
    if not isinstance(properties, dict):
        raise BadRequest("The 'properties' part must be a JSON object.", code="InvalidRequestContent",
                         target="properties")
    tree = read_tree(_json_part(tree_text, "dirTree")) if tree_text is not None else None
    return service.NewSnapshot(service.snapshot_id(snapshot_id), parent_id, project_name, properties, tree), uploads


@router.post(V1 + "/{snapshotId}", operation_id="Runs_CreateSnapshot")
def create_v1(request: Request, snapshotId: str, parentSnapshotId: str | None = None,
              projectName: str | None = None, form: Form = Depends(snapshot_form),
              authz: Authorizer = Depends(authenticate), workspace: Resource = WRITE_SNAPSHOTS, session: Session = DB):
    # the form is read first, as startrun reads its zip: no transaction stays open while a body uploads
    context = app_context(request)
    new, uploads = _v1_snapshot(form, snapshotId, parentSnapshotId, projectName)
    snapshot = service.create_snapshot(session, context.artifacts, context.settings, workspace, authz.caller,
                                       new, uploads)
    return json_response(snapshot_json(snapshot, service.NO_SNAPSHOT))


@router.get(V1 + "/latest/metadata", operation_id="Snapshots_GetLatest")
def latest_metadata(projectName: str | None = None, workspace: Resource = READ_SNAPSHOTS, session: Session = DB):
    return json_response(snapshot_json(service.latest_snapshot(session, workspace, projectName), service.NO_SNAPSHOT))


@router.get(V1 + "/{snapshotId}/metadata", operation_id="Snapshots_GetMetadata")
def metadata(snapshotId: str, workspace: Resource = READ_SNAPSHOTS, session: Session = DB):
    return json_response(snapshot_json(service.get_snapshot(session, workspace, snapshotId), service.NO_SNAPSHOT))


def _zip_link(request: Request, session: Session, workspace: Resource, snapshot_id: str) -> str:
    context = app_context(request)
    snapshot = service.get_snapshot(session, workspace, snapshot_id)
    account, container, name = service.zip_blob(context.artifacts, context.settings, workspace, snapshot)
    return BlobLinks.of(context).url(READ, account, container, name)


@router.get(V1 + "/{snapshotId}", operation_id="Snapshots_GetZipLink")
@router.get(V1 + "/{snapshotId}/fileslocation", operation_id="Snapshots_GetZipLocation")
def zip_link(request: Request, snapshotId: str, workspace: Resource = READ_SNAPSHOTS, session: Session = DB):
    return json_response(_zip_link(request, session, workspace, snapshotId))


@router.get(V1 + "/{snapshotId}/sas", operation_id="Snapshots_GetSasUrls")
@router.get(V1 + "/{snapshotId}/storageurls", operation_id="Snapshots_GetStorageUrls")
def sas_urls(request: Request, snapshotId: str, workspace: Resource = READ_SNAPSHOTS, session: Session = DB):
    snapshot = service.get_snapshot(session, workspace, snapshotId)
    links, account = BlobLinks.of(app_context(request)), storage_account_name(workspace)
    return json_response(tree_with_links(snapshot.root, lambda path: links.url(
        READ, account, service.CONTAINER, f"{snapshot.id}/{path}")))


@router.delete(V1 + "/{snapshotId}", operation_id="Snapshots_Delete")
def delete(request: Request, snapshotId: str, workspace: Resource = in_workspace("snapshots/delete"),
           session: Session = DB):
    snapshot = service.get_snapshot(session, workspace, snapshotId)
    service.delete_snapshot(session, app_context(request).artifacts, workspace, snapshot)
    return Response(status_code=200)


# --- v2.0 (azureml-core 1.x today) ---------------------------------------------------------------

@router.post(V2 + "/getblob", operation_id="Snapshots_GetBlobLinks")
def get_blob_links(request: Request, body: FileNames = body_of(FileNames), workspace: Resource = WRITE_SNAPSHOTS):
    context = app_context(request)
    links, account = BlobLinks.of(context), storage_account_name(workspace)
    staged = service.staging_names(context.settings, body.fileNames)
    return json_response({"fileNodes": [
        {"fullName": path, "blobUri": links.url(WRITE, account, service.CONTAINER, name)}
        for path, name in staged.items()]})


@router.post(V2 + "/{snapshotId}", operation_id="Snapshots_CreateV2")
def create_v2(request: Request, snapshotId: str, body: CreateSnapshotV2 = body_of(CreateSnapshotV2),
              authz: Authorizer = Depends(authenticate), workspace: Resource = WRITE_SNAPSHOTS,
              session: Session = DB):
    context = app_context(request)
    staged = service.staged_files(context.artifacts, context.settings, workspace, body.fileRevisionList.fileNodes)
    new = service.NewSnapshot(service.snapshot_id(snapshotId), body.parentSnapshotId, None, body.properties or {},
                              read_tree(body.dirTreeNode))
    snapshot = service.create_snapshot(session, context.artifacts, context.settings, workspace, authz.caller,
                                       new, staged.uploads)
    service.discard_staged(context.artifacts, staged)
    return json_response(snapshot_json(snapshot, service.NO_SNAPSHOT))


@router.post(V2 + "/{snapshotId}/zip", operation_id="Snapshots_Zip")
def zip_v2(request: Request, snapshotId: str, workspace: Resource = READ_SNAPSHOTS, session: Session = DB):
    return json_response({"zipSasUri": _zip_link(request, session, workspace, snapshotId)})
