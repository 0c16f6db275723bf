"""Fixtures: the real server on a free port, on SQLite always and on PostgreSQL when configured."""

from __future__ import annotations

import os
from collections.abc import Iterator

import httpx
import pytest

from tests.resources import create_workspace
from tests.server import SPECS, Backend, Server

POSTGRES_URL = os.environ.get("AMLITE_TEST_POSTGRES_URL")


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def backend(request) -> Iterator[Backend]:
    if request.param == "sqlite":
        yield Backend.sqlite()
        return
    if not POSTGRES_URL:
        pytest.skip("AMLITE_TEST_POSTGRES_URL is not set")
    created = Backend.postgresql(POSTGRES_URL)
    yield created
    created.drop()


@pytest.fixture(scope="session")
def server(backend: Backend, tmp_path_factory) -> Iterator[Server]:
    # A quick heartbeat watchdog, so that tests see NotResponding within a second or so.
    running = Server(tmp_path_factory.mktemp(f"amlite-{backend.name}"), backend,
                     env={"AMLITE_WATCHDOG_INTERVAL_SECONDS": "0.3"}).start()
    yield running
    running.stop()
    running.stop_agents()


@pytest.fixture(scope="session")
def subscription(server: Server) -> str:
    return server.credentials["subscriptionId"]


@pytest.fixture(scope="session")
def workspace(server: Server) -> dict:
    """A provisioned workspace shared by the data-plane tests."""
    with server.client() as client:
        return create_workspace(client, server.credentials["subscriptionId"], "data-rg", "data-ws")


@pytest.fixture
def arm(server: Server) -> Iterator[httpx.Client]:
    """A client holding an Owner token for the bootstrap subscription."""
    with server.client() as client:
        yield client


def pytest_terminal_summary(terminalreporter) -> None:
    """How much of the swagger specs' surface the suite exercised (and so validated)."""
    covered = sorted(SPECS.covered)
    terminalreporter.write_line(
        f"swagger operations exercised and schema-validated: {len(covered)} of {len(SPECS.operations)}"
    )
    for spec, operation in covered:
        terminalreporter.write_line(f"  {spec}: {operation}")
