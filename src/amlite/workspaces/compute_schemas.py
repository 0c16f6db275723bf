"""Wire models of compute requests, and the JSON of a ComputeResource and of its nodes."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from pydantic import field_validator

from amlite.arm.tables import Resource
from amlite.compute.backends.choice import NAMES as BACKENDS
from amlite.web.body import WireModel
from amlite.workspaces.schemas import WORKSPACES
from amlite.workspaces.tables import Compute

COMPUTES = WORKSPACES + "/computes"

_DURATION = re.compile(
    r"^P(?=\d|T\d)(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?=\d)(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+(?:[.,]\d+)?)S)?)?$"
)


def parse_duration(value: str) -> timedelta | None:
    """An ISO 8601 duration of fixed length (weeks to seconds: PT30M, PT120S, PT1H, P1D); None if invalid."""
    match = _DURATION.match(value.strip().upper())
    if match is None:
        return None
    parts = {name: float(number.replace(",", ".")) for name, number in match.groupdict().items() if number}
    return timedelta(**parts)


class ScaleSettings(WireModel):
    maxNodeCount: int
    minNodeCount: int = 0
    nodeIdleTimeBeforeScaleDown: str | None = None


class UserAccountCredentials(WireModel):
    adminUserName: str
    adminUserPassword: str | None = None
    adminUserSshPublicKey: str | None = None


class AmliteExtensions(WireModel):
    """amlite's own settings of a cluster (``properties.properties.amlite``; Azure clients ignore it):
    ``backend`` is where its runs run, "local" processes or "ray" (the server's default when unset)."""

    backend: str | None = None

    @field_validator("backend")
    @classmethod
    def _known_backend(cls, value: str | None) -> str | None:
        if value is not None and value.lower() not in BACKENDS:
            raise ValueError(f"unknown backend (use one of {', '.join(BACKENDS)})")
        return value.lower() if value else None


class AmlComputeProperties(WireModel):
    vmSize: str | None = None
    vmPriority: str | None = None
    scaleSettings: ScaleSettings | None = None
    userAccountCredentials: UserAccountCredentials | None = None
    remoteLoginPortPublicAccess: str | None = None
    amlite: AmliteExtensions | None = None


class ComputeProperties(WireModel):
    computeType: str | None = None
    computeLocation: str | None = None
    description: str | None = None
    properties: AmlComputeProperties = AmlComputeProperties()


class ComputePut(WireModel):
    """A ComputeResource. The REST how-to sends ``userAccountCredentials`` at the top level; the spec
    puts it in ``properties.properties``; both are read."""

    location: str | None = None
    tags: dict[str, str] | None = None
    properties: ComputeProperties = ComputeProperties()
    userAccountCredentials: UserAccountCredentials | None = None

    @property
    def credentials(self) -> UserAccountCredentials | None:
        return self.properties.properties.userAccountCredentials or self.userAccountCredentials


class ScaleSettingsHolder(WireModel):
    scaleSettings: ScaleSettings | None = None


class ClusterUpdateProperties(ScaleSettingsHolder):
    # azureml-core nests the settings as in a ComputeResource: {properties: {properties: {scaleSettings}}}
    properties: ScaleSettingsHolder = ScaleSettingsHolder()


class ClusterUpdate(WireModel):
    """ClusterUpdateParameters: ``{properties: {scaleSettings}}`` (spec) or the ComputeResource nesting."""

    properties: ClusterUpdateProperties = ClusterUpdateProperties()

    @property
    def scale_settings(self) -> ScaleSettings | None:
        return self.properties.scaleSettings or self.properties.properties.scaleSettings


def compute_resource_id(workspace: Resource, name: str) -> str:
    return f"{workspace.resource_id}/computes/{name}"


def compute_json(compute: Compute, workspace: Resource) -> dict[str, Any]:
    """The ComputeResource; admin secrets are never part of it."""
    properties: dict[str, Any] = {
        "vmSize": compute.vm_size,
        "vmPriority": compute.vm_priority,
        "scaleSettings": {
            "maxNodeCount": compute.max_node_count,
            "minNodeCount": compute.min_node_count,
            "nodeIdleTimeBeforeScaleDown": compute.idle_time_before_scale_down,
        },
        "remoteLoginPortPublicAccess": compute.remote_login_port_public_access,
        "allocationState": compute.allocation_state,
        "allocationStateTransitionTime": compute.allocation_state_transition_time.isoformat(),
        "errors": [],
        "currentNodeCount": compute.current_node_count,
        "targetNodeCount": compute.target_node_count,
        "nodeStateCounts": {
            "idleNodeCount": compute.idle_node_count,
            "runningNodeCount": compute.running_node_count,
            "preparingNodeCount": compute.preparing_node_count,
            "unusableNodeCount": compute.unusable_node_count,
            "leavingNodeCount": compute.leaving_node_count,
            "preemptedNodeCount": compute.preempted_node_count,
        },
    }
    if compute.admin_user_name:
        properties["userAccountCredentials"] = {"adminUserName": compute.admin_user_name}
    if compute.extensions:
        properties["amlite"] = compute.extensions
    envelope: dict[str, Any] = {
        "computeType": compute.compute_type,
        "computeLocation": compute.location,
        "provisioningState": compute.provisioning_state,
        "createdOn": compute.created_at.isoformat(),
        "modifiedOn": compute.modified_at.isoformat(),
        "isAttachedCompute": False,
        "provisioningErrors": compute.provisioning_errors or [],
        "properties": properties,
    }
    if compute.description is not None:
        envelope["description"] = compute.description
    return {
        "id": compute_resource_id(workspace, compute.name),
        "name": compute.name,
        "type": COMPUTES,
        "location": compute.location,
        "tags": compute.tags or {},
        "properties": envelope,
    }


NODE_STATES = ("running", "preparing", "idle", "leaving", "unusable", "preempted")


def nodes_json(compute: Compute) -> dict[str, Any]:
    """AmlComputeNodesInformation: one entry per node slot, in the states the counts give."""
    counts = {state: getattr(compute, f"{state}_node_count") for state in NODE_STATES}
    stamp = compute.created_at.strftime("%Y%m%dt%H%M%Sz")
    states = [state for state in NODE_STATES for _ in range(counts[state])]
    return {
        "computeType": compute.compute_type,
        "nodes": [{"nodeId": f"tvm-{compute.id}_{index}-{stamp}", "nodeState": state}
                  for index, state in enumerate(states, start=1)],
    }
