"""The api-version policy: each route names its resource type; the catalog says what it accepts."""

from __future__ import annotations

from typing import Any

from fastapi import Depends, Request

from amlite.arm.catalog import api_versions
from amlite.errors import InvalidApiVersionParameter, MissingApiVersionParameter


def check_api_version(request: Request, namespace: str, resource_type: str | None) -> str:
    version = request.query_params.get("api-version")
    if not version:
        raise MissingApiVersionParameter()
    supported = api_versions(namespace, resource_type)
    if version not in supported:
        raise InvalidApiVersionParameter(version, list(supported), f"{namespace}/{resource_type or '*'}")
    return version


def api_version(namespace: str, resource_type: str) -> Any:
    """A route dependency enforcing the versions of ``namespace/resource_type``."""
    api_versions(namespace, resource_type)  # fail at import time on a type missing from the catalog

    def dependency(request: Request) -> str:
        return check_api_version(request, namespace, resource_type)

    return Depends(dependency)
