"""Wire models of the services API (CreateServiceRequest and its ACI and AKS variants, as azureml-core
sends them) and the JSON of a service (ACIServiceResponse / AKSServiceResponse, with every key the SDK
reads with ``[]``) and of an operation (AsyncOperationStatus)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from amlite.endpoints.tables import Service, ServiceOperation
from amlite.registry.schemas import model_json
from amlite.registry.tables import Model
from amlite.runs.schemas import iso
from amlite.web.body import WireModel

COMPUTE_TYPES = ("ACI", "AKS")
# containerResourceRequirements when the request names none: azureml-core's own defaults
DEFAULT_CPU = 0.1
DEFAULT_MEMORY_GB = 0.5
# Members a request may set that change nothing here but are given back as they were sent.
ECHOED = ("location", "sslEnabled", "sslCertificate", "sslKey", "cname", "dnsNameLabel", "appInsightsEnabled",
          "dataCollection", "computeName", "autoScaler", "maxConcurrentRequestsPerContainer", "maxQueueWaitMs",
          "scoringTimeoutMs", "livenessProbeRequirements", "namespace", "deploymentType")


class ContainerResources(WireModel):
    cpu: float | None = Field(None, gt=0)
    memoryInGB: float | None = Field(None, gt=0)
    gpu: int | None = None
    fpga: int | None = None


class ImageAsset(WireModel):
    id: str | None = None
    url: str
    mimeType: str | None = None
    unpack: bool = False


class EnvironmentImageRequest(WireModel):
    driverProgram: str = Field(min_length=1)
    assets: list[ImageAsset] = []
    modelIds: list[str] = []
    environment: dict[str, Any] | None = None


class AuthKeys(WireModel):
    primaryKey: str | None = Field(None, min_length=1)
    secondaryKey: str | None = Field(None, min_length=1)


class NewService(WireModel):
    name: str
    computeType: str
    description: str | None = None
    kvTags: dict[str, str] | None = None
    properties: dict[str, str] | None = None
    keys: AuthKeys | None = None
    imageId: str | None = None
    environmentImageRequest: EnvironmentImageRequest | None = None
    containerResourceRequirements: ContainerResources | None = None
    authEnabled: bool | None = None
    aadAuthEnabled: bool | None = None
    numReplicas: int | None = Field(None, ge=1, le=64)
    overwrite: bool = False
    # echoed (ECHOED)
    location: str | None = None
    sslEnabled: bool | None = None
    sslCertificate: str | None = None
    sslKey: str | None = None
    cname: str | None = None
    dnsNameLabel: str | None = None
    appInsightsEnabled: bool | None = None
    dataCollection: dict[str, Any] | None = None
    computeName: str | None = None
    autoScaler: dict[str, Any] | None = None
    maxConcurrentRequestsPerContainer: int | None = None
    maxQueueWaitMs: int | None = None
    scoringTimeoutMs: int | None = None
    livenessProbeRequirements: dict[str, Any] | None = None
    namespace: str | None = None
    deploymentType: str | None = None


class RegenerateKeys(WireModel):
    """``keyType`` is ``Primary`` or ``Secondary``; the swagger also allows its enum's number (0 or 1)."""

    keyType: str | int
    keyValue: str | None = Field(None, min_length=1)


class ServiceChanges(WireModel):
    """What a PATCH may change, checked after the JSON patch applies."""

    description: str | None = None
    kvTags: dict[str, str] | None = None
    properties: dict[str, str] | None = None
    authEnabled: bool | None = None
    environmentImageRequest: EnvironmentImageRequest | None = None
    containerResourceRequirements: ContainerResources | None = None
    numReplicas: int | None = Field(None, ge=1, le=64)


def deployment_members(spec: dict[str, Any]) -> dict[str, Any]:
    """The members of a deployment spec as the wire spells them (the patchable document's)."""
    return {
        "environmentImageRequest": {"driverProgram": spec["driverProgram"], "assets": spec["assets"],
                                    "modelIds": spec["modelIds"], "environment": spec["environment"]},
        "containerResourceRequirements": {"cpu": spec["cpu"], "memoryInGB": spec["memoryInGB"],
                                          "gpu": spec.get("gpu"), "fpga": spec.get("fpga")},
        "numReplicas": spec["numReplicas"],
    }


