"""The gated SSM honours the batch contract like the Transformer: bidirectional prefix, causal target, nothing
across packed examples or from padding — proved by perturbing inputs and watching which outputs move; and its
parallel scan is the recurrence it stands for."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from birdie_core.builtins.objectives import PrefixLM
from birdie_core.builtins.packers import BestFitPacker
from birdie_core.builtins.tokenizers import ByteTokenizer
from birdie_core.interfaces import ObjectiveContext
from birdie_core.train.ssm import GatedSSM, GatedSSMMixer, linear_scan, recurrence_carries

SEQ_LEN = 48


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny tensors gain nothing from a second thread, and on a shared machine its spin-waits cost 10-50x."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _batch() -> tuple[dict[str, torch.Tensor], int]:
    """One packed row: three examples (prefix, then target) and padding after them."""
    tok = ByteTokenizer(specials=["<|gen|>"])
    ctx = ObjectiveContext(tok, np.random.default_rng(0), tok.special_id("<|gen|>"))
    packer = BestFitPacker(BestFitPacker.Config(name="core.best_fit"), 1, SEQ_LEN, 1)
    obj = PrefixLM(PrefixLM.Config(name="core.prefix_lm", prefix_fraction=0.5))
    for text in ["the quick brown fox", "jumps over", "a lazy dog"]:
        ex, _ = obj.build(tok.encode(text), packer.budget(), ctx)
        assert ex is not None
        packer.add(ex, 0)
    batch = packer.pop().to_torch()
    seg = batch["segment_ids"][0]
    assert int(seg.max()) == 3 and bool((seg == 0).any())  # the row really has three examples and padding
    return batch, tok.vocab_size


def _model(vocab: int, depth: int = 2, **kwargs) -> GatedSSM:
    torch.manual_seed(0)
    return GatedSSM(vocab, SEQ_LEN, width=32, depth=depth, **kwargs).eval()


def _moved_by_each_position(model: GatedSSM, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Bool (L, L): does position i's output change when token j changes (``[j, i]``)? Row j of one batch is
    the row with token j changed. (A cut recurrence multiplies by an exact 0, and a reached position moves by
    about 1e-3 here: the threshold only absorbs rounding that differs between rows of a matrix multiply.)"""
    ids = batch["input_ids"].repeat(SEQ_LEN + 1, 1)
    index = torch.arange(SEQ_LEN)
    ids[index, index] = (ids[index, index] % 200) + 3  # the last row stays unchanged
    rows = {k: batch[k].expand(SEQ_LEN + 1, -1) for k in ("attention_mask", "segment_ids", "position_ids")}
    with torch.no_grad():
        out = model.logits(ids, **rows)
    return (out[:-1] - out[-1:]).abs().amax(-1) > 1e-6


def _contract(batch: dict[str, torch.Tensor], bidirectional: bool = True) -> torch.Tensor:
    """Bool (L, L) ``[j, i]``: may position i depend on token j? Only for i outside padding."""
    seg = batch["segment_ids"][0]
    prefix = batch["attention_mask"][0].bool() & bidirectional
    index = torch.arange(SEQ_LEN)
    visible = (index[:, None] <= index[None, :]) | (prefix[:, None] & prefix[None, :])
    return (seg[:, None] == seg[None, :]) & (seg[None, :] != 0) & visible


def _sequential_scan(a: torch.Tensor, b: torch.Tensor, reverse: bool) -> torch.Tensor:
    h = torch.zeros_like(b[:, 0])
    out = torch.empty_like(b)
    order = range(a.shape[1] - 1, -1, -1) if reverse else range(a.shape[1])
    for t in order:
        h = a[:, t] * h + b[:, t]
        out[:, t] = h
    return out


