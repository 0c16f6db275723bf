"""Run a small script, start to finish: amlite's startrun vs Ray Jobs vs `mlflow run`, same machine, one run.

    .venv/bin/python benchmarks/execution.py --quick          # smoke run, about a minute
    .venv/bin/python benchmarks/execution.py                  # 10 measured runs per system
    .venv/bin/python benchmarks/execution.py --runs 20 --backend postgresql --keep

The script is the walkthrough's hello.py (`import sys; print("Hello, REST!", *sys.argv[1:])`, argument 234).
Each system is started alone, warmed up with one run that is not counted (amlite: the run that builds
and caches the venv), measured over --runs runs one after another, and stopped before the next system
starts, so that they never compete for the CPUs. See benchmarks/README.md for what each column means.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import HERE, Amlite, MLflow, ensure_mlflow_venv, free_port, mlflow_version  # noqa: E402

from tests.execution import definition, driver_log, make_compute, project_zip, run_url, start  # noqa: E402

HELLO = 'import sys; print("Hello, REST!", *sys.argv[1:])\n'
ARGUMENT = "234"
EXPECTED = f"Hello, REST! {ARGUMENT}"
MLPROJECT = """name: hello
entry_points:
  main:
    parameters:
      arg: {type: string, default: "234"}
    command: "python hello.py {arg}"
"""
RAY_VENV = HERE / ".venv-ray"
RAY_REQUIREMENTS = HERE / "requirements-ray.txt"
AMLITE_PHASES = ("Queued", "Preparing", "Starting", "Running", "Finalizing", "Completed")


# --- samples and statistics ------------------------------------------------------------------------


@dataclass
class Sample:
    """One run; seconds after the submitting call started (None: not observed)."""

    running: float | None
    done: float | None
    ok: bool
    server_running: float | None = None  # the system's own record: start - created
    server_done: float | None = None  # end - created
    phases: dict[str, float] = field(default_factory=dict)  # amlite: when each status was first seen
    note: str = ""
    wall: float = 0.0  # time.time() when the submitting call started


@dataclass
class System:
    name: str
    samples: list[Sample] = field(default_factory=list)
    startup: float | None = None  # seconds until it accepted work
    rss_mb: float | None = None  # resident memory of all its processes, idle after the runs
    notes: list[str] = field(default_factory=list)
    crash: str | None = None


def median_p90(values: list[float | None]) -> tuple[float | None, float | None]:
    values = sorted(v for v in values if v is not None)
    if not values:
        return None, None
    rank = max(0, -(-9 * len(values) // 10) - 1)  # nearest-rank p90
    return statistics.median(values), values[rank]


def fmt(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:,.0f} ms" if seconds < 10 else f"{seconds:,.1f} s"


def parse_utc(text: str | None) -> datetime | None:
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# --- processes -------------------------------------------------------------------------------------


def _processes() -> dict[int, tuple[int, int, int]]:
    """pid -> (ppid, session id, rss pages) of every live process."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            rss = int((entry / "statm").read_text().split()[1])
        except (OSError, IndexError, ValueError):
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        found[int(entry.name)] = (int(fields[1]), int(fields[3]), rss)
    return found


def family(pid: int) -> set[int]:
    """A process, its descendants, and whatever else lives in the session it leads."""
    table = _processes()
    members = {p for p, (_, sid, _) in table.items() if sid == pid} | ({pid} if pid in table else set())
    grew = True
    while grew:
        more = {p for p, (ppid, _, _) in table.items() if ppid in members} - members
        members |= more
        grew = bool(more)
    return members


def family_rss_mb(pid: int) -> float:
    """Proportional set size (shared pages split between the processes that share them) of the family, in MB."""
    total_kb = 0
    for member in family(pid):
        try:
            rollup = Path(f"/proc/{member}/smaps_rollup").read_text()
        except OSError:
            continue
        total_kb += next((int(line.split()[1]) for line in rollup.splitlines() if line.startswith("Pss:")), 0)
    return total_kb / 1024


# --- amlite ----------------------------------------------------------------------------------------


