"""The Birdie training-loop API: evaluations, curriculum, determinism, mixture timing, resume, sharding."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch
import yaml

from birdie_core.config import FlatFormWarning, load_config
from birdie_core.curriculum.birdie import Birdie, EvaluationError
from birdie_core.curriculum.metrics import read_metrics
from birdie_core.curriculum.schedule import PAPER_SCHEDULE, EvaluationSchedule
from birdie_core.errors import ConfigError
from birdie_core.hookspecs import hookimpl
from birdie_core.registry import load_registry
from birdie_core.testing import CORPUS
from tests.support import (
    RESUME_AGENT,
    TEXTS,
    HelperPlugin,
    digest,
    fake_loss,
    make_config,
    make_registry,
    run_loop,
    subprocess_env,
)

pytestmark = pytest.mark.usefixtures("time_limit")

KEYS = ("ntp", "plm")


@pytest.fixture(scope="module")
def registry():
    return make_registry()


# -- the loop ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("num_workers", [0, 2])
def test_the_training_loop_end_to_end(registry, tmp_path, num_workers):
    seen_validation: dict[int, list[str]] = {}
    with Birdie(make_config(num_workers=num_workers), registry=registry, run_dir=tmp_path) as birdie:
        assert birdie.keys == KEYS and birdie.lookahead == 2 * num_workers
        for step in range(9):
            if birdie.time_for_eval(step):
                seen_validation[step] = []
                for key, batch in birdie.measure_validation_losses():
                    seen_validation[step].append(f"{key}:{digest(batch)}")
                    for v in batch.values():
                        assert v.dtype == torch.long and v.shape == (2, 128)
                    birdie.log_validation_loss(key=key, loss=fake_loss(batch), step_idx=step)
            batch = birdie.get_next_training_sample()
            assert sorted(batch) == sorted(
                ["input_ids", "label_ids", "attention_mask", "segment_ids", "position_ids"]
            )
            assert all(
                v.dtype == torch.long and v.shape == (2, 128) and v.is_contiguous() for v in batch.values()
            )
            info = birdie.last_batch_info
            assert info.index == step
            n_segments = sum(len(set(row.tolist()) - {0}) for row in batch["segment_ids"])
            assert sum(len(r) for r in info.segment_objectives()) == n_segments
            assert sum(info.tokens_per_objective().values()) == int((batch["segment_ids"] != 0).sum())
    assert sorted(seen_validation) == [0, 4, 8]  # every 4 steps, step 0 included
    first = seen_validation[0]
    assert [s.split(":")[0] for s in first] == list(KEYS)
    assert all(v == first for v in seen_validation.values()), "validation batches must not change"
    records = read_metrics(tmp_path)
    assert [r["step"] for r in records] == [0, 4, 8] and records == birdie.history
    r = records[1]
    assert set(r["mixture"]) == set(KEYS) and r["rewards"] is None and r["realised"]["batches"] == 4
    assert r["effective_batch"] == 4 + 2 * num_workers
    assert records[0]["realised"] is None  # nothing consumed before step 0
    assert (tmp_path / "config.resolved.yaml").exists() and (tmp_path / "plugins.json").exists()
    assert load_config(tmp_path / "config.resolved.yaml", registry).workers.num_workers == num_workers


def test_config_as_yaml_dict_model_or_original_flat_form(registry, tmp_path):
    cfg = make_config()
    path = tmp_path / "pipeline.yaml"
    path.write_text(yaml.safe_dump(cfg))
    firsts = []
    for form in (path, str(path), cfg, load_config(cfg, registry)):
        with Birdie(form, registry=registry) as b:
            firsts.append(digest(b.get_next_training_sample()))
    assert len(set(firsts)) == 1
    # the original flat form with Python objects: a local ds function, a lambda, a tiktoken Encoding
    import tiktoken

    docs = [f"local document {i}: " + CORPUS[i][:500] for i in range(12)]

    def ds(split, worker_id, num_workers, rng_seed=0):
        return docs[worker_id::num_workers] if split == "train" else docs[:2]

    encoding = tiktoken.Encoding(
        name="bytes_only",
        pat_str=r"\S+|\s+",
        mergeable_ranks={bytes([i]): i for i in range(256)},
        special_tokens={},
    )
    flat = {
        "batch_size": 2,
        "sequence_length": 128,
        "num_workers": 2,
        "steps_between_evaluations": 3,
        "num_steps": 6,
        "tokenizer": encoding,
        "ds": ds,
        "text_grabber_fn": lambda text: text.upper(),
        "objectives": [{"name": "next_token_prediction", "prob": 1.0}],
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FlatFormWarning)
        b = Birdie(flat, registry=registry)
    with b:
        assert b.num_steps == 6 and b.time_for_eval(3) and not b.time_for_eval(4)
        run_loop(b, 4)
        assert len(b.history) == 2
        ids = b.get_next_training_sample()["input_ids"][0]
        text = bytes((ids[(ids > 0) & (ids < 257)] - 1).tolist()).decode("utf-8", "replace")
        # read by ds in the workers, through the grabber (upper case) and the encoding (bytes)
        assert len(text) > 100 and text == text.upper() and any(c.isalpha() for c in text)


def test_in_process_birdie_gives_the_bare_pipeline_batches(registry):
    from birdie_core.pipeline import Pipeline

    cfg = load_config(make_config(), registry)
    pipe = Pipeline.from_config(cfg, registry)
    with Birdie(cfg, registry=registry) as b:
        for _ in range(4):
            assert digest(b.get_next_training_sample()) == digest(pipe.next_batch().to_torch())


def test_validation_batches_are_fixed_and_configurable(registry):
    # no validation source and no hold-out: the batches come from the train source, drawn with the validation seed
    cfg = make_config(validation=False)
    cfg["data"]["validation_holdout"] = 0
    with Birdie(cfg, registry=registry, num_validation_batches=2) as b:
        a = [(k, digest(x)) for k, x in b.measure_validation_losses()]
        for k, _ in a:
            b.log_validation_loss(k, 1.0)
        run_loop(b, 3, start=1)
        again = [(k, digest(x)) for k, x in b.measure_validation_losses()]
    assert [k for k, _ in a] == ["ntp", "ntp", "plm", "plm"]
    assert again == a and a[0][1] != a[1][1]


def test_evaluation_api_misuse_is_a_clear_error(registry):
    with Birdie(make_config(), registry=registry) as b:
        with pytest.raises(EvaluationError, match="no evaluation is open"):
            b.log_validation_loss("ntp", 1.0, 0)
        assert b.time_for_eval(0)
        batches = dict(b.measure_validation_losses())
        with pytest.raises(EvaluationError, match=r"unknown objective key 'nope'.*\['ntp', 'plm'\]"):
            b.log_validation_loss("nope", 1.0, 0)
        with pytest.raises(EvaluationError, match="one-element tensor"):
            b.log_validation_loss("ntp", torch.ones(3), 0)
        with pytest.raises(EvaluationError, match="nan"):
            b.log_validation_loss("ntp", float("nan"), 0)
        with pytest.raises(EvaluationError, match="step_idx=1"):
            b.log_validation_loss("ntp", 1.0, 1)
        b.log_validation_loss("ntp", torch.tensor(2.5), 0)  # a 0-d tensor
        with pytest.raises(EvaluationError, match="'ntp' was logged 2 times"):
            b.log_validation_loss("ntp", 2.0, 0)
        with pytest.raises(EvaluationError, match=r"incomplete.*\['plm'\]"):
            b.measure_validation_losses()
        b.log_validation_loss("plm", np.float32(3.0), 0)
        assert b.history[-1]["losses"] == {"ntp": 2.5, "plm": 3.0}
        assert set(batches) == set(KEYS)
    with pytest.raises(Exception, match="closed"):
        b.get_next_training_sample()


def test_evaluation_schedules():
    every = EvaluationSchedule(50)
    assert [s for s in range(201) if every(s)] == [0, 50, 100, 150, 200]
    paper = EvaluationSchedule(PAPER_SCHEDULE)
    assert [s for s in range(6001) if paper(s)] == [
        10,
        50,
        250,
        500,
        1000,
        1500,
        2000,
        3000,
        4000,
        5000,
        6000,
    ]
    once = EvaluationSchedule([7])
    assert [s for s in range(100) if once(s)] == [7]
    with pytest.raises(ValueError):
        EvaluationSchedule([5, 5])


# -- the curriculum --------------------------------------------------------------------------------


class Observer:
    def __init__(self):
        self.calls = []

    @hookimpl
    def birdie_on_evaluation(self, step, losses):
        self.calls.append(("evaluation", step, dict(losses)))

    @hookimpl
    def birdie_on_mixture_update(self, step, mixture, record):
        self.calls.append(("mixture", step, dict(mixture)))


def test_reward_and_agent_run_after_the_last_loss_of_an_evaluation(tmp_path):
    observer = Observer()
    reg = load_registry(autoload=False, extra_plugins={"test": HelperPlugin(), "observer": observer})
    cfg = make_config(agent={"name": "greedy"}, reward={"name": "improvement"}, every=2)
    losses = {0: {"ntp": 3.0, "plm": 3.0}, 2: {"ntp": 2.0, "plm": 3.0}, 4: {"ntp": 1.9, "plm": 2.5}}
    with Birdie(cfg, registry=reg, run_dir=tmp_path) as b:
        for step in range(5):
            if b.time_for_eval(step):
                for key, _ in b.measure_validation_losses():
                    b.log_validation_loss(key, losses[step][key], step)
                    if key == "ntp":
                        assert len(b.history) == step // 2  # the curriculum waits for the last loss
            b.get_next_training_sample()
        agent = b.agent
    assert [s for s, _, _ in agent.seen] == [0, 2, 4]
    assert agent.seen[0][2] == [0.0, 0.0]  # no previous losses: the agent gets zero rewards
    assert agent.seen[1][2] == pytest.approx([1.0, 0.0])
    records = read_metrics(tmp_path)
    assert records[0]["rewards"] is None and records[1]["rewards"] == pytest.approx({"ntp": 1.0, "plm": 0.0})
    assert records[1]["mixture"]["ntp"] > 0.99  # the greedy agent follows the reward
    assert records[2]["mixture"]["plm"] > 0.95
    assert [c[:2] for c in observer.calls] == [(k, s) for s in (0, 2, 4) for k in ("evaluation", "mixture")]
    assert observer.calls[3][2] == records[1]["mixture"]


def test_an_agent_that_needs_rewards_needs_a_reward_function(registry):
    with pytest.raises(ConfigError, match="curriculum.reward"):
        Birdie(make_config(agent={"name": "greedy"}), registry=registry)


# -- determinism and the mixture-update rule ------------------------------------------------------------


def stream(registry, n, **kw):
    with Birdie(make_config(**kw), registry=registry) as b:
        return [digest(b.get_next_training_sample()) for _ in range(n)]


def test_same_config_and_seed_give_the_same_batches_whatever_the_worker_timing(registry):
    # the jittery source sleeps a random, unseeded time per document in each worker
    a = stream(registry, 14, num_workers=2, source="jittery")
    assert stream(registry, 14, num_workers=2, source="jittery") == a
    assert stream(registry, 14, num_workers=2, prefetch_factor=1) == a
    assert stream(registry, 14, num_workers=2, seed=1)[:2] != a[:2]


@pytest.mark.parametrize("num_workers", [0, 2])
def test_mixture_updates_take_effect_at_the_defined_batch(registry, num_workers):
    agent = {"name": "scripted", "mixtures": [[0, 1], [1, 0], [0, 1]]}
    # the jittery source sleeps a random time per document: the workers run ahead by varying amounts
    cfg = make_config(num_workers=num_workers, agent=agent, every=[4, 5, 9], source="jittery")
    cfg["objectives"][1]["prob"] = 0.0  # start with next-token prediction only
    with Birdie(cfg, registry=registry) as b:
        lookahead = b.lookahead
        arms_used = []
        for step in range(9 + lookahead + 3):
            if b.time_for_eval(step):
                for key, batch in b.measure_validation_losses():
                    b.log_validation_loss(key, 1.0, step)
                assert b.mixture_effective_from == step + lookahead
            b.get_next_training_sample()
            info = b.last_batch_info
            arms_used.append(set(info.segment_arms[info.segment_arms >= 0].tolist()))
    assert lookahead == 2 * num_workers
    e1, e2, e3 = 4 + lookahead, 5 + lookahead, 9 + lookahead
    expected = [{0} if g < e1 else {1} if g < e2 else {0} if g < e3 else {1} for g in range(len(arms_used))]
    assert arms_used == expected


# -- resume --------------------------------------------------------------------------------------------------

RESUME_SCRIPT = """
import json, sys, torch
from tests.support import make_config, make_registry, run_loop, RESUME_AGENT
from birdie_core.curriculum.birdie import Birdie
state = torch.load(sys.argv[1], weights_only=False)
with Birdie(make_config(num_workers=2, agent=RESUME_AGENT, every=[2, 5, 8]), registry=make_registry()) as b:
    b.load_state_dict(state)
    digests = run_loop(b, 8, start=6)
    print(json.dumps({"digests": digests, "calls": b.agent.calls, "mixture": b.mixture}))
