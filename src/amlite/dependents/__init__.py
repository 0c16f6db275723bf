"""The resources a workspace depends on: storage accounts, key vaults, container registries and
Application Insights components, served by one generic provider with per-type behaviour."""
