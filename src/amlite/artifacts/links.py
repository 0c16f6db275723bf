"""Server-signed blob links: what a shared access signature is to Azure Storage.

A link names one blob (account, container, name), a permission and an expiry, and carries an HMAC of
them under a key derived from the server's secret, so any replica sharing the secret can check it.
Its query uses Azure SAS parameter names (``sv``, ``sr``, ``sp``, ``se``, ``sig``): the Azure Storage
SDKs keep only those when they rebuild a client from a URL. Parameters a client adds (``comp``,
``blockid``, ``timeout``...) are not signed and are ignored here.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from urllib.parse import quote, urlencode, urlsplit

from amlite.context import AppContext
from amlite.errors import Forbidden
from amlite.settings import Settings

READ = "r"
# A write link reads too: SDKs read the blob's properties back after an upload.
WRITE = "rcw"
SAS_VERSION = "2019-02-02"
_EXPIRY = "%Y-%m-%dT%H:%M:%SZ"


def blob_url(settings: Settings, account: str, container: str, name: str, query: str, host_style: bool = True) -> str:
    """The one place blob URLs are spelled: path-style under the server, or Azure's host-style when
    ``blob_host_suffix`` is set and ``host_style`` (links for amlite's own agents are always path-style:
    only a run's scripts resolve the host names)."""
    path = f"{container}/{quote(name, safe='/')}"
    if settings.blob_host_suffix and host_style:
        port = urlsplit(settings.base_url).port or settings.port
        return f"https://{account}.blob.{settings.blob_host_suffix}:{port}/{path}?{query}"
    return f"{settings.base_url}/blob/{account}/{path}?{query}"


class BlobLinks:
    def __init__(self, key: bytes, settings: Settings) -> None:
        self.key = key
        self.settings = settings

    @classmethod
    def of(cls, context: AppContext) -> BlobLinks:
        return cls(context.secrets.derive("blob-links"), context.settings)

    def _signature(self, permission: str, account: str, container: str, name: str, expiry: str) -> str:
        message = "\n".join((permission, account, container, name, expiry)).encode()
        return base64.urlsafe_b64encode(hmac.new(self.key, message, hashlib.sha256).digest()).rstrip(b"=").decode()

    def url(self, permission: str, account: str, container: str, name: str, host_style: bool = True) -> str:
        expiry = (datetime.now(UTC) + timedelta(seconds=self.settings.artifact_link_seconds)).strftime(_EXPIRY)
        query = urlencode({"sv": SAS_VERSION, "sr": "b", "sp": permission, "se": expiry,
                           "sig": self._signature(permission, account, container, name, expiry)})
        return blob_url(self.settings, account, container, name, query, host_style)

    def verify(self, needed: str, account: str, container: str, name: str, query: Mapping[str, str]) -> None:
        """Raises 403 unless the query signs this blob, is unexpired and grants ``needed`` (r or w)."""
        permission, expiry, signature = query.get("sp", ""), query.get("se", ""), query.get("sig", "")
        if not (permission and expiry and signature):
            raise _authentication_failed("The link is not signed: it needs the sp, se and sig parameters.")
        expected = self._signature(permission, account, container, name, expiry)
        if not hmac.compare_digest(expected, signature):
            raise _authentication_failed("Signature did not match.")
        try:
            expires = datetime.strptime(expiry, _EXPIRY).replace(tzinfo=UTC)
        except ValueError:
            raise _authentication_failed(f"Signed expiry time [{expiry}] is not a valid time.") from None
        now = datetime.now(UTC)
        if now >= expires:
            raise _authentication_failed(f"Signed expiry time [{expires:%a, %d %b %Y %H:%M:%S GMT}] has to be "
                                         f"after current time [{now:%a, %d %b %Y %H:%M:%S GMT}].")
        if needed not in permission:
            raise Forbidden("This request is not authorized to perform this operation using this permission.",
                            code="AuthorizationPermissionMismatch")


def _authentication_failed(detail: str) -> Forbidden:
    return Forbidden("Server failed to authenticate the request. Make sure the value of Authorization header is "
                     f"formed correctly including the signature. {detail}", code="AuthenticationFailed")
