"""Training on a task: the `task` source and `task_answer` objective make the examples the evaluator scores."""

from __future__ import annotations

import numpy as np
import pytest

from birdie_core.builtins.agents import StaticAgent
from birdie_core.builtins.packers import BestFitPacker
from birdie_core.builtins.tokenizers import ByteTokenizer
from birdie_core.config import load_config
from birdie_core.errors import ConfigError
from birdie_core.evals import encode_parts, generate
from birdie_core.evals.training import ANSWER_MARKER, TaskSource, TaskSourceConfig
from birdie_core.interfaces import IGNORE_INDEX, Shard
from birdie_core.pipeline import Pipeline
from birdie_core.testing import SourceConformance, assert_batch_contract
from tests.support import memory_registry

START = "<|start|>"
PHONEBOOK = {"entries": 4, "queries": 2, "digits": 3}


@pytest.fixture(scope="module")
def registry():
    return memory_registry()


def config(source, objectives=({"name": "task_answer"},), sequence_length=256):
    return {
        "seed": 0,
        "batch_size": 3,
        "sequence_length": sequence_length,
        "start_generating_paradigm": START,
        "tokenizer": ByteTokenizer.Config(name="core.bytes"),
        "data": {"train": source},
        "objectives": list(objectives),
        "packer": BestFitPacker.Config(name="core.best_fit"),
        "curriculum": {"agent": StaticAgent.Config(name="core.static")},
        "workers": {"num_workers": 0},
    }


def segments(batch):
    for b in range(batch.input_ids.shape[0]):
        for s in range(1, int(batch.segment_ids[b].max()) + 1):
            where = batch.segment_ids[b] == s
            yield (
                batch.input_ids[b][where],
                batch.attention_mask[b][where].astype(bool),
                batch.label_ids[b][where],
            )


@pytest.mark.parametrize("paradigm", [None, "[T]"])
def test_prefix_is_the_prompt_and_labels_are_exactly_the_answer(registry, paradigm):
    source = {"name": "task", "task": "phonebook", "count": 40, "seed": 7, **PHONEBOOK}
    objective = {"name": "task_answer", **({"paradigm": paradigm} if paradigm else {})}
    pipeline = Pipeline.from_config(config(source, [objective]), registry)
    tok = pipeline.tokenizer
    start = tok.special_id(START)
    head = [tok.special_id(paradigm)] if paradigm else []
    # the training stream is the split's: instance i of stream "train" under the source's seed
    expected = {
        tuple(encode_parts(i.prompt, tok).tolist()): encode_parts(i.answer, tok).tolist()
        for i in generate("phonebook", 40, seed=7, stream="train", **PHONEBOOK)
    }
    seen = 0
    for _ in range(4):
        batch = pipeline.next_batch()
        assert_batch_contract(batch)
        for ids, prefix, labels in segments(batch):
            p = int(prefix.sum())
            assert ids[p - 1] == start and ANSWER_MARKER not in tok.decode(ids)
            assert ids[: len(head)].tolist() == head
            answer = expected[tuple(ids[len(head) : p - 1].tolist())]
            # every answer token is a label, the prefix's last position predicting the first
            assert labels[p - 1 :].tolist() == answer
            assert (labels[: p - 1] == IGNORE_INDEX).all()
            assert ids[p:].tolist() == answer[:-1]
            seen += 1
    assert seen >= 12


def test_other_objectives_read_task_documents_as_plain_text(registry):
    source = {"name": "task", "task": "associative_recall", "count": 10, "pairs": 3}
    pipeline = Pipeline.from_config(config(source, [{"name": "next_token_prediction"}]), registry)
    batch = pipeline.next_batch()
    text = pipeline.tokenizer.decode(batch.input_ids[0][batch.segment_ids[0] > 0])
    assert "=" in text and ANSWER_MARKER not in text


def test_the_source_shards_partition_and_repeat_each_epoch():
    src = TaskSource(TaskSourceConfig(name="task", task="phonebook", count=9, **PHONEBOOK))
    whole = [d.index for d in src.documents()]
    parts = sorted(d.index for k in range(3) for d in src.documents(Shard(k, 3)))
    assert whole == parts == list(range(9))
    assert [d.text for d in src.documents(epoch=0)] == [d.text for d in src.documents(epoch=1)]
    other = TaskSource(
        TaskSourceConfig(name="task", task="phonebook", split="validation", count=9, **PHONEBOOK)
    )
    assert not {d.text for d in src.documents()} & {d.text for d in other.documents()}
    evaluated = {i.prompt_text + i.answer_text for i in generate("phonebook", 9, seed=0, **PHONEBOOK)}
    assert not evaluated & {d.text for d in src.documents()}


def test_task_parameters_are_checked_with_the_config(registry):
    bad = {"name": "task", "task": "phonebook", "entires": 4}
    with pytest.raises(ConfigError, match="entires"):
        load_config(config(bad), registry)
    with pytest.raises(ConfigError, match="unknown task 'phonebok'"):
        load_config(config({"name": "task", "task": "phonebok"}), registry)


def test_an_instance_too_long_for_a_row_is_skipped_not_cut(registry):
    source = {"name": "task", "task": "phonebook", "count": 5, "entries": 64}
    pipeline = Pipeline.from_config(
        config(source, [{"name": "task_answer"}, {"name": "prefix_lm"}], sequence_length=64), registry
    )
    batch = pipeline.next_batch()
    assert pipeline.stats.examples[0] == 0 and pipeline.stats.examples[1] > 0
    assert np.all(batch.segment_arms[batch.segment_arms >= 0] == 1)


class TestTaskSourceConformance(SourceConformance):
    source_cls = TaskSource
    source_config = TaskSourceConfig(name="task", task="associative_recall", count=15, options={"pairs": 3})
