"""Sweeps: submit (a parent run and its first children), cancel, and ``advance``, the step the
background service takes for every running sweep: read what children reported, stop those the policy
rejects, name the best child on the parent, generate children into free slots, end the parent.

Everything ``advance`` needs is in the store, so a restarted server carries on where it stopped.
Children are claimed with a conditional UPDATE of ``generated`` and get deterministic run ids
(``{parent}_{number}``), so two generators (a request and the service, or two replicas) never make
the same child twice.
"""

from __future__ import annotations

import json
import logging
import random
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from amlite.arm.tables import Resource
from amlite.compute.submission import cancel_run, parse_definition, start_snapshot_run
from amlite.context import AppContext
from amlite.db.base import utcnow
from amlite.errors import AmliteError, BadRequest, Conflict, NotFound
from amlite.hyperdrive import policies, sampling
from amlite.hyperdrive.policies import Policy, Progress
from amlite.hyperdrive.sampling import PastTrial, Space
from amlite.hyperdrive.schemas import CreateExperiment, PlatformConfig
from amlite.hyperdrive.tables import Sweep, Trial
from amlite.identity.tokens import Caller
from amlite.runs.experiments import get_experiment, get_or_create_experiment
from amlite.runs.schemas import CreateRun
from amlite.runs.service import create_run, find_run, get_run, set_status, touch
from amlite.runs.states import TERMINAL
from amlite.runs.tables import Experiment, MetricPoint, MetricSeries, Run
from amlite.web.body import parse_model

log = logging.getLogger("amlite.hyperdrive")
RUN_TYPE = "hyperdrive"
GOALS = ("MAXIMIZE", "MINIMIZE")
_FINAL = {"canceled": "Canceled", "failed": "Failed"}


# --- the configuration ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Plan:
    """A sweep's configuration, parsed: what to sample, how to judge children, when to stop."""

    generator: str
    space: Space
    policy: Policy
    metric: str
    maximize: bool
    max_concurrent: int
    max_duration: timedelta
    definition: dict[str, Any]  # the children's run definition, before the sampled arguments

    def child_definition(self, parent_run_id: str, hyperparameters: dict[str, Any]) -> dict[str, Any]:
        configuration = dict(self.definition["Configuration"])
        key = next((k for k in configuration if k.lower() == "arguments"), "arguments")
        configuration[key] = [*(configuration.get(key) or []), *self.space.arguments(hyperparameters)]
        return {**self.definition, "Configuration": configuration, "ParentRunId": parent_run_id}


def _base_definition(platform_config: dict[str, Any]) -> dict[str, Any]:
    definition = parse_model(PlatformConfig, platform_config).definition
    overrides = definition.overrides
    if isinstance(overrides, str):
        try:
            overrides = json.loads(overrides)
        except ValueError:
            overrides = None
    if not isinstance(overrides, dict):
        raise BadRequest("platform_config.Definition.Overrides must be a run configuration (a JSON object).",
                         code="InvalidRunDefinition", target="platform_config.Definition.Overrides")
    if not definition.snapshotId:
        raise BadRequest("platform_config.Definition.SnapshotId must name the uploaded snapshot of the project.",
                         code="InvalidRunDefinition", target="platform_config.Definition.SnapshotId")
    found = {"Configuration": overrides, "SnapshotId": definition.snapshotId, "RunType": "azureml.scriptrun"}
    parse_definition(found)
    return found


def plan_of(config: dict[str, Any]) -> Plan:
    """The plan of a normalised configuration (``normalise``); raises BadRequest for a bad one."""
    generator = sampling.canonical_generator(config["generator_config"]["name"])
    policy = config["policy_config"]
    metric = config["primary_metric_config"]
    return Plan(
        generator=generator,
        space=sampling.parse_space(config["generator_config"]["parameter_space"], generator),
        policy=policies.parse_policy(policy["name"], policy.get("properties")),
        metric=metric["name"], maximize=metric["goal"] == "MAXIMIZE",
        max_concurrent=config["max_concurrent_jobs"],
        max_duration=timedelta(minutes=config["max_duration_minutes"]),
        definition=_base_definition(config["platform_config"]),
    )


