"""`birdie train`, in-process: exact resume, bad input, the run directory, and a check of learning quality."""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path

import pytest

from birdie_core.config import OptimizerConfig
from birdie_core.curriculum.birdie import Birdie
from birdie_core.errors import CheckpointError, ConfigError, RunDirectoryError
from birdie_core.train.loop import build_scheduler, train
from tests.support import evaluations, losses, registry_with_noise, tiny_config, unlearnable_config


def quiet(_: str) -> None:
    pass


def files_of(directory: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()
    }


# ---------------------------------------------------------------------------------------------------------
# The run directory and exact resume
# ---------------------------------------------------------------------------------------------------------


def test_a_run_leaves_config_logs_checkpoints_and_plots(tmp_path):
    run = tmp_path / "run"
    result = train(tiny_config(run), echo=quiet)
    assert result.finished and result.steps_done == result.total_steps == 12
    names = {p.name for p in run.iterdir()}
    assert {"config.resolved.yaml", "plugins.json", "metrics.jsonl", "train.jsonl", "checkpoints"} <= names
    assert {p.name for p in result.plots} == {"mixture.png", "validation_loss.png", "train_loss.png"}
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in result.plots)
    assert [s for s, _, _ in losses(run)] == list(range(12))
    # evaluations at 0, 3, 6, 9 and one at the end; the agent acted on each
    assert [s for s, _, _ in evaluations(run)] == [0, 3, 6, 9, 12]
    assert result.final_losses == evaluations(run)[-1][1]
    # checkpoints every 4 steps, the newest 2 kept; the last one holds the state after the final evaluation
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["step_0000008", "step_0000012"]
    ckpt = run / "checkpoints" / "step_0000012"
    assert {"model.safetensors", "optimizer.bin", "scheduler.bin", "random_states_0.pkl"} <= {
        p.name for p in ckpt.iterdir()
    }
    assert {"birdie_state.json", "trainer_state_0.json", "manifest.json"} <= {p.name for p in ckpt.iterdir()}


def test_resume_after_an_interruption_gives_the_same_loss_curve(tmp_path, monkeypatch):
    """Dropout is on and the agent learns, so the model, optimizer, schedule, RNG, data stream and agent
    must all come back exactly for the curves to match to the last bit."""
    whole, broken = tmp_path / "whole", tmp_path / "broken"
    cfg = {"workers": {"num_workers": 1}, "curriculum": {"num_steps": 14}}
    train(tiny_config(whole, **cfg), echo=quiet)

    real = Birdie.get_next_training_sample
    calls = {"n": 0}

    def crash_at_step_10(self):
        calls["n"] += 1
        if calls["n"] == 11:  # the batch of step 10: steps 0-9 are done, the newest checkpoint is step 8
            raise KeyboardInterrupt
        return real(self)

    monkeypatch.setattr(Birdie, "get_next_training_sample", crash_at_step_10)
    with pytest.raises(KeyboardInterrupt):
        train(tiny_config(broken, **cfg), echo=quiet)
    monkeypatch.setattr(Birdie, "get_next_training_sample", real)
    assert [s for s, _, _ in losses(broken)] == list(range(10))
    assert [s for s, _, _ in evaluations(broken)] == [0, 3, 6, 9]

    said: list[str] = []
    result = train(tiny_config(broken, **cfg), resume=broken, echo=said.append)
    [resumed] = [line for line in said if line.startswith("resumed ")]
    assert "step_0000008" in resumed and "(step 8 of 14)" in resumed
    assert result.finished and result.steps_done == 14
    assert losses(broken) == losses(whole)  # steps 8 and 9 were dropped from the log and trained again
    assert evaluations(broken) == evaluations(whole)
    assert len({loss for _, loss, _ in losses(whole)}) == 14  # the curve moves: nothing trivially equal


