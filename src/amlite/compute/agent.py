"""The run agent: one process per run, in its own session, supervising the run from environment to
final status. It talks to the server only over HTTP with the run's token, retrying while the
server restarts, so a run outlives its server.

``python -m amlite.compute.agent <config.json>``; the configuration is written by the scheduler (and
rewritten by the Ray backend: relative paths in it are relative to the configuration file).
"""

from __future__ import annotations

import ctypes
import json
import os
import resource
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

# httpx imports its command-line tool whenever click and rich are installed (amlite's CLI has them);
# the agent never uses it, and skipping it takes a quarter of a second off every run's start.
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]

import certifi  # noqa: E402
import httpx  # noqa: E402

from amlite.compute import environments, snapshots  # noqa: E402

CONTROL_LOG = "azureml-logs/60_control_log.txt"
# the run's files are artifacts of this origin, in the run's data container
ARTIFACT_ORIGIN = "ExperimentRun"
KILL_GRACE_SECONDS = 10
LOG_FLUSH_SECONDS = 0.5
SERVER_PATIENCE_SECONDS = 900
NODE_LOST = ("The Ray job that ran this run ended under it: its supervisor died (the Ray head or the run's "
             "node was lost), so the run's processes were stopped.")


def data_reference_variable(name: str) -> str:
    return f"AZUREML_DATAREFERENCE_{name}"


def _expand(argument: str, paths: dict[str, str]) -> str:
    """``$AZUREML_DATAREFERENCE_x`` in an argument becomes the data's path, as Azure ML does."""
    for variable in sorted(paths, key=len, reverse=True):
        argument = argument.replace(f"${variable}", paths[variable])
    return argument


def driver_log(rank: int) -> str:
    return "azureml-logs/70_driver_log.txt" if rank == 0 else f"azureml-logs/70_driver_log_{rank}.txt"


class Server:
    """The history API as the agent sees it: calls retried while the server is away."""

    def __init__(self, config: dict[str, Any]) -> None:
        verify: Any = config.get("caFile") or True
        self.client = httpx.Client(headers={"Authorization": f"Bearer {config['token']}"}, verify=verify,
                                   timeout=30)
        self.run_url = config["runUrl"]
        self.logs_url = config["logsUrl"]
        self.content_url = f"{config['artifactsUrl']}/content/{ARTIFACT_ORIGIN}/{config['dataContainerId']}"
        self.run_id = config["runId"]

    def call(self, method: str, url: str, file: Path | None = None, **kwargs: Any) -> httpx.Response | None:
        """The response (below 500), or None once the server stayed away too long; ``file`` is sent as
        the body, read afresh at each attempt."""
        deadline = time.monotonic() + SERVER_PATIENCE_SECONDS
        delay = 0.5
        while True:
            try:
                if file is None:
                    response = self.client.request(method, url, **kwargs)
                else:
                    with file.open("rb") as content:
                        response = self.client.request(method, url, content=content, **kwargs)
                if response.status_code < 500:
                    return response
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                return None
            time.sleep(delay)
            delay = min(delay * 2, 10)

    def status(self, status: str) -> bool:
        """False when the server refused the move: the run was canceled (or ended) meanwhile."""
        response = self.call("PATCH", self.run_url, json={"status": status})
        return response is None or response.status_code != 400

    def event(self, name: str, **data: Any) -> None:
        self.call("POST", f"{self.run_url}/events",
                  json={"name": f"Microsoft.MachineLearning.Run.{name}", "data": {"RunId": self.run_id, **data}})

    def fail(self, code: str, message: str) -> None:
        self.event("Error", ErrorResponse={"error": {"code": code, "message": message}})
        self.event("Failed")

    def append(self, path: str, data: bytes) -> None:
        self.call("POST", f"{self.logs_url}/{path}", content=data)

    def upload(self, files: dict[str, Path]) -> list[str]:
        """Each file as an artifact of the run, through the artifact API's direct upload (the server's
        blob links may name hosts only the run's scripts resolve); answers what failed, and why."""
        failures = []
        for name in sorted(files):
            response = self.call("POST", f"{self.content_url}/{quote(name)}", file=files[name],
                                 headers={"Content-Type": _content_type(name)})
            if response is None or response.status_code != 200:
                failures.append(f"{name}: {_reason(response)}")
        return failures


