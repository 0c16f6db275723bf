"""AmlCompute clusters: create and resize (asynchronous; the node counts always say what is there),
read, list, delete, and the usage and quota figures computed from the clusters that exist.

Node model: a cluster's nodes are slots that the scheduler fills with runs. Until a run needs a
node, a cluster holds exactly ``minNodeCount`` nodes, all idle.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from amlite.arm.catalog import normalize_region
from amlite.arm.resources import list_resources, not_found
from amlite.arm.tables import Operation, Resource
from amlite.db.base import utcnow
from amlite.errors import AmliteError, BadRequest, Conflict, NotFound
from amlite.secrets import SecretBox
from amlite.workspaces.compute_schemas import (
    ComputePut,
    ScaleSettings,
    UserAccountCredentials,
    compute_json,
    compute_resource_id,
    parse_duration,
)
from amlite.workspaces.schemas import WORKSPACES
from amlite.workspaces.tables import Compute
from amlite.workspaces.vm_sizes import FAMILIES, VM_SIZES, VmSize, family_label, find_vm_size

COMPUTE_TYPE = "AmlCompute"
VM_PRIORITIES = ("Dedicated", "LowPriority")
REMOTE_LOGIN_ACCESS = ("Enabled", "Disabled", "NotSpecified")
DEFAULT_IDLE_TIME = "PT120S"  # what Azure applied when a 2019-era client sent none
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9-]{1,15}$")

# Quota limits per subscription and region, of the order Azure gives a new subscription. They are
# reported, not enforced: nodes are slots of this server's own compute.
CLUSTER_LIMIT = 200
# vmPriority -> (usage kind, regional vCPU limit, per-family vCPU limit; -1: only the regional one applies)
PRIORITY_LIMITS = {"Dedicated": ("dedicatedCores", 100, 24), "LowPriority": ("lowPriorityCores", 100, -1)}


# Reading ------------------------------------------------------------------------------------


def find_compute(session: Session, workspace: Resource, name: str) -> Compute | None:
    return session.scalars(
        select(Compute).where(Compute.workspace_id == workspace.id, Compute.name_key == name.lower())
    ).first()


def get_compute(session: Session, workspace: Resource, name: str) -> Compute:
    compute = find_compute(session, workspace, name)
    if compute is None:
        raise not_found(f"{WORKSPACES}/{workspace.name}/computes", name, workspace.resource_group)
    return compute


def list_computes(session: Session, workspace: Resource, after: int | None, limit: int,
                  compute_type: str | None = None) -> tuple[list[Compute], int | None]:
    """A page of the workspace's computes in creation order, and the id to continue after."""
    query = select(Compute).where(Compute.workspace_id == workspace.id)
    if compute_type:
        query = query.where(func.lower(Compute.compute_type) == compute_type.lower())
    if after is not None:
        query = query.where(Compute.id > after)
    rows = list(session.scalars(query.order_by(Compute.id).limit(limit + 1)))
    return rows[:limit], (rows[limit - 1].id if len(rows) > limit else None)


# Validation ---------------------------------------------------------------------------------


def _invalid(message: str, target: str, code: str = "InvalidComputeSettings") -> BadRequest:
    return BadRequest(message, code=code, target=target)


def _require_ready(workspace: Resource) -> None:
    state = workspace.provisioning_state
    if state != "Succeeded":
        raise Conflict(f"The workspace '{workspace.name}' is in provisioning state '{state}'; computes can be "
                       "created or changed only in a workspace whose provisioningState is 'Succeeded'.",
                       code="WorkspaceNotReady")


def _check_compute_type(value: str | None) -> None:
    if value is None:
        raise _invalid(f"properties.computeType is required; this server runs '{COMPUTE_TYPE}' clusters.",
                       "properties.computeType", "InvalidComputeType")
    if value.lower() != COMPUTE_TYPE.lower():
        raise _invalid(f"'{value}' is a computeType this server does not run; it runs '{COMPUTE_TYPE}' "
                       "clusters only.", "properties.computeType", "InvalidComputeType")


def _check_name(name: str) -> None:
    if not _NAME.match(name):
        raise _invalid(f"The compute name '{name}' is invalid: it must be 2 to 16 characters long, start with a "
                       "letter, and contain only letters, digits and '-'.", "computeName", "InvalidComputeName")


