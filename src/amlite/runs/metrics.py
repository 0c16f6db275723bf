"""Metric storage: batched ingest of points, series read page by page, latest values per run.

Every logged cell is one row of ``metric_points``; a series row per (run, name) keeps the count,
the last step and the latest value, updated atomically with ``UPDATE ... RETURNING`` so that
concurrent writers to one run get distinct steps and lose no point.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, Dialect, bindparam, case, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from amlite.db.base import utcnow
from amlite.errors import BadRequest
from amlite.runs.metric_schemas import MetricDto, MetricV2Dto
from amlite.runs.paging import Page, decode_token, encode_token
from amlite.runs.schemas import iso
from amlite.runs.tables import MetricPoint, MetricSeries, Run

UX_TYPE = "uxMetricType"


# A point as received: (metric id, time, cell, step or None for "the next one"). A tuple, not an
# object: a batch holds thousands and each costs its construction.
IncomingPoint = tuple[str, datetime, dict[str, Any], int | None]


@dataclass
class IncomingSeries:
    name: str
    metric_type: str
    columns: dict[str, str]
    description: str | None = None
    data_location: str | None = None
    points: list[IncomingPoint] = field(default_factory=list)


def _utc(value: datetime | None, default: datetime | None = None) -> datetime:
    if value is None:
        return default or utcnow()
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def from_v1(dtos: list[MetricDto]) -> list[IncomingSeries]:
    """One IncomingSeries per metric name (the SDK sends one MetricDto per logged value), so that a
    batch costs one series update per name, not one per value. Values sent without a time get the
    batch's arrival time."""
    series: dict[str, IncomingSeries] = {}
    received = utcnow()
    for dto in dtos:
        target = series.get(dto.name)
        if target is None:
            target = series[dto.name] = IncomingSeries(dto.name, dto.metricType, _v1_columns(dto), dto.description,
                                                       dto.dataLocation)
        metric_id = dto.metricId or str(uuid.uuid4())
        created = received if dto.createdUtc is None else _utc(dto.createdUtc)
        for cell in dto.cells:
            target.points.append((metric_id, created, cell, None))
    return list(series.values())


def _v1_columns(dto: MetricDto) -> dict[str, str]:
    """A series' columns: its schema's properties, or else the keys of its first cell."""
    if dto.metric_schema and dto.metric_schema.properties:
        return {p.name or p.propertyId: p.type or "none" for p in dto.metric_schema.properties}
    return {key: type(value).__name__ for key, value in dto.cells[0].items()} if dto.cells else {}


def from_v2(dtos: list[MetricV2Dto]) -> list[IncomingSeries]:
    received = utcnow()
    return [
        IncomingSeries(
            dto.name, str(dto.properties.get(UX_TYPE) or "azureml.v1.scalar"), dto.columns,
            data_location=dto.properties.get("dataLocation"),
            points=[(v.metricId or str(uuid.uuid4()), received if v.createdUtc is None else _utc(v.createdUtc),
                     v.data, v.step) for v in dto.value],
        )
        for dto in dtos
    ]


def _stored(column: str | None, cell: dict[str, Any]) -> tuple[float | None, dict[str, Any] | None]:
    """(value, cell) as a point row keeps them: ``value`` is the number when the cell holds exactly one;
    the cell itself is not kept when it is just a float of the series' one column (the common scalar),
    which ``value`` then holds (see ``point_cell``)."""
    if len(cell) != 1:
        return None, cell
    if column is not None and type(cell.get(column)) is float:
        return cell[column], None
    (value,) = cell.values()
    return (float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None), cell


def point_cell(series: MetricSeries, point: MetricPoint) -> dict[str, Any]:
    if point.cell is not None:
        return point.cell
    return {next(iter(series.columns)): point.value}


def _series_ids(session: Session, run: Run, incoming: list[IncomingSeries]) -> dict[str, int]:
    names = {s.name for s in incoming}
    found = dict(session.execute(select(MetricSeries.name, MetricSeries.id).where(
        MetricSeries.run_pk == run.id, MetricSeries.name.in_(names))).all())
    for series in incoming:
        if series.name in found:
            continue
        row = MetricSeries(run_pk=run.id, name=series.name, metric_type=series.metric_type, columns=series.columns,
                           description=series.description, data_location=series.data_location, point_count=0,
                           last_step=-1)
        try:
            with session.begin_nested():
                session.add(row)
            found[series.name] = row.id
        except IntegrityError:  # a concurrent writer created it first
            found[series.name] = session.scalar(select(MetricSeries.id).where(
                MetricSeries.run_pk == run.id, MetricSeries.name == series.name))
    return found


