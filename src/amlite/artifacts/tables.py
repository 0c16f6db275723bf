"""ORM table of artifacts: which (origin, container, path) exist in a workspace. Their bytes are in the
artifact store, as blob ``{origin}/{container}/{path}`` of the workspace's storage account."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from amlite.db.base import Base, UtcDateTime, utcnow
from amlite.runs.tables import BigId


class Artifact(Base):
    __tablename__ = "artifacts"
    __table_args__ = (UniqueConstraint("workspace_id", "origin", "container", "path"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("resources.id", ondelete="CASCADE"))
    origin: Mapped[str] = mapped_column(String(64))
    container: Mapped[str] = mapped_column(String(300))
    path: Mapped[str] = mapped_column(String(1024))
    # the artifact's ETag: new when it is created and at each upload through the artifact API
    etag: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    @property
    def artifact_id(self) -> str:
        return f"{self.origin}/{self.container}/{self.path}"
