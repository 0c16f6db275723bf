"""create_app(settings): the store, the token service, routers, error handlers and background work."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI, Request
from fastapi.routing import APIRoute

from amlite import __version__
from amlite.arm import api as arm_api
from amlite.arm import service as arm_service
from amlite.arm.operations import OperationRunner
from amlite.artifacts import api as artifacts_api
from amlite.artifacts import blob_api, history_api
from amlite.artifacts.blob_hosts import BlobHostMiddleware
from amlite.artifacts.stores import open_store
from amlite.background import PeriodicService
from amlite.compute.backends.choice import Backends
from amlite.compute.backends.local import LocalBackend
from amlite.compute.backends.ray import RayBackend
from amlite.compute.scheduler import Scheduler
from amlite.content import api as content_api
from amlite.context import AppContext
from amlite.datastores import api as datastores_api
from amlite.dependents import api as dependents_api
from amlite.db.engine import Database
from amlite.db.migrate import upgrade
from amlite.endpoints import api as endpoints_api
from amlite.endpoints.supervisor import Supervisor
from amlite.hyperdrive import api as hyperdrive_api
from amlite.hyperdrive.service import SweepService
from amlite.identity import api as identity_api
from amlite.identity.auth import authenticate
from amlite.identity.keys import KeyRing
from amlite.identity.tokens import TokenService
from amlite.registry import api as registry_api
from amlite.runs import api as runs_api
from amlite.runs import execution_api, logs_api, metrics_api
from amlite.runs.service import mark_not_responding
from amlite.secrets import SecretBox
from amlite.settings import Settings
from amlite.web.errors import install_error_handlers
from amlite.web.middleware import RequestIdMiddleware
from amlite.web.responses import json_response
from amlite.workspaces import api as workspaces_api
from amlite.workspaces import compute_api, compute_service
from amlite.workspaces import discovery
from amlite.workspaces import service as workspaces_service
from amlite.web.routing import CanonicalPathMiddleware, PathCanonicalizer

# Routes that answer without a token: the API itself says so (Azure AD, discovery, health); blob links
# carry their own signature.
PUBLIC_ROUTERS = (identity_api.router, discovery.router, blob_api.router)
# Order matters: the generic dependent-resource routes come last, after the providers with literal paths.
AUTHENTICATED_ROUTERS = (arm_api.router, workspaces_api.router, compute_api.router, runs_api.router,
                         metrics_api.router, logs_api.router, execution_api.router, content_api.router,
                         datastores_api.router, registry_api.router, endpoints_api.router,
                         artifacts_api.router, history_api.router, hyperdrive_api.router, dependents_api.router)


def compute_backends(settings: Settings) -> Backends:
    """Local processes always; Ray too when a cluster is configured, and then it is the default."""
    backends: dict = {"local": LocalBackend()}
    if settings.ray_address:
        backends["ray"] = RayBackend(
            settings.ray_address, settings.ray_token, python=settings.ray_python, env_cache=settings.ray_env_cache,
            unreachable_seconds=settings.ray_unreachable_seconds, stop_grace_seconds=settings.ray_stop_grace_seconds)
    return Backends(backends, default="ray" if settings.ray_address else "local")


def build_context(settings: Settings) -> AppContext:
    db = Database(settings.resolved_database_url)
    upgrade(db.engine)
    with db.session() as session:
        keyring = KeyRing.load(session)
    tokens = TokenService(keyring, settings.base_url, settings.token_lifetime_seconds,
                          settings.token_clock_skew_seconds)
    operations = OperationRunner(db)
    operations.register("resourceGroups/delete", arm_service.delete_resource_group)
    operations.register("workspaces/create", workspaces_service.provision_workspace)
    operations.register("workspaces/delete", workspaces_service.delete_workspace)
    operations.register("computes/create", compute_service.provision_compute)
    operations.register("computes/delete", compute_service.delete_compute)
    secrets = SecretBox.from_settings(settings.secret_key, settings.data_dir)
    return AppContext(settings=settings, db=db, tokens=tokens, operations=operations, secrets=secrets,
                      backend=compute_backends(settings), artifacts=open_store(settings))


def background_services(context: AppContext) -> list[PeriodicService]:
    def heartbeat_watchdog() -> None:
        with context.db.session() as session:
            mark_not_responding(session)

    scheduler = Scheduler(context, context.backend)
    return [
        PeriodicService("heartbeat-watchdog", context.settings.watchdog_interval_seconds, heartbeat_watchdog),
        PeriodicService("scheduler", context.settings.scheduler_interval_seconds, scheduler.tick),
        PeriodicService("hyperdrive", context.settings.hyperdrive_interval_seconds, SweepService(context).tick),
        Supervisor(context),
    ]


def api_routes(app: FastAPI) -> list[APIRoute]:
    """Every route the app serves, the included routers' as well."""
    own = [route for route in app.router.routes if isinstance(route, APIRoute)]
    return own + [route for router in (*PUBLIC_ROUTERS, *AUTHENTICATED_ROUTERS) for route in router.routes]


def create_app(settings: Settings, context: AppContext | None = None) -> FastAPI:
    context = context or build_context(settings)

    services = background_services(context)
    context.services.update({service.name: service for service in services})

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        context.operations.resume_unfinished()
        for service in services:
            service.start()
        yield
        for service in services:
            service.stop()
        context.operations.shutdown()
        context.db.dispose()

    app = FastAPI(title="amlite", version=__version__, lifespan=lifespan,
                  openapi_url=None, docs_url=None, redoc_url=None)
    app.state.context = context
    app.router.redirect_slashes = False

    @app.get("/health", operation_id="Health_Get", tags=["health"])
    def health():
        return json_response({"status": "ok", "version": __version__})

    @app.get("/openapi.json", operation_id="OpenApi_Get", tags=["health"], dependencies=[Depends(authenticate)])
    def openapi(request: Request):
        return json_response(request.app.openapi())

    for router in (*PUBLIC_ROUTERS, *AUTHENTICATED_ROUTERS):
        app.include_router(router)
    install_error_handlers(app)
    app.add_middleware(CanonicalPathMiddleware, canonicalizer=PathCanonicalizer(route.path for route in api_routes(app)))
    app.add_middleware(BlobHostMiddleware, suffix=context.settings.blob_host_suffix)
    app.add_middleware(RequestIdMiddleware)
    return app
