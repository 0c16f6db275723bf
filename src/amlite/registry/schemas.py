"""Wire models of the registry: Asset and Model bodies as the SDK and the swagger spell them, and the JSON
of each (every key azureml-core reads with ``[]`` is present, null or not)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from amlite.registry.tables import Asset, Model
from amlite.runs.schemas import iso
from amlite.web.body import WireModel


class ArtifactDetails(WireModel):
    id: str | None = None
    prefix: str | None = None


class NewAsset(WireModel):
    name: str = Field(min_length=1, max_length=255)
    type: str | None = None
    description: str | None = None
    artifacts: list[ArtifactDetails] = []
    kvTags: dict[str, str] | None = None
    properties: dict[str, str] | None = None
    meta: dict[str, str] | None = None
    runid: str | None = None
    projectid: str | None = None


class DatasetReference(WireModel):
    name: str | None = None
    id: str | None = None


class NewModel(WireModel):
    name: str
    url: str
    mimeType: str = "application/json"
    unpack: bool = False
    description: str | None = None
    kvTags: dict[str, str] | None = None
    # what curl users write for kvTags
    tags: dict[str, str] | None = None
    properties: dict[str, str] | None = None
    framework: str | None = None
    frameworkVersion: str | None = None
    experimentName: str | None = None
    runId: str | None = None
    datasets: list[DatasetReference] | None = None
    parentModelId: str | None = None
    sampleInputData: str | None = None
    sampleOutputData: str | None = None
    resourceRequirements: dict[str, Any] | None = None


class ListModelsRequest(WireModel):
    """``POST .../models/list``: the list query's parameters in a body."""

    name: str | None = None
    tag: str | None = None
    version: int | None = None
    framework: str | None = None
    description: str | None = None
    count: int | None = Field(None, ge=1)
    skipToken: str | None = None
    tags: str | None = None
    properties: str | None = None
    runId: str | None = None
    orderBy: str | None = None
    latestVersionOnly: bool = False


# What PATCH may change, checked after the patch applies (patch.py).


class AssetChanges(WireModel):
    description: str | None = None
    kvTags: dict[str, str] | None = None
    properties: dict[str, str] | None = None
    meta: dict[str, str] | None = None


class ModelChanges(WireModel):
    description: str | None = None
    kvTags: dict[str, str] | None = None
    properties: dict[str, str] | None = None
    datasets: list[DatasetReference] | None = None
    sampleInputData: str | None = None
    sampleOutputData: str | None = None
    resourceRequirements: dict[str, Any] | None = None


def asset_patchable(asset: Asset) -> dict[str, Any]:
    return {"description": asset.description, "kvTags": dict(asset.kv_tags), "properties": dict(asset.properties),
            "meta": dict(asset.meta)}


def model_patchable(model: Model) -> dict[str, Any]:
    return {"description": model.description, "kvTags": dict(model.kv_tags), "properties": dict(model.properties),
            "datasets": list(model.datasets), "sampleInputData": model.sample_input_data,
            "sampleOutputData": model.sample_output_data, "resourceRequirements": model.resource_requirements}


def asset_json(asset: Asset) -> dict[str, Any]:
    return {"id": asset.id, "name": asset.name, "type": asset.asset_type, "description": asset.description,
            "artifacts": asset.artifacts, "kvTags": asset.kv_tags, "properties": asset.properties,
            "runid": asset.run_id, "projectid": asset.project_id, "meta": asset.meta,
            "createdTime": iso(asset.created_at)}


def model_json(model: Model) -> dict[str, Any]:
    return {"id": model.model_id, "name": model.name, "version": model.version, "url": model.url,
            "mimeType": model.mime_type, "unpack": model.unpack, "description": model.description,
            "createdTime": iso(model.created_at), "modifiedTime": iso(model.modified_at),
            "kvTags": model.kv_tags, "properties": model.properties, "framework": model.framework,
            "frameworkVersion": model.framework_version, "experimentName": model.experiment_name,
            "runId": model.run_id, "datasets": model.datasets, "parentModelId": model.parent_model_id,
            "derivedModelIds": model.derived_model_ids, "sampleInputData": model.sample_input_data,
            "sampleOutputData": model.sample_output_data, "resourceRequirements": model.resource_requirements,
            "createdBy": model.created_by}
