"""Routes of Microsoft.MachineLearningServices workspaces."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request, Response
from sqlalchemy.orm import Session

from amlite.arm.api_versions import api_version
from amlite.arm.operations import polling_headers
from amlite.arm.listing import tracked_page
from amlite.arm.service import get_resource_group, get_subscription, require_registered
from amlite.arm.tables import Resource, Subscription
from amlite.identity.auth import authenticate
from amlite.identity.rbac import Authorizer
from amlite.web.body import body_of
from amlite.web.deps import DB, app_context
from amlite.web.responses import json_response
from amlite.workspaces import service
from amlite.workspaces.schemas import WORKSPACES, WorkspacePatch, WorkspacePut, workspace_json

router = APIRouter(dependencies=[Depends(authenticate)])

NAMESPACE = "Microsoft.MachineLearningServices"
VERSION = api_version(NAMESPACE, "workspaces")
IN_GROUP = "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/" + WORKSPACES
WORKSPACE = IN_GROUP + "/{workspaceName}"
IN_SUBSCRIPTION = "/subscriptions/{subscriptionId}/providers/" + WORKSPACES


def workspace_id(subscription: Subscription, group: str, name: str) -> str:
    return f"/subscriptions/{subscription.id}/resourceGroups/{group}/providers/{WORKSPACES}/{name}"


def _render(session: Session, workspace: Resource) -> dict:
    return workspace_json(workspace, service.dependency_problems(session, workspace))


def _start(request: Request, session: Session, workspace: Resource, kind: str) -> dict[str, str]:
    """Record and start a provisioning or deletion; answers the polling headers."""
    context = app_context(request)
    operation = context.operations.record(session, kind=kind, subscription_id=workspace.subscription_id,
                                          resource_id=workspace.resource_id, payload={"resource": workspace.id})
    session.commit()
    context.operations.submit(operation.id)
    return polling_headers(context.settings.base_url, operation, NAMESPACE, request.query_params["api-version"])


def _list(request: Request, session: Session, authz: Authorizer, subscription: Subscription, group: str | None,
          skiptoken: str | None):
    return tracked_page(request, session, authz, subscription, WORKSPACES, group, skiptoken,
                        lambda workspace: _render(session, workspace))


@router.get(IN_SUBSCRIPTION, operation_id="Workspaces_ListBySubscription", dependencies=[VERSION])
def list_by_subscription(request: Request, subscriptionId: str,
                         skiptoken: str | None = Query(default=None, alias="$skiptoken"),
                         authz: Authorizer = Depends(authenticate), session: Session = DB):
    return _list(request, session, authz, get_subscription(session, authz, subscriptionId), None, skiptoken)


@router.get(IN_GROUP, operation_id="Workspaces_ListByResourceGroup", dependencies=[VERSION])
def list_by_group(request: Request, subscriptionId: str, resourceGroupName: str,
                  skiptoken: str | None = Query(default=None, alias="$skiptoken"),
                  authz: Authorizer = Depends(authenticate), session: Session = DB):
    subscription = get_subscription(session, authz, subscriptionId)
    group = get_resource_group(session, subscription.id, resourceGroupName)
    return _list(request, session, authz, subscription, group.name, skiptoken)


@router.put(WORKSPACE, operation_id="Workspaces_CreateOrUpdate", dependencies=[VERSION])
def put_workspace(request: Request, subscriptionId: str, resourceGroupName: str, workspaceName: str,
                  body: WorkspacePut = body_of(WorkspacePut),
                  authz: Authorizer = Depends(authenticate), session: Session = DB):
    subscription = get_subscription(session, authz, subscriptionId)
    authz.check(f"{WORKSPACES}/write", workspace_id(subscription, resourceGroupName, workspaceName))
    require_registered(session, subscription.id, NAMESPACE)
    workspace, provision = service.put_workspace(session, subscription.id, subscription.tenant_id,
                                                 resourceGroupName, workspaceName, body,
                                                 app_context(request).settings.base_url)
    if not provision:
        return json_response(_render(session, workspace))
    headers = _start(request, session, workspace, "workspaces/create")
    return json_response(_render(session, workspace), status=202, headers=headers)


@router.get(WORKSPACE, operation_id="Workspaces_Get", dependencies=[VERSION])
def get_workspace(subscriptionId: str, resourceGroupName: str, workspaceName: str,
                  authz: Authorizer = Depends(authenticate), session: Session = DB):
    subscription = get_subscription(session, authz, subscriptionId)
    authz.check(f"{WORKSPACES}/read", workspace_id(subscription, resourceGroupName, workspaceName))
    return json_response(_render(session, service.get_workspace(session, subscription.id, resourceGroupName,
                                                                workspaceName)))


@router.patch(WORKSPACE, operation_id="Workspaces_Update", dependencies=[VERSION])
def patch_workspace(subscriptionId: str, resourceGroupName: str, workspaceName: str,
                    body: WorkspacePatch = body_of(WorkspacePatch),
                    authz: Authorizer = Depends(authenticate), session: Session = DB):
    subscription = get_subscription(session, authz, subscriptionId)
    authz.check(f"{WORKSPACES}/write", workspace_id(subscription, resourceGroupName, workspaceName))
    workspace = service.get_workspace(session, subscription.id, resourceGroupName, workspaceName)
    service.patch_workspace(workspace, body)
    session.flush()
    return json_response(_render(session, workspace))


@router.delete(WORKSPACE, operation_id="Workspaces_Delete", dependencies=[VERSION])
def delete_workspace(request: Request, subscriptionId: str, resourceGroupName: str, workspaceName: str,
                     authz: Authorizer = Depends(authenticate), session: Session = DB):
    subscription = get_subscription(session, authz, subscriptionId)
    authz.check(f"{WORKSPACES}/delete", workspace_id(subscription, resourceGroupName, workspaceName))
    workspace = service.find_workspace(session, subscription.id, resourceGroupName, workspaceName)
    if workspace is None:
        return Response(status_code=204)
    service.begin_delete_workspace(workspace)
    return Response(status_code=202, headers=_start(request, session, workspace, "workspaces/delete"))


@router.post(WORKSPACE + "/listKeys", operation_id="Workspaces_ListKeys", dependencies=[VERSION])
def list_keys(request: Request, subscriptionId: str, resourceGroupName: str, workspaceName: str,
              authz: Authorizer = Depends(authenticate), session: Session = DB):
    subscription = get_subscription(session, authz, subscriptionId)
    authz.check(f"{WORKSPACES}/listKeys/action", workspace_id(subscription, resourceGroupName, workspaceName))
    workspace = service.get_workspace(session, subscription.id, resourceGroupName, workspaceName)
    return json_response(service.list_keys(session, app_context(request).secrets, workspace))


@router.post(WORKSPACE + "/resyncKeys", operation_id="Workspaces_ResyncKeys", dependencies=[VERSION])
def resync_keys(subscriptionId: str, resourceGroupName: str, workspaceName: str,
                authz: Authorizer = Depends(authenticate), session: Session = DB):
    subscription = get_subscription(session, authz, subscriptionId)
    authz.check(f"{WORKSPACES}/resyncKeys/action", workspace_id(subscription, resourceGroupName, workspaceName))
    service.resync_keys(session, service.get_workspace(session, subscription.id, resourceGroupName, workspaceName))
    return Response(status_code=200)