def _vm_size(value: str | None) -> VmSize:
    size = find_vm_size(value) if value else None
    if size is None:
        given = f"The vmSize '{value}' is not supported" if value else "properties.properties.vmSize is required"
        raise _invalid(f"{given}. Valid sizes: {', '.join(s.name for s in VM_SIZES)}.",
                       "properties.properties.vmSize", "InvalidVmSize")
    return size


def _choice(value: str, choices: tuple[str, ...], member: str) -> str:
    """The canonical spelling of a case-insensitive enum value."""
    for choice in choices:
        if choice.lower() == value.lower():
            return choice
    raise _invalid(f"'{value}' is not a valid {member}; use one of: {', '.join(choices)}.",
                   f"properties.properties.{member}")


def check_location(value: str) -> str:
    """The region's canonical name; 400 for a region that does not exist."""
    region = normalize_region(value)
    if region is None:
        raise _invalid(f"The location '{value}' is not a known region.", "location",
                       "LocationNotAvailableForResourceType")
    return region


def _apply_scale(compute: Compute, settings: ScaleSettings) -> None:
    """Members left out keep their current values (or the defaults, for a new compute)."""
    given = settings.model_fields_set
    minimum = compute.min_node_count
    if "minNodeCount" in given or minimum is None:
        minimum = settings.minNodeCount
    idle = settings.nodeIdleTimeBeforeScaleDown or compute.idle_time_before_scale_down or DEFAULT_IDLE_TIME
    target = "properties.properties.scaleSettings"
    if minimum < 0 or settings.maxNodeCount < 0:
        raise _invalid(f"Node counts cannot be negative (minNodeCount {minimum}, maxNodeCount "
                       f"{settings.maxNodeCount}).", target, "InvalidScaleSettings")
    if minimum > settings.maxNodeCount:
        raise _invalid(f"minNodeCount ({minimum}) cannot be greater than maxNodeCount ({settings.maxNodeCount}).",
                       target, "InvalidScaleSettings")
    if parse_duration(idle) is None:
        raise _invalid(f"nodeIdleTimeBeforeScaleDown '{idle}' is not an ISO 8601 duration such as PT30M, PT120S "
                       "or PT1H.", f"{target}.nodeIdleTimeBeforeScaleDown", "InvalidScaleSettings")
    compute.min_node_count = minimum
    compute.max_node_count = settings.maxNodeCount
    compute.idle_time_before_scale_down = idle


def _set_credentials(compute: Compute, secrets: SecretBox, credentials: UserAccountCredentials) -> None:
    hidden = {"adminUserPassword": credentials.adminUserPassword,
              "adminUserSshPublicKey": credentials.adminUserSshPublicKey}
    hidden = {key: value for key, value in hidden.items() if value}
    if not hidden and credentials.adminUserName == compute.admin_user_name:
        return  # a re-PUT of what GET showed: the stored secrets stay
    if not hidden:
        raise _invalid("userAccountCredentials needs an adminUserPassword or an adminUserSshPublicKey.",
                       "userAccountCredentials")
    compute.admin_user_name = credentials.adminUserName
    compute.admin_credentials = secrets.seal(hidden)


def _check_unchanged(compute: Compute, member: str, current: str, wanted: str | None) -> None:
    if wanted is not None and wanted.lower() != current.lower():
        raise _invalid(f"The {member} of compute '{compute.name}' is '{current}' and cannot be changed; only "
                       "scaleSettings, description, tags and userAccountCredentials can be updated.",
                       f"properties.properties.{member}", "CannotChangeComputeProperty")


def _check_not_deleting(compute: Compute) -> None:
    if compute.provisioning_state == "Deleting":
        raise Conflict(f"The compute '{compute.name}' is being deleted.", code="ComputeBeingDeleted")


# Create, update, delete ----------------------------------------------------------------------


