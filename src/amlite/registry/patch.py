"""RFC 6902 JSON patch, as the Model Management Service takes it on PATCH: a list of operations applied
to the members a resource lets clients change (``/kvTags``, ``/kvTags/{key}``, ``/description``...).

The operations apply to a copy; the caller checks the result and writes it back, so a patch applies
whole or not at all.
"""

from __future__ import annotations

import copy
from typing import Any

from pydantic import Field

from amlite.errors import BadRequest, Conflict
from amlite.web.body import WireModel, parse_model

OPERATIONS = ("add", "remove", "replace", "move", "copy", "test")


class JsonPatchOperation(WireModel):
    op: str
    path: str
    value: Any = None
    from_: str | None = Field(None, alias="from")


def parse_patch(data: Any) -> list[JsonPatchOperation]:
    if not isinstance(data, list):
        raise BadRequest("The request body must be a JSON patch document: a list of operations such as "
                         '[{"op": "replace", "path": "/description", "value": "..."}].', code="InvalidPatch")
    operations = [parse_model(JsonPatchOperation, item) for item in data]
    for operation in operations:
        if operation.op.lower() not in OPERATIONS:
            raise BadRequest(f"'{operation.op}' is not a JSON patch operation: use one of {', '.join(OPERATIONS)}.",
                             code="InvalidPatchOperation", target="op")
        if operation.op.lower() in ("add", "replace", "test") and "value" not in operation.model_fields_set:
            raise BadRequest(f"The '{operation.op}' operation on '{operation.path}' needs a value.",
                             code="InvalidPatchOperation", target="value")
        if operation.op.lower() in ("move", "copy") and operation.from_ is None:
            raise BadRequest(f"The '{operation.op}' operation on '{operation.path}' needs 'from'.",
                             code="InvalidPatchOperation", target="from")
    return operations


def apply_patch(document: dict[str, Any], operations: list[JsonPatchOperation]) -> dict[str, Any]:
    """``document`` (the patchable members) with the operations applied; the input is not changed.

    A path's first segment names a member, matched case-insensitively (clients send ``/KvTags`` too).
    """
    result = copy.deepcopy(document)
    members = {key.lower(): key for key in document}
    for operation in operations:
        op = operation.op.lower()
        path = _pointer(operation.path, members)
        if op == "add":
            _add(result, path, copy.deepcopy(operation.value))
        elif op == "remove":
            _remove(result, path)
        elif op == "replace":
            _remove(result, path)
            _add(result, path, copy.deepcopy(operation.value))
        elif op in ("move", "copy"):
            source = _pointer(operation.from_ or "", members)
            value = copy.deepcopy(_get(result, source))
            if op == "move":
                _remove(result, source)
            _add(result, path, value)
        elif _get(result, path) != operation.value:  # test
            raise Conflict(f"The test of '{operation.path}' failed: its value differs.", code="PatchTestFailed")
    return result


def _pointer(path: str, members: dict[str, str]) -> list[str]:
    if not path.startswith("/") or path == "/":
        raise BadRequest(f"'{path}' is not a patchable path: use one of "
                         f"{', '.join('/' + m for m in members.values())}.", code="InvalidPatchPath", target="path")
    tokens = [token.replace("~1", "/").replace("~0", "~") for token in path[1:].split("/")]
    member = members.get(tokens[0].lower())
    if member is None:
        raise BadRequest(f"'{path}' cannot be patched: the patchable members are "
                         f"{', '.join('/' + m for m in members.values())}.", code="InvalidPatchPath", target="path")
    return [member, *tokens[1:]]


def _missing(path: list[str]) -> BadRequest:
    return BadRequest(f"'/{'/'.join(path)}' does not exist.", code="InvalidPatchPath", target="path")


def _container(document: Any, path: list[str]) -> Any:
    """The object or array holding the last segment of ``path``."""
    node = document
    for token in path[:-1]:
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            raise _missing(path)
    if not isinstance(node, (dict, list)):
        raise _missing(path)
    return node


def _get(document: Any, path: list[str]) -> Any:
    parent, last = _container(document, path), path[-1]
    if isinstance(parent, dict) and last in parent:
        return parent[last]
    if isinstance(parent, list) and last.isdigit() and int(last) < len(parent):
        return parent[int(last)]
    raise _missing(path)


def _add(document: Any, path: list[str], value: Any) -> None:
    parent, last = _container(document, path), path[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif last == "-":
        parent.append(value)
    elif last.isdigit() and int(last) <= len(parent):
        parent.insert(int(last), value)
    else:
        raise _missing(path)


def _remove(document: Any, path: list[str]) -> None:
    parent, last = _container(document, path), path[-1]
    _get(document, path)
    if isinstance(parent, dict):
        del parent[last]
    else:
        del parent[int(last)]
