"""What every Model Management Service route shares: its two path prefixes and its api-version policy.

azureml-core 1.0.76 calls ``/api{ws}/...`` and always sends ``api-version=2018-11-19``. Later SDKs call
``/modelmanagement/v1.0{ws}/...``, the swagger's prefix, whose operations have no api-version: their
generated clients send none, their hand-written calls ``2018-11-19``, the REST how-to ``2019-11-01``.
So the version is required under ``/api`` and checked under ``/modelmanagement`` when given. Errors
under both prefixes are rendered as ModelErrorResponse (web/errors.py).
"""

from __future__ import annotations

from fastapi import Depends, Request

from amlite.arm.api_versions import require_api_version
from amlite.workspaces.dataplane import WORKSPACE_PATH

MMS = "/modelmanagement/v1.0" + WORKSPACE_PATH
LEGACY = "/api" + WORKSPACE_PATH
API_VERSIONS = ("2018-11-19", "2019-11-01")


def _check_api_version(request: Request) -> None:
    if request.url.path.startswith("/api/") or "api-version" in request.query_params:
        require_api_version(request, API_VERSIONS, "ModelManagement")


VERSION = Depends(_check_api_version)
