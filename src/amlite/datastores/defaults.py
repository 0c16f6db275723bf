"""The datastores every workspace has from its creation, as Azure makes them: ``workspaceblobstore``
(the default) and ``workspacefilestore``, in the workspace's own storage account.

Kept apart from service.py so that workspace provisioning can call it without an import cycle.
"""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from amlite.arm.tables import Resource
from amlite.compute.layout import storage_account_name
from amlite.datastores.tables import Datastore, DatastoreDefaults

BLOB_STORE, FILE_STORE = "workspaceblobstore", "workspacefilestore"


def ensure_defaults(session: Session, workspace: Resource) -> DatastoreDefaults:
    """The workspace's defaults row, making the two built-in datastores the first time."""
    defaults = session.get(DatastoreDefaults, workspace.id)
    if defaults is not None:
        return defaults
    workspace_id = workspace.properties["workspaceId"]
    try:
        with session.begin_nested():  # two first requests at once: the second one finds the first one's
            stores = [_own_store(workspace, BLOB_STORE, "AzureBlob", f"azureml-blobstore-{workspace_id}"),
                      _own_store(workspace, FILE_STORE, "AzureFile", f"azureml-filestore-{workspace_id}")]
            session.add_all(stores)
            session.flush()
            defaults = DatastoreDefaults(workspace_id=workspace.id, datastore_id=stores[0].id)
            session.add(defaults)
    except IntegrityError:
        return session.get_one(DatastoreDefaults, workspace.id)
    return defaults


def _own_store(workspace: Resource, name: str, datastore_type: str, container: str) -> Datastore:
    # credential NULL with AccountKey: the key is the storage account's own (see tables.Datastore)
    return Datastore(workspace_id=workspace.id, name=name, name_key=name.lower(), datastore_type=datastore_type,
                     account_name=storage_account_name(workspace), container_name=container,
                     endpoint="core.windows.net", protocol="https", credential_type="AccountKey",
                     credential=None, options={}, tags={}, has_been_validated=True)
