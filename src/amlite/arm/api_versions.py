"""The api-version policy: each route names its resource type; the catalog says what it accepts."""

from __future__ import annotations

from typing import Any

from fastapi import Depends, Request

from amlite.arm.catalog import api_versions
from amlite.errors import InvalidApiVersionParameter, MissingApiVersionParameter


def require_api_version(request: Request, supported: tuple[str, ...], resource_type: str) -> str:
    """The request's api-version, once it is one of ``supported`` (a data-plane service that versions
    its API as ARM does passes its own; ARM's come from the catalog)."""
    version = request.query_params.get("api-version")
    if not version:
        raise MissingApiVersionParameter()
    if version not in supported:
        raise InvalidApiVersionParameter(version, list(supported), resource_type)
    return version


def check_api_version(request: Request, namespace: str, resource_type: str | None) -> str:
    return require_api_version(request, api_versions(namespace, resource_type),
                               f"{namespace}/{resource_type or '*'}")


def api_version(namespace: str, resource_type: str) -> Any:
    """A route dependency enforcing the versions of ``namespace/resource_type``."""
    api_versions(namespace, resource_type)  # fail at import time on a type missing from the catalog

    def dependency(request: Request) -> str:
        return check_api_version(request, namespace, resource_type)

    return Depends(dependency)
