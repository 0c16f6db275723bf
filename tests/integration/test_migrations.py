"""The Alembic migrations produce exactly the ORM schema, on SQLite and on PostgreSQL."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from amlite.db.engine import Database
from amlite.db.migrate import upgrade
from amlite.db.models import metadata
from tests.conftest import POSTGRES_URL
from tests.server import Backend


def _drift(url: str) -> list:
    db = Database(url)
    try:
        upgrade(db.engine)
        upgrade(db.engine)  # a second run is a no-op
        with db.engine.connect() as connection:
            return compare_metadata(MigrationContext.configure(connection, opts={"compare_type": True}), metadata)
    finally:
        db.dispose()


def test_no_drift_on_sqlite(tmp_path):
    assert _drift(f"sqlite:///{tmp_path / 'drift.db'}") == []


def test_no_drift_on_postgresql():
    if not POSTGRES_URL:
        pytest.skip("AMLITE_TEST_POSTGRES_URL is not set")
    backend = Backend.postgresql(POSTGRES_URL)
    try:
        assert _drift(backend.database_url) == []
    finally:
        backend.drop()
