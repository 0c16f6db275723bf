"""Per-type behaviour of the dependent resources: names, defaults, computed properties, secrets.

Each kind answers Azure's shape for its type; what it generates (storage keys, registry passwords,
a vault's data key, an instrumentation key) is what the rest of amlite uses those resources for.
"""

from __future__ import annotations

import base64
import re
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from cryptography.fernet import Fernet

from amlite.db.base import utcnow


@dataclass(frozen=True)
class BuildContext:
    base_url: str
    tenant_id: str
    subscription_id: str
    name: str
    location: str


# (properties from the request, properties stored so far) -> properties to store
PropertiesBuilder = Callable[[BuildContext, dict[str, Any], dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class Kind:
    namespace: str
    type: str
    label: str
    name_pattern: str
    name_rule: str
    default_sku: dict[str, Any] | None
    default_kind: str | None
    # writable members of properties: those a PUT or PATCH may set
    writable: tuple[str, ...]
    build: PropertiesBuilder
    new_secrets: Callable[[], dict[str, Any]]
    # code answered when the name is taken anywhere on this server (it is a host name in Azure)
    name_taken_code: str | None = None

    @property
    def type_name(self) -> str:
        return f"{self.namespace}/{self.type}"

    def valid_name(self, name: str) -> bool:
        return re.fullmatch(self.name_pattern, name) is not None


def _random_key(size: int = 64) -> str:
    return base64.b64encode(secrets.token_bytes(size)).decode()


def _keep(requested: dict[str, Any], stored: dict[str, Any], writable: tuple[str, ...],
          defaults: dict[str, Any]) -> dict[str, Any]:
    """Stored values, overridden by what the request sets among the writable members."""
    kept = {**defaults, **{k: v for k, v in stored.items() if k in writable}}
    kept.update({k: v for k, v in requested.items() if k in writable})
    return kept


def _storage(ctx: BuildContext, requested: dict[str, Any], stored: dict[str, Any]) -> dict[str, Any]:
    properties = _keep(requested, stored, STORAGE.writable,
                       {"supportsHttpsTrafficOnly": True, "accessTier": "Hot", "minimumTlsVersion": "TLS1_2",
                        "isHnsEnabled": False})
    endpoint = f"{ctx.base_url}/storage/{ctx.name}"
    created = stored.get("creationTime") or utcnow().isoformat()
    properties.update({
        "provisioningState": "Succeeded",
        "creationTime": created,
        "primaryLocation": ctx.location,
        "statusOfPrimary": "available",
        "primaryEndpoints": {service: f"{endpoint}/{service}/" for service in ("blob", "queue", "table", "file", "dfs", "web")},
        "encryption": {"keySource": "Microsoft.Storage",
                       "services": {"blob": {"enabled": True, "keyType": "Account"},
                                    "file": {"enabled": True, "keyType": "Account"}}},
    })
    return properties


def _key_vault(ctx: BuildContext, requested: dict[str, Any], stored: dict[str, Any]) -> dict[str, Any]:
    properties = _keep(requested, stored, KEY_VAULT.writable, {
        "tenantId": ctx.tenant_id, "sku": {"family": "A", "name": "standard"}, "accessPolicies": [],
        "enabledForDeployment": False, "enabledForDiskEncryption": False, "enabledForTemplateDeployment": False,
        "enableSoftDelete": True, "softDeleteRetentionInDays": 90, "enableRbacAuthorization": False,
    })
    properties.update({"vaultUri": f"{ctx.base_url}/vaults/{ctx.name}/", "provisioningState": "Succeeded"})
    return properties


def _registry(ctx: BuildContext, requested: dict[str, Any], stored: dict[str, Any]) -> dict[str, Any]:
    properties = _keep(requested, stored, REGISTRY.writable, {"adminUserEnabled": False})
    properties["adminUserEnabled"] = bool(properties["adminUserEnabled"])
    properties.update({
        "loginServer": f"{urlsplit(ctx.base_url).netloc}/{ctx.name.lower()}",
        "creationDate": stored.get("creationDate") or utcnow().isoformat(),
        "provisioningState": "Succeeded",
    })
    return properties


def _insights(ctx: BuildContext, requested: dict[str, Any], stored: dict[str, Any]) -> dict[str, Any]:
    properties = _keep(requested, stored, INSIGHTS.writable,
                       {"Application_Type": "web", "Flow_Type": "Bluefield", "Request_Source": "rest",
                        "RetentionInDays": 90})
    instrumentation_key = stored.get("InstrumentationKey") or str(uuid.uuid4())
    properties.update({
        "ApplicationId": ctx.name,
        "AppId": stored.get("AppId") or str(uuid.uuid4()),
        "InstrumentationKey": instrumentation_key,
        "ConnectionString": f"InstrumentationKey={instrumentation_key};"
                            f"IngestionEndpoint={ctx.base_url}/insights/{ctx.name}/",
        "CreationDate": stored.get("CreationDate") or utcnow().isoformat(),
        "TenantId": ctx.subscription_id,
        "provisioningState": "Succeeded",
    })
    return properties


STORAGE = Kind(
    "Microsoft.Storage", "storageAccounts", "storage account", r"[a-z0-9]{3,24}",
    "Storage account names are 3 to 24 characters of lowercase letters and digits.",
    {"name": "Standard_LRS", "tier": "Standard"}, "StorageV2",
    ("supportsHttpsTrafficOnly", "accessTier", "minimumTlsVersion", "isHnsEnabled", "allowBlobPublicAccess"),
    _storage, lambda: {"keys": [_random_key(), _random_key()]}, "StorageAccountAlreadyTaken",
)
KEY_VAULT = Kind(
    "Microsoft.KeyVault", "vaults", "key vault", r"[A-Za-z][A-Za-z0-9-]{1,22}[A-Za-z0-9]",
    "Vault names are 3 to 24 characters: letters, digits and hyphens, starting with a letter.",
    None, None,
    ("tenantId", "sku", "accessPolicies", "enabledForDeployment", "enabledForDiskEncryption",
     "enabledForTemplateDeployment", "enableSoftDelete", "softDeleteRetentionInDays", "enableRbacAuthorization",
     "enablePurgeProtection"),
    _key_vault, lambda: {"dataKey": Fernet.generate_key().decode()}, "VaultAlreadyExists",
)
REGISTRY = Kind(
    "Microsoft.ContainerRegistry", "registries", "container registry", r"[A-Za-z0-9]{5,50}",
    "Registry names are 5 to 50 alphanumeric characters.",
    {"name": "Basic", "tier": "Basic"}, None, ("adminUserEnabled",),
    _registry, lambda: {"passwords": [secrets.token_urlsafe(24), secrets.token_urlsafe(24)]}, "AlreadyInUse",
)
INSIGHTS = Kind(
    "Microsoft.Insights", "components", "Application Insights component", r"[^%&\\?/]{1,260}",
    "Component names are 1 to 260 characters, without %, &, \\, ? or /.",
    None, "web", ("Application_Type", "Flow_Type", "Request_Source", "RetentionInDays", "IngestionMode"),
    _insights, dict,
)

KINDS = {kind.type_name.lower(): kind for kind in (STORAGE, KEY_VAULT, REGISTRY, INSIGHTS)}


def find_kind(namespace: str, resource_type: str) -> Kind | None:
    return KINDS.get(f"{namespace}/{resource_type}".lower())
