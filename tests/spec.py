"""Wire fidelity, measured: every response whose operation the swagger specs describe is validated
against that operation's response schema (``../shared/specs/azureml``, beside the project root).

``SpecValidator.check`` is installed as an httpx response hook on every test client, so any test
that calls a described operation validates it; ``covered`` records which operations were seen.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jsonschema

SPECS_ROOT = Path(__file__).resolve().parents[2] / "shared" / "specs" / "azureml"


@dataclass(frozen=True)
class Operation:
    spec: str
    operation_id: str
    method: str
    template: str
    pattern: re.Pattern[str]
    literal_segments: int
    responses: dict[str, Any]


def _to_json_schema(node: Any) -> Any:
    """Swagger 2.0 schema -> JSON Schema, read as AutoRest reads it: a value may be null unless
    ``x-nullable: false`` (Azure's own examples answer ``"errors": null``); a bare ``type: object``
    and ``type: file`` admit any value."""
    if isinstance(node, list):
        return [_to_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    converted = {key: _to_json_schema(value) for key, value in node.items()}
    shapeless = not any(k in converted for k in ("properties", "additionalProperties", "allOf", "$ref"))
    if converted.get("type") == "file" or (converted.get("type") == "object" and shapeless):
        converted.pop("type")  # AutoRest: a bare "type: object" is any JSON value
    if "type" in converted and converted.get("x-nullable", True) and isinstance(converted["type"], str):
        converted["type"] = [converted["type"], "null"]
    return converted


def _with_discriminators(definitions: dict[str, Any]) -> dict[str, Any]:
    """Polymorphic types (``discriminator``) dispatch to the subtype their discriminator value names.

    The base keeps its own schema as ``<Base>__base``; subtypes extend that, so no cycle arises.
    """
    result = dict(definitions)
    for base, schema in definitions.items():
        field = schema.get("discriminator")
        if not field:
            continue
        result[f"{base}__base"] = schema
        branches = []
        for name, candidate in definitions.items():
            parents = [item.get("$ref") for item in candidate.get("allOf", [])]
            if f"#/definitions/{base}" not in parents:
                continue
            result[name] = {**candidate, "allOf": [
                {"$ref": f"#/definitions/{base}__base"} if item.get("$ref") == f"#/definitions/{base}" else item
                for item in candidate["allOf"]
            ]}
            value = candidate.get("x-ms-discriminator-value", name)
            branches.append({"if": {"properties": {field: {"const": value}}, "required": [field]},
                             "then": {"$ref": f"#/definitions/{name}"}})
        result[base] = {"allOf": [{"$ref": f"#/definitions/{base}__base"}, *branches]}
    return result


def _pattern(template: str) -> re.Pattern[str]:
    regex = ""
    for segment in template.strip("/").split("/"):
        if segment == "{armScope}":
            regex += "/.+"
        elif segment.startswith("{") and segment.endswith("}"):
            regex += "/[^/]+"
        elif "{" in segment:
            regex += "/" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(segment))
        else:
            regex += "/" + re.escape(segment)
    return re.compile(f"^{regex}/?$", re.IGNORECASE)


class SpecValidator:
    def __init__(self, root: Path = SPECS_ROOT) -> None:
        if not root.is_dir():
            raise RuntimeError(f"swagger specs not found at {root}: the project expects shared/ beside its root")
        self.operations: list[Operation] = []
        self.documents: dict[str, dict[str, Any]] = {}
        for path in sorted(root.rglob("*.json")):
            if "examples" in path.parts:
                continue
            document = json.loads(path.read_text(encoding="utf-8-sig"))
            name = str(path.relative_to(root))
            self.documents[name] = {
                "definitions": _with_discriminators(_to_json_schema(document.get("definitions", {})))
            }
            for template, methods in document.get("paths", {}).items():
                for method, operation in methods.items():
                    if method == "parameters":
                        continue
                    self.operations.append(Operation(
                        name, operation["operationId"], method.upper(), template, _pattern(template),
                        sum(1 for s in template.split("/") if s and "{" not in s),
                        operation.get("responses", {}),
                    ))
        self.covered: set[tuple[str, str]] = set()

    def find(self, method: str, path: str) -> Operation | None:
        """The most specific described operation for a request (most literal segments wins)."""
        candidates = [op for op in self.operations if op.method == method and op.pattern.match(path)]
        return max(candidates, key=lambda op: op.literal_segments, default=None)

    def validate(self, method: str, path: str, status: int, body: Any) -> Operation | None:
        operation = self.find(method, path)
        if operation is None:
            return None
        response = operation.responses.get(str(status))
        if response is None and status >= 400:
            response = operation.responses.get("default")
        if response is None:
            raise AssertionError(
                f"{operation.operation_id} ({operation.spec}) does not declare status {status}; "
                f"it declares {sorted(operation.responses)}"
            )
        schema = response.get("schema")
        if schema is not None and body is not None:
            root = {**_to_json_schema(schema), **self.documents[operation.spec]}
            validator = jsonschema.Draft7Validator(root)
            errors = sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path))
            if errors:
                details = "\n".join(f"  at {'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
                                    for e in errors[:10])
                raise AssertionError(
                    f"{method} {path} -> {status} does not match {operation.operation_id} "
                    f"({operation.spec}):\n{details}"
                )
        self.covered.add((operation.spec, operation.operation_id))
        return operation

    def check(self, response: httpx.Response) -> None:
        """httpx response hook."""
        response.read()
        request = response.request
        content_type = response.headers.get("content-type", "")
        body = response.json() if "json" in content_type and response.content else None
        self.validate(request.method, request.url.path, response.status_code, body)
