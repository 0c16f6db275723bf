"""amlite's Ray backend: hello.py start to finish, amlite on its local backend vs amlite on Ray vs a bare Ray
job of the same script on the same Ray head.

    .venv/bin/python benchmarks/ray_backend.py --quick        # 3 measured runs per system, ~2 minutes
    .venv/bin/python benchmarks/ray_backend.py                # 10 measured runs per system

Systems, one after another (never two at once), each warmed up with one run that is not counted:
1. amlite, local backend (no Ray running);
2. a local Ray head (amlite's own `LocalRayNode`, from benchmarks/.venv-ray, 2 CPUs, token auth), then
   amlite with every compute on it (AMLITE_RAY_ADDRESS): startrun -> a Ray job whose entrypoint is the agent;
3. on the same head, bare Ray Jobs: benchmarks/ray_jobs.py submits `python hello.py 234` with the project
   folder as working_dir through Ray's SDK (`ray job submit` without the CLI's ~1 s import) and polls its status.
The difference between 2 and 3 is amlite's overhead on top of Ray; between 1 and 2, the cost of Ray.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from execution import (  # noqa: E402
    ARGUMENT, EXPECTED, HELLO, HERE, RAY_VENV, Sample, System, ensure_ray_venv, family_rss_mb, fmt, measure_amlite,
    ray_version, report,
)

from amlite.compute.ray.head import LocalRayNode  # noqa: E402
from tests.execution import project_zip  # noqa: E402


def measure_ray_jobs(args, workdir: Path, project_dir: Path, head: LocalRayNode) -> System:
    system = System("bare Ray job (same head)")
    env = {**head.environment(), "RAY_AUTH_TOKEN": head.token}
    config = {"address": head.address, "workingDir": str(project_dir), "entrypoint": f"python hello.py {ARGUMENT}",
              "runs": args.runs + 1, "poll": args.poll, "timeout": args.timeout}
    with (workdir / "ray_jobs.log").open("ab") as log:
        helper = subprocess.run([str(RAY_VENV / "bin" / "python"), str(HERE / "ray_jobs.py"), json.dumps(config)],
                                stdout=subprocess.PIPE, stderr=log, env=env, text=True, cwd=workdir,
                                timeout=args.timeout * (args.runs + 2))
    jobs = [line for line in map(json.loads, helper.stdout.splitlines()) if "submissionId" in line]
    if len(jobs) < args.runs + 1:
        system.crash = f"ray_jobs.py stopped after {len(jobs)} jobs (see {workdir / 'ray_jobs.log'})"
        return system
    warm, measured = jobs[0], jobs[1:]
    system.notes.append(f"{system.name} warm-up (uploads the working_dir package): {fmt(warm['done'])}")
    if EXPECTED not in (warm.get("log") or ""):
        system.notes.append(f"{system.name}: warm-up log lacks {EXPECTED!r}")
    for job in measured:
        ok = job["status"] == "SUCCEEDED"
        system.samples.append(Sample(running=job["running"], done=job["done"] if ok else None, ok=ok,
                                     server_done=job["serverSeconds"], note=job["submissionId"]))
    return system


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10, help="measured runs per system (default 10)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 3 runs per system")
    parser.add_argument("--pip", default="six", help="comma-separated pip list of amlite's cached environment")
    parser.add_argument("--poll", type=float, default=0.025, help="status poll interval, seconds (default 0.025)")
    parser.add_argument("--timeout", type=float, default=300, help="seconds after which one run counts as failed")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs, run folders)")
    args = parser.parse_args(argv)
    args.runs = 3 if args.quick else args.runs
    args.pip = [p for p in args.pip.split(",") if p]
    args.backend, args.postgres_url, args.trace = "sqlite", None, False  # what measure_amlite reads

    ensure_ray_venv()
    workdir = Path(tempfile.mkdtemp(prefix="amlite-ray-bench-"))
    project_dir = workdir / "project"
    project_dir.mkdir()
    (project_dir / "hello.py").write_text(HELLO)
    project = project_zip({"hello.py": HELLO})
    began = time.perf_counter()
    systems: list[System] = []
    head = LocalRayNode(str(RAY_VENV / "bin" / "ray"), Path(tempfile.mkdtemp(prefix="amlb-")), cpus=2)
    try:
        print("measuring amlite, local backend ...", file=sys.stderr, flush=True)
        systems.append(measure_amlite(args, workdir / "local", project, "amlite, local backend"))
        print("starting a Ray head ...", file=sys.stderr, flush=True)
        started = time.perf_counter()
        head.start(workdir / "ray-head.log")
        head_startup = time.perf_counter() - started
        print("measuring amlite on Ray ...", file=sys.stderr, flush=True)
        on_ray = measure_amlite(args, workdir / "ray", project, "amlite on Ray", env={
            "AMLITE_RAY_ADDRESS": head.address, "AMLITE_RAY_TOKEN": head.token,
            "AMLITE_RAY_ENV_CACHE": str(workdir / "ray-envs")})
        on_ray.notes.append(f"Ray head: started in {fmt(head_startup)}; "
                            f"{family_rss_mb(head.process.pid):,.0f} MB PSS after the amlite runs")
        systems.append(on_ray)
        print("measuring bare Ray jobs ...", file=sys.stderr, flush=True)
        systems.append(measure_ray_jobs(args, workdir, project_dir, head))
    finally:
        head.stop()
        shutil.rmtree(head.temp_dir, ignore_errors=True)
        if args.keep:
            print(f"work directory kept: {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    print(f"\nhello.py {ARGUMENT}, {args.runs} measured runs per system after 1 warm-up, poll every "
          f"{args.poll * 1000:.0f} ms; {os.cpu_count()} CPUs, Python {platform.python_version()}, Ray {ray_version()}; "
          f"{time.perf_counter() - began:,.0f} s\n")
    report(systems)
    return 0 if all(not s.crash and all(x.ok for x in s.samples) for s in systems) else 1


if __name__ == "__main__":
    sys.exit(main())
