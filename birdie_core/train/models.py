"""The reference model: a small prefix-LM Transformer that honours Birdie's batch contract.

- bidirectional attention among the prefix positions of a segment (``attention_mask == 1``),
- causal attention everywhere else (a target position sees its segment's prefix and earlier targets),
- no attention across ``segment_ids`` (packed examples never see each other; padding sees only itself),
- positions from ``position_ids`` (restarting at 0 per segment),
- the loss is ``cross_entropy(logits[b, t], label_ids[b, t])`` with -100 ignored: labels are pre-shifted.

It doubles as the reference for users' own models: ``loss = model(**batch)`` works on every batch Birdie
produces, and any extra keys in the batch are ignored.

Attention kernels. The mask is built once per forward pass, as an additive bias (0 where attention is allowed,
-inf elsewhere) of shape (B, 1, L, L) in the dtype the attention runs in (bfloat16 or float16 under autocast),
broadcast over heads, and passed to ``F.scaled_dot_product_attention``:

- CUDA: the flash kernel takes no arbitrary mask, so PyTorch picks one that does: the memory-efficient kernel
  (or cuDNN's, where the PyTorch version and GPU support a bias), which adds the bias inside the fused kernel
  and never materialises the (B, H, L, L) scores, with dropout, in float32, bfloat16 and float16. (A boolean
  mask would be converted to such a bias by PyTorch on every call, in every block.)
- CPU: PyTorch's fused flash-attention CPU kernel, which accepts a bias; otherwise the math path.
- ``torch.compile`` (``train.compile``) traces the same call and keeps the fused kernel.

Packed rows with a bidirectional prefix are a block-sparse pattern; FlexAttention could skip the empty blocks
on GPUs, at the price of compiling the mask function. Not used here: the reference stays one plain call.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from birdie_core.interfaces import IGNORE_INDEX


def attention_allowed(attention_mask: torch.Tensor, segment_ids: torch.Tensor) -> torch.Tensor:
    """Boolean (B, L, L): may query position i attend to key position j?"""
    seq_len = segment_ids.shape[1]
    index = torch.arange(seq_len, device=segment_ids.device)
    prefix = attention_mask.bool()
    # a target sees earlier positions of its segment; two prefix positions of a segment see each other
    visible = (index[:, None] >= index[None, :]) | (prefix[:, :, None] & prefix[:, None, :])
    allowed = (segment_ids[:, :, None] == segment_ids[:, None, :]) & visible
    # padding (segment 0) attends to itself only, so its softmax is defined (its outputs carry no loss)
    padding = segment_ids == 0
    return allowed & ~(padding[:, :, None] & (index[:, None] != index[None, :]))


def attention_bias(
    attention_mask: torch.Tensor, segment_ids: torch.Tensor, dtype: torch.dtype
) -> torch.Tensor:
    """Additive (B, 1, L, L) mask in ``dtype``: 0 where :func:`attention_allowed`, -inf elsewhere (every row
    allows its diagonal, so no softmax is all -inf)."""
    allowed = attention_allowed(attention_mask, segment_ids)[:, None]
    bias = torch.zeros(allowed.shape, dtype=dtype, device=allowed.device)
    return bias.masked_fill_(~allowed, float("-inf"))


class RMSNorm(nn.Module):
    def __init__(self, width: int, eps: float = 1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(width))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


class Block(nn.Module):
    def __init__(self, width: int, heads: int, dropout: float):
        super().__init__()
        self.heads = heads
        self.norm1 = RMSNorm(width)
        self.qkv = nn.Linear(width, 3 * width, bias=False)
        self.out = nn.Linear(width, width, bias=False)
        self.norm2 = RMSNorm(width)
        self.mlp = nn.Sequential(nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width))
        self.dropout = dropout

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        b, n, w = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(b, n, 3, self.heads, w // self.heads).permute(2, 0, 3, 1, 4)
        drop = self.dropout if self.training else 0.0
        a = F.scaled_dot_product_attention(q, k, v, attn_mask=bias.to(q.dtype), dropout_p=drop)
        x = x + self.out(a.transpose(1, 2).reshape(b, n, w))
        return x + F.dropout(self.mlp(self.norm2(x)), drop, self.training)


class ReferenceModel(nn.Module):
    """What the reference models share: ``model(**batch)`` is the mean loss over labelled positions (labels
    pre-shifted, -100 ignored; keys a model does not use are ignored), or the logits without ``label_ids``.
    Subclasses implement :meth:`logits`."""

    def logits(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        segment_ids: torch.Tensor,
        position_ids: torch.Tensor,
    ) -> torch.Tensor:
        """(B, L, V) logits of one batch of Birdie's contract."""
        raise NotImplementedError

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        segment_ids: torch.Tensor,
        position_ids: torch.Tensor,
        label_ids: torch.Tensor | None = None,
        **_: Any,
    ) -> torch.Tensor:
        logits = self.logits(input_ids, attention_mask, segment_ids, position_ids)
        if label_ids is None:
            return logits
        return F.cross_entropy(logits.flatten(0, 1).float(), label_ids.flatten(), ignore_index=IGNORE_INDEX)


class PrefixLMTransformer(ReferenceModel):
    """``model(**batch)`` → mean loss over labelled positions; :meth:`logits` for the raw outputs."""

    def __init__(
        self,
        vocab_size: int,
        max_length: int,
        width: int = 128,
        depth: int = 2,
        heads: int = 4,
        dropout: float = 0.0,
    ):
        super().__init__()
        if width % heads:
            raise ValueError(f"width ({width}) must be a multiple of heads ({heads})")
        self.vocab_size = vocab_size
        self.max_length = max_length
        self.embed = nn.Embedding(vocab_size, width)
        self.position = nn.Embedding(max_length, width)
        self.blocks = nn.ModuleList(Block(width, heads, dropout) for _ in range(depth))
        self.norm = RMSNorm(width)
        self.head = nn.Linear(width, vocab_size, bias=False)
        self.apply(self._init)

    @staticmethod
    def _init(m: nn.Module) -> None:
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, std=0.02)
        if isinstance(m, nn.Linear) and m.bias is not None:
            nn.init.zeros_(m.bias)

    def logits(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        segment_ids: torch.Tensor,
        position_ids: torch.Tensor,
    ) -> torch.Tensor:
        # a data-dependent check breaks a compiled graph; under torch.compile the trainer has checked that
        # max_length covers sequence_length, and the embedding fails on a position beyond it regardless
        if not torch.compiler.is_compiling() and int(position_ids.max()) >= self.max_length:
            raise ValueError(
                f"position {int(position_ids.max())} exceeds the model's max_length {self.max_length}"
            )
        x = self.embed(input_ids) + self.position(position_ids)
        bias = attention_bias(attention_mask, segment_ids, _compute_dtype(x))
        for block in self.blocks:
            x = block(x, bias)
        return self.head(self.norm(x))



def _compute_dtype(x: torch.Tensor) -> torch.dtype:
    """The dtype the attention inputs will have: autocast's (accelerate's mixed precision), else ``x``'s."""
    device = x.device.type
    if torch.is_autocast_enabled(device):
        return torch.get_autocast_dtype(device)
    return x.dtype
