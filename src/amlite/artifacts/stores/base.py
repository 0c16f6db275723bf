"""The artifact store seam: named blobs in (storage account, container), streamed in and out.

amlite's storage accounts are ARM resources; a store keeps each account's containers apart, on local
disk or in Azure Blob storage. Callers never hold a whole blob in memory: bytes go in as an iterable
of chunks and come out as an iterator of chunks.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from amlite.errors import BadRequest, PayloadTooLarge

CHUNK = 1 << 20
_CONTAINER = re.compile(r"^[a-z0-9]([a-z0-9-]{1,61}[a-z0-9])?$")
_ACCOUNT = re.compile(r"^[a-z0-9]{3,24}$")
_BLOCK_ID = re.compile(r"^[A-Za-z0-9+/=_-]{1,128}$")


@dataclass(frozen=True)
class BlobInfo:
    name: str
    size: int
    md5: bytes
    modified: datetime
    content_type: str | None = None

    @property
    def etag(self) -> str:
        return f'"0x{self.md5.hex()[:16].upper()}"'


class HashedChunks:
    """An upload's chunks, passed on while their MD5 is computed; with ``expected`` (a Content-MD5), a
    mismatch fails the upload after its last chunk, before whoever consumes them commits it."""

    def __init__(self, chunks: Iterable[bytes], expected: bytes | None = None) -> None:
        self.chunks, self.expected = chunks, expected
        self.digest = hashlib.md5(usedforsecurity=False)

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self.chunks:
            self.digest.update(chunk)
            yield chunk
        if self.expected is not None and self.digest.digest() != self.expected:
            raise BadRequest("The MD5 value specified in the request did not match with the MD5 value calculated "
                             "by the server.", code="Md5Mismatch")


class ArtifactStore(Protocol):
    """Blobs addressed by (account, container, name); names use ``/`` between folders."""

    uri: str

    def write(self, account: str, container: str, name: str, chunks: Iterable[bytes],
              content_type: str | None = None, max_bytes: int | None = None,
              content_md5: bytes | None = None) -> BlobInfo:
        """Create or replace a blob; raises BadRequest past ``max_bytes`` or when the bytes' MD5 is not
        ``content_md5``, and then keeps the old blob."""

    def append(self, account: str, container: str, name: str, chunks: Iterable[bytes],
               max_bytes: int | None = None) -> BlobInfo:
        """Add bytes at the end of a blob (created when missing)."""

    def read(self, account: str, container: str, name: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """The bytes ``[start, end)`` of a blob; raises KeyError when it does not exist."""

    def info(self, account: str, container: str, name: str) -> BlobInfo | None: ...

    def exists(self, account: str, container: str, name: str) -> bool:
        """Whether the blob is there: cheaper than ``info``, which may hash a file that changed."""

    def list(self, account: str, container: str, prefix: str = "") -> Iterator[BlobInfo]:
        """The blobs whose name starts with ``prefix``, in name order."""

    def delete(self, account: str, container: str, name: str) -> bool: ...

    def stage_block(self, account: str, container: str, name: str, block_id: str, chunks: Iterable[bytes],
                    max_bytes: int | None = None) -> None:
        """Azure's Put Block: keep a block aside until a block list commits it."""

    def commit_blocks(self, account: str, container: str, name: str, block_ids: list[str],
                      content_type: str | None = None, max_bytes: int | None = None) -> BlobInfo:
        """Azure's Put Block List: the blob becomes the named staged blocks, in order."""


def check_account(account: str) -> str:
    if not _ACCOUNT.match(account):
        raise BadRequest(f"'{account}' is not a storage account name.", code="InvalidResourceName")
    return account


def check_container(container: str) -> str:
    if not _CONTAINER.match(container) or "--" in container:
        raise BadRequest(f"'{container}' is not a container name.", code="InvalidResourceName")
    return container


def check_name(name: str) -> str:
    """A blob name that cannot leave its container: relative, no ``.``/``..`` segments, no control bytes."""
    parts = name.split("/")
    if (not name or len(name) > 1024 or name.startswith("/") or "\\" in name
            or any(part in ("", ".", "..") for part in parts)
            or any(ord(ch) < 32 for ch in name)):
        raise BadRequest(f"'{name}' is not a valid artifact path: use a relative path without '.' or '..' "
                         "segments.", code="InvalidArtifactPath")
    return name


def check_block_id(block_id: str) -> str:
    if not _BLOCK_ID.match(block_id):
        raise BadRequest("The block id is not valid base64 of at most 64 bytes.", code="InvalidQueryParameterValue")
    return block_id


def limited(chunks: Iterable[bytes], max_bytes: int | None, already: int = 0) -> Iterator[bytes]:
    """The chunks, stopping with a 413-worthy error once more than ``max_bytes`` went through."""
    total = already
    for chunk in chunks:
        total += len(chunk)
        if max_bytes is not None and total > max_bytes:
            raise PayloadTooLarge(f"The upload is larger than the limit of {max_bytes} bytes.")
        yield chunk
