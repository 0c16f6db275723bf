"""The model registry of one workspace: assets, and models registered from them (or straight from
artifacts, or from a run's outputs), versioned per name.

Files are never copied: an asset names artifact prefixes (``{origin}/{container}/{path}``, a file or a
folder) and a model keeps the prefixes its url resolved to; their bytes stay in the artifact store.
"""

from __future__ import annotations

import posixpath
import re
import uuid
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from amlite.arm.tables import Resource
from amlite.artifacts.service import RUN_ORIGIN, Artifacts
from amlite.artifacts.tables import Artifact
from amlite.context import AppContext
from amlite.db.base import utcnow
from amlite.endpoints.tables import Service, ServiceModel
from amlite.errors import BadRequest, Conflict, NotFound, PreconditionFailed
from amlite.identity.tokens import Caller
from amlite.registry.patch import JsonPatchOperation, apply_patch
from amlite.registry.schemas import (
    AssetChanges,
    ModelChanges,
    NewAsset,
    NewModel,
    asset_patchable,
    model_patchable,
)
from amlite.registry.tables import Asset, Model
from amlite.runs.paging import Page, decode_offset, encode_offset
from amlite.runs.service import find_run, get_run
from amlite.runs.tables import Experiment
from amlite.web.body import WireModel, parse_model

# The SDK's own check (azureml._model_management._util.model_name_validation).
MODEL_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9\-._]{0,254}$")
ASSET_URL = "aml://asset/"
ARTIFACT_URL = "aml://artifact/"
DEFAULT_FRAMEWORK = "Custom"
M = TypeVar("M", bound=WireModel)
# orderBy value (lower-cased) -> (by the last update rather than creation, descending)
ORDERS = {"createdatdesc": (False, True), "createdatasc": (False, False),
          "updatedatdesc": (True, True), "updatedatasc": (True, False)}
ORDER_NAMES = "CreatedAtDesc, CreatedAtAsc, UpdatedAtDesc, UpdatedAtAsc"


def parse_pairs(value: str | None, what: str) -> list[tuple[str, str | None]]:
    """``stage=prod,owner`` -> ``[("stage", "prod"), ("owner", None)]``: a key, or a key and its value."""
    pairs = []
    for item in (value or "").split(","):
        key, _, wanted = item.partition("=")
        if not key.strip():
            if item.strip():
                raise BadRequest(f"'{value}' is not a {what} filter: use 'key' or 'key=value' items separated by "
                                 "commas.", code="InvalidQueryParameter", target=what)
            continue
        pairs.append((key.strip(), wanted if "=" in item else None))
    return pairs


@dataclass
class ListQuery:
    """The filters of a list: every one optional; ``tags``/``properties`` in the ``k=v,k2`` syntax."""

    name: str | None = None
    tag: str | None = None
    tags: str | None = None
    properties: str | None = None
    run_id: str | None = None
    order_by: str | None = None
    count: int | None = None
    skip_token: str | None = None
    # models only
    version: int | None = None
    framework: str | None = None
    description: str | None = None
    latest_only: bool = False
    # assets only
    asset_type: str | None = None


def map_conditions(column, spec: str | None, what: str) -> list:
    conditions = []
    for key, wanted in parse_pairs(spec, what):
        value = column[key].as_string()
        conditions.append(value.is_not(None) if wanted is None else value == wanted)
    return conditions


def ordering(query: ListQuery, created, updated, identity) -> list:
    key = (query.order_by or "CreatedAtDesc").lower()
    if key not in ORDERS:
        raise BadRequest(f"'{query.order_by}' is not an order: use one of {ORDER_NAMES}.",
                         code="InvalidQueryParameter", target="orderBy")
    by_update, descending = ORDERS[key]
    column = updated if by_update else created
    return [column.desc(), identity.desc()] if descending else [column.asc(), identity.asc()]


def services_using(session: Session, workspace: Resource, model: Model) -> list[str]:
    """The names of the services that deploy ``model`` (or are being deployed with it): its deletion is
    then refused."""
    return list(session.scalars(select(Service.name).join(ServiceModel, ServiceModel.service_id == Service.id)
                                .where(Service.workspace_id == workspace.id, ServiceModel.model_id == model.id)
                                .order_by(Service.name)))