def service_patchable(service: Service) -> dict[str, Any]:
    return {"description": service.description, "kvTags": dict(service.kv_tags),
            "properties": dict(service.properties), "authEnabled": service.auth_enabled,
            **deployment_members(service.spec), **{name: service.spec["options"].get(name) for name in ECHOED}}


def error_json(error: dict[str, Any] | None) -> dict[str, Any] | None:
    """A stored error ({code, message, status, details?}) as ModelErrorResponse."""
    if not error:
        return None
    return {"code": error["code"], "statusCode": error.get("status", 400), "message": error["message"],
            "details": error.get("details", [])}


def service_json(service: Service, models: list[Model], scoring_base: str) -> dict[str, Any]:
    spec, options = service.spec, service.spec["options"]
    scoring = f"{scoring_base}/api/v1/service/{service.id}"
    ready = sum(1 for replica in service.replicas if replica.get("socket"))
    body: dict[str, Any] = {
        "id": service.name, "name": service.name, "description": service.description,
        "kvTags": service.kv_tags, "properties": service.properties, "operationId": service.operation_id,
        "state": service.state, "error": error_json(service.error), "computeType": service.compute_type,
        "deploymentType": options.get("deploymentType") or "HttpRealtimeEndpoint",
        "createdTime": iso(service.created_at), "updatedTime": iso(service.updated_at),
        "createdBy": service.created_by,  # no imageId/imageDetails: the SDK reads an image from any it finds
        "scoringUri": f"{scoring}/score", "swaggerUri": f"{scoring}/swagger.json",
        "authEnabled": service.auth_enabled, "aadAuthEnabled": False,
        "appInsightsEnabled": bool(options.get("appInsightsEnabled")),
        "dataCollection": options.get("dataCollection") or {"eventHubEnabled": False, "storageEnabled": False},
        "models": [model_json(model) for model in models], "modelConfigMap": {},
        "environment": spec["environment"], **deployment_members(spec),
        "location": options.get("location"),
    }
    if service.compute_type == "AKS":
        body.update({
            "computeName": options.get("computeName"), "namespace": options.get("namespace") or "default",
            "autoScaler": options.get("autoScaler") or {"autoscaleEnabled": False, "minReplicas": spec["numReplicas"],
                                                        "maxReplicas": spec["numReplicas"], "targetUtilization": 70,
                                                        "refreshPeriodInSeconds": 1},
            "maxConcurrentRequestsPerContainer": options.get("maxConcurrentRequestsPerContainer") or 1,
            "maxQueueWaitMs": options.get("maxQueueWaitMs") or 500,
            "scoringTimeoutMs": options.get("scoringTimeoutMs") or 60000,
            "livenessProbeRequirements": options.get("livenessProbeRequirements") or {
                "failureThreshold": 3, "successThreshold": 1, "timeoutSeconds": 1, "periodSeconds": 10,
                "initialDelaySeconds": 310},
            "deploymentStatus": {"desiredReplicas": spec["numReplicas"], "updatedReplicas": len(service.replicas),
                                 "availableReplicas": ready},
        })
    else:
        body.update({name: options.get(name) for name in ("sslCertificate", "sslKey", "cname")})
        body.update({"sslEnabled": bool(options.get("sslEnabled")), "publicIp": None,
                     "publicFqdn": scoring_base.split("://", 1)[-1].rsplit(":", 1)[0]})
    return body


def operation_json(operation: ServiceOperation, prefix: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": operation.id, "operationType": "Service", "state": operation.state,
        "createdTime": iso(operation.created_at),
        "resourceLocation": f"{prefix}/services/{operation.service_name}",
        "operationDetails": {"subOperationType": operation.kind, "subOperationState": operation.state},
    }
    if operation.ended_at is not None:
        body["endTime"] = iso(operation.ended_at)
    if operation.error:
        body["error"] = error_json(operation.error)
    if operation.log:
        body["operationLog"] = operation.log
    return body
