"""Snapshot directory trees: the SDK's Merkle tree (``DirTreeNode``), read from clients and built by
the server with the SDK's own hashing, so that the SDK's diff against ``latest/metadata`` finds
unchanged files unchanged.

A file's hash is SHA-512 over its bytes, then its name, then ``File``; a folder's hash is SHA-512
over its children's digests in name order. Trees are JSON: ``{name, type, hash, timestamp,
sizeBytes, children: {name: node}}``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from amlite.compute.snapshots import check_path
from amlite.errors import BadRequest

FILE, DIRECTORY = "File", "Directory"


@dataclass(frozen=True)
class FileEntry:
    path: str
    size: int
    hash: str
    timestamp: str | None = None


class ContentHash:
    """The SDK's file hash, computed while the bytes stream through."""

    def __init__(self) -> None:
        self.digest = hashlib.sha512()
        self.size = 0

    def wrap(self, chunks: Iterable[bytes]) -> Iterator[bytes]:
        for chunk in chunks:
            self.digest.update(chunk)
            self.size += len(chunk)
            yield chunk

    def finish(self, path: str) -> str:
        self.digest.update(path.rsplit("/", 1)[-1].encode())
        self.digest.update(FILE.encode())
        return self.digest.hexdigest()


def _invalid(message: str) -> BadRequest:
    return BadRequest(message, code="InvalidSnapshot", target="dirTree")


@dataclass
class ClientTree:
    """A tree a client sent: its files (path -> hash, timestamp) and its folders (path -> timestamp)."""

    files: dict[str, tuple[str | None, str | None]]
    folders: dict[str, str | None]


def read_tree(document: Any) -> ClientTree:
    """Validate a client's tree (children as a list, as ``dirTreeRootFile`` has them, or as a map)."""
    if not isinstance(document, dict):
        raise _invalid("The directory tree must be a JSON object (a DirTreeNode).")
    tree = ClientTree({}, {})
    pending: list[tuple[str, dict[str, Any]]] = [("", document)]
    while pending:
        prefix, node = pending.pop()
        children = node.get("children") or {}
        if isinstance(children, dict):
            children = list(children.values())
        if not isinstance(children, list):
            raise _invalid(f"The children of '{prefix or '/'}' must be a list or a map of DirTreeNode.")
        for child in children:
            if not isinstance(child, dict) or not isinstance(child.get("name"), str):
                raise _invalid(f"A child of '{prefix or '/'}' is not a DirTreeNode with a name.")
            name = child["name"]
            if "/" in name or "\\" in name:
                raise _invalid(f"The tree node name '{name}' under '{prefix or '/'}' contains a path separator.")
            path = check_path(f"{prefix}/{name}" if prefix else name)
            if path in tree.files or path in tree.folders:
                raise _invalid(f"'{path}' appears more than once in the directory tree.")
            kind = str(child.get("type") or "")
            if kind.lower() == FILE.lower():
                tree.files[path] = (_str(child.get("hash")), _str(child.get("timestamp")))
            elif kind.lower() == DIRECTORY.lower():
                tree.folders[path] = _str(child.get("timestamp"))
                pending.append((path, child))
            else:
                raise _invalid(f"'{path}' has type '{kind}': use 'File' or 'Directory'.")
    return tree


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _now() -> str:
    return datetime.now(UTC).isoformat()


def build_tree(files: Iterable[FileEntry], folders: dict[str, str | None] | None = None) -> dict[str, Any]:
    """The tree of these files (and folders, empty ones included), hashed as the SDK hashes it."""
    stamp = _now()
    root: dict[str, Any] = _folder("", stamp)
    index: dict[str, dict[str, Any]] = {"": root}

    def folder(path: str) -> dict[str, Any]:
        if path not in index:
            parent_path, _, name = path.rpartition("/")
            siblings = folder(parent_path)["children"]
            if name in siblings:
                raise _invalid(f"'{path}' is both a file and a folder.")
            siblings[name] = index[path] = _folder(name, (folders or {}).get(path) or stamp)
        return index[path]

    for path in sorted(folders or {}):
        folder(path)
    for entry in files:
        parent_path, _, name = entry.path.rpartition("/")
        parent = folder(parent_path)
        if name in parent["children"]:
            raise _invalid(f"'{entry.path}' is both a file and a folder.")
        parent["children"][name] = {"name": name, "type": FILE, "hash": entry.hash,
                                    "timestamp": entry.timestamp or stamp, "sizeBytes": entry.size, "children": {}}
    _seal(root)
    return root


def _folder(name: str, stamp: str) -> dict[str, Any]:
    return {"name": name, "type": DIRECTORY, "hash": "", "timestamp": stamp, "sizeBytes": 0, "children": {}}


def _seal(node: dict[str, Any]) -> bytes:
    """Sort the children by name, and give folders their hash and size (depth first)."""
    if node["type"] == FILE:
        return bytes.fromhex(node["hash"])
    digest = hashlib.sha512()
    node["children"] = dict(sorted(node["children"].items()))
    for child in node["children"].values():
        digest.update(_seal(child))
    node["hash"] = digest.hexdigest()
    node["sizeBytes"] = sum(child["sizeBytes"] for child in node["children"].values())
    return digest.digest()


def walk_files(root: dict[str, Any]) -> Iterator[FileEntry]:
    """Every file of a stored tree."""
    for path, node in _walk(root):
        if node["type"] == FILE:
            yield FileEntry(path, node["sizeBytes"], node["hash"], node["timestamp"])


def walk_folders(root: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every folder of a stored tree (but the root), with its node."""
    return ((path, node) for path, node in _walk(root) if node["type"] == DIRECTORY)


def _walk(root: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    pending: list[tuple[str, dict[str, Any]]] = [("", root)]
    while pending:
        prefix, node = pending.pop()
        for name, child in node["children"].items():
            path = f"{prefix}/{name}" if prefix else name
            yield path, child
            pending.append((path, child))