def put_compute(session: Session, secrets: SecretBox, workspace: Resource, name: str,
                body: ComputePut) -> tuple[Compute, bool]:
    """Create, or update the settings of, a cluster; answers it and whether it was created.
    Either way a resize to the new settings follows (``provision_compute``)."""
    _require_ready(workspace)
    wanted = body.properties
    aml = wanted.properties
    _check_compute_type(wanted.computeType)
    compute = find_compute(session, workspace, name)
    created = compute is None
    location = body.location or wanted.computeLocation
    if created:
        _check_name(name)
        size = _vm_size(aml.vmSize)
        if aml.scaleSettings is None:
            raise _invalid("properties.properties.scaleSettings is required: maxNodeCount, and optionally "
                           "minNodeCount and nodeIdleTimeBeforeScaleDown.", "properties.properties.scaleSettings")
        compute = Compute(
            workspace_id=workspace.id, name=name, name_key=name.lower(), compute_type=COMPUTE_TYPE,
            location=check_location(location) if location else workspace.location,
            vm_size=size.name, vm_priority=_choice(aml.vmPriority or "Dedicated", VM_PRIORITIES, "vmPriority"),
            remote_login_port_public_access="NotSpecified", provisioning_state="Creating", provisioning_errors=[],
            allocation_state="Steady", allocation_state_transition_time=utcnow(),
            # the counts are set here rather than by the column defaults: the resize below reads them
            current_node_count=0, target_node_count=0, idle_node_count=0, running_node_count=0,
            preparing_node_count=0, unusable_node_count=0, leaving_node_count=0, preempted_node_count=0,
        )
    else:
        _check_not_deleting(compute)
        _check_unchanged(compute, "vmSize", compute.vm_size, aml.vmSize and _vm_size(aml.vmSize).name)
        _check_unchanged(compute, "vmPriority", compute.vm_priority, aml.vmPriority)
        _check_unchanged(compute, "location", compute.location, location and check_location(location))
        compute.provisioning_state = "Updating"
    if aml.scaleSettings is not None:
        _apply_scale(compute, aml.scaleSettings)
    if aml.amlite is not None:
        compute.extensions = aml.amlite.model_dump(exclude_none=True)
    if aml.remoteLoginPortPublicAccess is not None:
        compute.remote_login_port_public_access = _choice(
            aml.remoteLoginPortPublicAccess, REMOTE_LOGIN_ACCESS, "remoteLoginPortPublicAccess")
    if body.credentials is not None:
        _set_credentials(compute, secrets, body.credentials)
    compute.tags = body.tags or {}
    compute.description = wanted.description
    _begin_resize(compute)
    session.add(compute)
    session.flush()
    return compute, created


def update_scale(session: Session, workspace: Resource, compute: Compute, settings: ScaleSettings | None) -> None:
    """PATCH: new scale settings, then a resize to them."""
    _require_ready(workspace)
    _check_not_deleting(compute)
    if settings is None:
        raise _invalid("The update names no scaleSettings; they are the only thing a PATCH changes.",
                       "properties.scaleSettings", "InvalidScaleSettings")
    _apply_scale(compute, settings)
    compute.provisioning_state = "Updating"
    _begin_resize(compute)
    session.flush()


def begin_delete_compute(compute: Compute) -> None:
    """The nodes leave; ``delete_compute`` removes the cluster."""
    compute.provisioning_state = "Deleting"
    compute.target_node_count = 0
    if compute.current_node_count:
        _set_allocation(compute, "Resizing")


# Node counts --------------------------------------------------------------------------------


def _desired_node_count(compute: Compute) -> int:
    """minNodeCount, or more while runs keep nodes busy; never above maxNodeCount."""
    busy = compute.running_node_count + compute.preparing_node_count
    return min(compute.max_node_count, max(compute.min_node_count, busy))


def _set_allocation(compute: Compute, state: str) -> None:
    if compute.allocation_state != state:
        compute.allocation_state = state
        compute.allocation_state_transition_time = utcnow()


def _begin_resize(compute: Compute) -> None:
    compute.target_node_count = _desired_node_count(compute)
    if compute.target_node_count != compute.current_node_count:
        _set_allocation(compute, "Resizing")


# Operation handlers -------------------------------------------------------------------------


