"""Runs inside benchmarks/.venv-ray (Ray is not installed in amlite's venv): submits the same job again
and again through Ray's Job Submission SDK and prints one JSON line per job.

    .venv-ray/bin/python ray_jobs.py '{"address": "http://127.0.0.1:8265", "workingDir": "...",
                                       "entrypoint": "python hello.py 234", "runs": 3, "poll": 0.025,
                                       "timeout": 120}'

Each line: {"submissionId", "submit", "running", "done", "status", "serverSeconds", "log"} where submit,
running and done are seconds after the call to submit_job (which zips and uploads the working_dir when
its content is new), running is when get_job_status first answers RUNNING (or a later status), done
when it first answers a terminal status, serverSeconds is the job's end_time - start_time (Ray's own
record, milliseconds since submission), and log is the job's log (first job only).
Authentication: RAY_AUTH_MODE / RAY_AUTH_TOKEN from the environment, as the SDK reads them.
"""

from __future__ import annotations

import json
import sys
import time

from ray.job_submission import JobStatus, JobSubmissionClient


def main() -> None:
    config = json.loads(sys.argv[1])
    client = JobSubmissionClient(config["address"])
    print(json.dumps({"ready": True}), flush=True)
    for index in range(config["runs"]):
        start = time.perf_counter()
        submission_id = client.submit_job(entrypoint=config["entrypoint"],
                                          runtime_env={"working_dir": config["workingDir"]})
        submitted = time.perf_counter() - start
        running = None
        deadline = start + config["timeout"]
        while True:
            status = client.get_job_status(submission_id)
            now = time.perf_counter() - start
            if running is None and status != JobStatus.PENDING:
                running = now
            if status.is_terminal():
                break
            if time.perf_counter() > deadline:
                client.stop_job(submission_id)
                status = "TIMEOUT"
                break
            time.sleep(config["poll"])
        info = client.get_job_info(submission_id)
        server = (info.end_time - info.start_time) / 1000 if info.end_time and info.start_time else None
        print(json.dumps({
            "submissionId": submission_id, "submit": submitted, "running": running, "done": now,
            "status": str(getattr(status, "value", status)), "serverSeconds": server,
            "log": client.get_job_logs(submission_id) if index == 0 else None,
        }), flush=True)


if __name__ == "__main__":
    main()