def test_max_steps_stops_early_and_resume_finishes_the_same_run(tmp_path):
    whole, halves = tmp_path / "whole", tmp_path / "halves"
    train(tiny_config(whole), echo=quiet)
    first = train(tiny_config(halves), max_steps=5, echo=quiet)
    assert not first.finished and first.steps_done == 5
    assert (halves / "checkpoints" / "step_0000005").is_dir() and (halves / "mixture.png").is_file()
    second = train(tiny_config(halves), resume=halves, echo=quiet)
    assert second.finished and losses(halves) == losses(whole) and evaluations(halves) == evaluations(whole)
    # resuming a finished run does nothing but redraw the plots
    again = train(tiny_config(halves), resume=halves, echo=quiet)
    assert again.finished and losses(halves) == losses(whole)


def test_learning_rate_warms_up_then_decays_by_cosine():
    import torch

    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    sched = build_scheduler(opt, OptimizerConfig(lr=1.0, warmup_steps=4, min_lr_ratio=0.1), total_steps=14)
    rates = []
    for _ in range(14):
        rates.append(sched.get_last_lr()[0])
        opt.step()
        sched.step()
    assert rates[:4] == pytest.approx([0.25, 0.5, 0.75, 1.0])
    assert rates[4] == pytest.approx(1.0) and all(a > b for a, b in itertools.pairwise(rates[4:]))
    assert rates[-1] == pytest.approx(0.1 + 0.9 * 0.5 * (1 + torch.cos(torch.tensor(0.9 * torch.pi)).item()))


