"""Objective configs are validated where they are written, and the shipped presets check and preview."""

from __future__ import annotations

from pathlib import Path

import birdie_objectives_text.plugin as text_plugin
import pytest
import yaml
from birdie_objectives_text import Autoencoding, Copying, Deshuffling, SelectiveCopying, SpanCorruption

from birdie_core.config import load_config
from birdie_core.errors import ConfigError
from birdie_core.pipeline import preview
from birdie_core.registry import load_registry

ROOT = Path(__file__).resolve().parents[3]
PRESETS = ("ul2.yaml", "ul2_decoder.yaml", "birdie.yaml")
from birdie_core.testing import config_issues


@pytest.fixture(scope="module")
def registry():
    # the core and this plugin only: the tests must pass without any other plugin installed
    return load_registry(autoload=False, extra_plugins={"text": text_plugin})


def check(registry, *objectives, sequence_length=512):
    return load_config({"sequence_length": sequence_length, "objectives": list(objectives)}, registry)


def problems(registry, *objectives, **kw) -> str:
    with pytest.raises(ConfigError) as info:
        check(registry, *objectives, **kw)
    return str(info.value)


def test_every_objective_is_registered_under_text(registry):
    for name in ("infilling", "copying", "deshuffling", "autoencoding", "selective_copying"):
        assert registry.find("objective", name).qualified_name == f"text.{name}"
    # the core's, not duplicated
    assert registry.find("objective", "prefix_lm").qualified_name == "core.prefix_lm"
    assert registry.find("objective", "next_token_prediction").qualified_name == "core.next_token_prediction"


def test_defaults_are_the_papers():
    infill = SpanCorruption.Config(name="infilling")
    assert (infill.corruption_rate, infill.mean_span) == (0.15, 3.0)
    deshuffle = Deshuffling.Config(name="deshuffling")
    assert (deshuffle.unit, deshuffle.fraction) == ("characters", 0.5)
    auto = Autoencoding.Config(name="autoencoding")
    assert (auto.corruption_rate, auto.mean_span, auto.shuffle_spans) == (0.15, 3.0, False)
    sc = SelectiveCopying.Config(name="selective_copying")
    assert (sc.spans, sc.span_length, sc.delimiter_length, sc.instruction_at_end) == (
        (1, 4),
        (4, 32),
        (1, 8),
        0.5,
    )
    assert Copying.Config(name="copying").length is None


@pytest.mark.parametrize("rate", [0.0, 1.0, -0.1, 1.5])
@pytest.mark.parametrize("name", ["infilling", "autoencoding"])
def test_a_rate_outside_zero_one_is_an_error_naming_the_field(registry, name, rate):
    message = problems(registry, {"name": name, "corruption_rate": rate})
    assert "objectives[0].corruption_rate" in message


def test_deshuffling_fraction_is_in_zero_one(registry):
    assert "objectives[0].fraction" in problems(registry, {"name": "deshuffling", "fraction": 0})
    assert "objectives[0].fraction" in problems(registry, {"name": "deshuffling", "fraction": 1.01})
    check(registry, {"name": "deshuffling", "fraction": 1.0})
    assert "objectives[0].unit" in problems(registry, {"name": "deshuffling", "unit": "words"})


@pytest.mark.parametrize("name", ["infilling", "autoencoding"])
def test_a_span_longer_than_the_length_range_is_an_error(registry, name):
    message = problems(registry, {"name": name, "mean_span": 64, "length": [16, 32]})
    assert "objectives[0].mean_span" in message and "longer than the length range" in message


def test_selective_copying_spans_must_fit_the_context(registry):
    message = problems(registry, {"name": "selective_copying", "span_length": [40, 50], "length": [20, 41]})
    assert "objectives[0].span_length" in message
    assert "objectives[0].spans" in problems(registry, {"name": "selective_copying", "spans": [3, 2]})
    assert "objectives[0].delimiter_length" in problems(
        registry, {"name": "selective_copying", "delimiter_length": [0, 8]}
    )
    cfg = check(registry, {"name": "selective_copying", "spans": 2})
    assert cfg.objectives[0].spans == (2, 2)


@pytest.mark.parametrize("name", ["infilling", "copying", "deshuffling", "autoencoding", "selective_copying"])
def test_an_empty_paradigm_marker_is_an_error(registry, name):
    assert "objectives[0].paradigm" in problems(registry, {"name": name, "paradigm": "  "})


@pytest.mark.parametrize(
    ("entry", "field"),
    [
        ({"name": "autoencoding", "mask_marker": ""}, "mask_marker"),
        ({"name": "autoencoding", "mask_marker": "[X]", "paradigm": "[X]"}, "mask_marker"),
        ({"name": "selective_copying", "done_marker": " "}, "done_marker"),
        ({"name": "selective_copying", "end_marker": "[COPY]"}, "end_marker"),
        ({"name": "selective_copying", "context_marker": "[S]", "paradigm": "[S]"}, "context_marker"),
    ],
)
def test_marker_names_are_validated(registry, entry, field):
    assert f"objectives[0].{field}" in problems(registry, entry)


