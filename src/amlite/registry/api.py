"""Routes of the model registry: assets and models, each under both MMS prefixes (registry/mms.py).

Operation ids: the swagger's (``Assets_*``, ``MLModels_*``) under ``/modelmanagement/v1.0``, azureml-core
1.0.76's (``Asset_*``, ``Model_*``) under ``/api``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request, Response
from sqlalchemy.orm import Session

from amlite.arm.tables import Resource
from amlite.identity.auth import authenticate
from amlite.identity.rbac import Authorizer
from amlite.registry.mms import LEGACY, MMS, VERSION
from amlite.registry.patch import JsonPatchOperation, parse_patch
from amlite.registry.schemas import ListModelsRequest, NewAsset, NewModel, asset_json, model_json
from amlite.registry.service import ListQuery, Registry
from amlite.runs.paging import Page, page_json
from amlite.web.body import body_of, read_json
from amlite.web.deps import DB, app_context
from amlite.web.responses import json_response, next_link
from amlite.workspaces.dataplane import in_workspace

router = APIRouter(dependencies=[Depends(authenticate), VERSION], tags=["modelmanagement"])


def registry_in(action: str) -> Any:
    """A route dependency giving the registry of the addressed workspace, once the caller may do ``action``."""

    def dependency(request: Request, workspace: Resource = in_workspace(action), session: Session = DB) -> Registry:
        return Registry.of(app_context(request), session, workspace)

    return Depends(dependency)


READ_ASSETS = registry_in("assets/read")
WRITE_ASSETS = registry_in("assets/write")
DELETE_ASSETS = registry_in("assets/delete")
READ_MODELS = registry_in("models/read")
WRITE_MODELS = registry_in("models/write")
DELETE_MODELS = registry_in("models/delete")
SKIP_TOKEN = Query(None, alias="$skipToken")
COUNT = Query(None, ge=1)


async def patch_body(request: Request) -> list[JsonPatchOperation]:
    return parse_patch(await read_json(request))


PATCH = Depends(patch_body)


def page_response(request: Request, page: Page, render) -> Response:
    """``{"value", "nextLink"?}``: the next page is this URL with ``$skipToken`` set."""
    body: dict[str, Any] = {"value": [render(item) for item in page.items]}
    if page.continuation_token:
        body["nextLink"] = next_link(request, app_context(request).settings.base_url,
                                     **{"$skipToken": page.continuation_token})
    return json_response(body)


# Assets ----------------------------------------------------------------------------------------


@router.post(MMS + "/assets", operation_id="Assets_Create")
@router.post(LEGACY + "/assets", operation_id="Asset_Create")
def create_asset(body: NewAsset = body_of(NewAsset), registry: Registry = WRITE_ASSETS):
    return json_response(asset_json(registry.create_asset(body)))


@router.get(MMS + "/assets", operation_id="Assets_ListQuery")
@router.get(LEGACY + "/assets", operation_id="Asset_ListQuery")
def list_assets(request: Request, runId: str | None = None, name: str | None = None, tag: str | None = None,
                tags: str | None = None, properties: str | None = None,
                asset_type: str | None = Query(None, alias="type"), orderby: str | None = None,
                count: int | None = COUNT, skip_token: str | None = SKIP_TOKEN,
                registry: Registry = READ_ASSETS):
    query = ListQuery(name=name, tag=tag, tags=tags, properties=properties, run_id=runId, order_by=orderby,
                      count=count, skip_token=skip_token, asset_type=asset_type)
    return page_response(request, registry.list_assets(query), asset_json)


@router.get(MMS + "/assets/{id}", operation_id="Assets_QueryById")
@router.get(LEGACY + "/assets/{id}", operation_id="Asset_QueryById")
def get_asset(id: str, registry: Registry = READ_ASSETS):
    return json_response(asset_json(registry.get_asset(id)))


@router.patch(MMS + "/assets/{id}", operation_id="Assets_Patch")
@router.patch(LEGACY + "/assets/{id}", operation_id="Asset_Patch")
def patch_asset(id: str, operations: list[JsonPatchOperation] = PATCH, registry: Registry = WRITE_ASSETS):
    return json_response(asset_json(registry.patch_asset(id, operations)))


@router.delete(MMS + "/assets/{id}", operation_id="Assets_Delete")
@router.delete(LEGACY + "/assets/{id}", operation_id="Asset_Delete")
def delete_asset(id: str, registry: Registry = DELETE_ASSETS):
    registry.delete_asset(id)
    return Response(status_code=200)


# Models ----------------------------------------------------------------------------------------


@router.post(MMS + "/models", operation_id="MLModels_Register")
@router.post(LEGACY + "/models", operation_id="Model_Register")
def register_model(body: NewModel = body_of(NewModel), registry: Registry = WRITE_MODELS,
                   authz: Authorizer = Depends(authenticate)):
    return json_response(model_json(registry.register(body, authz.caller)))


@router.get(MMS + "/models", operation_id="MLModels_ListQuery")
@router.get(LEGACY + "/models", operation_id="Model_ListQuery")
def list_models(request: Request, name: str | None = None, tag: str | None = None, version: int | None = None,
                framework: str | None = None, description: str | None = None, tags: str | None = None,
                properties: str | None = None, runId: str | None = None, orderBy: str | None = None,
                latestVersionOnly: bool = False, count: int | None = COUNT, skip_token: str | None = SKIP_TOKEN,
                registry: Registry = READ_MODELS):
    query = ListQuery(name=name, tag=tag, version=version, framework=framework, description=description, tags=tags,
                      properties=properties, run_id=runId, order_by=orderBy, latest_only=latestVersionOnly,
                      count=count, skip_token=skip_token)
    return page_response(request, registry.list_models(query), model_json)


@router.post(MMS + "/models/list", operation_id="MLModels_ListQueryPost")
@router.post(LEGACY + "/models/list", operation_id="Model_ListQueryPost")
def list_models_post(body: ListModelsRequest = body_of(ListModelsRequest), registry: Registry = READ_MODELS):
    """PaginatedModelListPost: the next page is asked for with ``nextRequest``, this body plus its token."""
    query = ListQuery(name=body.name, tag=body.tag, version=body.version, framework=body.framework,
                      description=body.description, tags=body.tags, properties=body.properties, run_id=body.runId,
                      order_by=body.orderBy, latest_only=body.latestVersionOnly, count=body.count,
                      skip_token=body.skipToken)
    page = registry.list_models(query)
    result = page_json(page, model_json)
    if page.continuation_token:
        result["nextRequest"] = {**body.model_dump(exclude_none=True), "skipToken": page.continuation_token}
    return json_response(result)


@router.get(MMS + "/models/{id}", operation_id="MLModels_QueryById")
@router.get(LEGACY + "/models/{id}", operation_id="Model_QueryById")
def get_model(id: str, registry: Registry = READ_MODELS):
    return json_response(model_json(registry.get_model(id)))


@router.get(MMS + "/models/{id}/download", operation_id="MLModels_Download")
@router.get(LEGACY + "/models/{id}/download", operation_id="Model_Download")
def download_model(id: str, registry: Registry = READ_MODELS):
    """The model's files, each with a signed read link: ``{"value": [{"path", "contentUri"}]}``."""
    return json_response({"value": registry.file_links(registry.get_model(id))})


@router.patch(MMS + "/models/{id}", operation_id="MLModels_Patch")
@router.patch(LEGACY + "/models/{id}", operation_id="Model_Patch")
def patch_model(id: str, operations: list[JsonPatchOperation] = PATCH, registry: Registry = WRITE_MODELS):
    return json_response(model_json(registry.patch_model(id, operations)))


@router.delete(MMS + "/models/{id}", operation_id="MLModels_Delete")
@router.delete(LEGACY + "/models/{id}", operation_id="Model_Delete")
def delete_model(id: str, registry: Registry = DELETE_MODELS):
    registry.delete_model(id)
    return Response(status_code=200)
