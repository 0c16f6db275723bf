"""A run definition's ``DataReferences``: datastore files fetched into the run's working directory before
the script starts, as Azure ML's 'download' mode does ('mount' is served the same way: there is no
mount here).

The server lists each reference's files and signs a read link for each (its own links for this server's
storage accounts, a SAS for a real Azure endpoint); the run's agent downloads them, wherever it runs, and
gives the script the path in ``$AZUREML_DATAREFERENCE_{name}``, in its environment and in its arguments.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any

from sqlalchemy.orm import Session

from amlite.arm.tables import Resource
from amlite.artifacts.links import READ, BlobLinks
from amlite.artifacts.stores.base import check_name
from amlite.compute.definition import DataReference, RunConfiguration
from amlite.context import AppContext
from amlite.datastores.service import get_datastore, resolve
from amlite.datastores.storage import RemoteStore
from amlite.errors import BadRequest

MODES = ("download", "mount")


def _root(name: str, reference: DataReference) -> str:
    """Where the reference's files go, relative to the working directory."""
    if reference.pathOnCompute is None:
        return f"datastores/{name}"
    root = reference.pathOnCompute.strip()
    path = PurePosixPath(root)
    if not root or path.is_absolute() or ".." in path.parts or "\\" in root:
        raise BadRequest(f"Data reference '{name}': PathOnCompute '{root}' must be a relative path inside the "
                         "run's working directory.", code="InvalidDataReference", target="PathOnCompute")
    return str(path)


def check(session: Session, workspace: Resource, configuration: RunConfiguration) -> None:
    """At submission: every reference names a datastore of the workspace, a mode served here and safe paths."""
    for name, reference in configuration.dataReferences.items():
        if reference.mode.lower() not in MODES:
            raise BadRequest(f"Data reference '{name}': mode '{reference.mode}' is not supported; use "
                             "'download' or 'mount'.", code="InvalidDataReference", target="Mode")
        get_datastore(session, workspace, reference.dataStoreName)
        if reference.pathOnDataStore and reference.pathOnDataStore.strip("/"):
            check_name(reference.pathOnDataStore.strip("/"))
        _root(name, reference)


def plan(session: Session, context: AppContext, workspace: Resource,
         configuration: RunConfiguration) -> list[dict[str, Any]]:
    """For the agent: per reference, its folder, the path the script gets and each file with a read link."""
    links = BlobLinks.of(context)
    seconds = context.settings.artifact_link_seconds
    planned = []
    for name, reference in configuration.dataReferences.items():
        location = resolve(session, context.secrets, context.artifacts, workspace, reference.dataStoreName)
        prefix = (reference.pathOnDataStore or "").strip("/")
        files = []
        for info in location.store.list(location.account, location.container, prefix):
            if prefix and info.name != prefix and not info.name.startswith(prefix + "/"):
                continue  # 'data' must not pick up 'data2/...'
            if isinstance(location.store, RemoteStore):
                url = location.store.read_url(location.account, location.container, info.name, seconds)
            else:
                url = links.url(READ, location.account, location.container, info.name, host_style=False)
            files.append({"path": info.name, "url": url})
        root = _root(name, reference)
        planned.append({"name": name, "root": root, "path": f"{root}/{prefix}" if prefix else root,
                        "files": files})
    return planned