def normalise(body: CreateExperiment) -> dict[str, Any]:
    """The request with canonical names and resolved limits: what is stored and echoed."""
    goal = body.primary_metric_config.goal.upper()
    if goal not in GOALS:
        raise BadRequest(f"primary_metric_config.goal is '{body.primary_metric_config.goal}'; it must be "
                         "maximize or minimize.", code="InvalidPrimaryMetric", target="primary_metric_config.goal")
    if body.resume_from or body.resume_child_runs:
        raise BadRequest("Warm-starting a sweep from earlier runs (resume_from, resume_child_runs) is not "
                         "supported.", code="NotSupported", target="resume_from")
    generator = sampling.canonical_generator(body.generator_config.name)
    space = sampling.parse_space(body.generator_config.parameter_space, generator)
    policy_config = body.policy_config
    policy = policies.parse_policy(policy_config.name if policy_config else None,
                                   policy_config.properties if policy_config else None)
    total = body.max_total_jobs
    if generator == sampling.GRID:
        total = min(total or space.grid_size, space.grid_size)
    if total is None:
        raise BadRequest("max_total_jobs is required (it may be left out only with GRID sampling).",
                         code="InvalidRequestContent", target="max_total_jobs")
    return {
        **body.model_dump(exclude={"generator_config", "policy_config", "primary_metric_config"}),
        "max_total_jobs": total,
        "max_concurrent_jobs": body.max_concurrent_jobs or total,
        "generator_config": {"name": generator, "parameter_space": body.generator_config.parameter_space,
                             **({"properties": body.generator_config.properties}
                                if body.generator_config.properties else {})},
        "policy_config": {"name": policy.name, "properties": policy.properties()},
        "primary_metric_config": {"name": body.primary_metric_config.name, "goal": goal},
    }


# --- submit and cancel ---------------------------------------------------------------------------

def find_sweep(session: Session, parent: Run) -> Sweep | None:
    return session.scalars(select(Sweep).where(Sweep.parent_run_pk == parent.id)).first()


def get_sweep(session: Session, workspace: Resource, experiment_name: str, run_id: str) -> tuple[Sweep, Run]:
    parent = get_run(session, workspace, run_id, get_experiment(session, workspace, experiment_name))
    sweep = find_sweep(session, parent)
    if sweep is None:
        raise NotFound(f"Run '{run_id}' is not a HyperDrive run.", code="HyperDriveRunNotFound", target="runId")
    return sweep, parent


def _parent_properties(config: dict[str, Any], plan: Plan) -> dict[str, str]:
    metric = config["primary_metric_config"]
    size = plan.space.grid_size
    return {
        "primary_metric_config": json.dumps({"name": metric["name"], "goal": metric["goal"].lower()}),
        "generator_config": json.dumps(config["generator_config"]),
        "policy_config": json.dumps(config["policy_config"]),
        "resume_from": "null",
        "runTemplate": "HyperDrive",
        "azureml.runsource": RUN_TYPE,
        "platform": config["platform"],
        "ContentSnapshotId": plan.definition["SnapshotId"],
        "space_size": str(size) if size is not None else "infinite",
    }


def submit(session: Session, context: AppContext, workspace: Resource, caller: Caller, experiment_name: str,
           body: CreateExperiment, run_id: str | None = None) -> tuple[Sweep, Run, Outcome]:
    """Create the parent run and the sweep, and generate the first children (so that a bad compute
    target or snapshot fails the request). With ``run_id`` naming an existing sweep of the experiment,
    answers that sweep: a retried request makes nothing twice."""
    existing = find_run(session, workspace, run_id) if run_id is not None else None
    if existing is not None:
        sweep = find_sweep(session, existing)
        if sweep is None:
            raise Conflict(f"Run '{run_id}' already exists and is not a HyperDrive run.", code="RunAlreadyExists",
                           target="runId")
        return sweep, existing, Outcome()
    config = normalise(body)
    plan = plan_of(config)
    config["name"] = config["name"] or experiment_name
    experiment = get_or_create_experiment(session, workspace, experiment_name)
    configuration = plan.definition["Configuration"]
    parent = create_run(session, workspace, experiment, run_id or f"HD_{uuid.uuid4()}", CreateRun(
        runType=RUN_TYPE, name=config["name"], description=config["description"],
        target=next((v for k, v in configuration.items() if k.lower() == "target"), None),
        properties=_parent_properties(config, plan),
    ), caller, context.settings.base_url)
    set_status(parent, "Running")
    sweep = Sweep(workspace_id=workspace.id, parent_run_pk=parent.id, config=config,
                  seed=random.randrange(2**31), status="Running",
                  generated=0, all_jobs_generated=False,
                  submitted_by={"tenantId": caller.tenant_id, "objectId": caller.object_id, "appId": caller.app_id})
    session.add(sweep)
    session.flush()
    return sweep, parent, advance(session, context, sweep)


def request_cancel(sweep: Sweep, parent: Run) -> None:
    """Stop generating; ``advance`` stops the children and ends the parent Canceled."""
    if sweep.status != "Running":
        return
    if sweep.ending is None:
        sweep.ending = "canceled"
        sweep.modified_at = utcnow()
    cancel_run(parent)


