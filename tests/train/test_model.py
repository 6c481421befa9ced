"""The reference model honours the batch contract: bidirectional prefix, causal target, no cross-segment
attention — proved by perturbing inputs and watching which outputs move."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from birdie_core.builtins.objectives import PrefixLM
from birdie_core.builtins.packers import BestFitPacker
from birdie_core.builtins.tokenizers import ByteTokenizer
from birdie_core.interfaces import ObjectiveContext
from birdie_core.train.models import PrefixLMTransformer, attention_allowed, attention_bias

torch.manual_seed(0)


def _batch(seq_len: int = 48):
    tok = ByteTokenizer(specials=["<|gen|>"])
    ctx = ObjectiveContext(tok, np.random.default_rng(0), tok.special_id("<|gen|>"))
    packer = BestFitPacker(BestFitPacker.Config(name="core.best_fit"), 1, seq_len, 1)
    obj = PrefixLM(PrefixLM.Config(name="core.prefix_lm", prefix_fraction=0.5))
    for text in ["the quick brown fox", "jumps over the lazy dog"]:
        ex, _ = obj.build(tok.encode(text), packer.budget(), ctx)
        packer.add(ex, 0)
    return packer.pop().to_torch(), tok


def _model(vocab: int, seq_len: int) -> PrefixLMTransformer:
    return PrefixLMTransformer(vocab, seq_len, width=32, depth=2, heads=4).eval()


def test_mask_structure():
    seg = torch.tensor([[1, 1, 1, 1, 2, 2, 2, 0]])
    pre = torch.tensor([[1, 1, 0, 0, 1, 0, 0, 0]])
    allowed = attention_allowed(pre, seg)[0]
    assert allowed[0, 1]  # prefix sees later prefix
    assert not allowed[1, 2]  # prefix never sees the target
    assert allowed[3, 2] and allowed[3, 0] and not allowed[2, 3]  # target is causal
    assert not allowed[4, 3] and not allowed[3, 4]  # no attention across segments
    assert allowed[7, 7] and not allowed[7, 6]  # padding sees only itself


def test_outputs_depend_only_on_what_the_contract_allows():
    batch, tok = _batch()
    model = _model(tok.vocab_size, 48)
    seg = batch["segment_ids"][0]
    prefix = batch["attention_mask"][0].bool()
    base = model.logits(batch["input_ids"], batch["attention_mask"], batch["segment_ids"], batch["position_ids"])
    n = int((seg != 0).sum())
    for j in range(n):
        changed = batch["input_ids"].clone()
        changed[0, j] = (changed[0, j] % 200) + 3
        out = model.logits(changed, batch["attention_mask"], batch["segment_ids"], batch["position_ids"])
        moved = (out - base).abs().amax(-1)[0] > 1e-6
        for i in range(n):
            may_see = seg[i] == seg[j] and (j <= i or (prefix[i] and prefix[j]))
            assert bool(moved[i]) == bool(may_see), (i, j)


def test_loss_uses_prepared_labels_and_ignores_extra_keys():
    batch, tok = _batch()
    model = _model(tok.vocab_size, 48)
    loss = model(**batch, some_extra_key=torch.zeros(1))
    logits = model(**{k: v for k, v in batch.items() if k != "label_ids"})
    expected = torch.nn.functional.cross_entropy(
        logits.flatten(0, 1), batch["label_ids"].flatten(), ignore_index=-100
    )
    assert torch.allclose(loss, expected)
    assert loss.ndim == 0 and torch.isfinite(loss)


def test_a_position_beyond_max_length_is_a_clear_error():
    batch, tok = _batch(48)
    model = _model(tok.vocab_size, 8)
    with pytest.raises(ValueError, match="exceeds the model's max_length 8"):
        model(**batch)


def test_width_must_divide_by_heads():
    with pytest.raises(ValueError, match="multiple of heads"):
        PrefixLMTransformer(300, 16, width=30, heads=4)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_the_attention_bias_is_zero_where_allowed_and_minus_infinity_elsewhere(dtype):
    seg = torch.tensor([[1, 1, 1, 2, 2, 0]])
    pre = torch.tensor([[1, 1, 0, 1, 0, 0]])
    bias = attention_bias(pre, seg, dtype)
    assert bias.shape == (1, 1, 6, 6) and bias.dtype == dtype
    allowed = attention_allowed(pre, seg)[:, None]
    assert bool((bias[allowed] == 0).all()) and bool((bias[~allowed] == float("-inf")).all())


def test_bf16_autocast_gives_a_loss_close_to_float32():
    batch, tok = _batch()
    model = _model(tok.vocab_size, 48)
    with torch.no_grad():
        full = model(**batch)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            half = model(**batch)
    assert half.dtype == torch.float32 and torch.isfinite(half)  # the loss itself is computed in float32
    assert float(half) == pytest.approx(float(full), rel=0.02)
