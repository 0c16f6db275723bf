"""Administration commands: subscriptions, service principals, database migrations."""

from __future__ import annotations

from typing import Annotated

import typer

from amlite.arm import service as arm_service
from amlite.arm.tables import Subscription
from amlite.bootstrap import create_principal_with_role
from amlite.cli.options import DatabaseUrl, DataDir, JsonOutput, PublicUrl, emit, settings_from
from amlite.db.engine import Database
from amlite.db.migrate import upgrade
from amlite.errors import AmliteError
from amlite.identity import service as identity_service
from amlite.identity.rbac import within
from amlite.settings import Settings

subscription_app = typer.Typer(help="Manage subscriptions.", no_args_is_help=True)
principal_app = typer.Typer(help="Manage service principals and their roles.", no_args_is_help=True)
db_app = typer.Typer(help="Manage the database.", no_args_is_help=True)


def _open(settings: Settings) -> Database:
    db = Database(settings.resolved_database_url)
    upgrade(db.engine)
    return db


def _fail(error: AmliteError) -> None:
    typer.secho(f"error: {error.message}", err=True, fg=typer.colors.RED)
    raise typer.Exit(code=1)


def _subscription_row(s: Subscription) -> dict:
    return {"subscriptionId": s.id, "displayName": s.display_name, "tenantId": s.tenant_id, "state": s.state}


@subscription_app.command("create")
def subscription_create(
    name: Annotated[str, typer.Option("--name", help="Display name.")],
    tenant: Annotated[str | None, typer.Option("--tenant", help="Tenant id (default: the first tenant).")] = None,
    no_register: Annotated[bool, typer.Option("--no-register", help="Leave amlite's providers unregistered.")] = False,
    data_dir: DataDir = None, database_url: DatabaseUrl = None, as_json: JsonOutput = False,
) -> None:
    db = _open(settings_from(data_dir=data_dir, database_url=database_url))
    with db.session() as session:
        if tenant:
            owner = identity_service.get_tenant(session, tenant)
            if owner is None:
                _fail(AmliteError(f"Tenant '{tenant}' not found."))
        else:
            owner = identity_service.default_tenant(session) or identity_service.create_tenant(session, "amlite")
        row = _subscription_row(arm_service.create_subscription(session, owner.id, name, register=not no_register))
    emit(row, as_json)


@subscription_app.command("list")
def subscription_list(data_dir: DataDir = None, database_url: DatabaseUrl = None, as_json: JsonOutput = False) -> None:
    db = _open(settings_from(data_dir=data_dir, database_url=database_url))
    with db.session() as session:
        rows = [_subscription_row(s) for s in arm_service.list_all_subscriptions(session)]
    emit(rows, as_json, ["subscriptionId", "displayName", "tenantId", "state"])


@principal_app.command("create")
def principal_create(
    subscription: Annotated[str, typer.Option("--subscription", help="Subscription id.")],
    role: Annotated[str, typer.Option("--role", help="Owner, Contributor or Reader.")] = "Contributor",
    scope: Annotated[str | None, typer.Option("--scope", help="Resource id the role applies to (default: the subscription).")] = None,
    name: Annotated[str, typer.Option("--name", help="Display name.")] = "amlite-principal",
    sdk_auth: Annotated[bool, typer.Option("--sdk-auth", help="Print the Azure SDK auth-file document.")] = False,
    data_dir: DataDir = None, database_url: DatabaseUrl = None, public_url: PublicUrl = None,
    as_json: JsonOutput = False,
) -> None:
    settings = settings_from(data_dir=data_dir, database_url=database_url, public_url=public_url)
    db = _open(settings)
    try:
        with db.session() as session:
            sub = session.get(Subscription, subscription.lower())
            if sub is None:
                raise AmliteError(f"Subscription '{subscription}' not found.")
            if scope is not None and not within(scope, f"/subscriptions/{sub.id}"):
                raise AmliteError(f"Scope '{scope}' is not inside subscription '{sub.id}'.")
            credentials = create_principal_with_role(
                session, settings.base_url, tenant_id=sub.tenant_id, subscription=sub.id,
                name=name, role=role, scope=scope,
            )
    except AmliteError as error:
        _fail(error)
    if sdk_auth:
        emit(credentials, True)
        return
    emit({
        "appId": credentials["clientId"], "password": credentials["clientSecret"],
        "tenant": credentials["tenantId"], "displayName": name, "role": role,
        "scope": scope or f"/subscriptions/{credentials['subscriptionId']}",
    }, as_json)


@principal_app.command("list")
def principal_list(data_dir: DataDir = None, database_url: DatabaseUrl = None, as_json: JsonOutput = False) -> None:
    db = _open(settings_from(data_dir=data_dir, database_url=database_url))
    with db.session() as session:
        rows = [
            {
                "appId": p.client_id, "objectId": p.object_id, "displayName": p.display_name,
                "tenantId": p.tenant_id,
                "roles": [{"role": a.role, "scope": a.scope} for a in assignments],
            }
            for p, assignments in identity_service.list_principals(session)
        ]
    if as_json:
        emit(rows, True)
        return
    emit([{**r, "roles": ", ".join(f"{a['role']}@{a['scope']}" for a in r["roles"])} for r in rows], False,
         ["appId", "displayName", "tenantId", "roles"])


@principal_app.command("delete")
def principal_delete(
    principal_id: Annotated[str, typer.Argument(help="Application (client) id or object id.")],
    data_dir: DataDir = None, database_url: DatabaseUrl = None, as_json: JsonOutput = False,
) -> None:
    db = _open(settings_from(data_dir=data_dir, database_url=database_url))
    try:
        with db.session() as session:
            principal = identity_service.find_principal(session, principal_id)
            deleted = {"appId": principal.client_id, "objectId": principal.object_id, "deleted": True}
            session.delete(principal)
    except AmliteError as error:
        _fail(error)
    emit(deleted, as_json)


@db_app.command("upgrade")
def db_upgrade(data_dir: DataDir = None, database_url: DatabaseUrl = None) -> None:
    settings = settings_from(data_dir=data_dir, database_url=database_url)
    _open(settings)
    typer.echo(f"database at {settings.resolved_database_url.split('@')[-1]} is at the latest revision")
