"""ORM tables of the scoring services: the services, the models each deploys, and the operations that
create, update and delete them.

A service's ``spec`` is the deployment it serves (entry script, assets, models, environment, resources,
replica count, and the members it echoes back); an update's new deployment waits in its operation's
``target`` until it is ready, then replaces the spec. ``replicas`` are the worker processes serving now.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from amlite.db.base import Base, UtcDateTime, utcnow
from amlite.runs.tables import BigId


class Service(Base):
    __tablename__ = "services"
    __table_args__ = (
        UniqueConstraint("workspace_id", "name"),
        Index("ix_services_workspace_created", "workspace_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # uuid hex: folders and the scoring path
    workspace_id: Mapped[int] = mapped_column(ForeignKey("resources.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(32))
    compute_type: Mapped[str] = mapped_column(String(16))
    description: Mapped[str | None] = mapped_column(Text)
    kv_tags: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    properties: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    auth_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    keys: Mapped[str] = mapped_column(Text)  # {"primaryKey", "secondaryKey"}, sealed with the SecretBox
    spec: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    generation: Mapped[int] = mapped_column(Integer, default=0)  # of the deployment in ``spec``
    # [{"index", "generation", "pid", "startTicks", "socket" (None until ready), "restarts", "notBefore"}]
    replicas: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    state: Mapped[str] = mapped_column(String(16), default="Transitioning")
    error: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    operation_id: Mapped[str | None] = mapped_column(String(36))
    created_by: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class ServiceModel(Base):
    """A model a service deploys: a model in use cannot be deleted."""

    __tablename__ = "service_models"

    service_id: Mapped[str] = mapped_column(ForeignKey("services.id", ondelete="CASCADE"), primary_key=True)
    model_id: Mapped[int] = mapped_column(BigId, ForeignKey("models.id", ondelete="CASCADE"), primary_key=True,
                                          index=True)


class ServiceOperation(Base):
    """An MMS asynchronous operation (AsyncOperationStatus): NotStarted, Running, then Succeeded,
    Failed or Cancelled. ``target`` holds what a create or update deploys, and the workers it started."""

    __tablename__ = "service_operations"
    __table_args__ = (Index("ix_service_operations_state", "state"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("resources.id", ondelete="CASCADE"), index=True)
    service_id: Mapped[str | None] = mapped_column(String(32), index=True)
    service_name: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(16))  # Create | Update
    state: Mapped[str] = mapped_column(String(16), default="Running")
    target: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    log: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