class NodeServer(Server):
    """The server as the agent of one node of a multi-node Ray run sees it (amlite/compute/ray/launcher.py):
    the node's end goes to ``resultFile`` for the launcher, which reports the run's end from all nodes';
    only the leader (rank 0's node) reports the statuses on the way."""

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__(config)
        self.leader = bool(config.get("leader"))
        self.result_file = Path(config["resultFile"])
        self.error: dict[str, Any] | None = None

    def status(self, status: str) -> bool:
        return super().status(status) if self.leader else True

    def event(self, name: str, **data: Any) -> None:
        if name == "Error":
            self.error = data["ErrorResponse"]
        elif name in ("Completed", "Canceled", "Failed"):
            self.result_file.write_text(json.dumps({"status": name, "error": self.error}))
        elif name != "Start" or self.leader:
            super().event(name, **data)


def _reason(response: httpx.Response | None) -> str:
    return "the server did not answer" if response is None else f"HTTP {response.status_code} {response.text[:300]}"


def _content_type(name: str) -> str:
    return "text/plain" if name.endswith((".txt", ".log")) else "application/octet-stream"


@dataclass
class LogPump:
    """Lines from a process (or the agent), sent to one log file in chunks every half second."""

    server: Server
    path: str
    local: Path | None = None  # a copy kept by the agent, uploaded as the run's artifact at the end
    tail: list[str] = field(default_factory=list)
    _buffer: list[bytes] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _sending: threading.Lock = field(default_factory=threading.Lock)  # flushes one at a time, in order

    def write(self, text: str) -> None:
        with self._lock:
            self._buffer.append(text.encode())
            self.tail = (self.tail + text.splitlines())[-40:]

    def flush(self) -> None:
        with self._sending:
            with self._lock:
                data, self._buffer = b"".join(self._buffer), []
            if data:
                if self.local is not None:
                    self.local.parent.mkdir(parents=True, exist_ok=True)
                    with self.local.open("ab") as copy:
                        copy.write(data)
                self.server.append(self.path, data)

    def drain(self, stream) -> None:
        for line in iter(stream.readline, b""):
            self.write(line.decode(errors="replace"))
        stream.close()


