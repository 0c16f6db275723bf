"""amlite: a self-hosted machine-learning platform, wire-compatible with Azure ML's v1 REST API."""

__version__ = "0.1.0"
