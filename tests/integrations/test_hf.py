"""The Hugging Face adapter: a tiny random Llama trains on Birdie's batches with Birdie's loss and mask."""

from __future__ import annotations

import pytest
import torch

from birdie_core import Birdie
from birdie_core.integrations.hf import prefix_lm_mask, to_causal_lm_inputs
from birdie_core.testing import CORPUS
from tests.support import make_config, make_registry

transformers = pytest.importorskip("transformers")

pytestmark = pytest.mark.usefixtures("time_limit")


def reference_loss(logits: torch.Tensor, label_ids: torch.Tensor) -> torch.Tensor:
    """Birdie's loss: labels already shifted, so no shifting here."""
    return torch.nn.functional.cross_entropy(
        logits.flatten(0, 1).float(), label_ids.flatten(), ignore_index=-100
    )


def tiny_llama(vocab_size: int, attn: str = "eager"):
    torch.manual_seed(0)
    config = transformers.LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=256,
        attn_implementation=attn,
    )
    return transformers.LlamaForCausalLM(config)


#: short documents, so that rows hold several packed examples
SHORT = tuple(CORPUS[i % len(CORPUS)][:40] for i in range(48))


@pytest.fixture(scope="module")
def batches():
    config = make_config(texts=SHORT, batch_size=2, sequence_length=64)
    with Birdie(config, registry=make_registry()) as birdie:
        yield birdie.tokenizer.vocab_size, [birdie.get_next_training_sample() for _ in range(6)]


def test_labels_are_unshifted_and_the_last_column_is_kept_as_shift_labels(batches):
    _, bs = batches
    b = bs[0]
    out = to_causal_lm_inputs(b)
    assert torch.equal(out["labels"][:, 1:], b["label_ids"][:, :-1])
    assert (out["labels"][:, 0] == -100).all()
    assert torch.equal(out["shift_labels"], b["label_ids"])
    # the packer fills rows to the end: the last column holds a real target, which `labels` cannot carry
    lost = sum(int((x["label_ids"][:, -1] != -100).sum()) for x in bs)
    assert lost > 0
    assert "shift_labels" not in to_causal_lm_inputs(b, shift_labels=False)


@pytest.mark.parametrize("attn", ["eager", "sdpa"])
def test_model_loss_equals_birdie_reference_loss_while_training(batches, attn):
    vocab, bs = batches
    model = tiny_llama(vocab, attn)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    first = last = None
    for b in bs:
        out = model(**to_causal_lm_inputs(b))
        ref = reference_loss(out.logits, b["label_ids"])
        assert abs(out.loss.item() - ref.item()) < 1e-5
        # without shift_labels the model sees every label but the last column's
        plain = model(**to_causal_lm_inputs(b, shift_labels=False)).loss
        kept = b["label_ids"].clone()
        kept[:, -1] = -100
        assert abs(plain.item() - reference_loss(out.logits, kept).item()) < 1e-5
        opt.zero_grad()
        out.loss.backward()
        opt.step()
        first = ref.item() if first is None else first
        last = ref.item()
    assert last < first


@pytest.mark.parametrize("attn", ["eager", "sdpa"])
def test_a_target_token_changes_no_prefix_logit_and_nothing_in_other_segments(batches, attn):
    vocab, bs = batches
    model = tiny_llama(vocab, attn).eval()
    # a segment with a prefix of several tokens and a target, in a row with other segments
    b, row, k = next(
        (x, r, k)
        for x in bs
        for r in range(x["input_ids"].shape[0])
        for k in range(1, int(x["segment_ids"][r].max()) + 1)
        if x["segment_ids"][r].max() > 1
        and ((x["segment_ids"][r] == k) & (x["attention_mask"][r] == 1)).sum() > 1
        and ((x["segment_ids"][r] == k) & (x["attention_mask"][r] == 0)).sum() > 2
    )
    seg, prefix = b["segment_ids"][row], b["attention_mask"][row] == 1
    target_cols = ((seg == k) & ~prefix).nonzero().flatten()
    col = int(target_cols[len(target_cols) // 2])
    changed = {name: v.clone() for name, v in b.items()}
    changed["input_ids"][row, col] = (changed["input_ids"][row, col] + 1) % vocab
    with torch.no_grad():
        before = model(**to_causal_lm_inputs(b)).logits[row]
        after = model(**to_causal_lm_inputs(changed)).logits[row]
    moved = (before - after).abs().amax(-1) > 0
    unaffected = ((seg == k) & prefix) | (seg != k) | (torch.arange(seg.shape[0]) < col)
    assert unaffected.sum() > (seg == k).sum()  # other segments are in the row
    assert not moved[unaffected].any()
    assert moved[col]  # the mask is not simply blocking everything


def test_the_mask_is_prefix_lm_per_segment():
    seg = torch.tensor([[1, 1, 1, 2, 2, 0]])
    attn = torch.tensor([[1, 1, 0, 1, 0, 0]])
    allowed = prefix_lm_mask(seg, attn)[0, 0] == 0
    expected = torch.tensor(
        [
            [1, 1, 0, 0, 0, 0],
            [1, 1, 0, 0, 0, 0],
            [1, 1, 1, 0, 0, 0],
            [0, 0, 0, 1, 0, 0],
            [0, 0, 0, 1, 1, 0],
            [0, 0, 0, 0, 0, 1],
        ],
        dtype=torch.bool,
    )
    assert torch.equal(allowed, expected)
    assert prefix_lm_mask(seg, attn, torch.bfloat16).dtype == torch.bfloat16
