"""The in-process pipeline: determinism, resume, failure modes, mixture updates and the batch contract."""

from __future__ import annotations

import itertools
import pickle
import time

import numpy as np
import pytest
import torch

from birdie_core.builtins.agents import StaticAgent
from birdie_core.builtins.objectives import NextTokenPrediction, PrefixLM
from birdie_core.builtins.packers import BestFitPacker
from birdie_core.builtins.tokenizers import ByteTokenizer
from birdie_core.errors import PipelineError
from birdie_core.interfaces import Arm, Document, Example, Objective, Shard
from birdie_core.pipeline import Components, Pipeline, preview
from birdie_core.testing import CORPUS, InMemorySource, assert_batch_contract
from tests.support import memory_registry

SHORT = tuple(t for t in CORPUS if len(t) < 1500)
START = "<|start|>"


@pytest.fixture(scope="module")
def registry():
    return memory_registry()


def make_cfg(
    texts=CORPUS[:20],
    *,
    seed=0,
    batch_size=4,
    sequence_length=128,
    objectives=None,
    validation=None,
    shuffle_buffer=1024,
):
    if objectives is None:
        objectives = (
            NextTokenPrediction.Config(name="core.next_token_prediction", id="ntp", prob=1.0),
            PrefixLM.Config(name="core.prefix_lm", id="s", prob=1.0, paradigm="[S]"),
        )
    return dict(
        seed=seed,
        batch_size=batch_size,
        sequence_length=sequence_length,
        start_generating_paradigm=START,
        tokenizer=ByteTokenizer.Config(name="core.bytes"),
        data=dict(
            train=InMemorySource.Config(
                name="test.memory", texts=tuple(texts), shuffle_buffer=shuffle_buffer
            ),
            validation=None
            if validation is None
            else InMemorySource.Config(name="test.memory", texts=validation),
        ),
        objectives=tuple(objectives),
        packer=BestFitPacker.Config(name="core.best_fit"),
        curriculum=dict(agent=StaticAgent.Config(name="core.static")),
        workers=dict(num_workers=0),
    )


def take(pipeline, n):
    return [pipeline.next_batch() for _ in range(n)]


def assert_same_batches(xs, ys):
    assert len(xs) == len(ys)
    for x, y in zip(xs, ys):
        for k in (
            "input_ids",
            "label_ids",
            "attention_mask",
            "segment_ids",
            "position_ids",
            "segment_arms",
            "arm_positions",
            "arm_consumed",
        ):
            np.testing.assert_array_equal(getattr(x, k), getattr(y, k), err_msg=k)


PLM_ONLY = (PrefixLM.Config(name="core.prefix_lm", id="s"),)


# -- determinism and resume -------------------------------------------------------------------------------


def test_same_config_and_seed_give_the_same_batches(registry):
    a = take(Pipeline.from_config(make_cfg(), registry), 6)
    b = take(Pipeline.from_config(make_cfg(), registry), 6)
    assert_same_batches(a, b)
    c = take(Pipeline.from_config(make_cfg(seed=1), registry), 1)
    assert not np.array_equal(a[0].input_ids, c[0].input_ids)


def test_shards_are_seeded_apart(registry):
    cfg = make_cfg()
    a = Pipeline.from_config(cfg, registry, shard=Shard(0, 2)).next_batch()
    b = Pipeline.from_config(cfg, registry, shard=Shard(1, 2)).next_batch()
    assert not np.array_equal(a.input_ids, b.input_ids)


@pytest.mark.parametrize(
    "texts, before",
    [(CORPUS[:20], 3), (CORPUS[:3], 5)],  # mid-document; and across several epoch rollovers
    ids=["mid-document", "across-epochs"],
)
def test_resume_continues_the_exact_stream(registry, texts, before):
    cfg = make_cfg(texts, sequence_length=96)
    full = Pipeline.from_config(cfg, registry)
    take(full, before)
    state = pickle.loads(pickle.dumps(full.state_dict()))
    assert state["tokens_left"] > 0 or state["reader"]["domains"][0][1] > 0  # documents taken this epoch
    expected = take(full, 12)
    resumed = Pipeline.from_config(cfg, registry)
    resumed.load_state_dict(state)
    assert_same_batches(take(resumed, 12), expected)
    assert resumed.stats.to_dict() == full.stats.to_dict()


