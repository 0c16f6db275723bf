"""Blob host names: ``https://{account}.blob.{suffix}/{container}/{blob}`` served as ``/blob/{account}/...``.

The Azure ML SDK does not use a blob link as given: it takes the first DNS label of the link's host as
the storage account and rebuilds ``https://{account}.blob.{rest}`` (see v1-sdk-operations.md, 3.4).
With ``AMLITE_BLOB_HOST_SUFFIX`` set, amlite hands out links of that form; requests that arrive for such
a host are routed to the Azure-Blob-compatible endpoint by rewriting their path before routing.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send


def blob_host_pattern(suffix: str) -> str:
    """The certificate name that covers every account's blob host."""
    return f"*.blob.{suffix}"


class BlobHostMiddleware:
    def __init__(self, app: ASGIApp, suffix: str | None) -> None:
        self.app = app
        self.tail = f".blob.{suffix}".lower() if suffix else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.tail and scope["type"] == "http":
            account = self._account(scope)
            if account:
                scope = dict(scope)
                scope["path"] = f"/blob/{account}{scope['path']}"
                scope["raw_path"] = f"/blob/{account}".encode() + scope.get("raw_path", b"")
        await self.app(scope, receive, send)

    def _account(self, scope: Scope) -> str | None:
        host = next((value for key, value in scope["headers"] if key == b"host"), b"").decode("latin-1").lower()
        name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        if name.endswith(self.tail) and "." not in name[: -len(self.tail)]:
            return name[: -len(self.tail)] or None
        return None
