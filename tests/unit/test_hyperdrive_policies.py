"""Early-termination policies and parameter expressions, as pure functions."""

from __future__ import annotations

import itertools
import math

import pytest

from amlite.errors import BadRequest
from amlite.hyperdrive.policies import Progress, parse_policy, stop_reason
from amlite.hyperdrive.sampling import GRID, RANDOM, BAYESIAN, PastTrial, parse_space, sample


def runs(*series: list[float], finished: tuple[int, ...] = ()) -> list[Progress]:
    return [Progress(index, tuple(values), index in finished) for index, values in enumerate(series)]


def stopped(policy, maximize: bool, progress: list[Progress]) -> list[int]:
    return [run.key for run in progress if stop_reason(policy, maximize, run, progress) is not None]


def test_default_stops_nothing():
    assert stopped(parse_policy("Default", None), True, runs([0.0] * 5, [1.0] * 5)) == []
    assert stopped(parse_policy(None, None), True, runs([0.0] * 5, [1.0] * 5)) == []


def test_bandit_slack_amount_and_factor():
    progress = runs([0.25] * 3, [0.5] * 3, [0.75] * 3, [1.0] * 3)
    assert stopped(parse_policy("Bandit", {"slack_amount": 0.3}), True, progress) == [0, 1]
    assert stopped(parse_policy("Bandit", {"slack_factor": 0.2}), True, progress) == [0, 1, 2]  # below 1/1.2
    losses = runs([1.0] * 3, [1.1] * 3, [1.3] * 3)
    assert stopped(parse_policy("Bandit", {"slack_factor": 0.2}), False, losses) == [2]  # above 1 * 1.2


def test_bandit_waits_for_delay_and_interval():
    policy = parse_policy("Bandit", {"slack_amount": 0.1, "delay_evaluation": 3, "evaluation_interval": 2})
    assert stopped(policy, True, runs([0.0, 0.0, 0.0], [1.0, 1.0, 1.0])) == []  # only k=4, 6, ... count
    assert stopped(policy, True, runs([0.0] * 4, [1.0] * 4)) == [0]
    reason = stop_reason(policy, True, runs([0.0] * 4, [1.0] * 4)[0], runs([0.0] * 4, [1.0] * 4))
    assert reason is not None and reason.startswith("at interval 4,")


def test_bandit_judges_a_run_ahead_of_the_others_once_they_report():
    """A poor run that already reported many intervals is stopped when a better one reaches an
    eligible interval it passed, whichever started first."""
    policy = parse_policy("Bandit", {"slack_amount": 0.1, "delay_evaluation": 2})
    assert stopped(policy, True, runs([0.2] * 10, [0.9])) == []
    assert stopped(policy, True, runs([0.2] * 10, [0.9, 0.9])) == [0]


def test_median_stopping():
    policy = parse_policy("MedianStopping", {"delay_evaluation": 2})
    progress = runs([0.1, 0.2], [0.5, 0.6], [0.7, 0.8], finished=(1, 2))
    assert stopped(policy, True, progress) == [0]  # best 0.2 < median(0.55, 0.75)
    assert stopped(policy, False, runs([0.1, 0.2], [0.5, 0.6], [0.7, 0.8])) == [1, 2]
    assert stopped(policy, True, runs([0.1, 0.2])) == [], "nothing to compare with"
    assert parse_policy("MedianStopping", {}).delay_evaluation == 5, "the SDK's default"


def test_truncation_selection():
    policy = parse_policy("TruncationSelection", {"truncation_percentage": 20})
    progress = runs([0.1], [0.2], [0.3], [0.4], [0.5])
    assert stopped(policy, True, progress) == [0]
    assert stopped(policy, False, progress) == [4]
    assert stopped(policy, True, runs([0.5], [0.5], [0.5], [0.5], [0.5])) == [], "ties stop no one"
    assert stopped(policy, True, runs([0.1], [0.2], [0.3], [0.4])) == [], "20% of 4 runs is none"
    excluding = parse_policy("TruncationSelection", {"truncation_percentage": 40, "exclude_finished_jobs": True})
    progress = runs([0.1], [0.2], [0.3], [0.4], [0.5], finished=(0, 1))
    assert stopped(excluding, True, progress) == [0, 1, 2], "finished runs left out: each judged among 4"