def test_resume_reads_no_document_twice(registry):
    # in the source's order, whose first documents are short: the 8 batches read more than one
    cfg = make_cfg(CORPUS[:30], sequence_length=64, shuffle_buffer=0)
    a = Pipeline.from_config(cfg, registry)
    take(a, 4)
    read_before = a.stats.documents_read
    b = Pipeline.from_config(cfg, registry)
    b.load_state_dict(a.state_dict())
    take(b, 4)
    take(a, 4)
    assert b.stats.documents_read == a.stats.documents_read > read_before


def test_state_of_another_shard_is_refused(registry):
    a = Pipeline.from_config(make_cfg(), registry, shard=Shard(0, 2))
    b = Pipeline.from_config(make_cfg(), registry, shard=Shard(1, 2))
    with pytest.raises(PipelineError, match="shard"):
        b.load_state_dict(a.state_dict())


# -- failure modes ----------------------------------------------------------------------------------------


def test_empty_source_fails_quickly_with_a_clear_message(registry):
    t0 = time.perf_counter()
    with pytest.raises(PipelineError, match="yielded no documents"):
        Pipeline.from_config(make_cfg(texts=()), registry).next_batch()
    assert time.perf_counter() - t0 < 5


def test_a_shard_without_documents_fails(registry):
    with pytest.raises(PipelineError, match="shard 3/4"):
        Pipeline.from_config(make_cfg(texts=("only", "two")), registry, shard=Shard(3, 4)).next_batch()


def test_a_source_of_only_unusable_documents_fails_instead_of_spinning(registry):
    with pytest.raises(PipelineError, match="too short for every objective"):
        Pipeline.from_config(make_cfg(texts=("", "a", "b"), objectives=PLM_ONLY), registry).next_batch()


class _EndlessBlanks:
    """A source that never ends and never yields a usable document."""

    def documents(self, shard, epoch):
        for i in itertools.count():
            yield Document(i, "", f"blank[{i}]")


def test_an_endless_source_of_unusable_documents_fails_instead_of_spinning():
    pipe = Pipeline(
        ByteTokenizer(None, [START]),
        _EndlessBlanks(),
        [NextTokenPrediction(NextTokenPrediction.Config(name="ntp"))],
        [Arm("ntp", "core.ntp")],
        BestFitPacker(BestFitPacker.Config(name="best_fit"), 1, 16, 1),
        [1.0],
        seed=0,
        start_marker=START,
        max_consecutive_skips=500,
    )
    with pytest.raises(PipelineError, match="500 documents in a row"):
        pipe.next_batch()


def test_too_short_documents_are_counted_not_fatal(registry):
    texts = ("", "x", *SHORT[:5], "y")
    pipe = Pipeline.from_config(make_cfg(texts, objectives=PLM_ONLY, shuffle_buffer=0), registry)
    for batch in take(pipe, 30):
        assert_batch_contract(batch, num_arms=1)
    stats = pipe.stats
    assert stats.epochs_completed >= 1
    assert stats.documents_skipped >= 3 and stats.skipped_indices[:3] == [0, 1, 7]


def test_one_token_leftovers_for_prefix_lm_do_not_crash(registry):
    # a 64-position row holds the start marker + 64 document tokens - 1: a 65-token text leaves one token
    texts = tuple("abcdefgh" * 8 + "z" for _ in range(10))
    pipe = Pipeline.from_config(make_cfg(texts, objectives=PLM_ONLY, sequence_length=64), registry)
    for batch in take(pipe, 10):
        assert_batch_contract(batch, num_arms=1)
    assert pipe.stats.tail_tokens_dropped > 0