class Registry:
    def __init__(self, session: Session, workspace: Resource, artifacts: Artifacts, page_size: int) -> None:
        self.session = session
        self.workspace = workspace
        self.artifacts = artifacts
        self.page_size = page_size

    @classmethod
    def of(cls, context: AppContext, session: Session, workspace: Resource) -> Registry:
        return cls(session, workspace, Artifacts.of(context, session, workspace), context.settings.page_size)

    # --- artifact prefixes ------------------------------------------------------------------------

    @staticmethod
    def _split(prefix: str) -> tuple[str, str, str]:
        parts = prefix.strip("/").split("/", 2)
        if len(parts) < 2 or not all(parts[:2]):
            raise BadRequest(f"'{prefix}' is not an artifact prefix: use '{{origin}}/{{container}}/{{path}}', "
                             "e.g. 'ExperimentRun/dcid.{runId}/outputs/model.pkl'.",
                             code="InvalidArtifactPrefix", target="artifacts")
        return parts[0], parts[1], parts[2] if len(parts) == 3 else ""

    def _artifacts_under(self, prefix: str, token: str | None = None) -> Page[Artifact]:
        """The artifacts a prefix names: the file at its path, or those in the folder it names."""
        origin, container, path = self._split(prefix)
        return self.artifacts.list(origin, container, token, folder=path.rstrip("/") or None)

    def _check_prefix(self, prefix: str) -> str:
        if not self._artifacts_under(prefix).items:
            raise NotFound(f"No artifact exists under '{prefix}': upload the files first (or check the run's "
                           "outputs).", code="ArtifactNotFound", target="artifacts")
        return prefix

    def files(self, model: Model) -> list[tuple[str, Artifact]]:
        """The model's files: (path relative to the model, artifact), the way the SDK lays them out when
        it downloads a model (a file keeps its name, a folder its last segment)."""
        found = []
        for prefix in model.files:
            strip = posixpath.dirname(self._split(prefix)[2].rstrip("/"))
            token = None
            while True:
                page = self._artifacts_under(prefix, token)
                found += [(posixpath.relpath(a.path, strip) if strip else a.path, a) for a in page.items]
                token = page.continuation_token
                if not token:
                    break
        return found

    def file_links(self, model: Model) -> list[dict[str, str]]:
        """``[{path, contentUri}]``: a signed read link for each model file that has content."""
        files = self.files(model)
        by_container: dict[tuple[str, str], list[str]] = {}
        for _path, artifact in files:
            by_container.setdefault((artifact.origin, artifact.container), []).append(artifact.path)
        links = {(origin, container, path): link for (origin, container), paths in by_container.items()
                 for path, link in self.artifacts.read_links(origin, container, paths).items()}
        return [{"path": path, "contentUri": links[(a.origin, a.container, a.path)]}
                for path, a in files if (a.origin, a.container, a.path) in links]

    # --- assets -----------------------------------------------------------------------------------

    def create_asset(self, body: NewAsset) -> Asset:
        artifacts = []
        for item in body.artifacts:
            if (item.id is None) == (item.prefix is None):
                raise BadRequest("Each of an asset's artifacts has either an 'id' or a 'prefix'.",
                                 code="InvalidAssetArtifact", target="artifacts")
            if item.id is not None:
                self.artifacts.get_by_id(item.id)
                artifacts.append({"id": item.id})
            else:
                artifacts.append({"prefix": self._check_prefix(item.prefix or "")})
        now = utcnow()
        asset = Asset(id=uuid.uuid4().hex, workspace_id=self.workspace.id, name=body.name, asset_type=body.type,
                      description=body.description, artifacts=artifacts, kv_tags=body.kvTags or {},
                      properties=body.properties or {}, meta=body.meta or {}, run_id=body.runid,
                      project_id=body.projectid, created_at=now, updated_at=now)
        self.session.add(asset)
        self.session.flush()
        return asset

    def get_asset(self, asset_id: str) -> Asset:
        asset = self.session.get(Asset, asset_id)
        if asset is None or asset.workspace_id != self.workspace.id:
            raise NotFound(f"Asset '{asset_id}' was not found in workspace '{self.workspace.name}'.",
                           code="AssetNotFound", target="id")
        return asset

    def list_assets(self, query: ListQuery) -> Page[Asset]:
        conditions = [Asset.workspace_id == self.workspace.id,
                      *map_conditions(Asset.kv_tags, query.tags, "tags"),
                      *map_conditions(Asset.properties, query.properties, "properties")]
        if query.tag:
            conditions.append(Asset.kv_tags[query.tag].as_string().is_not(None))
        for column, wanted in ((Asset.name, query.name), (Asset.run_id, query.run_id),
                               (Asset.asset_type, query.asset_type)):
            if wanted is not None:
                conditions.append(column == wanted)
        statement = select(Asset).where(*conditions).order_by(
            *ordering(query, Asset.created_at, Asset.updated_at, Asset.id))
        return self.page_of(statement, query)

    def patch_asset(self, asset_id: str, operations: list[JsonPatchOperation]) -> Asset:
        asset = self.get_asset(asset_id)
        changes = self.patched_changes(AssetChanges, apply_patch(asset_patchable(asset), operations), asset.properties)
        asset.description = changes.description
        asset.kv_tags = changes.kvTags or {}
        asset.properties = changes.properties or {}
        asset.meta = changes.meta or {}
        asset.updated_at = utcnow()
        return asset

    def delete_asset(self, asset_id: str) -> None:
        asset = self.get_asset(asset_id)
        users = self.session.scalars(select(Model).where(Model.workspace_id == self.workspace.id,
                                                         Model.url == ASSET_URL + asset.id)).all()
        if users:
            raise PreconditionFailed(f"Asset '{asset_id}' cannot be deleted: models "
                                     f"{', '.join(repr(m.model_id) for m in users)} are registered from it.",
                                     code="AssetInUse", target="id")
        self.session.delete(asset)

    # --- models -----------------------------------------------------------------------------------

    def register(self, body: NewModel, caller: Caller) -> Model:
        if not MODEL_NAME.match(body.name):
            raise BadRequest(f"'{body.name}' is not a valid model name: 1 to 255 letters, digits, '-', '.' or '_', "
                             "starting with a letter or digit.", code="InvalidModelName", target="name")
        files = self._resolve_url(body.url, body.runId)
        experiment_name = body.experimentName
        if body.runId and not experiment_name and (run := find_run(self.session, self.workspace, body.runId)):
            experiment_name = self.session.get(Experiment, run.experiment_id).name
        now = utcnow()
        model = Model(
            workspace_id=self.workspace.id, name=body.name, url=body.url, files=files, mime_type=body.mimeType,
            unpack=body.unpack, description=body.description, kv_tags=body.kvTags or body.tags or {},
            properties=body.properties or {}, framework=body.framework or DEFAULT_FRAMEWORK,
            framework_version=body.frameworkVersion, experiment_name=experiment_name, run_id=body.runId,
            datasets=[d.model_dump() for d in body.datasets or []], parent_model_id=body.parentModelId,
            derived_model_ids=[], sample_input_data=body.sampleInputData, sample_output_data=body.sampleOutputData,
            resource_requirements=body.resourceRequirements,
            created_by=caller.created_by(),
            created_at=now, modified_at=now,
        )
        return self._insert(model)

    def _resolve_url(self, url: str, run_id: str | None) -> list[str]:
        """The artifact prefixes a model url stands for, each checked to hold files."""
        if url.startswith(ASSET_URL):
            asset = self.get_asset(url[len(ASSET_URL):])
            if not asset.artifacts:
                raise BadRequest(f"Asset '{asset.id}' names no artifacts: a model needs files.",
                                 code="EmptyAsset", target="url")
            return [self._check_prefix(a.get("prefix") or a["id"]) for a in asset.artifacts]
        if url.startswith(ARTIFACT_URL):
            return [self._check_prefix(url[len(ARTIFACT_URL):])]
        if "://" in url or not url.strip("/"):
            raise BadRequest(f"'{url}' is not a model url this service reads: use 'aml://asset/{{assetId}}', "
                             "'aml://artifact/{origin}/{container}/{path}', or a path in a run's files (e.g. "
                             "'outputs/model.pkl') together with 'runId'.", code="InvalidModelUrl", target="url")
        if not run_id:
            raise BadRequest(f"The model url '{url}' is a path in a run's files: name the run in 'runId'.",
                             code="InvalidModelUrl", target="runId")
        run = get_run(self.session, self.workspace, run_id)
        return [self._check_prefix(f"{RUN_ORIGIN}/{run.data_container_id}/{url.strip('/')}")]

    def _insert(self, model: Model) -> Model:
        """Insert with the name's next version; retried when a concurrent registration took it."""
        for _attempt in range(50):
            model.version = (self.session.scalar(select(func.max(Model.version)).where(
                Model.workspace_id == self.workspace.id, Model.name == model.name)) or 0) + 1
            try:
                with self.session.begin_nested():
                    self.session.add(model)
                return model
            except IntegrityError:
                continue
        raise Conflict(f"Too many concurrent registrations of model '{model.name}'; retry.",
                       code="TooManyConcurrentRegistrations")

    def get_model(self, model_id: str) -> Model:
        name, _, version = model_id.rpartition(":")
        model = None
        if name and version.isdigit():
            model = self.session.scalars(select(Model).where(
                Model.workspace_id == self.workspace.id, Model.name == name, Model.version == int(version))).first()
        if model is None:
            raise NotFound(f"Model '{model_id}' was not found in workspace '{self.workspace.name}' "
                           "(model ids are '{name}:{version}').", code="ModelNotFound", target="id")
        return model

    def list_models(self, query: ListQuery) -> Page[Model]:
        def conditions(table) -> list:
            found = [table.workspace_id == self.workspace.id,
                     *map_conditions(table.kv_tags, query.tags, "tags"),
                     *map_conditions(table.properties, query.properties, "properties")]
            if query.tag:
                found.append(table.kv_tags[query.tag].as_string().is_not(None))
            for column, wanted in ((table.name, query.name), (table.run_id, query.run_id),
                                   (table.version, query.version)):
                if wanted is not None:
                    found.append(column == wanted)
            if query.framework:
                found.append(func.lower(table.framework) == query.framework.lower())
            if query.description:
                found.append(table.description.contains(query.description, autoescape=True))
            return found

        statement = select(Model).where(*conditions(Model))
        if query.latest_only:  # the latest version among the versions that match
            other = aliased(Model)
            statement = statement.where(Model.version == select(func.max(other.version)).where(
                other.name == Model.name, *conditions(other)).scalar_subquery())
        return self.page_of(statement.order_by(*ordering(query, Model.created_at, Model.modified_at, Model.id)), query)

    def patch_model(self, model_id: str, operations: list[JsonPatchOperation]) -> Model:
        model = self.get_model(model_id)
        changes = self.patched_changes(ModelChanges, apply_patch(model_patchable(model), operations), model.properties)
        model.description = changes.description
        model.kv_tags = changes.kvTags or {}
        model.properties = changes.properties or {}
        model.datasets = [d.model_dump() for d in changes.datasets or []]
        model.sample_input_data = changes.sampleInputData
        model.sample_output_data = changes.sampleOutputData
        model.resource_requirements = changes.resourceRequirements
        model.modified_at = utcnow()
        return model

    def delete_model(self, model_id: str) -> None:
        model = self.get_model(model_id)
        services = services_using(self.session, self.workspace, model)
        if services:
            raise PreconditionFailed(f"Model '{model.model_id}' cannot be deleted: services "
                                     f"{', '.join(repr(s) for s in services)} use it. Delete them or deploy "
                                     "other models to them first.", code="ModelInUse", target="id")
        self.session.delete(model)

    # --- shared -----------------------------------------------------------------------------------

    @staticmethod
    def patched_changes(members: type[M], patched: dict[str, Any], properties: dict[str, str]) -> M:
        """A patched document's members, checked: typed as the wire model says, and properties only added to."""
        changes = parse_model(members, patched)
        for key, value in properties.items():
            if (changes.properties or {}).get(key) != value:
                raise BadRequest(f"Property '{key}' cannot be changed or removed: properties are immutable "
                                 "(new ones may be added).", code="ImmutableProperty", target="properties")
        return changes

    def page_of(self, statement: Select, query: ListQuery) -> Page:
        size = min(query.count or self.page_size, self.page_size)
        offset = decode_offset(query.skip_token)
        rows = list(self.session.scalars(statement.offset(offset).limit(size + 1)))
        return Page(rows[:size], encode_offset(offset + size) if len(rows) > size else None)
