"""Parameter spaces and samplers: the SDK's parameter expressions as Optuna distributions, and Optuna's
RandomSampler, GridSampler and TPESampler asked for new trials.

Optuna's study is never stored: the trials a sweep generated (their Optuna values and per-trial sampler
attributes) and what their runs reported are in the store, and each generation replays them into an
in-memory study before asking. A sampler is seeded from the sweep's seed (and, but for the grid, the
number of trials so far), so a rebuilt study neither repeats earlier draws nor depends on the process
that asks.

Expressions (``[kind, args]``) and their Optuna form:
  choice [[v, ...]]       categorical over the options' indices (any JSON scalar is an option)
  randint [upper]         integer in [0, upper)
  uniform [lo, hi]        float in [lo, hi]; loguniform [lo, hi]: exp(uniform(lo, hi)), log-scaled
  normal [mu, sigma]      a uniform quantile u in (0, 1), mapped through the normal's inverse CDF;
                          lognormal: exp(normal)
  q<kind> [..., q]        the value of <kind> rounded to a multiple of q (an int when q is whole)
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState, create_trial

from amlite.errors import BadRequest

optuna.logging.set_verbosity(optuna.logging.WARNING)

RANDOM, GRID, BAYESIAN = "RANDOM", "GRID", "BAYESIANOPTIMIZATION"
GENERATORS = (RANDOM, GRID, BAYESIAN)
KINDS = ("choice", "randint", "uniform", "quniform", "loguniform", "qloguniform", "normal", "qnormal",
         "lognormal", "qlognormal")
_EPSILON = 1e-12


def _invalid(message: str) -> BadRequest:
    return BadRequest(message, code="InvalidParameterSpace", target="generator_config.parameter_space")


@dataclass(frozen=True)
class Expression:
    name: str
    kind: str
    distribution: BaseDistribution
    to_value: Callable[[Any], Any]
    options: tuple[Any, ...] = ()

    @property
    def flag(self) -> str:
        """The script argument that carries the value: the name itself, or ``--name``."""
        return self.name if self.name.startswith("-") else f"--{self.name}"


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _invalid(f"Parameter '{name}': '{value}' is not a finite number.")
    return float(value)


def _quantized(q: float, value: float) -> float | int:
    rounded = round(value / q) * q
    return int(round(rounded)) if float(q).is_integer() else round(rounded, 12)


def _exp(name: str, value: float) -> float:
    try:
        return math.exp(value)
    except OverflowError:
        raise _invalid(f"Parameter '{name}': exp({value}) is too large.") from None


def parse_expression(name: str, raw: Any) -> Expression:
    if not isinstance(raw, list | tuple) or len(raw) != 2 or not isinstance(raw[0], str) \
            or not isinstance(raw[1], list | tuple):
        raise _invalid(f"Parameter '{name}' must be [expression, [arguments]], e.g. [\"choice\", [[1, 2]]].")
    kind, args = raw[0].lower(), list(raw[1])
    if kind not in KINDS:
        raise _invalid(f"Parameter '{name}' has the unknown expression '{raw[0]}'; the expressions are "
                       f"{', '.join(KINDS)}.")
    if kind == "choice":
        options = args[0] if len(args) == 1 and isinstance(args[0], list | tuple) else args
        if not options:
            raise _invalid(f"Parameter '{name}': choice needs at least one option.")
        for option in options:
            if option is not None and not isinstance(option, str | int | float | bool):
                raise _invalid(f"Parameter '{name}': choice options must be numbers, strings or booleans.")
        options = tuple(options)
        return Expression(name, kind, CategoricalDistribution(tuple(range(len(options)))),
                          lambda index: options[index], options)
    if kind == "randint":
        if len(args) != 1 or isinstance(args[0], bool) or not isinstance(args[0], int) or args[0] < 1:
            raise _invalid(f"Parameter '{name}': randint takes [upper], an integer of at least 1.")
        return Expression(name, kind, IntDistribution(0, args[0] - 1), int)
    quantized = kind.startswith("q")
    base = kind[1:] if quantized else kind
    if len(args) != (3 if quantized else 2):
        shape = "[low, high" if "uniform" in base else "[mu, sigma"
        raise _invalid(f"Parameter '{name}': {kind} takes {shape}{', q' if quantized else ''}].")
    numbers = [_number(name, a) for a in args]
    first, second = numbers[0], numbers[1]
    if quantized and numbers[2] <= 0:
        raise _invalid(f"Parameter '{name}': q must be positive.")
    q = numbers[2] if quantized else None

    def finish(value: float) -> float | int:
        return _quantized(q, value) if q is not None else value

    if base in ("uniform", "loguniform"):
        if first > second:
            raise _invalid(f"Parameter '{name}': {kind} needs low <= high.")
        if base == "uniform":
            return Expression(name, kind, FloatDistribution(first, second), finish)
        return Expression(name, kind, FloatDistribution(_exp(name, first), _exp(name, second), log=True), finish)
    if second <= 0:
        raise _invalid(f"Parameter '{name}': {kind} needs a positive sigma.")
    normal = statistics.NormalDist(first, second)
    exponent = base == "lognormal"

    def from_quantile(u: float) -> float | int:
        value = normal.inv_cdf(min(max(u, _EPSILON), 1 - _EPSILON))
        return finish(math.exp(value) if exponent else value)

    return Expression(name, kind, FloatDistribution(0.0, 1.0), from_quantile)


@dataclass(frozen=True)
class Space:
    expressions: tuple[Expression, ...]

    @property
    def distributions(self) -> dict[str, BaseDistribution]:
        return {e.name: e.distribution for e in self.expressions}

    @property
    def grid_size(self) -> int | None:
        """How many points a grid over the space has; None when a parameter is not a choice."""
        if any(e.kind != "choice" for e in self.expressions):
            return None
        return math.prod(len(e.options) for e in self.expressions)

    def hyperparameters(self, params: dict[str, Any]) -> dict[str, Any]:
        return {e.name: e.to_value(params[e.name]) for e in self.expressions}

    def arguments(self, hyperparameters: dict[str, Any]) -> list[Any]:
        return [item for e in self.expressions for item in (e.flag, hyperparameters[e.name])]


def parse_space(raw: Any, generator: str) -> Space:
    if not isinstance(raw, dict) or not raw:
        raise _invalid("parameter_space must be an object with at least one parameter.")
    space = Space(tuple(parse_expression(str(name), expression) for name, expression in raw.items()))
    if generator == GRID:
        for expression in space.expressions:
            if expression.kind != "choice":
                raise _invalid(f"GRID sampling takes only choice parameters; '{expression.name}' is "
                               f"{expression.kind}. Use RANDOM or BayesianOptimization for it.")
    return space


def canonical_generator(name: str | None) -> str:
    found = (name or "").upper()
    if found not in GENERATORS:
        raise BadRequest(f"Unknown sampling method '{name}'; the methods are RANDOM, GRID and BayesianOptimization.",
                         code="InvalidSamplingMethod", target="generator_config.name")
    return found


@dataclass(frozen=True)
class PastTrial:
    """A generated trial as the study should see it: ``state`` is an Optuna TrialState name."""

    params: dict[str, Any]
    sampler_attrs: dict[str, Any]
    state: str
    value: float | None = None
    intermediate: tuple[float, ...] = ()


@dataclass(frozen=True)
class NewTrial:
    params: dict[str, Any]
    sampler_attrs: dict[str, Any]


def _sampler(generator: str, space: Space, seed: int, done: int) -> optuna.samplers.BaseSampler:
    """The grid's order is its seed's shuffle, so the grid keeps the sweep's seed; the others move on
    with the number of trials ``done``."""
    if generator == GRID:
        return optuna.samplers.GridSampler({e.name: list(range(len(e.options))) for e in space.expressions},
                                           seed=seed)
    moved = (seed + done) % 2**32
    if generator == BAYESIAN:
        return optuna.samplers.TPESampler(seed=moved)
    return optuna.samplers.RandomSampler(seed=moved)


def sample(generator: str, space: Space, maximize: bool, seed: int, past: list[PastTrial],
           count: int) -> list[NewTrial]:
    """``count`` new trials, after replaying ``past`` into a fresh in-memory study."""
    study = optuna.create_study(sampler=_sampler(generator, space, seed, len(past)),
                                direction="maximize" if maximize else "minimize")
    distributions = space.distributions
    for trial in past:
        state = TrialState[trial.state]
        study.add_trial(create_trial(
            state=state, params=trial.params, distributions=distributions, system_attrs=trial.sampler_attrs,
            value=trial.value if state == TrialState.COMPLETE else None,
            intermediate_values=dict(enumerate(trial.intermediate, start=1)),
        ))
    new = []
    for _ in range(count):
        asked = study.ask(distributions)
        frozen = study.get_trials(deepcopy=False)[asked.number]
        new.append(NewTrial(asked.params, dict(frozen.system_attrs)))
    return new
