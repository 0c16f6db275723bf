"""Azurite, Microsoft's Azure Storage emulator (installed from npm by ``make test``), on a free port with a
folder of its own: the Azure Blob endpoint of the artifact tests."""

from __future__ import annotations

import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.server import _die_with_parent, free_port

AZURITE = Path(__file__).resolve().parents[1] / ".tools" / "azurite" / "node_modules" / ".bin" / "azurite-blob"
# Azurite's default account and its published key (learn.microsoft.com, "Use the Azurite emulator").
ACCOUNT = "devstoreaccount1"
KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


@dataclass
class Azurite:
    location: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    def start(self) -> Azurite:
        if not AZURITE.exists():
            raise RuntimeError(f"Azurite is not installed at {AZURITE}: run `make test` once")
        self.location.mkdir(parents=True, exist_ok=True)
        self.log = (self.location / "azurite.log").open("ab")
        self.process = subprocess.Popen(
            [str(AZURITE), "--blobHost", "127.0.0.1", "--blobPort", str(self.port), "--location", str(self.location),
             "--skipApiVersionCheck", "--loose", "--silent", "--disableTelemetry"],
            stdout=self.log, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)
        deadline = time.monotonic() + 30
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"Azurite exited early:\n{(self.location / 'azurite.log').read_text()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("Azurite did not listen in time") from None
                time.sleep(0.1)

    def store_uri(self, container: str) -> str:
        """An ``AMLITE_ARTIFACT_STORE`` value keeping a server's blobs in one Azurite container."""
        return f"azureblob+http://127.0.0.1:{self.port}/{ACCOUNT}/{container}"

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()
