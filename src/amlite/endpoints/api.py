"""Routes of the scoring services and of MMS operations, each under both MMS prefixes (registry/mms.py).

Operation ids: the swagger's (``Services_*``, ``Operations_Get``) under ``/modelmanagement/v1.0``, azureml-core
1.0.76's (``Service_*``, ``Operation_Get``) under ``/api``. A route that changes what the scoring front
routes (keys, authEnabled, deletion) commits first, then has the supervisor tell the front, and answers
only then: a regenerated key's predecessor is refused from the moment the call returns.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request, Response
from sqlalchemy.orm import Session

from amlite.arm.tables import Resource
from amlite.endpoints.schemas import NewService, RegenerateKeys, operation_json, service_json
from amlite.endpoints.service import ServiceQuery, Services
from amlite.endpoints.tables import Service, ServiceOperation
from amlite.errors import BadRequest
from amlite.identity.auth import authenticate
from amlite.identity.rbac import Authorizer
from amlite.registry.api import COUNT, PATCH, SKIP_TOKEN, page_response
from amlite.registry.mms import LEGACY, MMS, VERSION
from amlite.registry.patch import JsonPatchOperation
from amlite.registry.tables import Model
from amlite.web.body import body_of
from amlite.web.deps import DB, app_context
from amlite.web.responses import json_response
from amlite.workspaces.dataplane import in_workspace

router = APIRouter(dependencies=[Depends(authenticate), VERSION], tags=["modelmanagement"])
DEFAULT_LOG_LINES = 5000


def services_in(action: str) -> Any:
    """A route dependency giving the services of the addressed workspace, once the caller may do ``action``."""

    def dependency(request: Request, workspace: Resource = in_workspace(action), session: Session = DB) -> Services:
        return Services(app_context(request), session, workspace)

    return Depends(dependency)


READ = services_in("services/read")
WRITE = services_in("services/write")
DELETE = services_in("services/delete")
LIST_KEYS = services_in("services/listkeys/action")


def render(services: Services, service: Service, models: dict[str, list[Model]] | None = None) -> dict[str, Any]:
    """The service's JSON; ``models`` (by service id) when a page of services fetched theirs at once."""
    models = services.models_of([service]) if models is None else models
    return service_json(service, models[service.id], services.supervisor.scoring_base)


def prefix_of(request: Request, segment: str) -> str:
    """The MMS base this request was made under (``/api{ws}`` or ``/modelmanagement/v1.0{ws}``)."""
    path = request.url.path
    return path[:path.lower().rindex(segment)]


def operation_location(request: Request, services: Services, operation: ServiceOperation) -> dict[str, str]:
    return {"Operation-Location":
            f"{services.context.settings.base_url}{prefix_of(request, '/services')}/operations/{operation.id}"}


def accepted(request: Request, services: Services, session: Session, operation: ServiceOperation) -> Response:
    """202 with the operation to poll; the supervisor starts on it at once."""
    headers = operation_location(request, services, operation)
    session.commit()
    services.supervisor.wake()
    return Response(status_code=202, headers=headers)


@router.post(MMS + "/services", operation_id="Services_Create")
@router.put(MMS + "/services", operation_id="Services_CreatePut")
@router.post(LEGACY + "/services", operation_id="Service_Create")
def create_service(request: Request, body: NewService = body_of(NewService), services: Services = WRITE,
                   authz: Authorizer = Depends(authenticate), session: Session = DB):
    return accepted(request, services, session, services.create(body, authz.caller))


