"""Without a validation source, a fixed share of the training documents is held out: never another corpus."""

from __future__ import annotations

import json
import subprocess

import pytest
import yaml

from birdie_core import Pipeline, Shard
from birdie_core.config import load_config, resolved_config
from birdie_core.config.models import DEFAULT_VALIDATION_HOLDOUT
from birdie_core.curriculum.birdie import Birdie
from birdie_core.errors import ConfigError, PipelineError
from birdie_core.pipeline import Components
from birdie_core.pipeline.holdout import HoldOut
from tests.support import BIRDIE, clean_env, make_config, make_registry

TEXTS = tuple(f"document {i:03d}: " + "the quick brown fox jumps over the lazy dog. " * 2 for i in range(120))
SHARE = 0.2  # large, so that a small corpus holds out enough to test with


@pytest.fixture(scope="module")
def registry():
    return make_registry()


def config(texts=TEXTS, **data):
    cfg = make_config(texts=list(texts), validation=False)
    del cfg["data"]["validation"]  # left out, as a user leaves it out
    cfg["data"].update(data)
    return cfg


def held_out(indices, share=SHARE, domain="train"):
    rule = HoldOut(share)
    return {i for i in indices if rule.held_out(domain, i)}


def test_a_user_train_source_without_validation_holds_out_a_share_and_says_so(registry):
    data = resolved_config(load_config(config(), registry))["data"]
    assert data["validation"] is None and data["validation_holdout"] == DEFAULT_VALIDATION_HOLDOUT == 0.01
    assert load_config(config(validation=None), registry).data.validation_holdout == 0.01
    given = load_config(make_config(), registry).data  # a validation source of its own: nothing held out
    assert given.validation is not None and given.validation_holdout == 0.0


def test_the_embedded_corpus_is_never_used_unless_configured(registry):
    resolved: list[str] = []
    real = registry.resolve

    def spy(kind, name):
        resolved.append(name)
        return real(kind, name)

    registry.resolve = spy
    try:
        components = Components.resolve(config(validation_holdout=SHARE), registry)
    finally:
        del registry.resolve
    assert not [n for n in resolved if "embedded" in n]
    validation = components.mix("validation")
    assert [type(d.source).__name__ for d in validation.domains] == ["InMemorySource"]
    docs = [d.index for d in validation.documents(Shard(), 0)]
    assert docs and set(docs) == held_out(range(len(TEXTS)))

    # the embedded validation split comes only beside the embedded train source, which names that corpus
    embedded = resolved_config(load_config({}, registry))["data"]
    assert (
        embedded["validation"]["name"] == "core.embedded" and embedded["validation"]["split"] == "validation"
    )
    # and even there a hold-out asked for takes its place
    asked = resolved_config(load_config({"data": {"validation_holdout": 0.1}}, registry))["data"]
    assert asked["validation"] is None and asked["validation_holdout"] == 0.1


def test_no_held_out_document_is_ever_trained_on_and_validation_reads_only_them(registry):
    cfg = config(validation_holdout=SHARE)
    expected = held_out(range(len(TEXTS)))
    assert 0 < len(expected) < len(TEXTS)
    pipe = Pipeline.from_config(cfg, registry)
    trained: dict[int, set[int]] = {}
    while pipe.stats.epochs_completed < 2:
        pipe.next_batch()
        for epoch, index in pipe.last_documents.tolist():
            trained.setdefault(epoch, set()).add(index)
    for epoch in (0, 1):
        assert trained[epoch] == set(range(len(TEXTS))) - expected  # every other document, once per epoch
    # passed over and counted (a few more, from the start of the third epoch, may be counted already)
    assert 2 * len(expected) <= pipe.stats.domain_held_out.sum() < 3 * len(expected)

    validation = Pipeline.from_config(cfg, registry, split="validation")
    used: set[int] = set()
    for _ in range(6):
        validation.next_batch()
        used.update(validation.last_documents[:, 1].tolist())
    assert used and used <= expected


def test_the_hold_out_is_the_same_whatever_the_seed_shards_or_run(registry):
    def validation_docs(seed, shards):
        cfg = config(validation_holdout=SHARE)
        cfg["seed"] = seed
        mix = Components.resolve(cfg, registry).mix("validation")
        return sorted(d.index for i in range(shards) for d in mix.documents(Shard(i, shards), 0))

    first = validation_docs(0, 1)
    assert first == validation_docs(0, 1) == validation_docs(5, 1) == validation_docs(0, 3)
    assert set(first) == held_out(range(len(TEXTS)))
    # another domain holds out other indices: the domain salts the hash
    assert held_out(range(len(TEXTS)), domain="web") != set(first)


def test_birdie_with_workers_trains_on_none_of_the_held_out_documents(registry):
    cfg = config(validation_holdout=SHARE)
    cfg["workers"]["num_workers"] = 2
    expected = held_out(range(len(TEXTS)))
    with Birdie(cfg, registry=registry) as b:
        for step in range(30):
            if b.time_for_eval(step):
                for key, _ in b.measure_validation_losses():
                    b.log_validation_loss(key, 1.0, step)
            b.get_next_training_sample()
            assert not set(b.last_batch_info.documents[:, 1].tolist()) & expected
        assert b.data_stats()["domains"]["train"]["held_out"] > 0


def test_a_hold_out_that_selects_nothing_is_a_clear_error(registry):
    tiny = config(texts=TEXTS[:3])
    assert not held_out(range(3), DEFAULT_VALIDATION_HOLDOUT)
    with Birdie(tiny, registry=registry) as b:
        assert b.time_for_eval(0)
        with pytest.raises(
            PipelineError, match=r"none of the 3 documents .*held out.*data\.validation_holdout"
        ):
            list(b.measure_validation_losses())


def test_a_hold_out_of_zero_validates_on_the_training_documents_by_choice(registry):
    cfg = config(validation_holdout=0)
    assert load_config(cfg, registry).data.validation_holdout == 0.0
    docs = [d.index for d in Components.resolve(cfg, registry).mix("validation").documents(Shard(), 0)]
    assert docs == list(range(len(TEXTS)))  # every training document, in the source's order


def test_hold_out_config_errors(registry):
    def issues(cfg):
        with pytest.raises(ConfigError) as exc:
            load_config(cfg, registry)
        return {i.path: i.message for i in exc.value.issues}

    both = make_config()
    both["data"]["validation_holdout"] = 0.05
    assert "only without a validation source" in issues(both)["data.validation_holdout"]
    assert "data.validation_holdout" in issues(config(validation_holdout=1.0))
    assert "data.validation_holdout" in issues(config(validation_holdout=-0.1))


def test_config_check_resolved_states_the_hold_out(tmp_path):
    (tmp_path / "docs.jsonl").write_text(
        "".join(json.dumps({"text": t}) + "\n" for t in TEXTS[:20]), encoding="utf-8"
    )
    (tmp_path / "run.yaml").write_text(
        "data:\n  train: {name: files, paths: [docs.jsonl]}\nobjectives:\n  - {name: next_token_prediction}\n",
        encoding="utf-8",
    )
    env = {**clean_env(), "BIRDIE_DISABLE_PLUGIN_AUTOLOAD": "1"}
    proc = subprocess.run(
        [BIRDIE, "config", "check", "run.yaml", "--resolved"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    resolved = yaml.safe_load(proc.stdout.split("\n", 1)[1])
    assert resolved["data"]["validation"] is None
    assert resolved["data"]["validation_holdout"] == 0.01
    assert (
        resolved["data"]["train"]["shuffle_seed"] == 0 and resolved["data"]["train"]["shuffle_buffer"] == 1024
    )
