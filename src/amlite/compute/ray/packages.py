"""What a run's Ray job carries, as zips for Ray's package store (``gcs://_ray_pkg_<hash>.zip``):

- the agent's code, once per content: amlite and the pure-Python packages the agent imports (httpx and
  what it needs), from this server's own environment, as the job's ``py_modules``. Ray nodes need only
  a Python of the server's version, with ``ray`` for multi-node runs;
- per run, the ``working_dir``: the agent's configuration, the run's snapshot and the server's CA.

Zips are made reproducibly (sorted entries, fixed times), so that equal content has one name.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import zipfile
from functools import cache
from pathlib import Path

# amlite, and what ``import amlite.compute.agent`` and the agent's HTTP calls import outside the standard library
AGENT_PACKAGES = ("amlite", "httpx", "httpcore", "h11", "anyio", "sniffio", "idna", "certifi", "typing_extensions",
                  "exceptiongroup")
_EPOCH = (1980, 1, 1, 0, 0, 0)


def _add(archive: zipfile.ZipFile, name: str, data: bytes) -> None:
    info = zipfile.ZipInfo(name, _EPOCH)
    info.external_attr = 0o644 << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    archive.writestr(info, data)


def zip_files(files: dict[str, bytes]) -> bytes:
    """A zip of ``files`` (name -> content), entries at the top (Ray unpacks a package as it is)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in sorted(files):
            _add(archive, name, files[name])
    return buffer.getvalue()


def package_name(data: bytes) -> str:
    return f"_ray_pkg_{hashlib.sha256(data).hexdigest()[:32]}.zip"


def _sources(module: str) -> dict[str, Path]:
    """The files of an installed top-level module or package, by their name in the zip."""
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        return {}
    origin = Path(spec.origin)
    if not spec.submodule_search_locations:
        return {origin.name: origin}
    root = origin.parent
    return {path.relative_to(root.parent).as_posix(): path for path in root.rglob("*")
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"}


@cache
def agent_bundle() -> bytes:
    files = {name: path.read_bytes() for module in AGENT_PACKAGES for name, path in _sources(module).items()}
    return zip_files(files)
