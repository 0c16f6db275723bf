"""Artifact stores, chosen by URI scheme: ``file://`` (default) and ``azureblob://``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from amlite.artifacts.stores.base import ArtifactStore, BlobInfo

if TYPE_CHECKING:  # the run agent imports the stores' base without the server's settings (and pydantic)
    from amlite.settings import Settings

__all__ = ["ArtifactStore", "BlobInfo", "open_store"]


def open_store(settings: Settings) -> ArtifactStore:
    uri = settings.artifact_store or (settings.data_dir / "storage").resolve().as_uri()
    scheme = urlsplit(uri).scheme
    if scheme == "file":
        from amlite.artifacts.stores.file import FileStore

        return FileStore(Path(unquote(urlsplit(uri).path)))
    if scheme in ("azureblob", "azureblob+http"):
        from amlite.artifacts.stores.azure_blob import AzureBlobStore

        return AzureBlobStore(uri, settings.artifact_store_key)
    raise ValueError(f"AMLITE_ARTIFACT_STORE: unknown scheme '{scheme}' (use file:// or azureblob://)")