@pytest.mark.parametrize("length", [1, 2, 3, 7, 8, 33, 100])
@pytest.mark.parametrize("reverse", [False, True])
def test_the_parallel_scan_is_the_sequential_recurrence(length, reverse):
    gen = torch.Generator().manual_seed(length)
    a = torch.rand(2, length, 5, generator=gen)
    a[:, ::4, 0] = 0.0  # resets, as at segment boundaries
    a[:, :, 1] = 1.0  # a channel that never forgets
    b = torch.randn(2, length, 5, generator=gen)
    expected = _sequential_scan(a, b, reverse)
    assert torch.allclose(linear_scan(a, b, reverse=reverse), expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("length", [1, 2, 5, 8, 33])
@pytest.mark.parametrize("reverse", [False, True])
def test_the_scan_gradient_is_the_recurrence_gradient(length, reverse):
    gen = torch.Generator().manual_seed(length)
    a = torch.rand(2, length, 3, generator=gen, dtype=torch.float64)
    a[:, ::3, 0] = 0.0
    b = torch.randn(2, length, 3, generator=gen, dtype=torch.float64)
    upstream = torch.randn(2, length, 3, generator=gen, dtype=torch.float64)
    grads = []
    for scan in (linear_scan, _sequential_scan):
        a_, b_ = a.clone().requires_grad_(), b.clone().requires_grad_()
        (scan(a_, b_, reverse) * upstream).sum().backward()
        grads.append((a_.grad, b_.grad))
    for ours, expected in zip(*grads):
        assert ours is not None and expected is not None
        assert torch.allclose(ours, expected, atol=1e-10)


def test_the_carries_cut_at_segments_targets_and_padding():
    seg = torch.tensor([[1, 1, 1, 1, 2, 2, 2, 0, 0]])
    pre = torch.tensor([[1, 1, 0, 0, 1, 1, 0, 0, 0]])
    forward, reverse = (c[0, :, 0].tolist() for c in recurrence_carries(pre, seg))
    assert forward == [0, 1, 1, 1, 0, 1, 1, 0, 0]
    # reverse: only between two prefix positions of one segment (the prefix's end never reads the target)
    assert reverse == [1, 0, 0, 0, 1, 0, 0, 0, 0]


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_outputs_depend_only_on_what_the_contract_allows(depth):
    batch, vocab = _batch()
    moved = _moved_by_each_position(_model(vocab, depth), batch)
    # padding's own outputs carry no loss: what matters is that it reaches nothing else
    real = batch["segment_ids"][0] != 0
    assert torch.equal(moved[:, real], _contract(batch)[:, real])


def test_the_prefix_start_sees_the_prefix_end_and_never_the_target():
    batch, vocab = _batch()
    seg = batch["segment_ids"][0]
    last_prefix = int(torch.nonzero(batch["attention_mask"][0].bool() & (seg == 1)).max())  # the marker
    for depth in (1, 2):
        moved = _moved_by_each_position(_model(vocab, depth), batch)
        assert moved[last_prefix, 0]  # through the reverse half
        # the marker predicts the first target token, so that token must not reach it (or anything before)
        assert not moved[last_prefix + 1, : last_prefix + 1].any()


def test_a_causal_model_is_strictly_causal():
    batch, vocab = _batch()
    real = batch["segment_ids"][0] != 0
    causal = _contract(batch, bidirectional=False)[:, real]
    assert torch.equal(_moved_by_each_position(_model(vocab, 2, bidirectional=False), batch)[:, real], causal)
    # a bidirectional model on rows without a prefix is causal too
    no_prefix = dict(batch, attention_mask=torch.zeros_like(batch["attention_mask"]))
    assert torch.equal(_moved_by_each_position(_model(vocab, 2), no_prefix)[:, real], causal)


def test_loss_uses_prepared_labels_and_ignores_extra_keys():
    batch, vocab = _batch()
    model = _model(vocab)
    loss = model(**batch, some_extra_key=torch.zeros(1))
    logits = model(**{k: v for k, v in batch.items() if k != "label_ids"})
    assert logits.shape == (1, SEQ_LEN, vocab)
    expected = torch.nn.functional.cross_entropy(
        logits.flatten(0, 1), batch["label_ids"].flatten(), ignore_index=-100
    )
    assert torch.allclose(loss, expected)
    assert loss.ndim == 0 and torch.isfinite(loss)


def test_it_learns_a_fixed_batch():
    batch, vocab = _batch()
    model = _model(vocab).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    first = model(**batch)
    first.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, name
    losses = [float(first.detach())]
    for _ in range(15):
        optimizer.step()
        optimizer.zero_grad()
        loss = model(**batch)
        loss.backward()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.8 * losses[0], losses


def test_it_runs_under_bfloat16_autocast():
    batch, vocab = _batch()
    model = _model(vocab)
    with torch.no_grad():
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = model(**batch)
        assert torch.isfinite(loss) and abs(float(loss) - float(model(**batch))) < 0.05


def test_no_weight_decay_lists_every_forget_projection():
    model = _model(300, depth=3)
    names = dict(model.named_parameters())
    skip = model.no_weight_decay()
    assert skip == {f"blocks.{n}.mixer.forget.{p}" for n in range(3) for p in ("weight", "bias")}
    assert skip <= names.keys()


def test_forget_gates_start_with_a_spread_of_memories_in_both_halves():
    model = _model(300)
    first_mixer = next(m for m in model.modules() if isinstance(m, GatedSSMMixer))  # a bidirectional one
    f = torch.sigmoid(first_mixer.forget.bias.detach())
    for half in f.chunk(2):
        assert float(half.min()) < 0.6 and float(half.max()) > 0.99


def test_the_state_must_split_in_halves():
    with pytest.raises(ValueError, match="even size"):
        GatedSSM(300, width=33)
    GatedSSM(300, width=33, state_expansion=2)


# ---------------------------------------------------------------------------------------------------------
# In `birdie train`: train.model.name selects it
# ---------------------------------------------------------------------------------------------------------


def test_birdie_train_trains_the_gated_ssm_and_resumes_it(tmp_path):
    from birdie_core.train import loop
    from tests.support import losses, tiny_config

    run = tmp_path / "run"
    model = {"name": "gated_ssm", "width": 32, "depth": 2, "state_expansion": 2}
    cfg = tiny_config(run, curriculum={"num_steps": 6}, train={"model": model, "checkpoint_every": 3})
    first = loop.train(cfg, max_steps=3, echo=lambda _: None)
    assert first.steps_done == 3
    resumed = loop.train(cfg, resume=run, echo=lambda _: None)
    assert resumed.finished and resumed.final_losses is not None
    assert all(math.isfinite(v) for v in resumed.final_losses.values())
    assert [s for s, _, _ in losses(run)] == list(range(6))


def test_the_trainer_leaves_the_forget_gates_without_weight_decay():
    from birdie_core.train.config import OptimizerConfig
    from birdie_core.train.loop import build_optimizer

    model = GatedSSM(50, 16, width=8, depth=2)
    decay, no_decay = build_optimizer(model, OptimizerConfig(weight_decay=0.1)).param_groups
    names = {id(p): n for n, p in model.named_parameters()}
    undecayed = {names[id(p)] for p in no_decay["params"]}
    assert model.no_weight_decay() <= undecayed
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    assert not any("forget" in names[id(p)] for p in decay["params"])


def test_the_config_validates_the_ssm_settings():
    from pydantic import ValidationError

    from birdie_core.train.config import TrainModelConfig

    assert TrainModelConfig(name="gated_ssm", width=30, heads=4).width == 30  # heads concern attention only
    with pytest.raises(ValidationError, match="must be even"):
        TrainModelConfig(name="gated_ssm", width=3)
    with pytest.raises(ValidationError, match="multiple of heads"):
        TrainModelConfig(width=30, heads=4)
