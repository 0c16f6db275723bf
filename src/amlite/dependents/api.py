"""Routes of the dependent resource providers: one generic set for every kind, plus each kind's
secret-bearing actions (storage listKeys, registry listCredentials)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request, Response
from sqlalchemy.orm import Session

from amlite.arm.api_versions import check_api_version
from amlite.arm.listing import tracked_page
from amlite.arm.resources import tracked_json
from amlite.arm.service import get_resource_group, get_subscription, provider_or_404, require_registered
from amlite.arm.tables import Subscription
from amlite.dependents import service
from amlite.dependents.kinds import REGISTRY, STORAGE, Kind, find_kind
from amlite.errors import NotFound
from amlite.identity.auth import authenticate
from amlite.identity.rbac import Authorizer
from amlite.web.body import body_of
from amlite.web.deps import DB, app_context
from amlite.web.responses import json_response

router = APIRouter(dependencies=[Depends(authenticate)])

GROUP = "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}"
TYPE_IN_GROUP = GROUP + "/providers/{resourceProviderNamespace}/{resourceType}"
RESOURCE = TYPE_IN_GROUP + "/{resourceName}"
TYPE_IN_SUBSCRIPTION = "/subscriptions/{subscriptionId}/providers/{resourceProviderNamespace}/{resourceType}"


def _kind(request: Request, namespace: str, resource_type: str) -> Kind:
    provider = provider_or_404(namespace)
    kind = find_kind(namespace, resource_type)
    if kind is None:
        raise NotFound(f"The resource type '{resource_type}' could not be found in the namespace "
                       f"'{provider.namespace}'.", code="InvalidResourceType")
    check_api_version(request, kind.namespace, kind.type)
    return kind


def _resource_id(subscription: Subscription, group: str, kind: Kind, name: str) -> str:
    return f"/subscriptions/{subscription.id}/resourceGroups/{group}/providers/{kind.type_name}/{name}"


@router.get(TYPE_IN_SUBSCRIPTION, operation_id="DependentResources_ListBySubscription")
def list_by_subscription(request: Request, subscriptionId: str, resourceProviderNamespace: str, resourceType: str,
                         skiptoken: str | None = Query(default=None, alias="$skiptoken"),
                         authz: Authorizer = Depends(authenticate), session: Session = DB):
    kind = _kind(request, resourceProviderNamespace, resourceType)
    subscription = get_subscription(session, authz, subscriptionId)
    return tracked_page(request, session, authz, subscription, kind.type_name, None, skiptoken, tracked_json)


@router.get(TYPE_IN_GROUP, operation_id="DependentResources_ListByResourceGroup")
def list_by_group(request: Request, subscriptionId: str, resourceGroupName: str, resourceProviderNamespace: str,
                  resourceType: str, skiptoken: str | None = Query(default=None, alias="$skiptoken"),
                  authz: Authorizer = Depends(authenticate), session: Session = DB):
    kind = _kind(request, resourceProviderNamespace, resourceType)
    subscription = get_subscription(session, authz, subscriptionId)
    group = get_resource_group(session, subscription.id, resourceGroupName)
    return tracked_page(request, session, authz, subscription, kind.type_name, group.name, skiptoken,
                        tracked_json)


@router.put(RESOURCE, operation_id="DependentResources_CreateOrUpdate")
def put_resource(request: Request, subscriptionId: str, resourceGroupName: str, resourceProviderNamespace: str,
                 resourceType: str, resourceName: str,
                 body: service.TrackedResourcePut = body_of(service.TrackedResourcePut),
                 authz: Authorizer = Depends(authenticate), session: Session = DB):
    kind = _kind(request, resourceProviderNamespace, resourceType)
    subscription = get_subscription(session, authz, subscriptionId)
    authz.check(f"{kind.type_name}/write", _resource_id(subscription, resourceGroupName, kind, resourceName))
    require_registered(session, subscription.id, kind.namespace)
    context = app_context(request)
    resource, created = service.put_resource(session, context.secrets, context.settings.base_url, subscription,
                                             resourceGroupName, kind, resourceName, body)
    return json_response(tracked_json(resource), status=201 if created else 200)


@router.get(RESOURCE, operation_id="DependentResources_Get")
def get_resource(request: Request, subscriptionId: str, resourceGroupName: str, resourceProviderNamespace: str,
                 resourceType: str, resourceName: str,
                 authz: Authorizer = Depends(authenticate), session: Session = DB):
    kind = _kind(request, resourceProviderNamespace, resourceType)
    subscription = get_subscription(session, authz, subscriptionId)
    authz.check(f"{kind.type_name}/read", _resource_id(subscription, resourceGroupName, kind, resourceName))
    return json_response(tracked_json(service.get_resource(session, subscription.id, resourceGroupName, kind,
                                                           resourceName)))


@router.patch(RESOURCE, operation_id="DependentResources_Update")
def patch_resource(request: Request, subscriptionId: str, resourceGroupName: str, resourceProviderNamespace: str,
                   resourceType: str, resourceName: str,
                   body: service.TrackedResourcePatch = body_of(service.TrackedResourcePatch),
                   authz: Authorizer = Depends(authenticate), session: Session = DB):
    kind = _kind(request, resourceProviderNamespace, resourceType)
    subscription = get_subscription(session, authz, subscriptionId)
    authz.check(f"{kind.type_name}/write", _resource_id(subscription, resourceGroupName, kind, resourceName))
    resource = service.get_resource(session, subscription.id, resourceGroupName, kind, resourceName)
    service.patch_resource(app_context(request).settings.base_url, subscription, kind, resource, body)
    session.flush()
    return json_response(tracked_json(resource))


@router.delete(RESOURCE, operation_id="DependentResources_Delete")
def delete_resource(request: Request, subscriptionId: str, resourceGroupName: str, resourceProviderNamespace: str,
                    resourceType: str, resourceName: str,
                    authz: Authorizer = Depends(authenticate), session: Session = DB):
    kind = _kind(request, resourceProviderNamespace, resourceType)
    subscription = get_subscription(session, authz, subscriptionId)
    authz.check(f"{kind.type_name}/delete", _resource_id(subscription, resourceGroupName, kind, resourceName))
    get_resource_group(session, subscription.id, resourceGroupName)
    try:
        resource = service.get_resource(session, subscription.id, resourceGroupName, kind, resourceName)
    except NotFound:
        return Response(status_code=204)
    session.delete(resource)
    return Response(status_code=200)


def _action_target(request: Request, session: Session, authz: Authorizer, subscription_id: str, group: str,
                   kind: Kind, name: str, action: str):
    check_api_version(request, kind.namespace, kind.type)
    subscription = get_subscription(session, authz, subscription_id)
    authz.check(f"{kind.type_name}/{action}/action", _resource_id(subscription, group, kind, name))
    return service.get_resource(session, subscription.id, group, kind, name)


@router.post(GROUP + "/providers/Microsoft.Storage/storageAccounts/{resourceName}/listKeys",
             operation_id="StorageAccounts_ListKeys")
def storage_list_keys(request: Request, subscriptionId: str, resourceGroupName: str, resourceName: str,
                      authz: Authorizer = Depends(authenticate), session: Session = DB):
    account = _action_target(request, session, authz, subscriptionId, resourceGroupName, STORAGE, resourceName,
                             "listKeys")
    return json_response(service.storage_keys(app_context(request).secrets, account))


@router.post(GROUP + "/providers/Microsoft.ContainerRegistry/registries/{resourceName}/listCredentials",
             operation_id="Registries_ListCredentials")
def registry_list_credentials(request: Request, subscriptionId: str, resourceGroupName: str, resourceName: str,
                              authz: Authorizer = Depends(authenticate), session: Session = DB):
    registry = _action_target(request, session, authz, subscriptionId, resourceGroupName, REGISTRY, resourceName,
                              "listCredentials")
    return json_response(service.registry_credentials(app_context(request).secrets, registry))