def _steps(series: IncomingSeries) -> tuple[int, int]:
    """(how many points take the next step, the highest step given), checking each cell on the way."""
    implicit, explicit = 0, -1
    for _metric_id, _created, cell, step in series.points:
        if not cell:
            raise BadRequest(f"Metric '{series.name}' has an empty cell.", code="InvalidMetric")
        if step is None:
            implicit += 1
        elif step > explicit:
            explicit = step
    return implicit, explicit


_SERIES = MetricSeries.__table__.c
# Count a series' new points, move its last step past them and keep its latest value, answering the
# new last step: the points without a step take the ``implicit`` steps up to it, after the highest step
# so far (stored, or ``explicit``: the highest the batch names). Built once: a Core statement with
# parameters costs a fraction of an ORM update made for each batch.
_ADVANCE = update(MetricSeries.__table__).where(_SERIES.id == bindparam("series_id")).values(
    point_count=_SERIES.point_count + bindparam("count"),
    last_step=case((_SERIES.last_step >= bindparam("explicit"), _SERIES.last_step),
                   else_=bindparam("explicit")) + bindparam("implicit"),
    latest_cell=bindparam("latest_cell", type_=_SERIES.latest_cell.type),
    latest_at=bindparam("latest_at", type_=_SERIES.latest_at.type),
).returning(_SERIES.last_step)


def _advance(connection: Connection, series_id: int, series: IncomingSeries, implicit: int, explicit: int) -> int:
    _metric_id, latest_at, latest_cell, _step = series.points[-1]
    return connection.execute(_ADVANCE, {
        "series_id": series_id, "count": len(series.points), "explicit": explicit, "implicit": implicit,
        "latest_cell": latest_cell, "latest_at": latest_at,
    }).scalar_one()


def ingest(session: Session, run: Run, incoming: list[IncomingSeries], max_points: int) -> int:
    """Store a batch of metric points; answers how many were stored.

    A series whose points all name their step is updated after the points are inserted, so that
    concurrent writers to it hold its row only from that update to their commit; points without a
    step need the update first, to know their steps."""
    total = sum(len(s.points) for s in incoming)
    if total > max_points:
        raise BadRequest(f"A batch may hold at most {max_points} metric values; this one has {total}.",
                         code="TooManyMetricValues")
    steps = [_steps(series) for series in incoming]
    ids = _series_ids(session, run, incoming)
    connection = session.connection()
    bind_time, bind_cell = _binders(connection.dialect)
    rows: list[tuple[Any, ...]] = []
    stepped: list[tuple[IncomingSeries, int]] = []
    for series, (implicit, explicit) in zip(incoming, steps):
        if not series.points:
            continue
        series_id = ids[series.name]
        next_implicit = 0
        if implicit:
            next_implicit = _advance(connection, series_id, series, implicit, explicit) - implicit + 1
        else:
            stepped.append((series, explicit))
        column = next(iter(series.columns)) if len(series.columns) == 1 else None
        for metric_id, created_at, cell, step in series.points:
            if step is None:
                step, next_implicit = next_implicit, next_implicit + 1
            value, kept = _stored(column, cell)
            rows.append((series_id, metric_id, step, bind_time(created_at), value,
                         None if kept is None else bind_cell(kept)))
    if rows:
        _insert_points(connection, rows)
    for series, explicit in stepped:
        _advance(connection, ids[series.name], series, 0, explicit)
    return len(rows)


_POINT_COLUMNS = ("series_id", "metric_id", "step", "created_at", "value", "cell")


def _binders(dialect: Dialect) -> tuple[Callable[[datetime], Any], Callable[[dict[str, Any]], Any]]:
    """The bind processors of a point's time and cell (the columns the driver does not take as they
    are), the time's run once per distinct time (a batch's points mostly share theirs): rows built
    with them go to the driver as they are, as SQLAlchemy's per-row parameter handling costs more
    than the database does for a 1,000-point batch."""
    columns = MetricPoint.__table__.c
    process_time = columns.created_at.type._cached_bind_processor(dialect) or (lambda value: value)
    bind_cell = columns.cell.type._cached_bind_processor(dialect) or (lambda value: value)
    times: dict[datetime, Any] = {}

    def bind_time(value: datetime) -> Any:
        bound = times.get(value)
        if bound is None:
            bound = times[value] = process_time(value)
        return bound

    return bind_time, bind_cell


