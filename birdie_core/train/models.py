"""The reference model: a small prefix-LM Transformer that honours Birdie's batch contract.

- bidirectional attention among the prefix positions of a segment (``attention_mask == 1``),
- causal attention everywhere else (a target position sees its segment's prefix and earlier targets),
- no attention across ``segment_ids`` (packed examples never see each other; padding sees only itself),
- positions from ``position_ids`` (restarting at 0 per segment),
- the loss is ``cross_entropy(logits[b, t], label_ids[b, t])`` with -100 ignored: labels are pre-shifted.

It doubles as the reference for users' own models: ``loss = model(**batch)`` works on every batch Birdie
produces, and any extra keys in the batch are ignored.
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
    same = (segment_ids[:, :, None] == segment_ids[:, None, :]) & (segment_ids[:, :, None] != 0)
    causal = torch.ones(seq_len, seq_len, dtype=torch.bool, device=segment_ids.device).tril()
    prefix = attention_mask.bool()
    both_prefix = prefix[:, :, None] & prefix[:, None, :]
    allowed = same & (causal[None] | both_prefix)
    # padding attends to itself only, so its softmax is defined (its outputs carry no loss)
    return allowed | torch.eye(seq_len, dtype=torch.bool, device=segment_ids.device)[None]


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

    def forward(self, x: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
        b, n, w = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(b, n, 3, self.heads, w // self.heads).permute(2, 0, 3, 1, 4)
        drop = self.dropout if self.training else 0.0
        a = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed[:, None], dropout_p=drop)
        x = x + self.out(a.transpose(1, 2).reshape(b, n, w))
        return x + F.dropout(self.mlp(self.norm2(x)), drop, self.training)


class PrefixLMTransformer(nn.Module):
    """``model(**batch)`` → mean loss over labelled positions; :meth:`logits` for the raw outputs."""

    def __init__(
        self, vocab_size: int, max_length: int, width: int = 128, depth: int = 2, heads: int = 4, dropout: float = 0.0
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
        if int(position_ids.max()) >= self.max_length:
            raise ValueError(
                f"position {int(position_ids.max())} exceeds the model's max_length {self.max_length}"
            )
        x = self.embed(input_ids) + self.position(position_ids)
        allowed = attention_allowed(attention_mask, segment_ids)
        for block in self.blocks:
            x = block(x, allowed)
        return self.head(self.norm(x))

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
