"""Where a datastore's bytes are, and whether its credentials open them.

A datastore whose account is a storage account of this server (an ARM ``Microsoft.Storage/storageAccounts``
resource in the workspace's subscription) lives in the server's artifact store. Any other account is a
real Azure Storage endpoint (or an emulator such as Azurite), reached with azure-storage-blob and the
datastore's own credential.
"""

from __future__ import annotations

import hmac
import ipaddress
from datetime import UTC, datetime, timedelta
from collections.abc import Iterable, Iterator
from typing import NamedTuple

from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.storage.blob import (
    BlobProperties,
    BlobSasPermissions,
    BlobServiceClient,
    ContainerClient,
    ContentSettings,
    generate_blob_sas,
)
from sqlalchemy import select
from sqlalchemy.orm import Session

from amlite.arm.tables import Resource
from amlite.artifacts.stores import ArtifactStore, BlobInfo
from amlite.artifacts.stores.base import check_name, limited
from amlite.dependents.kinds import STORAGE
from amlite.dependents.service import account_keys
from amlite.errors import BadRequest
from amlite.secrets import SecretBox

# Validation must not hang a request on an endpoint that does not answer.
_TIMEOUTS = {"retry_total": 0, "connection_timeout": 10, "read_timeout": 30}


def local_account(session: Session, subscription_id: str, account_name: str) -> Resource | None:
    """The storage account of this server with that name in the subscription, if there is one."""
    return session.scalars(select(Resource).where(
        Resource.subscription_id == subscription_id,
        Resource.type_key == STORAGE.type_name.lower(),
        Resource.name_key == account_name.lower(),
    )).first()


def account_key(secrets: SecretBox, account: Resource) -> str:
    return account_keys(secrets, account)[0]


def check_local(secrets: SecretBox, account: Resource, credential_type: str, credential: str | None) -> None:
    """An account key given for a storage account of this server must be one of its keys."""
    if credential_type != "AccountKey":
        return
    keys = account_keys(secrets, account)
    if not any(hmac.compare_digest(key.encode(), (credential or "").encode()) for key in keys):
        raise BadRequest(f"The account key is not a key of storage account '{account.name}'.",
                         code="DatastoreValidationFailed", target="azureStorageSection.credential")


def account_url(protocol: str, account: str, endpoint: str) -> str:
    """Azure's ``{protocol}://{account}.blob.{endpoint}``; path-style for an address (an emulator)."""
    host = endpoint.split(":", 1)[0]
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if host != "localhost":
            return f"{protocol}://{account}.blob.{endpoint}"
    return f"{protocol}://{endpoint}/{account}"


def container_client(protocol: str, account: str, endpoint: str, container: str, credential_type: str,
                     credential: str | None) -> ContainerClient:
    if credential_type == "AccountKey":
        auth: object = {"account_name": account, "account_key": credential}
    elif credential_type == "Sas":
        auth = (credential or "").lstrip("?")
    else:
        auth = None
    service = BlobServiceClient(account_url(protocol, account, endpoint), credential=auth, **_TIMEOUTS)
    return service.get_container_client(container)


def check_remote(client: ContainerClient, create_missing: bool) -> None:
    """The container answers a listing with these credentials; ``create_missing`` makes it first.

    Messages name the account and container only: never the credential nor the storage's answer."""
    where = f"container '{client.container_name}' of storage account '{client.account_name}'"
    try:
        next(client.list_blobs(results_per_page=1).by_page(), None)
    except ResourceNotFoundError:
        if not create_missing:
            raise BadRequest(f"The {where} does not exist. Create it, or register the datastore with "
                             "createIfNotExists=true.", code="DatastoreValidationFailed") from None
        try:
            client.create_container()
        except ResourceExistsError:
            pass
        except HttpResponseError as error:
            raise _rejected(where, error) from None
    except HttpResponseError as error:
        raise _rejected(where, error) from None
    except (ServiceRequestError, ServiceResponseError):
        raise BadRequest(f"The storage endpoint '{client.url.split('?')[0]}' could not be reached to validate "
                         f"the {where}.", code="DatastoreValidationFailed") from None


