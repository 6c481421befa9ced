"""The DNA plugin inside Birdie: registration, the YAML presets, whole pipelines on FASTA input."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from birdie_core.config import load_config
from birdie_core.errors import ConfigError
from birdie_core.interfaces import IGNORE_INDEX
from birdie_core.pipeline import Pipeline, preview
from birdie_core.registry import load_registry
from birdie_core.testing import assert_batch_contract, config_issues

from .support import LAMBDA, ROOT, write_fasta

DNA_OBJECTIVES = ["infilling", "autoencoding", "reverse_complement", "selective_copying", "deshuffling"]


@pytest.fixture(scope="module")
def registry():
    """The core and this plugin only, whatever else is installed."""
    return load_registry(allow=["dna"])


def test_the_plugin_registers_its_components_under_dna(registry):
    (info,) = [p for p in registry.plugins if p.namespace == "dna"]
    assert info.error is None and info.distribution == "birdie-objectives-dna"
    assert registry.names("tokenizer") == [
        "core.bytes",
        "core.huggingface",
        "core.sentencepiece",
        "core.tiktoken",
        "dna.nucleotide",
    ]
    assert "dna.fasta" in registry.names("source")
    assert sorted(n for n in registry.names("objective") if n.startswith("dna.")) == sorted(
        f"dna.{n}" for n in DNA_OBJECTIVES
    )


def test_birdie_dna_preset_checks_and_previews_every_objective(registry):
    cfg = load_config(ROOT / "configs" / "birdie_dna.yaml", registry=registry)
    arms = [o.id for o in cfg.objectives]
    result = preview(cfg, registry=registry, per_objective=1)
    assert sorted({i.arm for i in result.items}) == sorted(arms), "every configuration makes an example"
    assert {i.objective for i in result.items} >= {f"dna.{n}" for n in DNA_OBJECTIVES} | {
        "core.next_token_prediction",
        "core.prefix_lm",
    }
    assert result.efficiency > 0.95
    assert_batch_contract(result.batch, num_arms=len(arms))


def test_dna_yaml_names_birdie_rewards_when_it_is_missing(registry):
    with pytest.raises(ConfigError) as e:
        load_config(ROOT / "configs" / "dna.yaml", registry=registry)
    msg = str(e.value)
    assert "birdie-rewards" in msg and "curriculum.agent" in msg
    assert "objectives" not in msg, "everything else in dna.yaml is provided by core + dna"


@pytest.mark.skipif(importlib.util.find_spec("birdie_rewards") is None, reason="birdie-rewards not installed")
def test_dna_yaml_checks_and_previews_with_birdie_rewards():
    reg = load_registry(allow=["dna", "rewards"])
    cfg = load_config(ROOT / "configs" / "dna.yaml", registry=reg)
    assert cfg.curriculum.agent.name == "rewards.birdie" and cfg.train is not None
    result = preview(cfg, registry=reg, per_objective=1)
    assert sorted({i.arm for i in result.items}) == sorted(o.id for o in cfg.objectives)


def pipeline(tmp_path, registry, objectives, *, max_n_run=0, seed=0, tokenizer=None, length=512):
    seq = (
        LAMBDA[:3000]
        + "N" * 40
        + LAMBDA[3000:4000]
        + "NNN"
        + LAMBDA[4000:4500].lower()
        + "RYN"
        + LAMBDA[4500:9000]
        + "N" * 5
        + LAMBDA[9000:12000]
    )
    path = write_fasta(tmp_path / "g.fa.gz", [("chr1", seq), ("chr2", LAMBDA[20000:26000])])
    cfg = load_config(
        {
            "seed": seed,
            "batch_size": 4,
            "sequence_length": length,
            "tokenizer": tokenizer or {"name": "nucleotide"},
            "data": {"train": {"name": "fasta", "paths": [str(path)], "window": 700, "max_n_run": max_n_run}},
            "objectives": objectives,
            "curriculum": {"agent": {"name": "static"}},
        },
        registry=registry,
    )
    return Pipeline.from_config(cfg, registry)


ALL_DNA = [{"name": f"dna.{n}", "prob": 1.0, "rc_augment": 0.5} for n in DNA_OBJECTIVES]


@pytest.mark.parametrize("keep_soft_mask", [False, True])
def test_no_label_is_ever_n_when_short_n_runs_stay_in_windows(tmp_path, registry, keep_soft_mask):
    tok = {"name": "nucleotide", "keep_soft_mask": keep_soft_mask}
    pipe = pipeline(tmp_path, registry, ALL_DNA, max_n_run=5, tokenizer=tok)
    n_ids = np.flatnonzero(pipe.tokenizer.alphabet.is_n)
    inputs_with_n = soft = 0
    for _ in range(40):
        batch = pipe.next_batch()
        assert_batch_contract(batch, num_arms=len(ALL_DNA))
        labels = batch.label_ids[batch.label_ids != IGNORE_INDEX]
        assert not np.isin(labels, n_ids).any()
        inputs_with_n += int(np.isin(batch.input_ids, n_ids).sum())
        ordinary = batch.input_ids[~pipe.tokenizer.is_special(batch.input_ids)]
        soft += int(np.isin(ordinary, [6, 7, 8, 9]).sum())  # a c g t, with keep_soft_mask
    assert inputs_with_n > 0, "the N's reached the inputs (infilling keeps them there)"
    assert pipe.stats.epochs_completed >= 1 and (pipe.stats.examples > 0).all()
    assert (soft > 0) == keep_soft_mask, "soft-masked bases keep their own ids only with keep_soft_mask"


def test_core_objectives_never_see_n_with_the_default_source(tmp_path, registry):
    objectives = [
        {"name": "next_token_prediction", "prob": 1.0},
        {"name": "prefix_lm", "prob": 1.0},
        *ALL_DNA,
    ]
    pipe = pipeline(tmp_path, registry, objectives, max_n_run=0)
    for _ in range(30):
        batch = pipe.next_batch()
        assert not np.isin(batch.input_ids, pipe.tokenizer.alphabet.is_n.nonzero()[0]).any()
    assert pipe.source.stats["n_runs_cut"] >= 4 * pipe.stats.epochs_completed


def test_the_same_seed_gives_the_same_batches(tmp_path, registry):
    a = pipeline(tmp_path, registry, ALL_DNA, max_n_run=5, seed=3)
    b = pipeline(tmp_path, registry, ALL_DNA, max_n_run=5, seed=3)
    for _ in range(5):
        x, y = a.next_batch(), b.next_batch()
        assert np.array_equal(x.input_ids, y.input_ids) and np.array_equal(x.label_ids, y.label_ids)


def test_dna_objectives_work_with_the_byte_tokenizer_too(tmp_path, registry):
    pipe = pipeline(tmp_path, registry, ALL_DNA, max_n_run=5, tokenizer={"name": "bytes"})
    for _ in range(5):
        assert_batch_contract(pipe.next_batch(), num_arms=len(ALL_DNA))


@pytest.mark.parametrize(
    ("entry", "words"),
    [
        ({"name": "dna.infilling", "mean_span": 64, "length": [8, 32]}, "mean_span 64 is longer"),
        ({"name": "dna.infilling", "corruption_rate": 1.5}, "corruption_rate"),
        ({"name": "dna.deshuffling", "block": 16, "length": [8, 24]}, "cannot hold two blocks"),
        ({"name": "dna.selective_copying", "length": [8, 19]}, "cannot hold a motif"),
        ({"name": "dna.selective_copying", "done_marker": "[COPY]"}, "markers must differ"),
        ({"name": "dna.reverse_complement", "rc_augment": 2}, "rc_augment"),
        ({"name": "dna.reverse_complement", "rc_agument": 0.5}, "did you mean 'rc_augment'"),
        ({"name": "dna.autoencoding", "mask_marker": "[X]", "paradigm": "[X]"}, "must differ"),
    ],
)
def test_bad_objective_parameters_are_config_errors(registry, entry, words):
    with pytest.raises(ConfigError, match=words):
        load_config({"tokenizer": {"name": "nucleotide"}, "objectives": [entry]}, registry=registry)


def test_a_bpe_tokenizer_is_refused_with_a_clear_message(tmp_path, registry):
    from birdie_objectives_dna.objectives import ReverseComplement

    from birdie_core.errors import PipelineError
    from birdie_core.interfaces import ObjectiveContext

    class Bpe:
        vocab_size = 1000

        def encode(self, text):
            return np.arange(1, 1 + len(text) // 3 + 1, dtype=np.int32)

    obj = ReverseComplement(ReverseComplement.Config(name="reverse_complement"))
    ctx = ObjectiveContext(tokenizer=Bpe(), rng=np.random.default_rng(0), start_id=999)
    with pytest.raises(PipelineError, match="one id per nucleotide.*nucleotide"):
        obj.build(np.arange(1, 100, dtype=np.int32), 512, ctx)


def test_a_bool_or_float_for_an_int_and_inf_for_a_float_are_errors_at_their_paths(registry):
    # YAML reads `true` and `1.0e+9` as a bool and a float; pydantic's lax mode would take them as 1 and 10**9
    issues = config_issues(
        "tokenizer: {name: nucleotide}\n"
        "data:\n"
        "  train: {name: fasta, builtin: [lambda], window: true, overlap: 1.0e+9, rc_augment: .inf}\n"
        "objectives:\n"
        "  - {name: dna.deshuffling, block: 8.0}\n"
        "  - {name: dna.infilling, mean_span: .inf}\n",
        registry,
    )
    assert "boolean" in issues["data.train.window"]
    assert "integer" in issues["data.train.overlap"]
    assert "finite" in issues["data.train.rc_augment"]
    assert "integer" in issues["objectives[0].block"]
    assert "finite" in issues["objectives[1].mean_span"]
