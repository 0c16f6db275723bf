"""Long-running operations: one table, one runner, and the two polling URLs ARM clients follow.

A route records an operation, commits, then hands its id to the runner, which executes the
registered handler for its kind on a worker thread. Unfinished operations resume at start-up.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from amlite.arm.tables import Operation
from amlite.db.base import utcnow
from amlite.db.engine import Database
from amlite.errors import AmliteError

log = logging.getLogger("amlite.operations")

# A handler does the work in the given session. It may return an AmliteError to end the operation
# Failed while keeping what it wrote (e.g. a resource marked Failed); raising rolls its work back.
Handler = Callable[[Session, Operation], AmliteError | None]


class OperationRunner:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.handlers: dict[str, Handler] = {}
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="amlite-operation")

    def register(self, kind: str, handler: Handler) -> None:
        self.handlers[kind] = handler

    def record(self, session: Session, *, kind: str, subscription_id: str, resource_id: str,
               payload: dict[str, Any] | None = None) -> Operation:
        operation = Operation(
            id=str(uuid.uuid4()), kind=kind, subscription_id=subscription_id,
            resource_id=resource_id, status="InProgress", payload=payload or {},
        )
        session.add(operation)
        session.flush()
        return operation

    def submit(self, operation_id: str) -> None:
        """Run an operation that has been committed; returns at once."""
        self._pool.submit(self._run, operation_id)

    def resume_unfinished(self) -> None:
        with self.db.session() as session:
            pending = session.scalars(select(Operation.id).where(Operation.status == "InProgress")).all()
        for operation_id in pending:
            self.submit(operation_id)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=False)

    def _run(self, operation_id: str) -> None:
        error: dict[str, Any] | None = None
        try:
            with self.db.session() as session:
                operation = session.get(Operation, operation_id)
                if operation is None or operation.status != "InProgress":
                    return
                failure = self.handlers[operation.kind](session, operation)
            if failure is not None:
                raise failure
        except AmliteError as exc:
            error = {"code": exc.code, "message": exc.message, "status": exc.status}
        except Exception:
            log.exception("operation %s failed", operation_id)
            error = {"code": "InternalServerError", "message": "The operation failed unexpectedly.", "status": 500}
        with self.db.session() as session:
            operation = session.get(Operation, operation_id)
            operation.status = "Failed" if error else "Succeeded"
            operation.error = error
            operation.ended_at = utcnow()


def polling_headers(base_url: str, operation: Operation, namespace: str, api_version: str) -> dict[str, str]:
    """``Azure-AsyncOperation`` (status document) and ``Location`` (202 until done) for an operation."""
    prefix = f"{base_url}/subscriptions/{operation.subscription_id}/providers/{namespace}"
    query = f"?api-version={api_version}"
    return {
        "Azure-AsyncOperation": f"{prefix}/operationStatuses/{operation.id}{query}",
        "Location": f"{prefix}/operationResults/{operation.id}{query}",
        "Retry-After": "1",
    }


def status_document(operation: Operation) -> dict[str, Any]:
    document: dict[str, Any] = {
        "id": operation.id,
        "name": operation.id,
        "status": operation.status,
        "startTime": operation.created_at.isoformat(),
    }
    if operation.ended_at is not None:
        document["endTime"] = operation.ended_at.isoformat()
    if operation.error:
        document["error"] = {"code": operation.error["code"], "message": operation.error["message"]}
    return document