def _rejected(where: str, error: HttpResponseError) -> BadRequest:
    if isinstance(error, ClientAuthenticationError) or error.status_code in (401, 403):
        return BadRequest(f"The credentials were rejected by the {where}.", code="DatastoreValidationFailed",
                          target="azureStorageSection.credential")
    return BadRequest(f"The {where} answered status {error.status_code} to validation.",
                      code="DatastoreValidationFailed")


class RemoteStore:
    """One real storage account, addressed as an ArtifactStore is (account, container, name): the
    reading and writing a run's data references need. Streams both ways."""

    def __init__(self, protocol: str, account: str, endpoint: str, credential_type: str,
                 credential: str | None) -> None:
        self.account = account
        self._settings = (protocol, account, endpoint, credential_type, credential)
        self.uri = account_url(protocol, account, endpoint)
        self._clients: dict[str, ContainerClient] = {}  # one client (and connection pool) per container

    def _container(self, account: str, container: str) -> ContainerClient:
        if account != self.account:
            raise ValueError(f"this store reaches storage account '{self.account}', not '{account}'")
        if container not in self._clients:
            protocol, _, endpoint, credential_type, credential = self._settings
            self._clients[container] = container_client(protocol, account, endpoint, container, credential_type,
                                                        credential)
        return self._clients[container]

    def read(self, account: str, container: str, name: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        blob = self._container(account, container).get_blob_client(check_name(name))
        if end is not None and end <= start:
            return iter(())
        try:
            return blob.download_blob(offset=start, length=None if end is None else end - start).chunks()
        except ResourceNotFoundError:
            raise KeyError(name) from None

    def info(self, account: str, container: str, name: str) -> BlobInfo | None:
        try:
            props = self._container(account, container).get_blob_client(check_name(name)).get_blob_properties()
        except ResourceNotFoundError:
            return None
        return _info(props, name)

    def list(self, account: str, container: str, prefix: str = "") -> Iterator[BlobInfo]:
        for props in self._container(account, container).list_blobs(name_starts_with=prefix or None):
            yield _info(props, props.name)

    def read_url(self, account: str, container: str, name: str, seconds: int) -> str:
        """A URL that reads one blob without further credentials: a SAS signed with the account key,
        the datastore's own SAS, or the plain URL of a public container."""
        blob = self._container(account, container).get_blob_client(check_name(name))
        _, _, _, credential_type, credential = self._settings
        if credential_type == "AccountKey":
            sas = generate_blob_sas(account, container, name, account_key=credential,
                                    permission=BlobSasPermissions(read=True),
                                    expiry=datetime.now(UTC) + timedelta(seconds=seconds))
            return f"{blob.url}?{sas}"
        if credential_type == "Sas":
            return f"{blob.url}?{(credential or '').lstrip('?')}"
        return blob.url

    def write(self, account: str, container: str, name: str, chunks: Iterable[bytes],
              content_type: str | None = None, max_bytes: int | None = None) -> BlobInfo:
        blob = self._container(account, container).get_blob_client(check_name(name))
        blob.upload_blob(limited(chunks, max_bytes), overwrite=True,
                         content_settings=ContentSettings(content_type=content_type))
        return _info(blob.get_blob_properties(), name)


def _info(props: BlobProperties, name: str) -> BlobInfo:
    settings = props.content_settings
    md5 = bytes(settings.content_md5) if settings.content_md5 else b""
    return BlobInfo(name, props.size, md5, props.last_modified, settings.content_type)


class Location(NamedTuple):
    """Where a datastore's blobs are: ``store.read(account, container, name)`` and the like."""

    store: ArtifactStore | RemoteStore
    account: str
    container: str
