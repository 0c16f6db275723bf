"""Start the real amlite server in a subprocess on a free port, and talk to it."""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tests.spec import SpecValidator

MANAGEMENT = "https://management.azure.com/"
# Validates every response of a test client whose operation the swagger specs describe.
SPECS = SpecValidator()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _die_with_parent() -> None:
    """Linux: the server gets SIGTERM when the test process dies, even if it was killed."""
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def processes_under(folder: Path) -> list[int]:
    """The pids whose command line or working directory is inside ``folder``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
            cwd = os.readlink(entry / "cwd")
        except OSError:
            continue
        if str(folder) in cmdline or cwd.startswith(str(folder)):
            found.append(int(entry.name))
    return found


def amlite_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "amlite", *args]


@dataclass
class Backend:
    """Where a test server keeps its metadata: a SQLite file or a fresh PostgreSQL database."""

    name: str
    database_url: str | None
    _admin_url: str | None = None
    _database: str | None = None

    @classmethod
    def sqlite(cls) -> Backend:
        return cls("sqlite", None)

    @classmethod
    def postgresql(cls, url: str) -> Backend:
        database = f"amlite_test_{uuid.uuid4().hex[:12]}"
        engine = create_engine(url, isolation_level="AUTOCOMMIT")
        with engine.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{database}"'))
        engine.dispose()
        return cls("postgresql", make_url(url).set(database=database).render_as_string(hide_password=False),
                   url, database)

    def drop(self) -> None:
        if self._admin_url and self._database:
            engine = create_engine(self._admin_url, isolation_level="AUTOCOMMIT")
            with engine.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{self._database}" WITH (FORCE)'))
            engine.dispose()


@dataclass
class Server:
    data_dir: Path
    backend: Backend
    tls: bool = False
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None
    credentials: dict = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    @property
    def ca_file(self) -> Path:
        return self.data_dir / "tls" / "ca.pem"

    @property
    def verify(self) -> ssl.SSLContext | bool:
        """What httpx should trust: the server's local CA when it serves https."""
        return ssl.create_default_context(cafile=str(self.ca_file)) if self.tls else True

    @property
    def store_args(self) -> list[str]:
        args = ["--data-dir", str(self.data_dir)]
        if self.backend.database_url:
            args += ["--database-url", self.backend.database_url]
        return args

    def start(self) -> Server:
        args = ["serve", "--port", str(self.port), *self.store_args]
        if self.tls:
            args.append("--tls")
        self.log = (self.data_dir / "server.log").open("ab")
        self.process = subprocess.Popen(amlite_command(*args), stdout=self.log, stderr=subprocess.STDOUT,
                                        env={**os.environ, **self.env}, preexec_fn=_die_with_parent)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"amlite exited early:\n{self.output()}")
            try:
                if httpx.get(f"{self.base_url}/health", verify=self.verify, timeout=2).status_code == 200:
                    break
            except (httpx.TransportError, OSError):
                time.sleep(0.2)
        else:
            raise RuntimeError(f"amlite did not answer /health in time:\n{self.output()}")
        self.credentials = json.loads((self.data_dir / "bootstrap-credentials.json").read_text())
        return self

    def stop_agents(self) -> None:
        """End the run agents (and their scripts) this server started: they outlive servers by design."""
        for pid in processes_under(self.data_dir / "runs"):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def output(self) -> str:
        return (self.data_dir / "server.log").read_text(errors="replace")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        env = {**os.environ, "AMLITE_PUBLIC_URL": self.base_url}
        result = subprocess.run(amlite_command(*args, *self.store_args), capture_output=True, text=True, env=env)
        if check and result.returncode != 0:
            raise AssertionError(f"amlite {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
        return result

    def new_principal(self, subscription: str, role: str, scope: str | None = None) -> dict:
        """A service principal made with the CLI; answers its auth-file document."""
        args = ["principal", "create", "--subscription", subscription, "--role", role, "--sdk-auth"]
        return json.loads(self.cli(*args, *(["--scope", scope] if scope else [])).stdout)

    def new_subscription(self, name: str, *extra: str) -> str:
        return json.loads(self.cli("subscription", "create", "--name", name, *extra, "--json").stdout)["subscriptionId"]

    def token(self, credentials: dict | None = None, resource: str = MANAGEMENT) -> str:
        credentials = credentials or self.credentials
        response = httpx.post(
            f"{self.base_url}/{credentials['tenantId']}/oauth2/token",
            data={"grant_type": "client_credentials", "resource": resource,
                  "client_id": credentials["clientId"], "client_secret": credentials["clientSecret"]},
            verify=self.verify, timeout=60,
        )
        response.raise_for_status()
        return response.json()["access_token"]

    def client(self, credentials: dict | None = None, token: str | None = None) -> httpx.Client:
        token = token or self.token(credentials)
        return httpx.Client(base_url=self.base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30,
                            verify=self.verify,
                            event_hooks={"response": [SPECS.check]})
