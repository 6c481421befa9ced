"""The configuration layer: YAML lines, per-plugin validation, all errors at once, ids, schema, round trip.

Registries are built explicitly (``load_registry(autoload=False, ...)``) so the results do not depend on which
plugin distributions happen to be installed; the text/rewards components are small stand-ins defined here.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import yaml
from pydantic import Field, ValidationError

from birdie_core.config import (
    FlatFormWarning,
    PipelineConfig,
    assign_objective_ids,
    config_schema,
    format_path,
    load_config,
    load_yaml_with_lines,
    read_config,
    resolved_config,
    save_resolved_config,
)
from birdie_core.errors import ConfigError
from birdie_core.hookspecs import hookimpl
from birdie_core.interfaces import Agent, AgentConfig, Objective, ObjectiveConfig, RewardConfig
from birdie_core.registry import load_registry
from tests.support import TESTS

CONFIGS = TESTS / "data" / "configs"


# ---------------------------------------------------------------------------------------------------------
# Stand-in plugins
# ---------------------------------------------------------------------------------------------------------


class FakeInfilling(Objective):
    class Config(ObjectiveConfig):
        corruption_rate: float = Field(0.15, gt=0.0, lt=1.0)
        mean_span: int = Field(3, ge=1)

    def build(self, tokens, budget, ctx):  # pragma: no cover - configs only
        return None, tokens


class FakeBirdieAgent(Agent):
    class Config(AgentConfig):
        exploration: float = Field(0.5, ge=0.0, le=1.0)

    def decide(self, step, losses, rewards):  # pragma: no cover - configs only
        raise NotImplementedError


class FakeBirdieReward:
    class Config(RewardConfig):
        scale: float = 100.0


class TextPlugin:
    @hookimpl
    def birdie_register_objectives(self, register):
        register("infilling", FakeInfilling)


class RewardsPlugin:
    @hookimpl
    def birdie_register_agents(self, register):
        register("birdie", FakeBirdieAgent)

    @hookimpl
    def birdie_register_reward_fns(self, register):
        register("birdie", FakeBirdieReward)


class Masking(Objective):
    class Config(ObjectiveConfig):
        rate: float = 0.5

    def build(self, tokens, budget, ctx):  # pragma: no cover - configs only
        return None, tokens


class MaskingPlugin:
    @hookimpl
    def birdie_register_objectives(self, register):
        register("masking", Masking)


@pytest.fixture(scope="module")
def core():
    return load_registry(autoload=False)


@pytest.fixture(scope="module")
def full():
    return load_registry(autoload=False, extra_plugins={"text": TextPlugin(), "rewards": RewardsPlugin()})


def line_of(path: Path, needle: str) -> int:
    """1-based number of the only line of ``path`` containing ``needle``."""
    hits = [i for i, line in enumerate(path.read_text().splitlines(), 1) if needle in line]
    assert len(hits) == 1, (needle, hits)
    return hits[0]


def issues_by_path(err: ConfigError) -> dict[str, object]:
    by_path = {i.path: i for i in err.issues}
    assert len(by_path) == len(err.issues), [i.render() for i in err.issues]
    return by_path


# ---------------------------------------------------------------------------------------------------------
# Valid configs
# ---------------------------------------------------------------------------------------------------------


def test_quickstart_validates_with_qualified_names_and_ids(full):
    cfg = load_config(CONFIGS / "quickstart.yaml", full)
    assert cfg.batch_size == 8 and cfg.sequence_length == 512 and cfg.seed == 0
    assert cfg.tokenizer.name == "core.bytes"
    assert cfg.data.train.name == "core.embedded" and cfg.data.validation.split == "validation"
    assert [o.name for o in cfg.objectives] == [
        "core.next_token_prediction",
        "core.prefix_lm",
        "text.infilling",
        "text.infilling",
        "text.infilling",
    ]
    assert isinstance(cfg.objectives[2], FakeInfilling.Config)
    assert cfg.objectives[0].length == (128, 256)
    assert [o.id for o in cfg.objectives] == [
        "next_token_prediction",
        "prefix_lm",
        "r_short",
        "infilling(corruption_rate=0.5,mean_span=32)",
        "infilling(corruption_rate=0.15,mean_span=8)",
    ]
    assert cfg.packer.name == "core.best_fit"
    assert cfg.curriculum.agent.name == "rewards.birdie" and isinstance(
        cfg.curriculum.agent, FakeBirdieAgent.Config
    )
    assert cfg.curriculum.reward.name == "rewards.birdie"
    assert cfg.curriculum.steps_between_evaluations == 50 and cfg.curriculum.num_steps == 600
    assert cfg.workers.num_workers == 2 and cfg.workers.prefetch_factor == 2
    assert cfg.train.model.width == 128 and cfg.train.optimizer.lr == pytest.approx(3e-4)
    assert cfg.train.output == "runs/quickstart" and cfg.train.steps is None


def test_defaults(core):
    cfg = load_config({}, core)
    assert (cfg.seed, cfg.batch_size, cfg.sequence_length) == (0, 8, 512)
    assert cfg.start_generating_paradigm == "<|gen|>"
    assert cfg.tokenizer.name == "core.bytes"
    assert (cfg.data.train.name, cfg.data.train.split) == ("core.embedded", "train")
    assert (cfg.data.validation.name, cfg.data.validation.split) == ("core.embedded", "validation")
    assert [(o.name, o.id) for o in cfg.objectives] == [
        ("core.next_token_prediction", "next_token_prediction")
    ]
    assert cfg.packer.name == "core.best_fit"
    assert cfg.curriculum.agent.name == "core.static" and cfg.curriculum.reward is None
    assert (cfg.curriculum.steps_between_evaluations, cfg.curriculum.num_steps) == (100, 1000)
    assert (cfg.workers.num_workers, cfg.workers.prefetch_factor) == (0, 2)
    assert cfg.train is None
    assert load_config(cfg) is cfg


def test_empty_sections_and_null_validation(core, tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("curriculum:\nworkers:\ndata:\n  validation: null\ntrain: {}\n")
    cfg = load_config(path, core)
    assert cfg.data.validation is None and cfg.data.train.name == "core.embedded"
    assert cfg.curriculum.num_steps == 1000 and cfg.train.model.heads == 4


def test_bare_and_qualified_names_give_the_same_config(full):
    bare = load_config(
        {"objectives": [{"name": "infilling", "mean_span": 8}], "tokenizer": {"name": "bytes"}}, full
    )
    qualified = load_config(
        {"objectives": [{"name": "text.infilling", "mean_span": 8}], "tokenizer": {"name": "core.bytes"}},
        full,
    )
    assert bare == qualified
    assert bare.objectives[0].name == "text.infilling" and bare.objectives[0].id == "infilling"


def test_ambiguous_bare_name_is_an_error_naming_both():
    reg = load_registry(autoload=False, extra_plugins={"alpha": MaskingPlugin(), "beta": MaskingPlugin()})
    with pytest.raises(ConfigError) as info:
        load_config({"objectives": [{"name": "next_token_prediction"}, {"name": "masking"}]}, reg)
    (issue,) = info.value.issues
    assert issue.path == "objectives[1].name"
    assert (
        "ambiguous" in issue.message and "alpha.masking" in issue.message and "beta.masking" in issue.message
    )

    cfg = load_config({"objectives": [{"name": "alpha.masking"}, {"name": "beta.masking", "rate": 0.1}]}, reg)
    # the two plugins share the bare name, so ids fall back to the qualified names
    assert [o.id for o in cfg.objectives] == ["alpha.masking", "beta.masking"]
    schema = config_schema(reg)
    names = _variant_names(schema, schema["properties"]["objectives"]["items"])
    assert ["alpha.masking"] in names and ["beta.masking"] in names  # no bare alias for an ambiguous name


def test_a_broken_plugin_fails_only_the_configs_that_need_it():
    class Broken:
        @hookimpl
        def birdie_register_objectives(self, register):
            raise RuntimeError("boom")

    reg = load_registry(autoload=False, extra_plugins={"text": Broken()})
    assert load_config({"objectives": [{"name": "prefix_lm"}]}, reg).objectives[0].name == "core.prefix_lm"
    with pytest.raises(ConfigError) as info:
        load_config({"objectives": [{"name": "next_token_prediction"}, {"name": "text.copying"}]}, reg)
    (issue,) = info.value.issues
    assert issue.path == "objectives[1].name"
    assert "plugin 'text'" in issue.message and "failed to load" in issue.message and "boom" in issue.message


def test_missing_required_parameter_points_at_the_entry(core, tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("seed: 0\ndata:\n  train:\n    name: callable\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, core)
    (issue,) = info.value.issues
    assert issue.path == "data.train.function" and issue.message == "missing required key 'function'"
    assert issue.line == 3  # the entry's key: `function` itself is not written anywhere


def test_steps_between_evaluations_accepts_a_schedule(core):
    cfg = load_config({"curriculum": {"steps_between_evaluations": [10, 50, 250]}}, core)
    assert cfg.curriculum.steps_between_evaluations == (10, 50, 250)


def test_direct_construction_from_dicts_points_at_load_config(core):
    # one validation path: the models never consult a registry themselves
    with pytest.raises(ValidationError, match=r"build a pipeline config with birdie_core.load_config"):
        PipelineConfig(
            tokenizer={"name": "bytes"},
            data={"train": {"name": "embedded"}, "validation": None},
            objectives=[{"name": "next_token_prediction"}],
            packer={"name": "best_fit"},
            curriculum={"agent": {"name": "static"}},
        )
    cfg = load_config({}, core)
    assert load_config(resolved_config(cfg), core) == cfg


def test_flat_form_objects_are_not_dropped_by_load_config(core):
    with pytest.raises(ConfigError) as info, pytest.warns(FlatFormWarning):
        load_config({"tokenizer": _OriginalTokenizer(), "batch_size": 2}, core)
    [issue] = info.value.issues
    assert issue.path == "tokenizer" and "read_config" in issue.message and "Birdie(" in issue.message


# ---------------------------------------------------------------------------------------------------------
# Errors: all at once, with paths and lines
# ---------------------------------------------------------------------------------------------------------


def test_many_mistakes_are_reported_at_once_with_lines(core):
    path = CONFIGS / "many_mistakes.yaml"
    with pytest.raises(ConfigError) as info:
        load_config(path, core)
    issues = issues_by_path(info.value)
    expected = {
        "batch_size": ("batch_size: eight", "valid integer"),
        "sequence_lenght": ("sequence_lenght", "did you mean 'sequence_length'?"),
        "objectives[0].prob": ("prob: -0.5", "greater than or equal to 0"),
        "objectives[1].name": ("prefix_lmm", "did you mean 'prefix_lm'?"),
        "objectives[2].name": ("name: infilling", "birdie-objectives-text"),
        "objectives[3].name": ('paradigm: "[S]"', "missing 'name'"),
        "objectives[4].lenght": ("lenght: [16", "did you mean 'length'?"),
        "curriculum.agent.name": ("agent: {name: birdie}", "birdie-rewards"),
        "curriculum.steps_between_evaluations": ("[50, 10]", "strictly increasing"),
        "curriculum.num_steps": ("num_steps: 0", "greater than or equal to 1"),
        "workers.num_wrokers": ("num_wrokers", "did you mean 'num_workers'?"),
        "train.optimizer.lr": ("lr: -1", "greater than 0"),
    }
    assert set(issues) == set(expected)
    for p, (needle, words) in expected.items():
        issue = issues[p]
        assert words in issue.message, (p, issue.message)
        assert issue.line == line_of(path, needle), (p, issue.line)
        assert issue.source == str(path)
    # the exact key, not just its line: `lr` inside the flow mapping on its line
    assert issues["train.optimizer.lr"].column == line_text(path, "lr: -1").index("lr") + 1
    assert issues["curriculum.agent.name"].column == line_text(path, "agent:").index("name") + 1
    # one error, rendered in file order, every problem on its own line
    text = str(info.value)
    assert text.startswith("12 problems in the configuration:")
    assert f"{path}:{line_of(path, 'batch_size')}:1: batch_size:" in text
    assert [i.line for i in info.value.issues] == sorted(i.line for i in info.value.issues)


def line_text(path: Path, needle: str) -> str:
    return path.read_text().splitlines()[line_of(path, needle) - 1]


def test_yaml_syntax_error_has_file_line_and_column(core):
    path = CONFIGS / "broken_syntax.yaml"
    with pytest.raises(ConfigError) as info:
        load_config(path, core)
    (issue,) = info.value.issues
    assert issue.source == str(path)
    assert (issue.line, issue.column) == (4, 7)
    assert "invalid YAML" in issue.message and "line 3" in issue.message
    assert info.value.__cause__ is None and info.value.__suppress_context__  # no YAML traceback chained


def test_missing_file_is_a_config_error(core, tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "nope.yaml", core)


def test_wrong_shapes(core, tmp_path):
    path = tmp_path / "list.yaml"
    path.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="must be a mapping"):
        load_config(path, core)
    with pytest.raises(ConfigError) as info:
        load_config({"objectives": "next_token_prediction", "packer": "best_fit", "data": 3}, core)
    issues = issues_by_path(info.value)
    assert "must be a list" in issues["objectives"].message
    assert "expected a packer entry like {name: ...}" in issues["packer"].message
    assert "valid dictionary" in issues["data"].message
    with pytest.raises(ConfigError, match="needs at least one objective"):
        load_config({"objectives": []}, core)


def test_component_parameters_are_validated_by_their_plugin(full):
    with pytest.raises(ConfigError) as info:
        load_config(
            {
                "objectives": [
                    {"name": "infilling", "corruption_rat": 0.2},
                    {"name": "infilling", "corruption_rate": 1.5, "length": [1, "x"]},
                ],
                "curriculum": {"agent": {"name": "birdie", "exploration": 2}},
            },
            full,
        )
    issues = issues_by_path(info.value)
    assert "unknown key 'corruption_rat' for objective 'text.infilling'; did you mean 'corruption_rate'?" == (
        issues["objectives[0].corruption_rat"].message
    )
    assert "less than 1" in issues["objectives[1].corruption_rate"].message
    assert "valid integer" in issues["objectives[1].length[1]"].message
    assert "less than or equal to 1" in issues["curriculum.agent.exploration"].message
    assert all(i.line is None for i in info.value.issues)  # a dict has no lines


def test_cross_field_checks(core):
    with pytest.raises(ConfigError) as info:
        load_config(
            {
                "sequence_length": 128,
                "objectives": [
                    {"name": "next_token_prediction", "prob": 0, "length": [16, 64]},
                    {"name": "prefix_lm", "prob": 0.0, "length": [64, 256]},
                ],
            },
            core,
        )
    issues = issues_by_path(info.value)
    assert set(issues) == {"objectives", "objectives[1].length"}
    assert "at least one needs prob > 0" in issues["objectives"].message
    assert "exceeds sequence_length 128" in issues["objectives[1].length"].message


def test_duplicate_ids_and_duplicate_yaml_keys(core, tmp_path):
    path = tmp_path / "dup.yaml"
    path.write_text(
        "seed: 1\n"
        "objectives:\n"
        "  - {name: next_token_prediction, id: a}\n"
        "  - {name: prefix_lm, id: a}\n"
        "seed: 2\n"
    )
    with pytest.raises(ConfigError) as info:
        load_config(path, core)
    issues = issues_by_path(info.value)
    assert (
        issues["objectives[1].id"].line == 4
        and "duplicate objective id 'a'" in issues["objectives[1].id"].message
    )
    assert "objectives[0]" in issues["objectives[1].id"].message
    assert issues["seed"].line == 5 and "given twice" in issues["seed"].message


# ---------------------------------------------------------------------------------------------------------
# Objective ids
# ---------------------------------------------------------------------------------------------------------


def _inf(**kw) -> FakeInfilling.Config:
    return FakeInfilling.Config(name="text.infilling", **kw)


def test_id_derivation():
    ntp = ObjectiveConfig(name="core.next_token_prediction")
    configs, problems = assign_objective_ids(
        [
            ntp,
            _inf(corruption_rate=0.15, mean_span=3),
            _inf(corruption_rate=0.5, mean_span=3),
            _inf(id="mine"),
        ]
    )
    assert problems == []
    assert [c.id for c in configs] == [
        "next_token_prediction",
        "infilling(corruption_rate=0.15)",  # only the parameter that differs
        "infilling(corruption_rate=0.5)",
        "mine",
    ]
    # identical entries (prob is not a parameter) fall back to #k; a user id is never renamed
    configs, problems = assign_objective_ids(
        [_inf(prob=1.0), _inf(prob=2.0), ntp.model_copy(update={"id": "infilling#1"})]
    )
    assert problems == []
    assert [c.id for c in configs] == ["infilling#2", "infilling#3", "infilling#1"]
    # a derived id that a user id already holds
    configs, _ = assign_objective_ids([ntp.model_copy(update={"id": "infilling"}), _inf()])
    assert [c.id for c in configs] == ["infilling", "infilling#1"]
    # ids are stable: same entries, same ids
    assert (
        assign_objective_ids([_inf(), _inf(mean_span=8)])[0]
        == assign_objective_ids([_inf(), _inf(mean_span=8)])[0]
    )
    assert [c.id for c in assign_objective_ids([_inf(length=(1, 2)), _inf(length=(3, 4))])[0]] == [
        "infilling(length=[1,2])",
        "infilling(length=[3,4])",
    ]


def test_duplicate_user_ids_are_problems_on_the_later_entry():
    _, problems = assign_objective_ids([_inf(id="x"), _inf(id="y"), _inf(id="x")], indices=[0, 2, 5])
    assert problems == [(5, "duplicate objective id 'x' (also the id of objectives[0])")]


# ---------------------------------------------------------------------------------------------------------
# Resolved config, schema, YAML positions
# ---------------------------------------------------------------------------------------------------------


def test_resolved_config_round_trips(full, tmp_path):
    cfg = load_config(CONFIGS / "quickstart.yaml", full)
    resolved = resolved_config(cfg)
    assert resolved["objectives"][3]["name"] == "text.infilling"
    assert resolved["objectives"][3]["id"] == "infilling(corruption_rate=0.5,mean_span=32)"
    assert resolved["objectives"][0]["length"] == [128, 256]
    assert resolved["train"]["optimizer"]["betas"] == [0.9, 0.95]  # defaults written out
    assert resolved["curriculum"]["reward"]["scale"] == 100.0  # subclass fields are not dropped
    assert load_config(resolved, full) == cfg

    path = save_resolved_config(cfg, tmp_path / "run")
    assert path == tmp_path / "run" / "config.resolved.yaml"
    assert yaml.safe_load(path.read_text()) == resolved
    assert load_config(path, full) == cfg


def _variant_names(schema: dict, slot: dict) -> list[list[str]]:
    out = []
    for ref in slot["oneOf"]:
        variant = schema["$defs"][ref["$ref"].rsplit("/", 1)[1]]
        name = variant["properties"]["name"]
        out.append(name["enum"] if "enum" in name else [name["const"]])  # one name is a const
    return out


def test_schema_has_a_union_per_component_slot(full):
    schema = config_schema(full)
    objectives = schema["properties"]["objectives"]
    assert objectives["type"] == "array" and objectives["minItems"] == 1
    names = _variant_names(schema, objectives["items"])
    assert ["text.infilling", "infilling"] in names and ["core.prefix_lm", "prefix_lm"] in names
    assert objectives["items"]["discriminator"]["propertyName"] == "name"
    infilling = next(
        schema["$defs"][r["$ref"].rsplit("/", 1)[1]]
        for r in objectives["items"]["oneOf"]
        if r["$ref"].endswith("Objective_text_infilling")
    )
    assert infilling["additionalProperties"] is False
    assert {"corruption_rate", "mean_span", "prob", "id", "length"} <= set(infilling["properties"])
    assert infilling["properties"]["corruption_rate"]["exclusiveMaximum"] == 1.0

    assert schema["properties"]["tokenizer"]["default"] == {"name": "bytes"}
    assert ["core.bytes", "bytes"] in _variant_names(schema, schema["properties"]["tokenizer"])
    curriculum = schema["$defs"][schema["properties"]["curriculum"]["$ref"].rsplit("/", 1)[1]]
    assert ["rewards.birdie", "birdie"] in _variant_names(schema, curriculum["properties"]["agent"])
    reward = curriculum["properties"]["reward"]["anyOf"]
    assert {"type": "null"} in reward
    data = schema["$defs"][schema["properties"]["data"]["$ref"].rsplit("/", 1)[1]]
    one, domains = data["properties"]["train"]["anyOf"]  # one source, or a list of them (data domains)
    assert ["core.embedded", "embedded"] in _variant_names(schema, one)
    assert domains["type"] == "array" and ["core.embedded", "embedded"] in _variant_names(
        schema, domains["items"]
    )
    domain = schema["$defs"][domains["items"]["oneOf"][0]["$ref"].rsplit("/", 1)[1]]
    assert {"id", "weight", "name"} <= set(domain["properties"]) and "id" in domain["required"]
    assert schema["additionalProperties"] is False and "sequence_length" in schema["properties"]
    assert yaml.safe_load(yaml.safe_dump(schema)) == schema  # plain data


def test_schema_with_core_only_has_no_reward(core):
    schema = config_schema(core)
    curriculum = schema["$defs"][schema["properties"]["curriculum"]["$ref"].rsplit("/", 1)[1]]
    assert curriculum["properties"]["reward"]["type"] == "null"


def test_load_yaml_with_lines_positions_and_merge_keys(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(
        "base: &b {prob: 0.5, mean_span: 3}\n"
        "objectives:\n"
        "  - name: infilling\n"
        "    <<: *b\n"
        "    mean_span: 8\n"
        "  - {name: prefix_lm}\n"
    )
    data, lines = load_yaml_with_lines(path)
    assert data["objectives"][0] == {"name": "infilling", "prob": 0.5, "mean_span": 8}
    assert lines[("objectives",)] == (2, 1)
    assert lines[("objectives", 0)] == (3, 5)
    assert lines[("objectives", 0, "mean_span")] == (5, 5)  # the override, not the merged key
    assert lines[("objectives", 1, "name")] == (6, 6)
    assert lines.locate(("objectives", 1, "paradigm", 0)) == (6, 5)  # nearest enclosing node
    assert lines.duplicates == []  # overriding a merged key is not a duplicate
    assert lines.source == str(path)


def test_format_path():
    assert format_path(("objectives", 2, "corruption_rate")) == "objectives[2].corruption_rate"
    assert format_path(("objectives", 0, "length", 1)) == "objectives[0].length[1]"
    assert format_path(()) == ""


# ---------------------------------------------------------------------------------------------------------
# The original project's flat form
# ---------------------------------------------------------------------------------------------------------


class _OriginalTokenizer:
    def encode(self, text):  # pragma: no cover - kept, not called
        return list(text.encode())

    def decode(self, ids):  # pragma: no cover - kept, not called
        return bytes(ids).decode()


def _documents(split, worker_id, num_workers, rng_seed=0):  # pragma: no cover - kept, not called
    return [{"text": "a cat"}][worker_id::num_workers]


def _grab(x):  # pragma: no cover - kept, not called
    return x["text"]


def test_original_flat_form_is_mapped_with_one_warning(full):
    tokenizer = _OriginalTokenizer()
    accelerator, reward_fn = object(), (lambda old, new: new - old)
    original = {
        "batch_size": 4,
        "sequence_length": 256,
        "num_workers": 2,
        "steps_between_evaluations": 32,
        "num_steps": 640,
        "accelerator": accelerator,
        "tokenizer": tokenizer,
        "objectives": [
            {"name": "next_token_prediction", "prob": 0.6, "paradigm_token": "[C]"},
            {"name": "prefix_language_modeling", "prob": 0.2, "prefix_fraction": 0.75},
            {
                "name": "infilling",
                "prob": 0.2,
                "corruption_rate": 0.15,
                "mean_tokens_per_span": 3,
                "hash_str": "ab",
            },
        ],
        "reward_fn": reward_fn,
        "ds": _documents,
        "text_grabber_fn": _grab,
        "start_generating_paradigm": "\n<|assistant|>\n",
        "seed": 3,
    }
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loaded = read_config(original, full)
    cfg = loaded.config
    flat = [w for w in caught if issubclass(w.category, FlatFormWarning)]
    assert len(flat) == 1
    message = str(flat[0].message)
    assert "accelerator" in message and "reward_fn" in message and "paradigm_token → paradigm" in message

    assert (cfg.batch_size, cfg.sequence_length, cfg.seed) == (4, 256, 3)
    assert cfg.workers.num_workers == 2
    assert (cfg.curriculum.steps_between_evaluations, cfg.curriculum.num_steps) == (32, 640)
    assert cfg.curriculum.agent.name == "rewards.birdie" and cfg.curriculum.reward.name == "rewards.birdie"
    assert cfg.start_generating_paradigm == "\n<|assistant|>\n"
    assert [o.name for o in cfg.objectives] == [
        "core.next_token_prediction",
        "core.prefix_lm",
        "text.infilling",
    ]
    assert cfg.objectives[0].paradigm == "[C]" and cfg.objectives[2].mean_span == 3
    assert [o.prob for o in cfg.objectives] == [0.6, 0.2, 0.2]

    assert cfg.tokenizer.name == "core.bytes" and loaded.objects.tokenizer is tokenizer
    assert loaded.objects.reward_fn is reward_fn
    assert loaded.objects.ds is _documents and loaded.objects.text_grabber_fn is _grab
    train = cfg.data.train
    assert train.name == "core.callable" and train.split == "train"
    assert train.function == f"{__name__}:_documents" and train.text_grabber == f"{__name__}:_grab"
    assert train.seed == 3
    assert cfg.data.validation.split == "validation" and cfg.data.validation.function == train.function
    assert "accelerator" not in resolved_config(cfg)  # only what means something here is kept


def test_original_form_without_rewards_plugin_uses_static_and_still_reports_unknown_keys(core):
    with pytest.warns(FlatFormWarning, match="birdie-rewards"):
        cfg = load_config({"num_workers": 0, "objectives": [{"name": "next_token_prediction"}]}, core)
    assert cfg.curriculum.agent.name == "core.static"
    with pytest.warns(FlatFormWarning), pytest.raises(ConfigError, match="did you mean 'batch_size'"):
        load_config({"num_workers": 0, "batch_sise": 2}, core)