class _Overreaching(Objective):
    class Config(PrefixLM.Config):
        pass

    def build(self, tokens, budget, ctx):
        if tokens.size < 3:
            return None, tokens
        return Example(np.full(budget + 1, ctx.start_id, np.int32), tokens[:1], 1), tokens[1:]


def test_an_objective_that_overruns_its_budget_is_named(registry):
    tok = ByteTokenizer(None, [START])
    pipe = Pipeline(
        tok,
        InMemorySource(texts=CORPUS[:2]),
        [_Overreaching(_Overreaching.Config(name="bad"))],
        [Arm("bad", "test.bad")],
        BestFitPacker(BestFitPacker.Config(name="best_fit"), 2, 32, 1),
        [1.0],
        seed=0,
        start_marker=START,
    )
    with pytest.raises(PipelineError, match="test.bad.*budget of 32"):
        pipe.next_batch()


def test_an_unreserved_start_marker_is_an_error():
    with pytest.raises(PipelineError, match="start-of-generation marker"):
        Pipeline(
            ByteTokenizer(None, []),
            InMemorySource(texts=("abc",)),
            [NextTokenPrediction(NextTokenPrediction.Config(name="ntp"))],
            [Arm("ntp", "core.ntp")],
            BestFitPacker(BestFitPacker.Config(name="best_fit"), 1, 16, 1),
            [1.0],
            seed=0,
            start_marker=START,
        )


# -- mixture ----------------------------------------------------------------------------------------------


def test_mixture_changes_take_effect(registry):
    pipe = Pipeline.from_config(make_cfg(sequence_length=64), registry)
    np.testing.assert_allclose(pipe.mixture, [0.5, 0.5])
    pipe.set_mixture([3.0, 0.0])
    np.testing.assert_allclose(pipe.mixture, [1.0, 0.0])
    pipe.next_batch()  # may still hold examples drawn before the update
    for batch in take(pipe, 3):
        used = batch.segment_arms[batch.segment_arms >= 0]
        assert set(used.tolist()) == {0} and batch.arm_positions[1] == 0
    pipe.set_mixture([0.0, 1.0])
    pipe.next_batch()
    for batch in take(pipe, 3):
        assert set(batch.segment_arms[batch.segment_arms >= 0].tolist()) == {1}


@pytest.mark.parametrize("bad", [[np.nan, 1.0], [1.0, -1.0], [1.0, 1.0, 1.0], [np.inf, 0.0]])
def test_invalid_mixtures_are_refused(registry, bad):
    pipe = Pipeline.from_config(make_cfg(), registry)
    with pytest.raises(PipelineError, match="mixture"):
        pipe.set_mixture(bad)
    np.testing.assert_allclose(pipe.mixture, [0.5, 0.5])


def test_static_agent_override_sets_the_initial_mixture(registry):
    cfg = make_cfg()
    cfg["curriculum"] = dict(agent=StaticAgent.Config(name="core.static", probs={"ntp": 3.0}))
    np.testing.assert_allclose(Pipeline.from_config(cfg, registry).mixture, [0.75, 0.25])


# -- batches ----------------------------------------------------------------------------------------------


def test_to_torch_follows_the_batch_contract(registry):
    cfg = make_cfg(batch_size=3, sequence_length=200)
    pipe = Pipeline.from_config(cfg, registry)
    for batch in take(pipe, 5):
        assert_batch_contract(batch, num_arms=2)
        t = batch.to_torch()
        for v in t.values():
            assert v.dtype == torch.long and v.shape == (3, 200)
        inp, lab, seg = t["input_ids"], t["label_ids"], t["segment_ids"]
        has_label = lab != -100
        same_next = torch.zeros_like(has_label)
        same_next[:, :-1] = (seg[:, 1:] == seg[:, :-1]) & (seg[:, :-1] != 0)
        check = has_label & same_next
        assert torch.equal(lab[:, :-1][check[:, :-1]], inp[:, 1:][check[:, :-1]])
        # the positions with a label but no next position in the segment are the last target tokens
        ends = has_label & ~same_next
        assert int(ends.sum()) == int((batch.segment_arms >= 0).sum())


