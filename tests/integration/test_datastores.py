"""datastore/v1.0: a workspace's built-in datastores, registration with validation against the storage
it names (this server's own accounts, and a real Azure Storage endpoint: Azurite), the default, and
credentials that stay sealed: encrypted at rest, out of responses unless asked for by a caller allowed
to read secrets, and out of the server's log."""

from __future__ import annotations

import base64
import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from azure.storage.blob import BlobServiceClient, ContainerSasPermissions, generate_container_sas
from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import delete, select

from amlite.artifacts.stores import open_store
from amlite.datastores import service
from amlite.datastores.storage import RemoteStore
from amlite.datastores.tables import Datastore, DatastoreDefaults
from amlite.db.engine import Database
from amlite.secrets import SecretBox
from amlite.settings import Settings
from amlite.workspaces.service import find_workspace
from tests.azurite import ACCOUNT, KEY, Azurite
from tests.resources import create_workspace
from tests.server import Backend, Server, free_port

CONFLICT = "Another datastore with the same name already exists"


# Fixtures and helpers -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def ws(server: Server) -> dict:
    """A workspace of this module's own: the tests delete datastores, which others may rely on."""
    with server.client() as client:
        return create_workspace(client, server.credentials["subscriptionId"], "ds-rg", f"ds{uuid.uuid4().hex[:8]}")


@pytest.fixture(scope="module")
def reader(server: Server) -> dict:
    return server.new_principal(server.credentials["subscriptionId"], "Reader")


@pytest.fixture
def database(server: Server) -> Iterator[Database]:
    """The server's own database, read directly."""
    db = Database(server.backend.database_url or f"sqlite:///{server.data_dir / 'amlite.db'}")
    yield db
    db.dispose()


@pytest.fixture(scope="module")
def azurite(backend: Backend, tmp_path_factory) -> Iterator[str]:
    """Azurite's endpoint as a datastore names it (host:port). One per backend, so that each run of the
    module starts from an empty storage account."""
    started = Azurite(tmp_path_factory.mktemp("azurite")).start()
    yield f"127.0.0.1:{started.port}"
    started.stop()


def blob_service(endpoint: str) -> BlobServiceClient:
    return BlobServiceClient(f"http://{endpoint}/{ACCOUNT}",
                             credential={"account_name": ACCOUNT, "account_key": KEY})


def url(ws: dict, tail: str = "/datastores") -> str:
    return f"/datastore/v1.0{ws['id']}{tail}"


def storage_name(ws: dict) -> str:
    return ws["properties"]["storageAccount"].rsplit("/", 1)[-1]


def storage_key(arm: httpx.Client, ws: dict) -> str:
    response = arm.post(f"{ws['properties']['storageAccount']}/listKeys?api-version=2019-06-01")
    assert response.status_code == 200, response.text
    return response.json()["keys"][0]["value"]


def blob_body(name: str, account: str, container: str, credential_type: str = "None",
              credential: str | None = None, **section) -> dict:
    storage = {"accountName": account, "containerName": container, "endpoint": "core.windows.net",
               "protocol": "https", "credentialType": credential_type, **section}
    if credential is not None:
        storage["credential"] = credential
    return {"name": name, "dataStoreType": "AzureBlob", "azureStorageSection": storage}


def register(client: httpx.Client, ws: dict, body: dict, **query) -> httpx.Response:
    params = {key: str(value).lower() for key, value in query.items()}
    return client.post(url(ws), params=params, json=body)


def error_of(response: httpx.Response) -> dict:
    return response.json()["error"]


def assert_not_logged(server: Server, *secrets: str) -> None:
    log = server.output()
    for secret in secrets:
        assert secret not in log


# The workspace's own datastores -------------------------------------------------------------


def test_a_new_workspace_has_its_blob_and_file_stores(arm: httpx.Client, ws: dict):
    listed = arm.get(url(ws))
    assert listed.status_code == 200, listed.text
    stores = {store["name"]: store for store in listed.json()["value"]}
    assert sorted(stores) == ["workspaceblobstore", "workspacefilestore"]
    workspace_id = ws["properties"]["workspaceId"]
    for name, kind, container in (("workspaceblobstore", "AzureBlob", f"azureml-blobstore-{workspace_id}"),
                                  ("workspacefilestore", "AzureFile", f"azureml-filestore-{workspace_id}")):
        section = stores[name]["azureStorageSection"]
        assert stores[name]["dataStoreType"] == kind
        assert section["accountName"] == storage_name(ws)
        assert section["containerName"] == container
        assert section["credentialType"] == "AccountKey"
        assert "credential" not in section
    default = arm.get(url(ws, "/default"))
    assert default.status_code == 200, default.text
    assert default.json()["name"] == "workspaceblobstore"