# --- advance -------------------------------------------------------------------------------------

@dataclass
class Outcome:
    """What to do once the transaction has committed."""

    cancel: list[dict[str, Any]] = field(default_factory=list)  # backend handles of stopped children
    generated: int = 0


@dataclass
class Child:
    trial: Trial
    run: Run
    values: list[float]

    @property
    def live(self) -> bool:
        return self.run.status not in TERMINAL


def _metric_values(session: Session, run_pks: list[int], name: str) -> dict[int, list[float]]:
    """Each run's numeric values of the metric ``name``, in step order."""
    found: dict[int, list[float]] = {pk: [] for pk in run_pks}
    if not run_pks:
        return found
    rows = session.execute(
        select(MetricSeries.run_pk, MetricPoint.value)
        .join(MetricPoint, MetricPoint.series_id == MetricSeries.id)
        .where(MetricSeries.run_pk.in_(run_pks), MetricSeries.name == name, MetricPoint.value.is_not(None))
        .order_by(MetricSeries.run_pk, MetricPoint.step, MetricPoint.id))
    for run_pk, value in rows:
        found[run_pk].append(value)
    return found


def _children(session: Session, sweep: Sweep, metric: str) -> list[Child]:
    rows = session.execute(select(Trial, Run).join(Run, Run.id == Trial.run_pk)
                           .where(Trial.sweep_id == sweep.id).order_by(Trial.number)).all()
    values = _metric_values(session, [run.id for _trial, run in rows], metric)
    return [Child(trial, run, values[run.id]) for trial, run in rows]


def _best(plan: Plan, values: list[float]) -> float:
    return max(values) if plan.maximize else min(values)


def _stop(child: Child, reason: str, message: str, outcome: Outcome) -> None:
    child.trial.stopped_by = reason
    if cancel_run(child.run):
        outcome.cancel.append(child.run.backend_handle)
    child.run.warnings = [*(child.run.warnings or []), {"source": "hyperdrive", "message": message}]


def _apply_policy(plan: Plan, children: list[Child], outcome: Outcome) -> None:
    progress = [Progress(child.trial.number, tuple(child.values), not child.live) for child in children]
    for child, mine in zip(children, progress):
        if not child.live or child.run.status == "CancelRequested" or not child.values:
            continue
        reason = policies.stop_reason(plan.policy, plan.maximize, mine, progress)
        if reason is not None:
            _stop(child, plan.policy.name, f"Canceled by the {plan.policy.name} early-termination policy: "
                                           f"{plan.metric} {reason}.", outcome)


def _name_best(plan: Plan, parent: Run, children: list[Child]) -> None:
    best: tuple[float, Child] | None = None
    for child in children:
        if not child.values:
            continue
        value = _best(plan, child.values)
        if best is None or (value > best[0] if plan.maximize else value < best[0]):
            best = (value, child)
    if best is None:
        return
    value, child = best
    named = {"best_child_run_id": child.run.run_id, "score": str(value), "best_metric_status": "Succeeded",
             "best_data_container_id": child.run.data_container_id}
    if any((parent.properties or {}).get(key) != text for key, text in named.items()):
        parent.properties = {**(parent.properties or {}), **named}
        touch(parent)


def _past(plan: Plan, children: list[Child]) -> list[PastTrial]:
    """The trials as Optuna should see them: a completed child's value is its best."""
    past = []
    for child in children:
        if child.live:
            state, value = "RUNNING", None
        elif child.values and child.run.status == "Completed" and child.trial.stopped_by is None:
            state, value = "COMPLETE", _best(plan, child.values)
        else:
            state, value = ("PRUNED" if child.values else "FAIL"), None
        past.append(PastTrial(child.trial.params, child.trial.sampler_attrs, state, value,
                              tuple(child.values) if state == "PRUNED" else ()))
    return past


