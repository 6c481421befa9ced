"""What the data workers read and make reaches the training process, and each evaluation's metrics record."""

from __future__ import annotations

import json

import pytest

from birdie_core.curriculum.birdie import Birdie
from birdie_core.registry import load_registry

TEXT = "a plain sentence long enough for an example. "


@pytest.mark.parametrize("num_workers", [0, 2])
def test_worker_counters_reach_the_training_process_and_the_metrics(tmp_path, num_workers):
    records = []
    for i in range(40):
        if i % 10 == 3:
            records.append(b'{"text": ""}')  # empty: skipped and counted by the source
        elif i % 10 == 7:
            records.append(b'{"text": "bad \xff byte ' + TEXT.encode() + b'"}')  # replaced and counted
        elif i % 10 == 9:
            records.append(b'{"text": "x"}')  # too short for every objective
        else:
            records.append(json.dumps({"text": f"{i}: {TEXT}"}).encode())
    data = tmp_path / "docs.jsonl"
    data.write_bytes(b"\n".join(records) + b"\n")
    cfg = {
        "batch_size": 2,
        "sequence_length": 64,
        # validation reads the training documents: too few to hold any out
        "data": {
            "train": {"name": "files", "paths": [str(data)]},
            "validation": None,
            "validation_holdout": 0,
        },
        "objectives": [{"name": "next_token_prediction", "id": "ntp"}, {"name": "prefix_lm", "id": "plm"}],
        "curriculum": {"steps_between_evaluations": 30},
        "workers": {"num_workers": num_workers},
    }
    with Birdie(cfg, registry=load_registry(autoload=False), run_dir=tmp_path / "run") as birdie:
        for step in range(31):
            if birdie.time_for_eval(step):
                for key, _ in birdie.measure_validation_losses():
                    birdie.log_validation_loss(key, 2.0, step)
            birdie.get_next_training_sample()
        stats = birdie.data_stats()
    # 31 batches of 2 rows x 64 positions take more than one pass over the 40 records
    assert stats["documents_read"] >= 36  # every record but the empty ones becomes a document
    assert stats["source"]["empty"] >= 4 and stats["source"]["invalid_utf8"] >= 4
    assert stats["documents_too_short"] >= 4
    assert set(stats["examples"]) == {"ntp", "plm"} and all(n > 0 for n in stats["examples"].values())
    assert sum(stats["positions"].values()) > 0

    metrics = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in metrics] == [0, 30]
    last = metrics[-1]["data"]
    assert last["source"]["invalid_utf8"] >= 4 and last["documents_read"] >= 36
    assert last["examples"]["ntp"] > 0


def test_lone_surrogates_replaced_by_the_bytes_tokenizer_reach_the_training_process(tmp_path):
    # JSON's "\\ud800" decodes to a lone surrogate, which the source passes on and the tokenizer replaces
    records = [json.dumps({"text": f"{i}: {TEXT}"}) for i in range(20)]
    records[5] = '{"text": "lone \\ud800 surrogate, ' + TEXT + '"}'
    data = tmp_path / "docs.jsonl"
    data.write_text("\n".join(records) + "\n")
    cfg = {
        "batch_size": 2,
        "sequence_length": 64,
        # validation reads the training documents: too few to hold any out
        "data": {
            "train": {"name": "files", "paths": [str(data)]},
            "validation": None,
            "validation_holdout": 0,
        },
        "objectives": [{"name": "next_token_prediction", "id": "ntp"}],
        "workers": {"num_workers": 2},
    }
    with Birdie(cfg, registry=load_registry(autoload=False), run_dir=tmp_path / "run") as birdie:
        for _ in range(12):
            birdie.get_next_training_sample()
        stats = birdie.data_stats()
    assert stats["documents_read"] >= 10
    assert stats["tokenizer"]["surrogates_replaced"] >= 1
