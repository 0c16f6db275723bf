"""The one exception tree. Services raise these; the web layer renders them per API family.

Each class carries an HTTP status and a default error code; a raise may override the code
(``AuthenticationFailed(..., code="ExpiredAuthenticationToken")``) where Azure uses several codes
for one kind of failure.
"""

from __future__ import annotations

from typing import Any


class AmliteError(Exception):
    status: int = 500
    code: str = "InternalServerError"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        target: str | None = None,
        details: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.target = target
        self.details = details
        self.headers = headers or {}


class BadRequest(AmliteError):
    status = 400
    code = "BadRequest"


class InvalidRequestContent(BadRequest):
    code = "InvalidRequestContent"


class PayloadTooLarge(AmliteError):
    status = 413
    code = "RequestBodyTooLarge"


class MissingApiVersionParameter(BadRequest):
    code = "MissingApiVersionParameter"

    def __init__(self) -> None:
        super().__init__("The api-version query parameter (?api-version=) is required for all requests.")


class InvalidApiVersionParameter(BadRequest):
    code = "InvalidApiVersionParameter"

    def __init__(self, version: str, supported: list[str], resource_type: str) -> None:
        super().__init__(
            f"The api-version '{version}' is invalid. The supported versions for resource type "
            f"'{resource_type}' are '{', '.join(supported)}'."
        )


class Unauthenticated(AmliteError):
    status = 401
    code = "AuthenticationFailed"


class Forbidden(AmliteError):
    status = 403
    code = "AuthorizationFailed"


class NotFound(AmliteError):
    status = 404
    code = "NotFound"


class MethodNotAllowed(AmliteError):
    status = 405
    code = "MethodNotAllowed"


class Conflict(AmliteError):
    status = 409
    code = "Conflict"


class PreconditionFailed(AmliteError):
    status = 412
    code = "PreconditionFailed"


class RangeNotSatisfiable(AmliteError):
    status = 416
    code = "InvalidRange"


class ServiceUnavailable(AmliteError):
    status = 503
    code = "ServiceUnavailable"


class OAuthError(AmliteError):
    """An OAuth2 token-endpoint error: ``code`` is the OAuth2 ``error`` value (RFC 6749 §5.2)."""

    def __init__(self, status: int, error: str, description: str, aadsts: int) -> None:
        super().__init__(f"AADSTS{aadsts}: {description}", code=error)
        self.status = status
        self.aadsts = aadsts
