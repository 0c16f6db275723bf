"""A deployment on disk, and its replicas as processes.

A deployment (generation ``g`` of a service) is made once: its environment comes from the runs'
environment cache (compute/environments.py), its model files and assets are copied out of the artifact
store, laid out as Azure ML lays them out in a container (``azureml-models/{name}/{version}/...``; the
entry script and assets in the app folder, archives unpacked). Each replica then is a worker process
(scoring/worker.py) in its own session, started from the replica's ``config.json`` (again after a crash).
"""

from __future__ import annotations

import json
import math
import os
import posixpath
import shutil
import signal
import subprocess
import tarfile
import time
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from amlite.arm.tables import Resource
from amlite.artifacts.service import STORE_CONTAINER, Artifacts
from amlite.artifacts.stores import ArtifactStore
from amlite.compute import environments
from amlite.compute.backends.local import LocalBackend, start_ticks
from amlite.compute.layout import environment_cache
from amlite.context import AppContext
from amlite.endpoints import layout
from amlite.endpoints.logs import tail_lines
from amlite.errors import AmliteError
from amlite.registry.service import ARTIFACT_URL, Registry
from amlite.settings import Settings

WORKER = Path(__file__).parent / "scoring" / "worker.py"
STOP_GRACE_SECONDS = 10
ARCHIVES = (".tar.gz", ".tgz", ".tar", ".zip")


class DeploymentFailed(AmliteError):
    """A deployment could not be made or did not start; ``log`` is what explains it."""

    status = 400
    code = "DeploymentFailed"

    def __init__(self, message: str, *, code: str, log: str = "") -> None:
        super().__init__(message, code=code)
        self.log = log


@dataclass(frozen=True)
class Placement:
    """One file of the deployment: where it goes (relative to the deployment folder) and its blob."""

    destination: str
    account: str
    blob: str
    unpack: bool


def plan(context: AppContext, session: Session, workspace: Resource, spec: dict[str, Any]) -> list[Placement]:
    """Where each model file and asset goes (read in one short session; the bytes are copied later)."""
    registry = Registry.of(context, session, workspace)
    artifacts: Artifacts = registry.artifacts
    found = []
    for model_id in spec["modelIds"]:
        model = registry.get_model(model_id)
        for path, artifact in registry.files(model):
            found.append(Placement(f"azureml-models/{model.name}/{model.version}/{path}", artifacts.account,
                                   artifacts.blob_name(artifact.origin, artifact.container, artifact.path),
                                   model.unpack))
    for asset in spec["assets"]:
        artifact = artifacts.get_by_id(asset["url"][len(ARTIFACT_URL):])
        found.append(Placement(f"app/{posixpath.basename(artifact.path)}", artifacts.account,
                               artifacts.blob_name(artifact.origin, artifact.container, artifact.path),
                               bool(asset.get("unpack"))))
    return found


def model_dir(deployment: Path, spec: dict[str, Any]) -> Path:
    """``AZUREML_MODEL_DIR`` as Azure ML sets it: the model's own folder when one model is deployed."""
    models = deployment / "azureml-models"
    if len(spec["modelIds"]) == 1:
        name, _, version = spec["modelIds"][0].rpartition(":")
        return models / name / version
    return models


def materialize(store: ArtifactStore, deployment: Path, placements: list[Placement],
                log: Callable[[str], None]) -> None:
    (deployment / "app").mkdir(parents=True, exist_ok=True)
    (deployment / "azureml-models").mkdir(parents=True, exist_ok=True)
    for placement in placements:
        target = deployment / placement.destination
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            with target.open("wb") as handle:
                for chunk in store.read(placement.account, STORE_CONTAINER, placement.blob):
                    handle.write(chunk)
        except KeyError:
            raise DeploymentFailed(f"The file {placement.destination} has no content in the artifact store.",
                                   code="AssetNotFound") from None
        if placement.unpack and target.name.endswith(ARCHIVES):
            log(f"Unpacking {placement.destination}.")
            _unpack(target)


