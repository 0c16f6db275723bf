"""An Azure-Blob-compatible endpoint, ``/blob/{account}/{container}/{name}``, authenticated by a signed link.

Artifact ``contentUri`` links point here. It speaks what the Azure Storage SDKs send to such a link:
Get Blob (with ranges), Get Blob Properties (HEAD), Put Blob, Put Block and Put Block List; answers
carry Azure's headers and its XML errors (web/errors.py). Bodies stream between the client and the
artifact store in both directions.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from email.utils import formatdate
from xml.etree import ElementTree

from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from amlite.artifacts.links import BlobLinks
from amlite.artifacts.stores import ArtifactStore, BlobInfo
from amlite.artifacts.stores.base import HashedChunks
from amlite.errors import BadRequest, Conflict, NotFound, PayloadTooLarge, PreconditionFailed, RangeNotSatisfiable
from amlite.web.body import body_chunks
from amlite.web.deps import app_context
from amlite.web.errors import STORAGE_VERSION

router = APIRouter(tags=["blob"])

BLOB = "/blob/{account}/{container}/{name:path}"
READ_NEEDED, WRITE_NEEDED = "r", "w"  # the permission (``sp``) a read and a write need
_RANGE = re.compile(r"^bytes=(\d+)-(\d*)$")
RANGE_MD5_MAX = 4 << 20  # Azure computes a range's MD5 for ranges of at most 4 MiB
BLOCK_LIST_MAX = 8 << 20
Target = tuple[ArtifactStore, str, str, str]  # the store, and the blob's account, container and name


def _b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode()


def _properties(info: BlobInfo) -> dict[str, str]:
    return {
        "ETag": info.etag,
        "Last-Modified": formatdate(info.modified.timestamp(), usegmt=True),
        "Content-Type": info.content_type or "application/octet-stream",
        "Accept-Ranges": "bytes",
        "x-ms-blob-type": "BlockBlob",
        "x-ms-lease-state": "available",
        "x-ms-lease-status": "unlocked",
        "x-ms-server-encrypted": "true",
        "x-ms-version": STORAGE_VERSION,
    }


def _written(info: BlobInfo, content_md5: bytes) -> Response:
    """201 as Azure answers a write: ``Content-MD5`` is the MD5 of what the request sent."""
    return Response(status_code=201, headers={
        "ETag": info.etag, "Last-Modified": formatdate(info.modified.timestamp(), usegmt=True),
        "Content-MD5": _b64(content_md5), "x-ms-request-server-encrypted": "true", "x-ms-version": STORAGE_VERSION,
    })


def _etags(header: str) -> set[str]:
    return {tag.strip() for tag in header.split(",")}


def _check_write_conditions(request: Request, target: Target) -> None:
    if_match, if_none_match = request.headers.get("if-match"), request.headers.get("if-none-match")
    if not (if_match or if_none_match):
        return
    store, account, container, name = target
    info = store.info(account, container, name)
    if if_match and (info is None or (if_match != "*" and info.etag not in _etags(if_match))):
        raise PreconditionFailed("The condition specified using HTTP conditional header(s) is not met.",
                                 code="ConditionNotMet")
    if if_none_match and info is not None:
        if if_none_match == "*":
            raise Conflict("The specified blob already exists.", code="BlobAlreadyExists")
        if info.etag in _etags(if_none_match):
            raise PreconditionFailed("The condition specified using HTTP conditional header(s) is not met.",
                                     code="ConditionNotMet")


def _not_modified(request: Request, info: BlobInfo) -> bool:
    """True when a read's If-None-Match names the blob's ETag; 412 when its If-Match does not."""
    if_match = request.headers.get("if-match")
    if if_match and if_match != "*" and info.etag not in _etags(if_match):
        raise PreconditionFailed("The condition specified using HTTP conditional header(s) is not met.",
                                 code="ConditionNotMet")
    if_none_match = request.headers.get("if-none-match")
    return bool(if_none_match) and (if_none_match == "*" or info.etag in _etags(if_none_match))


def _range(request: Request, size: int) -> tuple[int, int] | None:
    """[start, end) of ``x-ms-range`` (or ``Range``); None for the whole blob. A malformed header is ignored,
    as Azure does."""
    match = _RANGE.match((request.headers.get("x-ms-range") or request.headers.get("range") or "").strip())
    if match is None:
        return None
    start = int(match.group(1))
    end = min(int(match.group(2)) + 1, size) if match.group(2) else size
    if start >= size or end <= start:
        raise RangeNotSatisfiable("The range specified is invalid for the current size of the resource.",
                                  headers={"Content-Range": f"bytes */{size}"})
    return start, end


def _content_md5(request: Request) -> bytes | None:
    header = request.headers.get("content-md5")
    if header is None:
        return None
    try:
        digest = base64.b64decode(header, validate=True)
    except binascii.Error:
        digest = b""
    if len(digest) != 16:
        raise BadRequest("The MD5 value specified in the request is invalid. The MD5 value must be 128 bits and "
                         "Base64-encoded.", code="InvalidMd5")
    return digest


def _check_length(request: Request, max_bytes: int) -> None:
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > max_bytes:
        raise PayloadTooLarge(f"The request body is too large and exceeds the maximum permissible limit "
                              f"of {max_bytes} bytes.")


@router.api_route(BLOB, methods=["GET", "HEAD"], operation_id="Blob_Get")
def get_blob(request: Request, account: str, container: str, name: str):
    """Get Blob, or Get Blob Properties for HEAD."""
    context = app_context(request)
    BlobLinks.of(context).verify(READ_NEEDED, account, container, name, request.query_params)
    store = context.artifacts
    info = store.info(account, container, name)
    if info is None:
        raise NotFound("The specified blob does not exist.", code="BlobNotFound")
    headers = _properties(info)
    if _not_modified(request, info):
        return Response(status_code=304, headers=headers)
    span = _range(request, info.size) if request.method == "GET" else None
    if span is None:
        headers.update({"Content-Length": str(info.size), "Content-MD5": _b64(info.md5)})
        if request.method == "HEAD":
            return Response(status_code=200, headers=headers)
        return StreamingResponse(store.read(account, container, name), headers=headers)
    start, end = span
    headers.update({"Content-Range": f"bytes {start}-{end - 1}/{info.size}", "Content-Length": str(end - start),
                    "x-ms-blob-content-md5": _b64(info.md5)})
    if request.headers.get("x-ms-range-get-content-md5", "").lower() == "true":
        if end - start > RANGE_MD5_MAX:
            raise BadRequest("x-ms-range-get-content-md5 is allowed for ranges of at most 4 MiB.",
                             code="OutOfRangeInput")
        data = b"".join(store.read(account, container, name, start, end))
        headers["Content-MD5"] = _b64(hashlib.md5(data, usedforsecurity=False).digest())
        return Response(data, status_code=206, headers=headers)
    return StreamingResponse(store.read(account, container, name, start, end), status_code=206, headers=headers)


@router.put(BLOB, operation_id="Blob_Put")
async def put_blob(request: Request, account: str, container: str, name: str, comp: str | None = None,
                   blockid: str | None = None):
    """Put Blob; ``?comp=block`` Put Block; ``?comp=blocklist`` Put Block List."""
    context = app_context(request)
    BlobLinks.of(context).verify(WRITE_NEEDED, account, container, name, request.query_params)
    target = (context.artifacts, account, container, name)
    max_bytes = context.settings.artifact_upload_max_bytes
    if comp is None:
        return await _put_blob(request, target, max_bytes)
    if comp == "block":
        return await _put_block(request, target, blockid, max_bytes)
    if comp == "blocklist":
        return await _put_block_list(request, target, max_bytes)
    raise BadRequest(f"The value '{comp}' of the query parameter comp is not supported here.",
                     code="InvalidQueryParameterValue")


async def _put_blob(request: Request, target: Target, max_bytes: int) -> Response:
    blob_type = request.headers.get("x-ms-blob-type")
    if blob_type is None:
        raise BadRequest("An HTTP header that's mandatory for this request is not specified: x-ms-blob-type.",
                         code="MissingRequiredHeader")
    if blob_type != "BlockBlob":
        raise BadRequest(f"The blob type '{blob_type}' is not supported here: use BlockBlob.",
                         code="InvalidHeaderValue")
    _check_length(request, max_bytes)
    store, account, container, name = target

    def write() -> BlobInfo:
        _check_write_conditions(request, target)
        return store.write(account, container, name, body_chunks(request), _content_type(request), max_bytes,
                           _content_md5(request))

    info = await run_in_threadpool(write)
    return _written(info, info.md5)


async def _put_block(request: Request, target: Target, block_id: str | None, max_bytes: int) -> Response:
    if not block_id:
        raise BadRequest("A query parameter that's mandatory for this request is not specified: blockid.",
                         code="MissingRequiredQueryParameter")
    _check_length(request, max_bytes)
    checked = HashedChunks(body_chunks(request), _content_md5(request))
    await run_in_threadpool(target[0].stage_block, *target[1:], block_id, checked, max_bytes)
    return Response(status_code=201, headers={
        "Content-MD5": _b64(checked.digest.digest()), "x-ms-request-server-encrypted": "true",
        "x-ms-version": STORAGE_VERSION})


async def _put_block_list(request: Request, target: Target, max_bytes: int) -> Response:
    raw = await _small_body(request, BLOCK_LIST_MAX)
    block_ids = _block_list(raw)
    store, account, container, name = target

    def commit() -> BlobInfo:
        _check_write_conditions(request, target)
        return store.commit_blocks(account, container, name, block_ids, _content_type(request), max_bytes)

    info = await run_in_threadpool(commit)
    return _written(info, hashlib.md5(raw, usedforsecurity=False).digest())


def _content_type(request: Request) -> str:
    return request.headers.get("x-ms-blob-content-type") or "application/octet-stream"


async def _small_body(request: Request, limit: int) -> bytes:
    _check_length(request, limit)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise PayloadTooLarge(f"The block list is larger than {limit} bytes.")
    return bytes(body)


def _block_list(raw: bytes) -> list[str]:
    """The ids of a ``<BlockList>``; Latest, Uncommitted and Committed all name blocks staged for this blob."""
    try:
        root = ElementTree.fromstring(raw)
    except ElementTree.ParseError:
        raise BadRequest("XML specified is not syntactically valid.", code="InvalidXmlDocument") from None
    if root.tag != "BlockList":
        raise BadRequest("XML specified is not syntactically valid: the root must be BlockList.",
                         code="InvalidXmlDocument")
    ids = []
    for element in root:
        if element.tag not in ("Latest", "Uncommitted", "Committed") or not (element.text or "").strip():
            raise BadRequest(f"XML specified is not syntactically valid: unexpected element '{element.tag}'.",
                             code="InvalidXmlDocument")
        ids.append(element.text.strip())
    return ids
