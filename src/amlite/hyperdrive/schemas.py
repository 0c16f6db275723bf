"""Wire models of HyperDrive (snake_case keys, read case-insensitively) and the ExperimentDto it answers."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from amlite.hyperdrive.tables import Sweep
from amlite.runs.schemas import iso
from amlite.runs.tables import Run
from amlite.web.body import WireModel


class GeneratorConfig(WireModel):
    name: str
    parameter_space: dict[str, Any]
    properties: dict[str, Any] | None = None


class PolicyConfig(WireModel):
    name: str | None = None
    properties: dict[str, Any] | None = None


class PrimaryMetricConfig(WireModel):
    name: str = Field(min_length=1, max_length=256)
    goal: str


class CreateExperiment(WireModel):
    name: str | None = Field(default=None, max_length=255)
    description: str | None = Field(default=None, max_length=511)
    user: str | None = None
    platform: str = "AML"
    max_concurrent_jobs: int | None = Field(default=None, ge=1, le=100)
    max_total_jobs: int | None = Field(default=None, ge=1, le=1000)
    max_duration_minutes: int = Field(default=10080, ge=1, le=43200)
    generator_config: GeneratorConfig
    policy_config: PolicyConfig | None = None
    primary_metric_config: PrimaryMetricConfig
    platform_config: dict[str, Any]
    resume_from: list[Any] | None = None
    resume_child_runs: list[Any] | None = None
    study_id: int | None = None


class Definition(WireModel):
    """platform_config.Definition: the serialised RunConfiguration and the uploaded snapshot."""

    overrides: dict[str, Any] | str
    snapshotId: str | None = None


class PlatformConfig(WireModel):
    definition: Definition


def experiment_json(sweep: Sweep, parent: Run) -> dict[str, Any]:
    """ExperimentDto; ``config`` holds the request normalised by the service."""
    config = sweep.config
    return {
        "all_jobs_generated": sweep.all_jobs_generated,
        "cancellation_requested": sweep.ending == "canceled",
        "created": iso(sweep.created_at),
        "created_by_user_id": 0,
        "description": config.get("description"),
        "experiment_id": parent.run_id,
        "experiment_uri": None,
        "generator_config": config["generator_config"],
        "max_concurrent_jobs": config["max_concurrent_jobs"],
        "max_duration_minutes": config["max_duration_minutes"],
        "max_total_jobs": config["max_total_jobs"],
        "modified": iso(sweep.modified_at),
        "name": config.get("name"),
        "platform": config["platform"],
        "platform_config": {**config["platform_config"], "ParentRunId": parent.run_id},
        "policy_config": config["policy_config"],
        "primary_metric_config": config["primary_metric_config"],
        "resume_from": config.get("resume_from"),
        "resume_child_runs": config.get("resume_child_runs"),
        "status": sweep.status,
        "study_id": sweep.id,
        "study_uri": None,
        "hyperdrive_run_id": parent.run_id,
    }
