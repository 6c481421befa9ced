"""`birdie train`'s performance settings: gradient accumulation, mixed precision, torch.compile."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from birdie_core.curriculum.birdie import Birdie
from birdie_core.errors import ConfigError
from birdie_core.train import loop
from birdie_core.train.loop import train
from tests.support import evaluations, losses, tiny_config


def quiet(_: str) -> None:
    pass


class OptimizerSteps:
    """Counts the trainer's optimizer updates and keeps the gradients the first one applied (the agent's
    reward model has an optimizer of its own: only the one build_optimizer makes is watched)."""

    def __init__(self) -> None:
        self.count = 0
        self.first_grads: list[torch.Tensor] | None = None

    def __call__(self, optimizer: torch.optim.Optimizer, *_: Any) -> None:
        self.count += 1
        if self.first_grads is None:
            self.first_grads = [
                p.grad.detach().clone() for group in optimizer.param_groups for p in group["params"]
            ]


@pytest.fixture
def optimizer_steps(monkeypatch):
    counter = OptimizerSteps()
    real = loop.build_optimizer

    def watched(*args: Any, **kwargs: Any) -> torch.optim.Optimizer:
        optimizer = real(*args, **kwargs)
        optimizer.register_step_pre_hook(counter)
        return optimizer

    monkeypatch.setattr(loop, "build_optimizer", watched)
    return counter


def records(run: Path, name: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run / name).read_text().splitlines()]


# ---------------------------------------------------------------------------------------------------------
# Gradient accumulation
# ---------------------------------------------------------------------------------------------------------


def test_a_step_is_one_update_over_gradient_accumulation_steps_batches(tmp_path, optimizer_steps):
    run = tmp_path / "run"
    cfg = tiny_config(run, curriculum={"num_steps": 6}, train={"gradient_accumulation_steps": 2})
    result = train(cfg, echo=quiet)
    assert result.finished and result.steps_done == 6
    assert optimizer_steps.count == 6
    assert [s for s, _, _ in losses(run)] == list(range(6))
    # evaluations land between updates, at the steps of the schedule, after 2 batches per step
    metrics = records(run, "metrics.jsonl")
    assert [(r["step"], r["batches_consumed"]) for r in metrics] == [(0, 0), (3, 6), (6, 12)]
    # a step's tokens count both of its batches (one batch holds at most 4 × 64)
    assert all(4 * 64 < r["tokens"] <= 2 * 4 * 64 for r in records(run, "train.jsonl"))
    # the schedule stepped once per update
    scheduler = torch.load(run / "checkpoints" / "step_0000006" / "scheduler.bin", weights_only=True)
    assert scheduler["last_epoch"] == 6


def test_two_batches_of_b_accumulated_update_as_one_batch_of_2b(tmp_path, optimizer_steps, monkeypatch):
    """The same rows either way: accumulation 2 draws two batches of 4; accumulation 1 gets both at once
    (Birdie's own batches of 8 are packed differently, so they would not be a fair comparison). The model's
    loss is the mean over labelled positions, so the two are the same update when both batches hold as many
    labels; clipping is active, and must apply to the whole step's gradient, not to each batch's."""
    settings = {"model": {"dropout": 0.0}, "optimizer": {"grad_clip": 0.05}}
    accumulated = tiny_config(tmp_path / "a", train={**settings, "gradient_accumulation_steps": 2})
    train(accumulated, max_steps=1, echo=quiet)
    grads_accumulated = optimizer_steps.first_grads

    real = Birdie.get_next_training_sample
    labels: list[int] = []

    def two_batches_at_once(self: Birdie) -> dict[str, torch.Tensor]:
        first, second = real(self), real(self)
        labels.extend(int((b["label_ids"] != -100).sum()) for b in (first, second))
        return {k: torch.cat([first[k], second[k]]) for k in first}

    monkeypatch.setattr(Birdie, "get_next_training_sample", two_batches_at_once)
    optimizer_steps.first_grads = None
    train(tiny_config(tmp_path / "b", train=settings), max_steps=1, echo=quiet)
    assert labels[0] == labels[1], "the comparison needs two batches with as many labels (seed 3 gives it)"
    assert grads_accumulated is not None and optimizer_steps.first_grads is not None
    norm = torch.sqrt(sum(g.pow(2).sum() for g in grads_accumulated))
    assert float(norm) == pytest.approx(0.05, rel=1e-4)  # clipped once, over the whole step
    for a, b in zip(grads_accumulated, optimizer_steps.first_grads, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-8)
    assert losses(tmp_path / "a")[0][1] == pytest.approx(losses(tmp_path / "b")[0][1], rel=1e-5)


def test_resume_with_accumulation_gives_the_same_loss_curve(tmp_path):
    whole, halves = tmp_path / "whole", tmp_path / "halves"
    cfg = {"curriculum": {"num_steps": 7}, "train": {"gradient_accumulation_steps": 2}}
    train(tiny_config(whole, **cfg), echo=quiet)
    first = train(tiny_config(halves, **cfg), max_steps=4, echo=quiet)
    assert not first.finished and first.steps_done == 4
    second = train(tiny_config(halves, **cfg), resume=halves, echo=quiet)
    assert second.finished and second.steps_done == 7
    assert losses(halves) == losses(whole) and evaluations(halves) == evaluations(whole)
    assert [r["batches_consumed"] for r in records(halves, "metrics.jsonl")] == [0, 6, 12, 14]


# ---------------------------------------------------------------------------------------------------------
# Mixed precision
# ---------------------------------------------------------------------------------------------------------


def test_bf16_trains_on_the_cpu_close_to_float32(tmp_path):
    train(tiny_config(tmp_path / "fp32"), max_steps=3, echo=quiet)
    train(tiny_config(tmp_path / "bf16", train={"precision": "bf16"}), max_steps=3, echo=quiet)
    fp32, bf16 = losses(tmp_path / "fp32"), losses(tmp_path / "bf16")
    assert all(torch.isfinite(torch.tensor(loss)) for _, loss, _ in bf16)
    assert bf16[0][1] != fp32[0][1]  # autocast was on...
    assert bf16[0][1] == pytest.approx(fp32[0][1], rel=0.02)  # ...and bfloat16 is close at the first step


def test_fp16_on_the_cpu_is_a_config_error_before_anything_is_written(tmp_path):
    run = tmp_path / "run"
    with pytest.raises(ConfigError) as info:
        train(tiny_config(run, train={"precision": "fp16"}), echo=quiet)
    [issue] = info.value.issues
    assert issue.path == "train.precision"
    assert "needs a GPU" in issue.message and "'bf16'" in issue.message
    assert not run.exists()
    # the refused setting does not stay behind in accelerate's process-wide state
    assert train(tiny_config(run), max_steps=1, echo=quiet).steps_done == 1


def test_the_launchers_precision_applies_when_train_precision_is_null(tmp_path, monkeypatch):
    monkeypatch.setenv("ACCELERATE_MIXED_PRECISION", "fp16")  # what accelerate launch --mixed_precision sets
    with pytest.raises(ConfigError, match=r"train.precision: 'fp16' \(the launcher's"):
        train(tiny_config(tmp_path / "run"), echo=quiet)
    # a value in the config wins over the launcher
    assert train(tiny_config(tmp_path / "run", train={"precision": "no"}), max_steps=1, echo=quiet).steps_done


def test_an_unknown_precision_is_refused_with_its_path(tmp_path):
    with pytest.raises(ConfigError, match="train.precision"):
        train(tiny_config(tmp_path / "run", train={"precision": "fp8"}), echo=quiet)


# ---------------------------------------------------------------------------------------------------------
# torch.compile
# ---------------------------------------------------------------------------------------------------------


def test_compile_trains_and_checkpoints_the_plain_weights(tmp_path, monkeypatch):
    """The wiring (compile after prepare, evaluation through the compiled model, checkpoint keys, resume)
    with dynamo's aot_eager backend: inductor's C++ builds take minutes on a shared 2-core CPU."""
    real_compile = torch.compile
    used: list[Any] = []

    def aot_eager(model: torch.nn.Module, **kwargs: Any) -> Any:
        used.append(model)
        return real_compile(model, backend="aot_eager", **kwargs)

    monkeypatch.setattr(torch, "compile", aot_eager)
    run = tmp_path / "run"
    cfg = tiny_config(run, curriculum={"num_steps": 4}, train={"compile": True, "model": {"dropout": 0.0}})
    first = train(cfg, max_steps=2, echo=quiet)
    assert first.steps_done == 2 and len(used) == 1
    assert all(torch.isfinite(torch.tensor(loss)) for _, loss, _ in losses(run))
    from safetensors.torch import load_file

    names = set(load_file(run / "checkpoints" / "step_0000002" / "model.safetensors"))
    assert "embed.weight" in names and not any("_orig_mod" in n for n in names)
    assert train(cfg, resume=run, echo=quiet).finished


def test_compile_without_a_cxx_compiler_is_a_config_error(tmp_path, monkeypatch):
    monkeypatch.setattr(loop, "_cxx_compiler", lambda: None)
    run = tmp_path / "run"
    with pytest.raises(ConfigError) as info:
        train(tiny_config(run, train={"compile": True}), echo=quiet)
    [issue] = info.value.issues
    assert issue.path == "train.compile" and "C++ compiler" in issue.message
    assert not run.exists()
