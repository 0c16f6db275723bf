"""Scoring services of one workspace: create and update (each an operation the supervisor carries out),
read, list, patch, delete, keys and logs.

A create or an update that changes what runs (entry script, assets, models, environment, resources,
replica count) records a Running operation and returns; the supervisor makes the deployment and
switches the service over. Everything else (tags, description, authEnabled, keys) takes effect at once.
"""

from __future__ import annotations

import posixpath
import re
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from amlite.arm.tables import Resource
from amlite.compute.environments import parse_environment
from amlite.context import AppContext
from amlite.db.base import utcnow
from amlite.endpoints import layout
from amlite.endpoints.deployment import ARCHIVES, ARTIFACT_URL
from amlite.endpoints.logs import service_logs
from amlite.endpoints.schemas import (
    COMPUTE_TYPES,
    DEFAULT_CPU,
    DEFAULT_MEMORY_GB,
    ECHOED,
    ContainerResources,
    EnvironmentImageRequest,
    NewService,
    RegenerateKeys,
    ServiceChanges,
    deployment_members,
    service_patchable,
)
from amlite.endpoints.supervisor import Supervisor
from amlite.endpoints.tables import Service, ServiceModel, ServiceOperation
from amlite.errors import BadRequest, Conflict, NotFound
from amlite.identity.tokens import Caller
from amlite.registry.patch import JsonPatchOperation, apply_patch
from amlite.registry.service import Registry, map_conditions, ordering
from amlite.registry.tables import Model
from amlite.runs.paging import Page

# The SDK's own check (azureml.core.webservice.Webservice._validate_name).
SERVICE_NAME = re.compile(r"^[a-z][a-z0-9-]{1,30}[a-z0-9]$")
KEY_TYPES = {"primary": "primaryKey", "secondary": "secondaryKey", "0": "primaryKey", "1": "secondaryKey"}


def new_key() -> str:
    return secrets.token_urlsafe(24)


@dataclass
class ServiceQuery:
    """The filters of ``GET .../services``; ``tags``/``properties`` in the ``k=v,k2`` syntax."""

    name: str | None = None
    model_id: str | None = None
    model_name: str | None = None
    image: str | None = None  # imageId or imageName: services here are never built from an image
    compute_type: str | None = None
    tags: str | None = None
    properties: str | None = None
    order_by: str | None = None
    count: int | None = None
    skip_token: str | None = None


