"""ORM table of content snapshots: what a snapshot holds (its tree) and whose it is; the bytes are in
the artifact store."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from amlite.db.base import Base, UtcDateTime, utcnow


class Snapshot(Base):
    __tablename__ = "snapshots"
    __table_args__ = (Index("ix_snapshots_workspace_created", "workspace_id", "created_at"),)

    # the client picks the id (a UUID); unique across workspaces, as the blob names start with it
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("resources.id", ondelete="CASCADE"))
    parent_id: Mapped[str | None] = mapped_column(String(36))
    project_name: Mapped[str | None] = mapped_column(String(256))
    # the directory tree as the SDK's DirTreeNode: name, type, hash, timestamp, sizeBytes, children
    root: Mapped[dict[str, Any]] = mapped_column(JSON)
    file_count: Mapped[int] = mapped_column(Integer)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    properties: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_by: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
