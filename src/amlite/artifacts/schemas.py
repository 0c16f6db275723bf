"""Wire models of artifact/v2.0 (and of run history's artifact routes): request bodies and response JSON."""

from __future__ import annotations

from typing import Any

from amlite.artifacts.tables import Artifact
from amlite.runs.schemas import iso
from amlite.web.body import WireModel


class ArtifactPath(WireModel):
    path: str


class ArtifactPathList(WireModel):
    paths: list[ArtifactPath]


class ArtifactIdList(WireModel):
    artifactIds: list[str]


class NewArtifact(WireModel):
    origin: str
    container: str
    path: str


def artifact_json(artifact: Artifact) -> dict[str, Any]:
    return {"artifactId": artifact.artifact_id, "origin": artifact.origin, "container": artifact.container,
            "path": artifact.path, "etag": artifact.etag, "createdTime": iso(artifact.created_at)}


def content_info_json(artifact: Artifact, uri: str) -> dict[str, Any]:
    return {"contentUri": uri, "origin": artifact.origin, "container": artifact.container, "path": artifact.path}
