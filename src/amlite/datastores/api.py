"""Routes of datastore/v1.0: datastores of a workspace, and its default one."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, Depends, Query, Request, Response
from sqlalchemy.orm import Session

from amlite.arm.tables import Resource
from amlite.datastores import service
from amlite.datastores.schemas import DataStoreBody, datastore_json
from amlite.datastores.tables import Datastore
from amlite.identity.auth import authenticate
from amlite.identity.rbac import Authorizer
from amlite.runs.paging import page_json
from amlite.web.body import body_of
from amlite.web.deps import DB, app_context
from amlite.web.responses import json_response, next_link
from amlite.workspaces.dataplane import WORKSPACE_PATH, in_workspace
from amlite.workspaces.schemas import WORKSPACES

router = APIRouter(dependencies=[Depends(authenticate)], tags=["datastore"])

DATASTORE = "/datastore/v1.0" + WORKSPACE_PATH
DATASTORES = DATASTORE + "/datastores"
READ = in_workspace("datastores/read")
WRITE = in_workspace("datastores/write")
DELETE = in_workspace("datastores/delete")
# Credentials in clear: for those who may read the workspace's keys, as Workspaces_ListKeys demands.
READ_SECRETS = f"{WORKSPACES}/listKeys/action"


def _credentials(request: Request, session: Session, authz: Authorizer, workspace: Resource,
                 include_secret: bool) -> Callable[[Datastore], str | None]:
    """What to put in ``credential``: nothing unless asked for by a caller allowed to read secrets."""
    if include_secret and authz.can(READ_SECRETS, workspace.resource_id):
        return service.credential_reader(session, app_context(request).secrets, workspace)
    return lambda _store: None


@router.get(DATASTORES, operation_id="DataStores_List")
def list_datastores(request: Request, dataStoreNames: list[str] | None = Query(None),
                    continuationToken: str | None = None, count: int = Query(30, ge=1),
                    includeSecret: bool = False, workspace: Resource = READ,
                    authz: Authorizer = Depends(authenticate), session: Session = DB):
    page = service.list_datastores(session, workspace, dataStoreNames, continuationToken, count)
    credential = _credentials(request, session, authz, workspace, includeSecret)
    body = page_json(page, lambda store: datastore_json(store, credential(store)))
    if page.continuation_token:
        body["nextLink"] = next_link(request, app_context(request).settings.base_url,
                                     continuationToken=page.continuation_token)
    return json_response(body)


@router.post(DATASTORES, operation_id="DataStores_Create")
def create_datastore(request: Request, createIfNotExists: bool = False, skipValidation: bool = False,
                     workspace: Resource = WRITE, body: DataStoreBody = body_of(DataStoreBody),
                     session: Session = DB):
    service.create_datastore(session, app_context(request).secrets, workspace, body,
                             create_container=createIfNotExists, skip_validation=skipValidation)
    return Response(status_code=200)


@router.delete(DATASTORES, operation_id="DataStores_DeleteAll")
def delete_all_datastores(workspace: Resource = DELETE, session: Session = DB):
    service.delete_all(session, workspace)
    return Response(status_code=200)


@router.get(DATASTORES + "/{name}", operation_id="DataStores_Get")
def get_datastore(request: Request, name: str, includeSecret: bool = False, workspace: Resource = READ,
                  authz: Authorizer = Depends(authenticate), session: Session = DB):
    store = service.get_datastore(session, workspace, name)
    credential = _credentials(request, session, authz, workspace, includeSecret)
    return json_response(datastore_json(store, credential(store)))


@router.put(DATASTORES + "/{name}", operation_id="DataStores_Update")
def update_datastore(request: Request, name: str, createIfNotExists: bool = False, skipValidation: bool = False,
                     workspace: Resource = WRITE, body: DataStoreBody = body_of(DataStoreBody),
                     session: Session = DB):
    service.update_datastore(session, app_context(request).secrets, workspace, name, body,
                             create_container=createIfNotExists, skip_validation=skipValidation)
    return Response(status_code=200)


@router.delete(DATASTORES + "/{name}", operation_id="DataStores_Delete")
def delete_datastore(name: str, workspace: Resource = DELETE, session: Session = DB):
    service.delete_datastore(session, workspace, name)
    return Response(status_code=200)


@router.get(DATASTORE + "/default", operation_id="DataStores_GetDefault")
def get_default(request: Request, includeSecret: bool = False, workspace: Resource = READ,
                authz: Authorizer = Depends(authenticate), session: Session = DB):
    store = service.get_default(session, workspace)
    credential = _credentials(request, session, authz, workspace, includeSecret)
    return json_response(datastore_json(store, credential(store)))


@router.put(DATASTORE + "/default/{name}", operation_id="DataStores_SetDefault")
def set_default(name: str, workspace: Resource = WRITE, session: Session = DB):
    service.set_default(session, workspace, name)
    return Response(status_code=200)