def test_a_length_too_short_for_the_objective_is_an_error(registry):
    assert "objectives[0].length" in problems(registry, {"name": "infilling", "length": [2, 5]})
    assert "objectives[0].length" in problems(registry, {"name": "copying", "length": [1, 3]})


def test_misspelt_parameters_are_errors_with_a_suggestion(registry):
    message = problems(
        registry, {"name": "infilling", "corruption_rat": 0.2}, {"name": "selective_copying", "span": 2}
    )
    assert "did you mean 'corruption_rate'" in message and "did you mean 'spans'" in message


def test_every_error_is_reported_at_once(registry):
    message = problems(
        registry,
        {"name": "infilling", "corruption_rate": 2},
        {"name": "autoencoding", "mean_span": 0.5},
        {"name": "selective_copying", "instruction_at_end": 3},
    )
    for path in (
        "objectives[0].corruption_rate",
        "objectives[1].mean_span",
        "objectives[2].instruction_at_end",
    ):
        assert path in message


def test_derived_ids_tell_configurations_apart(registry):
    cfg = check(
        registry,
        {"name": "infilling", "corruption_rate": 0.15, "mean_span": 3},
        {"name": "infilling", "corruption_rate": 0.5, "mean_span": 3},
    )
    ids = [o.id for o in cfg.objectives]
    assert len(set(ids)) == 2 and all("corruption_rate" in i for i in ids)


def _preset(name: str, registry) -> dict:
    data = yaml.safe_load((ROOT / "configs" / name).read_text())
    # birdie.yaml may name the `birdie` agent of birdie-rewards, which these tests do not assume installed
    agent = data["curriculum"]["agent"]["name"]
    if registry.find("agent", agent) is None:
        data["curriculum"] = {**data["curriculum"], "agent": {"name": "static"}, "reward": None}
    return data


@pytest.mark.parametrize("name", PRESETS)
def test_presets_check_and_preview(registry, name):
    cfg = load_config(_preset(name, registry), registry)
    shown = preview(cfg, registry, per_objective=1)
    assert {i.arm for i in shown.items} == {o.id for o in cfg.objectives}, (
        "every configuration shows an example"
    )
    for item in shown.items:
        assert item.prefix and item.target
    assert shown.efficiency > 0.9


def test_ul2_preset_has_the_papers_denoisers(registry):
    cfg = load_config(_preset("ul2.yaml", registry), registry)
    infilling = sorted(
        (o.corruption_rate, o.mean_span, o.paradigm) for o in cfg.objectives if o.name == "text.infilling"
    )
    assert infilling == sorted(
        [
            (0.15, 3, "[R]"),
            (0.15, 8, "[R]"),
            (0.5, 3, "[X]"),
            (0.5, 8, "[X]"),
            (0.15, 64, "[X]"),
            (0.5, 64, "[X]"),
        ]
    )
    (s,) = [o for o in cfg.objectives if o.name == "core.prefix_lm"]
    assert (s.prefix_fraction, s.paradigm) == (0.75, "[S]")


def test_birdie_preset_has_every_class_and_grid(registry):
    cfg = load_config(_preset("birdie.yaml", registry), registry)
    by_class: dict[str, list] = {}
    for o in cfg.objectives:
        by_class.setdefault(o.name, []).append(o)
    counts = {k: len(v) for k, v in by_class.items()}
    assert counts == {
        "core.next_token_prediction": 1,
        "core.prefix_lm": 2,
        "text.infilling": 36,
        "text.copying": 2,
        "text.deshuffling": 4,
        "text.autoencoding": 36,
        "text.selective_copying": 2,
    }
    grid = {(o.corruption_rate, o.mean_span, o.length) for o in by_class["text.infilling"]}
    assert len(grid) == 36
    assert {o.shuffle_spans for o in by_class["text.autoencoding"]} == {False, True}


def test_a_bool_or_float_for_an_int_and_inf_for_a_float_are_errors_at_their_paths(registry):
    # YAML reads `true` and `1.0e+9` as a bool and a float; pydantic's lax mode would take them as 1 and 10**9
    issues = config_issues(
        "objectives:\n"
        "  - {name: selective_copying, max_attempts: true}\n"
        "  - {name: selective_copying, max_attempts: 1.0e+9}\n"
        "  - {name: infilling, mean_span: .inf}\n"
        "  - {name: deshuffling, fraction: .nan}\n",
        registry,
    )
    assert "boolean" in issues["objectives[0].max_attempts"]
    assert "integer" in issues["objectives[1].max_attempts"]
    assert "finite" in issues["objectives[2].mean_span"]
    assert "objectives[3].fraction" in issues
