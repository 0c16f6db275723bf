"""Content snapshots: a project's files kept once and run many times.

The bytes live in the workspace's storage account, container ``snapshots``, as blobs named
``{snapshotId}/{path}``; every snapshot holds all its files (unchanged ones are copied from its
parent when it is made), so deleting one never touches another. The tree, with the SDK's hashes,
is in the ``snapshots`` table. The SDK's v2.0 flow uploads changed files first, through blob links
to ``uploads/{token}/{path}`` (getblob), then names those links when it creates the snapshot; a
snapshot's zip is packed once, into container ``snapshotzips``.
"""

from __future__ import annotations

import tempfile
import uuid
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from amlite.arm.tables import Resource
from amlite.artifacts.links import blob_url
from amlite.artifacts.stores import ArtifactStore
from amlite.artifacts.stores.base import CHUNK, limited
from amlite.compute import snapshots
from amlite.compute.layout import storage_account_name
from amlite.content.schemas import FileRevision
from amlite.content.tables import Snapshot
from amlite.content.trees import ClientTree, ContentHash, FileEntry, build_tree, walk_files, walk_folders
from amlite.errors import BadRequest, Conflict, NotFound, PayloadTooLarge
from amlite.identity.tokens import Caller
from amlite.settings import Settings

CONTAINER = "snapshots"
ZIPS = "snapshotzips"
STAGING = "uploads"
# what latest/metadata answers, and the SDK sends back as parentSnapshotId, when there is none yet
NO_SNAPSHOT = "00000000-0000-0000-0000-000000000000"


@dataclass(frozen=True)
class Upload:
    """One file of a new snapshot: its path, its bytes (read once), and what is known ahead."""

    path: str
    read: Callable[[], Iterable[bytes]]
    size: int | None = None
    timestamp: str | None = None


@dataclass
class NewSnapshot:
    id: str
    parent_id: str | None = None
    project_name: str | None = None
    properties: dict[str, Any] = field(default_factory=dict)
    # the tree the client declared: the files the snapshot should hold, and its folders
    tree: ClientTree | None = None


def snapshot_id(value: str | None, target: str = "snapshotId") -> str:
    """A snapshot id in canonical form (lower-case UUID); BadRequest otherwise."""
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        raise BadRequest(f"'{value}' is not a valid snapshot id: snapshot ids are UUIDs.",
                         code="InvalidSnapshotId", target=target) from None


def find_snapshot(session: Session, workspace: Resource, id_: str) -> Snapshot | None:
    snapshot = session.get(Snapshot, id_)
    return snapshot if snapshot is not None and snapshot.workspace_id == workspace.id else None


def get_snapshot(session: Session, workspace: Resource, id_: str | None, target: str = "snapshotId") -> Snapshot:
    snapshot = find_snapshot(session, workspace, snapshot_id(id_, target))
    if snapshot is None:
        raise NotFound(f"Snapshot '{id_}' was not found in workspace '{workspace.name}'.",
                       code="SnapshotNotFound", target=target)
    return snapshot


def latest_snapshot(session: Session, workspace: Resource, project_name: str | None = None) -> Snapshot | None:
    query = select(Snapshot).where(Snapshot.workspace_id == workspace.id)
    if project_name:
        query = query.where(Snapshot.project_name == project_name)
    return session.scalars(query.order_by(Snapshot.created_at.desc()).limit(1)).first()


def files_of(snapshot: Snapshot) -> dict[str, FileEntry]:
    return {entry.path: entry for entry in walk_files(snapshot.root)}


def _parent(session: Session, workspace: Resource, parent_id: str | None) -> Snapshot | None:
    if not parent_id or snapshot_id(parent_id, "parentSnapshotId") == NO_SNAPSHOT:
        return None
    return get_snapshot(session, workspace, parent_id, "parentSnapshotId")


def _plan(new: NewSnapshot, uploads: list[Upload], parent: Snapshot | None) -> list[FileEntry]:
    """The parent's files the new snapshot keeps: those the tree names with the same content (the
    SDK uploads only what changed), or all the parent's files not uploaded again when there is no
    tree. A tree file neither uploaded nor in the parent is left out: the SDK sends big changes in
    batches, each batch a snapshot on top of the previous one."""
    seen: set[str] = set()
    for upload in uploads:
        snapshots.check_path(upload.path)
        if upload.path in seen:
            raise BadRequest(f"The file '{upload.path}' was sent more than once.", code="InvalidSnapshot",
                             target="files")
        if new.tree is not None and upload.path not in new.tree.files:
            raise BadRequest(f"The file '{upload.path}' was sent but is not in the directory tree.",
                             code="InvalidSnapshot", target="dirTree")
        seen.add(upload.path)
    inherited = files_of(parent) if parent is not None else {}
    if new.tree is None:
        return [entry for path, entry in inherited.items() if path not in seen]
    kept = []
    for path, (hash_, _timestamp) in new.tree.files.items():
        entry = inherited.get(path)
        if path not in seen and entry is not None and hash_ in (None, entry.hash):
            kept.append(entry)
    return kept


