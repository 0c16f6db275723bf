"""ORM tables of the management plane."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from amlite.db.base import Base, UtcDateTime, utcnow


class Subscription(Base):
    __tablename__ = "subscriptions"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    display_name: Mapped[str] = mapped_column(String(256))
    state: Mapped[str] = mapped_column(String(32), default="Enabled")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class ProviderRegistration(Base):
    __tablename__ = "provider_registrations"

    subscription_id: Mapped[str] = mapped_column(
        ForeignKey("subscriptions.id", ondelete="CASCADE"), primary_key=True
    )
    namespace_key: Mapped[str] = mapped_column(String(128), primary_key=True)
    state: Mapped[str] = mapped_column(String(32))


class ResourceGroup(Base):
    __tablename__ = "resource_groups"
    __table_args__ = (UniqueConstraint("subscription_id", "name_key"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    subscription_id: Mapped[str] = mapped_column(
        ForeignKey("subscriptions.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(90))
    name_key: Mapped[str] = mapped_column(String(90))
    location: Mapped[str] = mapped_column(String(64))
    tags: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    managed_by: Mapped[str | None] = mapped_column(String(1024))
    provisioning_state: Mapped[str] = mapped_column(String(32), default="Succeeded")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    changed_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)


class Operation(Base):
    """A long-running operation, polled through ``Azure-AsyncOperation`` and ``Location`` URLs."""

    __tablename__ = "operations"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    subscription_id: Mapped[str] = mapped_column(
        ForeignKey("subscriptions.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(64))
    resource_id: Mapped[str] = mapped_column(String(1024))
    status: Mapped[str] = mapped_column(String(32), default="InProgress")
    error: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class Resource(Base):
    """A tracked ARM resource in a resource group (storage accounts, vaults, registries, components,
    workspaces). Type-specific state lives in ``properties``; secrets in ``secrets`` (encrypted)."""

    __tablename__ = "resources"
    __table_args__ = (UniqueConstraint("resource_group_id", "type_key", "name_key"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    subscription_id: Mapped[str] = mapped_column(
        ForeignKey("subscriptions.id", ondelete="CASCADE"), index=True
    )
    resource_group_id: Mapped[int] = mapped_column(ForeignKey("resource_groups.id", ondelete="CASCADE"))
    resource_group: Mapped[str] = mapped_column(String(90))
    namespace: Mapped[str] = mapped_column(String(128))
    type: Mapped[str] = mapped_column(String(128))
    # lower-cased "Namespace/type": ids and names compare case-insensitively
    type_key: Mapped[str] = mapped_column(String(256), index=True)
    name: Mapped[str] = mapped_column(String(260))
    name_key: Mapped[str] = mapped_column(String(260), index=True)
    location: Mapped[str] = mapped_column(String(64))
    tags: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    sku: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    kind: Mapped[str | None] = mapped_column(String(64))
    identity: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    properties: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    secrets: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    changed_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)

    @property
    def resource_id(self) -> str:
        return (f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"
                f"/providers/{self.namespace}/{self.type}/{self.name}")

    @property
    def provisioning_state(self) -> str | None:
        return (self.properties or {}).get("provisioningState")
