"""Scoring models: greedy decoding aligned with the answer, candidate losses, a real tiny model end to end."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from birdie_core.builtins.tokenizers import ByteTokenizer
from birdie_core.evals import (
    DEFAULT_START_MARKER,
    TASKS,
    EvalError,
    encode_parts,
    evaluate,
    generate,
    make_task,
)
from birdie_core.train.models import PrefixLMTransformer

MARKERS = ("[COPY]", "[START]", "[END]", "[CONTEXT]", "[DONE]")
SMALL = {
    "phonebook": {"entries": 6, "queries": 2, "digits": 4},
    "associative_recall": {"pairs": 6},
    "selective_copying": {"context_words": 12, "span_words": (2, 3), "delimiter_words": (1, 2)},
    "multiple_choice_infilling": {},
}


@pytest.fixture(scope="module")
def tokenizer():
    return ByteTokenizer(specials=[DEFAULT_START_MARKER, "[S]", *MARKERS])


def oracle(tokenizer, task, n, seed, paradigm=None, **options):
    """A model_fn that puts all mass on the right next answer token, given the prompt it reads."""
    head = [] if paradigm is None else [tokenizer.special_id(paradigm)]
    start = tokenizer.special_id(DEFAULT_START_MARKER)
    answers = {}
    for inst in generate(task, n, seed, **options):
        prompt = (*head, *encode_parts(inst.prompt, tokenizer).tolist(), start)
        answers[prompt] = encode_parts(inst.answer, tokenizer).tolist()
    calls = []

    def model_fn(input_ids, attention_mask, segment_ids, position_ids):
        calls.append(input_ids.shape)
        logits = torch.zeros((*input_ids.shape, tokenizer.vocab_size))
        for r in range(input_ids.shape[0]):
            p = int(attention_mask[r].sum())
            length = int((segment_ids[r] > 0).sum())
            assert torch.equal(position_ids[r, :length], torch.arange(length))
            answer = answers[tuple(input_ids[r, :p].tolist())]
            for t in range(p - 1, length):
                if t - p + 1 < len(answer):
                    logits[r, t, answer[t - p + 1]] = 10.0
        return logits

    return model_fn, calls


@pytest.mark.parametrize("task", ["phonebook", "associative_recall", "selective_copying"])
def test_an_oracle_scores_one(tokenizer, task):
    model_fn, calls = oracle(tokenizer, task, 10, seed=5, **SMALL[task])
    result = evaluate(model_fn, tokenizer, task, n=10, seed=5, batch_size=4, details=True, **SMALL[task])
    assert result.value == 1.0 and result.n == 10
    assert all(d.predicted == d.answer for d in result.details)
    assert len(calls) > 1 and max(s[0] for s in calls) <= 4  # batched, step by step


def test_the_oracle_with_a_paradigm_and_a_paper_sized_book(tokenizer):
    options = {"entries": 200, "queries": 4, "digits": 7}
    model_fn, _ = oracle(tokenizer, "phonebook", 3, seed=0, paradigm="[S]", **options)
    result = evaluate(model_fn, tokenizer, "phonebook", n=3, seed=0, paradigm="[S]", **options)
    assert result.value == 1.0 and result.metric == "digit_accuracy" and result.chance == pytest.approx(0.1)


def test_an_off_by_one_model_scores_near_chance(tokenizer):
    # the oracle's answer shifted one position late: what a misaligned decoder would produce
    model_fn, _ = oracle(tokenizer, "phonebook", 8, seed=1, **SMALL["phonebook"])

    def late(input_ids, attention_mask, segment_ids, position_ids):
        logits = model_fn(input_ids, attention_mask, segment_ids, position_ids)
        return torch.roll(logits, shifts=1, dims=1)

    result = evaluate(late, tokenizer, "phonebook", n=8, seed=1, **SMALL["phonebook"])
    assert result.value < 0.5


def test_multiple_choice_picks_the_lowest_mean_loss(tokenizer):
    task = make_task("multiple_choice_infilling")
    instances = generate(task, 6, seed=2)
    favourite = {}  # per prompt: the candidate the fake model likes, not always the right one
    for k, inst in enumerate(instances):
        prompt = tuple(encode_parts(inst.prompt, tokenizer).tolist())
        favourite[prompt] = (k % 4, [encode_parts(c, tokenizer).tolist() for c in inst.candidates])

    def model_fn(input_ids, attention_mask, segment_ids, position_ids):
        logits = torch.zeros((*input_ids.shape, tokenizer.vocab_size))
        for r in range(input_ids.shape[0]):
            p = int(attention_mask[r].sum())
            pick, cands = favourite[tuple(input_ids[r, : p - 1].tolist())]
            length = int((segment_ids[r] > 0).sum())
            continuation = input_ids[r, p:length].tolist()
            # only rows holding the favourite candidate get confident predictions of it
            target = cands[pick]
            if continuation == target[:-1]:
                for t in range(p - 1, length):
                    logits[r, t, target[t - p + 1]] = 10.0
        return logits

    result = evaluate(model_fn, tokenizer, task, n=6, seed=2, batch_size=8, details=True)
    assert [d.chosen for d in result.details] == [k % 4 for k in range(6)]
    expected = np.mean([float(k % 4 == inst.correct) for k, inst in enumerate(instances)])
    assert result.value == pytest.approx(expected)
    assert result.metric == "accuracy" and result.chance == 0.25
    d = result.details[0]
    assert min(d.losses) == d.losses[d.chosen] and len(d.losses) == 4


@pytest.mark.parametrize("task", sorted(TASKS))
def test_a_tiny_random_transformer_runs_end_to_end(tokenizer, task):
    torch.manual_seed(0)
    model = PrefixLMTransformer(tokenizer.vocab_size, max_length=512, width=32, depth=1, heads=2).eval()
    result = evaluate(
        model.logits, tokenizer, task, n=3, seed=0, batch_size=2, sequence_length=512, **SMALL[task]
    )
    assert 0.0 <= result.value <= 1.0 and result.n == 3
    assert result.to_dict()["task"] == task and "details" not in result.to_dict()
    again = evaluate(model.logits, tokenizer, task, n=3, seed=0, batch_size=3, **SMALL[task])
    assert again.value == result.value  # batching does not change the answers


def test_clear_errors(tokenizer):
    bare = ByteTokenizer()
    model_fn, _ = oracle(tokenizer, "phonebook", 1, seed=0)
    with pytest.raises(EvalError, match="start-of-generation marker '<|gen|>'"):
        evaluate(model_fn, bare, "phonebook", n=1)
    with pytest.raises(EvalError, match=r"marker '\[COPY\]'"):
        evaluate(model_fn, ByteTokenizer(specials=[DEFAULT_START_MARKER]), "selective_copying", n=1)
    with pytest.raises(EvalError, match="needs .* positions but rows have 64"):
        evaluate(model_fn, tokenizer, "phonebook", n=1, sequence_length=64)
    with pytest.raises(EvalError, match="unknown evaluation task"):
        evaluate(model_fn, tokenizer, "nope", n=1)


def test_a_task_eval_entry_validates_and_runs(tokenizer):
    from pydantic import ValidationError

    from birdie_core.evals import TaskEval

    entry = TaskEval.model_validate({"task": "phonebook", "n": 4, "seed": 2, "entries": 6, "digits": 4})
    assert entry.options == {"entries": 6, "digits": 4} and entry.key == "phonebook[digits=4,entries=6]"
    model_fn, _ = oracle(tokenizer, "phonebook", 4, seed=2, entries=6, digits=4)
    result = entry.run(model_fn, tokenizer, sequence_length=256)
    assert result.value == 1.0 and result.n == 4 and result.config["entries"] == 6
    with pytest.raises(ValidationError, match="entires"):
        TaskEval.model_validate({"task": "phonebook", "entires": 6})
    with pytest.raises(ValidationError, match="unknown task"):
        TaskEval.model_validate({"task": "phonebok"})