def provision_compute(session: Session, operation: Operation) -> AmliteError | None:
    """Operation handler (create or resize): the cluster reaches its target size, Steady and Succeeded."""
    compute = session.get(Compute, operation.payload["compute"])
    if compute is None:
        return NotFound("The compute was deleted before it was provisioned.", code="ResourceNotFound")
    if compute.provisioning_state == "Deleting":
        return Conflict(f"The compute '{compute.name}' was deleted before it was provisioned.",
                        code="ComputeBeingDeleted")
    target = _desired_node_count(compute)
    busy = (compute.running_node_count + compute.preparing_node_count + compute.unusable_node_count
            + compute.preempted_node_count)
    compute.target_node_count = compute.current_node_count = target
    compute.idle_node_count = max(0, target - busy)
    compute.leaving_node_count = 0
    _set_allocation(compute, "Steady")
    compute.provisioning_state = "Succeeded"
    session.flush()
    workspace = session.get(Resource, compute.workspace_id)
    operation.payload = {**operation.payload, "result": compute_json(compute, workspace)}
    return None


def delete_compute(session: Session, operation: Operation) -> None:
    """Operation handler: removes the cluster."""
    compute = session.get(Compute, operation.payload["compute"])
    if compute is not None:
        session.delete(compute)


# Usage and quotas ---------------------------------------------------------------------------


def _quota_name(family: str, priority: str) -> tuple[str, str]:
    """The name of a family's vCPU quota, and the same as an id segment."""
    name = f"{family_label(family)} Cluster {priority} vCPUs"
    return name, name.replace(" ", "_")


def _figure(resource_id: str, kind: str, name: str, limit: int, current: int | None = None) -> dict[str, Any]:
    """A Usage (with ``current``) or a ResourceQuota (without)."""
    figure = {"id": resource_id, "type": f"Microsoft.MachineLearningServices/{kind}", "unit": "Count",
              "limit": limit, "name": {"value": name, "localizedValue": name}}
    if current is not None:
        figure["currentValue"] = current
    return figure


def _cores(computes: list[Compute]) -> int:
    return sum(c.current_node_count * find_vm_size(c.vm_size).vcpus for c in computes)


def usages(session: Session, subscription_id: str, location: str) -> list[dict[str, Any]]:
    """Clusters and the vCPUs of their current nodes in a region: in total, per VM family, per
    workspace and per cluster."""
    location = check_location(location)
    rows = session.execute(
        select(Compute, Resource).join(Resource, Compute.workspace_id == Resource.id)
        .where(Resource.subscription_id == subscription_id, Compute.location == location).order_by(Compute.id)
    ).all()
    base = f"/subscriptions/{subscription_id}/usages"
    result = [_figure(base, "totalCores/usages", "Clusters", CLUSTER_LIMIT, len(rows))]
    for priority, (kind, regional_limit, family_limit) in PRIORITY_LIMITS.items():
        used = [(c, w) for c, w in rows if c.vm_priority == priority]
        result.append(_figure(base, f"{kind}/usages", f"Total Cluster {priority} Regional vCPUs", regional_limit,
                              _cores([c for c, _ in used])))
        for family in FAMILIES:
            name, key = _quota_name(family, priority)
            in_family = [(c, w) for c, w in used if find_vm_size(c.vm_size).family == family]
            result.append(_figure(f"{base}/{key}", "vmFamily/usages", name, family_limit,
                                  _cores([c for c, _ in in_family])))
            for workspace in {w.id: w for _, w in in_family}.values():
                mine = [c for c, w in in_family if w.id == workspace.id]
                result.append(_figure(f"{workspace.resource_id}/usages/{key}", "workspaces/usages", name,
                                      family_limit, _cores(mine)))
                result.extend(_figure(f"{compute_resource_id(workspace, c.name)}/usages/{key}",
                                      "workspaces/computes/usages", name, family_limit, _cores([c])) for c in mine)
    return result


def quotas(session: Session, subscription_id: str, location: str) -> list[dict[str, Any]]:
    """Dedicated vCPU quota per VM family: the subscription's, and each workspace's in the region."""
    location = check_location(location)
    workspaces = [w for w in list_resources(session, subscription_id, WORKSPACES) if w.location == location]
    limit = PRIORITY_LIMITS["Dedicated"][2]
    result = []
    for family in FAMILIES:
        name, key = _quota_name(family, "Dedicated")
        result.append(_figure(f"/subscriptions/{subscription_id}/quotas/{key}", "vmFamily/quotas", name, limit))
        result.extend(_figure(f"{w.resource_id}/quotas/{key}", "workspaces/quotas", name, limit) for w in workspaces)
    return result
