"""A pipeline's state names its place in the stream, never the tokens it holds, and checks that place on resume."""

from __future__ import annotations

import pickle

import pytest

from birdie_core import Pipeline
from birdie_core.errors import PipelineError
from tests.support import memory_registry

WORDS = "the quick brown fox jumps over the lazy dog and keeps on running through the field "


@pytest.fixture(scope="module")
def registry():
    return memory_registry()


def config(texts):
    return {
        "batch_size": 2,
        "sequence_length": 128,
        "data": {"train": {"name": "memory", "texts": list(texts)}, "validation": None},
        "objectives": [{"name": "next_token_prediction"}, {"name": "prefix_lm"}],
    }


def test_the_state_inside_a_huge_document_stays_small_and_resumes_exactly(registry):
    big = WORDS * 40_000  # 3.4 MB: its leftover tokens would be megabytes in every snapshot
    cfg = config(["a short one. " * 20, big, "after it. " * 30])
    full = Pipeline.from_config(cfg, registry)
    for _ in range(5):
        full.next_batch()
    state = full.state_dict()
    assert state["tokens_left"] > 1_000_000  # inside the big document
    assert len(pickle.dumps(state)) < 8_000
    expected = [full.next_batch() for _ in range(3)]

    resumed = Pipeline.from_config(cfg, registry)
    resumed.load_state_dict(pickle.loads(pickle.dumps(state)))
    for want, got in zip(expected, (resumed.next_batch() for _ in range(3))):
        assert (want.input_ids == got.input_ids).all() and (want.label_ids == got.label_ids).all()
    assert resumed.stats.to_dict() == full.stats.to_dict()


def test_resuming_on_a_changed_source_is_a_clear_error(registry):
    cfg = config(["first. " * 20, WORDS * 50, "third. " * 30])
    pipe = Pipeline.from_config(cfg, registry)
    pipe.next_batch()
    state = pipe.state_dict()
    assert state["tokens_left"] > 0

    changed = Pipeline.from_config(config(["first. " * 20, WORDS * 49, "third. " * 30]), registry)
    with pytest.raises(PipelineError, match=r"cannot resume: the state was saved inside document 1 .*changed"):
        changed.load_state_dict(state)
