"""Routes of a workspace's compute clusters, and the per-region VM sizes, usages and quotas."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request, Response
from sqlalchemy.orm import Session

from amlite.arm.api_versions import api_version
from amlite.arm.ids import subscription_id
from amlite.arm.operations import polling_headers
from amlite.arm.service import get_subscription, require_registered
from amlite.arm.tables import Resource
from amlite.compute.backends.base import BackendError
from amlite.errors import BadRequest
from amlite.identity.auth import authenticate
from amlite.identity.rbac import Authorizer
from amlite.web.body import body_of
from amlite.web.deps import DB, app_context
from amlite.web.responses import json_response, next_link
from amlite.workspaces import compute_service as service
from amlite.workspaces.compute_schemas import (
    COMPUTES,
    ClusterUpdate,
    ComputePut,
    compute_json,
    compute_resource_id,
    nodes_json,
)
from amlite.workspaces.schemas import WORKSPACES
from amlite.workspaces.service import get_workspace
from amlite.workspaces.tables import Compute
from amlite.workspaces.vm_sizes import VM_SIZES

router = APIRouter(dependencies=[Depends(authenticate)])

NAMESPACE = "Microsoft.MachineLearningServices"
VERSION = api_version(NAMESPACE, "workspaces/computes")
WORKSPACE = "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/" + WORKSPACES + \
    "/{workspaceName}"
COMPUTE_LIST = WORKSPACE + "/computes"
COMPUTE = COMPUTE_LIST + "/{computeName}"
LOCATION = "/subscriptions/{subscriptionId}/providers/" + NAMESPACE + "/locations/{location}"
UNDERLYING_RESOURCE_ACTIONS = ("delete", "detach")


def _workspace(session: Session, authz: Authorizer, subscription: str, group: str, workspace: str,
               action: str, compute: str | None = None) -> Resource:
    """The workspace, once the caller may perform ``action`` on its computes (or on the one named)."""
    sub = get_subscription(session, authz, subscription)
    scope = f"/subscriptions/{sub.id}/resourceGroups/{group}/providers/{WORKSPACES}/{workspace}/computes"
    authz.check(f"{COMPUTES}/{action}", f"{scope}/{compute}" if compute else scope)
    return get_workspace(session, sub.id, group, workspace)


def _start(request: Request, session: Session, workspace: Resource, compute: Compute, kind: str) -> dict[str, str]:
    """Record and start a compute operation; answers its polling headers."""
    context = app_context(request)
    operation = context.operations.record(
        session, kind=kind, subscription_id=workspace.subscription_id,
        resource_id=compute_resource_id(workspace, compute.name), payload={"compute": compute.id},
    )
    session.commit()
    context.operations.submit(operation.id)
    return polling_headers(context.settings.base_url, operation, NAMESPACE, request.query_params["api-version"])


@router.get(COMPUTE_LIST, operation_id="MachineLearningCompute_ListByWorkspace", dependencies=[VERSION])
def list_computes(request: Request, subscriptionId: str, resourceGroupName: str, workspaceName: str,
                  skiptoken: str | None = Query(default=None, alias="$skiptoken"),
                  compute_type: str | None = Query(default=None, alias="compute-type"),
                  authz: Authorizer = Depends(authenticate), session: Session = DB):
    workspace = _workspace(session, authz, subscriptionId, resourceGroupName, workspaceName, "read")
    if skiptoken is not None and not skiptoken.isdigit():
        raise BadRequest(f"The $skiptoken '{skiptoken}' is not one this server handed out.", code="InvalidSkipToken")
    settings = app_context(request).settings
    page, last = service.list_computes(session, workspace, int(skiptoken) if skiptoken else None,
                                       settings.page_size, compute_type)
    body: dict = {"value": [compute_json(c, workspace) for c in page]}
    if last is not None:
        body["nextLink"] = next_link(request, settings.base_url, **{"$skiptoken": last})
    return json_response(body)


@router.get(COMPUTE, operation_id="MachineLearningCompute_Get", dependencies=[VERSION])
def get_compute(subscriptionId: str, resourceGroupName: str, workspaceName: str, computeName: str,
                authz: Authorizer = Depends(authenticate), session: Session = DB):
    workspace = _workspace(session, authz, subscriptionId, resourceGroupName, workspaceName, "read", computeName)
    return json_response(compute_json(service.get_compute(session, workspace, computeName), workspace))


@router.put(COMPUTE, operation_id="MachineLearningCompute_CreateOrUpdate", dependencies=[VERSION])
def put_compute(request: Request, subscriptionId: str, resourceGroupName: str, workspaceName: str, computeName: str,
                body: ComputePut = body_of(ComputePut),
                authz: Authorizer = Depends(authenticate), session: Session = DB):
    workspace = _workspace(session, authz, subscriptionId, resourceGroupName, workspaceName, "write", computeName)
    require_registered(session, workspace.subscription_id, NAMESPACE)
    extensions = body.properties.properties.amlite
    if extensions is not None and extensions.backend:
        try:
            app_context(request).backend.choose(extensions.backend)
        except BackendError as error:
            raise BadRequest(str(error), code="InvalidComputeBackend",
                             target="properties.properties.amlite.backend") from error
    compute, created = service.put_compute(session, app_context(request).secrets, workspace, computeName, body)
    rendered = compute_json(compute, workspace)
    headers = _start(request, session, workspace, compute, "computes/create")
    return json_response(rendered, status=201 if created else 200, headers=headers)


@router.patch(COMPUTE, operation_id="MachineLearningCompute_Update", dependencies=[VERSION])
def patch_compute(request: Request, subscriptionId: str, resourceGroupName: str, workspaceName: str,
                  computeName: str, body: ClusterUpdate = body_of(ClusterUpdate),
                  authz: Authorizer = Depends(authenticate), session: Session = DB):
    workspace = _workspace(session, authz, subscriptionId, resourceGroupName, workspaceName, "write", computeName)
    compute = service.get_compute(session, workspace, computeName)
    service.update_scale(session, workspace, compute, body.scale_settings)
    rendered = compute_json(compute, workspace)
    return json_response(rendered, headers=_start(request, session, workspace, compute, "computes/create"))


@router.delete(COMPUTE, operation_id="MachineLearningCompute_Delete", dependencies=[VERSION])
def delete_compute(request: Request, subscriptionId: str, resourceGroupName: str, workspaceName: str,
                   computeName: str,
                   underlying_action: str | None = Query(default=None, alias="underlyingResourceAction"),
                   authz: Authorizer = Depends(authenticate), session: Session = DB):
    """``Delete`` and ``Detach`` both remove the cluster: an AmlCompute has no resource outside the workspace.
    A compute that is not there answers 200, not 204: the spec and the v1 SDK accept only 200 and 202."""
    workspace = _workspace(session, authz, subscriptionId, resourceGroupName, workspaceName, "delete", computeName)
    if underlying_action is not None and underlying_action.lower() not in UNDERLYING_RESOURCE_ACTIONS:
        raise BadRequest(f"underlyingResourceAction '{underlying_action}' is invalid; use 'Delete' or 'Detach'.",
                         code="InvalidUnderlyingResourceAction", target="underlyingResourceAction")
    compute = service.find_compute(session, workspace, computeName)
    if compute is None:
        return Response(status_code=200)
    service.begin_delete_compute(compute)
    return Response(status_code=202, headers=_start(request, session, workspace, compute, "computes/delete"))


@router.post(COMPUTE + "/listNodes", operation_id="MachineLearningCompute_ListNodes", dependencies=[VERSION])
def list_nodes(subscriptionId: str, resourceGroupName: str, workspaceName: str, computeName: str,
               authz: Authorizer = Depends(authenticate), session: Session = DB):
    workspace = _workspace(session, authz, subscriptionId, resourceGroupName, workspaceName,
                           "listNodes/action", computeName)
    return json_response(nodes_json(service.get_compute(session, workspace, computeName)))


@router.post(COMPUTE + "/listKeys", operation_id="MachineLearningCompute_ListKeys", dependencies=[VERSION])
def list_keys(subscriptionId: str, resourceGroupName: str, workspaceName: str, computeName: str,
              authz: Authorizer = Depends(authenticate), session: Session = DB):
    workspace = _workspace(session, authz, subscriptionId, resourceGroupName, workspaceName,
                           "listKeys/action", computeName)
    compute = service.get_compute(session, workspace, computeName)
    raise BadRequest(f"ComputeListKeys with computeType {compute.compute_type} is not supported: an AmlCompute "
                     "cluster has no keys.", code="ComputeTypeNotSupported")


# Per-region figures ------------------------------------------------------------------------


def _location_scope(session: Session, authz: Authorizer, subscription: str, what: str) -> str:
    sub = get_subscription(session, authz, subscription)
    authz.check(f"{NAMESPACE}/locations/{what}/read", subscription_id(sub.id))
    return sub.id


@router.get(LOCATION + "/vmSizes", operation_id="VirtualMachineSizes_List",
            dependencies=[api_version(NAMESPACE, "locations/vmSizes")])
def list_vm_sizes(subscriptionId: str, location: str,
                  authz: Authorizer = Depends(authenticate), session: Session = DB):
    _location_scope(session, authz, subscriptionId, "vmSizes")
    service.check_location(location)
    return json_response({"amlCompute": [size.json() for size in VM_SIZES]})


@router.get(LOCATION + "/usages", operation_id="Usages_List",
            dependencies=[api_version(NAMESPACE, "locations/usages")])
def list_usages(subscriptionId: str, location: str,
                authz: Authorizer = Depends(authenticate), session: Session = DB):
    sub = _location_scope(session, authz, subscriptionId, "usages")
    return json_response({"value": service.usages(session, sub, location)})


@router.get(LOCATION + "/quotas", operation_id="Quotas_List",
            dependencies=[api_version(NAMESPACE, "locations/quotas")])
def list_quotas(subscriptionId: str, location: str,
                authz: Authorizer = Depends(authenticate), session: Session = DB):
    sub = _location_scope(session, authz, subscriptionId, "quotas")
    return json_response({"value": service.quotas(session, sub, location)})
