"""Background services: each a daemon thread calling ``tick`` every ``interval`` seconds until stopped.
A failing tick is logged and retried on the next one; it never stops the service."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger("amlite.background")


class PeriodicService:
    def __init__(self, name: str, interval: float, tick: Callable[[], object]) -> None:
        self.name = name
        self.interval = interval
        self.tick = tick
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"amlite-{name}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        """Tick now rather than at the end of the interval."""
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout=self.interval + 5)

    def _loop(self) -> None:
        while True:
            self._wake.wait(self.interval)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self.tick()
            except Exception:
                log.exception("background service %s failed a tick", self.name)
