"""The supervisor of scoring services, a background service of the server.

Each tick it (1) starts a job for each Running operation that has none in this process (so operations
resume after a restart), (2) watches the replicas of every service: a replica that died is noted in its
log and started again (after a back-off when it keeps dying) while the service reports Unhealthy,
(3) tells the scoring front what to route when that changed (or starts the front again if it died), and
(4) now and then ends the replicas of services that no longer exist (their workspace was deleted).

A job makes a deployment (deployment.py), starts its replicas and waits until each serves or one dies.
It then switches the service over: the front routes to the new replicas, the old ones answer what they
were given, then stop; a failure keeps the old replicas serving and ends the operation Failed with the
replica's log tail (e.g. the traceback of ``init()``).
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from amlite.arm.tables import Resource
from amlite.background import PeriodicService
from amlite.context import AppContext
from amlite.db.base import utcnow
from amlite.endpoints import deployment, layout
from amlite.endpoints.deployment import DeploymentFailed, Replicas
from amlite.endpoints.front_control import FrontProcess
from amlite.endpoints.tables import Service, ServiceModel, ServiceOperation
from amlite.errors import AmliteError
from amlite.workspaces.service import require_dependency

log = logging.getLogger("amlite.scoring")
MAX_BACKOFF_SECONDS = 60
JOBS = 4
SWEEP_SECONDS = 60


def replica_state(service: Service) -> str:
    return "Healthy" if service.replicas and all(r.get("socket") for r in service.replicas) else "Unhealthy"


class DeployLog:
    """A deployment's own log (environment build, files, replicas), kept on disk; its tail goes to the operation."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.lines: list[str] = []

    def __call__(self, text: str) -> None:
        self.lines = (self.lines + text.splitlines())[-200:]
        with self.path.open("a") as handle:
            handle.write(text.rstrip("\n") + "\n")

    def tail(self, count: int = 40) -> str:
        return "\n".join(self.lines[-count:])


