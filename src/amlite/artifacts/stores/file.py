"""``file://`` store: one folder per storage account and container under a root folder.

Blobs are plain files, so what a run leaves in its outputs folder is an artifact as is. A sidecar
under ``.amlite`` keeps each blob's MD5 and content type; it is recomputed when the file changed
behind the store's back (its size or mtime differ). Writes go to a temporary file first and are
renamed into place, so a failed or oversized upload leaves the previous blob untouched.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path

from amlite.artifacts.stores.base import (
    CHUNK,
    BlobInfo,
    HashedChunks,
    check_account,
    check_block_id,
    check_container,
    check_name,
    limited,
)
from amlite.errors import BadRequest

META = ".amlite"


class FileStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.uri = root.resolve().as_uri()

    # --- paths -------------------------------------------------------------------------------

    def path(self, account: str, container: str, name: str) -> Path:
        """The file of a blob (for callers that hand folders to local processes)."""
        return self.root / check_account(account) / check_container(container) / check_name(name)

    def _meta(self, account: str, container: str, name: str) -> Path:
        return self.root / META / "meta" / account / container / f"{name}.json"

    def _blocks(self, account: str, container: str, name: str) -> Path:
        key = hashlib.sha256(f"{account}/{container}/{name}".encode()).hexdigest()
        return self.root / META / "blocks" / key

    # --- writing -----------------------------------------------------------------------------

    def write(self, account: str, container: str, name: str, chunks: Iterable[bytes],
              content_type: str | None = None, max_bytes: int | None = None,
              content_md5: bytes | None = None) -> BlobInfo:
        target = self.path(account, container, name)
        return self._replace(target, account, container, name, HashedChunks(limited(chunks, max_bytes), content_md5),
                             content_type)

    def append(self, account: str, container: str, name: str, chunks: Iterable[bytes],
               max_bytes: int | None = None) -> BlobInfo:
        target = self.path(account, container, name)
        existed = target.is_file()
        existing = target.stat().st_size if existed else 0
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("ab") as out:
            try:
                for chunk in limited(chunks, max_bytes, existing):
                    out.write(chunk)
            except BaseException:  # a failed append (too large, cut off) leaves the blob as it was
                out.truncate(existing)
                if not existed:
                    target.unlink()
                raise
        return self._describe(target, account, container, name, None, None)

    def stage_block(self, account: str, container: str, name: str, block_id: str, chunks: Iterable[bytes],
                    max_bytes: int | None = None) -> None:
        self.path(account, container, name)
        folder = self._blocks(account, container, name)
        folder.mkdir(parents=True, exist_ok=True)
        block = folder / _block_file(check_block_id(block_id))
        with tempfile.NamedTemporaryFile(dir=folder, delete=False) as out:
            try:
                for chunk in limited(chunks, max_bytes):
                    out.write(chunk)
            except BaseException:
                os.unlink(out.name)
                raise
        os.replace(out.name, block)

    def commit_blocks(self, account: str, container: str, name: str, block_ids: list[str],
                      content_type: str | None = None, max_bytes: int | None = None) -> BlobInfo:
        target = self.path(account, container, name)
        folder = self._blocks(account, container, name)
        files = [folder / _block_file(check_block_id(block_id)) for block_id in block_ids]
        missing = [block_id for block_id, file in zip(block_ids, files) if not file.is_file()]
        if missing:
            raise BadRequest(f"The block list names blocks that were not staged: {', '.join(missing[:5])}.",
                             code="InvalidBlockList")

        def blocks() -> Iterator[bytes]:
            for file in files:
                with file.open("rb") as source:
                    while chunk := source.read(CHUNK):
                        yield chunk

        info = self._replace(target, account, container, name, HashedChunks(limited(blocks(), max_bytes)),
                             content_type)
        shutil.rmtree(folder, ignore_errors=True)
        return info

    def _replace(self, target: Path, account: str, container: str, name: str, chunks: HashedChunks,
                 content_type: str | None) -> BlobInfo:
        if target.is_dir():
            raise BadRequest(f"'{name}' is a folder of artifacts, not one.", code="InvalidArtifactPath")
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=target.parent, prefix=".upload-", delete=False) as out:
            try:
                for chunk in chunks:
                    out.write(chunk)
            except BaseException:
                os.unlink(out.name)
                raise
        os.replace(out.name, target)
        return self._describe(target, account, container, name, chunks.digest.digest(), content_type)

    # --- reading -----------------------------------------------------------------------------

    def read(self, account: str, container: str, name: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        target = self.path(account, container, name)
        if not target.is_file():
            raise KeyError(name)
        source = target.open("rb")

        def chunks() -> Iterator[bytes]:
            with source:
                source.seek(start)
                left = None if end is None else max(0, end - start)
                while left is None or left > 0:
                    chunk = source.read(CHUNK if left is None else min(CHUNK, left))
                    if not chunk:
                        return
                    if left is not None:
                        left -= len(chunk)
                    yield chunk

        return chunks()

    def info(self, account: str, container: str, name: str) -> BlobInfo | None:
        target = self.path(account, container, name)
        if not target.is_file():
            return None
        return self._describe(target, account, container, name, None, None)

    def exists(self, account: str, container: str, name: str) -> bool:
        return self.path(account, container, name).is_file()

    def list(self, account: str, container: str, prefix: str = "") -> Iterator[BlobInfo]:
        base = self.root / check_account(account) / check_container(container)
        if not base.is_dir():
            return
        folder = prefix.rsplit("/", 1)[0] if "/" in prefix else ""
        start = base / folder if folder else base
        if not start.is_dir():
            return
        for path in sorted(_files(start), key=lambda p: p.relative_to(base).as_posix()):
            name = path.relative_to(base).as_posix()
            if name.startswith(prefix) and not path.name.startswith(".upload-"):
                yield self._describe(path, account, container, name, None, None)

    def delete(self, account: str, container: str, name: str) -> bool:
        target = self.path(account, container, name)
        if not target.is_file():
            return False
        target.unlink()
        self._meta(account, container, name).unlink(missing_ok=True)
        return True

    # --- metadata ----------------------------------------------------------------------------

    def _describe(self, path: Path, account: str, container: str, name: str, md5: bytes | None,
                  content_type: str | None) -> BlobInfo:
        stat = path.stat()
        meta_path = self._meta(account, container, name)
        meta = _load(meta_path)
        fresh = meta.get("size") == stat.st_size and meta.get("mtime") == stat.st_mtime_ns
        if md5 is None and fresh:
            md5 = bytes.fromhex(meta["md5"])
        if content_type is None and meta.get("contentType"):
            content_type = meta["contentType"]
        if md5 is None:
            md5 = _md5_of(path)
        if not fresh or meta.get("md5") != md5.hex() or meta.get("contentType") != content_type:
            meta_path.parent.mkdir(parents=True, exist_ok=True)
            meta_path.write_text(json.dumps({"size": stat.st_size, "mtime": stat.st_mtime_ns, "md5": md5.hex(),
                                             "contentType": content_type}))
        return BlobInfo(name, stat.st_size, md5, datetime.fromtimestamp(stat.st_mtime, UTC), content_type)


def _files(folder: Path) -> Iterator[Path]:
    for root, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if d != META]
        for file in files:
            yield Path(root) / file


def _block_file(block_id: str) -> str:
    return hashlib.sha256(block_id.encode()).hexdigest()


def _md5_of(path: Path) -> bytes:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as source:
        while chunk := source.read(CHUNK):
            digest.update(chunk)
    return digest.digest()


def _load(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