def test_a_workspace_from_before_datastores_gets_them_on_first_access(server: Server, arm: httpx.Client,
                                                                       database: Database):
    older = create_workspace(arm, server.credentials["subscriptionId"], "ds-rg", f"old{uuid.uuid4().hex[:8]}")
    with database.session() as session:  # as if it had been made before this server knew datastores
        workspace = find_workspace(session, server.credentials["subscriptionId"], "ds-rg", older["name"])
        session.execute(delete(DatastoreDefaults).where(DatastoreDefaults.workspace_id == workspace.id))
        session.execute(delete(Datastore).where(Datastore.workspace_id == workspace.id))
    assert arm.get(url(older, "/default")).json()["name"] == "workspaceblobstore"
    assert [s["name"] for s in arm.get(url(older)).json()["value"]] == ["workspaceblobstore", "workspacefilestore"]


# Registering, reading, listing, updating, deleting -------------------------------------------


def test_register_get_update_and_delete_on_a_storage_account_of_this_server(server: Server, arm: httpx.Client,
                                                                            ws: dict):
    key = storage_key(arm, ws)
    body = blob_body("training_data", storage_name(ws), "training", "AccountKey", key, blobCacheTimeout=60)
    body["tags"] = {"team": "ml"}
    created = register(arm, ws, body)
    assert created.status_code == 200, created.text
    fetched = arm.get(url(ws, "/datastores/training_data"))
    assert fetched.status_code == 200, fetched.text
    store = fetched.json()
    assert store["name"] == "training_data"
    assert store["dataStoreType"] == "AzureBlob"
    assert store["hasBeenValidated"] is True
    assert store["tags"] == {"team": "ml"}
    assert store["azureStorageSection"]["containerName"] == "training"
    assert store["azureStorageSection"]["blobCacheTimeout"] == 60
    assert "credential" not in store["azureStorageSection"]
    # names are case-insensitive
    assert arm.get(url(ws, "/datastores/TRAINING_DATA")).json()["name"] == "training_data"

    body["azureStorageSection"]["containerName"] = "training-v2"
    body["tags"] = {"team": "data"}
    updated = arm.put(url(ws, "/datastores/training_data"), json=body)
    assert updated.status_code == 200, updated.text
    store = arm.get(url(ws, "/datastores/training_data")).json()
    assert store["azureStorageSection"]["containerName"] == "training-v2"
    assert store["tags"] == {"team": "data"}

    assert arm.delete(url(ws, "/datastores/training_data")).status_code == 200
    missing = arm.get(url(ws, "/datastores/training_data"))
    assert missing.status_code == 404
    assert error_of(missing)["code"] == "DatastoreNotFound"
    assert arm.delete(url(ws, "/datastores/training_data")).status_code == 404
    assert_not_logged(server, key)


def test_put_registers_a_new_name(arm: httpx.Client, ws: dict):
    body = blob_body("put_made", storage_name(ws), "putmade")
    assert arm.put(url(ws, "/datastores/put_made"), json=body).status_code == 200
    assert arm.get(url(ws, "/datastores/put_made")).json()["azureStorageSection"]["credentialType"] == "None"
    body["name"] = "other_name"
    mismatch = arm.put(url(ws, "/datastores/put_made"), json=body)
    assert mismatch.status_code == 400
    assert "path names 'put_made'" in error_of(mismatch)["message"]


def test_a_duplicate_name_answers_400(arm: httpx.Client, ws: dict):
    body = blob_body("twice", storage_name(ws), "twice")
    assert register(arm, ws, body).status_code == 200
    for name in ("twice", "TWICE"):
        again = register(arm, ws, {**body, "name": name}, createIfNotExists=True)
        assert again.status_code == 400
        assert CONFLICT in error_of(again)["message"]
    # as the SDK does with overwrite=True: PUT after the 400
    body["azureStorageSection"]["containerName"] = "twice-over"
    assert arm.put(url(ws, "/datastores/twice"), json=body).status_code == 200
    assert arm.get(url(ws, "/datastores/twice")).json()["azureStorageSection"]["containerName"] == "twice-over"


