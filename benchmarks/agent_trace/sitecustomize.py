"""Opt-in timeline of amlite's run agent (benchmarks/execution.py --trace): on PYTHONPATH of the server,
so that each agent process (`python -m amlite.compute.agent`) it spawns loads this first. It prints to
stderr (the run's agent.log) one line per step: wall time, ms since the process was exec'd, and what
happened (imports, each HTTP call the agent makes, the script's process). Other processes: untouched."""

import os
import sys
import time

if "amlite.compute.agent" in getattr(sys, "orig_argv", []):
    def _exec_time() -> float:
        """When this process was created (fork), on the wall clock: now - (uptime - start ticks)."""
        now = time.time()
        with open("/proc/self/stat") as stat:
            ticks = int(stat.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime") as uptime:
            up = float(uptime.read().split()[0])
        return now - (up - ticks / os.sysconf("SC_CLK_TCK"))

    _T0 = _exec_time()

    def _mark(what: str) -> None:
        now = time.time()
        sys.stderr.write(f"TRACE {now:.3f} +{(now - _T0) * 1000:7.0f} ms {what}\n")
        sys.stderr.flush()

    _mark("site (interpreter up; the process was forked at +0, 10 ms resolution)")
    _before = time.perf_counter()
    import httpx  # what the agent imports first and costs most; timed here

    _mark(f"import httpx took {(time.perf_counter() - _before) * 1000:.0f} ms")
    _request = httpx.Client.request

    def _traced(self, method, url, *args, **kwargs):
        began = time.perf_counter()
        response = _request(self, method, url, *args, **kwargs)
        detail = ""
        if "json" in kwargs and isinstance(kwargs["json"], dict):
            detail = kwargs["json"].get("status") or kwargs["json"].get("name", "")
        _mark(f"{method} .../{str(url).rsplit('/', 1)[-1]} {detail} -> {response.status_code} "
              f"in {(time.perf_counter() - began) * 1000:.0f} ms")
        return response

    httpx.Client.request = _traced
    import subprocess

    _popen_init, _popen_wait = subprocess.Popen.__init__, subprocess.Popen.wait

    def _init(self, args, *rest, **kwargs):
        _popen_init(self, args, *rest, **kwargs)
        _mark(f"spawned {os.path.basename(str(args[0]))} {' '.join(map(str, args[1:3]))}")

    _popen_poll = subprocess.Popen.poll

    def _poll(self):
        code = _popen_poll(self)
        if code is not None and not getattr(self, "_traced_exit", False):
            self._traced_exit = True
            _mark(f"saw {os.path.basename(str(self.args[0]))} exit with {code}")
        return code

    subprocess.Popen.__init__ = _init
    subprocess.Popen.poll = _poll
    import atexit

    atexit.register(_mark, "agent exits")
