"""Several training sources mixed by weight (data domains): shares, passes, determinism, resume, config errors."""

from __future__ import annotations

import pickle
from collections import Counter

import numpy as np
import pytest

from birdie_core import Pipeline, Shard
from birdie_core.config import load_config, resolved_config
from birdie_core.curriculum.birdie import Birdie
from birdie_core.curriculum.metrics import read_metrics
from birdie_core.errors import ConfigError, PipelineError
from birdie_core.pipeline import Components
from tests.support import digest, make_config, make_registry

FOX = "the quick brown fox jumps over the lazy dog. "
WEB = tuple(f"web page {i:02d}: " + FOX * 2 for i in range(20))
CODE = tuple(f"def f{i:02d}(): return {i} # " + FOX for i in range(7))


@pytest.fixture(scope="module")
def registry():
    return make_registry()


def mixed(web_weight=3.0, code_weight=1.0, **kw):
    """The test config with two training domains (and a validation source: nothing is held out)."""
    cfg = make_config(**kw)
    cfg["data"]["train"] = [
        {"name": "memory", "id": "web", "weight": web_weight, "texts": list(WEB)},
        {"name": "memory", "id": "code", "weight": code_weight, "texts": list(CODE)},
    ]
    return cfg


def read(registry, cfg, n, shard=None):
    reader = Components.resolve(cfg, registry).mix("train").reader(shard or Shard())
    try:
        out = []
        for _ in range(n):
            taken = reader.next()
            reader.mark_used()  # as the pipeline does when a document makes an example
            out.append((taken.domain, reader.pass_of(taken.domain), taken.document.index))
        return out
    finally:
        reader.close()


def test_weights_give_their_share_of_documents(registry):
    got = Counter(d for d, _, _ in read(registry, mixed(), 4000))
    assert got[0] / 4000 == pytest.approx(0.75, abs=0.03)
    got = Counter(d for d, _, _ in read(registry, mixed(1.0, 1.0), 4000))
    assert got[0] / 4000 == pytest.approx(0.5, abs=0.03)


def test_each_domain_restarts_on_its_own_and_reads_every_document_once_per_pass(registry):
    taken = read(registry, mixed(), 600)
    for domain, texts in ((0, WEB), (1, CODE)):
        passes: dict[int, list[int]] = {}
        for d, epoch, index in taken:
            if d == domain:
                passes.setdefault(epoch, []).append(index)
        complete = [p for e, p in passes.items() if e < max(passes)]
        assert len(complete) >= 3  # the small domain ran through many passes while the large one went on
        for p in complete:
            assert sorted(p) == list(range(len(texts)))
        assert len({tuple(p) for p in complete}) == len(complete)  # each pass its own order
    # the passes of the small domain end while the large domain is in the middle of one
    code = [(i, e) for i, (d, e, _) in enumerate(taken) if d == 1]
    restarts = [i for (i, e), (_, before) in zip(code[1:], code) if e != before]
    web_before = [sum(1 for d, _, _ in taken[:i] if d == 0) for i in restarts]
    assert len(restarts) >= 3 and any(n % len(WEB) for n in web_before)


def test_the_mix_is_deterministic_and_follows_the_seed(registry):
    a = read(registry, mixed(), 300)
    assert read(registry, mixed(), 300) == a
    assert read(registry, mixed(seed=1), 300) != a
    assert read(registry, mixed(), 300, Shard(0, 2)) != a[:300]


def test_documents_are_told_apart_by_domain_in_the_batches(registry):
    pipe = Pipeline.from_config(mixed(), registry)
    assert pipe.domain_ids == ("web", "code") and pipe.source is pipe.mix  # several sources: their mix
    seen = set()
    for _ in range(30):
        pipe.next_batch()
        assert pipe.last_domain_consumed.sum() > 0
        for (epoch, index), domain in zip(pipe.last_documents.tolist(), pipe.last_document_domains.tolist()):
            texts = (WEB, CODE)[domain]
            assert index < len(texts)
            seen.add((domain, epoch, index))
    assert {(d, i) for d, e, i in seen if e == 0} >= {(1, i) for i in range(len(CODE))}
    stats = pipe.stats
    assert stats.domain_consumed.sum() == stats.consumed.sum()
    assert stats.domain_documents.sum() == stats.documents_read


def test_resume_of_a_mix_is_bit_exact(registry):
    texts = [t * (1 + i % 4) for i, t in enumerate(WEB)]
    cfg = mixed(sequence_length=96)
    cfg["data"]["train"][0]["texts"] = texts
    full = Pipeline.from_config(cfg, registry)
    states, batches = [], []
    for _ in range(45):
        states.append(pickle.loads(pickle.dumps(full.state_dict())))
        batches.append(full.next_batch())
    assert full.stats.epochs_completed >= 2 and any(s["tokens_left"] for s in states)
    for at in (4, 19, 30, 41):
        resumed = Pipeline.from_config(cfg, registry)
        resumed.load_state_dict(states[at])
        for want in batches[at:]:
            got = resumed.next_batch()
            for key in (*got.TENSOR_KEYS, "segment_arms", "arm_consumed"):
                np.testing.assert_array_equal(getattr(got, key), getattr(want, key), err_msg=key)
        assert resumed.stats.to_dict() == full.stats.to_dict()
        np.testing.assert_array_equal(resumed.last_domain_consumed, full.last_domain_consumed)


