"""``make bench-curriculum`` (benchmarks/curriculum.py): its configs are valid at every scale, the fine-tuning
run's vocabulary is the pre-training run's, and a 2-step smoke run of the whole harness writes the table."""

from __future__ import annotations

import importlib.util
import json
import math
import subprocess
import sys

import pytest

from tests.support import ROOT, clean_env

SCRIPT = ROOT / "benchmarks" / "curriculum.py"


def _bench():
    spec = importlib.util.spec_from_file_location("bench_curriculum", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_curriculum"] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("scale", ["cpu", "gpu", "smoke"])
def test_every_config_is_valid_and_fine_tuning_keeps_the_vocabulary(scale, tmp_path):
    from birdie_core.pipeline.build import Components

    bench = _bench()
    reg = bench.registry()
    sizes = bench.SCALES[scale]
    probe = Components.resolve(bench.ntp_probe_config(sizes), reg).tokenizer()
    for arm in bench.ARMS:
        for model in bench.MODELS:
            pre = bench.pretrain_config(arm, model, 0, sizes, tmp_path / "pre")
            markers = bench.markers_of(pre, reg)
            tuned = bench.finetune_config(model, 0, sizes, tmp_path / "ft", tmp_path / "pre", markers)
            pre_tok = Components.resolve(pre, reg).tokenizer()
            ft_tok = Components.resolve(tuned, reg).tokenizer()
            assert ft_tok.vocab_size == pre_tok.vocab_size
            assert bench.markers_of(tuned, reg) == markers
            # the common next-token batches use ids every arm's vocabulary gives the same meaning
            assert probe.special_id("<|gen|>") == pre_tok.special_id("<|gen|>")
            assert probe.vocab_size <= pre_tok.vocab_size
    objective_ids = {
        arm: [o["id"] for o in bench.objectives(arm, sizes)]
        for arm in ("birdie", "linear", "uniform", "ul2", "next_token")
    }
    # the agent is the only difference
    assert objective_ids["birdie"] == objective_ids["linear"] == objective_ids["uniform"]
    assert len(objective_ids["ul2"]) == 7 and objective_ids["next_token"] == ["next_token"]


@pytest.mark.slow
def test_smoke_run_writes_the_table(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--smoke", "--output", str(tmp_path)],
        cwd=ROOT,
        check=False,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    results = json.loads((tmp_path / "curriculum-smoke.json").read_text())
    bench = _bench()
    expected = {(m, a) for a, m in bench.SMOKE_CELLS}
    assert {(r["model"], r["arm"]) for r in results["table"]} == expected
    assert results["seeds"] == [0] and len(results["cells"]) == len(expected)
    for row in results["table"]:
        assert row["seeds"] == [0]
        for key, _, _ in bench.METRICS:
            value = row[key]["mean"]
            assert isinstance(value, float) and math.isfinite(value), (row["arm"], key, value)
        assert row["ntp_val_loss"]["mean"] > 0
        assert 0.0 <= row["phonebook_digit_accuracy"]["mean"] <= 1.0
        assert 0.0 <= row["associative_recall_exact_match"]["mean"] <= 1.0
    for cell in results["cells"]:
        assert "error" not in cell
        assert sum(cell["final_mixture"].values()) == pytest.approx(1.0)
    table = (tmp_path / "curriculum-smoke.md").read_text()
    assert "| model | mixture |" in table
    assert "| gated_ssm | birdie agent |" in table and "| prefix_lm_transformer | next-token only |" in table
    assert (tmp_path / "curriculum-smoke.png").stat().st_size > 0
    shown = subprocess.run(
        [sys.executable, str(SCRIPT), "--show", str(tmp_path / "curriculum-smoke.json")],
        cwd=ROOT,
        check=False,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert shown.returncode == 0 and shown.stdout == table
