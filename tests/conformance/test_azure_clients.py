"""Official Azure clients as conformance judges: azure-identity and azure-mgmt-resource against ``--tls``.

Only the endpoint changes: the authority and ``base_url`` point at amlite, and its local CA is trusted
through ``REQUESTS_CA_BUNDLE`` the way the server's start-up banner tells users to.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest
from azure.core.exceptions import ClientAuthenticationError, ResourceNotFoundError
from azure.identity import ClientSecretCredential
from azure.mgmt.resource.resources import ResourceManagementClient
from azure.mgmt.resource.subscriptions import SubscriptionClient

from tests.conformance.conftest import PAGE_SIZE
from tests.server import Server

SCOPE = "https://management.azure.com/.default"


@pytest.fixture
def trust_ca(tls_server: Server, monkeypatch) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tls_server.ca_file))


def credential_for(server: Server, secret: str | None = None) -> ClientSecretCredential:
    creds = server.credentials
    return ClientSecretCredential(
        creds["tenantId"], creds["clientId"], secret or creds["clientSecret"],
        authority=server.base_url, disable_instance_discovery=True,
    )


@pytest.fixture
def credential(tls_server: Server, trust_ca) -> Iterator[ClientSecretCredential]:
    with credential_for(tls_server) as cred:
        yield cred


@pytest.fixture
def resources(tls_server: Server, credential: ClientSecretCredential) -> Iterator[ResourceManagementClient]:
    with ResourceManagementClient(
        credential, tls_server.credentials["subscriptionId"], base_url=tls_server.base_url,
        credential_scopes=[SCOPE], polling_interval=0.2,
    ) as client:
        yield client


def test_client_secret_credential_gets_a_token(tls_server: Server, credential: ClientSecretCredential):
    token = credential.get_token(SCOPE)
    assert token.token.count(".") == 2
    assert token.expires_on > time.time()
    # A second call is answered from MSAL's cache: the same token.
    assert credential.get_token(SCOPE).token == token.token


def test_connection_verify_trusts_the_ca_without_the_environment(tls_server: Server, monkeypatch):
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    creds = tls_server.credentials
    with ClientSecretCredential(
        creds["tenantId"], creds["clientId"], creds["clientSecret"],
        authority=tls_server.base_url, disable_instance_discovery=True,
        connection_verify=str(tls_server.ca_file),
    ) as cred:
        assert cred.get_token(SCOPE).expires_on > time.time()


def test_wrong_secret_is_an_authentication_error(tls_server: Server, trust_ca):
    with credential_for(tls_server, secret="not-the-secret") as cred:
        with pytest.raises(ClientAuthenticationError) as raised:
            cred.get_token(SCOPE)
    assert "AADSTS7000215" in str(raised.value)


def test_resource_group_lifecycle(resources: ResourceManagementClient):
    name = f"conformance-{uuid.uuid4().hex[:8]}"
    groups = resources.resource_groups
    assert groups.check_existence(name) is False

    created = groups.create_or_update(name, {"location": "westus2", "tags": {"team": "ml"}})
    assert created.name == name
    assert created.location == "westus2"
    assert created.tags == {"team": "ml"}
    assert created.properties.provisioning_state == "Succeeded"
    assert created.id.lower().endswith(f"/resourcegroups/{name}")
    assert groups.check_existence(name) is True

    listed = {g.name: g for g in groups.list()}
    assert name in listed
    assert listed[name].location == "westus2"

    updated = groups.update(name, {"tags": {"team": "ml", "stage": "test"}})
    assert updated.tags == {"team": "ml", "stage": "test"}
    assert groups.get(name).tags == {"team": "ml", "stage": "test"}

    poller = groups.begin_delete(name, polling_interval=0.2)
    assert poller.result() is None
    assert poller.status() == "Succeeded"
    assert groups.check_existence(name) is False
    with pytest.raises(ResourceNotFoundError) as raised:
        groups.get(name)
    assert raised.value.error.code == "ResourceGroupNotFound"
    assert name not in {g.name for g in groups.list()}


def test_put_is_idempotent_and_names_are_case_insensitive(resources: ResourceManagementClient):
    name = f"Conformance-{uuid.uuid4().hex[:8]}"
    groups = resources.resource_groups
    groups.create_or_update(name, {"location": "westus2"})
    again = groups.create_or_update(name.upper(), {"location": "westus2", "tags": {"k": "v"}})
    assert again.name == name
    assert groups.get(name.lower()).tags == {"k": "v"}
    groups.begin_delete(name, polling_interval=0.2).result()
    assert groups.check_existence(name) is False


def test_list_follows_next_link_across_pages(resources: ResourceManagementClient):
    prefix = f"paged-{uuid.uuid4().hex[:8]}"
    names = [f"{prefix}-{i}" for i in range(2 * PAGE_SIZE + 1)]
    groups = resources.resource_groups
    for name in names:
        groups.create_or_update(name, {"location": "eastus"})
    pages = list(groups.list().by_page())
    assert len(pages) > 2
    listed = [g.name for page in pages for g in page]
    assert len(listed) == len(set(listed))
    assert set(names) <= set(listed)
    for name in names:
        groups.begin_delete(name, polling_interval=0.2).result()
    assert not {g.name for g in groups.list()} & set(names)


def test_subscription_client_lists_the_subscription(tls_server: Server, credential: ClientSecretCredential):
    creds = tls_server.credentials
    with SubscriptionClient(credential, base_url=tls_server.base_url, credential_scopes=[SCOPE]) as client:
        listed = {s.subscription_id: s for s in client.subscriptions.list()}
        assert creds["subscriptionId"] in listed
        subscription = listed[creds["subscriptionId"]]
        assert subscription.tenant_id == creds["tenantId"]
        assert subscription.state == "Enabled"
        assert client.subscriptions.get(creds["subscriptionId"]).display_name == subscription.display_name