class Supervisor(PeriodicService):
    def __init__(self, context: AppContext) -> None:
        super().__init__("scoring", context.settings.scoring_supervisor_interval_seconds, self._tick)
        self.context = context
        self.settings = context.settings
        self.front = FrontProcess(context.settings)
        self.replicas = Replicas(context.settings)
        self.lock = threading.RLock()  # one writer of services' replicas at a time in this process
        self.jobs: set[str] = set()
        self.pool = ThreadPoolExecutor(max_workers=JOBS, thread_name_prefix="amlite-deploy")
        self.stopping = threading.Event()
        self.published: dict[str, Any] | None = None
        self.components: dict[int, Resource | None] = {}  # each workspace's Application Insights component
        self.swept = 0.0

    @property
    def scoring_base(self) -> str:
        return self.front.base_url

    def stop(self) -> None:
        self.stopping.set()
        super().stop()
        self.pool.shutdown(wait=False, cancel_futures=True)

    # --- the tick -------------------------------------------------------------------------------

    def _tick(self) -> None:
        with self.lock, self.context.db.session() as session:
            running = session.execute(select(ServiceOperation.id, ServiceOperation.service_id)
                                      .where(ServiceOperation.state == "Running")).all()
            services = session.scalars(select(Service).with_for_update()).all()
            changed = [service.id for service in services if service.replicas and self._watch(service)]
            keep = {service.id for service in services} | {service_id for _id, service_id in running}
        for operation_id, _service_id in running:
            if operation_id not in self.jobs:
                self.jobs.add(operation_id)
                self.pool.submit(self._job, operation_id)
        if time.monotonic() - self.swept > SWEEP_SECONDS:
            self.swept = time.monotonic()
            deployment.stop_orphans(self.settings, keep)
        if changed or self.published is None or (self.published and not self.front.alive()):
            self.publish()
        if changed:
            self._settle(changed)

    def _watch(self, service: Service) -> bool:
        """Restart dead replicas; the service is Unhealthy from then on (Healthy again only once the front
        routes to every replica: ``_settle``). Answers whether anything changed."""
        replicas = [dict(replica) for replica in service.replicas]
        for replica in replicas:
            if replica["pid"] is None:
                if time.time() >= replica["notBefore"]:
                    replica.update(self.replicas.launch(service.id, replica["generation"], replica["index"],
                                                        replica["restarts"]))
            elif not self.replicas.alive(replica):
                code = self.replicas.exit_code(replica)
                backoff = min(2 ** replica["restarts"], MAX_BACKOFF_SECONDS)
                self.replicas.note(service.id, replica, f"replica {replica['index']} exited"
                                   f"{'' if code is None else f' with code {code}'}; restarting in {backoff} s")
                self.replicas.forget(replica)
                replica.update(pid=None, startTicks=None, socket=None, restarts=replica["restarts"] + 1,
                               notBefore=time.time() + backoff)
            elif replica["socket"] is None:
                replica["socket"] = self.replicas.ready_socket(service.id, replica)
        if replicas == service.replicas:
            return False
        service.replicas = replicas
        if service.state == "Healthy" and replica_state(service) == "Unhealthy":
            service.state = "Unhealthy"
        return True

    def _settle(self, service_ids: list[str]) -> None:
        """Services whose replicas all serve (and are routed: call after ``publish``) are Healthy."""
        with self.lock, self.context.db.session() as session:
            for service in session.scalars(select(Service).where(Service.id.in_(service_ids)).with_for_update()):
                if service.state == "Unhealthy" and replica_state(service) == "Healthy":
                    service.state = "Healthy"

    # --- routing ----------------------------------------------------------------------------------

    def publish(self) -> None:
        """Tell the front what to route, when that changed (or the front had to be started). Routes are
        read and published under one lock, so that a later read is never overtaken by an earlier one."""
        with self.front.lock:
            with self.context.db.session() as session:
                routes = self._routes(session)
            restarted = bool(routes) and self.front.ensure()
            if restarted or routes != self.published:
                self.front.publish(routes)
                self.published = routes

    def _routes(self, session: Session) -> dict[str, Any]:
        routes = {}
        for service in session.scalars(select(Service)):
            keys = self.context.secrets.open(service.keys)
            routes[service.id] = {
                "name": service.name, "auth": service.auth_enabled,
                "keys": [hashlib.sha256(keys[k].encode()).hexdigest() for k in ("primaryKey", "secondaryKey")],
                "replicas": [r["socket"] for r in service.replicas if r.get("socket")],
                "log": str(self.request_log(session, service)),
                "swagger": swagger(service),
            }
        return routes

    def request_log(self, session: Session, service: Service) -> Path:
        """The service's requests in its workspace's Application Insights component's log (or beside the
        service when the workspace has no usable component)."""
        if service.workspace_id not in self.components:
            try:
                component = require_dependency(session, session.get(Resource, service.workspace_id),
                                               "applicationInsights")
            except AmliteError:
                component = None
            self.components[service.workspace_id] = component
        component = self.components[service.workspace_id]
        if component is None:
            return layout.service_dir(self.settings, service.id) / "requests.log"
        return layout.request_log(self.settings, component, service.id)

    # --- services going away ---------------------------------------------------------------------

    def retire(self, service_id: str, replicas: list[dict[str, Any]]) -> None:
        """After a service was deleted: unroute it, stop its replicas, remove its files."""
        self.publish()
        with self.lock:
            self.replicas.stop(replicas)
        deployment.remove(layout.service_dir(self.settings, service_id))

    # --- deployment jobs -------------------------------------------------------------------------

    def _job(self, operation_id: str) -> None:
        try:
            self._deploy(operation_id)
        except Exception:
            log.exception("deployment %s failed", operation_id)
        finally:
            self.jobs.discard(operation_id)

    def _deploy(self, operation_id: str) -> None:
        with self.context.db.session() as session:
            operation = session.get(ServiceOperation, operation_id)
            if operation is None or operation.state != "Running":
                return
            service = session.get(Service, operation.service_id)
            if service is None:
                operation.state, operation.ended_at = "Cancelled", utcnow()
                return
            service_id, workspace_id = service.id, service.workspace_id
            generation, spec = operation.target["generation"], operation.target["spec"]
            leftovers = operation.target.get("replicas", [])  # a previous attempt's, before a restart
        self.replicas.stop(leftovers)
        folder = layout.deployment_dir(self.settings, service_id, generation)
        deployment.remove(folder)
        journal = DeployLog(folder / "deploy.log")
        started: list[dict[str, Any]] = []
        try:
            with self.context.db.session() as session:
                try:
                    placements = deployment.plan(self.context, session, session.get(Resource, workspace_id), spec)
                except AmliteError as error:
                    raise DeploymentFailed(error.message, code=error.code) from None
            python, variables = deployment.environment(self.settings, spec, journal)
            journal(f"Copying {len(placements)} files (models and assets).")
            deployment.materialize(self.context.artifacts, folder, placements, journal)
            if not (folder / "app" / spec["driverProgram"]).is_file():
                raise DeploymentFailed(f"The entry script '{spec['driverProgram']}' is not among the deployment's "
                                       "assets.", code="EntryScriptNotFound")
            for index in range(spec["numReplicas"]):
                deployment.replica_config(self.settings, service_id, generation, index, python, variables, spec)
                started.append(self.replicas.launch(service_id, generation, index))
            journal(f"Started {len(started)} replica(s); waiting for init() to finish.")
            self._record(operation_id, started)
            if not self._wait_ready(operation_id, service_id, started):
                self._abandon(service_id, started)
                return
        except Exception as error:
            self.replicas.stop(started)
            if not isinstance(error, DeploymentFailed):
                log.exception("deployment %s failed", operation_id)
                error = DeploymentFailed(f"The deployment failed unexpectedly: {error!r}", code="InternalServerError")
            self._fail(operation_id, error, journal.tail())
            return
        self._switch(operation_id, started)

    def _abandon(self, service_id: str, started: list[dict[str, Any]]) -> None:
        """The operation was cancelled (its service deleted) or the server stops: its replicas go."""
        self.replicas.stop(started)
        with self.context.db.session() as session:
            if session.get(Service, service_id) is None:
                deployment.remove(layout.service_dir(self.settings, service_id))

    def _record(self, operation_id: str, started: list[dict[str, Any]]) -> None:
        with self.context.db.session() as session:
            operation = session.get(ServiceOperation, operation_id)
            operation.target = {**operation.target, "replicas": started}

    def _wait_ready(self, operation_id: str, service_id: str, started: list[dict[str, Any]]) -> bool:
        """True once every replica serves; False when the operation was cancelled or the server stops."""
        deadline = time.monotonic() + self.settings.service_start_timeout_seconds
        checked = time.monotonic()
        while True:
            for replica in started:
                if replica["socket"] is None:
                    replica["socket"] = self.replicas.ready_socket(service_id, replica)
                if replica["socket"] is None and not self.replicas.alive(replica):
                    code = self.replicas.exit_code(replica)
                    tail = self.replicas.log_tail(service_id, replica)
                    raise DeploymentFailed(
                        f"Replica {replica['index']} exited{'' if code is None else f' with code {code}'} before it "
                        f"was ready. The last lines of its log:\n{tail}", code="ReplicaFailed", log=tail)
            if all(replica["socket"] for replica in started):
                return True
            if time.monotonic() > deadline:
                limit = self.settings.service_start_timeout_seconds
                raise DeploymentFailed(f"The replicas were not ready within {limit:g} s.", code="DeploymentTimeout",
                                       log=self.replicas.log_tail(service_id, started[0]))
            if self.stopping.is_set():
                return False
            if time.monotonic() - checked > 1:
                checked = time.monotonic()
                with self.context.db.session() as session:
                    if session.get(ServiceOperation, operation_id).state != "Running":
                        return False
            time.sleep(0.05)

    def _switch(self, operation_id: str, started: list[dict[str, Any]]) -> None:
        """Make the new replicas the service's and route to them; only then is the operation Succeeded (a
        client that sees it can score the new deployment). Then the old replicas are drained and stopped."""
        with self.lock:
            with self.context.db.session() as session:
                operation = session.get(ServiceOperation, operation_id)
                service = session.get(Service, operation.service_id, with_for_update=True)
                switched = operation.state == "Running" and service is not None
                if switched:
                    old, old_generation, generation = self._commit(session, operation, service, started)
            if not switched:
                self._abandon(operation.service_id, started)
                return
        self.publish()
        with self.lock, self.context.db.session() as session:
            operation = session.get(ServiceOperation, operation_id)
            service = session.get(Service, operation.service_id, with_for_update=True)
            if operation.state == "Running":
                operation.state, operation.ended_at = "Succeeded", utcnow()
            if service is not None:
                service.state = replica_state(service)
        self.front.drain([replica["socket"] for replica in old if replica.get("socket")])
        self.replicas.stop(old)
        if old_generation != generation:
            deployment.remove(layout.deployment_dir(self.settings, operation.service_id, old_generation))

    @staticmethod
    def _commit(session: Session, operation: ServiceOperation, service: Service,
                started: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], int, int]:
        """The service now has the operation's deployment (still Transitioning: not yet routed); answers
        the old replicas and generation."""
        old, old_generation = list(service.replicas), service.generation
        spec = operation.target["spec"]
        service.replicas = [{**replica} for replica in started]
        service.spec, service.generation = spec, operation.target["generation"]
        service.error, service.updated_at = None, utcnow()
        _keep_models(session, service.id, spec["modelPks"])
        return old, old_generation, service.generation

    def _fail(self, operation_id: str, failure: DeploymentFailed, journal: str) -> None:
        with self.lock, self.context.db.session() as session:
            operation = session.get(ServiceOperation, operation_id)
            if operation is None or operation.state != "Running":
                return
            error = {"code": failure.code, "message": failure.message, "status": failure.status}
            operation.state, operation.error, operation.ended_at = "Failed", error, utcnow()
            operation.log = "\n".join(part for part in (journal, failure.log) if part) or None
            service = session.get(Service, operation.service_id, with_for_update=True)
            if service is None:
                return
            service.error, service.updated_at = error, utcnow()
            if operation.kind == "Create":
                service.state = "Failed"
            else:
                service.state = replica_state(service)
                _keep_models(session, service.id, service.spec["modelPks"])