class Agent:
    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.server = NodeServer(config) if config.get("role") == "node" else Server(config)
        self.control = LogPump(self.server, CONTROL_LOG)
        self.pumps: list[LogPump] = []
        self.processes: list[subprocess.Popen] = []
        self.pump_threads: list[threading.Thread] = []
        self.canceled = threading.Event()
        self.orphaned = False  # the process that started the agent (Ray's job supervisor) is gone
        self.done = threading.Event()
        self.data_paths: dict[str, str] = {}  # AZUREML_DATAREFERENCE_x -> where its data was downloaded

    def log(self, text: str) -> None:
        self.control.write(text if text.endswith("\n") else text + "\n")

    def _flusher(self) -> None:
        while not self.done.wait(LOG_FLUSH_SECONDS):
            self._flush_logs()

    def _flush_logs(self) -> None:
        for pump in (self.control, *self.pumps):
            pump.flush()

    def run(self) -> None:
        signal.signal(signal.SIGTERM, lambda *_: self.canceled.set())
        flusher = threading.Thread(target=self._flusher, daemon=True)
        flusher.start()
        if self.config.get("watchParent"):
            threading.Thread(target=self._watch_parent, args=(os.getppid(),), daemon=True).start()
        try:
            self._run()
        except Exception as exc:  # the agent itself broke: the run must still end
            self.log(f"agent error: {exc!r}")
            self.server.fail("AgentError", f"The run agent failed: {exc}")
        finally:
            self.done.set()
            flusher.join()
            self._flush_logs()

    def _watch_parent(self, parent: int) -> None:
        """On Ray, the agent's parent is the job's supervisor: when it dies (its node or the head was lost),
        the agent is adopted and the run's processes must stop rather than outlive the job."""
        while not self.done.wait(0.2):
            if os.getppid() != parent:
                self.orphaned = True
                self.canceled.set()
                return

    def _run(self) -> None:
        config = self.config
        spec = environments.parse_environment(config.get("environment"))
        for warning in environments.warnings(spec):
            self.log(f"warning: {warning}")
            self.server.event("Warning", Source="environment", Message=warning)
        try:
            python = environments.EnvironmentCache(Path(config["envCache"])).ensure(spec, self.log)
        except environments.EnvironmentBuildError as error:
            self.log(error.output)
            self.server.fail("EnvironmentBuildFailed", f"{error.message}\n{error.output[-4000:]}")
            return
        if self.orphaned:
            self._finish([], False)
            return
        if self.canceled.is_set() or not self.server.status("Starting"):
            self.server.event("Canceled")
            return
        workdir = Path(config["runDir"]) / "wd"
        limits = config["snapshotLimits"]
        snapshots.extract(Path(config["snapshot"]), workdir, max_files=limits["maxFiles"], max_bytes=limits["maxBytes"])
        if not self._fetch_data(workdir):
            return
        self.server.event("Start")
        exit_codes, timed_out = self._execute(python, workdir, spec.environment_variables)
        self.server.status("Finalizing")
        self._flush_logs()  # a client that sees the final status must find the whole log
        self._collect(workdir if config.get("outputCollection", True) else None)
        self._finish(exit_codes, timed_out)

    def _fetch_data(self, workdir: Path) -> bool:
        """Download the data references' files into the working directory (see data_references.py);
        False when one could not be fetched: the run has then failed."""
        references = self.config.get("dataReferences") or []
        if not references:
            return True
        trust = ssl.create_default_context()  # the links go to amlite or to Azure Storage: never send the token
        if self.config.get("caFile"):
            trust.load_verify_locations(self.config["caFile"])
        with httpx.Client(verify=trust, timeout=60) as client:
            for reference in references:
                for file in reference["files"]:
                    target = workdir / reference["root"] / file["path"]
                    target.parent.mkdir(parents=True, exist_ok=True)
                    try:
                        with client.stream("GET", file["url"]) as response, target.open("wb") as out:
                            response.raise_for_status()
                            for chunk in response.iter_bytes():
                                out.write(chunk)
                    except httpx.HTTPError as error:
                        self.server.fail("DataReferenceDownloadFailed", f"Data reference '{reference['name']}': "
                                         f"'{file['path']}' could not be downloaded ({type(error).__name__}).")
                        return False
                path = workdir / reference["path"]
                if not path.exists():  # nothing matched: the script still gets a folder
                    path.mkdir(parents=True)
                self.data_paths[data_reference_variable(reference["name"])] = str(path)
                self.log(f"data reference '{reference['name']}': {len(reference['files'])} file(s) in {path}")
        return True

    def _command(self, python: Path) -> list[str]:
        config = self.config
        arguments = [_expand(argument, self.data_paths) for argument in config["arguments"]]
        command = [str(python), config["script"], *arguments]
        if config.get("communicator") == "Mpi":
            mpirun = shutil.which("mpirun")
            if mpirun is None:
                raise RuntimeError("Communicator 'Mpi' needs mpirun, which is not installed on this compute.")
            return [mpirun, "-n", str(config["nodeCount"]), *command]
        return command

    def _environment(self, rank: int, world: int, port: int, extra: dict[str, str]) -> dict[str, str]:
        keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "USER")}
        return {
            **keep, **extra, **self._reach_server(extra), **self.data_paths, **self.config["azuremlEnvironment"],
            "PYTHONUNBUFFERED": "1",
            "RANK": str(rank), "LOCAL_RANK": str(rank), "NODE_RANK": str(rank), "WORLD_SIZE": str(world),
            "MASTER_ADDR": self.config.get("masterAddr", "127.0.0.1"), "MASTER_PORT": str(port),
            "AZ_BATCHAI_TASK_INDEX": str(rank), "AZ_BATCHAI_NODE_COUNT": str(world),
            "AZUREML_NODE_COUNT": str(world),
        }

    def _reach_server(self, extra: dict[str, str]) -> dict[str, str]:
        """What the run's scripts need to talk to this server as to Azure: trust in its CA (added to the
        public ones, so that the script can still reach the internet) and, with blob host names, their
        resolution to the server (runtime/sitecustomize.py)."""
        found: dict[str, str] = {}
        if self.config.get("caFile") and "REQUESTS_CA_BUNDLE" not in extra:
            bundle = Path(self.config["runDir"]) / "ca-bundle.pem"
            if not bundle.exists():
                bundle.write_bytes(Path(certifi.where()).read_bytes() + b"\n" + Path(self.config["caFile"]).read_bytes())
            found["REQUESTS_CA_BUNDLE"] = str(bundle)
        if self.config.get("blobHost"):
            runtime = str(Path(__file__).parent / "runtime")
            found["PYTHONPATH"] = os.pathsep.join(p for p in (runtime, extra.get("PYTHONPATH")) if p)
            found["AMLITE_BLOB_HOST_SUFFIX"] = self.config["blobHost"]["suffix"]
            found["AMLITE_BLOB_HOST_ADDRESS"] = self.config["blobHost"]["address"]
        return found

    def _limits(self):
        vcpus, memory = self.config["vcpus"], self.config["memoryGb"]
        libc = ctypes.CDLL(None) if self.config.get("watchParent") else None

        def apply() -> None:
            if libc is not None:  # the script dies with the agent (PR_SET_PDEATHSIG), as the agent with its job
                libc.prctl(1, signal.SIGKILL)
            cpus = sorted(os.sched_getaffinity(0))[: max(1, vcpus)]
            os.sched_setaffinity(0, cpus)
            limit = int(memory * (1 << 30))
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

        return apply

    def _execute(self, python: Path, workdir: Path, extra_env: dict[str, str]) -> tuple[list[int], bool]:
        config = self.config
        world = 1 if config.get("communicator") == "Mpi" else config["nodeCount"]
        port = config.get("masterPort")
        if port is None:
            with socket.socket() as probe:
                probe.bind(("127.0.0.1", 0))
                port = probe.getsockname()[1]
        try:
            command = self._command(python)
        except RuntimeError as error:
            self.log(str(error))
            return [127], False
        for rank in config.get("ranks", range(world)):  # a node of a multi-node Ray run runs its own ranks
            pump = LogPump(self.server, driver_log(rank), Path(config["runDir"]) / driver_log(rank))
            process = subprocess.Popen(command, cwd=workdir, env=self._environment(rank, world, port, extra_env),
                                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                       start_new_session=True, preexec_fn=self._limits())
            reader = threading.Thread(target=pump.drain, args=(process.stdout,), daemon=True)
            reader.start()
            self.pump_threads.append(reader)
            self.pumps.append(pump)
            self.processes.append(process)
        limit = config.get("maxRunDurationSeconds")
        deadline = time.monotonic() + limit if limit else None
        timed_out = False
        for process in self.processes:
            while process.poll() is None:
                if self.canceled.is_set() or (deadline is not None and time.monotonic() > deadline):
                    timed_out = not self.canceled.is_set()
                    self._stop_processes()
                    break
                try:  # returns as soon as the process exits; cancel and the deadline are checked between
                    process.wait(timeout=0.2)
                except subprocess.TimeoutExpired:
                    pass
        for pump_thread in self.pump_threads:
            pump_thread.join(timeout=5)  # the last lines of output, read before the final status
        return [p.wait() for p in self.processes], timed_out

    def _stop_processes(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        grace = time.monotonic() + KILL_GRACE_SECONDS
        while time.monotonic() < grace and any(p.poll() is None for p in self.processes):
            time.sleep(0.1)
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)

    def _collect(self, workdir: Path | None) -> None:
        """The driver logs, and ./outputs and ./logs of ``workdir``, become the run's artifacts (regular
        files only: a symbolic link could name a file outside the run)."""
        files = {pump.path: pump.local for pump in self.pumps if pump.local is not None and pump.local.is_file()}
        for folder in ("outputs", "logs") if workdir is not None else ():
            for path in sorted((workdir / folder).rglob("*")):
                if path.is_file() and not path.is_symlink():
                    files[path.relative_to(workdir).as_posix()] = path
        failures = self.server.upload(files)
        for failure in failures:
            self.log(f"could not keep the run's file {failure}")
        if failures:
            self.server.event("Warning", Source="outputs",
                              Message=f"{len(failures)} of the run's files could not be uploaded: {failures[0]}")

    def _finish(self, exit_codes: list[int], timed_out: bool) -> None:
        tail = "\n".join(self.pumps[0].tail[-20:]) if self.pumps else "\n".join(self.control.tail[-20:])
        if self.orphaned:
            self.server.fail("NodeLost", NODE_LOST)
        elif self.canceled.is_set():
            self.server.event("Canceled")
        elif timed_out:
            limit = self.config["maxRunDurationSeconds"]
            self.server.fail("RunTimeout", f"The run exceeded MaxRunDurationSeconds ({limit} s) and was stopped.")
        elif any(exit_codes):
            code = next(c for c in exit_codes if c)
            self.server.fail("UserError", f"The script exited with code {code}. Last lines of its log:\n{tail}")
        else:
            self.server.event("Completed")


def _resolve(config: dict[str, Any], base: Path) -> dict[str, Any]:
    """Paths in the configuration, with ``~`` expanded and relative ones taken from ``base``."""
    for key in ("snapshot", "runDir", "caFile", "envCache", "resultFile"):
        if config.get(key):
            path = Path(config[key]).expanduser()
            config[key] = str(path if path.is_absolute() else base / path)
    return config


def main() -> None:
    path = Path(sys.argv[1]).absolute()
    Agent(_resolve(json.loads(path.read_text()), path.parent)).run()


if __name__ == "__main__":
    main()
