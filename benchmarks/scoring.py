"""Score one scikit-learn model over HTTP: an amlite service vs `mlflow models serve` vs a bare ASGI app.

    .venv/bin/python benchmarks/scoring.py --quick            # smoke run, about a minute
    .venv/bin/python benchmarks/scoring.py                    # 10 s per row
    .venv/bin/python benchmarks/scoring.py --workers 2 --seconds 20 --keep

One model (LogisticRegression on iris, saved by `mlflow.sklearn.save_model`) is served three ways, with the
same number of worker processes (--workers):

- amlite: the model's model.pkl registered, deployed with a score.py (pickle.load in init(), predict in run())
  as an ACI service with numReplicas = --workers; scored through the scoring front with a key;
- MLflow: `mlflow models serve -m <model dir> --env-manager local --workers N` (its uvicorn scoring server);
- ceiling: a bare ASGI app on uvicorn (`--workers N`) that reads the body and answers a constant.

The environment of amlite's service and MLflow's server is the same interpreter (benchmarks/.venv-mlflow:
same scikit-learn, same numpy). Each system runs alone. For each concurrency (1, 8, 32) a load generator in
this process (asyncio, raw HTTP/1.1 on kept-alive connections, one request at a time per connection) warms
up for a second, then measures --seconds: requests per second, and the latency of each request (p50, p99).
The predictions of amlite and MLflow are checked to be equal first.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import MLFLOW_VENV, Amlite, ensure_mlflow_venv, free_port, mlflow_version  # noqa: E402

from tests.services import deploy, deployment, keys, stop_scoring  # noqa: E402

SAMPLE = [[5.1, 3.5, 1.4, 0.2]]
CONCURRENCY = (1, 8, 32)
TRAIN = """
import sys
import mlflow.sklearn
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
features, labels = load_iris(return_X_y=True)
model = LogisticRegression(max_iter=1000).fit(features, labels)
mlflow.sklearn.save_model(model, sys.argv[1], serialization_format="pickle")
"""
SCORE = """
import json
import os
import pickle

import numpy as np


def init():
    global model
    with open(os.path.join(os.environ["AZUREML_MODEL_DIR"], "model.pkl"), "rb") as handle:
        model = pickle.load(handle)


def run(raw_data):
    return model.predict(np.array(json.loads(raw_data)["data"])).tolist()
"""
CEILING = """
BODY = b"[0]"
HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})
"""
# The same score.py behind a bare ASGI app, in the service's environment: the most any server can do
# with this model (no keys, no log, one hop, one process); amlite's distance to it is its own overhead.
MODEL_CEILING = """
import json

import score

score.init()


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    answer = json.dumps(score.run(body.decode())).encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(answer)).encode())]})
    await send({"type": "http.response.body", "body": answer})
