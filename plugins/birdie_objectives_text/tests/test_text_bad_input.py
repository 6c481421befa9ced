"""Bad input through a whole pipeline: no crash, no hang, no silently lost document, no forged special id."""

from __future__ import annotations

import time
from collections import Counter

import numpy as np
import pytest
from birdie_objectives_text import Autoencoding, Copying, Deshuffling, SelectiveCopying, SpanCorruption

from birdie_core.builtins.objectives import NextTokenPrediction
from birdie_core.builtins.packers import BestFitPacker
from birdie_core.interfaces import Arm, Objective
from birdie_core.pipeline import Pipeline
from birdie_core.testing import CORPUS, InMemorySource, assert_batch_contract, time_limit

from .support import START, context, make_tokenizer

_FAKES = [
    "<|endoftext|>",
    "[[mask_0]]",
    "<mask_0>",
    "<mask_511>",
    "[COPY]",
    "[START]",
    "[END]",
    "[CONTEXT]",
    "[DONE]",
    "[MASK]",
    "[R]",
    "[X]",
    "<|start|>",
    "<pad>",
    "<unk_3>",
    "<|INFILL|>",
    "<|D|>",
    "<|SC|>",
]
# numbered, so that selective copying can find unique delimiters in it
LOOK_ALIKES = "".join(f"{_FAKES[i % len(_FAKES)]} {i} " for i in range(600))
INVALID_UTF8 = (b"caf\xc3 \xff\xfe bad \xed\xa0\x80 bytes \x80" * 30).decode("utf-8", "surrogateescape")
LONE_SURROGATES = "\ud800 lone \udfff surrogates \udc80 " * 20
BAD = {
    "empty": "",
    "whitespace": " \n\t  \r\n   " * 3,
    "one character": "a",
    "two characters": "é",
    "look-alikes": LOOK_ALIKES,
    "invalid utf-8": INVALID_UTF8,
    "lone surrogates": LONE_SURROGATES,
    "nul and controls": "\x00\x01\x02\x1b[0m\x7f" * 50,
}


def objectives(paradigm: bool = True) -> list[Objective]:
    p = {"paradigm_at_end": 0.5}
    return [
        SpanCorruption(SpanCorruption.Config(name="infilling", paradigm="[R]" if paradigm else None, **p)),
        SpanCorruption(
            SpanCorruption.Config(name="infilling", corruption_rate=0.5, mean_span=32, length=(64, 128))
        ),
        Copying(Copying.Config(name="copying", length=(16, 64))),
        Deshuffling(
            Deshuffling.Config(name="deshuffling", fraction=1.0, paradigm="<|D|>" if paradigm else None, **p)
        ),
        Deshuffling(Deshuffling.Config(name="deshuffling", unit="tokens")),
        Autoencoding(Autoencoding.Config(name="autoencoding", shuffle_spans=True)),
        Autoencoding(Autoencoding.Config(name="autoencoding", corruption_rate=0.85, length=(32, 200))),
        SelectiveCopying(
            SelectiveCopying.Config(name="selective_copying", paradigm="<|SC|>" if paradigm else None)
        ),
    ]


ALL = objectives()


def pipeline(objs, texts, kind="bytes", *, sequence_length=256, batch_size=4, seed=0) -> Pipeline:
    specials = [s for o in objs for s in o.special_tokens()]
    tok = make_tokenizer(kind, specials)
    arms = [Arm(f"arm{i}", type(o).__name__) for i, o in enumerate(objs)]
    packer = BestFitPacker(BestFitPacker.Config(name="best_fit"), batch_size, sequence_length, len(objs))
    return Pipeline(tok, InMemorySource(texts=texts), objs, arms, packer, [1.0] * len(objs), seed, START)


def run_epochs(pipe: Pipeline, epochs: int = 1, max_batches: int = 500) -> list:
    batches = []
    while pipe.stats.epochs_completed < epochs:
        batches.append(pipe.next_batch())
        assert len(batches) < max_batches, "the pipeline does not get through its documents"
    return batches


@pytest.mark.parametrize("kind", ["bytes", "tiktoken"])
@pytest.mark.parametrize("index", range(len(ALL)), ids=[f"{type(o).__name__}{i}" for i, o in enumerate(ALL)])
def test_bad_documents_through_a_pipeline_of_each_objective(index, kind):
    texts = [*BAD.values(), CORPUS[5][:3000]]
    pipe = pipeline([ALL[index]], texts, kind)
    with time_limit(20):
        for batch in run_epochs(pipe, epochs=2):
            assert_batch_contract(batch, num_arms=1)
    stats = pipe.stats
    assert stats.examples.sum() > 0
    # the empty document and the one-character one are too short for every text objective: counted
    assert stats.documents_skipped >= 2 * 2 and 0 in stats.skipped_indices and 2 in stats.skipped_indices