def measure_amlite(args, workdir: Path, project: bytes, name: str = "amlite",
                   env: dict[str, str] | None = None) -> System:
    """``env``: more variables for the server (e.g. a Ray cluster to run on)."""
    system = System(name)
    env = {**(env or {}), **({"PYTHONPATH": str(HERE / "agent_trace")} if args.trace else {})}
    amlite = Amlite(workdir, args.backend, args.postgres_url, env=env)
    began = time.perf_counter()
    try:
        amlite.start()
        system.startup = time.perf_counter() - began  # amlite serve until /health, plus making a workspace
        with amlite.server.client() as setup:
            target = make_compute(setup, {"id": amlite.workspace}, "cpu", max_nodes=1)
        environment = {"Python": {"UserManagedDependencies": False, "CondaDependencies": {
            "dependencies": [{"pip": list(args.pip)}]}}}
        run_definition = definition("hello.py", target, arguments=[int(ARGUMENT)], environment=environment)
        with amlite.client() as client:
            warm = amlite_run(client, amlite, run_definition, project, args, check=True)
            system.notes.append(f"{name} warm-up run (builds and caches the venv with {', '.join(args.pip)}): "
                                f"{fmt(warm.done)}")
            if not warm.ok:
                raise RuntimeError(f"amlite's warm-up run did not complete: {warm.note}")
            if warm.phases["driver log"] - warm.done > 0.1:
                system.notes.append(f"amlite: the driver log with {EXPECTED!r} was readable only "
                                    f"{fmt(warm.phases['driver log'] - warm.done)} after the run showed Completed")
            for index in range(args.runs):
                system.samples.append(amlite_run(client, amlite, run_definition, project, args, check=index == 0))
        system.rss_mb = family_rss_mb(amlite.server.process.pid)
        system.notes += amlite_findings(amlite, system)
        if args.trace:
            system.notes += agent_traces(amlite, system.samples[-1])
    except Exception as error:  # noqa: BLE001 - report it in the table, keep the other systems
        system.crash = f"{type(error).__name__}: {error}"
    finally:
        amlite.stop()
    return system


def amlite_run(client: httpx.Client, amlite: Amlite, run_definition: dict, project: bytes, args,
               check: bool) -> Sample:
    wall, began = time.time(), time.perf_counter()
    response = start(client, amlite.workspace, "hello", project, run_definition)
    response.raise_for_status()
    run_id = response.json()["runId"]
    phases: dict[str, float] = {"submitted": time.perf_counter() - began}
    url = run_url(amlite.workspace, "hello", run_id)
    deadline = began + args.timeout
    while True:
        run = client.get(url).json()
        now = time.perf_counter() - began
        phases.setdefault(run["status"], now)
        if run["status"] in ("Completed", "Failed", "Canceled") or time.perf_counter() > deadline:
            break
        time.sleep(args.poll)
    later = AMLITE_PHASES[AMLITE_PHASES.index("Running"):]
    running = min((phases[s] for s in later if s in phases), default=None)
    created, started, ended = (parse_utc(run.get(k)) for k in ("createdUtc", "startTimeUtc", "endTimeUtc"))
    sample = Sample(running=running, done=now if run["status"] == "Completed" else None,
                    ok=run["status"] == "Completed", phases=phases,
                    server_running=(started - created).total_seconds() if started and created else None,
                    server_done=(ended - created).total_seconds() if ended and created else None,
                    note=f"{run_id}: {run['status']}", wall=wall)
    for status, seconds in phases.items():
        sample.phases[status] = seconds
    if check:  # the driver log may arrive a little after Completed: the agent flushes it last
        seen = time.perf_counter()
        while EXPECTED not in (log := driver_log(client, amlite.workspace, run_id)) and time.perf_counter() < seen + 5:
            time.sleep(0.01)
        if EXPECTED not in log:
            sample.ok = False
            sample.note += f"; driver log lacks {EXPECTED!r}: {log[-300:]!r}"
        else:
            sample.phases["driver log"] = now + time.perf_counter() - seen
    return sample


