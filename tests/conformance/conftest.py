"""Fixtures for the conformance tests: the real server over https, trusted through its local CA."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import POSTGRES_URL
from tests.server import Backend, Server

# Small pages, so that list calls make the clients follow ``nextLink`` as they do against Azure.
PAGE_SIZE = 2


@pytest.fixture(scope="session")
def tls_server(backend: Backend, tmp_path_factory) -> Iterator[Server]:
    # A store of its own, on the same kind of backend: a server's first start bootstraps an empty store
    # (and writes the credentials beside it), so it cannot share the database of the `server` fixture.
    store = Backend.postgresql(POSTGRES_URL) if backend.name == "postgresql" else Backend.sqlite()
    try:
        with pytest.MonkeyPatch.context() as env:
            env.setenv("AMLITE_PAGE_SIZE", str(PAGE_SIZE))
            running = Server(tmp_path_factory.mktemp(f"amlite-tls-{backend.name}"), store, tls=True).start()
        yield running
        running.stop()
    finally:
        store.drop()
