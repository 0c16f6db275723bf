"""Options shared by the commands, and how they become one Settings object."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from amlite.settings import Settings

DataDir = Annotated[Path | None, typer.Option("--data-dir", help="Data directory [env AMLITE_DATA_DIR; default ~/.amlite].")]
DatabaseUrl = Annotated[str | None, typer.Option("--database-url", help="SQLAlchemy URL [env AMLITE_DATABASE_URL; default SQLite in the data dir].")]
PublicUrl = Annotated[str | None, typer.Option("--public-url", help="URL clients reach the server at [env AMLITE_PUBLIC_URL].")]
JsonOutput = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]

console = Console()


def settings_from(**overrides: Any) -> Settings:
    """Settings from the environment, with the options given on the command line on top."""
    return Settings(**{key: value for key, value in overrides.items() if value is not None})


def emit(document: Any, as_json: bool, columns: list[str] | None = None) -> None:
    """Print a document as JSON, or a list of dicts as a table."""
    if as_json or columns is None:
        typer.echo(json.dumps(document, indent=2))
        return
    table = Table(*columns)
    for row in document:
        table.add_row(*(str(row.get(c, "")) for c in columns))
    console.print(table)
