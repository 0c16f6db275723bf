"""Metric ingest and full-series read: amlite vs MLflow's tracking server, same machine, one run.

    .venv/bin/python benchmarks/metrics.py --quick               # smoke run, a minute or two
    .venv/bin/python benchmarks/metrics.py                       # 100,000-point ingests, 1,000,000-point read
    .venv/bin/python benchmarks/metrics.py --backends sqlite --points 1000000 --ingest-points 200000

For each store (SQLite, PostgreSQL) each system is started alone (never both at once), measured,
stopped, and its database dropped. See benchmarks/README.md for what each row means.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import Amlite, MLflow, ensure_mlflow_venv, mlflow_version, postgres_version  # noqa: E402

METRIC = "loss"
JSON = {"Content-Type": "application/json"}
MLFLOW_BATCH_CAP = 1000  # MLflow's MAX_METRICS_PER_BATCH
MLFLOW_INTERVAL_CAP = 2500  # MLflow's MAX_RESULTS_PER_RUN for get-history-bulk-interval


def value(i: int) -> float:
    return 1.0 / (i + 1)


# --- request bodies (built before the clock starts) ------------------------------------------


def v1_body(start: int, count: int) -> bytes:
    schema = {"numProperties": 1, "properties": [{"propertyId": METRIC, "name": METRIC, "type": "float"}]}
    return json.dumps({"values": [
        {"metricId": str(uuid.uuid4()), "metricType": "azureml.v1.scalar", "name": METRIC, "numCells": 1,
         "cells": [{METRIC: value(i)}], "schema": schema}
        for i in range(start, start + count)]}).encode()


def v2_body(start: int, count: int) -> bytes:
    return json.dumps({"values": [{
        "name": METRIC, "columns": {METRIC: "Double"}, "properties": {"uxMetricType": "azureml.v1.scalar"},
        "value": [{"metricId": str(uuid.uuid4()), "step": i, "data": {METRIC: value(i)}}
                  for i in range(start, start + count)]}]}).encode()


def mlflow_body(run_id: str, start: int, count: int) -> bytes:
    now = int(time.time() * 1000)
    return json.dumps({"run_id": run_id, "metrics": [
        {"key": METRIC, "value": value(i), "timestamp": now, "step": i} for i in range(start, start + count)]}).encode()


def batches(total: int, size: int, build: Callable[[int, int], bytes]) -> list[tuple[bytes, int]]:
    return [(build(start, min(size, total - start)), min(size, total - start)) for start in range(0, total, size)]


# --- measurements ------------------------------------------------------------------------------


@dataclass
class Result:
    points: int = 0  # points stored (ingest) or read back (read)
    seconds: float = 0.0
    requests: int = 0
    errors: list[str] = field(default_factory=list)
    note: str = ""
    failed: bool = False

    @property
    def rate(self) -> float:
        return self.points / self.seconds if self.seconds else 0.0

    def refused(self, response: httpx.Response) -> bool:
        """Count the request; a non-200 answer is recorded and ends the measurement."""
        self.requests += 1
        if response.status_code == 200:
            return False
        self.errors.append(f"HTTP {response.status_code}: {response.text[:200]}")
        self.failed = True
        return True


def post_all(make_client: Callable[[], httpx.Client], url: str, bodies: list[tuple[bytes, int]], threads: int,
             budget: float) -> Result:
    """POST every body, ``threads`` clients at once (each its own httpx.Client); stops taking new
    bodies once ``budget`` seconds have passed."""
    result, lock, position = Result(), threading.Lock(), iter(range(len(bodies)))
    clients = [make_client() for _ in range(threads)]
    started = time.perf_counter()
    deadline = started + budget

    def work(client: httpx.Client) -> None:
        while time.perf_counter() < deadline:
            with lock:
                index = next(position, None)
            if index is None:
                return
            body, count = bodies[index]
            try:
                response = client.post(url, content=body, headers=JSON)
                ok, detail = response.status_code < 300, f"HTTP {response.status_code}: {response.text[:200]}"
            except httpx.HTTPError as error:
                ok, detail = False, f"{type(error).__name__}: {error}"
            with lock:
                result.requests += 1
                if ok:
                    result.points += count
                else:
                    result.errors.append(detail)

    workers = [threading.Thread(target=work, args=(client,)) for client in clients]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    result.seconds = time.perf_counter() - started
    for client in clients:
        client.close()
    if result.requests < len(bodies):
        result.note = f"stopped by --budget after {result.requests} of {len(bodies)} requests"
    return result


class Coverage:
    """Which steps 0..n-1 a read returned (each exactly once)."""

    def __init__(self, n: int) -> None:
        self.seen, self.n, self.duplicates, self.outside = bytearray(n), n, 0, 0

    def add(self, step: int) -> None:
        if not 0 <= step < self.n:
            self.outside += 1
        elif self.seen[step]:
            self.duplicates += 1
        else:
            self.seen[step] = 1

    def problems(self) -> str:
        missing = self.n - sum(self.seen)
        parts = [f"{missing} missing" if missing else "", f"{self.duplicates} duplicated" if self.duplicates else "",
                 f"{self.outside} unexpected" if self.outside else ""]
        return ", ".join(p for p in parts if p)


def read_amlite(system: Amlite, run_id: str, expected: int, page: int, budget: float) -> Result:
    result, coverage, token = Result(), Coverage(expected), None
    started = time.perf_counter()
    with system.client() as client:
        while True:
            if time.perf_counter() - started > budget:
                result.note = f"stopped by --budget after {result.points} points"
                break
            response = client.post(system.v2_url(run_id, "full"),
                                    json={"metricName": METRIC, "top": page, "continuationToken": token})
            if result.refused(response):
                break
            body = response.json()
            for point in body["value"]:
                coverage.add(point["step"])
            result.points += len(body["value"])
            token = body.get("continuationToken")
            if not token:
                break
    result.seconds = time.perf_counter() - started
    if not result.note and (problems := coverage.problems()):
        result.note = f"series check: {problems}"
    return result


def read_mlflow(system: MLflow, run_id: str, expected: int, page: int | None, budget: float) -> Result:
    """``get-history`` page by page (``max_results`` + ``page_token``), or in one response (page=None)."""
    result, coverage, token = Result(), Coverage(expected), None
    started = time.perf_counter()
    with httpx.Client(base_url=system.base_url, timeout=httpx.Timeout(budget, connect=10)) as client:
        while True:
            if time.perf_counter() - started > budget:
                result.note = f"stopped by --budget after {result.points} points"
                break
            params = {"run_id": run_id, "metric_key": METRIC}
            if page:
                params["max_results"] = str(page)
            if token:
                params["page_token"] = token
            try:
                response = client.get("/api/2.0/mlflow/metrics/get-history", params=params)
            except httpx.TimeoutException:
                result.note = f"no answer within --budget ({budget:.0f} s)"
                result.failed = True
                break
            if result.refused(response):
                break
            body = response.json()
            for point in body.get("metrics", []):
                coverage.add(int(point.get("step", 0)))
            result.points += len(body.get("metrics", []))
            token = body.get("next_page_token")
            if not page or not token:
                break
    result.seconds = time.perf_counter() - started
    if not result.note and (problems := coverage.problems()):
        result.note = f"series check: {problems}"
    return result


def mlflow_interval_probe(system: MLflow, run_id: str) -> str:
    """What get-history-bulk-interval gives for the whole series (it samples; at most 2,500 per run)."""
    with system.client() as client:
        response = client.get("/api/2.0/mlflow/metrics/get-history-bulk-interval",
                              params={"run_ids": run_id, "metric_key": METRIC, "max_results": MLFLOW_INTERVAL_CAP})
    if response.status_code != 200:
        return f"HTTP {response.status_code}"
    return f"{len(response.json().get('metrics', []))} sampled points"


# --- one system on one store -------------------------------------------------------------------


def log_findings(path: Path, patterns: str = r"unhandled error|Traceback|database is locked|OperationalError|deadlock|"
                                                r"\" 5\d\d |ERROR|Error:") -> list[str]:
    if not path.exists():
        return []
    return [line.rstrip() for line in path.read_text(errors="replace").splitlines() if re.search(patterns, line)]


def measure_amlite(system: Amlite, args, results: dict) -> None:
    with system.client() as client:
        warm = system.new_run(client)
        client.post(system.v2_url(warm, "batch"), content=v2_body(0, args.batch), headers=JSON).raise_for_status()
        client.post(system.v1_batch_url(warm), content=v1_body(0, args.batch), headers=JSON).raise_for_status()
        runs = {key: system.new_run(client) for key in ("v1-1", "v1-n", "v2-1", "v2-n", "load")}
    for kind, build in (("v1", v1_body), ("v2", v2_body)):
        bodies = batches(args.ingest_points, args.batch, build)
        for threads in (1, args.threads):
            key = f"{kind}-{1 if threads == 1 else 'n'}"
            url = system.v1_batch_url(runs[key]) if kind == "v1" else system.v2_url(runs[key], "batch")
            results[("ingest", kind, threads)] = post_all(system.client, url, bodies, threads, args.budget)
            print(f"  amlite ingest {kind} x{threads}: {results[('ingest', kind, threads)].rate:,.0f} pts/s",
                  file=sys.stderr, flush=True)
    bodies = batches(args.points, args.batch, v2_body)
    load = results[("load",)] = post_all(system.client, system.v2_url(runs["load"], "batch"), bodies, args.threads,
                                         args.budget)
    print(f"  amlite load {load.points:,} pts: {load.rate:,.0f} pts/s", file=sys.stderr, flush=True)
    del bodies
    results[("read", "paged")] = read_amlite(system, runs["load"], load.points, args.page, args.budget)
    print(f"  amlite read: {results[('read', 'paged')].rate:,.0f} pts/s", file=sys.stderr, flush=True)


def measure_mlflow(system: MLflow, args, results: dict) -> None:
    with system.client() as client:
        warm = system.new_run(client)
        client.post("/api/2.0/mlflow/runs/log-batch", content=mlflow_body(warm, 0, args.batch),
                    headers=JSON).raise_for_status()
        runs = {key: system.new_run(client) for key in ("1", "n", "load")}
    url = "/api/2.0/mlflow/runs/log-batch"
    for threads in (1, args.threads):
        run_id = runs["1" if threads == 1 else "n"]
        bodies = batches(args.ingest_points, args.batch, lambda start, count, r=run_id: mlflow_body(r, start, count))
        results[("ingest", threads)] = post_all(system.client, url, bodies, threads, args.budget)
        print(f"  MLflow ingest x{threads}: {results[('ingest', threads)].rate:,.0f} pts/s", file=sys.stderr,
              flush=True)
    bodies = batches(args.points, args.batch, lambda start, count: mlflow_body(runs["load"], start, count))
    load = results[("load",)] = post_all(system.client, url, bodies, args.threads, args.budget)
    print(f"  MLflow load {load.points:,} pts: {load.rate:,.0f} pts/s", file=sys.stderr, flush=True)
    del bodies
    results[("read", "paged")] = read_mlflow(system, runs["load"], load.points, args.page, args.budget)
    print(f"  MLflow paged read: {results[('read', 'paged')].rate:,.0f} pts/s", file=sys.stderr, flush=True)
    results[("read", "whole")] = read_mlflow(system, runs["load"], load.points, None, args.budget)
    print(f"  MLflow one-response read: {results[('read', 'whole')].rate:,.0f} pts/s", file=sys.stderr, flush=True)
    results["interval"] = mlflow_interval_probe(system, runs["load"])


def run_system(system, measure, args) -> tuple[dict, list[str]]:
    results: dict = {}
    print(f"[{system.backend_name}] starting {system.name} ...", file=sys.stderr, flush=True)
    try:
        system.start()
        measure(system, args, results)
    except Exception as error:  # noqa: BLE001 - report it in the table, keep the other measurements
        results["crash"] = f"{type(error).__name__}: {error}"
        print(f"  {system.name} failed: {results['crash']}", file=sys.stderr, flush=True)
    finally:
        findings = log_findings(system.log_path)
        if args.keep:
            print(f"  logs kept: {system.log_path}", file=sys.stderr)
        system.stop()
    return results, findings


# --- the table ---------------------------------------------------------------------------------


def fmt_rate(result: Result | None) -> str:
    if result is None:
        return "n/a"
    text = f"{result.rate:,.0f} ({result.seconds:.1f} s)"
    if result.failed and not result.points:
        text = "failed"
    return text


def ratio(a: Result | None, b: Result | None) -> str:
    if not a or not b or not a.rate or not b.rate:
        return "n/a"
    return f"{a.rate / b.rate:.1f}x"


def notes(*results: tuple[str, Result | None]) -> str:
    parts = []
    for who, result in results:
        if result is None:
            continue
        if result.errors:
            parts.append(f"{who}: {len(result.errors)} failed requests (first: {result.errors[0][:120]})")
        if result.note:
            parts.append(f"{who}: {result.note}")
    return "; ".join(parts)


def table(backend: str, args, amlite: dict, mlflow: dict) -> list[list[str]]:
    rows = []
    n, series = args.threads, f"{args.points:,}-pt series"
    for kind, label in (("v1", "ingest: amlite history v1.0 batch/metrics [A]"),
                        ("v2", "ingest: amlite metric v2.0 batch [B]")):
        for threads in (1, n):
            a, m = amlite.get(("ingest", kind, threads)), mlflow.get(("ingest", threads))
            rows.append([backend, f"{label}, {args.ingest_points:,} pts", str(threads), fmt_rate(a), fmt_rate(m),
                         ratio(a, m), notes(("amlite", a), ("MLflow", m))])
    a, m = amlite.get(("load",)), mlflow.get(("load",))
    rows.append([backend, f"ingest of the {series} read below [B]", str(n), fmt_rate(a), fmt_rate(m), ratio(a, m),
                 notes(("amlite", a), ("MLflow", m))])
    a = amlite.get(("read", "paged"))
    for key, label in (("paged", f"read {series}, pages of {args.page:,} [C]"),
                       ("whole", f"read {series}, MLflow in one response [D]")):
        m = mlflow.get(("read", key))
        rows.append([backend, label, "1", fmt_rate(a), fmt_rate(m), ratio(a, m), notes(("amlite", a), ("MLflow", m))])
    if "interval" in mlflow:
        rows.append([backend, f"MLflow get-history-bulk-interval on the {series} [E]", "1", "-", mlflow["interval"],
                     "-", f"not a full read: at most {MLFLOW_INTERVAL_CAP:,} points per run, sampled by step"])
    for who, results in (("amlite", amlite), ("MLflow", mlflow)):
        if "crash" in results:
            rows.append([backend, f"{who} stopped early", "-", "-", "-", "-", results["crash"][:300]])
    return [[" ".join(cell.split()) for cell in row] for row in rows]


LEGEND = """\
[A] POST /history/v1.0{ws}/experiments/{exp}/runs/{id}/batch/metrics, 1,000 MetricDtos (numCells 1) per request
[B] POST /metric/v2.0{ws}/runs/{id}/batch, one series of 1,000 values (explicit steps) per request
    MLflow column of [A] and [B]: POST /api/2.0/mlflow/runs/log-batch, 1,000 metrics per request (its cap)
    All writers of a measurement log to the same run and metric.
