"""Request bodies: JSON parsed with precise errors, and wire models that read keys case-insensitively.

Azure's services read JSON keys case-insensitively (the REST how-to posts PascalCase), so every
request model derives from ``WireModel``.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from typing import Any, TypeVar

import anyio.from_thread
from fastapi import Depends, Request
from starlette.datastructures import UploadFile
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from amlite.errors import BadRequest, InvalidRequestContent

M = TypeVar("M", bound="WireModel")


class WireModel(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    @model_validator(mode="before")
    @classmethod
    def _case_insensitive_keys(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        names, spelled = _wire_names(cls)
        if spelled.issuperset(data):  # already spelled as the model spells them
            return data
        return {names.get(str(key).lower(), key): value for key, value in data.items()}


@functools.cache
def _wire_names(model: type[BaseModel]) -> tuple[dict[str, str], frozenset[str]]:
    """lower-cased key -> the key the model reads (its alias, or its field name), and those keys."""
    names: dict[str, str] = {}
    for name, field in model.model_fields.items():
        names[name.lower()] = field.alias or name
        if field.alias:
            names[field.alias.lower()] = field.alias
    return names, frozenset(names.values())


async def read_json(request: Request) -> Any:
    """The request's JSON body (``None`` when empty); malformed JSON names its line and column."""
    raw = await request.body()
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except UnicodeDecodeError:
        raise InvalidRequestContent("The request content was invalid and could not be deserialized: it is not UTF-8 text.") from None
    except json.JSONDecodeError as exc:
        raise InvalidRequestContent(
            "The request content was invalid and could not be deserialized: "
            f"'{exc.msg}: line {exc.lineno}, column {exc.colno}.'"
        ) from None


async def part_json(part: UploadFile | str, what: str, code: str, target: str) -> Any:
    """A multipart part (a file or a field) parsed as JSON; malformed JSON is a BadRequest naming ``what``."""
    raw = await part.read() if isinstance(part, UploadFile) else part.encode()
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise BadRequest(f"{what} is not valid JSON: {error}.", code=code, target=target) from None


def parse_model(model: type[M], data: Any) -> M:
    """Validate a parsed body into a wire model; errors name the offending member."""
    if data is None:
        data = {}
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"'{'.'.join(str(p) for p in err['loc']) or 'body'}': {err['msg']}" for err in exc.errors()
        )
        raise InvalidRequestContent(f"The request content was invalid: {problems}.") from None


async def read_model(request: Request, model: type[M]) -> M:
    return parse_model(model, await read_json(request))


def body_chunks(request: Request) -> Iterator[bytes]:
    """The request body as it arrives, for code running in a worker thread (``run_in_threadpool``):
    a large upload goes to its destination chunk by chunk, never whole in memory."""
    stream = request.stream()
    while True:
        try:
            chunk = anyio.from_thread.run(stream.__anext__)
        except StopAsyncIteration:
            return
        if chunk:
            yield chunk


def body_of(model: type[M]) -> Any:
    """A route dependency giving the request body validated as ``model``."""

    async def dependency(request: Request) -> M:
        return await read_model(request, model)

    return Depends(dependency)