@pytest.mark.parametrize(("name", "properties"), [
    ("Bandit", {}), ("Bandit", {"slack_factor": 0.1, "slack_amount": 0.2}), ("Bandit", {"slack_factor": -1}),
    ("TruncationSelection", {}), ("TruncationSelection", {"truncation_percentage": 100}),
    ("MedianStopping", {"evaluation_interval": 0}), ("Sometimes", {}),
])
def test_bad_policies(name, properties):
    with pytest.raises(BadRequest):
        parse_policy(name, properties)


def test_policy_names_are_read_loosely():
    assert parse_policy("BANDIT", {"slack_factor": 0.1}).name == "Bandit"
    assert parse_policy("BanditPolicy", {"slack_factor": 0.1}).name == "Bandit"
    assert parse_policy("MEDIAN_STOPPING", {}).name == "MedianStopping"
    assert parse_policy("DEFAULT", None).name == "Default"


# --- parameter expressions -----------------------------------------------------------------------

SPACE = {"--lr": ["loguniform", [-6, -1]], "--q": ["quniform", [0, 10, 2]], "--n": ["randint", [5]],
         "--mu": ["normal", [10, 2]], "--act": ["choice", [["relu", "tanh"]]], "--ql": ["qlognormal", [0, 1, 0.5]]}


@pytest.mark.parametrize("generator", [RANDOM, BAYESIAN])
def test_values_stay_in_their_ranges(generator):
    space = parse_space(SPACE, generator)
    past: list[PastTrial] = []
    for new in sample(generator, space, True, 7, past, 12):
        values = space.hyperparameters(new.params)
        assert math.exp(-6) <= values["--lr"] <= math.exp(-1)
        assert values["--q"] in (0, 2, 4, 6, 8, 10) and isinstance(values["--q"], int)
        assert values["--n"] in range(5)
        assert isinstance(values["--mu"], float)
        assert values["--act"] in ("relu", "tanh")
        assert values["--ql"] >= 0 and round(values["--ql"] / 0.5, 9).is_integer()
        past.append(PastTrial(new.params, new.sampler_attrs, "COMPLETE", values["--mu"]))
    assert space.arguments(space.hyperparameters(past[0].params))[:2][0] == "--lr"


def test_replayed_random_study_draws_new_values():
    space = parse_space({"x": ["uniform", [0, 1]]}, RANDOM)
    first = sample(RANDOM, space, True, 1, [], 3)
    past = [PastTrial(t.params, t.sampler_attrs, "RUNNING") for t in first]
    second = sample(RANDOM, space, True, 1, past, 3)
    drawn = [t.params["x"] for t in first + second]
    assert len(set(drawn)) == 6
    assert space.arguments({"x": 0.5}) == ["--x", 0.5], "a bare name becomes --name"


def test_grid_covers_every_point_once_across_rebuilds():
    space = parse_space({"--a": ["choice", [[1, 2, 3]]], "--b": ["choice", [["x", "y"]]]}, GRID)
    assert space.grid_size == 6
    past: list[PastTrial] = []
    for count in (2, 1, 3):  # generated over three ticks, each replaying the trials before it
        for new in sample(GRID, space, True, 11, past, count):
            past.append(PastTrial(new.params, new.sampler_attrs, "RUNNING"))
    points = [tuple(space.hyperparameters(t.params).values()) for t in past]
    assert sorted(points) == sorted(itertools.product([1, 2, 3], ["x", "y"]))


@pytest.mark.parametrize(("space", "generator"), [
    ({"--x": ["gaussian", [0, 1]]}, RANDOM),
    ({"--x": ["uniform", [0, 1]]}, GRID),
    ({"--x": ["uniform", [1, 0]]}, RANDOM),
    ({"--x": ["normal", [0, 0]]}, RANDOM),
    ({"--x": ["randint", [0]]}, RANDOM),
    ({"--x": ["quniform", [0, 1]]}, RANDOM),
    ({"--x": ["choice", [[]]]}, RANDOM),
    ({"--x": "uniform"}, RANDOM),
    ({}, RANDOM),
])
def test_bad_spaces(space, generator):
    with pytest.raises(BadRequest):
        parse_space(space, generator)