def _check_limits(settings: Settings, uploads: list[Upload], kept: list[FileEntry]) -> None:
    count = len(uploads) + len(kept)
    if count > settings.snapshot_max_files:
        raise BadRequest(f"The snapshot would hold {count} files, more than the limit of "
                         f"{settings.snapshot_max_files}.", code="SnapshotTooManyFiles", target="files")
    size = sum(upload.size or 0 for upload in uploads) + sum(entry.size for entry in kept)
    if size > settings.snapshot_max_bytes:
        raise PayloadTooLarge(f"The snapshot would hold {size} bytes, more than the limit of "
                              f"{settings.snapshot_max_bytes} bytes.", code="SnapshotTooLarge")


def create_snapshot(session: Session, store: ArtifactStore, settings: Settings, workspace: Resource,
                    caller: Caller, new: NewSnapshot, uploads: list[Upload]) -> Snapshot:
    if session.get(Snapshot, new.id) is not None:
        raise Conflict(f"Snapshot '{new.id}' already exists.", code="SnapshotAlreadyExists", target="snapshotId")
    parent = _parent(session, workspace, new.parent_id)
    kept = _plan(new, uploads, parent)
    _check_limits(settings, uploads, kept)
    account = storage_account_name(workspace)
    entries: list[FileEntry] = []
    total = 0
    try:
        for entry in kept:
            source = store.read(account, CONTAINER, f"{parent.id}/{entry.path}")
            info = store.write(account, CONTAINER, f"{new.id}/{entry.path}",
                               limited(source, settings.snapshot_max_bytes, total))
            total += info.size
            stamp = new.tree.files[entry.path][1] if new.tree is not None else entry.timestamp
            entries.append(FileEntry(entry.path, info.size, entry.hash, stamp))
        for upload in uploads:
            hashed = ContentHash()
            store.write(account, CONTAINER, f"{new.id}/{upload.path}",
                        limited(hashed.wrap(upload.read()), settings.snapshot_max_bytes, total))
            total += hashed.size
            stamp = new.tree.files[upload.path][1] if new.tree is not None else upload.timestamp
            entries.append(FileEntry(upload.path, hashed.size, hashed.finish(upload.path), stamp))
        if new.tree is not None:
            folders = new.tree.folders
        else:
            folders = {path: node["timestamp"] for path, node in walk_folders(parent.root)} if parent else {}
        root = build_tree(entries, folders)
    except BaseException:
        _delete_blobs(store, account, new.id)
        raise
    snapshot = Snapshot(id=new.id, workspace_id=workspace.id, parent_id=parent.id if parent else None,
                        project_name=new.project_name, root=root, file_count=len(entries), size_bytes=total,
                        properties=new.properties,
                        created_by=caller.created_by())
    session.add(snapshot)
    try:
        session.flush()
    except IntegrityError:
        raise Conflict(f"Snapshot '{new.id}' already exists.", code="SnapshotAlreadyExists",
                       target="snapshotId") from None
    return snapshot


def snapshot_from_zip(session: Session, store: ArtifactStore, settings: Settings, workspace: Resource,
                      caller: Caller, zip_path: Path, names: list[str], id_: str, project_name: str) -> Snapshot:
    """Record a startrun project zip (already validated: ``names`` are its entries) as a snapshot."""
    with zipfile.ZipFile(zip_path) as archive:
        infos = archive.infolist()
        files: dict[str, tuple[str | None, str | None]] = {}
        folders: dict[str, str | None] = {}
        uploads = []
        for info, name in zip(infos, names):
            stamp = datetime(*info.date_time).isoformat()
            if name.endswith("/"):
                folders[name.rstrip("/")] = stamp
                continue
            files[name] = (None, stamp)
            uploads.append(Upload(name, lambda info=info: _member(archive, info), info.file_size, stamp))
        new = NewSnapshot(id_, project_name=project_name, tree=ClientTree(files, folders))
        return create_snapshot(session, store, settings, workspace, caller, new, uploads)


