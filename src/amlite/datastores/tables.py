"""ORM tables of the datastores area."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from amlite.db.base import Base, UtcDateTime, utcnow


class Datastore(Base):
    """An Azure Blob container or Azure File share registered in a workspace under a name."""

    __tablename__ = "datastores"
    __table_args__ = (UniqueConstraint("workspace_id", "name_key"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("resources.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    name_key: Mapped[str] = mapped_column(String(255))
    datastore_type: Mapped[str] = mapped_column(String(32))
    account_name: Mapped[str] = mapped_column(String(64))
    container_name: Mapped[str] = mapped_column(String(64))
    endpoint: Mapped[str] = mapped_column(String(256))
    protocol: Mapped[str] = mapped_column(String(16))
    credential_type: Mapped[str] = mapped_column(String(32))
    # The account key or SAS token, sealed with the data key of the workspace's key vault. NULL for
    # credentialType None, and for the workspace's own stores: their key is the storage account's,
    # read from the account whenever it is needed (so it follows the account's keys).
    credential: Mapped[str | None] = mapped_column(Text)
    # the other members of azureStorageSection that are kept as sent (blobCacheTimeout, ...)
    options: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    tags: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    has_been_validated: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    modified_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)


class DatastoreDefaults(Base):
    """One row per workspace once its own datastores were made: which datastore is the default.

    The row also records that the built-in stores exist, so that deleting them is not undone."""

    __tablename__ = "datastore_defaults"

    workspace_id: Mapped[int] = mapped_column(ForeignKey("resources.id", ondelete="CASCADE"), primary_key=True)
    datastore_id: Mapped[int | None] = mapped_column(ForeignKey("datastores.id", ondelete="SET NULL"))
