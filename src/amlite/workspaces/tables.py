"""ORM tables of the workspaces area (workspaces themselves are rows of ``resources``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from amlite.db.base import Base, UtcDateTime, utcnow


class Compute(Base):
    """An AmlCompute cluster: its settings, and the live node counts the scheduler keeps true."""

    __tablename__ = "computes"
    __table_args__ = (UniqueConstraint("workspace_id", "name_key"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("resources.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    name_key: Mapped[str] = mapped_column(String(64))
    location: Mapped[str] = mapped_column(String(64))
    tags: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    compute_type: Mapped[str] = mapped_column(String(32))
    description: Mapped[str | None] = mapped_column(Text)
    vm_size: Mapped[str] = mapped_column(String(64))
    vm_priority: Mapped[str] = mapped_column(String(32))
    min_node_count: Mapped[int] = mapped_column(Integer, default=0)
    max_node_count: Mapped[int] = mapped_column(Integer)
    idle_time_before_scale_down: Mapped[str] = mapped_column(String(32))
    admin_user_name: Mapped[str | None] = mapped_column(String(128))
    # adminUserPassword and adminUserSshPublicKey, encrypted; never returned
    admin_credentials: Mapped[str | None] = mapped_column(Text)
    remote_login_port_public_access: Mapped[str] = mapped_column(String(32), default="NotSpecified")
    provisioning_state: Mapped[str] = mapped_column(String(32), default="Creating")
    provisioning_errors: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    allocation_state: Mapped[str] = mapped_column(String(32), default="Steady")
    allocation_state_transition_time: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    current_node_count: Mapped[int] = mapped_column(Integer, default=0)
    target_node_count: Mapped[int] = mapped_column(Integer, default=0)
    idle_node_count: Mapped[int] = mapped_column(Integer, default=0)
    running_node_count: Mapped[int] = mapped_column(Integer, default=0)
    preparing_node_count: Mapped[int] = mapped_column(Integer, default=0)
    unusable_node_count: Mapped[int] = mapped_column(Integer, default=0)
    leaving_node_count: Mapped[int] = mapped_column(Integer, default=0)
    preempted_node_count: Mapped[int] = mapped_column(Integer, default=0)
    # when the last run left the nodes above minNodeCount idle; they are released after the idle timeout
    idle_since: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # documented amlite extensions under properties.properties (e.g. the compute backend)
    extensions: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    modified_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)
