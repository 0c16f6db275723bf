"""The run definition posted to startrun, read case-insensitively (the how-to posts PascalCase)."""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator

from amlite.web.body import WireModel

COMMUNICATORS = ("None", "ParameterServer", "Gloo", "Mpi", "Nccl")


class HistorySection(WireModel):
    outputCollection: bool = True


class DataReference(WireModel):
    """One entry of the run configuration's ``DataReferences`` (azureml-core's DataReferenceConfiguration)."""

    dataStoreName: str = Field(min_length=1)
    mode: str = "mount"
    pathOnDataStore: str | None = None
    pathOnCompute: str | None = None
    overwrite: bool = False


class RunConfiguration(WireModel):
    script: str = Field(min_length=1)
    arguments: list[str | int | float | bool] = []
    framework: str = "Python"
    communicator: str = "None"
    target: str = Field(min_length=1)
    maxRunDurationSeconds: int | None = Field(default=None, ge=1)
    nodeCount: int = Field(default=1, ge=1)
    environment: dict[str, Any] | None = None
    history: HistorySection = HistorySection()
    dataReferences: dict[str, DataReference] = {}

    @field_validator("communicator")
    @classmethod
    def _known_communicator(cls, value: str) -> str:
        for known in COMMUNICATORS:
            if value.lower() == known.lower():
                return known
        raise ValueError(f"unknown communicator (use one of {', '.join(COMMUNICATORS)})")

    @property
    def argument_strings(self) -> list[str]:
        return [str(a).lower() if isinstance(a, bool) else str(a) for a in self.arguments]


class RunDefinition(WireModel):
    configuration: RunConfiguration
    snapshotId: str | None = None
    parentRunId: str | None = None
    runType: str | None = None
