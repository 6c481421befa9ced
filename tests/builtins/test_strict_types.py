"""The builtins' int fields refuse booleans and floats, and their float fields refuse inf and nan."""

from __future__ import annotations

import pytest

from birdie_core import load_registry
from birdie_core.testing import config_issues


@pytest.fixture(scope="module")
def core():
    return load_registry(autoload=False)


def test_a_bool_or_float_for_an_int_and_inf_for_a_float_are_errors_at_their_paths(core):
    # YAML reads `true` and `2.0` as a bool and a float; pydantic's lax mode would take them as 1 and 2
    issues = config_issues(
        "data:\n"
        "  train: {name: embedded, repeat: 2.0}\n"
        "  validation: {name: callable, function: 'json:loads', seed: true}\n"
        "packer: {name: best_fit, min_space: true, min_fill: .inf}\n"
        "objectives:\n"
        "  - {name: prefix_lm, prefix_fraction: .nan}\n"
        "curriculum:\n"
        "  agent: {name: static, probs: {prefix_lm: .inf}}\n",
        core,
    )
    assert "integer" in issues["data.train.repeat"]
    assert "boolean" in issues["data.validation.seed"]
    assert "boolean" in issues["packer.min_space"]
    assert "finite" in issues["packer.min_fill"]
    assert "objectives[0].prefix_fraction" in issues
    assert "finite" in issues["curriculum.agent.probs.prefix_lm"]
