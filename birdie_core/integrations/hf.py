"""Birdie batches for Hugging Face causal language models (``LlamaForCausalLM`` and the like).

:func:`to_causal_lm_inputs` turns one batch of Birdie's contract (README.md, "The batch contract") into the
keyword arguments of a Hugging Face ``...ForCausalLM.forward``:

- ``labels`` in Hugging Face's *unshifted* convention. The model shifts them itself (position ``t`` predicts
  ``labels[t + 1]``), whereas Birdie's ``label_ids[t]`` is already what position ``t`` predicts, so
  ``labels[:, 1:] = label_ids[:, :-1]`` and ``labels[:, 0] = -100``. The label of the last column,
  ``label_ids[:, -1]``, has no place in ``labels``; the packer fills rows to the end, so it is almost always a
  real target (the last token of the row's last example). ``shift_labels`` (on by default) also passes
  ``label_ids`` as ``shift_labels``, which Hugging Face's causal-LM loss takes *instead of* shifting
  ``labels``: then no label is lost and the model's ``loss`` is exactly Birdie's reference loss.
- ``position_ids`` restarting at every packed example: the packing convention of
  ``DataCollatorWithFlattening`` and FlashAttention-2's variable-length path.
- ``attention_mask`` (``mask="prefix_lm"``): a 4-D additive float mask ``(batch, 1, L, L)`` in the model's
  dtype, 0 where attention is allowed and the dtype's most negative value where it is not: a bidirectional
  prefix, causal targets, no attention across packed examples, padding attended by nothing. Transformers
  passes a 4-D mask to the attention function untouched (``masking_utils._preprocess_mask_arguments``);
  the eager and SDPA attention add it to the scores. FlashAttention-2 ignores such a mask: use
  ``mask="none"`` there, and the model derives causal per-example attention from ``position_ids`` (the prefix
  is then causal, not bidirectional).

Nothing here imports ``transformers``: the result is plain tensors.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import torch

from birdie_core.interfaces import IGNORE_INDEX

__all__ = ["prefix_lm_mask", "to_causal_lm_inputs"]


def prefix_lm_mask(
    segment_ids: torch.Tensor, attention_mask: torch.Tensor, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """The additive 4-D mask ``(batch, 1, L, L)`` of packed prefix-LM examples (see the module docstring).

    Query ``q`` may see key ``k`` when both are in the same example and ``k <= q`` or ``k`` is in the prefix
    (``attention_mask == 1``). A padding position sees only itself: a row with every key masked would give
    the softmax nothing to normalise (NaN with ``-inf``), and padding carries no loss anyway.
    """
    seg = segment_ids.long()
    length = seg.shape[1]
    same = (seg[:, :, None] == seg[:, None, :]) & (seg[:, :, None] > 0)
    causal = torch.ones(length, length, dtype=torch.bool, device=seg.device).tril()
    prefix_key = attention_mask.bool()[:, None, :]
    allowed = same & (causal | prefix_key)
    allowed |= torch.eye(length, dtype=torch.bool, device=seg.device) & (seg == 0)[:, :, None]
    mask = torch.zeros(allowed.shape, dtype=dtype, device=seg.device)
    mask.masked_fill_(~allowed, torch.finfo(dtype).min)
    return mask[:, None]


def to_causal_lm_inputs(
    batch: Mapping[str, torch.Tensor],
    *,
    mask: Literal["prefix_lm", "none"] = "prefix_lm",
    dtype: torch.dtype = torch.float32,
    shift_labels: bool = True,
) -> dict[str, torch.Tensor]:
    """The keyword arguments of a Hugging Face causal LM's ``forward`` for one Birdie batch.

    ``mask``: ``"prefix_lm"`` for the 4-D mask (eager or SDPA attention), ``"none"`` to leave the mask to the
    model (FlashAttention-2: causal per example, from ``position_ids``). ``dtype``: the model's dtype, which
    the 4-D mask must share. ``shift_labels``: also pass Birdie's ``label_ids`` as ``shift_labels`` so that
    the last column's labels are kept; turn it off for a model whose loss does not take ``shift_labels``
    (then one label per row that is filled to its end is dropped).
    """
    label_ids = batch["label_ids"]
    labels = torch.full_like(label_ids, IGNORE_INDEX)
    labels[:, 1:] = label_ids[:, :-1]
    out = {"input_ids": batch["input_ids"], "labels": labels, "position_ids": batch["position_ids"]}
    if mask == "prefix_lm":
        out["attention_mask"] = prefix_lm_mask(batch["segment_ids"], batch["attention_mask"], dtype)
    elif mask != "none":
        raise ValueError(f"mask must be 'prefix_lm' or 'none', got {mask!r}")
    if shift_labels:
        out["shift_labels"] = label_ids
    return out
