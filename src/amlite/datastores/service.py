"""Datastore use cases: register (validated against the storage it names), read, list, update, delete,
the default, and ``resolve``: where a datastore's blobs are, for the runs that read and write them.

Credentials are sealed with the data key of the workspace's key vault; they leave this module in clear
only through ``credential_reader``, and only the API decides who gets them.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from amlite.arm.tables import Resource
from amlite.artifacts.stores import ArtifactStore
from amlite.artifacts.stores.base import check_account, check_container
from amlite.datastores.defaults import ensure_defaults
from amlite.datastores.schemas import CREDENTIAL_TYPES, DATASTORE_TYPES, OPTIONS, AzureStorageSection, DataStoreBody
from amlite.datastores.storage import (
    Location,
    RemoteStore,
    account_key,
    check_local,
    check_remote,
    container_client,
    local_account,
)
from amlite.datastores.tables import Datastore
from amlite.errors import BadRequest, NotFound
from amlite.runs.paging import Page, decode_offset, encode_offset
from amlite.secrets import SecretBox
from amlite.workspaces.service import require_dependency

_NAME = re.compile(r"^[A-Za-z0-9_]{1,255}$")
_ENDPOINT = re.compile(r"^[A-Za-z0-9.-]{1,250}(:[0-9]{1,5})?$")
CONFLICT_MESSAGE = "Another datastore with the same name already exists"


@dataclass(frozen=True)
class Registration:
    """A valid DataStore body, its credential still in clear."""

    name: str
    datastore_type: str
    account: str
    container: str
    endpoint: str
    protocol: str
    credential_type: str
    credential: str | None = field(repr=False)
    options: dict[str, Any]
    tags: dict[str, str]


def _invalid(message: str, target: str) -> BadRequest:
    return BadRequest(message, code="InvalidDatastore", target=target)


def _one_of(value: str | None, allowed: tuple[str, ...], member: str) -> str:
    if not value:
        raise _invalid(f"'{member}' is required: one of {', '.join(allowed)}.", member)
    for choice in allowed:
        if choice.lower() == value.lower():
            return choice
    raise _invalid(f"'{value}' is not a supported {member}: use one of {', '.join(allowed)}.", member)


def _credential(section: AzureStorageSection) -> tuple[str, str | None]:
    """(credentialType, credential); older clients send accountKey or sasToken with isSas instead."""
    if section.credentialType is None:
        sas = section.isSas or (section.sasToken is not None and section.accountKey is None)
        kind = "Sas" if sas else ("AccountKey" if section.credential or section.accountKey else "None")
    else:
        kind = _one_of(section.credentialType, CREDENTIAL_TYPES, "azureStorageSection.credentialType")
    if kind == "None":
        return kind, None
    secret = section.credential or (section.sasToken if kind == "Sas" else section.accountKey)
    if not secret:
        what = "SAS token" if kind == "Sas" else "account key"
        raise _invalid(f"credentialType '{kind}' needs the {what} in azureStorageSection.credential.",
                       "azureStorageSection.credential")
    return kind, secret


def parse_registration(body: DataStoreBody, path_name: str | None = None) -> Registration:
    if path_name is not None and body.name and body.name.lower() != path_name.lower():
        raise _invalid(f"The body names datastore '{body.name}' but the path names '{path_name}'.", "name")
    name = body.name or path_name
    if not name or not _NAME.match(name):
        raise BadRequest(f"'{name or ''}' is not a valid datastore name: use 1 to 255 letters, digits and "
                         "underscores.", code="InvalidDatastoreName", target="name")
    datastore_type = _one_of(body.dataStoreType, DATASTORE_TYPES, "dataStoreType")
    section = body.azureStorageSection
    if section is None:
        raise _invalid(f"A datastore of type '{datastore_type}' needs an azureStorageSection.", "azureStorageSection")
    for member in ("accountName", "containerName"):
        if not getattr(section, member):
            raise _invalid(f"'azureStorageSection.{member}' is required.", f"azureStorageSection.{member}")
    protocol = (section.protocol or "https").lower()
    if protocol not in ("http", "https"):
        raise _invalid(f"'{section.protocol}' is not a protocol: use https or http.", "azureStorageSection.protocol")
    endpoint = section.endpoint or "core.windows.net"
    if not _ENDPOINT.match(endpoint):
        raise _invalid(f"'{endpoint}' is not a storage endpoint suffix (such as core.windows.net) or host:port.",
                       "azureStorageSection.endpoint")
    credential_type, credential = _credential(section)
    options = {key: getattr(section, key) for key in OPTIONS if getattr(section, key) is not None}
    return Registration(name, datastore_type, check_account(section.accountName),
                        check_container(section.containerName), endpoint, protocol, credential_type, credential,
                        options, body.tags or {})


def _vault_box(session: Session, secrets: SecretBox, workspace: Resource) -> SecretBox:
    """The workspace's own encryption: its key vault's data key."""
    vault = require_dependency(session, workspace, "keyVault")
    return SecretBox(secrets.open(vault.secrets)["dataKey"].encode())


def credential_reader(session: Session, secrets: SecretBox, workspace: Resource) -> Callable[[Datastore], str | None]:
    """Reads datastores' credentials in clear, opening the workspace's vault key at most once."""
    vault = functools.cache(lambda: _vault_box(session, secrets, workspace))

    def read(store: Datastore) -> str | None:
        if store.credential is not None:
            return vault().open(store.credential)["credential"]
        if store.credential_type == "AccountKey":  # the workspace's own stores: the account's key
            account = local_account(session, workspace.subscription_id, store.account_name)
            return account_key(secrets, account) if account is not None else None
        return None

    return read


def _validate(session: Session, secrets: SecretBox, workspace: Resource, registration: Registration,
              create_container: bool) -> bool:
    """Whether the storage was checked (True) or could not be (False); raises when it fails the check."""
    account = local_account(session, workspace.subscription_id, registration.account)
    if account is not None:
        check_local(secrets, account, registration.credential_type, registration.credential)
        return True
    if registration.datastore_type != "AzureBlob":  # file shares elsewhere: no Azure Files client here
        return False
    check_remote(container_client(registration.protocol, registration.account, registration.endpoint,
                                  registration.container, registration.credential_type, registration.credential),
                 create_container)
    return True


def _apply(session: Session, secrets: SecretBox, workspace: Resource, store: Datastore, registration: Registration,
           create_container: bool, skip_validation: bool) -> Datastore:
    validated = not skip_validation and _validate(session, secrets, workspace, registration, create_container)
    store.datastore_type = registration.datastore_type
    store.account_name = registration.account
    store.container_name = registration.container
    store.endpoint = registration.endpoint
    store.protocol = registration.protocol
    store.credential_type = registration.credential_type
    store.credential = (_vault_box(session, secrets, workspace).seal({"credential": registration.credential})
                        if registration.credential is not None else None)
    store.options = registration.options
    store.tags = registration.tags
    store.has_been_validated = validated
    session.add(store)
    session.flush()
    return store


def find_datastore(session: Session, workspace: Resource, name: str) -> Datastore | None:
    return session.scalars(select(Datastore).where(
        Datastore.workspace_id == workspace.id, Datastore.name_key == name.lower())).first()


def get_datastore(session: Session, workspace: Resource, name: str) -> Datastore:
    ensure_defaults(session, workspace)
    store = find_datastore(session, workspace, name)
    if store is None:
        raise NotFound(f"Datastore '{name}' was not found in workspace '{workspace.name}'.",
                       code="DatastoreNotFound", target="name")
    return store


def list_datastores(session: Session, workspace: Resource, names: list[str] | None, token: str | None,
                    count: int) -> Page[Datastore]:
    ensure_defaults(session, workspace)
    offset = decode_offset(token)
    query = select(Datastore).where(Datastore.workspace_id == workspace.id)
    if names:
        query = query.where(Datastore.name_key.in_([name.lower() for name in names]))
    rows = session.scalars(query.order_by(Datastore.name_key).offset(offset).limit(count + 1)).all()
    return Page(list(rows[:count]), encode_offset(offset + count) if len(rows) > count else None)


def create_datastore(session: Session, secrets: SecretBox, workspace: Resource, body: DataStoreBody, *,
                     create_container: bool, skip_validation: bool) -> Datastore:
    """POST: a new name only (the SDK overwrites by PUT after this 400)."""
    ensure_defaults(session, workspace)
    registration = parse_registration(body)
    if find_datastore(session, workspace, registration.name) is not None:
        raise BadRequest(f"{CONFLICT_MESSAGE}: '{registration.name}' in workspace '{workspace.name}'.",
                         code="DatastoreAlreadyExists", target="name")
    store = Datastore(workspace_id=workspace.id, name=registration.name, name_key=registration.name.lower())
    return _apply(session, secrets, workspace, store, registration, create_container, skip_validation)


def update_datastore(session: Session, secrets: SecretBox, workspace: Resource, name: str, body: DataStoreBody, *,
                     create_container: bool, skip_validation: bool) -> Datastore:
    """PUT: replaces the datastore, or registers it when the name is new."""
    ensure_defaults(session, workspace)
    registration = parse_registration(body, name)
    store = find_datastore(session, workspace, name)
    if store is None:
        store = Datastore(workspace_id=workspace.id, name=registration.name, name_key=registration.name.lower())
    return _apply(session, secrets, workspace, store, registration, create_container, skip_validation)


def delete_datastore(session: Session, workspace: Resource, name: str) -> None:
    """Only the registration goes; the data stays where it is. The default, if it was this one, is unset."""
    session.delete(get_datastore(session, workspace, name))


def delete_all(session: Session, workspace: Resource) -> None:
    ensure_defaults(session, workspace)  # so that the built-in stores stay deleted
    session.execute(delete(Datastore).where(Datastore.workspace_id == workspace.id))


def get_default(session: Session, workspace: Resource) -> Datastore:
    defaults = ensure_defaults(session, workspace)
    if defaults.datastore_id is None:
        raise NotFound(f"Workspace '{workspace.name}' has no default datastore: set one with "
                       "PUT .../default/{name}.", code="DatastoreNotFound")
    return session.get_one(Datastore, defaults.datastore_id)


def set_default(session: Session, workspace: Resource, name: str) -> None:
    ensure_defaults(session, workspace).datastore_id = get_datastore(session, workspace, name).id


def resolve(session: Session, secrets: SecretBox, artifacts: ArtifactStore, workspace: Resource,
            name: str) -> Location:
    """Where datastore ``name`` keeps its blobs: the artifact store for a storage account of this server,
    else the real endpoint it names (Azure Blob only)."""
    store = get_datastore(session, workspace, name)
    account = local_account(session, workspace.subscription_id, store.account_name)
    if account is not None:
        return Location(artifacts, account.name, store.container_name)
    if store.datastore_type != "AzureBlob":
        raise BadRequest(f"Datastore '{store.name}' is an Azure File share of storage account "
                         f"'{store.account_name}', which is not on this server; only Azure Blob containers "
                         "are reachable elsewhere.", code="DatastoreNotReachable")
    credential = credential_reader(session, secrets, workspace)(store)
    remote = RemoteStore(store.protocol, store.account_name, store.endpoint, store.credential_type, credential)
    return Location(remote, store.account_name, store.container_name)
