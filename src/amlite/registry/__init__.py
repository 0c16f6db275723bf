"""The Model Management Service's registry (modelmanagement/v1.0 and /api): assets and models."""
