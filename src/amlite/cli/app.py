"""The ``amlite`` Typer application."""

from __future__ import annotations

import typer

from amlite.cli.admin import db_app, principal_app, subscription_app
from amlite.cli.serve import serve

app = typer.Typer(help="amlite: a self-hosted, Azure ML v1 wire-compatible machine-learning platform.",
                  no_args_is_help=True, add_completion=False)
app.command("serve")(serve)
app.add_typer(subscription_app, name="subscription")
app.add_typer(principal_app, name="principal")
app.add_typer(db_app, name="db")


def main() -> None:
    app()