def _insert_points(connection: Connection, rows: list[tuple[Any, ...]]) -> None:
    """Rows in ``_POINT_COLUMNS`` order, bound. On PostgreSQL (psycopg) they go as one COPY, which costs
    the server a fraction of a thousand INSERTs; elsewhere (SQLite, in-process) as one executemany."""
    table, names = MetricPoint.__table__.name, ", ".join(_POINT_COLUMNS)
    if connection.dialect.driver == "psycopg":
        with connection.connection.driver_connection.cursor() as cursor:
            with cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
    else:
        markers = ", ".join(["?" if connection.dialect.paramstyle == "qmark" else "%s"] * len(_POINT_COLUMNS))
        connection.exec_driver_sql(f"INSERT INTO {table} ({names}) VALUES ({markers})", rows)


def list_series(session: Session, run: Run) -> list[MetricSeries]:
    return list(session.scalars(select(MetricSeries).where(MetricSeries.run_pk == run.id).order_by(MetricSeries.name)))


def find_series(session: Session, run: Run, name: str) -> MetricSeries | None:
    return session.scalars(select(MetricSeries).where(MetricSeries.run_pk == run.id,
                                                      MetricSeries.name == name)).first()


def read_points(session: Session, series_ids: list[int], token: str | None, limit: int,
                start: datetime | None = None, end: datetime | None = None) -> Page[MetricPoint]:
    """Points in logging order, ``limit`` at a time; the token remembers the last point id."""
    after = decode_token(token).get("after", 0)
    query = select(MetricPoint).where(MetricPoint.series_id.in_(series_ids), MetricPoint.id > after)
    if start is not None:
        query = query.where(MetricPoint.created_at >= _utc(start))
    if end is not None:
        query = query.where(MetricPoint.created_at <= _utc(end))
    rows = list(session.scalars(query.order_by(MetricPoint.id).limit(limit + 1)))
    page = rows[:limit]
    return Page(page, encode_token({"after": page[-1].id}) if len(rows) > limit else None)


def v2_series_json(series: MetricSeries, points: list[MetricPoint]) -> dict[str, Any]:
    return {
        "name": series.name,
        "columns": series.columns,
        "properties": {UX_TYPE: series.metric_type, **({"dataLocation": series.data_location}
                                                        if series.data_location else {})},
        "value": [{"metricId": p.metric_id, "createdUtc": iso(p.created_at), "step": p.step,
                   "data": point_cell(series, p)} for p in points],
    }


def v1_run_metrics(run_ids: dict[int, str], series_by_id: dict[int, MetricSeries],
                   points: list[MetricPoint]) -> list[dict[str, Any]]:
    """RunMetricDtos: consecutive points of one logged MetricDto (same metricId) form one entry."""
    grouped: list[dict[str, Any]] = []
    for point in points:
        series = series_by_id[point.series_id]
        cell = point_cell(series, point)
        if grouped and grouped[-1]["metricId"] == point.metric_id and grouped[-1]["name"] == series.name:
            grouped[-1]["cells"].append(cell)
            grouped[-1]["numCells"] += 1
            continue
        grouped.append({
            "runId": run_ids[series.run_pk], "metricId": point.metric_id, "dataContainerId": None,
            "metricType": series.metric_type, "createdUtc": iso(point.created_at), "name": series.name,
            "description": series.description, "numCells": 1, "dataLocation": series.data_location,
            "cells": [cell],
            "schema": {"numProperties": len(series.columns), "properties": [
                {"propertyId": name, "name": name, "type": kind} for name, kind in series.columns.items()]},
        })
    return [{k: v for k, v in entry.items() if v is not None} for entry in grouped]


def latest_values(session: Session, runs: list[Run], names: list[str] | None) -> list[dict[str, Any]]:
    """The latest value of each metric of each run, from the series rows alone."""
    query = select(MetricSeries).where(MetricSeries.run_pk.in_([r.id for r in runs]))
    if names:
        query = query.where(MetricSeries.name.in_(names))
    by_run: dict[int, dict[str, Any]] = {run.id: {} for run in runs}
    for series in session.scalars(query):
        cell = series.latest_cell or {}
        value = next(iter(cell.values())) if len(cell) == 1 else cell
        by_run[series.run_pk][series.name] = {"value": value, "step": series.last_step,
                                              "createdUtc": iso(series.latest_at), "count": series.point_count}
    return [{"runId": run.run_id, "metrics": by_run[run.id]} for run in runs]
