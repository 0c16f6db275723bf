"""Routes of the ARM management plane: subscriptions, resource groups, providers, operations."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request, Response
from sqlalchemy.orm import Session

from amlite.arm import service
from amlite.arm.api_versions import api_version, check_api_version
from amlite.arm.catalog import PROVIDERS
from amlite.arm.ids import resource_group_id, subscription_id
from amlite.arm.operations import polling_headers, status_document
from amlite.arm.schemas import (
    MoveResourcesRequest,
    ResourceGroupPatch,
    ResourceGroupPut,
    provider_json,
    resource_group_json,
    subscription_json,
)
from amlite.arm.tables import Operation
from amlite.errors import NotFound
from amlite.identity.auth import authenticate
from amlite.identity.rbac import Authorizer
from amlite.web.body import body_of
from amlite.web.deps import DB, app_context
from amlite.web.responses import json_response, next_link

router = APIRouter(dependencies=[Depends(authenticate)])

RESOURCES = "Microsoft.Resources"
RG_ACTION = "Microsoft.Resources/subscriptions/resourceGroups"
SUBSCRIPTIONS = "/subscriptions"
SUBSCRIPTION = "/subscriptions/{subscriptionId}"
RESOURCE_GROUPS = SUBSCRIPTION + "/resourceGroups"
RESOURCE_GROUP = RESOURCE_GROUPS + "/{resourceGroupName}"
PROVIDERS_PATH = SUBSCRIPTION + "/providers"
PROVIDER = PROVIDERS_PATH + "/{resourceProviderNamespace}"


@router.get(SUBSCRIPTIONS, operation_id="Subscriptions_List",
            dependencies=[api_version(RESOURCES, "subscriptions")])
def list_subscriptions(authz: Authorizer = Depends(authenticate), session: Session = DB):
    items = [subscription_json(s) for s in service.visible_subscriptions(session, authz)]
    return json_response({"value": items, "count": {"type": "Total", "value": len(items)}})


@router.get(SUBSCRIPTION, operation_id="Subscriptions_Get",
            dependencies=[api_version(RESOURCES, "subscriptions")])
def get_subscription(subscriptionId: str, authz: Authorizer = Depends(authenticate),
                     session: Session = DB):
    return json_response(subscription_json(service.get_subscription(session, authz, subscriptionId)))


# Resource groups ---------------------------------------------------------------------------


@router.get(RESOURCE_GROUPS, operation_id="ResourceGroups_List",
            dependencies=[api_version(RESOURCES, "resourceGroups")])
def list_resource_groups(
    request: Request, subscriptionId: str,
    top: int | None = Query(default=None, alias="$top", ge=1),
    skiptoken: str | None = Query(default=None, alias="$skiptoken"),
    authz: Authorizer = Depends(authenticate), session: Session = DB,
):
    settings = app_context(request).settings
    subscription = service.get_subscription(session, authz, subscriptionId)
    groups, last = service.list_resource_groups(
        session, authz, subscription.id, skiptoken, min(top or settings.page_size, settings.page_size)
    )
    body: dict = {"value": [resource_group_json(g) for g in groups]}
    if last is not None:
        body["nextLink"] = next_link(request, settings.base_url, **{"$skiptoken": last})
    return json_response(body)


@router.put(RESOURCE_GROUP, operation_id="ResourceGroups_CreateOrUpdate",
            dependencies=[api_version(RESOURCES, "resourceGroups")])
def put_resource_group(subscriptionId: str, resourceGroupName: str,
                       body: ResourceGroupPut = body_of(ResourceGroupPut),
                       authz: Authorizer = Depends(authenticate), session: Session = DB):
    name = resourceGroupName
    subscription = service.get_subscription(session, authz, subscriptionId)
    authz.check(f"{RG_ACTION}/write", resource_group_id(subscription.id, name))
    group, created = service.put_resource_group(session, subscription.id, name, body)
    return json_response(resource_group_json(group), status=201 if created else 200)


@router.get(RESOURCE_GROUP, operation_id="ResourceGroups_Get",
            dependencies=[api_version(RESOURCES, "resourceGroups")])
def get_resource_group(subscriptionId: str, resourceGroupName: str,
                       authz: Authorizer = Depends(authenticate), session: Session = DB):
    subscription = service.get_subscription(session, authz, subscriptionId)
    authz.check(f"{RG_ACTION}/read", resource_group_id(subscription.id, resourceGroupName))
    return json_response(resource_group_json(service.get_resource_group(session, subscription.id, resourceGroupName)))


@router.head(RESOURCE_GROUP, operation_id="ResourceGroups_CheckExistence",
             dependencies=[api_version(RESOURCES, "resourceGroups")])
def check_resource_group(subscriptionId: str, resourceGroupName: str,
                         authz: Authorizer = Depends(authenticate), session: Session = DB):
    subscription = service.get_subscription(session, authz, subscriptionId)
    authz.check(f"{RG_ACTION}/read", resource_group_id(subscription.id, resourceGroupName))
    exists = service.find_resource_group(session, subscription.id, resourceGroupName) is not None
    return Response(status_code=204 if exists else 404)


@router.patch(RESOURCE_GROUP, operation_id="ResourceGroups_Update",
              dependencies=[api_version(RESOURCES, "resourceGroups")])
def patch_resource_group(subscriptionId: str, resourceGroupName: str,
                         body: ResourceGroupPatch = body_of(ResourceGroupPatch),
                         authz: Authorizer = Depends(authenticate), session: Session = DB):
    name = resourceGroupName
    subscription = service.get_subscription(session, authz, subscriptionId)
    authz.check(f"{RG_ACTION}/write", resource_group_id(subscription.id, name))
    group = service.patch_resource_group(session, service.get_resource_group(session, subscription.id, name), body)
    return json_response(resource_group_json(group))


@router.delete(RESOURCE_GROUP, operation_id="ResourceGroups_Delete",
               dependencies=[api_version(RESOURCES, "resourceGroups")])
def delete_resource_group(request: Request, subscriptionId: str, resourceGroupName: str,
                          authz: Authorizer = Depends(authenticate), session: Session = DB):
    context = app_context(request)
    subscription = service.get_subscription(session, authz, subscriptionId)
    group_id = resource_group_id(subscription.id, resourceGroupName)
    authz.check(f"{RG_ACTION}/delete", group_id)
    group = service.get_resource_group(session, subscription.id, resourceGroupName)
    service.begin_delete_resource_group(group)
    operation = context.operations.record(
        session, kind="resourceGroups/delete", subscription_id=subscription.id,
        resource_id=resource_group_id(subscription.id, group.name), payload={"resourceGroup": group.name},
    )
    session.commit()
    context.operations.submit(operation.id)
    headers = polling_headers(context.settings.base_url, operation, RESOURCES, request.query_params["api-version"])
    return Response(status_code=202, headers=headers)


@router.post(RESOURCE_GROUP + "/moveResources", operation_id="Resources_MoveResources",
             dependencies=[api_version(RESOURCES, "resourceGroups")])
@router.post(RESOURCE_GROUP + "/validateMoveResources", operation_id="Resources_ValidateMoveResources",
             dependencies=[api_version(RESOURCES, "resourceGroups")])
def move_resources(subscriptionId: str, resourceGroupName: str,
                   body: MoveResourcesRequest = body_of(MoveResourcesRequest),
                   authz: Authorizer = Depends(authenticate), session: Session = DB):
    subscription = service.get_subscription(session, authz, subscriptionId)
    authz.check(f"{RG_ACTION}/moveResources/action", resource_group_id(subscription.id, resourceGroupName))
    service.get_resource_group(session, subscription.id, resourceGroupName)
    raise service.refuse_move(body.resources)


# Providers ---------------------------------------------------------------------------------


@router.get(PROVIDERS_PATH, operation_id="Providers_List", dependencies=[api_version(RESOURCES, "providers")])
def list_providers(subscriptionId: str, authz: Authorizer = Depends(authenticate),
                   session: Session = DB):
    subscription = service.get_subscription(session, authz, subscriptionId)
    items = [
        provider_json(subscription.id, p, service.registration_state(session, subscription.id, p))
        for p in PROVIDERS
    ]
    return json_response({"value": items})


@router.get(PROVIDER, operation_id="Providers_Get", dependencies=[api_version(RESOURCES, "providers")])
def get_provider(subscriptionId: str, resourceProviderNamespace: str,
                 authz: Authorizer = Depends(authenticate), session: Session = DB):
    subscription = service.get_subscription(session, authz, subscriptionId)
    provider = service.provider_or_404(resourceProviderNamespace)
    state = service.registration_state(session, subscription.id, provider)
    return json_response(provider_json(subscription.id, provider, state))


@router.post(PROVIDER + "/register", operation_id="Providers_Register",
             dependencies=[api_version(RESOURCES, "providers")])
def register_provider(subscriptionId: str, resourceProviderNamespace: str,
                      authz: Authorizer = Depends(authenticate), session: Session = DB):
    return _set_registration(session, authz, subscriptionId, resourceProviderNamespace, "register", "Registered")


@router.post(PROVIDER + "/unregister", operation_id="Providers_Unregister",
             dependencies=[api_version(RESOURCES, "providers")])
def unregister_provider(subscriptionId: str, resourceProviderNamespace: str,
                        authz: Authorizer = Depends(authenticate), session: Session = DB):
    return _set_registration(session, authz, subscriptionId, resourceProviderNamespace, "unregister", "NotRegistered")


def _set_registration(session: Session, authz: Authorizer, subscription: str, namespace: str,
                      verb: str, state: str):
    sub = service.get_subscription(session, authz, subscription)
    provider = service.provider_or_404(namespace)
    authz.check(f"{provider.namespace}/{verb}/action", subscription_id(sub.id))
    if provider.registration_required:
        service.set_registration(session, sub.id, provider, state)
    return json_response(provider_json(sub.id, provider, service.registration_state(session, sub.id, provider)))


# Long-running operations -------------------------------------------------------------------


@router.get(PROVIDER + "/operationStatuses/{operationId}", operation_id="Operations_GetStatus")
def operation_status(request: Request, subscriptionId: str, resourceProviderNamespace: str, operationId: str,
                     authz: Authorizer = Depends(authenticate), session: Session = DB):
    operation = _operation(request, session, authz, subscriptionId, resourceProviderNamespace, operationId)
    return json_response(status_document(operation))


@router.get(PROVIDER + "/operationResults/{operationId}", operation_id="Operations_GetResult")
def operation_result(request: Request, subscriptionId: str, resourceProviderNamespace: str, operationId: str,
                     authz: Authorizer = Depends(authenticate), session: Session = DB):
    operation = _operation(request, session, authz, subscriptionId, resourceProviderNamespace, operationId)
    if operation.status == "InProgress":
        return Response(status_code=202, headers={"Location": str(request.url), "Retry-After": "1"})
    if operation.status == "Failed":
        error = operation.error or {}
        return json_response(
            {"error": {"code": error.get("code"), "message": error.get("message")}}, status=error.get("status", 500)
        )
    result = operation.payload.get("result")
    return json_response(result) if result is not None else Response(status_code=200)


def _operation(request: Request, session: Session, authz: Authorizer, subscription: str,
               namespace: str, operation_id: str) -> Operation:
    provider = service.provider_or_404(namespace)
    check_api_version(request, provider.namespace, None)
    sub = service.get_subscription(session, authz, subscription)
    operation = session.get(Operation, operation_id.lower())
    if operation is None or operation.subscription_id != sub.id:
        raise NotFound(f"The operation '{operation_id}' could not be found.", code="OperationNotFound")
    authz.check(f"{provider.namespace}/operations/read", operation.resource_id)
    return operation