# ---------------------------------------------------------------------------------------------------------
# Bad input: clear errors, nothing written or overwritten
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ({"width": 30, "heads": 4}, "train.model: width (30) must be a multiple of heads (4)"),
        ({"max_length": 32}, "model.max_length (32) is less than sequence_length (64)"),
    ],
)
def test_a_model_that_does_not_fit_is_a_config_error(tmp_path, model, expected):
    with pytest.raises(ConfigError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        train(tiny_config(tmp_path / "run", train={"model": model}), echo=quiet)
    assert not (tmp_path / "run").exists()


def test_a_missing_data_file_is_a_config_error_before_anything_is_written(tmp_path):
    missing = {"train": {"name": "files", "paths": [str(tmp_path / "nope.txt")]}}
    with pytest.raises(ConfigError) as info:
        train(tiny_config(tmp_path / "run", data=missing), echo=quiet)
    [issue] = info.value.issues
    assert (
        issue.path == "data.train.paths[0]"
    )  # exactly once: the build step names the place, nothing re-paths it
    assert re.fullmatch(r"file .*nope\.txt' does not exist.*", issue.message, flags=re.S)
    assert not (tmp_path / "run").exists()
    # not even --overwrite touches an earlier run when the new config cannot run
    train(tiny_config(tmp_path / "run"), max_steps=1, echo=quiet)
    before = files_of(tmp_path / "run")
    with pytest.raises(ConfigError, match="does not exist"):
        train(tiny_config(tmp_path / "run", data=missing), overwrite=True, echo=quiet)
    assert files_of(tmp_path / "run") == before


def test_an_existing_run_directory_is_refused_unless_resume_or_overwrite(tmp_path):
    run = tmp_path / "run"
    train(tiny_config(run), max_steps=2, echo=quiet)
    before = files_of(run)
    with pytest.raises(RunDirectoryError, match="already exists: continue it with --resume"):
        train(tiny_config(run), echo=quiet)
    assert files_of(run) == before
    result = train(tiny_config(run), max_steps=3, overwrite=True, echo=quiet)
    assert result.steps_done == 3 and [s for s, _, _ in losses(run)] == [0, 1, 2]

    # --overwrite deletes only what looks like a Birdie run
    other = tmp_path / "precious"
    other.mkdir()
    (other / "thesis.tex").write_text("years of work")
    with pytest.raises(RunDirectoryError, match="does not look like a Birdie run directory"):
        train(tiny_config(other), overwrite=True, echo=quiet)
    assert (other / "thesis.tex").read_text() == "years of work"


@pytest.mark.parametrize("damaged", ["model.safetensors", "optimizer.bin", "birdie_state.json"])
def test_a_truncated_checkpoint_is_a_clear_error_and_nothing_is_overwritten(tmp_path, damaged):
    run = tmp_path / "run"
    train(tiny_config(run), max_steps=4, echo=quiet)
    path = run / "checkpoints" / "step_0000004" / damaged
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    before = files_of(run)
    with pytest.raises(
        CheckpointError, match=r"cannot resume from .*step_0000004: it is damaged or incomplete"
    ):
        train(tiny_config(run), resume=run, echo=quiet)
    assert files_of(run) == before


def test_resume_needs_a_checkpoint_and_the_same_config(tmp_path):
    run = tmp_path / "run"
    with pytest.raises(RunDirectoryError, match="does not exist"):
        train(tiny_config(run), resume=run, echo=quiet)
    train(tiny_config(run), max_steps=2, echo=quiet)  # stops before the first periodic checkpoint...
    assert [p.name for p in (run / "checkpoints").iterdir()] == ["step_0000002"]  # ...but saves at its end
    with pytest.raises(RunDirectoryError, match=r"the config differs .*batch_size: was 4, now 8"):
        train(tiny_config(run, batch_size=8), resume=run, echo=quiet)
    for ckpt in (run / "checkpoints").iterdir():
        for f in ckpt.iterdir():
            f.unlink()
        ckpt.rmdir()
    with pytest.raises(CheckpointError, match="holds no complete checkpoint"):
        train(tiny_config(run), resume=run, echo=quiet)


def test_a_run_saved_before_a_setting_existed_resumes_with_its_default(tmp_path):
    """A later Birdie adds train settings (precision, evals, ...): the saved resolved config of an older run
    lacks them, and their defaults must not read as a config change."""
    import yaml

    from birdie_core.config import RESOLVED_CONFIG_NAME

    run = tmp_path / "run"
    train(tiny_config(run), max_steps=2, echo=quiet)
    saved_path = run / RESOLVED_CONFIG_NAME
    saved = yaml.safe_load(saved_path.read_text())
    for key in ("precision", "evals", "init_from"):
        del saved["train"][key]
    saved_path.write_text(yaml.safe_dump(saved))
    assert train(tiny_config(run), resume=run, max_steps=3, echo=quiet).steps_done == 3
    # a real difference still stops the resume
    with pytest.raises(RunDirectoryError, match=r"batch_size: was 4, now 8"):
        train(tiny_config(run, batch_size=8), resume=run, echo=quiet)


# ---------------------------------------------------------------------------------------------------------
# Learning quality: the agent steers away from an objective that cannot be learned
# ---------------------------------------------------------------------------------------------------------


def test_the_birdie_agent_moves_weight_away_from_an_unlearnable_objective(tmp_path):
    """Next-token, prefix-LM and copying are learnable; `noise` asks for uniformly random bytes, whose loss
    cannot fall below ln 256. The agent starts uniform (0.25 each) and explores as it does by default (20-50%
    of its decisions put the mass on 1-2 random objectives), so single decisions swing: the test compares the
    share the agent commanded over the second half of the run, and over all its decisions, with the start.

    Measured over seeds 0-9 with this setup: the noise objective got 0.12-0.25 of the batches (median 0.17)
    and a second-half mean share of 0.06-0.32 (9 of 10 below 0.25); this seed: 0.16 and 0.14.
    """
    run = tmp_path / "run"
    cfg = unlearnable_config(run)
    result = train(cfg, registry=registry_with_noise(), echo=quiet)
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    shares = [r["mixture"]["noise"] for r in records]
    start = result.initial_mixture["noise"]
    second_half = shares[len(shares) // 2 :]
    late = sum(second_half) / len(second_half)
    batches = sum(r["realised"]["batches"] for r in records[1:])
    of_batches = (
        sum(r["realised"]["commanded_share"]["noise"] * r["realised"]["batches"] for r in records[1:])
        / batches
    )
    report = {"start": start, "final": shares[-1], "second_half_mean": late, "of_all_batches": of_batches}
    print("noise share:", json.dumps({k: round(v, 3) for k, v in report.items()}))
    final_losses = result.final_losses
    assert final_losses["noise"] > 5.5 and max(final_losses[k] for k in ("ntp", "plm", "copy")) < 4.5
    assert start == pytest.approx(0.25)
    assert late < start
    assert of_batches < start


def test_the_linear_agent_with_new_low_starves_an_unlearnable_objective(tmp_path):
    """The same run under the quickstart's agent and reward (``linear``, ``new_low`` absolute): the noise
    objective's recovery earns nothing, so its share falls to the floor within a few decisions and stays there
    (issue 18's target: a median share of the batches ≤ 0.08 over 10 seeds, at most 0.15; see
    plugins/birdie_rewards/README.md for the seeds measured). The reasons of every decision are recorded."""
    run = tmp_path / "run"
    cfg = unlearnable_config(run)
    cfg["curriculum"]["agent"] = {"name": "linear"}
    cfg["curriculum"]["reward"] = {"name": "new_low", "form": "absolute"}
    result = train(cfg, registry=registry_with_noise(), echo=quiet)
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    batches = sum(r["realised"]["batches"] for r in records[1:])
    of_batches = (
        sum(r["realised"]["commanded_share"]["noise"] * r["realised"]["batches"] for r in records[1:])
        / batches
    )
    assert of_batches < 0.12, of_batches
    assert records[-1]["mixture"]["noise"] < 0.08
    assert result.final_losses["noise"] > 5.5
    steps = [r["agent"] for r in records if (r.get("agent") or {}).get("phase") == "step"]
    assert len(steps) >= len(records) - 3
    # values per class, named by objective
    assert all(len(a["value"]) == 4 and "noise.random_targets" in a["value"] for a in steps)
    # the model learnt that training the noise objective is worth less than training any other
    late = dict(steps[-1]["value"])
    noise = late.pop("noise.random_targets")
    assert noise < min(late.values())


def test_batches_larger_than_memory_are_refused_before_anything_is_written(tmp_path):
    huge = tiny_config(tmp_path / "run", batch_size=4_000_000, sequence_length=4096)
    with pytest.raises(ConfigError) as info:
        train(huge, echo=quiet)
    assert [i.path for i in info.value.issues] == ["batch_size"]
    assert (
        "more than the" in info.value.issues[0].message
        and "available on this machine" in info.value.issues[0].message
    )
    assert not (tmp_path / "run").exists()


# ---------------------------------------------------------------------------------------------------------
# A Hugging Face tokenizer end to end
# ---------------------------------------------------------------------------------------------------------


def test_a_hugging_face_tokenizer_trains_resumes_and_sizes_the_model(tmp_path):
    """Byte-level BPE without a pad token: the pad id and sentinels are appended above its vocabulary, the
    model's embedding covers them, the banner says so, and a resumed run is the same run."""
    pytest.importorskip("tokenizers")
    from birdie_core.testing.tokenizers import train_bpe

    path = train_bpe(tmp_path, vocab_size=400)
    tok_cfg = {"tokenizer": {"name": "huggingface", "path": str(path), "num_sentinels": 8}}
    whole, halves = tmp_path / "whole", tmp_path / "halves"
    said: list[str] = []
    result = train(tiny_config(whole, **tok_cfg), echo=said.append)
    assert result.finished
    (banner,) = [line for line in said if line.startswith("tokenizer: ")]
    # 400 own ids, then pad, 8 sentinels and the [S] and start markers: 11 appended
    assert "HuggingFaceTokenizer" in banner and "vocab_size=411" in banner and "pad id 400" in banner
    from safetensors.torch import load_file

    weights = load_file(whole / "checkpoints" / "step_0000012" / "model.safetensors")
    assert weights["embed.weight"].shape[0] == 411
    train(tiny_config(halves, **tok_cfg), max_steps=5, echo=quiet)
    train(tiny_config(halves, **tok_cfg), resume=halves, echo=quiet)
    assert losses(halves) == losses(whole) and evaluations(halves) == evaluations(whole)
