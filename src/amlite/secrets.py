"""Encryption at rest for secrets amlite must give back later (storage keys, registry passwords,
compute admin credentials). One master key: ``AMLITE_SECRET_KEY``, else ``<data-dir>/secret.key``
(created once, mode 0600). Replicas sharing a database must share the key.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet


class SecretBox:
    def __init__(self, key: bytes) -> None:
        self._key = key
        self._fernet = Fernet(key)

    @classmethod
    def from_settings(cls, secret_key: str | None, data_dir: Path) -> SecretBox:
        if secret_key:
            return cls(secret_key.encode())
        path = data_dir / "secret.key"
        if not path.exists():
            data_dir.mkdir(parents=True, exist_ok=True)
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                return cls(path.read_bytes().strip())
            with os.fdopen(fd, "wb") as handle:
                handle.write(Fernet.generate_key())
        return cls(path.read_bytes().strip())

    def derive(self, purpose: str) -> bytes:
        """A key of its own for one purpose (e.g. signing links), derived from the master key."""
        return hmac.new(self._key, f"amlite:{purpose}".encode(), hashlib.sha256).digest()

    def seal(self, document: dict[str, Any]) -> str:
        return self._fernet.encrypt(json.dumps(document).encode()).decode()

    def open(self, token: str | None) -> dict[str, Any]:
        return json.loads(self._fernet.decrypt(token.encode())) if token else {}