def test_list_pages_with_count_and_continuation_token(arm: httpx.Client, server: Server):
    paged = create_workspace(arm, server.credentials["subscriptionId"], "ds-rg", f"pg{uuid.uuid4().hex[:8]}")
    for index in range(5):
        assert register(arm, paged, blob_body(f"store_{index}", storage_name(paged), f"cont{index}")).status_code == 200
    names, token, pages = [], None, 0
    while True:
        params = {"count": 3, **({"continuationToken": token} if token else {})}
        page = arm.get(url(paged), params=params)
        assert page.status_code == 200, page.text
        assert len(page.json()["value"]) <= 3
        names += [store["name"] for store in page.json()["value"]]
        pages += 1
        token = page.json().get("continuationToken")
        if token is None:
            assert "nextLink" not in page.json()
            break
        assert page.json()["nextLink"].startswith(server.base_url)
    assert pages == 3
    assert names == [f"store_{i}" for i in range(5)] + ["workspaceblobstore", "workspacefilestore"]
    chosen = arm.get(url(paged), params=[("dataStoreNames", "store_1"), ("dataStoreNames", "STORE_3")])
    assert [store["name"] for store in chosen.json()["value"]] == ["store_1", "store_3"]
    bad = arm.get(url(paged), params={"continuationToken": "not-ours"})
    assert bad.status_code == 400
    assert arm.get(url(paged), params={"count": 0}).status_code == 400


def test_default_get_set_and_delete_all(arm: httpx.Client, server: Server):
    other = create_workspace(arm, server.credentials["subscriptionId"], "ds-rg", f"df{uuid.uuid4().hex[:8]}")
    assert register(arm, other, blob_body("mine", storage_name(other), "mine")).status_code == 200
    assert arm.put(url(other, "/default/mine")).status_code == 200
    assert arm.get(url(other, "/default")).json()["name"] == "mine"
    missing = arm.put(url(other, "/default/nothing_here"))
    assert missing.status_code == 404
    assert arm.get(url(other, "/default")).json()["name"] == "mine"

    assert arm.delete(url(other, "/datastores/mine")).status_code == 200
    unset = arm.get(url(other, "/default"))
    assert unset.status_code == 404
    assert error_of(unset)["code"] == "DatastoreNotFound"
    assert arm.put(url(other, "/default/workspacefilestore")).status_code == 200
    assert arm.get(url(other, "/default")).json()["name"] == "workspacefilestore"

    assert arm.delete(url(other)).status_code == 200
    assert arm.get(url(other)).json()["value"] == []  # the built-in stores do not come back
    assert arm.get(url(other, "/default")).status_code == 404


@pytest.mark.parametrize(("change", "message"), [
    (lambda body: body.pop("azureStorageSection"), "needs an azureStorageSection"),
    (lambda body: body["azureStorageSection"].update(credentialType="Password"), "'Password' is not a supported"),
    (lambda body: body["azureStorageSection"].update(credentialType="AccountKey"), "needs the account key"),
    (lambda body: body["azureStorageSection"].pop("containerName"), "containerName' is required"),
    (lambda body: body["azureStorageSection"].update(containerName="Bad_Name"), "not a container name"),
    (lambda body: body["azureStorageSection"].update(protocol="ftp"), "not a protocol"),
    (lambda body: body.update(dataStoreType="AzureSqlDatabase"), "'AzureSqlDatabase' is not a supported"),
    (lambda body: body.update(name="has space"), "not a valid datastore name"),
    (lambda body: body.pop("name"), "not a valid datastore name"),
])
def test_bad_bodies_answer_400(arm: httpx.Client, ws: dict, change, message: str):
    body = blob_body("bad_body", storage_name(ws), "badbody")
    change(body)
    response = register(arm, ws, body)
    assert response.status_code == 400, response.text
    assert message in error_of(response)["message"]
    assert arm.get(url(ws, "/datastores/bad_body")).status_code == 404


def test_pascal_case_and_deprecated_members_are_read(arm: httpx.Client, ws: dict):
    key = storage_key(arm, ws)
    body = {"Name": "pascal", "DataStoreType": "azureblob", "AzureStorageSection": {
        "AccountName": storage_name(ws), "ContainerName": "pascal", "AccountKey": key, "IsSas": False}}
    assert register(arm, ws, body).status_code == 200, "deprecated accountKey with no credentialType"
    store = arm.get(url(ws, "/datastores/pascal"), params={"includeSecret": "true"}).json()
    assert store["dataStoreType"] == "AzureBlob"
    assert store["azureStorageSection"]["credentialType"] == "AccountKey"
    assert store["azureStorageSection"]["credential"] == key


