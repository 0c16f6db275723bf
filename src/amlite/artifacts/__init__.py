"""Artifacts: the artifact/v2.0 service, content snapshots, and the stores that hold the bytes."""
