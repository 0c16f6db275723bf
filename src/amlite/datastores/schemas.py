"""Wire models of datastore/v1.0 (DataStore, AzureStorage) and the JSON a datastore answers as."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from amlite.datastores.tables import Datastore
from amlite.web.body import WireModel

DATASTORE_TYPES = ("AzureBlob", "AzureFile")
CREDENTIAL_TYPES = ("AccountKey", "Sas", "None")
# azureStorageSection members kept as sent, in the datastore's options
OPTIONS = ("blobCacheTimeout", "areWorkspaceManagedIdentitiesAllowed", "subscriptionId", "resourceGroup")


class AzureStorageSection(WireModel):
    accountName: str | None = None
    containerName: str | None = None
    endpoint: str | None = None
    protocol: str | None = None
    credentialType: str | None = None
    # secrets: kept out of the model's repr, so that no log line or traceback shows them
    credential: str | None = Field(None, repr=False)
    accountKey: str | None = Field(None, repr=False)  # deprecated spelling of an AccountKey credential
    sasToken: str | None = Field(None, repr=False)  # deprecated spelling of a Sas credential
    isSas: bool | None = None
    blobCacheTimeout: int | None = None
    areWorkspaceManagedIdentitiesAllowed: bool | None = None
    subscriptionId: str | None = None
    resourceGroup: str | None = None


class DataStoreBody(WireModel):
    name: str | None = None
    dataStoreType: str | None = None
    tags: dict[str, str] | None = None
    azureStorageSection: AzureStorageSection | None = None


def datastore_json(store: Datastore, credential: str | None = None) -> dict[str, Any]:
    """The DataStore; ``credential`` only when the caller asked for it and may read it."""
    section: dict[str, Any] = {
        "accountName": store.account_name,
        "containerName": store.container_name,
        "endpoint": store.endpoint,
        "protocol": store.protocol,
        "credentialType": store.credential_type,
        "isSas": store.credential_type == "Sas",
        **{key: value for key, value in (store.options or {}).items() if key in OPTIONS},
    }
    if credential is not None:
        section["credential"] = credential
    return {
        "name": store.name,
        "dataStoreType": store.datastore_type,
        "hasBeenValidated": store.has_been_validated,
        "tags": store.tags or {},
        "azureStorageSection": section,
    }
