"""A multipart/form-data body read as it arrives: file parts go back to back into one temporary
file on disk (a snapshot may have thousands of files: one file handle, no file in memory), small
text fields stay in memory. The body is refused past a byte limit while it streams."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from fastapi import Request
from python_multipart import MultipartParser
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import parse_options_header
from starlette.concurrency import run_in_threadpool

from amlite.errors import BadRequest, PayloadTooLarge

_CHUNK = 1 << 20


@dataclass
class FilePart:
    field: str
    filename: str
    content_type: str | None
    headers: dict[str, str]
    offset: int = 0
    size: int = 0


@dataclass
class Form:
    fields: dict[str, str] = field(default_factory=dict)  # by lower-cased name (the last one wins)
    files: list[FilePart] = field(default_factory=list)
    spool: BinaryIO | None = None

    def chunks(self, part: FilePart) -> Iterator[bytes]:
        """The bytes of one file part (read from the spool; one reader at a time)."""
        assert self.spool is not None
        self.spool.seek(part.offset)
        left = part.size
        while left > 0:
            chunk = self.spool.read(min(_CHUNK, left))
            if not chunk:
                return
            left -= len(chunk)
            yield chunk

    def close(self) -> None:
        if self.spool is not None:
            self.spool.close()


class _Builder:
    """python-multipart callbacks that fill a Form; file bytes wait in ``pending`` for the spool."""

    def __init__(self, form: Form, max_files: int, max_field_bytes: int) -> None:
        self.form, self.max_files, self.max_field_bytes = form, max_files, max_field_bytes
        self.pending: list[bytes] = []
        self.written = 0
        self.header_name = bytearray()
        self.header_value = bytearray()
        self.headers: dict[str, str] = {}
        self.part: FilePart | None = None
        self.field_name = ""
        self.field_value = bytearray()

    def on_part_begin(self) -> None:
        self.headers, self.part, self.field_value = {}, None, bytearray()

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self.header_name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self.header_value += data[start:end]

    def on_header_end(self) -> None:
        self.headers[self.header_name.decode("latin-1").lower()] = self.header_value.decode("utf-8", "replace")
        self.header_name, self.header_value = bytearray(), bytearray()

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self.headers.get("content-disposition", ""))
        if b"name" not in options:
            raise BadRequest("A multipart part has no name in its Content-Disposition header.",
                             code="InvalidRequestContent")
        name = options[b"name"].decode("utf-8", "replace")
        if b"filename" in options:
            if len(self.form.files) >= self.max_files:
                raise BadRequest(f"The request holds more than {self.max_files} files.", code="TooManyFiles",
                                 target="files")
            self.part = FilePart(name, options[b"filename"].decode("utf-8", "replace"),
                                 self.headers.get("content-type"), self.headers, offset=self.written)
            self.form.files.append(self.part)
        else:
            self.field_name = name

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self.part is not None:
            self.pending.append(data[start:end])
            self.part.size += end - start
            self.written += end - start
            return
        if len(self.field_value) + end - start > self.max_field_bytes:
            raise PayloadTooLarge(f"The form field '{self.field_name}' is larger than {self.max_field_bytes} bytes.")
        self.field_value += data[start:end]

    def on_part_end(self) -> None:
        if self.part is None:
            self.form.fields[self.field_name.lower()] = self.field_value.decode("utf-8", "replace")


async def read_form(request: Request, folder: Path, *, max_bytes: int, max_files: int,
                    max_field_bytes: int) -> Form:
    """Parse the request's multipart body; PayloadTooLarge once it passes ``max_bytes``."""
    _, options = parse_options_header(request.headers.get("content-type", ""))
    if b"boundary" not in options:
        raise BadRequest("The request must be multipart/form-data with a boundary.", code="InvalidRequestContent")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise PayloadTooLarge(f"The request body ({declared} bytes) is larger than the limit of {max_bytes} bytes.")
    folder.mkdir(parents=True, exist_ok=True)
    form = Form(spool=tempfile.TemporaryFile(dir=folder))
    builder = _Builder(form, max_files, max_field_bytes)
    parser = MultipartParser(options[b"boundary"], {
        "on_part_begin": builder.on_part_begin, "on_part_data": builder.on_part_data,
        "on_part_end": builder.on_part_end, "on_header_field": builder.on_header_field,
        "on_header_value": builder.on_header_value, "on_header_end": builder.on_header_end,
        "on_headers_finished": builder.on_headers_finished,
    })
    received = 0
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > max_bytes:
                raise PayloadTooLarge(f"The request body is larger than the limit of {max_bytes} bytes.")
            parser.write(chunk)
            if builder.pending:
                await run_in_threadpool(form.spool.writelines, builder.pending)
                builder.pending = []
        parser.finalize()
    except MultipartParseError as error:
        form.close()
        raise BadRequest(f"The multipart body is malformed: {error}.", code="InvalidRequestContent") from None
    except BaseException:
        form.close()
        raise
    form.spool.flush()
    return form
