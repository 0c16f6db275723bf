"""What ``GET .../services/{id}/logs?tail=N`` shows: each replica's output (the entry script's prints and
tracebacks, and the supervisor's notes) and the service's request records from the Application Insights
component's log."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

BLOCK = 64 << 10


def tail_lines(path: Path, count: int) -> list[str]:
    """The last ``count`` lines of a text file (read backwards, a block at a time)."""
    if count <= 0:
        return []
    try:
        handle = path.open("rb")
    except OSError:
        return []
    with handle:
        end = handle.seek(0, 2)
        data = b""
        while end > 0 and data.count(b"\n") <= count:
            start = max(0, end - BLOCK)
            handle.seek(start)
            data = handle.read(end - start) + data
            end = start
    return [line.decode(errors="replace") + "\n" for line in data.splitlines()[-count:]]


def request_lines(path: Path, count: int) -> list[str]:
    """Request records as ``time  request  status  duration  replica`` lines."""
    lines = []
    for line in tail_lines(path, count):
        try:
            record: dict[str, Any] = json.loads(line)
        except ValueError:
            continue
        lines.append(f"{record['time']}  {record['name']}  {record['resultCode']}  {record['durationMs']} ms  "
                     f"replica {record.get('replica') or '-'}\n")
    return lines


def service_logs(replica_logs: list[tuple[str, Path]], requests: tuple[str, Path], count: int) -> str:
    """``replica_logs``: (title, worker.log) of each replica; ``requests``: (title, request log)."""
    parts = []
    for title, path in replica_logs:
        parts.append(f"=== {title} ===\n")
        parts += tail_lines(path, count)
    title, path = requests
    parts.append(f"=== {title} ===\n")
    parts += request_lines(path, count)
    return "".join(parts)
