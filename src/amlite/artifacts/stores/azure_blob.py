"""``azureblob://`` store: every amlite storage account and container inside one real Azure Storage
container, as blobs named ``{account}/{container}/{name}``.

The URI names the real endpoint and container: ``azureblob://{account}.blob.core.windows.net/{container}``
(https), or ``azureblob+http://127.0.0.1:10000/devstoreaccount1/{container}`` for a path-style endpoint
such as Azurite. The account key comes from the settings, never from the URI.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from urllib.parse import urlsplit

from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.storage.blob import BlobBlock, BlobProperties, BlobServiceClient, ContentSettings

from amlite.artifacts.stores.base import (
    BlobInfo,
    HashedChunks,
    check_account,
    check_block_id,
    check_container,
    check_name,
    limited,
)
from amlite.errors import BadRequest, PayloadTooLarge

BLOCK = 4 << 20
BLOCK_ID_LENGTH = 48


def parse_uri(uri: str) -> tuple[str, str, str]:
    """(account URL, account name, container) of an ``azureblob://`` or ``azureblob+http://`` URI."""
    parts = urlsplit(uri)
    scheme = "http" if parts.scheme == "azureblob+http" else "https"
    segments = [s for s in parts.path.split("/") if s]
    host = parts.hostname or ""
    if host.replace(".", "").isdigit() or host == "localhost":  # path-style: /{account}/{container}
        if len(segments) != 2:
            raise ValueError(f"{uri}: a path-style endpoint needs /{{account}}/{{container}}")
        account, container = segments
        return f"{scheme}://{parts.netloc}/{account}", account, container
    if len(segments) != 1:
        raise ValueError(f"{uri}: expected azureblob://{{account}}.blob.{{suffix}}/{{container}}")
    return f"{scheme}://{parts.netloc}", host.split(".", 1)[0], segments[0]