"""


def test_resume_in_a_new_process_continues_the_exact_stream(registry, tmp_path):
    cfg = make_config(num_workers=2, agent=RESUME_AGENT, every=[2, 5, 8])
    with Birdie(cfg, registry=registry) as b:
        before = run_loop(b, 6)
        state = b.state_dict()
        # the update of step 5 takes effect at batch 9: it is pending in the saved schedule
        assert [s for s, _ in state["schedule"]][-1] == 9
        docs_before = [b.last_batch_info.documents]
        expected = run_loop(b, 8, start=6)
        expected_mixture, expected_calls = b.mixture, b.agent.calls
    torch.save(state, tmp_path / "state.pt")
    proc = subprocess.run(
        [sys.executable, "-c", RESUME_SCRIPT, str(tmp_path / "state.pt")],
        capture_output=True,
        check=False,
        text=True,
        timeout=60,
        env=subprocess_env(),
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    resumed = json.loads(proc.stdout.strip().splitlines()[-1])
    assert resumed["digests"] == expected and len(set(before + expected)) == 14
    assert resumed["calls"] == expected_calls == 4 and resumed["mixture"] == pytest.approx(expected_mixture)
    assert docs_before[0].ndim == 2


def test_resume_in_process_reads_every_document_once(registry):
    """Across a save/load, the documents started per batch continue exactly: none skipped or repeated."""
    cfg = make_config(num_workers=2, texts=[t[:400] for t in TEXTS])

    def docs(b, n):
        out = []
        for _ in range(n):
            b.get_next_training_sample()
            out += [tuple(d) for d in b.last_batch_info.documents.tolist()]
        return out

    with Birdie(cfg, registry=registry) as full:
        head = docs(full, 7)
        state = full.state_dict()
        tail = docs(full, 30)
    with Birdie(cfg, registry=registry) as resumed:
        resumed.load_state_dict(state)
        assert docs(resumed, 30) == tail
    epoch0 = [i for e, i in head + tail if e == 0]
    assert len(epoch0) == len(set(epoch0))


# -- sharding ------------------------------------------------------------------------------------------------


def test_two_ranks_two_workers_use_every_document_once_per_epoch(registry):
    texts = [t[:300] for t in TEXTS]  # 48 documents: 4 shards of 12
    ranks = [
        Birdie(make_config(num_workers=2, texts=texts), registry=registry, rank=r, world_size=2)
        for r in (0, 1)
    ]
    try:
        epoch0: list[int] = []
        started_epoch1: set[tuple[int, int]] = set()
        shards: set[tuple[int, int]] = set()
        for _ in range(400):
            for b in ranks:
                b.get_next_training_sample()
                info = b.last_batch_info
                shards.add(info.shard)
                for epoch, index in info.documents.tolist():
                    assert index % 4 == info.shard[0], "a document read by a shard that does not own it"
                    if epoch == 0:
                        epoch0.append(index)
                    else:
                        started_epoch1.add(info.shard)
            if len(started_epoch1) == 4:
                break
    finally:
        for b in ranks:
            b.close()
    assert shards == {(0, 4), (1, 4), (2, 4), (3, 4)}
    assert len(started_epoch1) == 4, "every shard rolls over into its next epoch"
    assert sorted(epoch0) == list(range(len(texts)))
