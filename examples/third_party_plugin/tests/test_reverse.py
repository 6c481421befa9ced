"""The example plugin passes Birdie's conformance suite and is discovered through its real entry point."""

from __future__ import annotations

from importlib import metadata

import numpy as np

from birdie_core import load_registry
from birdie_core.testing import ObjectiveConformance
from birdie_reversal.objective import Reverse


class TestReverseConformance(ObjectiveConformance):
    def make_objective(self):
        return Reverse(Reverse.Config(name="reversal.reverse", length=(4, 64)))


def test_entry_point_is_installed_and_registers_the_objective():
    eps = {e.name: e for e in metadata.entry_points(group="birdie")}
    assert eps["reversal"].value == "birdie_reversal.plugin"
    entry = load_registry().resolve("objective", "reverse")
    assert entry.qualified_name == "reversal.reverse"
    assert entry.distribution == "birdie-reversal"
    assert entry.obj is Reverse


def test_target_is_the_input_span_reversed():
    from birdie_core.builtins.tokenizers import ByteTokenizer
    from birdie_core.interfaces import ObjectiveContext

    tok = ByteTokenizer(specials=["<|gen|>"])
    ctx = ObjectiveContext(tok, np.random.default_rng(0), tok.special_id("<|gen|>"))
    obj = Reverse(Reverse.Config(name="reversal.reverse", length=(5, 5)))
    ex, rest = obj.build(tok.encode("abcdefgh"), 64, ctx)
    assert tok.decode(ex.target) == "edcba"
    assert tok.decode(ex.prefix) == "abcde<|gen|>"
    assert tok.decode(rest) == "fgh"


def test_min_tokens_must_be_an_integer(tmp_path):
    import pytest

    from birdie_core import ConfigError, load_config

    # YAML reads `true` and `4.0` as a bool and a float; pydantic's lax mode would take them as 1 and 4
    path = tmp_path / "strict.yaml"
    path.write_text(
        "objectives:\n  - {name: reverse, min_tokens: true}\n  - {name: reverse, min_tokens: 4.0}\n"
        "  - {name: reverse, prob: .inf}\n"
    )
    with pytest.raises(ConfigError) as info:
        load_config(path, load_registry())
    issues = {i.path: i.message for i in info.value.issues}
    assert "boolean" in issues["objectives[0].min_tokens"]
    assert "integer" in issues["objectives[1].min_tokens"]
    assert "finite" in issues["objectives[2].prob"]