"""


# --- load ------------------------------------------------------------------------------------------


@dataclass
class Row:
    requests: int = 0
    errors: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def percentile(self, fraction: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))] * 1000 if ordered else float("nan")


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length, chunked = 0, False
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    if not chunked:
        return status, await reader.readexactly(length)
    body = b""
    while size := int((await reader.readuntil(b"\r\n")).strip(), 16):
        body += await reader.readexactly(size + 2)
    await reader.readuntil(b"\r\n")
    return status, body


async def _client(host: str, port: int, request: bytes, until: float, measured_from: float, row: Row) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while (started := time.perf_counter()) < until:
            writer.write(request)
            status, _body = await _read_response(reader)
            if started >= measured_from:
                row.requests += 1
                row.latencies.append(time.perf_counter() - started)
                row.errors += status != 200
    finally:
        writer.close()


async def _load(url: str, body: bytes, headers: dict[str, str], concurrency: int, warmup: float,
                seconds: float) -> Row:
    parts = httpx.URL(url)
    extra = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    request = (f"POST {parts.raw_path.decode()} HTTP/1.1\r\nHost: {parts.host}:{parts.port}\r\n"
               f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n{extra}\r\n").encode() + body
    row = Row()
    start = time.perf_counter()
    measured_from, until = start + warmup, start + warmup + seconds
    await asyncio.gather(*(_client(parts.host, parts.port, request, until, measured_from, row)
                           for _ in range(concurrency)))
    row.seconds = time.perf_counter() - measured_from
    return row


def measure(url: str, body: dict, headers: dict[str, str], args) -> dict[int, Row]:
    payload = json.dumps(body).encode()
    return {c: asyncio.run(_load(url, payload, headers, c, args.warmup, args.seconds)) for c in CONCURRENCY}


# --- the three systems -----------------------------------------------------------------------------


def train(model_dir: Path) -> None:
    subprocess.run([str(MLFLOW_VENV / "bin" / "python"), "-c", TRAIN, str(model_dir)], check=True)


def wait_http(url: str, process: subprocess.Popen, log: Path, seconds: float = 300) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url} exited early:\n{log.read_text(errors='replace')[-4000:]}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{url} did not answer in {seconds} s")


class Process:
    """A server in its own process group, stopped with it."""

    def __init__(self, command: list[str], log: Path, cwd: Path | None = None,
                 env: dict[str, str] | None = None) -> None:
        self.log = log.open("ab")
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}, **(env or {})}
        env["PATH"] = os.pathsep.join([str(Path(command[0]).parent), env.get("PATH", "")])  # mlflow runs `uvicorn`
        self.process = subprocess.Popen(command, stdout=self.log, stderr=subprocess.STDOUT, cwd=cwd, env=env,
                                        start_new_session=True)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.log.close()


def run_amlite(workdir: Path, model_dir: Path, args) -> tuple[dict[int, Row], list]:
    amlite = Amlite(workdir, "sqlite", None).start()
    try:
        workspace = {"id": amlite.workspace}
        with amlite.server.client() as client:
            container = uuid.uuid4().hex[:8]
            artifact = f"/artifact/v2.0{amlite.workspace}/artifacts/content/LocalUpload/{container}/model.pkl"
            uploaded = client.post(artifact, content=(model_dir / "model.pkl").read_bytes())
            uploaded.raise_for_status()
            model = client.post(f"/modelmanagement/v1.0{amlite.workspace}/models", params={"api-version": "2018-11-19"},
                                json={"name": "iris", "url": f"aml://artifact/LocalUpload/{container}/model.pkl",
                                      "framework": "ScikitLearn"})
            model.raise_for_status()
            environment = {"python": {"userManagedDependencies": True,
                                      "interpreterPath": str(MLFLOW_VENV / "bin" / "python")}}
            body = deployment(client, workspace, "iris", SCORE, [model.json()["id"]], environment=environment,
                              numReplicas=args.workers,
                              containerResourceRequirements={"cpu": os.cpu_count(), "memoryInGB": 2})
            service = deploy(client, workspace, body)
            key = keys(client, workspace, "iris")["primaryKey"]
        headers = {"Authorization": f"Bearer {key}"}
        check = httpx.post(service["scoringUri"], json={"data": SAMPLE * 3}, headers=headers).json()
        return measure(service["scoringUri"], {"data": SAMPLE}, headers, args), check
    finally:
        amlite.stop()
        if amlite.server:
            stop_scoring(amlite.server.data_dir)


def run_mlflow(workdir: Path, model_dir: Path, args) -> tuple[dict[int, Row], list]:
    port = free_port()
    server = Process([str(MLFLOW_VENV / "bin" / "mlflow"), "models", "serve", "-m", str(model_dir), "--env-manager",
                      "local", "--host", "127.0.0.1", "--port", str(port), "--workers", str(args.workers)],
                     workdir / "mlflow.log")
    try:
        wait_http(f"http://127.0.0.1:{port}/ping", server.process, workdir / "mlflow.log")
        url = f"http://127.0.0.1:{port}/invocations"
        check = httpx.post(url, json={"inputs": SAMPLE * 3}).json()["predictions"]
        return measure(url, {"inputs": SAMPLE}, {}, args), check
    finally:
        server.stop()


def run_ceiling(workdir: Path, args, model_dir: Path | None = None) -> dict[int, Row]:
    """The bare ASGI app on uvicorn; with ``model_dir``, the one that calls score.py (``AZUREML_MODEL_DIR``
    set as amlite sets it). Both in the MLflow environment: the interpreter of amlite's service, and the
    uvicorn that serves MLflow."""
    folder = workdir / ("model-ceiling" if model_dir else "ceiling")
    folder.mkdir()
    (folder / "ceiling_app.py").write_text(MODEL_CEILING if model_dir else CEILING)
    if model_dir:
        (folder / "score.py").write_text(SCORE)
    port = free_port()
    workers = ["--workers", str(args.workers)] if args.workers > 1 else []
    server = Process([str(MLFLOW_VENV / "bin" / "python"), "-m", "uvicorn", "ceiling_app:app", "--host", "127.0.0.1",
                      "--port", str(port), "--log-level", "warning", "--no-access-log", *workers], folder / "ceiling.log",
                     cwd=folder,
                     env={"AZUREML_MODEL_DIR": str(model_dir)} if model_dir else None)
    try:
        url = f"http://127.0.0.1:{port}/score"
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.post(url, json={"data": SAMPLE}).raise_for_status()
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or server.process.poll() is not None:
                    raise
                time.sleep(0.2)
        return measure(url, {"data": SAMPLE}, {}, args)
    finally:
        server.stop()


# --- report ----------------------------------------------------------------------------------------


def render(results: dict[str, dict[int, Row]]) -> str:
    header = ["concurrency", "system", "requests/s", "p50 ms", "p99 ms", "errors", "vs MLflow (req/s)",
              "vs ceiling (req/s)", "vs ceiling + score.py"]
    rows = []
    for concurrency in CONCURRENCY:
        mlflow, ceiling = results["MLflow"][concurrency], results["ceiling (bare ASGI)"][concurrency]
        with_model = results["bare ASGI + score.py"][concurrency]
        for name, by_concurrency in results.items():
            row = by_concurrency[concurrency]
            rows.append([str(concurrency), name, f"{row.rate:,.0f}", f"{row.percentile(0.5):.2f}",
                         f"{row.percentile(0.99):.2f}", str(row.errors),
                         f"{row.rate / mlflow.rate:.2f}x" if mlflow.rate else "-",
                         f"{row.rate / ceiling.rate:.0%}" if ceiling.rate else "-",
                         f"{row.rate / with_model.rate:.0%}" if with_model.rate else "-"])
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    line = lambda cells: "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths)) + " |"  # noqa: E731
    return "\n".join([line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, rows)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=1, help="worker processes of each system (default 1)")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per row (default 10)")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds of load before measuring (default 1)")
    parser.add_argument("--quick", action="store_true", help="3 s per row")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (server logs)")
    args = parser.parse_args()
    if args.quick:
        args.seconds = 3.0
    ensure_mlflow_venv()
    workdir = Path(tempfile.mkdtemp(prefix="amlite-bench-scoring-"))
    try:
        model_dir = workdir / "model"
        train(model_dir)
        results: dict[str, dict[int, Row]] = {}
        print("amlite ...", file=sys.stderr, flush=True)
        results["amlite"], amlite_check = run_amlite(workdir, model_dir, args)
        print("MLflow ...", file=sys.stderr, flush=True)
        results["MLflow"], mlflow_check = run_mlflow(workdir, model_dir, args)
        print("ceiling ...", file=sys.stderr, flush=True)
        results["ceiling (bare ASGI)"] = run_ceiling(workdir, args)
        print("ceiling with the model ...", file=sys.stderr, flush=True)
        results["bare ASGI + score.py"] = run_ceiling(workdir, args, model_dir)
        if amlite_check != mlflow_check:
            print(f"WARNING: predictions differ: amlite {amlite_check}, MLflow {mlflow_check}", file=sys.stderr)
        rev = subprocess.run(["git", "-C", str(Path(__file__).resolve().parent.parent), "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True).stdout.strip()
        print(f"amlite {rev or '?'}, MLflow {mlflow_version()}, Python {platform.python_version()}, "
              f"{os.cpu_count()} CPUs, {args.workers} worker(s) each, {args.seconds:g} s per row; "
              f"predictions equal: {amlite_check == mlflow_check}\n")
        print(render(results))
    finally:
        if args.keep:
            print(f"\nwork directory kept: {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
