"""ORM tables of HyperDrive: one row per sweep, one per generated child (trial)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from amlite.db.base import Base, UtcDateTime, utcnow
from amlite.runs.tables import BigId


class Sweep(Base):
    """The configuration as submitted (validated), and where generation stands."""

    __tablename__ = "hyperdrive_sweeps"
    __table_args__ = (Index("ix_hyperdrive_sweeps_status", "status"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("resources.id", ondelete="CASCADE"))
    parent_run_pk: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), unique=True)
    # the CreateExperimentDto, normalised (service.normalise): names canonical, max_total_jobs resolved
    config: Mapped[dict[str, Any]] = mapped_column(JSON)
    seed: Mapped[int] = mapped_column(Integer)
    # Running until every child has ended, then the parent's final status
    status: Mapped[str] = mapped_column(String(32), default="Running")
    # children claimed so far (the next child's number); claimed with a conditional UPDATE
    generated: Mapped[int] = mapped_column(Integer, default=0)
    all_jobs_generated: Mapped[bool] = mapped_column(Boolean, default=False)
    # why generation stopped early: "canceled", "timeout" or "failed"
    ending: Mapped[str | None] = mapped_column(String(16))
    error: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # who submitted it: children run on their behalf (tenantId, objectId, appId)
    submitted_by: Mapped[dict[str, str]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    modified_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class Trial(Base):
    """One child run: what the sampler chose (Optuna's own values and per-trial attributes, so that
    the study can be rebuilt in memory) and the hyperparameters handed to the script."""

    __tablename__ = "hyperdrive_trials"
    __table_args__ = (UniqueConstraint("sweep_id", "number"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    sweep_id: Mapped[int] = mapped_column(ForeignKey("hyperdrive_sweeps.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    run_pk: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    sampler_attrs: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    hyperparameters: Mapped[dict[str, Any]] = mapped_column(JSON)
    # the early-termination policy (or limit) that stopped it
    stopped_by: Mapped[str | None] = mapped_column(String(32))
