"""Service discovery: the document at a workspace's ``discoveryUrl``. Unauthenticated, as in Azure
(the SDK sends no Authorization header); every service is this server."""

from __future__ import annotations

from fastapi import APIRouter, Request

from amlite.web.deps import app_context
from amlite.web.responses import json_response

router = APIRouter()

# The ten keys of the REST how-to, plus "studio", which azureml-core 1.61 also looks up.
SERVICES = ("api", "catalog", "experimentation", "gallery", "history", "hyperdrive", "labeling",
            "modelmanagement", "pipelines", "studiocoreservices", "studio")


@router.get("/discovery", operation_id="Discovery_Get", tags=["discovery"])
def discovery(request: Request):
    base_url = app_context(request).settings.base_url
    return json_response({service: base_url for service in SERVICES})