def _unpack(archive: Path) -> None:
    """Extract next to the archive, refusing members that would land outside it."""
    try:
        if archive.name.endswith(".zip"):
            with zipfile.ZipFile(archive) as bundle:
                root = archive.parent.resolve()
                for name in bundle.namelist():
                    if not (root / name).resolve().is_relative_to(root):
                        raise DeploymentFailed(f"{archive.name} holds a path outside its folder: {name}",
                                               code="InvalidAsset")
                bundle.extractall(archive.parent)
        else:
            with tarfile.open(archive) as bundle:
                bundle.extractall(archive.parent, filter="data")
    except (tarfile.TarError, zipfile.BadZipFile, OSError) as error:
        raise DeploymentFailed(f"{archive.name} could not be unpacked: {error}", code="InvalidAsset") from None
    archive.unlink()


def environment(settings: Settings, spec: dict[str, Any], log: Callable[[str], None]) -> tuple[Path, dict[str, str]]:
    """The python to run the replicas with (built or reused from the runs' cache) and the environment
    variables the environment sets."""
    parsed = environments.parse_environment(spec["environment"])
    for warning in environments.warnings(parsed):
        log(f"warning: {warning}")
    try:
        python = environments.EnvironmentCache(environment_cache(settings)).ensure(parsed, log)
    except environments.EnvironmentBuildError as error:
        raise DeploymentFailed(error.message, code="EnvironmentBuildFailed", log=error.output[-4000:]) from None
    return python, parsed.environment_variables


def replica_config(settings: Settings, service_id: str, generation: int, index: int, python: Path,
                   variables: dict[str, str], spec: dict[str, Any]) -> Path:
    """Write what starts replica ``index`` (its interpreter, environment, limits) and answer its folder."""
    deployment = layout.deployment_dir(settings, service_id, generation)
    folder = layout.replica_dir(settings, service_id, generation, index)
    folder.mkdir(parents=True, exist_ok=True)
    available = sorted(os.sched_getaffinity(0))
    count = min(len(available), max(1, math.ceil(spec["cpu"])))
    cpus = [available[(index + offset) % len(available)] for offset in range(count)]
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "USER")}
    threads = str(count)
    env = {**keep, "OMP_NUM_THREADS": threads, "OPENBLAS_NUM_THREADS": threads, "MKL_NUM_THREADS": threads,
           "AZUREML_ENTRY_SCRIPT": spec["driverProgram"], **variables,
           "AZUREML_MODEL_DIR": str(model_dir(deployment, spec)), "AML_APP_ROOT": str(deployment / "app"),
           "PYTHONUNBUFFERED": "1"}
    config = {"python": str(python), "env": env, "cwd": str(deployment / "app"), "worker": {
        "entryScript": str(deployment / "app" / spec["driverProgram"]), "appDir": str(deployment / "app"),
        "socketDir": str(layout.sockets_dir(settings)), "readyFile": str(folder / "ready.json"),
        "memoryLimitBytes": int(spec["memoryInGB"] * (1 << 30)), "cpus": cpus}}
    (folder / "config.json").write_text(json.dumps(config))
    return folder