def _keep_models(session: Session, service_id: str, model_pks: list[int]) -> None:
    """The service's model rows become exactly ``model_pks``."""
    session.execute(delete(ServiceModel).where(ServiceModel.service_id == service_id,
                                               ServiceModel.model_id.not_in(model_pks)))
    present = set(session.scalars(select(ServiceModel.model_id).where(ServiceModel.service_id == service_id)))
    session.add_all(ServiceModel(service_id=service_id, model_id=pk) for pk in model_pks if pk not in present)


def swagger(service: Service) -> dict[str, Any]:
    """A Swagger 2.0 description of the scoring API (the entry script declares no schema here)."""
    return {"swagger": "2.0", "info": {"title": service.name, "version": "1.0",
                                       "description": service.description or ""},
            "schemes": ["http"], "consumes": ["application/json"], "produces": ["application/json"],
            "securityDefinitions": {"Bearer": {"type": "apiKey", "name": "Authorization", "in": "header"}},
            "paths": {"/score": {
                "get": {"operationId": "ServiceHealthCheck", "responses": {"200": {"description": "Healthy"}}},
                "post": {"operationId": "RunMLService", "security": [{"Bearer": []}] if service.auth_enabled else [],
                         "parameters": [{"name": "serviceInputPayload", "in": "body", "required": True,
                                         "schema": {"type": "object"}}],
                         "responses": {"200": {"description": "The result of run()"},
                                       "400": {"description": "The body is not JSON"},
                                       "401": {"description": "Missing or wrong key"},
                                       "500": {"description": "run() raised"},
                                       "503": {"description": "No healthy replica"}}}}}}
