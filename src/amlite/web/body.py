"""Request bodies: JSON parsed with precise errors, and wire models that read keys case-insensitively.

Azure's services read JSON keys case-insensitively (the REST how-to posts PascalCase), so every
request model derives from ``WireModel``.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from types import UnionType
from typing import Any, TypeVar, Union, get_args, get_origin

import anyio.from_thread
from fastapi import Depends, Request
from starlette.datastructures import UploadFile
from pydantic import BaseModel, ConfigDict, ValidationError, create_model, model_validator

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


class _Exact(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


@functools.cache
def exact_model(model: type[WireModel]) -> type[BaseModel]:
    """``model``'s twin that takes keys only as ``model`` spells them and refuses any other key.

    Validating JSON with it runs wholly in pydantic-core: the case-insensitive step of ``WireModel``
    is a Python call for every object, which for a 1,000-point metric batch costs more than the rest
    of the validation. A body the twin refuses (other spellings, unknown keys, or a bad body) goes the
    tolerant way, which then decides. Only models whose one validator is that step have a twin."""
    decorators = model.__pydantic_decorators__
    if set(decorators.model_validators) != {"_case_insensitive_keys"} or any(
            (decorators.field_validators, decorators.validators, decorators.root_validators,
             decorators.field_serializers, decorators.model_serializers, decorators.computed_fields)):
        raise TypeError(f"{model.__name__} has validators of its own: it cannot be validated as an exact twin")
    fields: dict[str, Any] = {name: (_exact_type(field.annotation), field)
                              for name, field in model.model_fields.items()}
    return create_model(f"Exact{model.__name__}", __base__=_Exact, __module__=model.__module__, **fields)


def _exact_type(annotation: Any) -> Any:
    """``annotation`` with every wire model in it (also inside lists, dicts, unions) replaced by its twin."""
    if isinstance(annotation, type) and issubclass(annotation, WireModel):
        return exact_model(annotation)
    args = get_args(annotation)
    twinned = tuple(_exact_type(arg) for arg in args)
    if twinned == args:
        return annotation
    origin = get_origin(annotation)
    return Union[twinned] if origin in (Union, UnionType) else origin[twinned]


def _json_of(raw: bytes) -> Any:
    """``raw`` parsed as JSON (``None`` when empty); malformed JSON names its line and column."""
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


async def read_json(request: Request) -> Any:
    """The request's JSON body (``None`` when empty); malformed JSON names its line and column."""
    return _json_of(await request.body())


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


def body_of(model: type[M], exact_first: bool = False) -> Any:
    """A route dependency giving the request body validated as ``model``. With ``exact_first`` (for
    bodies of thousands of objects, sent by SDKs that spell keys as the spec does) the body is first
    validated by ``model``'s exact twin, whose instances have the same fields."""
    exact = exact_model(model) if exact_first else None

    async def dependency(request: Request) -> M:
        raw = await request.body()
        if exact is not None:
            try:
                return exact.model_validate_json(raw)
            except ValidationError:
                pass
        return parse_model(model, _json_of(raw))

    return Depends(dependency)
