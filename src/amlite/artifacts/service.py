"""Artifacts of one workspace: rows that say which exist, bytes in the artifact store, signed links to them.

Artifact (origin, container, path) is blob ``{origin}/{container}/{path}`` in container ``azureml`` of
the workspace's storage account, as Azure lays out run files (``ExperimentRun/dcid.{runId}/outputs/...``).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Iterator

from sqlalchemy import delete, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from amlite.arm.tables import Resource
from amlite.artifacts.links import READ, WRITE, BlobLinks
from amlite.artifacts.stores import ArtifactStore, BlobInfo
from amlite.artifacts.stores.base import check_name
from amlite.artifacts.tables import Artifact
from amlite.compute.layout import storage_account_name
from amlite.context import AppContext
from amlite.errors import BadRequest, Conflict, NotFound
from amlite.runs.paging import Page, decode_token, encode_token

STORE_CONTAINER = "azureml"
RUN_ORIGIN = "ExperimentRun"  # a run's files: this origin, the run's data container
_SEGMENT = re.compile(r"^[A-Za-z0-9_.:-]{1,256}$")


def _check_segment(value: str, what: str) -> str:
    if not _SEGMENT.match(value) or value in (".", ".."):
        raise BadRequest(f"'{value}' is not a valid artifact {what}: use letters, digits, '_', '.', ':' and '-'.",
                         code="InvalidArtifactPath", target=what)
    return value


def _etag() -> str:
    return f'"{uuid.uuid4()}"'


class Artifacts:
    def __init__(self, session: Session, workspace: Resource, store: ArtifactStore, links: BlobLinks,
                 page_size: int) -> None:
        self.session = session
        self.workspace = workspace
        self.store = store
        self.links = links
        self.page_size = page_size
        self.account = storage_account_name(workspace)

    @classmethod
    def of(cls, context: AppContext, session: Session, workspace: Resource) -> Artifacts:
        return cls(session, workspace, context.artifacts, BlobLinks.of(context), context.settings.page_size)

    # --- names --------------------------------------------------------------------------------

    def blob_name(self, origin: str, container: str, path: str) -> str:
        """The store name of an artifact; raises 400 for names that could leave their container."""
        check_name(path)
        return f"{_check_segment(origin, 'origin')}/{_check_segment(container, 'container')}/{path}"

    def read_link(self, artifact: Artifact) -> str:
        return self.links.url(READ, self.account, STORE_CONTAINER, self.blob_name(*self._key(artifact)))

    def write_link(self, artifact: Artifact) -> str:
        return self.links.url(WRITE, self.account, STORE_CONTAINER, self.blob_name(*self._key(artifact)))

    def read_links(self, origin: str, container: str, paths: list[str]) -> dict[str, str]:
        """Read links of those of ``paths`` that are artifacts with content."""
        rows = self.session.scalars(self._select(origin, container).where(Artifact.path.in_(paths)))
        return {a.path: self.read_link(a) for a in rows
                if self.store.exists(self.account, STORE_CONTAINER, self.blob_name(*self._key(a)))}

    @staticmethod
    def _key(artifact: Artifact) -> tuple[str, str, str]:
        return artifact.origin, artifact.container, artifact.path

    # --- metadata -----------------------------------------------------------------------------

    def _select(self, origin: str, container: str):
        return select(Artifact).where(Artifact.workspace_id == self.workspace.id, Artifact.origin == origin,
                                      Artifact.container == container)

    def find(self, origin: str, container: str, path: str) -> Artifact | None:
        return self.session.scalars(self._select(origin, container).where(Artifact.path == path)).first()

    def get(self, origin: str, container: str, path: str) -> Artifact:
        self.blob_name(origin, container, path)
        artifact = self.find(origin, container, path)
        if artifact is None:
            raise NotFound(f"Artifact '{path}' was not found in container '{container}' of origin '{origin}'.",
                           code="ArtifactNotFound", target="path")
        return artifact

    def get_by_id(self, artifact_id: str) -> Artifact:
        parts = artifact_id.split("/", 2)
        if len(parts) != 3:
            raise BadRequest(f"'{artifact_id}' is not an artifact id: use '{{origin}}/{{container}}/{{path}}'.",
                             code="InvalidArtifactId", target="artifactIds")
        return self.get(*parts)

    def create(self, origin: str, container: str, paths: list[str]) -> list[Artifact]:
        """Empty artifacts (their content comes through a write link); existing ones are kept as they are."""
        for path in paths:
            self.blob_name(origin, container, path)
        return [self._get_or_create(origin, container, path) for path in paths]

    def _get_or_create(self, origin: str, container: str, path: str) -> Artifact:
        artifact = self.find(origin, container, path)
        if artifact is not None:
            return artifact
        artifact = Artifact(workspace_id=self.workspace.id, origin=origin, container=container, path=path,
                            etag=_etag())
        try:
            with self.session.begin_nested():
                self.session.add(artifact)
        except IntegrityError:  # created concurrently
            return self.find(origin, container, path)
        return artifact

    def list(self, origin: str, container: str, token: str | None, prefix: str = "",
             folder: str | None = None) -> Page[Artifact]:
        """One page in path order: the artifacts whose path starts with ``prefix``, or those in ``folder``
        (the folder's own path included)."""
        _check_segment(origin, "origin")
        _check_segment(container, "container")
        query = self._select(origin, container)
        if prefix:
            query = query.where(func.substr(Artifact.path, 1, len(prefix)) == prefix)
        if folder:
            inside = folder.rstrip("/") + "/"
            query = query.where(or_(Artifact.path == folder.rstrip("/"),
                                    func.substr(Artifact.path, 1, len(inside)) == inside))
        after = decode_token(token).get("after")
        if after is not None:
            if not isinstance(after, str):
                raise BadRequest("The continuation token is not one this server issued.",
                                 code="InvalidContinuationToken")
            query = query.where(Artifact.path > after)
        rows = list(self.session.scalars(query.order_by(Artifact.path).limit(self.page_size + 1)))
        more = len(rows) > self.page_size
        rows = rows[: self.page_size]
        return Page(rows, encode_token({"after": rows[-1].path}) if more else None)

    # --- content ------------------------------------------------------------------------------

    def download(self, artifact: Artifact) -> tuple[BlobInfo, Iterator[bytes]]:
        name = self.blob_name(*self._key(artifact))
        info = self.store.info(self.account, STORE_CONTAINER, name)
        if info is None:
            raise NotFound(f"Artifact '{artifact.path}' has no content yet.", code="ArtifactContentNotFound",
                           target="path")
        return info, self.store.read(self.account, STORE_CONTAINER, name)

    def upload(self, origin: str, container: str, path: str, chunks: Iterable[bytes], *, append: bool,
               allow_overwrite: bool, content_type: str | None, max_bytes: int) -> Artifact:
        """Write (or append to) an artifact's content, then record it; a failed upload changes nothing."""
        name = self.blob_name(origin, container, path)
        if append:
            self.store.append(self.account, STORE_CONTAINER, name, chunks, max_bytes)
        else:
            if not allow_overwrite and self.store.exists(self.account, STORE_CONTAINER, name):
                raise Conflict(f"Artifact '{path}' already has content.", code="ArtifactAlreadyExists",
                               target="path")
            self.store.write(self.account, STORE_CONTAINER, name, chunks, content_type, max_bytes)
        artifact = self._get_or_create(origin, container, path)
        artifact.etag = _etag()
        return artifact

    # --- deleting -----------------------------------------------------------------------------

    def delete(self, artifacts: list[Artifact]) -> None:
        for artifact in artifacts:
            self.session.delete(artifact)
        self.session.flush()
        for artifact in artifacts:
            self.store.delete(self.account, STORE_CONTAINER, self.blob_name(*self._key(artifact)))

    def delete_paths(self, origin: str, container: str, paths: list[str]) -> None:
        """The named artifacts that exist are deleted; the others are ignored."""
        for path in paths:
            self.blob_name(origin, container, path)
        self.delete([a for a in (self.find(origin, container, path) for path in paths) if a is not None])

    def delete_container(self, origin: str, container: str) -> None:
        """Every artifact of the container, and any bytes stored under it."""
        prefix = f"{_check_segment(origin, 'origin')}/{_check_segment(container, 'container')}/"
        self.session.execute(delete(Artifact).where(Artifact.workspace_id == self.workspace.id,
                                                    Artifact.origin == origin, Artifact.container == container))
        for blob in list(self.store.list(self.account, STORE_CONTAINER, prefix)):
            self.store.delete(self.account, STORE_CONTAINER, blob.name)
