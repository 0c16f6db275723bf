"""Routes of run logs: append (the run side), read from an offset, list."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse
from sqlalchemy.orm import Session

from amlite.arm.tables import Resource
from amlite.identity.auth import authenticate
from amlite.runs import logs
from amlite.runs.service import get_run
from amlite.web.deps import DB, app_context
from amlite.web.responses import json_response
from amlite.workspaces.dataplane import WORKSPACE_PATH, in_workspace

router = APIRouter(dependencies=[Depends(authenticate)], tags=["history"])

RUN_LOGS = "/history/v1.0" + WORKSPACE_PATH + "/runs/{runId}/logs"
CHUNK = 1 << 16


@router.get(RUN_LOGS, operation_id="RunLogs_List")
def list_logs(request: Request, runId: str, workspace: Resource = in_workspace("experiments/runs/read"),
              session: Session = DB):
    run = get_run(session, workspace, runId)
    files = logs.list_logs(app_context(request).settings, workspace, run)
    return json_response({"value": [{"path": name, "size": size} for name, size in files.items()]})


@router.post(RUN_LOGS + "/{path:path}", operation_id="RunLogs_Append")
async def append_log(request: Request, runId: str, path: str,
                     workspace: Resource = in_workspace("experiments/runs/write"), session: Session = DB):
    run = get_run(session, workspace, runId)
    settings = app_context(request).settings
    size = logs.append(settings, workspace, run, path, await request.body(), settings.run_log_max_bytes)
    return json_response({"path": path, "size": size})


@router.get(RUN_LOGS + "/{path:path}", operation_id="RunLogs_Read")
def read_log(request: Request, runId: str, path: str, offset: int = Query(0, ge=0),
             workspace: Resource = in_workspace("experiments/runs/read"), session: Session = DB):
    run = get_run(session, workspace, runId)
    file = logs.open_log(app_context(request).settings, workspace, run, path)
    size = file.stat().st_size
    return StreamingResponse(_chunks(file, min(offset, size), size), media_type="text/plain; charset=utf-8",
                             headers={"x-ms-log-size": str(size), "x-ms-log-offset": str(min(offset, size))})


def _chunks(file: Path, start: int, end: int) -> Iterator[bytes]:
    """The bytes of [start, end): what existed when the read began, never a half-written tail."""
    with file.open("rb") as handle:
        handle.seek(start)
        remaining = end - start
        while remaining > 0:
            data = handle.read(min(CHUNK, remaining))
            if not data:
                break
            remaining -= len(data)
            yield data
