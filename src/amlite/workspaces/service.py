"""Workspace use cases: create (asynchronous provisioning that checks the four dependencies),
read, update, delete, keys, and the dependency health a workspace reports."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.orm import Session

from amlite.arm.catalog import normalize_region
from amlite.arm.resources import ResourceId, find_by_id, find_resource, not_found
from amlite.arm.service import get_resource_group
from amlite.arm.tables import Operation, Resource
from amlite.datastores.defaults import ensure_defaults
from amlite.dependents.service import account_keys
from amlite.db.base import utcnow
from amlite.errors import AmliteError, BadRequest, Conflict
from amlite.secrets import SecretBox
from amlite.workspaces.schemas import DEPENDENCIES, WORKSPACES, WorkspacePatch, WorkspacePut, workspace_json

NAMESPACE, TYPE = WORKSPACES.split("/")


def find_workspace(session: Session, subscription_id: str, resource_group: str, name: str) -> Resource | None:
    return find_resource(session, subscription_id, resource_group, WORKSPACES, name)


def get_workspace(session: Session, subscription_id: str, resource_group: str, name: str) -> Resource:
    workspace = find_workspace(session, subscription_id, resource_group, name)
    if workspace is None:
        raise not_found(WORKSPACES, name, resource_group)
    return workspace


def _canonical_dependency(value: str | None, member: str) -> str | None:
    if value is None:
        return None
    parsed = ResourceId.parse(value)
    expected, label = DEPENDENCIES[member]
    if parsed is None or parsed.type_key != expected.lower():
        raise BadRequest(
            f"The {label} '{value}' is not a valid resource id of type '{expected}'.",
            code="InvalidDependentResourceId", target=member,
        )
    return str(parsed)


def put_workspace(session: Session, subscription_id: str, tenant_id: str, resource_group: str, name: str,
                  body: WorkspacePut, base_url: str) -> tuple[Resource, bool]:
    """Create or update; answers the workspace and whether it needs (re)provisioning."""
    group = get_resource_group(session, subscription_id, resource_group)
    location = normalize_region(body.location)
    if location is None:
        raise BadRequest(f"The location '{body.location}' is not a known region.", code="LocationNotAvailableForResourceType")
    wanted = {member: _canonical_dependency(getattr(body.properties, member), member) for member in DEPENDENCIES}
    for member in ("storageAccount", "keyVault", "applicationInsights"):
        if wanted[member] is None:
            raise BadRequest(f"The workspace property '{member}' is required: the id of its "
                             f"{DEPENDENCIES[member][1]}.", code="InvalidRequestContent", target=member)
    workspace = find_workspace(session, subscription_id, resource_group, name)
    if workspace is None:
        workspace = Resource(
            subscription_id=subscription_id, resource_group_id=group.id, resource_group=group.name,
            namespace=NAMESPACE, type=TYPE, type_key=WORKSPACES.lower(), name=name, name_key=name.lower(),
            location=location, tags={}, sku=None, kind=None,
            identity={"type": "SystemAssigned", "principalId": str(uuid.uuid4()), "tenantId": tenant_id},
            properties={
                "workspaceId": str(uuid.uuid4()),
                "creationTime": utcnow().isoformat(),
                "discoveryUrl": f"{base_url}/discovery",
                "hbiWorkspace": body.properties.hbiWorkspace,
            },
        )
        session.add(workspace)
    elif workspace.provisioning_state == "Deleting":
        raise Conflict(f"The workspace '{name}' is being deleted.", code="WorkspaceBeingDeleted")
    else:
        for member, value in wanted.items():
            current = workspace.properties.get(member)
            if current is not None and (value or "").lower() != current.lower():
                raise BadRequest(f"The {DEPENDENCIES[member][1]} of a workspace cannot be changed once it is "
                                 f"created (it is '{current}').", code="CannotChangeDependentResource", target=member)
    needs_provisioning = workspace.properties.get("provisioningState") != "Succeeded"
    workspace.tags = body.tags or {}
    workspace.sku = {"name": (body.sku.name if body.sku else "Basic"), "tier": (body.sku.tier or body.sku.name) if body.sku else "Basic"}
    properties = dict(workspace.properties)
    properties.update({k: v for k, v in wanted.items() if v is not None})
    properties["friendlyName"] = body.properties.friendlyName or properties.get("friendlyName") or name
    properties["description"] = body.properties.description if body.properties.description is not None else properties.get("description", "")
    if needs_provisioning:
        properties["provisioningState"] = "Creating"
        properties.pop("provisioningErrors", None)
    workspace.properties = properties
    session.flush()
    return workspace, needs_provisioning


def dependency_problems(session: Session, workspace: Resource) -> list[dict[str, Any]]:
    """What is wrong with the workspace's dependencies now: each as {code, message, target}."""
    problems = []
    for member, (_type, label) in DEPENDENCIES.items():
        value = workspace.properties.get(member)
        if value is None:
            continue
        resource = find_by_id(session, ResourceId.parse(value))
        if resource is None:
            problems.append({"code": "DependentResourceNotFound", "target": member,
                             "message": f"The {label} '{value}' of workspace '{workspace.name}' does not exist."})
        elif member == "containerRegistry" and not resource.properties.get("adminUserEnabled"):
            problems.append({"code": "ContainerRegistryAdminUserDisabled", "target": member,
                             "message": f"The container registry '{value}' of workspace '{workspace.name}' must "
                                        "have its admin user enabled (properties.adminUserEnabled: true)."})
    return problems


