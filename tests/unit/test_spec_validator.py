"""The swagger response validator must catch what it is there to catch (it guards every other test)."""

from __future__ import annotations

import json

import pytest

from tests.spec import SPECS_ROOT, SpecValidator

VALIDATOR = SpecValidator()
WORKSPACE = "/subscriptions/s/resourceGroups/r/providers/Microsoft.MachineLearningServices/workspaces/w"


def test_all_104_operations_are_indexed():
    assert len(VALIDATOR.operations) == 104


def test_spec_examples_validate():
    example = json.loads((SPECS_ROOT / "resource-manager/2019-11-01/examples/getAmlCompute.json").read_text())
    body = example["responses"]["200"]["body"]
    assert VALIDATOR.validate("GET", f"{WORKSPACE}/computes/compute123", 200, body).operation_id == \
        "MachineLearningCompute_Get"


def test_wrong_enum_and_type_are_caught():
    with pytest.raises(AssertionError, match="provisioningState"):
        VALIDATOR.validate("GET", WORKSPACE, 200, {"properties": {"provisioningState": "Bogus"}})
    with pytest.raises(AssertionError, match="creationTime"):
        VALIDATOR.validate("GET", WORKSPACE, 200, {"properties": {"creationTime": 5}})


def test_discriminated_subtype_is_checked():
    with pytest.raises(AssertionError, match="maxNodeCount"):
        VALIDATOR.validate("GET", f"{WORKSPACE}/computes/c", 200,
                           {"properties": {"computeType": "AmlCompute", "properties": {"scaleSettings": {}}}})


def test_undeclared_status_is_caught():
    with pytest.raises(AssertionError, match="does not declare status 201"):
        VALIDATOR.validate("POST", f"{WORKSPACE}/listKeys", 201, {})


def test_unknown_operations_are_not_judged():
    assert VALIDATOR.validate("GET", "/subscriptions/s/resourceGroups", 200, {"anything": 1}) is None
