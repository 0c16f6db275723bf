"""Persistence: engine and sessions, the ORM base, and Alembic migrations (SQLite and PostgreSQL)."""