def _generate(session: Session, context: AppContext, sweep: Sweep, plan: Plan, parent: Run,
              children: list[Child]) -> int:
    total = sweep.config["max_total_jobs"]
    count = min(plan.max_concurrent - sum(child.live for child in children), total - sweep.generated)
    if count <= 0:
        return 0
    first = sweep.generated
    claimed = session.execute(update(Sweep).where(Sweep.id == sweep.id, Sweep.generated == first)
                              .values(generated=first + count))
    if claimed.rowcount != 1:
        return 0  # another generator took these numbers
    workspace = session.get(Resource, sweep.workspace_id)
    experiment = session.get(Experiment, parent.experiment_id)
    submitter = sweep.submitted_by
    caller = Caller(tenant_id=submitter["tenantId"], object_id=submitter["objectId"], app_id=submitter["appId"])
    new = sampling.sample(plan.generator, plan.space, plan.maximize, sweep.seed, _past(plan, children), count)
    for number, trial in enumerate(new, start=first):
        hyperparameters = plan.space.hyperparameters(trial.params)
        raw = plan.child_definition(parent.run_id, hyperparameters)
        run = start_snapshot_run(session, context.settings, context.artifacts, workspace, caller, experiment.name,
                                 f"{parent.run_id}_{number}", parse_definition(raw), raw)
        run.tags = {**(run.tags or {}), "hyperparameters": json.dumps(hyperparameters)}
        session.add(Trial(sweep_id=sweep.id, number=number, run_pk=run.id, params=trial.params,
                          sampler_attrs=trial.sampler_attrs, hyperparameters=hyperparameters))
    sweep.generated = first + count
    sweep.all_jobs_generated = sweep.generated >= total
    return count


def _stop_all(children: list[Child], message: str, reason: str, outcome: Outcome) -> None:
    for child in children:
        if child.live and child.run.status != "CancelRequested":
            _stop(child, reason, message, outcome)


def advance(session: Session, context: AppContext, sweep: Sweep) -> Outcome:
    outcome = Outcome()
    parent = session.get(Run, sweep.parent_run_pk)
    plan = plan_of(sweep.config)
    children = _children(session, sweep, plan.metric)
    if sweep.ending is None and (parent.status == "CancelRequested" or parent.status in TERMINAL):
        sweep.ending = "canceled"  # canceled through run history
    if sweep.ending is None and utcnow() >= sweep.created_at + plan.max_duration:
        sweep.ending = "timeout"
        parent.warnings = [*(parent.warnings or []), {"source": "hyperdrive", "message": (
            f"max_duration_minutes ({sweep.config['max_duration_minutes']}) reached: no more children are "
            "generated and running children are canceled.")}]
    if sweep.ending == "canceled":
        _stop_all(children, "Canceled: the HyperDrive run was canceled.", "cancel", outcome)
    elif sweep.ending == "timeout":
        _stop_all(children, "Canceled: the HyperDrive run reached its max_duration_minutes.", "max_duration", outcome)
    else:
        _apply_policy(plan, children, outcome)
    _name_best(plan, parent, children)
    if sweep.ending is None:
        outcome.generated = _generate(session, context, sweep, plan, parent, children)
    if not outcome.generated and not any(child.live for child in children) and \
            (sweep.all_jobs_generated or sweep.ending is not None):
        _finish(sweep, parent)
    sweep.modified_at = utcnow()
    return outcome


def _finish(sweep: Sweep, parent: Run) -> None:
    final = _FINAL.get(sweep.ending or "", "Completed")
    if parent.status not in TERMINAL:
        if final == "Failed":
            parent.error = sweep.error
        set_status(parent, final)
        touch(parent)
    sweep.status = parent.status


def fail(session: Session, sweep_id: int, error: AmliteError) -> None:
    """A child could not be generated (its compute or snapshot is gone): stop generating; the parent
    ends Failed with this error once the running children end."""
    sweep = session.get(Sweep, sweep_id)
    if sweep is None or sweep.ending is not None:
        return
    sweep.ending = "failed"
    sweep.error = {"error": {"code": error.code, "message": f"A child run could not be created: {error.message}"}}
    sweep.modified_at = utcnow()


# --- the background service ----------------------------------------------------------------------

class SweepService:
    """Advances every running sweep, each in its own transaction."""

    def __init__(self, context: AppContext) -> None:
        self.context = context

    def tick(self) -> None:
        db = self.context.db
        with db.session() as session:
            running = list(session.scalars(select(Sweep.id).where(Sweep.status == "Running").order_by(Sweep.id)))
        for sweep_id in running:
            try:
                with db.session() as session:
                    sweep = session.get(Sweep, sweep_id)
                    if sweep is None or sweep.status != "Running":
                        continue
                    outcome = advance(session, self.context, sweep)
            except AmliteError as error:
                log.warning("sweep %s could not generate a child: %s", sweep_id, error.message)
                with db.session() as session:
                    fail(session, sweep_id, error)
                continue
            after_commit(self.context, outcome)


def after_commit(context: AppContext, outcome: Outcome) -> None:
    """Tell the backend about stopped children, and the scheduler about new ones."""
    for handle in outcome.cancel:
        context.backend.cancel(handle)
    if outcome.generated:
        context.services["scheduler"].wake()
