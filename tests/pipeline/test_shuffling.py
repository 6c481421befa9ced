"""Every source is read through a seeded shuffle buffer: new order per epoch, every document once, exact resume."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from birdie_core import Pipeline, Shard
from birdie_core.config import load_config, resolved_config
from birdie_core.curriculum.birdie import Birdie
from birdie_core.pipeline import Components
from tests.support import digest, make_config, make_registry, memory_registry

#: 60 short documents: a batch of 2 rows of 128 positions holds a few, so epochs go by quickly
SHORT = tuple(f"document {i:02d}: " + "the quick brown fox jumps over the lazy dog. " * 2 for i in range(60))


@pytest.fixture(scope="module")
def registry():
    return memory_registry()


def config(texts=SHORT, *, seed=0, **train):
    return {
        "seed": seed,
        "batch_size": 2,
        "sequence_length": 128,
        "data": {
            "train": {"name": "memory", "texts": list(texts), **train},
            # a validation source of its own: no training document is held out in these tests
            "validation": {"name": "memory", "texts": ["a validation text, long enough to use. " * 3]},
        },
        "objectives": [{"name": "next_token_prediction"}, {"name": "prefix_lm"}],
    }


def order(registry, cfg, epoch=0, shard=None):
    mix = Components.resolve(cfg, registry).mix("train")
    return [d.index for d in mix.documents(shard or Shard(), epoch)]


def test_each_epoch_has_its_own_order_and_every_document_once(registry):
    first, second = order(registry, config()), order(registry, config(), epoch=1)
    assert sorted(first) == sorted(second) == list(range(len(SHORT)))
    assert first != list(range(len(SHORT))) and second != first


def test_the_order_follows_the_seed_or_the_source_shuffle_seed(registry):
    base = order(registry, config())
    assert order(registry, config()) == base
    assert order(registry, config(seed=1)) != base
    assert order(registry, config(seed=1, shuffle_seed=0)) == base  # the source's own seed wins
    assert order(registry, config(shuffle_buffer=0)) == list(range(len(SHORT)))


def test_the_buffer_moves_documents_only_within_its_size(registry):
    got = order(registry, config(shuffle_buffer=4))
    assert sorted(got) == list(range(len(SHORT))) and got != list(range(len(SHORT)))
    # a document leaves the buffer at the earliest 3 places before its own (it enters with 3 ahead of it)
    assert all(pos >= index - 3 for pos, index in enumerate(got))


def test_shards_shuffle_their_own_documents_apart(registry):
    parts = [order(registry, config(), shard=Shard(i, 3)) for i in range(3)]
    assert sorted(i for p in parts for i in p) == list(range(len(SHORT)))
    for i, part in enumerate(parts):
        assert all(index % 3 == i for index in part)
        assert part != sorted(part)


def documents_by_epoch(pipe, epochs):
    seen: dict[int, list[int]] = {}
    while pipe.stats.epochs_completed < epochs:
        pipe.next_batch()
        for epoch, index in pipe.last_documents.tolist():
            seen.setdefault(epoch, []).append(index)
    return seen


def test_the_pipeline_uses_every_document_once_per_epoch_in_a_new_order(registry):
    pipe = Pipeline.from_config(config(), registry)
    assert pipe.source.texts == SHORT  # a single source is still the pipeline's source, as configured
    seen = documents_by_epoch(pipe, 2)
    assert sorted(seen[0]) == sorted(seen[1]) == list(range(len(SHORT)))
    assert seen[0] != seen[1] and seen[0] != sorted(seen[0])


def assert_same(xs, ys):
    for x, y in zip(xs, ys, strict=True):
        for key in (*x.TENSOR_KEYS, "segment_arms", "arm_consumed"):
            np.testing.assert_array_equal(getattr(x, key), getattr(y, key), err_msg=key)


def test_resume_with_shuffling_is_bit_exact_mid_document_and_across_epochs(registry):
    texts = [t * (1 + i % 5) for i, t in enumerate(SHORT[:13])]  # some span several batches
    cfg = config(texts, shuffle_buffer=8)
    full = Pipeline.from_config(cfg, registry)
    states, batches = [], []
    for _ in range(40):
        states.append(pickle.loads(pickle.dumps(full.state_dict())))
        batches.append(full.next_batch())
    assert full.stats.epochs_completed >= 2
    assert any(s["tokens_left"] for s in states), "no state inside a document: the re-read is untested"
    for at in (3, 11, 17, 26, 33):
        resumed = Pipeline.from_config(cfg, registry)
        resumed.load_state_dict(states[at])
        assert_same([resumed.next_batch() for _ in range(40 - at)], batches[at:])
        assert resumed.stats.to_dict() == full.stats.to_dict()


def test_birdie_with_two_workers_resumes_the_shuffled_stream_exactly():
    registry = make_registry()
    cfg = make_config(num_workers=2, texts=[t[:400] for t in SHORT[:30]])
    assert cfg["data"]["train"].get("shuffle_buffer") is None  # the default buffer shuffles

    def run(b, n):
        out = []
        for _ in range(n):
            out.append(digest(b.get_next_training_sample()))
            out += [tuple(d) for d in b.last_batch_info.documents.tolist()]
        return out

    with Birdie(cfg, registry=registry) as full:
        head = run(full, 5)
        state = full.state_dict()
        tail = run(full, 12)
    with Birdie(cfg, registry=registry) as resumed:
        resumed.load_state_dict(state)
        assert run(resumed, 12) == tail
    started = [d for d in head + tail if isinstance(d, tuple) and d[0] == 0]
    assert len(started) == len(set(started))
    assert [i for _, i in started] != sorted(i for _, i in started)  # shuffled, not in the source's order


def test_the_resolved_config_states_each_seed_and_validation_reads_in_order(registry):
    cfg = load_config(config(seed=7), registry)
    data = resolved_config(cfg)["data"]
    assert data["train"]["shuffle_seed"] == 7 and data["train"]["shuffle_buffer"] == 1024
    assert data["validation"]["shuffle_seed"] == 7 and data["validation"]["shuffle_buffer"] == 0
    assert load_config(resolved_config(cfg), registry) == cfg

    explicit = config()
    explicit["data"]["validation"]["shuffle_buffer"] = 16
    explicit["data"]["train"]["shuffle_seed"] = 3
    data = resolved_config(load_config(explicit, registry))["data"]
    assert data["validation"]["shuffle_buffer"] == 16 and data["train"]["shuffle_seed"] == 3


def test_validation_batches_are_the_same_whatever_the_seed(registry):
    texts = [f"validation document {i}. " * 6 for i in range(12)]

    def first_validation_batch(seed):
        cfg = config(seed=seed)
        cfg["data"]["validation"]["texts"] = texts
        pipe = Components.resolve(cfg, registry).pipeline("validation", mixture=[1.0, 0.0])
        pipe.next_batch()
        return pipe.last_documents[:, 1].tolist()

    first = first_validation_batch(0)
    assert first == first_validation_batch(5) == list(range(len(first))) and len(first) >= 2


def test_the_default_and_embedded_configs_still_build_and_run(registry):
    cfg = load_config({}, registry)
    data = resolved_config(cfg)["data"]
    assert data["train"]["name"] == "core.embedded" and data["train"]["shuffle_buffer"] == 1024
    assert data["validation"] == {**data["validation"], "name": "core.embedded", "split": "validation"}
    assert data["validation"]["shuffle_buffer"] == 0 and data["validation_holdout"] == 0.0
    components = Components.resolve(cfg, registry)
    components.pipeline("train").next_batch()
    components.pipeline("validation").next_batch()
