"""The one error renderer: an ``AmliteError`` becomes the envelope of the API family it happened in."""

from __future__ import annotations

import time
import uuid
from typing import Any
from xml.sax.saxutils import escape

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from sqlalchemy.exc import OperationalError

from amlite.errors import (
    AmliteError,
    InvalidRequestContent,
    MethodNotAllowed,
    NotFound,
    OAuthError,
    ServiceUnavailable,
)


def arm_body(error: AmliteError) -> dict[str, Any]:
    """``{"error": {"code", "message", "target"?, "details"?}}`` (ARM and MachineLearningServiceError)."""
    body: dict[str, Any] = {"code": error.code, "message": error.message}
    if error.target is not None:
        body["target"] = error.target
    if error.details is not None:
        body["details"] = error.details
    return {"error": body}


def oauth_body(error: OAuthError) -> dict[str, Any]:
    """The token endpoint's form (RFC 6749 §5.2, with Azure AD's extra members)."""
    return {
        "error": error.code,
        "error_description": error.message,
        "error_codes": [error.aadsts],
        "timestamp": time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime()),
        "trace_id": str(uuid.uuid4()),
        "correlation_id": str(uuid.uuid4()),
    }


def data_plane_body(error: AmliteError, request_id: str) -> dict[str, Any]:
    """The data-plane ErrorResponse: a RootError plus correlation, environment and time."""
    root = arm_body(error)["error"]
    root.setdefault("details", [])
    root["innerError"] = {"code": error.code}
    return {
        "error": root,
        "correlation": {"operation": request_id, "request": request_id},
        "environment": "amlite",
        "location": "local",
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def mms_body(error: AmliteError, request_id: str) -> dict[str, Any]:
    """The Model Management Service's ModelErrorResponse: flat, with the HTTP status repeated."""
    details = [{key: item[key] for key in ("code", "message", "target") if key in item}
               for item in error.details or []]
    return {"code": error.code, "statusCode": error.status, "message": error.message, "details": details,
            "correlation": {"RequestId": request_id}}


def hyperdrive_body(error: AmliteError) -> dict[str, Any]:
    """HyperDrive's ErrorResponse, ``{"code": <HTTP status>, "message"}``; the error's own code rides
    along in ``error`` (clients read only the two members)."""
    return {"code": error.status, "message": error.message, **arm_body(error)}


# Data-plane services keep their own envelope (v1-sdk-operations.md, section 5.0).
DATA_PLANE_PREFIXES = ("/history/", "/metric/", "/execution/", "/artifact/", "/content/", "/datastore/")
# The Model Management Service, as later SDKs address it and as azureml-core 1.0.76 did.
MMS_PREFIXES = ("/modelmanagement/", "/api/")
HYPERDRIVE_PREFIX = "/hyperdrive/"
# The Azure-Blob-compatible endpoint answers as Azure Storage does.
STORAGE_PREFIX = "/blob/"
STORAGE_VERSION = "2021-08-06"


def storage_error(error: AmliteError, request_id: str) -> Response:
    """Azure Storage's error: an XML ``<Error>`` with Code and Message, the code again in ``x-ms-error-code``."""
    body = (f'<?xml version="1.0" encoding="utf-8"?><Error><Code>{escape(error.code)}</Code>'
            f"<Message>{escape(error.message)}\nRequestId:{request_id}\n"
            f"Time:{time.strftime('%Y-%m-%dT%H:%M:%S.0000000Z', time.gmtime())}</Message></Error>")
    headers = {**error.headers, "x-ms-error-code": error.code, "x-ms-version": STORAGE_VERSION}
    return Response(body, status_code=error.status, headers=headers, media_type="application/xml")


def render_error(path: str, error: AmliteError, request_id: str = "") -> Response:
    if path.startswith(STORAGE_PREFIX):
        return storage_error(error, request_id or str(uuid.uuid4()))
    if isinstance(error, OAuthError):
        body = oauth_body(error)
    elif path.lower().startswith(DATA_PLANE_PREFIXES):
        body = data_plane_body(error, request_id or str(uuid.uuid4()))
    elif path.lower().startswith(HYPERDRIVE_PREFIX):
        body = hyperdrive_body(error)
    elif path.lower().startswith(MMS_PREFIXES):
        body = mms_body(error, request_id or str(uuid.uuid4()))
    else:
        body = arm_body(error)
    return JSONResponse(body, status_code=error.status, headers=error.headers)


def _request_id(request: Request) -> str:
    return request.scope.get("state", {}).get("request_id", "")


def install_error_handlers(app: FastAPI) -> None:
    async def on_amlite_error(request: Request, exc: AmliteError) -> Response:
        return render_error(request.url.path, exc, _request_id(request))

    async def on_http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 405:
            error: AmliteError = MethodNotAllowed(
                f"The requested resource does not support http method '{request.method}'.",
                headers=dict(exc.headers or {}),
            )
        elif exc.status_code == 404:
            error = NotFound(f"No route matches '{request.method} {request.url.path}'.", code="NotFound")
        else:
            error = AmliteError(str(exc.detail), code="HttpError")
            error.status = exc.status_code
        return render_error(request.url.path, error, _request_id(request))

    async def on_validation_error(request: Request, exc: RequestValidationError) -> Response:
        problems = "; ".join(
            f"'{'.'.join(str(p) for p in err['loc'])}': {err['msg']}" for err in exc.errors()
        )
        return render_error(request.url.path, InvalidRequestContent(f"The request was invalid: {problems}."),
                            _request_id(request))

    async def on_database_error(request: Request, exc: OperationalError) -> Response:
        if "database is locked" not in str(exc):
            raise exc
        busy = ServiceUnavailable("The store is busy; retry the request.", code="StoreBusy",
                                  headers={"Retry-After": "1"})
        return render_error(request.url.path, busy, _request_id(request))

    app.add_exception_handler(AmliteError, on_amlite_error)
    app.add_exception_handler(OperationalError, on_database_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