@pytest.mark.parametrize("kind", ["bytes", "tiktoken"])
def test_nothing_is_lost_silently(kind):
    """Every token read is either in an example, a dropped tail, a skipped document or still pending."""
    texts = [*BAD.values(), *CORPUS[:6], "ab", "xyz"]
    objs = objectives()
    pipe = pipeline(objs, texts, kind, sequence_length=512)
    tok = pipe.tokenizer
    lengths = [tok.encode(t).shape[0] for t in texts]
    with time_limit(30):
        run_epochs(pipe, epochs=2)
        pipe.next_batch()  # stop somewhere inside the third epoch
    stats = pipe.stats
    reads = [lengths[i % len(texts)] for i in range(stats.documents_read)]
    # below 4 tokens no text objective can make an example: exactly those documents are skipped
    too_short = [n for n in reads if n < 4]
    assert stats.documents_skipped == len(too_short)
    pending = pipe.state_dict()["tokens_left"]
    assert sum(reads) == stats.consumed.sum() + stats.tail_tokens_dropped + sum(too_short) + pending
    assert np.all(stats.examples > 0), f"every objective made examples: {stats.examples}"


def _structural_specials(example, tok, obj) -> Counter:
    """What reserved ids the objective itself put in an example."""
    return Counter(
        np.concatenate([example.prefix, example.target])[
            np.asarray(tok.is_special(np.concatenate([example.prefix, example.target])), bool)
        ].tolist()
    )


@pytest.mark.parametrize("kind", ["bytes", "tiktoken"])
@pytest.mark.parametrize("index", range(len(ALL)), ids=[f"{type(o).__name__}{i}" for i, o in enumerate(ALL)])
def test_look_alikes_never_become_reserved_ids(index, kind):
    obj = ALL[index]
    tok = make_tokenizer(kind, obj.special_tokens())
    tokens = tok.encode(LOOK_ALIKES)
    assert not np.asarray(tok.is_special(tokens)).any(), "the tokenizer treats look-alikes as text"
    assert tok.decode(tokens) == LOOK_ALIKES
    made = 0
    for seed in range(10):
        example, _ = obj.build(tokens, 512, context(tok, seed))
        if example is None:
            continue
        made += 1
        got = _structural_specials(example, tok, obj)
        markers = Counter({tok.special_id(START): 1})
        if obj.config.paradigm:
            markers[tok.special_id(obj.config.paradigm)] += 1
        sentinels = set(tok.sentinel_ids().tolist())
        if isinstance(obj, SpanCorruption):
            used = [i for i in got if i in sentinels]
            assert all(got[i] == 2 for i in used), "each sentinel once in the input and once in the target"
            assert sorted(used) == tok.sentinel_ids()[: len(used)].tolist()
            markers.update({i: 2 for i in used})
        elif isinstance(obj, Autoencoding):
            markers[tok.special_id("[MASK]")] = got[tok.special_id("[MASK]")]
            assert markers[tok.special_id("[MASK]")] >= 1
        elif isinstance(obj, SelectiveCopying):
            q = got[tok.special_id("[DONE]")]
            assert q >= 1
            markers.update({tok.special_id(m): q for m in ("[COPY]", "[START]", "[END]", "[DONE]")})
            markers[tok.special_id("[CONTEXT]")] = 1
        assert got == markers, "only the objective's own markers may be reserved ids"
    assert made > 0


def test_a_10_mb_document_is_consumed_incrementally():
    """Tokenized once, consumed example by example: the cost per batch does not grow with the document."""
    big = ("\n\n".join(CORPUS) * 25)[:10_000_000]
    small = CORPUS[:20]
    objs = objectives()

    def per_batch(texts, n):
        pipe = pipeline(objs, texts, sequence_length=2048, batch_size=8)
        pipe.next_batch()  # reads (and tokenizes) the first document
        t0 = time.perf_counter()
        for _ in range(n):
            assert_batch_contract(pipe.next_batch(), num_arms=len(objs))
        return (time.perf_counter() - t0) / n, pipe

    with time_limit(30):
        t_small, _ = per_batch(small, 10)
        t_big, pipe = per_batch([big], 10)
    assert pipe.stats.documents_read == 1
    # an O(document) step per example would make each batch ~1000x slower here, not 3x
    assert t_big < 3 * t_small + 0.05, f"{t_big * 1e3:.1f} ms per batch on 10 MB vs {t_small * 1e3:.1f} ms"


@pytest.mark.parametrize("index", range(len(ALL)), ids=[f"{type(o).__name__}{i}" for i, o in enumerate(ALL)])
def test_each_objective_eats_a_10_mb_document_in_linear_time(index):
    obj = ALL[index]
    tok = make_tokenizer("bytes", obj.special_tokens())
    tokens = tok.encode(("\n\n".join(CORPUS) * 25)[:10_000_000])
    ctx = context(tok, 0)
    rest = tokens
    with time_limit(20):
        t0 = time.perf_counter()
        for _ in range(200):  # 200 full-row examples from the head of 10 MB
            example, rest = obj.build(rest, 2048, ctx)
            assert example is not None and example.length <= 2048
        elapsed = time.perf_counter() - t0
    assert elapsed < 5.0, f"{elapsed:.2f} s for 200 examples"
    assert rest.shape[0] < tokens.shape[0] and np.shares_memory(rest, tokens), (
        "the rest is a view, not a copy"
    )


def test_with_core_objectives_and_every_text_objective_together():
    objs = [NextTokenPrediction(NextTokenPrediction.Config(name="ntp")), *objectives()]
    texts = [*BAD.values(), *CORPUS[:10]]
    pipe = pipeline(objs, texts, sequence_length=1024, batch_size=4)
    with time_limit(30):
        for batch in run_epochs(pipe, epochs=1):
            assert_batch_contract(batch, num_arms=len(objs))
    assert pipe.stats.documents_skipped >= 1  # the empty document: nobody can use it