class AzureBlobStore:
    def __init__(self, uri: str, account_key: str | None) -> None:
        self.uri = uri
        account_url, account_name, container = parse_uri(uri)
        credential = {"account_name": account_name, "account_key": account_key} if account_key else None
        # reads come in 4 MiB pieces (the SDK's default first read is 32 MiB, held in memory)
        self.service = BlobServiceClient(account_url, credential=credential, max_single_get_size=BLOCK,
                                         max_chunk_get_size=BLOCK)
        self.container = self.service.get_container_client(container)
        try:
            self.container.create_container()
        except ResourceExistsError:
            pass

    def _blob(self, account: str, container: str, name: str):
        blob_name = f"{check_account(account)}/{check_container(container)}/{check_name(name)}"
        return self.container.get_blob_client(blob_name)

    def write(self, account: str, container: str, name: str, chunks: Iterable[bytes],
              content_type: str | None = None, max_bytes: int | None = None,
              content_md5: bytes | None = None) -> BlobInfo:
        blob = self._blob(account, container, name)
        counted = HashedChunks(limited(chunks, max_bytes), content_md5)
        ids = self._stage_all(blob, counted)
        return self._commit(blob, name, ids, content_type, counted.digest.digest())

    def append(self, account: str, container: str, name: str, chunks: Iterable[bytes],
               max_bytes: int | None = None) -> BlobInfo:
        """Appends as a new block list: the committed blocks, then the new ones."""
        blob = self._blob(account, container, name)
        try:
            committed, _ = blob.get_block_list("committed")
            props = blob.get_blob_properties()
            existing, content_type = props.size, props.content_settings.content_type
        except ResourceNotFoundError:
            committed, existing, content_type = [], 0, None
        if existing and not committed:  # a blob written in one Put Blob: restage it as blocks
            committed = [BlobBlock(i) for i in self._stage_all(blob, blob.download_blob().chunks())]
        new = self._stage_all(blob, limited(chunks, max_bytes, existing), start=len(committed))
        return self._commit(blob, name, [b.id for b in committed] + new, content_type, None)

    def _stage_all(self, blob, chunks: Iterable[bytes], start: int = 0) -> list[str]:
        ids = []
        for index, chunk in enumerate(_rechunk(chunks), start=start):
            block_id = f"{index:0{BLOCK_ID_LENGTH}d}"
            blob.stage_block(block_id, chunk)
            ids.append(block_id)
        return ids

    def stage_block(self, account: str, container: str, name: str, block_id: str, chunks: Iterable[bytes],
                    max_bytes: int | None = None) -> None:
        data = b"".join(limited(chunks, max_bytes))  # one block: bounded by Put Block's own size limit
        self._blob(account, container, name).stage_block(_block_id(check_block_id(block_id)), data)

    def commit_blocks(self, account: str, container: str, name: str, block_ids: list[str],
                      content_type: str | None = None, max_bytes: int | None = None) -> BlobInfo:
        blob = self._blob(account, container, name)
        _, uncommitted = blob.get_block_list("uncommitted")
        sizes = {b.id: b.size for b in uncommitted}
        ids = [_block_id(block_id) for block_id in block_ids]
        missing = [block_id for block_id, stored in zip(block_ids, ids) if stored not in sizes]
        if missing:
            raise BadRequest(f"The block list names blocks that were not staged: {', '.join(missing[:5])}.",
                             code="InvalidBlockList")
        if max_bytes is not None and sum(sizes[b] for b in ids) > max_bytes:
            raise PayloadTooLarge(f"The upload is larger than the limit of {max_bytes} bytes.")
        return self._commit(blob, name, ids, content_type, None)

    def _commit(self, blob, name: str, block_ids: list[str], content_type: str | None, md5: bytes | None) -> BlobInfo:
        if md5 is None:  # a blob made of blocks has no MD5 of its own: compute it once, keep it on the blob
            blob.commit_block_list([BlobBlock(b) for b in block_ids],
                                   content_settings=ContentSettings(content_type=content_type))
            digest = hashlib.md5(usedforsecurity=False)
            for chunk in blob.download_blob().chunks():
                digest.update(chunk)
            md5 = digest.digest()
            blob.set_http_headers(ContentSettings(content_type=content_type, content_md5=md5))
        else:
            blob.commit_block_list([BlobBlock(b) for b in block_ids],
                                   content_settings=ContentSettings(content_type=content_type, content_md5=md5))
        return self._info(blob.get_blob_properties(), name)

    def read(self, account: str, container: str, name: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        blob = self._blob(account, container, name)
        length = None if end is None else max(0, end - start)
        if length == 0:
            return iter(())
        try:
            return blob.download_blob(offset=start, length=length).chunks()
        except ResourceNotFoundError:
            raise KeyError(name) from None
        except HttpResponseError as error:
            if error.status_code == 416:  # a range past the end of an empty or short blob
                return iter(())
            raise

    def info(self, account: str, container: str, name: str) -> BlobInfo | None:
        blob = self._blob(account, container, name)
        try:
            return self._info(blob.get_blob_properties(), name)
        except ResourceNotFoundError:
            return None

    def exists(self, account: str, container: str, name: str) -> bool:
        return self._blob(account, container, name).exists()

    def list(self, account: str, container: str, prefix: str = "") -> Iterator[BlobInfo]:
        base = f"{check_account(account)}/{check_container(container)}/"
        for props in self.container.list_blobs(name_starts_with=base + prefix):
            yield self._info(props, props.name[len(base):])

    def delete(self, account: str, container: str, name: str) -> bool:
        try:
            self._blob(account, container, name).delete_blob()
        except ResourceNotFoundError:
            return False
        return True

    def _info(self, props: BlobProperties, name: str) -> BlobInfo:
        settings = props.content_settings
        md5 = bytes(settings.content_md5) if settings.content_md5 else b""
        return BlobInfo(name, props.size, md5, props.last_modified, settings.content_type)


def _block_id(client_id: str) -> str:
    """The id a client's block is staged under: Azure wants every block id of a blob of one length, and
    at most 64 bytes (before the SDK's base64)."""
    return hashlib.sha256(client_id.encode()).hexdigest()[:BLOCK_ID_LENGTH]


def _rechunk(chunks: Iterable[bytes], size: int = BLOCK) -> Iterator[bytes]:
    """Blocks of ``size`` bytes (the last one shorter) out of chunks of any size."""
    buffer = bytearray()
    for chunk in chunks:
        buffer += chunk
        while len(buffer) >= size:
            yield bytes(buffer[:size])
            del buffer[:size]
    if buffer:
        yield bytes(buffer)