def test_a_wrong_account_key_for_this_servers_account_fails_validation(server: Server, arm: httpx.Client, ws: dict):
    wrong = base64.b64encode(os.urandom(64)).decode()
    body = blob_body("wrong_key", storage_name(ws), "wrongkey", "AccountKey", wrong)
    response = register(arm, ws, body)
    assert response.status_code == 400
    assert error_of(response)["code"] == "DatastoreValidationFailed"
    assert wrong not in response.text
    skipped = register(arm, ws, body, skipValidation=True)
    assert skipped.status_code == 200
    assert arm.get(url(ws, "/datastores/wrong_key")).json()["hasBeenValidated"] is False
    assert_not_logged(server, wrong)


# Credentials ----------------------------------------------------------------------------------


def test_credentials_are_sealed_with_the_workspace_vault_key(server: Server, arm: httpx.Client, ws: dict,
                                                             database: Database):
    sas = f"sv=2021-08-06&sr=c&sp=rl&sig={uuid.uuid4().hex}"
    assert register(arm, ws, blob_body("sealed", storage_name(ws), "sealed", "Sas", sas)).status_code == 200
    with database.session() as session:
        workspace = find_workspace(session, server.credentials["subscriptionId"], "ds-rg", ws["name"])
        stored = session.scalars(select(Datastore.credential).where(
            Datastore.workspace_id == workspace.id, Datastore.name_key == "sealed")).one()
    assert stored is not None
    assert sas not in stored
    assert sas.encode() not in base64.urlsafe_b64decode(stored + "=" * (-len(stored) % 4))
    master = Fernet((server.data_dir / "secret.key").read_bytes().strip())
    with pytest.raises(InvalidToken):  # not the server's master key: the vault's own data key
        master.decrypt(stored.encode())
    assert_not_logged(server, sas)


def test_credentials_only_for_include_secret_by_a_principal_allowed_to_read_secrets(
        server: Server, arm: httpx.Client, ws: dict, reader: dict):
    sas = f"sv=2021-08-06&sr=c&sp=rl&sig={uuid.uuid4().hex}"
    assert register(arm, ws, blob_body("secretive", storage_name(ws), "secretive", "Sas", sas)).status_code == 200
    account_key = storage_key(arm, ws)

    def sections(client: httpx.Client, **params) -> list[dict]:
        found = [client.get(url(ws, "/datastores/secretive"), params=params).json(),
                 client.get(url(ws, "/default"), params=params).json()]
        found += [s for s in client.get(url(ws), params={"count": 100, **params}).json()["value"]
                  if s["name"] in ("secretive", "workspaceblobstore")]
        return [store["azureStorageSection"] for store in found]

    for section in sections(arm) + sections(arm, includeSecret="false"):
        assert "credential" not in section
    with_secrets = sections(arm, includeSecret="true")
    assert [s.get("credential") for s in with_secrets] == [sas, account_key, sas, account_key]
    with server.client(reader) as client:
        assert len(sections(client, includeSecret="true")) == 4
        for section in sections(client, includeSecret="true"):
            assert "credential" not in section
    assert_not_logged(server, sas, account_key)


def test_a_reader_reads_but_cannot_register_or_delete(server: Server, ws: dict, reader: dict):
    with server.client(reader) as client:
        assert client.get(url(ws)).status_code == 200
        for response in (register(client, ws, blob_body("by_reader", storage_name(ws), "byreader")),
                         client.put(url(ws, "/datastores/by_reader"),
                                    json=blob_body("by_reader", storage_name(ws), "byreader")),
                         client.delete(url(ws, "/datastores/workspaceblobstore")),
                         client.delete(url(ws)),
                         client.put(url(ws, "/default/workspacefilestore"))):
            assert response.status_code == 403, response.text
            assert error_of(response)["code"] == "AuthorizationFailed"
    with server.client() as client:
        assert client.get(url(ws, "/datastores/by_reader")).status_code == 404
        assert client.get(url(ws, "/default")).json()["name"] == "workspaceblobstore"


# A real Azure Storage endpoint (Azurite) -------------------------------------------------------


def azurite_body(name: str, endpoint: str, container: str, credential_type: str = "AccountKey",
                 credential: str | None = KEY) -> dict:
    return blob_body(name, ACCOUNT, container, credential_type, credential, endpoint=endpoint,
                     protocol="http")


