"""Early-termination policies, as pure functions of what the children reported.

An interval is one reported value of the primary metric: a child's k-th value (in step order) is its
value at interval k. A policy looks at the intervals k >= delay_evaluation that are multiples of
evaluation_interval, and compares a live child's value there with every child's (live or ended) at the
same interval. Each tick re-checks a live child's past eligible intervals too, so a child is stopped
as soon as a better child has reported, whichever of the two ran first.

- Bandit: stopped when its value is outside slack_factor (best / (1 + f), or best * (1 + f) when
  minimizing) or slack_amount (best -/+ a) of the best value at that interval.
- MedianStopping: stopped when its best value up to k is worse than the median of the other children's
  running averages up to k.
- TruncationSelection: stopped when it ranks among the worst truncation_percentage % of the children
  at that interval (finished children left out with exclude_finished_jobs).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any

from amlite.errors import BadRequest

DEFAULT, BANDIT, MEDIAN, TRUNCATION = "Default", "Bandit", "MedianStopping", "TruncationSelection"
_NAMES = {name.lower(): name for name in (DEFAULT, BANDIT, MEDIAN, TRUNCATION)}
_NAMES.update({"none": DEFAULT, "notermination": DEFAULT, "median": MEDIAN, "truncation": TRUNCATION})
# The SDK's defaults: MedianStoppingPolicy waits 5 intervals, the others none.
_DELAY = {MEDIAN: 5}


@dataclass(frozen=True)
class Policy:
    name: str = DEFAULT
    evaluation_interval: int = 1
    delay_evaluation: int = 0
    slack_factor: float | None = None
    slack_amount: float | None = None
    truncation_percentage: int | None = None
    exclude_finished_jobs: bool = False

    def properties(self) -> dict[str, Any]:
        """The properties as the response echoes them."""
        if self.name == DEFAULT:
            return {}
        found: dict[str, Any] = {"evaluation_interval": self.evaluation_interval,
                                 "delay_evaluation": self.delay_evaluation}
        if self.name == BANDIT:
            found.update({k: v for k, v in (("slack_factor", self.slack_factor),
                                            ("slack_amount", self.slack_amount)) if v is not None})
        if self.name == TRUNCATION:
            found.update(truncation_percentage=self.truncation_percentage,
                         exclude_finished_jobs=self.exclude_finished_jobs)
        return found


def _invalid(message: str) -> BadRequest:
    return BadRequest(message, code="InvalidPolicy", target="policy_config")


def _integer(properties: dict[str, Any], key: str, default: int, low: int, high: int | None = None) -> int:
    value = properties.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float) or int(value) != value \
            or value < low or (high is not None and value > high):
        bounds = f"from {low} to {high}" if high is not None else f"of at least {low}"
        raise _invalid(f"policy_config.properties.{key} must be an integer {bounds}; it is {value!r}.")
    return int(value)


def _positive(properties: dict[str, Any], key: str) -> float | None:
    value = properties.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise _invalid(f"policy_config.properties.{key} must be a positive number; it is {value!r}.")
    return float(value)


def parse_policy(name: str | None, properties: dict[str, Any] | None) -> Policy:
    canonical = _NAMES.get((name or DEFAULT).lower().replace("_", "").replace("policy", ""))
    if canonical is None:
        raise _invalid(f"Unknown early-termination policy '{name}'; the policies are Default, Bandit, "
                       "MedianStopping and TruncationSelection.")
    if canonical == DEFAULT:
        return Policy()
    properties = {str(k).lower(): v for k, v in (properties or {}).items()}
    common = {"evaluation_interval": _integer(properties, "evaluation_interval", 1, 1),
              "delay_evaluation": _integer(properties, "delay_evaluation", _DELAY.get(canonical, 0), 0)}
    if canonical == BANDIT:
        factor, amount = _positive(properties, "slack_factor"), _positive(properties, "slack_amount")
        if (factor is None) == (amount is None):
            raise _invalid("A Bandit policy takes exactly one of slack_factor and slack_amount.")
        return Policy(BANDIT, slack_factor=factor, slack_amount=amount, **common)
    if canonical == TRUNCATION:
        if properties.get("truncation_percentage") is None:
            raise _invalid("A TruncationSelection policy needs truncation_percentage (1 to 99).")
        exclude = properties.get("exclude_finished_jobs") or False
        if not isinstance(exclude, bool):
            raise _invalid("policy_config.properties.exclude_finished_jobs must be true or false.")
        return Policy(TRUNCATION, truncation_percentage=_integer(properties, "truncation_percentage", 0, 1, 99),
                      exclude_finished_jobs=exclude, **common)
    return Policy(MEDIAN, **common)


@dataclass(frozen=True)
class Progress:
    """What one child reported so far: its primary metric by interval, and whether it has ended."""

    key: Any
    values: tuple[float, ...]
    finished: bool = False


def _better(maximize: bool, a: float, b: float) -> bool:
    return a > b if maximize else a < b


def _bandit(policy: Policy, maximize: bool, value: float, best: float) -> str | None:
    if policy.slack_factor is not None:
        factor = 1 + policy.slack_factor
        limit, slack = (best / factor if maximize else best * factor), f"slack_factor {policy.slack_factor:g}"
    else:
        amount = policy.slack_amount or 0.0
        limit, slack = (best - amount if maximize else best + amount), f"slack_amount {amount:g}"
    if _better(maximize, limit, value):
        side = "below" if maximize else "above"
        return f"{value:g} is {side} {limit:g}, the best value {best:g} within {slack}"
    return None


def _median(maximize: bool, candidate: Progress, peers: list[Progress], k: int) -> str | None:
    averages = [statistics.fmean(p.values[:k]) for p in peers if p is not candidate]
    if not averages:
        return None
    best = max(candidate.values[:k]) if maximize else min(candidate.values[:k])
    median = statistics.median(averages)
    if _better(maximize, median, best):
        return f"its best value {best:g} is worse than {median:g}, the median of the other runs' running averages"
    return None


def _truncation(policy: Policy, maximize: bool, candidate: Progress, peers: list[Progress], k: int) -> str | None:
    if policy.exclude_finished_jobs:
        peers = [p for p in peers if p is candidate or not p.finished]
    cut = len(peers) * (policy.truncation_percentage or 0) // 100
    value = candidate.values[k - 1]
    ahead = sum(1 for p in peers if _better(maximize, p.values[k - 1], value))
    if cut and ahead >= len(peers) - cut:
        return (f"{value:g} ranks {ahead + 1} of {len(peers)}, among the worst "
                f"{policy.truncation_percentage}%")
    return None


def stop_reason(policy: Policy, maximize: bool, candidate: Progress, runs: list[Progress]) -> str | None:
    """Why ``candidate`` (one of ``runs``) should stop now, or None."""
    if policy.name == DEFAULT:
        return None
    for k in range(max(policy.delay_evaluation, 1), len(candidate.values) + 1):
        if k % policy.evaluation_interval:
            continue
        peers = [run for run in runs if len(run.values) >= k]
        if policy.name == BANDIT:
            at_k = [p.values[k - 1] for p in peers]
            reason = _bandit(policy, maximize, candidate.values[k - 1], max(at_k) if maximize else min(at_k))
        elif policy.name == MEDIAN:
            reason = _median(maximize, candidate, peers, k)
        else:
            reason = _truncation(policy, maximize, candidate, peers, k)
        if reason is not None:
            return f"at interval {k}, {reason}"
    return None