class Services:
    def __init__(self, context: AppContext, session: Session, workspace: Resource) -> None:
        self.context = context
        self.session = session
        self.workspace = workspace
        self.registry = Registry.of(context, session, workspace)

    @property
    def supervisor(self) -> Supervisor:
        return self.context.services["scoring"]

    # --- reading ----------------------------------------------------------------------------------

    def find(self, name: str, for_update: bool = False) -> Service | None:
        statement = select(Service).where(Service.workspace_id == self.workspace.id, Service.name == name.lower())
        return self.session.scalars(statement.with_for_update() if for_update else statement).first()

    def get(self, name: str, for_update: bool = False) -> Service:
        """``for_update``: lock the row, and read it as the supervisor last wrote it (its replicas)."""
        service = self.find(name, for_update)
        if service is None:
            raise NotFound(f"Service '{name}' was not found in workspace '{self.workspace.name}'.",
                           code="ServiceNotFound", target="id")
        return service

    def models_of(self, services: list[Service]) -> dict[str, list[Model]]:
        """The models each service deploys, by service id: one query for a whole page of services."""
        models: dict[str, list[Model]] = {service.id: [] for service in services}
        for service_id, model in self.session.execute(
                select(ServiceModel.service_id, Model).join(Model, ServiceModel.model_id == Model.id)
                .where(ServiceModel.service_id.in_(models)).order_by(Model.name, Model.version)):
            models[service_id].append(model)
        return models

    def list(self, query: ServiceQuery) -> Page[Service]:
        conditions = [Service.workspace_id == self.workspace.id,
                      *map_conditions(Service.kv_tags, query.tags, "tags"),
                      *map_conditions(Service.properties, query.properties, "properties")]
        if query.image:
            return Page([], None)
        if query.name:
            conditions.append(Service.name == query.name.lower())
        if query.compute_type:
            conditions.append(func.upper(Service.compute_type) == query.compute_type.upper())
        if query.model_id or query.model_name:
            models = select(ServiceModel.service_id).join(Model, ServiceModel.model_id == Model.id)
            if query.model_id:
                name, _, version = query.model_id.rpartition(":")
                if not version.isdigit():
                    raise BadRequest(f"'{query.model_id}' is not a model id: use '{{name}}:{{version}}'.",
                                     code="InvalidQueryParameter", target="modelId")
                models = models.where(Model.name == name, Model.version == int(version))
            if query.model_name:
                models = models.where(Model.name == query.model_name)
            conditions.append(Service.id.in_(models))
        statement = select(Service).where(*conditions).order_by(
            *ordering(query, Service.created_at, Service.updated_at, Service.id))
        return self.registry.page_of(statement, query)

    def get_operation(self, operation_id: str) -> ServiceOperation:
        operation = self.session.get(ServiceOperation, operation_id)
        if operation is None or operation.workspace_id != self.workspace.id:
            raise NotFound(f"Operation '{operation_id}' was not found in workspace '{self.workspace.name}'.",
                           code="OperationNotFound", target="id")
        return operation

    def keys(self, name: str) -> dict[str, str]:
        return self.context.secrets.open(self.get(name).keys)

    def logs(self, name: str, tail: int) -> str:
        service = self.get(name)
        settings = self.context.settings
        # a service that never served shows its latest deployment's replicas
        generation = service.generation if service.replicas else self._latest_generation(service)
        replicas = service.replicas or [{"index": index, "generation": generation}
                                        for index in range(service.spec["numReplicas"])]
        logs = [(f"replica {r['index']} of deployment {r['generation']}"
                 + (f", pid {r['pid']}" if r.get("pid") else ""),
                 layout.replica_dir(settings, service.id, r["generation"], r["index"]) / "worker.log")
                for r in replicas]
        requests = self.supervisor.request_log(self.session, service)
        return service_logs(logs, ("requests (Application Insights)", requests), tail)

    def _latest_generation(self, service: Service) -> int:
        operation = self.session.get(ServiceOperation, service.operation_id) if service.operation_id else None
        return operation.target["generation"] if operation is not None else service.generation

    # --- creating and updating --------------------------------------------------------------------

    def create(self, body: NewService, caller: Caller) -> ServiceOperation:
        if not SERVICE_NAME.match(body.name):
            raise BadRequest(f"'{body.name}' is not a valid service name: 3 to 32 lowercase letters, digits and "
                             "dashes, starting with a letter and ending with a letter or digit.",
                             code="InvalidServiceName", target="name")
        compute_type = body.computeType.upper()
        if compute_type not in COMPUTE_TYPES:
            raise BadRequest(f"computeType '{body.computeType}' cannot be deployed here: use ACI or AKS (both run "
                             "as local processes).", code="UnsupportedComputeType", target="computeType")
        if body.aadAuthEnabled:
            raise BadRequest("Token authentication (aadAuthEnabled) is not available here: use key authentication "
                             "(authEnabled).", code="UnsupportedAuthentication", target="aadAuthEnabled")
        if body.environmentImageRequest is None:
            raise BadRequest("Deploy from an environmentImageRequest (driverProgram, assets, modelIds, "
                             "environment): services are not built from images here."
                             if body.imageId else "environmentImageRequest is required.",
                             code="EnvironmentImageRequestRequired", target="environmentImageRequest")
        existing = self.find(body.name)
        if existing is not None and not body.overwrite:
            raise Conflict(f"A service named '{body.name}' already exists in workspace '{self.workspace.name}'.",
                           code="ServiceAlreadyExists", target="name")
        options = {name: getattr(body, name) for name in ECHOED if getattr(body, name) is not None}
        spec = self._deployment(body.environmentImageRequest, body.containerResourceRequirements,
                                body.numReplicas or 1, options)
        if existing is not None:  # overwrite: the new deployment, and the metadata given with it
            existing.description = body.description if body.description is not None else existing.description
            existing.kv_tags = body.kvTags if body.kvTags is not None else existing.kv_tags
            if body.authEnabled is not None:
                existing.auth_enabled = body.authEnabled
            return self._update(existing, spec)
        keys = body.keys
        now = utcnow()
        service = Service(
            id=uuid.uuid4().hex, workspace_id=self.workspace.id, name=body.name, compute_type=compute_type,
            description=body.description, kv_tags=body.kvTags or {}, properties=body.properties or {},
            auth_enabled=body.authEnabled if body.authEnabled is not None else compute_type == "AKS",
            keys=self.context.secrets.seal({"primaryKey": keys and keys.primaryKey or new_key(),
                                            "secondaryKey": keys and keys.secondaryKey or new_key()}),
            spec=spec, generation=0, replicas=[], state="Transitioning",
            created_by=caller.created_by(),
            created_at=now, updated_at=now)
        self.session.add(service)
        self.session.add_all(ServiceModel(service_id=service.id, model_id=pk) for pk in spec["modelPks"])
        return self._operation(service, "Create", spec)

    def _deployment(self, request: EnvironmentImageRequest, resources: ContainerResources | None, replicas: int,
                    options: dict[str, Any]) -> dict[str, Any]:
        """A deployment spec, checked: its models exist, its assets are artifacts, its environment parses."""
        models = [self.registry.get_model(model_id) for model_id in dict.fromkeys(request.modelIds)]
        names = set()
        for asset in request.assets:
            if not asset.url.startswith(ARTIFACT_URL):
                raise BadRequest(f"The asset url '{asset.url}' is not one this service reads: upload the file as an "
                                 "artifact and name it 'aml://artifact/{origin}/{container}/{path}'.",
                                 code="InvalidAssetUrl", target="assets")
            artifact = self.registry.artifacts.get_by_id(asset.url[len(ARTIFACT_URL):])
            names.add(posixpath.basename(artifact.path))
        driver = request.driverProgram
        if posixpath.isabs(driver) or ".." in driver.split("/"):
            raise BadRequest(f"The driverProgram '{driver}' must be a path inside the deployment's assets.",
                             code="InvalidDriverProgram", target="driverProgram")
        unpacked = any(a.unpack and a.url.endswith(ARCHIVES) for a in request.assets)
        if not unpacked and driver not in names:
            raise BadRequest(f"The entry script '{driver}' is not among the assets "
                             f"({', '.join(sorted(names)) or 'none'}).", code="EntryScriptNotFound",
                             target="driverProgram")
        parse_environment(request.environment)
        resources = resources or ContainerResources()
        return {"driverProgram": driver, "assets": [a.model_dump(exclude_none=True) for a in request.assets],
                "modelIds": [m.model_id for m in models], "modelPks": [m.id for m in models],
                "environment": request.environment, "cpu": resources.cpu or DEFAULT_CPU,
                "memoryInGB": resources.memoryInGB or DEFAULT_MEMORY_GB, "gpu": resources.gpu,
                "fpga": resources.fpga, "numReplicas": replicas, "options": options}

    def _operation(self, service: Service, kind: str, spec: dict[str, Any]) -> ServiceOperation:
        operation = ServiceOperation(id=str(uuid.uuid4()), workspace_id=self.workspace.id, service_id=service.id,
                                     service_name=service.name, kind=kind, state="Running",
                                     target={"generation": service.generation + 1, "spec": spec},
                                     created_at=utcnow())
        self.session.add(operation)
        service.operation_id, service.state, service.updated_at = operation.id, "Transitioning", utcnow()
        self.session.flush()
        return operation

    def _busy(self, service: Service) -> None:
        if service.operation_id:
            operation = self.session.get(ServiceOperation, service.operation_id)
            if operation is not None and operation.state == "Running":
                raise Conflict(f"Service '{service.name}' is being deployed (operation {operation.id}); wait for "
                               "the operation to end.", code="ServiceBusy", target="id")

    def _update(self, service: Service, spec: dict[str, Any]) -> ServiceOperation:
        self._busy(service)
        present = set(self.session.scalars(select(ServiceModel.model_id).where(ServiceModel.service_id == service.id)))
        self.session.add_all(ServiceModel(service_id=service.id, model_id=pk) for pk in spec["modelPks"]
                             if pk not in present)  # in use from now: both deployments' models
        return self._operation(service, "Update", spec)

    def patch(self, name: str, operations: list[JsonPatchOperation]) -> ServiceOperation | None:
        """Apply a JSON patch; answers the update's operation when the deployment changes, else None."""
        service = self.get(name)
        patched = apply_patch(service_patchable(service), operations)
        changes = Registry.patched_changes(ServiceChanges, patched, service.properties)
        service.description = changes.description
        service.kv_tags = changes.kvTags or {}
        service.properties = changes.properties or {}
        if changes.authEnabled is not None:
            service.auth_enabled = changes.authEnabled
        options = {key: patched[key] for key in ECHOED if patched.get(key) is not None}
        service.updated_at = utcnow()
        before = deployment_members(service.spec)
        if all(patched[key] == before[key] for key in before):
            service.spec = {**service.spec, "options": options}
            return None
        self._busy(service)
        if changes.environmentImageRequest is None:
            raise BadRequest("environmentImageRequest cannot be removed.", code="InvalidPatch",
                             target="environmentImageRequest")
        return self._update(service, self._deployment(changes.environmentImageRequest,
                                                      changes.containerResourceRequirements,
                                                      changes.numReplicas or service.spec["numReplicas"], options))

    # --- keys and deletion -------------------------------------------------------------------------

    def regenerate(self, name: str, body: RegenerateKeys) -> tuple[dict[str, str], ServiceOperation]:
        """The new keys, and an operation that is already over: azureml-core polls one (Operation-Location)."""
        member = KEY_TYPES.get(str(body.keyType).lower())
        if member is None:
            raise BadRequest(f"keyType '{body.keyType}' is not one of Primary, Secondary.", code="InvalidKeyType",
                             target="keyType")
        service = self.get(name)
        keys = {**self.context.secrets.open(service.keys), member: body.keyValue or new_key()}
        service.keys, service.updated_at = self.context.secrets.seal(keys), utcnow()
        now = utcnow()
        operation = ServiceOperation(id=str(uuid.uuid4()), workspace_id=self.workspace.id, service_id=service.id,
                                     service_name=service.name, kind="RegenerateKeys", state="Succeeded",
                                     target={}, created_at=now, ended_at=now)
        self.session.add(operation)
        return keys, operation

    def delete(self, name: str) -> tuple[str, list[dict[str, Any]]]:
        """Delete the row (a running deployment of it is cancelled); answers what the supervisor retires."""
        service = self.get(name, for_update=True)
        for operation in self.session.scalars(select(ServiceOperation).where(
                ServiceOperation.service_id == service.id, ServiceOperation.state == "Running")):
            operation.state, operation.ended_at = "Cancelled", utcnow()
        retired = (service.id, list(service.replicas))
        self.session.delete(service)
        return retired