def test_registering_an_azurite_container_validates_it(server: Server, arm: httpx.Client, ws: dict, azurite: str):
    blob_service(azurite).create_container("present")
    accepted = register(arm, ws, azurite_body("remote_ok", azurite, "present"))
    assert accepted.status_code == 200, accepted.text
    assert arm.get(url(ws, "/datastores/remote_ok")).json()["hasBeenValidated"] is True

    wrong = base64.b64encode(os.urandom(64)).decode()
    rejected = register(arm, ws, azurite_body("remote_bad_key", azurite, "present", credential=wrong))
    assert rejected.status_code == 400
    assert "credentials were rejected" in error_of(rejected)["message"]
    assert wrong not in rejected.text

    absent = register(arm, ws, azurite_body("remote_absent", azurite, "absent"))
    assert absent.status_code == 400
    assert "does not exist" in error_of(absent)["message"]
    assert arm.get(url(ws, "/datastores/remote_absent")).status_code == 404

    skipped = register(arm, ws, azurite_body("remote_bad_key", azurite, "present", credential=wrong),
                       skipValidation=True)
    assert skipped.status_code == 200
    assert arm.get(url(ws, "/datastores/remote_bad_key")).json()["hasBeenValidated"] is False
    assert_not_logged(server, wrong, KEY)


def test_create_if_not_exists_makes_the_container(arm: httpx.Client, ws: dict, azurite: str):
    made = register(arm, ws, azurite_body("remote_made", azurite, "made-on-register"), createIfNotExists=True)
    assert made.status_code == 200, made.text
    assert blob_service(azurite).get_container_client("made-on-register").exists()
    body = azurite_body("remote_made", azurite, "made-on-update")
    assert arm.put(url(ws, "/datastores/remote_made"), json=body).status_code == 400
    made = arm.put(url(ws, "/datastores/remote_made"), params={"createIfNotExists": "true"}, json=body)
    assert made.status_code == 200, made.text
    assert blob_service(azurite).get_container_client("made-on-update").exists()


def test_a_sas_token_is_validated_with_the_container(server: Server, arm: httpx.Client, ws: dict, azurite: str):
    blob_service(azurite).create_container("with-sas")
    expiry = datetime.now(UTC) + timedelta(hours=1)
    sas = generate_container_sas(ACCOUNT, "with-sas", account_key=KEY,
                                 permission=ContainerSasPermissions(read=True, list=True), expiry=expiry)
    assert register(arm, ws, azurite_body("remote_sas", azurite, "with-sas", "Sas", sas)).status_code == 200
    unlisting = generate_container_sas(ACCOUNT, "with-sas", account_key=KEY,
                                       permission=ContainerSasPermissions(write=True), expiry=expiry)
    refused = register(arm, ws, azurite_body("remote_sas_w", azurite, "with-sas", "Sas", unlisting))
    assert refused.status_code == 400
    assert "credentials were rejected" in error_of(refused)["message"]
    assert_not_logged(server, sas, unlisting)


def test_an_endpoint_that_does_not_answer(arm: httpx.Client, ws: dict):
    response = register(arm, ws, azurite_body("remote_gone", f"127.0.0.1:{free_port()}", "gone"))
    assert response.status_code == 400
    assert "could not be reached" in error_of(response)["message"]


# resolve(): where runs find a datastore's blobs ------------------------------------------------


def test_resolve_reaches_the_artifact_store_or_the_real_endpoint(server: Server, arm: httpx.Client, ws: dict,
                                                                 azurite: str, database: Database):
    container = blob_service(azurite).create_container("resolved")
    container.upload_blob("data/a.csv", b"x,y\n1,2\n")
    assert register(arm, ws, azurite_body("remote_resolved", azurite, "resolved")).status_code == 200
    secrets = SecretBox.from_settings(None, server.data_dir)
    artifacts = open_store(Settings(data_dir=server.data_dir))
    with database.session() as session:
        workspace = find_workspace(session, server.credentials["subscriptionId"], "ds-rg", ws["name"])
        store, account, name = service.resolve(session, secrets, artifacts, workspace, "workspaceblobstore")
        assert (store, account, name) == (artifacts, storage_name(ws),
                                          f"azureml-blobstore-{ws['properties']['workspaceId']}")
        store.write(account, name, "hello.txt", [b"hello"])
        assert b"".join(store.read(account, name, "hello.txt")) == b"hello"

        remote, account, name = service.resolve(session, secrets, artifacts, workspace, "remote_resolved")
        assert isinstance(remote, RemoteStore)
        assert [blob.name for blob in remote.list(account, name, "data/")] == ["data/a.csv"]
        assert b"".join(remote.read(account, name, "data/a.csv")) == b"x,y\n1,2\n"
        remote.write(account, name, "out/b.txt", iter([b"b" * 10, b"c" * 5]))
    assert container.download_blob("out/b.txt").readall() == b"b" * 10 + b"c" * 5