[C] amlite POST /metric/v2.0{ws}/runs/{id}/full {metricName, top, continuationToken} until no token;
    MLflow GET /api/2.0/mlflow/metrics/get-history?max_results=&page_token= (its SQL store pages by OFFSET)
[D] MLflow GET get-history without max_results: the whole series in one response (amlite column repeats [C])
[E] GET /api/2.0/mlflow/metrics/get-history-bulk-interval: MLflow's UI read; samples, cannot return a full series
Reads are checked: every step 0..n-1 exactly once (a failure shows in the notes). Times include the
client's JSON parsing, the same for both."""


def render(rows: list[list[str]]) -> str:
    header = ["store", "measurement", "clients", "amlite pts/s (wall)", "MLflow pts/s (wall)", "amlite/MLflow", "notes"]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    line = lambda cells: "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths)) + " |"  # noqa: E731
    return "\n".join([line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, rows)])


def environment(args) -> str:
    rev = subprocess.run(["git", "-C", str(Path(__file__).resolve().parent.parent), "rev-parse", "--short", "HEAD"],
                         capture_output=True, text=True).stdout.strip()
    parts = [f"amlite {rev or '?'} (one uvicorn process, as `amlite serve` runs)",
             f"MLflow {mlflow_version()} (`mlflow server --workers {args.mlflow_workers}`)",
             f"Python {platform.python_version()}", f"SQLite {sqlite3.sqlite_version}", f"{os.cpu_count()} CPUs"]
    if "postgresql" in args.backends:
        parts.append(f"PostgreSQL {postgres_version(args.postgres_url)}")
    return ", ".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--points", type=int, default=1_000_000, help="size of the series read back (default 1,000,000)")
    parser.add_argument("--ingest-points", type=int, default=100_000, help="points per ingest measurement")
    parser.add_argument("--batch", type=int, default=1000, help="points per request (MLflow allows at most 1,000)")
    parser.add_argument("--page", type=int, default=10_000, help="points per read page (amlite serves at most 10,000)")
    parser.add_argument("--threads", type=int, default=4, help="concurrent clients for the multi-client rows")
    parser.add_argument("--backends", default="sqlite,postgresql", help="comma-separated: sqlite,postgresql")
    parser.add_argument("--postgres-url", default=os.environ.get("AMLITE_BENCH_POSTGRES_URL",
                                                                 "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"),
                        help="admin URL of a loopback PostgreSQL (fresh databases are created and dropped)")
    parser.add_argument("--mlflow-workers", type=int, default=1, help="MLflow server worker processes (default 1, "
                        "like amlite's one process)")
    parser.add_argument("--budget", type=float, default=900, help="seconds after which one measurement stops")
    parser.add_argument("--quick", action="store_true", help="smoke run: 20,000-pt series, 5,000-pt ingests")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (server logs, SQLite files)")
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    args = parser.parse_args(argv)
    if args.quick:
        args.points, args.ingest_points = min(args.points, 20_000), min(args.ingest_points, 5_000)
    if args.batch > MLFLOW_BATCH_CAP:
        parser.error(f"--batch: MLflow's log-batch takes at most {MLFLOW_BATCH_CAP} metrics")
    args.backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    if unknown := set(args.backends) - {"sqlite", "postgresql"}:
        parser.error(f"--backends: unknown {', '.join(sorted(unknown))}")

    ensure_mlflow_venv()
    about = environment(args)
    workdir = Path(tempfile.mkdtemp(prefix="amlite-bench-"))
    rows, findings, raw = [], [], {}
    started = time.monotonic()
    try:
        for backend in args.backends:
            postgres = args.postgres_url if backend == "postgresql" else None
            amlite, amlite_log = run_system(Amlite(workdir / backend, backend, postgres), measure_amlite, args)
            mlflow, mlflow_log = run_system(MLflow(workdir / backend, backend, postgres, args.mlflow_workers),
                                            measure_mlflow, args)
            rows += table(backend, args, amlite, mlflow)
            print(render(table(backend, args, amlite, mlflow)), file=sys.stderr, flush=True)
            findings += [f"[{backend}] amlite: {line}" for line in amlite_log]
            findings += [f"[{backend}] MLflow: {line}" for line in mlflow_log]
            raw[backend] = {"amlite": {repr(k): vars(v) if isinstance(v, Result) else v for k, v in amlite.items()},
                            "mlflow": {repr(k): vars(v) if isinstance(v, Result) else v for k, v in mlflow.items()}}
    finally:
        if args.keep:
            print(f"work directory kept: {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    print(f"\n{about}")
    print(f"batches of {args.batch:,} points; '{args.threads}' clients = {args.threads} threads, each its own "
          f"httpx.Client, sharing one queue of pre-serialized bodies; '1' = one client, one request at a time; "
          f"total {time.monotonic() - started:.0f} s\n")
    print(render(rows))
    print(f"\n{LEGEND}")
    if findings:
        print(f"\nserver log lines that look like errors ({len(findings)}; first 20):")
        for line in findings[:20]:
            print(f"  {line[:300]}")
    if args.json:
        args.json.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "results": raw},
                                        indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
