"""ORM tables of the model registry: assets (named sets of artifact prefixes) and models (versioned by name).

A model keeps the artifact prefixes its files were resolved to when it was registered, whatever its
``url`` said (``aml://asset/...``, ``aml://artifact/...`` or a run's output path), so that its files
can be found without the asset.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from amlite.db.base import Base, UtcDateTime, utcnow
from amlite.runs.tables import BigId


class Asset(Base):
    __tablename__ = "assets"
    __table_args__ = (Index("ix_assets_workspace_created", "workspace_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("resources.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(255))
    asset_type: Mapped[str | None] = mapped_column(String(64))
    description: Mapped[str | None] = mapped_column(Text)
    # [{"prefix": "origin/container/path"} | {"id": "origin/container/path"}], as the client sent them
    artifacts: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    kv_tags: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    properties: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    meta: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    run_id: Mapped[str | None] = mapped_column(String(256))
    project_id: Mapped[str | None] = mapped_column(String(256))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class Model(Base):
    __tablename__ = "models"
    __table_args__ = (
        UniqueConstraint("workspace_id", "name", "version"),
        Index("ix_models_workspace_created", "workspace_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("resources.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(255))
    version: Mapped[int] = mapped_column(Integer)
    url: Mapped[str] = mapped_column(String(2048))
    # the artifact prefixes ("origin/container/path") holding the model's files
    files: Mapped[list[str]] = mapped_column(JSON, default=list)
    mime_type: Mapped[str] = mapped_column(String(255))
    unpack: Mapped[bool] = mapped_column(Boolean, default=False)
    description: Mapped[str | None] = mapped_column(Text)
    kv_tags: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    properties: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    framework: Mapped[str] = mapped_column(String(64))
    framework_version: Mapped[str | None] = mapped_column(String(64))
    experiment_name: Mapped[str | None] = mapped_column(String(256))
    run_id: Mapped[str | None] = mapped_column(String(256))
    datasets: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    parent_model_id: Mapped[str | None] = mapped_column(String(300))
    derived_model_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    sample_input_data: Mapped[str | None] = mapped_column(String(1024))
    sample_output_data: Mapped[str | None] = mapped_column(String(1024))
    resource_requirements: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_by: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    modified_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    @property
    def model_id(self) -> str:
        return f"{self.name}:{self.version}"
