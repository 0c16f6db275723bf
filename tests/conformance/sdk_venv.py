"""Virtual environments for official SDKs that pin old dependencies (azureml-core), built once per
requirement and cached under ``~/.cache/amlite-tests`` so that later runs reuse them."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

CACHE = Path(os.environ.get("AMLITE_TEST_CACHE", Path.home() / ".cache" / "amlite-tests"))


def sdk_python(*requirements: str) -> Path:
    """The interpreter of a venv holding ``requirements``; built on first use."""
    key = hashlib.sha256("\n".join(requirements).encode()).hexdigest()[:16]
    venv = CACHE / f"venv-{key}"
    python = venv / "bin" / "python"
    ready = venv / ".ready"
    if ready.exists():
        return python
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "uv"], check=True)
    subprocess.run([str(venv / "bin" / "uv"), "pip", "install", "--quiet", "--python", str(python), *requirements],
                   check=True)
    ready.write_text("\n".join(requirements))
    return python