def test_documents_are_tokenized_once(registry):
    class CountingTokenizer(ByteTokenizer):
        calls = 0

        def encode(self, text):
            CountingTokenizer.calls += 1
            return super().encode(text)

    tok = CountingTokenizer(None, [START, "[S]"])
    cfg = make_cfg(CORPUS[:10], sequence_length=64)
    ref = Pipeline.from_config(cfg, registry)
    pipe = Pipeline(tok, ref.source, ref.objectives, ref.arms, ref.packer, ref.mixture, 0, START)
    take(pipe, 40)
    assert CountingTokenizer.calls == pipe.stats.documents_read


def test_stats_account_for_every_position(registry):
    pipe = Pipeline.from_config(make_cfg(sequence_length=128), registry)
    batches = take(pipe, 8)
    s = pipe.stats
    assert s.batches == 8 and s.batch_positions == 8 * 4 * 128
    assert s.positions.sum() == sum(int((b.segment_ids != 0).sum()) for b in batches)
    assert np.all(s.examples > 0) and np.all(s.consumed > 0)
    assert s.to_dict()["efficiency"] == pytest.approx(s.efficiency)


@pytest.mark.parametrize("sequence_length", [512, 2048])
def test_efficiency_on_the_embedded_corpus(registry, sequence_length):
    pipe = Pipeline.from_config(make_cfg(CORPUS, batch_size=8, sequence_length=sequence_length), registry)
    take(pipe, 10)
    assert pipe.stats.efficiency >= 0.98


def test_validation_split(registry):
    cfg = make_cfg(validation=("validation text number one, long enough",) * 3)
    batch = Pipeline.from_config(cfg, registry, split="validation").next_batch()
    row = batch.input_ids[0]
    text = bytes((row[(row > 0) & (row < 257)] - 1).astype(np.uint8).tolist())
    assert b"validation text number" in text
    # without a validation source there is none to build (validation reads held-out training documents)
    with pytest.raises(PipelineError, match="data.validation"):
        Components.resolve(make_cfg(), registry).source("validation")


def test_preview_shows_every_objective_and_one_batch(registry):
    result = preview(make_cfg(CORPUS[:10], sequence_length=256), registry, per_objective=2)
    assert [i.arm for i in result.items] == ["ntp", "ntp", "s", "s"]
    s = result.items[2]
    assert s.prefix.startswith("[S]") and s.prefix.endswith(START) and s.target
    assert len(s.prefix_ids) + len(s.target_ids) - 1 == s.length <= 256
    assert result.items[0].prefix == START  # next-token prediction: no text in the input
    assert 0.9 < result.efficiency <= 1.0


def _share_gap(unit: str) -> float:
    from birdie_core.config import load_config

    cfg = load_config(
        {
            "batch_size": 8,
            "sequence_length": 512,
            "objectives": [
                {"name": "next_token_prediction", "id": "long", "length": [256, 512]},
                {"name": "prefix_lm", "id": "short", "length": [16, 48]},
            ],
            "curriculum": {"mixture_unit": unit},
        }
    )
    pipe = Pipeline.from_config(cfg, mixture=[0.5, 0.5])
    for _ in range(60):
        pipe.next_batch()
    share = pipe.stats.positions / pipe.stats.positions.sum()
    return float(abs(share[0] - 0.5))


def test_token_mixture_unit_makes_the_position_share_track_the_mixture():
    # examples of ~380 vs ~32 positions: drawn per example, the long one fills ~90% of the positions
    assert _share_gap("examples") > 0.3
    assert _share_gap("tokens") < 0.05


def test_a_source_config_error_names_its_place_in_the_pipeline_config(tmp_path):
    from birdie_core.config import load_config
    from birdie_core.errors import ConfigError

    cfg = load_config({"data": {"train": {"name": "files", "paths": [str(tmp_path / "missing*.jsonl")]}}})
    with pytest.raises(ConfigError, match=r"data\.train\.paths"):
        Pipeline.from_config(cfg)