@router.get(MMS + "/services", operation_id="Services_ListQuery")
@router.get(LEGACY + "/services", operation_id="Service_ListQuery")
def list_services(request: Request, name: str | None = None, modelId: str | None = None,
                  modelName: str | None = None, imageId: str | None = None, imageName: str | None = None,
                  computeType: str | None = None, tag: str | None = None, tags: str | None = None,
                  properties: str | None = None, orderby: str | None = None,
                  dollar_orderby: str | None = Query(None, alias="$orderby"), count: int | None = COUNT,
                  skip_token: str | None = SKIP_TOKEN, services: Services = READ):
    query = ServiceQuery(name=name, model_id=modelId, model_name=modelName, image=imageId or imageName,
                         compute_type=computeType, tags=",".join(filter(None, (tags, tag))) or None,
                         properties=properties, order_by=orderby or dollar_orderby, count=count,
                         skip_token=skip_token)
    page = services.list(query)
    models = services.models_of(page.items)
    return page_response(request, page, lambda service: render(services, service, models))


@router.get(MMS + "/services/{id}", operation_id="Services_QueryById")
@router.get(LEGACY + "/services/{id}", operation_id="Service_QueryById")
def get_service(id: str, services: Services = READ):
    return json_response(render(services, services.get(id)))


@router.patch(MMS + "/services/{id}", operation_id="Services_Patch")
@router.patch(LEGACY + "/services/{id}", operation_id="Service_Patch")
def patch_service(request: Request, id: str, operations: list[JsonPatchOperation] = PATCH,
                  services: Services = WRITE, session: Session = DB):
    """200 with the service when only its metadata changed; 202 and an operation when it is redeployed."""
    operation = services.patch(id, operations)
    if operation is not None:
        return accepted(request, services, session, operation)
    body = render(services, services.get(id))
    session.commit()
    services.supervisor.publish()
    return json_response(body)


@router.delete(MMS + "/services/{id}", operation_id="Services_Delete")
@router.delete(LEGACY + "/services/{id}", operation_id="Service_Delete")
def delete_service(id: str, services: Services = DELETE, session: Session = DB):
    retired = services.delete(id)
    session.commit()
    services.supervisor.retire(*retired)
    return Response(status_code=200)


@router.post(MMS + "/services/{id}/listkeys", operation_id="Services_ListServiceKeys")
@router.post(LEGACY + "/services/{id}/listkeys", operation_id="Service_ListServiceKeys")
def list_keys(id: str, services: Services = LIST_KEYS):
    return json_response(services.keys(id))


@router.post(MMS + "/services/{id}/regenerateKeys", operation_id="Services_RegenerateServiceKeys")
@router.post(LEGACY + "/services/{id}/regenerateKeys", operation_id="Service_RegenerateServiceKeys")
def regenerate_keys(request: Request, id: str, body: RegenerateKeys = body_of(RegenerateKeys),
                    services: Services = LIST_KEYS, session: Session = DB):
    """200 with the new keys once the front refuses the old one; also the (finished) operation that
    azureml-core polls."""
    keys, operation = services.regenerate(id, body)
    headers = operation_location(request, services, operation)
    session.commit()
    services.supervisor.publish()
    return json_response(keys, headers=headers)


@router.get(MMS + "/services/{id}/logs", operation_id="Services_GetLogs")
@router.get(LEGACY + "/services/{id}/logs", operation_id="Service_GetLogs")
def service_logs(id: str, tail: int = Query(DEFAULT_LOG_LINES, ge=1, le=100000), services: Services = READ):
    """ServiceLogs ``{"content"}``: each replica's output, then the service's request records."""
    return json_response({"content": services.logs(id, tail)})


@router.post(MMS + "/services/{id}/token", operation_id="Services_GetServiceToken")
@router.post(LEGACY + "/services/{id}/token", operation_id="Service_GetServiceToken")
def service_token(id: str, services: Services = READ):
    services.get(id)
    raise BadRequest("Token authentication is not available here: services use key authentication (listkeys).",
                     code="TokenAuthenticationNotSupported", target="id")


@router.get(MMS + "/operations/{id}", operation_id="Operations_Get")
@router.get(LEGACY + "/operations/{id}", operation_id="Operation_Get")
def get_operation(request: Request, id: str, services: Services = READ):
    return json_response(operation_json(services.get_operation(id), prefix_of(request, "/operations/")))