def amlite_findings(amlite: Amlite, system: System) -> list[str]:
    """Where amlite's time goes: the median moment each status was first seen by the poller."""
    seen = [s for s in system.samples if s.ok]
    if not seen:
        return []
    parts = []
    for status in ("submitted", *AMLITE_PHASES):
        values = [s.phases[status] for s in seen if status in s.phases]
        if values:
            parts.append(f"{status} {fmt(statistics.median(values))} ({len(values)}/{len(seen)})")
    notes = [f"{system.name}: median first sighting of each status after the startrun call (runs where the poller "
             "saw it): " + ", ".join(parts)]
    agent_logs = sorted((amlite.workdir / "runs").glob("*/agent.log")) if (amlite.workdir / "runs").is_dir() else []
    noisy = [p for p in agent_logs
             if any(not line.startswith("TRACE") for line in p.read_text(errors="replace").splitlines())]
    if noisy:
        notes.append(f"amlite: {len(noisy)} agent.log files are not empty, e.g. {noisy[-1]}: "
                     f"{noisy[-1].read_text(errors='replace')[-300:]!r}")
    return notes


def agent_traces(amlite: Amlite, last: Sample) -> list[str]:
    """The timeline of the last measured run's agent (benchmarks/agent_trace), next to the server's times."""
    logs = sorted((amlite.workdir / "runs").glob("*/agent.log"), key=lambda p: p.stat().st_mtime)
    if not logs:
        return []
    lines = [line for line in logs[-1].read_text(errors="replace").splitlines() if line.startswith("TRACE")]
    seen = ", ".join(f"{status} at {last.wall + seconds:.3f}" for status, seconds in last.phases.items())
    return [f"amlite --trace, agent of the last run ({last.note}; startrun called at {last.wall:.3f}; "
            f"the poller saw {seen}), wall time and ms since the agent was forked:\n"
            + "\n".join(f"    {line[6:]}" for line in lines)]


# --- Ray Jobs --------------------------------------------------------------------------------------


