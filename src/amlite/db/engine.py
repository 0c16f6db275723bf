"""Engine and session factory, with the per-dialect settings (SQLite: WAL, foreign keys, busy timeout)."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker


SQLITE_LOCK_WAIT_SECONDS = 30


def make_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        writer = threading.Lock()
        event.listen(engine, "begin", lambda connection: _sqlite_begin(connection, writer))
        event.listen(engine, "commit", lambda connection: _release(connection, writer))
        event.listen(engine, "rollback", lambda connection: _release(connection, writer))
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    # SQLAlchemy emits BEGIN itself (below), so that SAVEPOINTs work; see its pysqlite notes.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _sqlite_begin(connection, writer: threading.Lock) -> None:
    """Take the write lock when the transaction starts: a transaction that read and then writes can
    never fail with SQLITE_BUSY because another writer committed in between (WAL snapshots).
    Threads of this process queue on ``writer`` first, so that none starves polling SQLite's lock.
    (A plain Lock: a request's transaction may begin in one worker thread and end in another.)"""
    if not writer.acquire(timeout=SQLITE_LOCK_WAIT_SECONDS):
        raise sqlite3.OperationalError("database is locked")
    connection.info["amlite_writer"] = True
    try:
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    except BaseException:
        _release(connection, writer)
        raise


def _release(connection, writer: threading.Lock) -> None:
    if connection.info.pop("amlite_writer", False):
        writer.release()


class Database:
    """An engine plus its session factory; one per process, passed to whoever needs the store."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A unit of work: committed when the block ends, rolled back if it raises."""
        session = self._sessions()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def dispose(self) -> None:
        self.engine.dispose()
