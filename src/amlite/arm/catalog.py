"""The one table of what the management plane serves: providers, resource types, api-versions, regions.

The api-version policy, the providers API and the registration check all read this table.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Every version azure-mgmt-resource and the Azure CLI send for Microsoft.Resources (2015 to 2025).
RESOURCES_API_VERSIONS = (
    "2015-11-01", "2016-02-01", "2016-06-01", "2016-07-01", "2016-09-01", "2017-05-10",
    "2018-02-01", "2018-05-01", "2019-03-01", "2019-05-01", "2019-05-10", "2019-06-01",
    "2019-07-01", "2019-08-01", "2019-10-01", "2019-11-01", "2020-01-01", "2020-06-01",
    "2020-08-01", "2020-10-01", "2021-01-01", "2021-04-01", "2022-01-01", "2022-09-01",
    "2022-12-01", "2023-07-01", "2024-03-01", "2024-07-01", "2024-11-01", "2025-01-01",
    "2025-03-01", "2025-04-01",
)
# Every version azureml-core (1.0.76 to 1.61), azure-mgmt-machinelearningservices and the CLI send.
MACHINE_LEARNING_API_VERSIONS = (
    "2018-03-01-preview", "2018-11-19", "2019-05-01", "2019-06-01", "2019-10-01", "2019-11-01",
    "2020-01-01", "2020-03-01", "2020-04-01", "2020-06-01", "2020-08-01", "2020-09-01-preview",
    "2021-01-01", "2021-04-01", "2021-07-01", "2022-01-01-preview", "2022-05-01", "2022-10-01",
    "2023-04-01", "2023-10-01", "2024-04-01", "2024-10-01", "2025-01-01-preview", "2025-04-01",
)
STORAGE_API_VERSIONS = (
    "2019-06-01", "2020-08-01-preview", "2021-01-01", "2021-02-01", "2021-04-01", "2021-06-01",
    "2021-08-01", "2021-09-01", "2022-05-01", "2022-09-01", "2023-01-01", "2023-04-01",
    "2023-05-01", "2024-01-01", "2025-01-01",
)
KEY_VAULT_API_VERSIONS = (
    "2019-09-01", "2021-04-01-preview", "2021-06-01-preview", "2021-10-01", "2022-07-01",
    "2023-02-01", "2023-07-01", "2024-11-01",
)
CONTAINER_REGISTRY_API_VERSIONS = (
    "2019-05-01", "2019-12-01-preview", "2020-11-01-preview", "2021-06-01-preview",
    "2021-09-01", "2022-02-01-preview", "2022-12-01", "2023-01-01-preview", "2023-07-01",
    "2023-11-01-preview", "2024-11-01-preview", "2025-04-01",
)
INSIGHTS_API_VERSIONS = ("2015-05-01", "2020-02-02")

# name -> display name, as Azure lists them.
REGIONS = {
    "eastus": "East US", "eastus2": "East US 2", "westus": "West US", "westus2": "West US 2",
    "westus3": "West US 3", "centralus": "Central US", "northcentralus": "North Central US",
    "southcentralus": "South Central US", "westcentralus": "West Central US",
    "canadacentral": "Canada Central", "brazilsouth": "Brazil South", "northeurope": "North Europe",
    "westeurope": "West Europe", "uksouth": "UK South", "francecentral": "France Central",
    "germanywestcentral": "Germany West Central", "switzerlandnorth": "Switzerland North",
    "norwayeast": "Norway East", "swedencentral": "Sweden Central", "southeastasia": "Southeast Asia",
    "eastasia": "East Asia", "japaneast": "Japan East", "koreacentral": "Korea Central",
    "centralindia": "Central India", "australiaeast": "Australia East",
    "southafricanorth": "South Africa North", "uaenorth": "UAE North", "local": "Local",
}


@dataclass(frozen=True)
class Provider:
    namespace: str
    # resource type (as Azure spells it) -> supported api-versions
    resource_types: dict[str, tuple[str, ...]] = field(default_factory=dict)
    registration_required: bool = True


PROVIDERS: tuple[Provider, ...] = (
    Provider(
        "Microsoft.Resources",
        {
            "subscriptions": RESOURCES_API_VERSIONS,
            "resourceGroups": RESOURCES_API_VERSIONS,
            "providers": RESOURCES_API_VERSIONS,
            "operationResults": RESOURCES_API_VERSIONS,
            "operationStatuses": RESOURCES_API_VERSIONS,
        },
        registration_required=False,
    ),
    Provider(
        "Microsoft.MachineLearningServices",
        {
            "workspaces": MACHINE_LEARNING_API_VERSIONS,
            "workspaces/computes": MACHINE_LEARNING_API_VERSIONS,
            "operations": MACHINE_LEARNING_API_VERSIONS,
            "locations/workspaceOperationsStatus": MACHINE_LEARNING_API_VERSIONS,
            "locations/computeOperationsStatus": MACHINE_LEARNING_API_VERSIONS,
            "locations/usages": MACHINE_LEARNING_API_VERSIONS,
            "locations/vmSizes": MACHINE_LEARNING_API_VERSIONS,
            "locations/quotas": MACHINE_LEARNING_API_VERSIONS,
        },
    ),
    Provider("Microsoft.Storage", {"storageAccounts": STORAGE_API_VERSIONS}),
    Provider("Microsoft.KeyVault", {"vaults": KEY_VAULT_API_VERSIONS}),
    Provider("Microsoft.ContainerRegistry", {"registries": CONTAINER_REGISTRY_API_VERSIONS}),
    Provider("Microsoft.Insights", {"components": INSIGHTS_API_VERSIONS}),
)

_BY_NAMESPACE = {p.namespace.lower(): p for p in PROVIDERS}


def find_provider(namespace: str) -> Provider | None:
    return _BY_NAMESPACE.get(namespace.lower())


def api_versions(namespace: str, resource_type: str | None = None) -> tuple[str, ...]:
    """The versions of one resource type, or of every type in the namespace when none is named."""
    provider = _BY_NAMESPACE[namespace.lower()]
    if resource_type is not None:
        for name, versions in provider.resource_types.items():
            if name.lower() == resource_type.lower():
                return versions
        raise KeyError(f"{namespace}/{resource_type}")
    return tuple(sorted({v for versions in provider.resource_types.values() for v in versions}))


def normalize_region(location: str) -> str | None:
    """Azure accepts a region by name or display name ('West US 2' = 'westus2')."""
    key = location.replace(" ", "").lower()
    return key if key in REGIONS else None