def _member(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> Iterator[bytes]:
    try:
        with archive.open(info) as source:
            while chunk := source.read(1 << 20):
                yield chunk
    except (zipfile.BadZipFile, NotImplementedError, EOFError) as error:
        raise BadRequest(f"Zip entry '{info.filename}' cannot be unpacked: {error}.", code="InvalidSnapshot",
                         target="projectZipFile") from None


def read_file(store: ArtifactStore, workspace: Resource, snapshot: Snapshot, path: str) -> Iterator[bytes]:
    try:
        return store.read(storage_account_name(workspace), CONTAINER, f"{snapshot.id}/{path}")
    except KeyError:
        raise NotFound(f"The file '{path}' of snapshot '{snapshot.id}' is missing from storage.",
                       code="SnapshotFileNotFound", target="snapshotId") from None


def pack(store: ArtifactStore, workspace: Resource, snapshot: Snapshot, dest: Path) -> None:
    """A zip of the snapshot at ``dest`` (what a run unpacks), streamed out of the store."""
    empty = [path for path, node in walk_folders(snapshot.root) if not node["children"]]
    snapshots.pack(dest, [(entry.path, entry.size, entry.timestamp,
                           lambda entry=entry: read_file(store, workspace, snapshot, entry.path))
                          for entry in walk_files(snapshot.root)], empty)


def zip_blob(store: ArtifactStore, settings: Settings, workspace: Resource, snapshot: Snapshot) -> tuple[str, str, str]:
    """(account, container, name) of the snapshot's zip, packed the first time it is asked for."""
    account, name = storage_account_name(workspace), f"{snapshot.id}.zip"
    if not store.exists(account, ZIPS, name):
        folder = settings.data_dir / "uploads"
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=folder) as scratch:
            path = Path(scratch) / name
            pack(store, workspace, snapshot, path)
            with path.open("rb") as source:
                store.write(account, ZIPS, name, iter(lambda: source.read(CHUNK), b""), content_type="application/zip")
    return account, ZIPS, name


def staging_names(settings: Settings, paths: list[str]) -> dict[str, str]:
    """getblob: where each file is uploaded before the snapshot is created (a fresh folder per call)."""
    if len(paths) > settings.snapshot_max_files:
        raise BadRequest(f"{len(paths)} files are more than the limit of {settings.snapshot_max_files} "
                         "files in a snapshot.", code="SnapshotTooManyFiles", target="fileNames")
    token = uuid.uuid4().hex
    return {snapshots.check_path(path): f"{STAGING}/{token}/{path}" for path in paths}


@dataclass
class StagedFiles:
    """The files of a v2.0 create, read from the blobs getblob handed out links to."""

    account: str
    names: list[str]
    uploads: list[Upload]


def staged_files(store: ArtifactStore, settings: Settings, workspace: Resource,
                 revisions: list[FileRevision]) -> StagedFiles:
    account = storage_account_name(workspace)
    prefix = blob_url(settings, account, CONTAINER, "", "").rstrip("?")
    staged = StagedFiles(account, [], [])
    for revision in revisions:
        location = revision.blobUri.split("?", 1)[0]
        name = unquote(location[len(prefix):]) if location.startswith(prefix) else ""
        if not name.startswith(f"{STAGING}/"):
            raise BadRequest(f"The blob link of '{revision.fullName}' is not one that getblob handed out.",
                             code="InvalidSnapshot", target="fileRevisionList")
        staged.names.append(name)
        staged.uploads.append(Upload(revision.fullName, lambda name=name, path=revision.fullName:
                                     _staged(store, account, name, path), revision.fileSize))
    return staged


def _staged(store: ArtifactStore, account: str, name: str, path: str) -> Iterator[bytes]:
    try:
        return store.read(account, CONTAINER, name)
    except KeyError:
        raise BadRequest(f"The file '{path}' was not uploaded to its blob link.", code="SnapshotFileNotUploaded",
                         target="fileRevisionList") from None


def discard_staged(store: ArtifactStore, staged: StagedFiles) -> None:
    """Remove the uploads a created snapshot copied (a leftover upload is only space)."""
    for name in staged.names:
        store.delete(staged.account, CONTAINER, name)


def delete_snapshot(session: Session, store: ArtifactStore, workspace: Resource, snapshot: Snapshot) -> None:
    account = storage_account_name(workspace)
    _delete_blobs(store, account, snapshot.id)
    store.delete(account, ZIPS, f"{snapshot.id}.zip")
    session.delete(snapshot)


def _delete_blobs(store: ArtifactStore, account: str, id_: str) -> None:
    for blob in list(store.list(account, CONTAINER, f"{id_}/")):
        store.delete(account, CONTAINER, blob.name)
