"""Experiments: create (once, even under races), find by name or id, modify, archive, list."""

from __future__ import annotations

import re
import uuid

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from amlite.arm.tables import Resource
from amlite.db.base import utcnow
from amlite.errors import BadRequest, Conflict, NotFound
from amlite.runs.paging import Page, decode_offset, encode_offset
from amlite.runs.schemas import ModifyExperiment
from amlite.runs.tables import Experiment

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,255}$")


def _check_name(name: str) -> None:
    if not _NAME.match(name):
        raise BadRequest(f"'{name}' is not a valid experiment name: use 1 to 256 letters, digits, '_' or '-', "
                         "starting with a letter or digit.", code="InvalidExperimentName", target="experimentName")


def find_experiment(session: Session, workspace: Resource, name: str) -> Experiment | None:
    return session.scalars(select(Experiment).where(
        Experiment.workspace_id == workspace.id, Experiment.name_key == name.lower())).first()


def get_experiment(session: Session, workspace: Resource, name: str) -> Experiment:
    experiment = find_experiment(session, workspace, name)
    if experiment is None:
        raise NotFound(f"Experiment '{name}' was not found in workspace '{workspace.name}'.",
                       code="ExperimentNotFound", target="experimentName")
    return experiment


def get_experiment_by_id(session: Session, workspace: Resource, experiment_id: str) -> Experiment:
    experiment = session.get(Experiment, experiment_id.lower())
    if experiment is None or experiment.workspace_id != workspace.id:
        raise NotFound(f"Experiment with id '{experiment_id}' was not found in workspace '{workspace.name}'.",
                       code="ExperimentNotFound", target="experimentId")
    return experiment


def _insert(session: Session, workspace: Resource, name: str) -> Experiment | None:
    """Insert in a savepoint; None when a concurrent writer created the same name first."""
    experiment = Experiment(id=str(uuid.uuid4()), workspace_id=workspace.id, name=name, name_key=name.lower(),
                            tags={})
    try:
        with session.begin_nested():
            session.add(experiment)
    except IntegrityError:
        return None
    return experiment


def create_experiment(session: Session, workspace: Resource, name: str) -> Experiment:
    _check_name(name)
    experiment = None if find_experiment(session, workspace, name) else _insert(session, workspace, name)
    if experiment is None:
        raise Conflict(f"Experiment '{name}' already exists in workspace '{workspace.name}'.",
                       code="ExperimentAlreadyExists", target="experimentName")
    return experiment


def get_or_create_experiment(session: Session, workspace: Resource, name: str) -> Experiment:
    _check_name(name)
    return (find_experiment(session, workspace, name) or _insert(session, workspace, name)
            or get_experiment(session, workspace, name))


def modify_experiment(experiment: Experiment, body: ModifyExperiment) -> Experiment:
    if body.description is not None:
        experiment.description = body.description
    if body.tags is not None:
        experiment.tags = {**(experiment.tags or {}), **body.tags}
    if body.archive is not None:
        experiment.archived_at = utcnow() if body.archive else None
    return experiment


def delete_tags(experiment: Experiment, keys: list[str]) -> Experiment:
    experiment.tags = {k: v for k, v in (experiment.tags or {}).items() if k not in set(keys)}
    return experiment


def list_experiments(session: Session, workspace: Resource, token: str | None, top: int | None, page_size: int,
                     include_archived: bool) -> Page[Experiment]:
    offset = decode_offset(token)
    limit = min(top or page_size, page_size)
    query = select(Experiment).where(Experiment.workspace_id == workspace.id)
    if not include_archived:
        query = query.where(Experiment.archived_at.is_(None))
    rows = list(session.scalars(query.order_by(Experiment.created_at, Experiment.id).offset(offset).limit(limit + 1)))
    return Page(rows[:limit], encode_offset(offset + limit) if len(rows) > limit else None)