class Replicas:
    """Starts, watches and stops worker processes. Children of this process are watched through their
    Popen (which knows their exit code); others, found after a restart, by pid and start time."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.children: dict[int, subprocess.Popen] = {}
        self.backend = LocalBackend()

    def launch(self, service_id: str, generation: int, index: int, restarts: int = 0) -> dict[str, Any]:
        folder = layout.replica_dir(self.settings, service_id, generation, index)
        config = json.loads((folder / "config.json").read_text())
        worker = {**config["worker"], "socket": f"{service_id[:12]}-{generation}-{index}-{uuid.uuid4().hex[:8]}.sock"}
        (folder / "ready.json").unlink(missing_ok=True)
        (folder / "worker.json").write_text(json.dumps(worker))
        layout.sockets_dir(self.settings).mkdir(mode=0o700, parents=True, exist_ok=True)
        with (folder / "worker.log").open("ab") as log:
            process = subprocess.Popen([config["python"], str(WORKER), str(folder / "worker.json")], cwd=config["cwd"],
                                       env=config["env"], stdin=subprocess.DEVNULL, stdout=log,
                                       stderr=subprocess.STDOUT, start_new_session=True)
        self.children[process.pid] = process
        (folder / "pid").write_text(str(process.pid))  # for a sweep that finds it without the store
        return {"index": index, "generation": generation, "pid": process.pid, "startTicks": start_ticks(process.pid),
                "socket": None, "restarts": restarts, "notBefore": 0}

    def ready_socket(self, service_id: str, handle: dict[str, Any]) -> str | None:
        ready = layout.replica_dir(self.settings, service_id, handle["generation"], handle["index"]) / "ready.json"
        try:
            found = json.loads(ready.read_text())
        except (OSError, ValueError):
            return None
        return found["socket"] if found.get("pid") == handle["pid"] else None

    def alive(self, handle: dict[str, Any]) -> bool:
        process = self.children.get(handle["pid"])
        if process is not None:
            return process.poll() is None
        return self.backend.poll(handle) == "alive"

    def exit_code(self, handle: dict[str, Any]) -> int | None:
        """The exit code of a replica that ended (None when it was not this process's child)."""
        process = self.children.pop(handle["pid"], None)
        return process.returncode if process is not None else None

    def log_tail(self, service_id: str, handle: dict[str, Any], lines: int = 40) -> str:
        path = layout.replica_dir(self.settings, service_id, handle["generation"], handle["index"]) / "worker.log"
        return "".join(tail_lines(path, lines))

    def note(self, service_id: str, handle: dict[str, Any], text: str) -> None:
        """A line of the supervisor's in the replica's log (it is part of what ``logs`` shows)."""
        path = layout.replica_dir(self.settings, service_id, handle["generation"], handle["index"]) / "worker.log"
        with path.open("a") as log:
            log.write(f"[amlite] {text}\n")

    def stop(self, handles: list[dict[str, Any]]) -> None:
        """SIGTERM (a worker ends after the request in hand), SIGKILL after a grace period."""
        live = [h for h in handles if h.get("pid") and self.alive(h)]
        for handle in live:
            _signal(handle["pid"], signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        while live and time.monotonic() < deadline:
            time.sleep(0.05)
            live = [h for h in live if self.alive(h)]
        for handle in live:
            _signal(handle["pid"], signal.SIGKILL)
        for handle in handles:
            if handle.get("pid") in self.children:
                self.children.pop(handle["pid"]).wait()
            self.forget(handle)

    def forget(self, handle: dict[str, Any]) -> None:
        """Remove the socket of a replica that ended."""
        if handle.get("socket"):
            (layout.sockets_dir(self.settings) / handle["socket"]).unlink(missing_ok=True)


def stop_orphans(settings: Settings, keep: set[str]) -> None:
    """Replicas of services that no longer exist (e.g. their workspace was deleted) are ended, their
    files removed. A pid counts only while its command line still names its replica's folder."""
    root = settings.data_dir / "services"
    for folder in root.iterdir() if root.is_dir() else ():
        if folder.name in keep:
            continue
        for pid_file in folder.glob("g*/r*/pid"):
            try:
                pid = int(pid_file.read_text())
                command = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
            except (OSError, ValueError):
                continue
            if str(pid_file.parent) in command:
                _signal(pid, signal.SIGKILL)
        remove(folder)


def _signal(pid: int, signum: int) -> None:
    try:
        os.killpg(pid, signum)  # the worker leads its session: whatever it started goes too
    except ProcessLookupError:
        pass


def remove(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