def ensure_ray_venv() -> Path:
    python = RAY_VENV / "bin" / "python"
    if not (RAY_VENV / "bin" / "ray").exists():
        print(f"creating {RAY_VENV} (ray[default]) ...", file=sys.stderr, flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(RAY_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", "-r", str(RAY_REQUIREMENTS)], check=True)
    return python


def ray_version() -> str:
    out = subprocess.run([str(RAY_VENV / "bin" / "python"), "-c", "import ray; print(ray.__version__)"],
                         capture_output=True, text=True)
    return out.stdout.strip() or "?"


def measure_ray(args, workdir: Path, project_dir: Path) -> System:
    """A local Ray head (`ray start --head --block`, its own session, loopback addresses, token auth)
    and the Job Submission SDK, driven from benchmarks/ray_jobs.py inside Ray's venv."""
    system = System("Ray Jobs")
    temp = Path(tempfile.mkdtemp(prefix="rayb-"))  # short: Ray's socket paths must fit in 107 bytes
    home = workdir / "ray-home"
    home.mkdir(parents=True, exist_ok=True)
    token = secrets.token_hex(32)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_", "VIRTUAL_ENV"))}
    env.update(PATH=f"{RAY_VENV / 'bin'}:{env.get('PATH', '')}", HOME=str(home), RAY_AUTH_MODE="token",
               RAY_AUTH_TOKEN=token, RAY_USAGE_STATS_ENABLED="0")
    gcs_port, dashboard_port = free_port(), free_port()
    command = [str(RAY_VENV / "bin" / "ray"), "start", "--head", "--block", "--temp-dir", str(temp),
               "--node-ip-address", "127.0.0.1", "--port", str(gcs_port), "--dashboard-host", "127.0.0.1",
               "--dashboard-port", str(dashboard_port), "--include-dashboard", "true", "--num-cpus", "2",
               "--disable-usage-stats"]
    address = f"http://127.0.0.1:{dashboard_port}"
    log_path = workdir / "ray-head.log"
    log = log_path.open("ab")
    head = None
    try:
        began = time.perf_counter()
        head = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True,
                                cwd=workdir)
        deadline = began + 180
        while True:  # ready when the Job API answers an authenticated list
            if head.poll() is not None:
                raise RuntimeError(f"ray start exited early:\n{log_path.read_text(errors='replace')[-3000:]}")
            try:
                if httpx.get(f"{address}/api/jobs/", headers={"Authorization": f"Bearer {token}"},
                             timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.perf_counter() > deadline:
                raise RuntimeError("the Ray head did not answer /api/jobs/ in 180 s")
            time.sleep(0.1)
        system.startup = time.perf_counter() - began
        unauthenticated = httpx.get(f"{address}/api/jobs/", timeout=5).status_code
        system.notes.append(f"Ray head: token auth on (RAY_AUTH_MODE=token, RAY_AUTH_TOKEN for this run only); "
                            f"/api/jobs/ without the token answers {unauthenticated}")
        config = {"address": address, "workingDir": str(project_dir), "entrypoint": f"python hello.py {ARGUMENT}",
                  "runs": args.runs + 1, "poll": args.poll, "timeout": args.timeout}
        helper = subprocess.Popen([str(RAY_VENV / "bin" / "python"), str(HERE / "ray_jobs.py"), json.dumps(config)],
                                  stdout=subprocess.PIPE, stderr=log, env=env, text=True, cwd=workdir)
        lines = []
        try:
            for line in helper.stdout:
                lines.append(json.loads(line))
        finally:
            try:
                helper.wait(timeout=args.timeout * (args.runs + 2))
            except subprocess.TimeoutExpired:
                helper.kill()
                helper.wait()
        jobs = [line for line in lines if "submissionId" in line]
        if len(jobs) < args.runs + 1:
            raise RuntimeError(f"ray_jobs.py stopped after {len(jobs)} jobs (see {log_path})")
        warm, measured = jobs[0], jobs[1:]
        system.notes.append(f"Ray warm-up job (uploads the working_dir package, starts a worker): {fmt(warm['done'])}")
        if EXPECTED not in (warm.get("log") or ""):
            system.notes.append(f"Ray: warm-up job log lacks {EXPECTED!r}: {(warm.get('log') or '')[-300:]!r}")
        for job in measured:
            ok = job["status"] == "SUCCEEDED"
            system.samples.append(Sample(running=job["running"], done=job["done"] if ok else None, ok=ok,
                                         server_done=job["serverSeconds"], note=job["submissionId"]))
        system.rss_mb = family_rss_mb(head.pid)
        system.notes.append(f"Ray head: {len(family(head.pid))} processes after the runs; listening: "
                            f"{listening(family(head.pid))}")
    except Exception as error:  # noqa: BLE001
        system.crash = f"{type(error).__name__}: {error}"
    finally:
        if head is not None:
            stop_session(head, "Ray head")
        log.close()
        shutil.rmtree(temp, ignore_errors=True)
    return system


def listening(pids: set[int]) -> str:
    """The TCP addresses the given processes listen on (from ss), to check that Ray stays on loopback."""
    try:
        out = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    loopback, other = set(), set()
    for line in out.splitlines():
        if any(f"pid={pid}," in line for pid in pids):
            local = line.split()[3]
            host = local.rsplit(":", 1)[0].strip("[]").removeprefix("::ffff:")
            if host.startswith("127.") or host == "::1":
                loopback.add(local)
            else:
                name = line.split("((\"", 1)[-1].split("\"", 1)[0]
                other.add(f"{local} ({name})")
    return (f"{len(loopback)} sockets on loopback; not loopback: {', '.join(sorted(other)) or 'none'}")


def stop_session(process: subprocess.Popen, name: str) -> None:
    """SIGTERM the session the process leads (started by us with start_new_session), then SIGKILL what stays."""
    members = family(process.pid)
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        alive = members & set(_processes())
        if not alive:
            return
        time.sleep(0.2)
    for pid in alive:  # only processes of the session we started
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    print(f"  {name}: killed {len(alive)} leftover processes", file=sys.stderr, flush=True)


# --- mlflow run ------------------------------------------------------------------------------------


def measure_mlflow(args, workdir: Path, project_dir: Path, store: str) -> System:
    """`mlflow run <dir> --env-manager local`, tracking to a local tracking server (SQLite) or a file store."""
    system = System(f"mlflow run ({store})")
    server = None
    try:
        if store == "server":
            server = MLflow(workdir, "sqlite", None, 1).start()
            tracking_uri, experiment = server.base_url, server.experiment_id
        else:
            tracking_uri, experiment = (workdir / "mlruns").as_uri(), None
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "VIRTUAL_ENV"))}
        env.update(PATH=f"{HERE / '.venv-mlflow' / 'bin'}:{env.get('PATH', '')}", MLFLOW_TRACKING_URI=tracking_uri,
                   GIT_PYTHON_REFRESH="quiet", MLFLOW_ALLOW_FILE_STORE="true")  # MLflow 3 keeps ./mlruns behind a flag
        command = [str(HERE / ".venv-mlflow" / "bin" / "mlflow"), "run", str(project_dir), "--env-manager", "local",
                   "-P", f"arg={ARGUMENT}"]
        command += ["--experiment-id", experiment] if experiment else ["--experiment-name", "hello"]
        for index in range(args.runs + 1):
            wall = time.time()
            began = time.perf_counter()
            try:
                result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=workdir,
                                        timeout=args.timeout)
            except subprocess.TimeoutExpired:
                system.samples.append(Sample(None, None, False, note="timed out"))
                continue
            done = time.perf_counter() - began
            ok = result.returncode == 0 and EXPECTED in result.stdout + result.stderr
            run = mlflow_last_run(server, workdir)
            running = (run["start_time"] / 1000 - wall) if run else None
            sample = Sample(running=running, done=done if ok else None, ok=ok,
                            server_running=running,
                            server_done=(run["end_time"] - run["start_time"]) / 1000 + running
                            if run and run.get("end_time") else None,
                            note="" if ok else (result.stdout + result.stderr)[-500:])
            if index == 0:
                system.notes.append(f"{system.name} warm-up run: {fmt(done)}")
                if not ok:
                    raise RuntimeError(f"mlflow run failed: {sample.note}")
                continue
            system.samples.append(sample)
        if server:
            system.rss_mb = family_rss_mb(server.process.pid)
    except Exception as error:  # noqa: BLE001
        system.crash = f"{type(error).__name__}: {error}"
    finally:
        if server:
            server.stop()
    return system


