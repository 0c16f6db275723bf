"""First start on an empty store: a tenant, a subscription and an Owner service principal.

The secret is shown once and written to ``<data-dir>/bootstrap-credentials.json`` (mode 0600)
in the Azure SDK auth-file format, with its endpoints pointing at this server.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from amlite.arm import service as arm_service
from amlite.arm.ids import subscription_id
from amlite.db.engine import Database
from amlite.identity import service as identity_service
from amlite.identity.tables import Tenant

CREDENTIALS_FILE = "bootstrap-credentials.json"


def sdk_auth(base_url: str, *, client_id: str, client_secret: str, subscription: str, tenant_id: str) -> dict[str, Any]:
    """The document ``az ad sp create-for-rbac --sdk-auth`` prints, for this server."""
    return {
        "clientId": client_id,
        "clientSecret": client_secret,
        "subscriptionId": subscription,
        "tenantId": tenant_id,
        "activeDirectoryEndpointUrl": base_url,
        "resourceManagerEndpointUrl": f"{base_url}/",
        "activeDirectoryGraphResourceId": "https://graph.windows.net/",
        "sqlManagementEndpointUrl": "https://management.core.windows.net:8443/",
        "galleryEndpointUrl": "https://gallery.azure.com/",
        "managementEndpointUrl": "https://management.core.windows.net/",
    }


def create_principal_with_role(session: Session, base_url: str, *, tenant_id: str, subscription: str,
                               name: str, role: str, scope: str | None = None) -> dict[str, Any]:
    created = identity_service.create_principal(session, tenant_id, name)
    identity_service.assign_role(session, created.principal, role, scope or subscription_id(subscription))
    return sdk_auth(base_url, client_id=created.principal.client_id, client_secret=created.client_secret,
                    subscription=subscription, tenant_id=tenant_id)


def bootstrap(db: Database, data_dir: Path, base_url: str) -> dict[str, Any] | None:
    """Create the first identity if the store has none; answers its credentials, else ``None``."""
    with db.session() as session:
        if session.scalars(select(Tenant.id)).first() is not None:
            return None
        tenant = identity_service.create_tenant(session, "amlite")
        subscription = arm_service.create_subscription(session, tenant.id, "amlite")
        credentials = create_principal_with_role(
            session, base_url, tenant_id=tenant.id, subscription=subscription.id,
            name="amlite-bootstrap", role="Owner",
        )
    write_private_json(data_dir / CREDENTIALS_FILE, credentials)
    return credentials


def write_private_json(path: Path, document: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(document, handle, indent=2)
    os.chmod(path, 0o600)