def require_dependency(session: Session, workspace: Resource, member: str) -> Resource:
    """The dependency an operation needs, or 409 naming what is wrong with it."""
    for problem in dependency_problems(session, workspace):
        if problem["target"] == member:
            raise Conflict(problem["message"], code=problem["code"], target=member)
    return find_by_id(session, ResourceId.parse(workspace.properties[member]))


def provision_workspace(session: Session, operation: Operation) -> AmliteError | None:
    """Operation handler: the workspace is Succeeded when its dependencies are sound (and then has its
    built-in datastores), else Failed."""
    workspace = session.get(Resource, operation.payload["resource"])
    if workspace is None:
        return AmliteError("The workspace was deleted while it was being created.", code="ResourceNotFound")
    problems = dependency_problems(session, workspace)
    properties = dict(workspace.properties)
    properties["provisioningState"] = "Failed" if problems else "Succeeded"
    workspace.properties = properties
    operation.payload = {**operation.payload, "result": workspace_json(workspace, problems)}
    if problems:
        first = problems[0]
        return Conflict(
            f"Workspace '{workspace.name}' could not be provisioned: "
            + " ".join(p["message"] for p in problems),
            code=first["code"], target=first["target"],
        )
    ensure_defaults(session, workspace)
    return None


def patch_workspace(workspace: Resource, body: WorkspacePatch) -> Resource:
    if body.tags is not None:
        workspace.tags = body.tags
    if body.sku is not None:
        workspace.sku = {"name": body.sku.name, "tier": body.sku.tier or body.sku.name}
    properties = dict(workspace.properties)
    if body.properties.friendlyName is not None:
        properties["friendlyName"] = body.properties.friendlyName
    if body.properties.description is not None:
        properties["description"] = body.properties.description
    workspace.properties = properties
    return workspace


def begin_delete_workspace(workspace: Resource) -> None:
    workspace.properties = {**workspace.properties, "provisioningState": "Deleting"}


def delete_workspace(session: Session, operation: Operation) -> None:
    """Operation handler: removes the workspace and its computes; dependent resources stay."""
    workspace = session.get(Resource, operation.payload["resource"])
    if workspace is not None:
        session.delete(workspace)


def list_keys(session: Session, secrets: SecretBox, workspace: Resource) -> dict[str, Any]:
    storage = require_dependency(session, workspace, "storageAccount")
    insights = require_dependency(session, workspace, "applicationInsights")
    keys: dict[str, Any] = {
        "userStorageKey": account_keys(secrets, storage)[0],
        "userStorageResourceId": storage.resource_id,
        "appInsightsInstrumentationKey": insights.properties["InstrumentationKey"],
    }
    if workspace.properties.get("containerRegistry"):
        registry = require_dependency(session, workspace, "containerRegistry")
        passwords = secrets.open(registry.secrets)["passwords"]
        keys["containerRegistryCredentials"] = {
            "location": registry.location,
            "username": registry.name,
            "passwords": [{"name": "password", "value": passwords[0]}, {"name": "password2", "value": passwords[1]}],
        }
    return keys


def resync_keys(session: Session, workspace: Resource) -> None:
    """Keys are read from the dependencies on every listKeys; resync only checks they are there."""
    for member in DEPENDENCIES:
        if workspace.properties.get(member):
            require_dependency(session, workspace, member)
