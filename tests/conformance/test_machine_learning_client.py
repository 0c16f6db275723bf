"""azure-mgmt-machinelearningservices (api-version 2020-08-01) as the judge of workspaces and computes:
the official client creates, reads, lists and deletes both, over https against amlite's local CA."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.identity import ClientSecretCredential
from azure.mgmt.machinelearningservices import MachineLearningServicesMgmtClient
from azure.mgmt.machinelearningservices.models import (
    AmlCompute,
    AmlComputeProperties,
    ComputeResource,
    Identity,
    ScaleSettings,
    Sku,
    Workspace,
)

from tests.resources import create_dependencies, create_group
from tests.server import Server

SCOPE = "https://management.azure.com/.default"


@pytest.fixture
def ml_client(tls_server: Server, monkeypatch) -> Iterator[MachineLearningServicesMgmtClient]:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tls_server.ca_file))
    creds = tls_server.credentials
    credential = ClientSecretCredential(creds["tenantId"], creds["clientId"], creds["clientSecret"],
                                        authority=tls_server.base_url, disable_instance_discovery=True)
    with MachineLearningServicesMgmtClient(credential, creds["subscriptionId"], base_url=tls_server.base_url,
                                           credential_scopes=[SCOPE], polling_interval=0.2) as client:
        yield client


def test_workspace_and_compute_lifecycle(tls_server: Server, ml_client: MachineLearningServicesMgmtClient):
    group, name = "mlclient-rg", f"mlws{uuid.uuid4().hex[:6]}"
    with tls_server.client() as arm:
        create_group(arm, tls_server.credentials["subscriptionId"], group)
        ids = create_dependencies(arm, tls_server.credentials["subscriptionId"], group, name)
    parameters = Workspace(
        location="westus2", identity=Identity(type="SystemAssigned"), sku=Sku(name="Basic", tier="Basic"),
        friendly_name="from the official client", storage_account=ids["Microsoft.Storage/storageAccounts"],
        key_vault=ids["Microsoft.KeyVault/vaults"], application_insights=ids["Microsoft.Insights/components"],
        container_registry=ids["Microsoft.ContainerRegistry/registries"],
    )
    created = ml_client.workspaces.begin_create_or_update(group, name, parameters).result()
    assert created.provisioning_state == "Succeeded"
    assert created.friendly_name == "from the official client" and created.workspace_id

    fetched = ml_client.workspaces.get(group, name)
    assert fetched.id == created.id and fetched.discovery_url.endswith("/discovery")
    assert name in [w.name for w in ml_client.workspaces.list_by_resource_group(group)]
    assert name in [w.name for w in ml_client.workspaces.list_by_subscription()]

    compute = ComputeResource(location="westus2", properties=AmlCompute(properties=AmlComputeProperties(
        vm_size="Standard_D2_v2", vm_priority="Dedicated",
        scale_settings=ScaleSettings(max_node_count=2, min_node_count=0, node_idle_time_before_scale_down="PT5M"),
    )))
    cluster = ml_client.machine_learning_compute.begin_create_or_update(group, name, "cpu", compute).result()
    assert cluster.properties.provisioning_state == "Succeeded"
    assert cluster.properties.properties.scale_settings.max_node_count == 2
    listed = list(ml_client.machine_learning_compute.list_by_workspace(group, name))
    assert [c.name for c in listed] == ["cpu"]
    assert isinstance(listed[0].properties, AmlCompute)

    ml_client.machine_learning_compute.begin_delete(group, name, "cpu", underlying_resource_action="Delete").result()
    with pytest.raises(ResourceNotFoundError):
        ml_client.machine_learning_compute.get(group, name, "cpu")
    ml_client.workspaces.begin_delete(group, name).result()
    with pytest.raises(ResourceNotFoundError):
        ml_client.workspaces.get(group, name)