def test_a_state_of_other_domains_is_refused(registry):
    pipe = Pipeline.from_config(mixed(), registry)
    pipe.next_batch()
    other = mixed()
    other["data"]["train"][1]["id"] = "source_code"
    with pytest.raises(PipelineError, match=r"domains \['web', 'code'\].*\['web', 'source_code'\]"):
        Pipeline.from_config(other, registry).load_state_dict(pipe.state_dict())


def test_two_workers_resume_exactly_and_report_tokens_per_domain(registry, tmp_path):
    cfg = mixed(num_workers=2, every=3)

    def run(b, n):
        out = []
        for step in range(n):
            if b.time_for_eval(b.batches_consumed):
                for key, _ in b.measure_validation_losses():
                    b.log_validation_loss(key, 1.0, b.batches_consumed)
            out.append(digest(b.get_next_training_sample()))
            info = b.last_batch_info
            assert info.domain_ids == ("web", "code")
            assert sum(info.tokens_per_domain().values()) == int(info.arm_consumed.sum())
            out.append(info.document_domains.tolist())
        return out

    with Birdie(cfg, registry=registry, run_dir=tmp_path / "run") as full:
        run(full, 5)
        state = full.state_dict()
        tail = run(full, 10)
        stats = full.data_stats()
    with Birdie(cfg, registry=registry) as resumed:
        resumed.load_state_dict(state)
        assert run(resumed, 10) == tail
    assert set(stats["domains"]) == {"web", "code"}
    assert all(stats["domains"][d]["tokens"] > 0 for d in ("web", "code"))
    records = read_metrics(tmp_path / "run")
    assert records and set(records[-1]["data"]["domains"]) == {"web", "code"}
    assert (
        records[-1]["data"]["domains"]["web"]["documents"]
        > records[-1]["data"]["domains"]["code"]["documents"]
    )


def test_the_resolved_config_writes_each_domain_flat_and_loads_back(registry):
    cfg = load_config(mixed(), registry)
    train = resolved_config(cfg)["data"]["train"]
    assert [(d["id"], d["weight"], d["name"]) for d in train] == [
        ("web", 3.0, "test.memory"),
        ("code", 1.0, "test.memory"),
    ]
    assert load_config(resolved_config(cfg), registry) == cfg


def issues_of(registry, cfg):
    with pytest.raises(ConfigError) as exc:
        load_config(cfg, registry)
    return {i.path: i.message for i in exc.value.issues}


def test_config_errors_name_the_domain_and_key(registry):
    cfg = mixed()
    cfg["data"]["train"][1]["id"] = "web"
    assert "used twice" in issues_of(registry, cfg)["data.train[1].id"]

    cfg = mixed(code_weight=0)
    assert "greater than 0" in issues_of(registry, cfg)["data.train[1].weight"]
    cfg = mixed(web_weight=-2)
    assert "data.train[0].weight" in issues_of(registry, cfg)

    cfg = mixed()
    del cfg["data"]["train"][0]["id"]
    assert "missing 'id'" in issues_of(registry, cfg)["data.train[0].id"]

    cfg = mixed()
    cfg["data"]["train"] = []
    assert "at least one" in issues_of(registry, cfg)["data.train"]

    cfg = mixed()
    cfg["data"]["train"][1]["textz"] = []
    assert "textz" in issues_of(registry, cfg)["data.train[1].textz"]


def test_validation_per_domain_takes_the_training_weights_and_names_known_domains(registry):
    cfg = mixed()
    cfg["data"]["validation"] = [
        {"name": "memory", "id": "code", "texts": ["validation code: " + FOX * 3]},
        {"name": "memory", "id": "web", "weight": 2, "texts": ["validation web: " + FOX * 3]},
    ]
    data = load_config(cfg, registry).data
    assert [(d.id, d.weight) for d in data.validation] == [("code", 1.0), ("web", 2.0)]
    pipe = Components.resolve(cfg, registry).pipeline("validation", mixture=[1.0, 0.0])
    pipe.next_batch()
    assert pipe.domain_ids == ("code", "web")

    cfg["data"]["validation"][0]["id"] = "docs"
    assert "names no training domain" in issues_of(registry, cfg)["data.validation[0].id"]
    single = make_config()
    single["data"]["validation"] = [{"name": "memory", "id": "train", "texts": ["x"]}]
    assert "data.train must be a list" in issues_of(registry, single)["data.validation"]
