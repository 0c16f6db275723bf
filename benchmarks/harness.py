"""The two systems under test, started and stopped on loopback: amlite (via tests/server.py) and
MLflow's tracking server (from its own virtualenv, benchmarks/.venv-mlflow)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.resources import create_workspace  # noqa: E402
from tests.server import Backend, Server, free_port  # noqa: E402

MLFLOW_VENV = HERE / ".venv-mlflow"
MLFLOW_REQUIREMENTS = HERE / "requirements-mlflow.txt"
TIMEOUT = httpx.Timeout(300.0, connect=10.0)


def ensure_mlflow_venv() -> Path:
    """benchmarks/.venv-mlflow with the pinned MLflow server (made once; pip from the ordinary index)."""
    mlflow = MLFLOW_VENV / "bin" / "mlflow"
    if not mlflow.exists():
        print(f"creating {MLFLOW_VENV} (MLflow, psycopg2-binary) ...", file=sys.stderr, flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(MLFLOW_VENV)], check=True)
        subprocess.run([str(MLFLOW_VENV / "bin" / "python"), "-m", "pip", "install", "--quiet",
                        "-r", str(MLFLOW_REQUIREMENTS)], check=True)
    return mlflow


def mlflow_version() -> str:
    out = subprocess.run([str(MLFLOW_VENV / "bin" / "python"), "-c", "import mlflow; print(mlflow.__version__)"],
                         capture_output=True, text=True)
    return out.stdout.strip() or "?"


class PostgresDatabase:
    """A fresh database on the PostgreSQL server, dropped afterwards."""

    def __init__(self, admin_url: str, prefix: str) -> None:
        self.admin_url = admin_url
        self.name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with engine.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{self.name}"'))
        engine.dispose()

    def url(self, drivername: str) -> str:
        return make_url(self.admin_url).set(drivername=drivername, database=self.name).render_as_string(
            hide_password=False)

    def drop(self) -> None:
        engine = create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        with engine.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
        engine.dispose()


def postgres_version(admin_url: str) -> str:
    engine = create_engine(admin_url)
    with engine.connect() as connection:
        version = connection.execute(text("SHOW server_version")).scalar_one()
    engine.dispose()
    return str(version)


class Amlite:
    name = "amlite"

    def __init__(self, workdir: Path, backend: str, postgres_url: str | None,
                 env: dict[str, str] | None = None) -> None:
        self.workdir, self.backend_name, self.postgres_url = workdir / "amlite", backend, postgres_url
        self.env = env or {}  # extra environment variables of the server process (and so of its run agents)
        self.server: Server | None = None
        self.backend: Backend | None = None

    def start(self) -> Amlite:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.backend = Backend.sqlite() if self.backend_name == "sqlite" else Backend.postgresql(self.postgres_url)
        self.server = Server(self.workdir, self.backend, env=self.env).start()
        subscription = self.server.credentials["subscriptionId"]
        with self.server.client() as setup:  # the validating test client is fine for set-up
            self.workspace = create_workspace(setup, subscription, "bench-rg", "benchws")["id"]
        self.token = self.server.token()
        return self

    @property
    def log_path(self) -> Path:
        return self.workdir / "server.log"

    def client(self) -> httpx.Client:
        """A plain client (no swagger-validating hook: its cost is not amlite's)."""
        return httpx.Client(base_url=self.server.base_url, headers={"Authorization": f"Bearer {self.token}"},
                            timeout=TIMEOUT)

    def new_run(self, client: httpx.Client) -> str:
        run_id = f"bench_{uuid.uuid4().hex[:12]}"
        response = client.patch(f"/history/v1.0{self.workspace}/experiments/bench/runs/{run_id}",
                                json={"status": "Running"})
        response.raise_for_status()
        return run_id

    def v1_batch_url(self, run_id: str) -> str:
        return f"/history/v1.0{self.workspace}/experiments/bench/runs/{run_id}/batch/metrics"

    def v2_url(self, run_id: str, what: str) -> str:
        return f"/metric/v2.0{self.workspace}/runs/{run_id}/{what}"

    def stop(self) -> None:
        try:
            if self.server:
                self.server.stop()
        finally:
            if self.backend:
                self.backend.drop()


class MLflow:
    name = "MLflow"

    def __init__(self, workdir: Path, backend: str, postgres_url: str | None, workers: int) -> None:
        self.workdir, self.backend_name, self.postgres_url, self.workers = workdir / "mlflow", backend, postgres_url, workers
        self.process: subprocess.Popen | None = None
        self.database: PostgresDatabase | None = None
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.workdir / "server.log"

    def start(self) -> MLflow:
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self.backend_name == "sqlite":
            store = f"sqlite:///{(self.workdir / 'mlflow.db').as_posix()}"
        else:
            self.database = PostgresDatabase(self.postgres_url, "mlflow_bench")
            store = self.database.url("postgresql+psycopg2")  # psycopg2-binary, in MLflow's venv
        command = [str(MLFLOW_VENV / "bin" / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(self.port),
                   "--backend-store-uri", store, "--default-artifact-root", (self.workdir / "artifacts").as_uri(),
                   "--workers", str(self.workers)]
        self._log = self.log_path.open("ab")
        env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
        # Its own session (process group) so that stop() ends the server and its workers together.
        self.process = subprocess.Popen(command, stdout=self._log, stderr=subprocess.STDOUT, env=env,
                                        start_new_session=True)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"mlflow server exited early:\n{self.log_path.read_text(errors='replace')[-4000:]}")
            try:
                if httpx.get(f"{self.base_url}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.3)
        else:
            raise RuntimeError("mlflow server did not answer /health in 300 s")
        with self.client() as client:
            response = client.post("/api/2.0/mlflow/experiments/create", json={"name": "bench"})
            response.raise_for_status()
            self.experiment_id = response.json()["experiment_id"]
        return self

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=TIMEOUT)

    def new_run(self, client: httpx.Client) -> str:
        response = client.post("/api/2.0/mlflow/runs/create",
                               json={"experiment_id": self.experiment_id, "start_time": int(time.time() * 1000)})
        response.raise_for_status()
        return response.json()["run"]["info"]["run_id"]

    def stop(self) -> None:
        try:
            if self.process and self.process.poll() is None:
                os.killpg(self.process.pid, signal.SIGTERM)  # the group of the process started above
                try:
                    self.process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(self.process.pid, signal.SIGKILL)
                    self.process.wait()
            if self.process:
                self._log.close()
        finally:
            if self.database:
                self.database.drop()
