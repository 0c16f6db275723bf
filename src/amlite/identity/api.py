"""The token service (Azure AD v1 and v2 endpoints), OpenID metadata and JWKS. Unauthenticated by design."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from sqlalchemy.orm import Session

from amlite.errors import OAuthError
from amlite.identity import service
from amlite.identity.tables import Tenant
from amlite.web.deps import DB, app_context
from amlite.web.responses import json_response

router = APIRouter()

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


async def form_fields(request: Request) -> dict[str, str]:
    if "application/x-www-form-urlencoded" not in request.headers.get("content-type", ""):
        return {}
    form = await request.form()
    return {key: value for key, value in form.items() if isinstance(value, str)}


def _tenant(session: Session, tenant_id: str) -> Tenant:
    tenant = service.get_tenant(session, tenant_id)
    if tenant is None:
        raise OAuthError(
            400, "invalid_request",
            f"Tenant '{tenant_id}' not found. Check to make sure you have the correct tenant ID and are "
            "signing into the correct cloud.",
            90002,
        )
    return tenant


def _required(fields: dict[str, str], name: str) -> str:
    value = fields.get(name)
    if not value:
        raise OAuthError(400, "invalid_request", f"The request body must contain the following parameter: '{name}'.", 900144)
    return value


def _client_credentials(request: Request, session: Session, tenant: Tenant, fields: dict[str, str],
                        resource: str, version: str):
    grant_type = _required(fields, "grant_type")
    if grant_type != "client_credentials":
        raise OAuthError(400, "unsupported_grant_type", f"The app requested an unsupported grant type '{grant_type}'.", 70003)
    client_id = _required(fields, "client_id")
    if not fields.get("client_secret"):
        raise OAuthError(
            401, "invalid_client",
            "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
            7000216,
        )
    tokens = app_context(request).tokens
    if not tokens.accepts_audience(resource):
        raise OAuthError(
            400, "invalid_resource",
            f"The resource principal named {resource} was not found in the tenant named {tenant.id}.", 500011,
        )
    principal = service.authenticate_client(session, tenant.id, client_id, fields["client_secret"])
    return tokens.issue(
        tenant_id=tenant.id, object_id=principal.object_id, app_id=principal.client_id,
        audience=resource, version=version,
    )


@router.post("/{tenant}/oauth2/token", operation_id="Token_V1", tags=["identity"])
def token_v1(request: Request, tenant: str, fields: dict[str, str] = Depends(form_fields),
             session: Session = DB):
    directory = _tenant(session, tenant)
    resource = _required(fields, "resource")
    issued = _client_credentials(request, session, directory, fields, resource, "1.0")
    lifetime = str(issued.expires_at - issued.issued_at)
    return json_response({
        "token_type": "Bearer",
        "expires_in": lifetime,
        "ext_expires_in": lifetime,
        "expires_on": str(issued.expires_at),
        "not_before": str(issued.issued_at),
        "resource": resource,
        "access_token": issued.access_token,
    }, headers=NO_STORE)


@router.post("/{tenant}/oauth2/v2.0/token", operation_id="Token_V2", tags=["identity"])
def token_v2(request: Request, tenant: str, fields: dict[str, str] = Depends(form_fields),
             session: Session = DB):
    directory = _tenant(session, tenant)
    scope = _required(fields, "scope")
    scopes = scope.split()
    if len(scopes) != 1 or not scopes[0].endswith("/.default"):
        raise OAuthError(
            400, "invalid_scope",
            f"The provided value for scope {scope} is not valid. Client credential flows must have a scope "
            "value with /.default suffixed to the resource identifier (application ID URI).",
            1002012,
        )
    resource = scopes[0].removesuffix("/.default")
    issued = _client_credentials(request, session, directory, fields, resource, "2.0")
    lifetime = issued.expires_at - issued.issued_at
    return json_response({
        "token_type": "Bearer",
        "expires_in": lifetime,
        "ext_expires_in": lifetime,
        "access_token": issued.access_token,
    }, headers=NO_STORE)


def _metadata(request: Request, session: Session, tenant_id: str, version: str) -> dict:
    tenant = _tenant(session, tenant_id)
    base = app_context(request).settings.base_url
    root = f"{base}/{tenant.id}"
    v2 = "/v2.0" if version == "2.0" else ""
    return {
        "issuer": app_context(request).tokens.issuer(tenant.id, version),
        "authorization_endpoint": f"{root}/oauth2{v2}/authorize",
        "token_endpoint": f"{root}/oauth2{v2}/token",
        "device_authorization_endpoint": f"{root}/oauth2{v2}/devicecode",
        "end_session_endpoint": f"{root}/oauth2{v2}/logout",
        "jwks_uri": f"{root}/discovery{v2}/keys",
        "token_endpoint_auth_methods_supported": ["client_secret_post"],
        "grant_types_supported": ["client_credentials"],
        "response_types_supported": ["token"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": ["openid"],
        "claims_supported": ["aud", "iss", "iat", "nbf", "exp", "tid", "oid", "sub", "appid", "azp", "ver"],
        "request_uri_parameter_supported": False,
        "tenant_region_scope": None,
        "cloud_instance_name": "amlite",
    }


@router.get("/{tenant}/v2.0/.well-known/openid-configuration", operation_id="OpenIdConfiguration_V2", tags=["identity"])
def openid_configuration_v2(request: Request, tenant: str, session: Session = DB):
    return json_response(_metadata(request, session, tenant, "2.0"))


@router.get("/{tenant}/.well-known/openid-configuration", operation_id="OpenIdConfiguration_V1", tags=["identity"])
def openid_configuration_v1(request: Request, tenant: str, session: Session = DB):
    return json_response(_metadata(request, session, tenant, "1.0"))


@router.get("/{tenant}/discovery/v2.0/keys", operation_id="Jwks_V2", tags=["identity"])
@router.get("/{tenant}/discovery/keys", operation_id="Jwks_V1", tags=["identity"])
def jwks(request: Request, tenant: str, session: Session = DB):
    _tenant(session, tenant)
    return json_response(app_context(request).tokens.keyring.jwks())