def mlflow_last_run(server: MLflow | None, workdir: Path) -> dict | None:
    """The newest run's start_time and end_time (epoch ms), as MLflow recorded them."""
    if server:
        with server.client() as client:
            response = client.post("/api/2.0/mlflow/runs/search", json={
                "experiment_ids": [server.experiment_id], "max_results": 1, "order_by": ["attributes.start_time DESC"]})
            runs = response.json().get("runs") or []
            return {k: int(v) for k, v in runs[0]["info"].items() if k in ("start_time", "end_time")} if runs else None
    metas = sorted((workdir / "mlruns").glob("*/*/meta.yaml"), key=lambda p: p.stat().st_mtime)
    if not metas:
        return None
    found = {}
    for line in metas[-1].read_text().splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("start_time", "end_time") and value.strip().isdigit():
            found[key.strip()] = int(value.strip())
    return found or None


# --- the table -------------------------------------------------------------------------------------


def table(systems: list[System]) -> str:
    head = ["system", "runs ok", "to Running median", "p90", "to Completed median", "p90",
            "server-side created->start", "created->end", "start-up", "idle memory (PSS)"]
    rows = [head, ["---"] * len(head)]
    for system in systems:
        if system.crash and not system.samples:
            rows.append([system.name, "stopped early: " + system.crash[:200]] + ["-"] * (len(head) - 2))
            continue
        ok = [s for s in system.samples if s.ok]
        running, running90 = median_p90([s.running for s in ok])
        done, done90 = median_p90([s.done for s in ok])
        server_running, _ = median_p90([s.server_running for s in ok])
        server_done, _ = median_p90([s.server_done for s in ok])
        rows.append([system.name, f"{len(ok)}/{len(system.samples)}", fmt(running), fmt(running90), fmt(done),
                     fmt(done90), fmt(server_running), fmt(server_done), fmt(system.startup),
                     "-" if system.rss_mb is None else f"{system.rss_mb:,.0f} MB"])
    return "\n".join("| " + " | ".join(row) + " |" for row in rows)


