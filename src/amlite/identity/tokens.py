"""Access tokens: RS256 JWTs in the shape Azure AD issues them (v1 and v2), and their verification."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

import jwt

from amlite.errors import Unauthenticated
from amlite.identity.keys import KeyRing

MANAGEMENT_AUDIENCES = (
    "https://management.azure.com",
    "https://management.core.windows.net",
    "https://ml.azure.com",
)


def normalize_audience(resource: str) -> str:
    return resource.rstrip("/").lower()


@dataclass(frozen=True)
class Caller:
    """Who a verified token speaks for."""

    tenant_id: str
    object_id: str
    app_id: str
    # a run token acts only inside this resource (its workspace); None for a principal's own token
    scope: str | None = None

    def created_by(self) -> dict[str, str]:
        """The ``createdBy`` of what this caller makes (runs, snapshots, models, services)."""
        return {"userObjectId": self.object_id, "userTenantId": self.tenant_id, "userName": self.app_id}


@dataclass(frozen=True)
class IssuedToken:
    access_token: str
    issued_at: int
    expires_at: int


class TokenService:
    def __init__(self, keyring: KeyRing, base_url: str, lifetime: int, clock_skew: int) -> None:
        self.keyring = keyring
        self.base_url = base_url.rstrip("/")
        self.lifetime = lifetime
        self.clock_skew = clock_skew
        self.audiences = {normalize_audience(a) for a in (*MANAGEMENT_AUDIENCES, self.base_url)}

    def issuer(self, tenant_id: str, version: str) -> str:
        return f"{self.base_url}/{tenant_id}/v2.0" if version == "2.0" else f"{self.base_url}/{tenant_id}/"

    def accepts_audience(self, resource: str) -> bool:
        return normalize_audience(resource) in self.audiences

    def issue(self, *, tenant_id: str, object_id: str, app_id: str, audience: str, version: str,
              scope: str | None = None, lifetime: int | None = None) -> IssuedToken:
        now = int(time.time())
        lifetime = lifetime or self.lifetime
        claims = {
            "aud": audience,
            "iss": self.issuer(tenant_id, version),
            "iat": now,
            "nbf": now,
            "exp": now + lifetime,
            "tid": tenant_id,
            "oid": object_id,
            "sub": object_id,
            "appid": app_id,
            "idtyp": "app",
            "uti": uuid.uuid4().hex,
            "ver": version,
        }
        if version == "2.0":
            claims["azp"] = app_id
        if scope is not None:
            claims["amlite_scope"] = scope
        token = jwt.encode(
            claims, self.keyring.signing_key, algorithm="RS256",
            headers={"kid": self.keyring.signing_kid, "x5t": self.keyring.signing_kid},
        )
        return IssuedToken(token, now, now + lifetime)

    def verify(self, token: str) -> Caller:
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise Unauthenticated(
                "The access token is invalid: it is not a well-formed JSON Web Token.",
                code="InvalidAuthenticationToken",
            ) from None
        public_key = self.keyring.public_key(str(header.get("kid")))
        if public_key is None or header.get("alg") != "RS256":
            raise Unauthenticated(
                "The access token is invalid: it was not signed by this server's token service.",
                code="InvalidAuthenticationToken",
            )
        try:
            claims = jwt.decode(
                token, public_key, algorithms=["RS256"], leeway=self.clock_skew,
                options={"verify_aud": False, "require": ["exp", "nbf", "iat", "tid", "oid", "aud", "iss"]},
            )
        except jwt.ExpiredSignatureError:
            expiry = time.strftime("%m/%d/%Y %H:%M:%S", time.gmtime(int(unverified.get("exp", 0))))
            current = time.strftime("%m/%d/%Y %H:%M:%S", time.gmtime())
            raise Unauthenticated(
                f"The access token expiry UTC time '{expiry}' is earlier than current UTC time '{current}'.",
                code="ExpiredAuthenticationToken",
            ) from None
        except jwt.InvalidSignatureError:
            raise Unauthenticated(
                "The access token has an invalid signature.", code="InvalidAuthenticationToken"
            ) from None
        except jwt.PyJWTError as exc:
            raise Unauthenticated(f"The access token is invalid: {exc}.", code="InvalidAuthenticationToken") from None
        if claims["iss"] not in (self.issuer(claims["tid"], "1.0"), self.issuer(claims["tid"], "2.0")):
            raise Unauthenticated(
                f"The access token is from the wrong issuer '{claims['iss']}'.",
                code="InvalidAuthenticationTokenTenant",
            )
        if not self.accepts_audience(str(claims["aud"])):
            raise Unauthenticated(
                f"The access token has been obtained for wrong audience or resource '{claims['aud']}'. "
                f"It should exactly match with one of the allowed audiences "
                f"'{', '.join(sorted(MANAGEMENT_AUDIENCES))}'.",
                code="InvalidAuthenticationTokenAudience",
            )
        return Caller(tenant_id=claims["tid"], object_id=claims["oid"], app_id=str(claims.get("appid", "")),
                      scope=claims.get("amlite_scope"))
