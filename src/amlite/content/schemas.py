"""Wire models of the content service, and the JSON of snapshots (the SDK's SnapshotDto, DirTreeNode)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from amlite.content.tables import Snapshot
from amlite.content.trees import FILE
from amlite.runs.schemas import iso
from amlite.web.body import WireModel


class FileNames(WireModel):
    """``POST /content/v2.0/.../snapshots/getblob``: the files the SDK is about to upload."""

    fileNames: list[str]


class FileRevision(WireModel):
    fullName: str
    blobUri: str
    fileSize: int | None = None


class FileRevisionList(WireModel):
    fileNodes: list[FileRevision] = []


class CreateSnapshotV2(WireModel):
    """``POST /content/v2.0/.../snapshots/{id}``: the whole tree, and where the changed files went."""

    parentSnapshotId: str | None = None
    properties: dict[str, Any] | None = None
    dirTreeNode: dict[str, Any]
    fileRevisionList: FileRevisionList = FileRevisionList()


def snapshot_json(snapshot: Snapshot | None, no_snapshot: str) -> dict[str, Any]:
    """SnapshotDto; with no snapshot, the nil id and an empty tree (the SDK diffs against it)."""
    if snapshot is None:
        return {"id": no_snapshot, "root": {}}
    return {"id": snapshot.id, "root": snapshot.root, "parentSnapshotId": snapshot.parent_id,
            "projectName": snapshot.project_name, "properties": snapshot.properties or {},
            "createdBy": snapshot.created_by, "createdTime": iso(snapshot.created_at)}


def tree_with_links(root: dict[str, Any], link: Callable[[str], str]) -> dict[str, Any]:
    """The tree with a ``sasUrl`` on every file (``link(path)``)."""
    tree = copy.deepcopy(root)
    pending: list[tuple[str, dict[str, Any]]] = [("", tree)]
    while pending:
        prefix, node = pending.pop()
        for name, child in node["children"].items():
            path = f"{prefix}/{name}" if prefix else name
            if child["type"] == FILE:
                child["sasUrl"] = link(path)
            else:
                pending.append((path, child))
    return tree
