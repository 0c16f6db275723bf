"""ORM tables of run history."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from amlite.db.base import Base, UtcDateTime, utcnow

# BIGINT ids on PostgreSQL; SQLite autoincrements only INTEGER PRIMARY KEY.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Experiment(Base):
    __tablename__ = "experiments"
    __table_args__ = (UniqueConstraint("workspace_id", "name_key"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("resources.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(256))
    name_key: Mapped[str] = mapped_column(String(256))
    description: Mapped[str | None] = mapped_column(Text)
    tags: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    archived_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    latest_run_id: Mapped[str | None] = mapped_column(String(256))
    latest_run_created_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class Run(Base):
    __tablename__ = "runs"
    __table_args__ = (
        UniqueConstraint("workspace_id", "run_id"),
        UniqueConstraint("workspace_id", "run_number"),
        Index("ix_runs_experiment_created", "experiment_id", "created_at"),
        Index("ix_runs_parent", "workspace_id", "parent_run_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("resources.id", ondelete="CASCADE"))
    experiment_id: Mapped[str] = mapped_column(ForeignKey("experiments.id", ondelete="CASCADE"))
    run_id: Mapped[str] = mapped_column(String(256))
    run_uuid: Mapped[str] = mapped_column(String(36))
    run_number: Mapped[int] = mapped_column(Integer)
    root_run_id: Mapped[str] = mapped_column(String(256))
    parent_run_id: Mapped[str | None] = mapped_column(String(256))
    status: Mapped[str] = mapped_column(String(32))
    name: Mapped[str | None] = mapped_column(String(256))
    description: Mapped[str | None] = mapped_column(Text)
    run_type: Mapped[str | None] = mapped_column(String(128))
    script_name: Mapped[str | None] = mapped_column(String(512))
    target: Mapped[str | None] = mapped_column(String(256))
    hidden: Mapped[bool] = mapped_column(Boolean, default=False)
    heartbeat_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    data_container_id: Mapped[str] = mapped_column(String(300))
    properties: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    tags: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    run_definition: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_from: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    options: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_by: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    warnings: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    cancel_uri: Mapped[str | None] = mapped_column(String(1024))
    diagnostics_uri: Mapped[str | None] = mapped_column(String(1024))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    modified_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    start_time: Mapped[datetime | None] = mapped_column(UtcDateTime)
    end_time: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # heartbeat watchdog: a run that stops heartbeating past its time-to-live becomes NotResponding
    heartbeat_deadline: Mapped[datetime | None] = mapped_column(UtcDateTime, index=True)
    revision: Mapped[int] = mapped_column(Integer, default=1)
    # execution: where the run runs, the nodes it holds, and its backend's handle (typed JSON)
    compute_id: Mapped[int | None] = mapped_column(ForeignKey("computes.id", ondelete="SET NULL"), index=True)
    node_count: Mapped[int] = mapped_column(Integer, default=1)
    nodes_held: Mapped[int] = mapped_column(Integer, default=0)
    backend_handle: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    submitted_by: Mapped[str | None] = mapped_column(String(36))


class MetricSeries(Base):
    """One named metric of one run; its points are in ``metric_points``."""

    __tablename__ = "metric_series"
    __table_args__ = (UniqueConstraint("run_pk", "name"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    run_pk: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(256))
    metric_type: Mapped[str] = mapped_column(String(64))
    columns: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    description: Mapped[str | None] = mapped_column(Text)
    data_location: Mapped[str | None] = mapped_column(String(1024))
    point_count: Mapped[int] = mapped_column(BigInteger, default=0)
    last_step: Mapped[int] = mapped_column(BigInteger, default=-1)
    # the latest value, kept here so that comparing many runs never scans their points
    latest_cell: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    latest_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class MetricPoint(Base):
    """One cell of a logged metric: its step, its time, and its value (numeric values also as a float)."""

    __tablename__ = "metric_points"
    __table_args__ = (Index("ix_metric_points_series_id", "series_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    series_id: Mapped[int] = mapped_column(ForeignKey("metric_series.id", ondelete="CASCADE"))
    metric_id: Mapped[str] = mapped_column(String(36))
    step: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    value: Mapped[float | None] = mapped_column(Float)
    # null when the cell is just ``{column: value}`` with a float value (most points); see metrics.point_cell
    cell: Mapped[dict[str, Any] | None] = mapped_column(JSON)
