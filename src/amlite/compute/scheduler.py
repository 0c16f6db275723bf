"""The scheduler: one queue per compute, admission by free nodes, node counts kept true, and
reconciliation of runs whose agent is gone (including after a server restart).

Backends only start and stop agents; everything about who runs when lives here. A backend with a
live view of its cluster (Ray) also bounds admission and node counts by the cluster's live nodes: Ray
Jobs is not a queue, so a run is only handed over when its nodes fit.
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from amlite.arm.tables import Resource
from amlite.compute import data_references, layout
from amlite.compute.backends.base import BackendError, Capacity, ComputeBackend, RunContext
from amlite.compute.backends.choice import Backends
from amlite.compute.submission import parse_definition
from amlite.context import AppContext
from amlite.db.base import utcnow
from amlite.identity.tables import Principal
from amlite.runs import states
from amlite.runs.service import set_status, touch
from amlite.runs.tables import Experiment, Run
from amlite.workspaces.compute_schemas import parse_duration
from amlite.workspaces.tables import Compute
from amlite.workspaces.vm_sizes import VmSize, find_vm_size

log = logging.getLogger("amlite.scheduler")
PREPARING = ("Preparing", "Provisioning")


def _shape(size: VmSize | None) -> tuple[float, float, float]:
    """A node of this VM size as (CPUs, memory GiB, GPUs); a size amlite does not know counts as 1 CPU, 2 GiB."""
    return (size.vcpus, size.memory_gb, size.gpus) if size else (1, 2.0, 0)


def _fail(run: Run, code: str, message: str) -> None:
    run.error = {"error": {"code": code, "message": message}}
    set_status(run, "Failed")
    touch(run)


class Scheduler:
    def __init__(self, context: AppContext, backends: Backends) -> None:
        self.context = context
        self.backends = backends

    def tick(self) -> None:
        with self.context.db.session() as session:
            self._reconcile(session)
            computes = list(session.scalars(select(Compute).where(Compute.provisioning_state == "Succeeded")))
            capacities: dict[str, Capacity | None] = {}
            for compute in computes:
                try:
                    backend = self.backends.choose((compute.extensions or {}).get("backend"))
                except BackendError as error:
                    self._refuse_queue(session, compute, str(error))
                    continue
                if backend.name not in capacities:
                    capacities[backend.name] = self._capacity(session, backend)
                self._admit(session, compute, backend, capacities[backend.name])
                self._count_nodes(session, compute, capacities[backend.name])
            self._orphans(session)

    def _capacity(self, session: Session, backend: ComputeBackend) -> Capacity | None:
        """The backend's live nodes, less what the runs it holds for amlite take of them."""
        capacity = backend.capacity()
        if capacity is None:
            return None
        holding = session.execute(select(Run.nodes_held, Run.backend_handle, Compute.vm_size)
                                  .join(Compute, Run.compute_id == Compute.id).where(Run.nodes_held > 0))
        for nodes, handle, vm_size in holding:
            if handle is not None and handle.get("backend") == backend.name:
                capacity.take(nodes, _shape(find_vm_size(vm_size)))
        return capacity

    # runs that hold nodes ----------------------------------------------------------------------

    def _reconcile(self, session: Session) -> None:
        for run in session.scalars(select(Run).where(Run.nodes_held > 0)):
            if run.status in states.TERMINAL:
                run.nodes_held = 0
                continue
            if run.backend_handle is None or self.backends.poll(run.backend_handle) == "alive":
                continue
            session.refresh(run)  # the agent may have reported its end just before it exited
            if run.status in states.TERMINAL:
                run.nodes_held = 0
                continue
            if run.status == "CancelRequested":
                set_status(run, "Canceled")
                touch(run)
            else:
                _fail(run, "NodeLost", self.backends.lost(run.backend_handle))
            run.nodes_held = 0

    def _orphans(self, session: Session) -> None:
        """Queued runs whose compute was deleted can never run."""
        for run in session.scalars(select(Run).where(Run.status == "Queued", Run.compute_id.is_(None),
                                                     Run.nodes_held == 0, Run.backend_handle.is_(None),
                                                     Run.run_type == "azureml.scriptrun")):
            _fail(run, "ComputeTargetNotFound", f"The compute target '{run.target}' was deleted.")

    # admission ---------------------------------------------------------------------------------

    @staticmethod
    def _queue(session: Session, compute: Compute):
        return session.scalars(select(Run).where(Run.compute_id == compute.id, Run.status == "Queued",
                                                 Run.nodes_held == 0)
                               .order_by(Run.created_at, Run.id))

    def _admit(self, session: Session, compute: Compute, backend: ComputeBackend, capacity: Capacity | None) -> None:
        held = sum(session.scalars(select(Run.nodes_held).where(Run.compute_id == compute.id, Run.nodes_held > 0)))
        shape = _shape(find_vm_size(compute.vm_size))
        for run in self._queue(session, compute):
            if run.node_count > compute.max_node_count - held:
                break  # first come, first served: later runs wait behind it
            if capacity is not None and not capacity.fits(run.node_count, shape):
                break  # the cluster's live nodes cannot take it now
            self._start(session, compute, run, backend)
            held += run.node_count
            if capacity is not None:
                capacity.take(run.node_count, shape)

    def _refuse_queue(self, session: Session, compute: Compute, message: str) -> None:
        """Queued runs of a compute whose backend this server does not run fail rather than wait forever."""
        for run in self._queue(session, compute):
            _fail(run, "ComputeBackendUnavailable", message)

    def _start(self, session: Session, compute: Compute, run: Run, backend: ComputeBackend) -> None:
        settings = self.context.settings
        workspace = session.get(Resource, run.workspace_id)
        size = find_vm_size(compute.vm_size)
        vcpus, memory_gb, gpus = _shape(size)
        run.nodes_held = run.node_count
        set_status(run, "Preparing")
        touch(run)
        directory = layout.run_dir(settings, run)
        directory.mkdir(parents=True, exist_ok=True)
        config_path = directory / "agent.json"
        try:
            config = self._agent_config(session, workspace, run, size)
        except Exception as error:  # noqa: BLE001 - a run that cannot be prepared fails; the queue moves on
            log.exception("could not prepare %s", run.run_id)
            _fail(run, "RunPreparationFailed", f"The run could not be prepared: {error}")
            run.nodes_held = 0
            return
        config_path.write_text(json.dumps(config))
        config_path.chmod(0o600)
        try:
            run.backend_handle = backend.submit(RunContext(
                run_id=run.run_id, run_dir=directory, agent_config=config_path, node_count=run.node_count,
                vcpus=vcpus, memory_gb=memory_gb, gpus=gpus))
        except (OSError, BackendError) as error:
            log.exception("could not start the agent of %s", run.run_id)
            _fail(run, "AgentStartFailed", f"The run could not start: {error}")
            run.nodes_held = 0

    def _agent_config(self, session: Session, workspace: Resource, run: Run, size: VmSize | None) -> dict[str, Any]:
        settings = self.context.settings
        vcpus, memory_gb, _ = _shape(size)
        experiment = session.get(Experiment, run.experiment_id)
        configuration = parse_definition(run.run_definition).configuration
        principal = session.get(Principal, run.submitted_by) if run.submitted_by else None
        limit = configuration.maxRunDurationSeconds
        token = self.context.tokens.issue(
            tenant_id=principal.tenant_id, object_id=principal.object_id, app_id=principal.client_id,
            audience="https://management.azure.com/", version="1.0", scope=workspace.resource_id,
            lifetime=(limit or 7 * 86400) + 3600,
        ) if principal else None
        base = f"{settings.base_url}/history/v1.0{workspace.resource_id}"
        ids = workspace.resource_id.split("/")
        return {
            "runId": run.run_id,
            "runUrl": f"{base}/experiments/{experiment.name}/runs/{run.run_id}",
            "logsUrl": f"{base}/runs/{run.run_id}/logs",
            "token": token.access_token if token else "",
            "caFile": self._ca_file(),
            "blobHost": {"suffix": settings.blob_host_suffix, "address": urlsplit(settings.base_url).hostname}
            if settings.blob_host_suffix else None,
            "snapshot": str(layout.snapshot_zip(settings, run)),
            "snapshotLimits": {"maxFiles": settings.snapshot_max_files, "maxBytes": settings.snapshot_max_bytes},
            "runDir": str(layout.run_dir(settings, run)),
            "envCache": str(layout.environment_cache(settings)),
            "artifactsUrl": f"{settings.base_url}/artifact/v2.0{workspace.resource_id}/artifacts",
            "dataContainerId": run.data_container_id,
            "outputCollection": configuration.history.outputCollection,
            "dataReferences": data_references.plan(session, self.context, workspace, configuration),
            "script": configuration.script,
            "arguments": configuration.argument_strings,
            "nodeCount": run.node_count,
            "communicator": configuration.communicator,
            "maxRunDurationSeconds": limit,
            "environment": configuration.environment,
            "vcpus": vcpus,
            "memoryGb": memory_gb,
            "azuremlEnvironment": {
                "AZUREML_RUN_ID": run.run_id,
                "AZUREML_RUN_TOKEN": token.access_token if token else "",
                "AZUREML_RUN_TOKEN_EXPIRY": str(token.expires_at) if token else "",
                "AZUREML_SERVICE_ENDPOINT": settings.base_url,
                "AZUREML_DISCOVERY_SERVICE_ENDPOINT": workspace.properties["discoveryUrl"],
                "AZUREML_ARM_SUBSCRIPTION": ids[2],
                "AZUREML_ARM_RESOURCEGROUP": ids[4],
                "AZUREML_ARM_WORKSPACE_NAME": ids[8],
                "AZUREML_ARM_PROJECT_NAME": experiment.name,
                "AZUREML_EXPERIMENT_ID": experiment.id,
                "AZUREML_WORKSPACE_ID": workspace.properties["workspaceId"],
            },
        }

    def _ca_file(self) -> str | None:
        settings = self.context.settings
        if settings.tls_cert is not None:
            return str(settings.tls_cert)
        return str(settings.data_dir / "tls" / "ca.pem") if settings.tls else None

    # node counts -------------------------------------------------------------------------------

    def _count_nodes(self, session: Session, compute: Compute, capacity: Capacity | None) -> None:
        """Nodes grow at once to what runs hold; nodes above minNodeCount are released after
        nodeIdleTimeBeforeScaleDown of idleness. On a cluster with live nodes (Ray), the nodes are
        those its live nodes hold of the compute's VM size, up to maxNodeCount."""
        now = utcnow()
        holding = session.execute(select(Run.status, Run.nodes_held).where(
            Run.compute_id == compute.id, Run.nodes_held > 0)).all()
        held = sum(n for _s, n in holding)
        preparing = sum(n for s, n in holding if s in PREPARING)
        keep = max(compute.min_node_count, held)
        current = compute.current_node_count
        if capacity is not None:
            current = max(held, min(compute.max_node_count, capacity.slots(_shape(find_vm_size(compute.vm_size)))))
            compute.idle_since = None
        elif held >= current:
            current, compute.idle_since = held, None
        elif current > keep:
            idle = parse_duration(compute.idle_time_before_scale_down) or timedelta(seconds=120)
            if compute.idle_since is None:
                compute.idle_since = now
            elif now - compute.idle_since >= idle:
                current, compute.idle_since = keep, None
        else:
            compute.idle_since = None
        if current != compute.current_node_count:
            compute.allocation_state_transition_time = now
        compute.current_node_count = compute.target_node_count = current
        compute.allocation_state = "Steady"
        compute.preparing_node_count = preparing
        compute.running_node_count = held - preparing
        compute.idle_node_count = current - held