def report(systems) -> None:
    """The table, then each system's notes, failed runs and early stop."""
    print(table(systems))
    print()
    for system in systems:
        for note in system.notes:
            print(f"- {note}")
        failed = [s for s in system.samples if not s.ok]
        if failed:
            print(f"- {system.name}: {len(failed)} runs failed, e.g. {failed[0].note[:400]}")
        if system.crash and system.samples:
            print(f"- {system.name} stopped early: {system.crash[:400]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10, help="measured runs per system (default 10)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 3 runs per system")
    parser.add_argument("--systems", default="amlite,ray,mlflow-server,mlflow-file",
                        help="comma-separated: amlite,ray,mlflow-server,mlflow-file")
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite", help="amlite's store")
    parser.add_argument("--postgres-url", default=os.environ.get(
        "AMLITE_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"))
    parser.add_argument("--pip", default="six", help="comma-separated pip list of amlite's cached environment")
    parser.add_argument("--poll", type=float, default=0.025, help="status poll interval, seconds (default 0.025)")
    parser.add_argument("--timeout", type=float, default=300, help="seconds after which one run counts as failed")
    parser.add_argument("--trace", action="store_true", help="amlite's agents print a timeline (benchmarks/"
                        "agent_trace/sitecustomize.py on the server's PYTHONPATH); adds no work, moves httpx's import")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs, run folders)")
    parser.add_argument("--json", type=Path, help="also write the raw samples here")
    args = parser.parse_args(argv)
    if args.quick:
        args.runs = 3
    args.pip = [p for p in args.pip.split(",") if p]
    wanted = [s.strip() for s in args.systems.split(",") if s.strip()]

    workdir = Path(tempfile.mkdtemp(prefix="amlite-exec-bench-"))
    project_dir = workdir / "project"
    project_dir.mkdir()
    (project_dir / "hello.py").write_text(HELLO)
    (project_dir / "MLproject").write_text(MLPROJECT)
    project = project_zip({"hello.py": HELLO})
    versions = [f"amlite on {args.backend}"]
    if "ray" in wanted:
        ensure_ray_venv()
        versions.append(f"Ray {ray_version()}")
    if any(s.startswith("mlflow") for s in wanted):
        ensure_mlflow_venv()
        versions.append(f"MLflow {mlflow_version()}")
    began = time.perf_counter()
    systems: list[System] = []
    try:
        for name in wanted:
            print(f"measuring {name} ...", file=sys.stderr, flush=True)
            if name == "amlite":
                system = measure_amlite(args, workdir, project)
            elif name == "ray":
                system = measure_ray(args, workdir, project_dir)
            elif name in ("mlflow-server", "mlflow-file"):
                system = measure_mlflow(args, workdir, project_dir, name.split("-")[1])
            else:
                parser.error(f"unknown system {name!r}")
            if system.crash:
                print(f"  {system.name} failed: {system.crash}", file=sys.stderr, flush=True)
            systems.append(system)
    finally:
        if args.keep:
            print(f"work directory kept: {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    elapsed = time.perf_counter() - began
    print(f"\nhello.py 234, {args.runs} measured runs per system after 1 warm-up, "
          f"poll every {args.poll * 1000:.0f} ms; "
          f"{os.cpu_count()} CPUs, Python {platform.python_version()}; {', '.join(versions)}; {elapsed:,.0f} s\n")
    report(systems)
    if args.json:
        args.json.write_text(json.dumps([{**system.__dict__, "samples": [s.__dict__ for s in system.samples]}
                                         for system in systems], indent=1, default=str))
    return 0 if systems and all(not s.crash and all(x.ok for x in s.samples) for s in systems) else 1


if __name__ == "__main__":
    sys.exit(main())
