"""The scoring front as the server sees it: started when a service exists (and again if it died), found
again after a server restart (``front.json``), told what to route, stopped when no service is left.

Its port is ``AMLITE_SCORING_PORT``, or one chosen once and kept in ``front.json`` so that scoring URIs
stay the same across restarts.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from amlite.compute.backends.local import LocalBackend, start_ticks
from amlite.endpoints import layout
from amlite.settings import Settings

log = logging.getLogger("amlite.scoring")
START_SECONDS = 15
CONTROL_TIMEOUT_SECONDS = 60


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class FrontProcess:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.dir = layout.front_dir(settings)
        self.lock = threading.RLock()
        self.backend = LocalBackend()
        self.process: subprocess.Popen | None = None
        self.state: dict[str, Any] = self._read(self.dir / "front.json")
        if settings.scoring_port:
            self.state["port"] = settings.scoring_port
        elif not self.state.get("port"):
            self.state["port"] = _free_port()
            self._save()

    @property
    def host(self) -> str:
        return self.settings.scoring_host or self.settings.host

    @property
    def base_url(self) -> str:
        if self.settings.scoring_public_url:
            return self.settings.scoring_public_url.rstrip("/")
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
        return f"http://{f'[{host}]' if ':' in host else host}:{self.state['port']}"

    @staticmethod
    def _read(path: Path) -> dict[str, Any]:
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError):
            return {}

    def _save(self) -> None:
        self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        temporary = self.dir / "front.json.tmp"
        temporary.touch(mode=0o600)
        temporary.write_text(json.dumps(self.state))
        temporary.replace(self.dir / "front.json")

    def alive(self) -> bool:
        if self.process is not None:
            return self.process.poll() is None
        return bool(self.state.get("pid")) and self.backend.poll(self.state) == "alive"

    def ensure(self) -> bool:
        """Start the front unless it runs; answers whether it was started now."""
        with self.lock:
            if self.alive():
                return False
            self._start()
            return True

    def _start(self) -> None:
        layout.sockets_dir(self.settings).mkdir(mode=0o700, parents=True, exist_ok=True)
        (self.dir / "control.json").unlink(missing_ok=True)
        secret = secrets.token_hex(32)
        with (self.dir / "front.log").open("ab") as output:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "amlite.endpoints.scoring.front", str(self.dir.resolve()), self.host,
                 str(self.state["port"])],
                env={**os.environ, "AMLITE_FRONT_SECRET": secret}, stdin=subprocess.DEVNULL, stdout=output,
                stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline and self.process.poll() is None:
            control = self._read(self.dir / "control.json")
            if control.get("pid") == self.process.pid:
                self.state.update(pid=self.process.pid, startTicks=start_ticks(self.process.pid),
                                  controlPort=control["port"], secret=secret)
                self._save()
                log.info("scoring front started on %s", self.base_url)
                return
            time.sleep(0.05)
        self.process.kill()
        self.process.wait()
        if not self.settings.scoring_port:  # perhaps the kept port was taken: take another next time
            self.state["port"] = _free_port()
            self._save()
        raise RuntimeError(f"the scoring front did not start; see {self.dir / 'front.log'}")

    def publish(self, routes: dict[str, Any]) -> None:
        """Route ``routes`` (service id -> route) from now on: written, then reloaded by the front, which
        is started for the first service and stopped after the last."""
        with self.lock:
            self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            temporary = self.dir / "routes.json.tmp"
            temporary.write_text(json.dumps({"services": routes}))
            temporary.replace(self.dir / "routes.json")
            if not routes:
                self.stop()
            elif not self.ensure():  # a front that starts reads the routes itself
                try:
                    self.call({"op": "reload"})
                except OSError:  # it does not answer: a new one takes over
                    log.warning("the scoring front did not answer; restarting it")
                    self.stop()
                    self._start()

    def drain(self, sockets: list[str]) -> None:
        """Return once the front has answered every request it gave to these (unrouted) replicas."""
        if sockets and self.alive():
            self.call({"op": "drain", "sockets": sockets, "timeout": CONTROL_TIMEOUT_SECONDS - 5})

    def call(self, command: dict[str, Any]) -> dict[str, Any]:
        address = ("127.0.0.1", self.state["controlPort"])
        with socket.create_connection(address, timeout=CONTROL_TIMEOUT_SECONDS) as sock:
            sock.sendall(json.dumps({**command, "secret": self.state["secret"]}).encode() + b"\n")
            answer = sock.makefile("rb").readline()
        return json.loads(answer) if answer else {"ok": False}

    def stop(self) -> None:
        with self.lock:
            if self.alive():
                os.kill(self.state["pid"], signal.SIGTERM)
                deadline = time.monotonic() + 10
                while self.alive() and time.monotonic() < deadline:
                    time.sleep(0.05)
                if self.alive():
                    os.kill(self.state["pid"], signal.SIGKILL)
            if self.process is not None:
                self.process.wait()
                self.process = None
            self.state.pop("pid", None)
            self._save()
