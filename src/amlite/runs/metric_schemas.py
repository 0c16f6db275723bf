"""Wire models of metrics: history v1.0's MetricDto and metric v2.0's MetricV2Dto."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from amlite.web.body import WireModel


class MetricSchemaProperty(WireModel):
    propertyId: str | None = None
    name: str | None = None
    type: str | None = None


class MetricSchema(WireModel):
    numProperties: int | None = None
    properties: list[MetricSchemaProperty] = []


class MetricDto(WireModel):
    metricId: str | None = None
    metricType: str = "azureml.v1.scalar"
    createdUtc: datetime | None = None
    name: str = Field(min_length=1, max_length=256)
    description: str | None = None
    label: str | None = None
    numCells: int | None = None
    dataLocation: str | None = None
    cells: list[dict[str, Any]] = []
    metric_schema: MetricSchema | None = Field(default=None, alias="schema")


class BatchMetricDto(WireModel):
    values: list[MetricDto]


class MetricV2Value(WireModel):
    metricId: str | None = None
    createdUtc: datetime | None = None
    step: int | None = Field(default=None, ge=0)
    data: dict[str, Any]


class MetricV2Dto(WireModel):
    name: str = Field(min_length=1, max_length=256)
    columns: dict[str, str] = {}
    properties: dict[str, Any] = {}
    namespace: str | None = None
    dataContainerId: str | None = None
    value: list[MetricV2Value]


class BatchMetricV2Dto(WireModel):
    values: list[MetricV2Dto]
    reportErrors: bool | None = None


class FullMetricRequest(WireModel):
    metricName: str
    continuationToken: str | None = None
    top: int | None = Field(default=None, ge=1)
    startTime: datetime | None = None
    endTime: datetime | None = None


class LatestMetricsRequest(WireModel):
    runIds: list[str] = Field(min_length=1, max_length=1000)
    metricNames: list[str] | None = None
