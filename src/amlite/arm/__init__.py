"""The ARM management plane: subscriptions, resource groups, providers, api-versions, async operations."""
