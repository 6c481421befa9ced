"""The reward model of the ``birdie`` agent: a small causal Transformer over the history of evaluations.

Each row is ``[loss vector, mixture]`` (one per evaluation); the output at row ``t`` is the predicted reward
of every arm for the interval that row describes. The loss half and the mixture half go through separate
RMSNorms (so neither the loss scale nor the number of arms swamps the other), then a linear projection, a
stack of pre-norm blocks (causal multi-head attention with rotary positions, SwiGLU), a final RMSNorm, a
linear head and ``tanh`` (rewards lie in [-1, 1]).

This module imports torch; only :mod:`birdie_rewards.birdie_agent` imports it, and only when an agent first
needs its model, so registering the plugin stays cheap.
"""

from __future__ import annotations

import math
from typing import cast

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["RewardModel"]

_HAS_RMS_NORM = hasattr(F, "rms_norm")


class RMSNorm(nn.Module):
    def __init__(self, dims: int, eps: float = 1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dims))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if _HAS_RMS_NORM:  # one fused operation (torch >= 2.4)
            return F.rms_norm(x, self.weight.shape, self.weight, self.eps)
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight  # pragma: no cover


def _rotary(positions: torch.Tensor, head_dims: int) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin, (T, head_dims) each, for rotating the pairs (i, i + head_dims / 2)."""
    half = head_dims // 2
    freqs = 1.0 / (10000.0 ** (torch.arange(half, dtype=torch.float32) / half))
    angles = positions.to(torch.float32)[:, None] * freqs[None, :]
    angles = torch.cat([angles, angles], dim=-1)
    return torch.cos(angles), torch.sin(angles)


def _apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotary positions on the last axis of ``x`` (..., T, head_dims)."""
    x1, x2 = x.chunk(2, dim=-1)
    return x * cos + torch.cat([-x2, x1], dim=-1) * sin


class Block(nn.Module):
    def __init__(self, width: int, heads: int):
        super().__init__()
        if width % heads:
            raise ValueError(f"width {width} is not divisible by heads {heads}")
        self.heads = heads
        self.head_dims = width // heads
        self.attn_norm = RMSNorm(width)
        self.qkv = nn.Linear(width, 3 * width, bias=False)
        self.proj = nn.Linear(width, width, bias=False)
        hidden = width
        self.mlp_norm = RMSNorm(width)
        self.gate_up = nn.Linear(width, 2 * hidden, bias=False)
        self.down = nn.Linear(hidden, width, bias=False)

    def _qkv(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor):
        b, t, _ = x.shape
        qkv = self.qkv(self.attn_norm(x)).view(b, t, 3, self.heads, self.head_dims).permute(2, 0, 3, 1, 4)
        qk = _apply_rotary(qkv[:2], cos, sin)  # queries and keys together: half the operations
        return qk[0], qk[1], qkv[2]

    def _mlp(self, x: torch.Tensor) -> torch.Tensor:
        gate, up = self.gate_up(self.mlp_norm(x)).chunk(2, dim=-1)
        return x + self.down(F.silu(gate) * up)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor):
        """Whole sequences (causal); also returns this layer's keys and values for :meth:`step`."""
        b, t, w = x.shape
        q, k, v = self._qkv(x, cos, sin)
        a = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.proj(a.transpose(1, 2).reshape(b, t, w))
        return self._mlp(x), (k, v)

    def step(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, cache):
        """One new row per batch item, at the position after a cached history shared by all items.

        ``x`` is (N, 1, width); ``cache`` holds the history's keys and values, (1, heads, T, head_dims) each,
        or None for an empty history.
        """
        n, _, w = x.shape
        q, k, v = self._qkv(x, cos, sin)  # (N, heads, 1, head_dims)
        scale = 1.0 / math.sqrt(self.head_dims)
        own = (q * k).sum(-1, keepdim=True) * scale  # (N, heads, 1, 1)
        if cache is None:
            a = v  # softmax over a single key
        else:
            hk, hv = cache  # (1, heads, T, head_dims)
            # one (N, head_dims) x (head_dims, T) product per head, not N tiny ones
            past = torch.bmm(q[:, :, 0].transpose(0, 1), hk[0].transpose(1, 2)).transpose(0, 1)[:, :, None]
            weights = torch.softmax(torch.cat([past * scale, own], dim=-1), dim=-1)  # (N, heads, 1, T + 1)
            mixed = torch.bmm(weights[:, :, 0, :-1].transpose(0, 1), hv[0]).transpose(0, 1)[:, :, None]
            a = mixed + weights[..., -1:] * v
        x = x + self.proj(a.transpose(1, 2).reshape(n, 1, w))
        return self._mlp(x)


class RewardModel(nn.Module):
    """Maps a history of ``[losses, mixture]`` rows to a predicted reward per arm at every row."""

    def __init__(self, num_arms: int, width: int = 128, layers: int = 2, heads: int = 4):
        super().__init__()
        self.num_arms = num_arms
        self.loss_norm = RMSNorm(num_arms, eps=1e-12)
        self.mixture_norm = RMSNorm(num_arms, eps=1e-12)
        self.embed = nn.Linear(2 * num_arms, width, bias=False)
        self.blocks = nn.ModuleList(Block(width, heads) for _ in range(layers))
        self.norm = RMSNorm(width)
        self.head = nn.Linear(width, num_arms, bias=False)
        self.head_dims = width // heads
        self._rotary_cache: dict[tuple[int, int], tuple[torch.Tensor, torch.Tensor]] = {}

    def reset_parameters(self, generator: torch.Generator) -> None:
        """Deterministic initialisation from ``generator`` (the global torch RNG is never touched)."""
        depth_scale = 1.0 / math.sqrt(2 * max(1, len(self.blocks)))
        with torch.no_grad():
            for name, p in self.named_parameters():
                if name.endswith("norm.weight") or p.ndim == 1:
                    p.fill_(1.0)
                    continue
                std = p.shape[1] ** -0.5
                if name.endswith(("proj.weight", "down.weight")):
                    std *= depth_scale
                if name == "head.weight":
                    std = 0.01
                p.normal_(0.0, std, generator=generator)

    def _embed(self, rows: torch.Tensor) -> torch.Tensor:
        k = self.num_arms
        return self.embed(
            torch.cat([self.loss_norm(rows[..., :k]), self.mixture_norm(rows[..., k:])], dim=-1)
        )

    def _out(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.head(self.norm(x)))

    def forward(self, rows: torch.Tensor) -> torch.Tensor:
        """``rows`` (B, T, 2K) → predicted rewards (B, T, K); row t sees rows 0..t only."""
        out, _ = self.encode(rows)
        return out

    def _positions(self, start: int, length: int) -> tuple[torch.Tensor, torch.Tensor]:
        key = (start, length)
        if key not in self._rotary_cache:  # the same few lengths come back at every training step
            self._rotary_cache = {key: _rotary(torch.arange(start, start + length), self.head_dims)}
        return self._rotary_cache[key]

    def encode(self, rows: torch.Tensor):
        """Predictions for every row plus each layer's keys and values, to score candidates after them."""
        cos, sin = self._positions(0, rows.shape[1])
        x = self._embed(rows)
        cache = []
        for block in self.blocks:
            x, kv = block(x, cos, sin)
            cache.append(kv)
        return self._out(x), cache

    def predict_next(self, cache, candidates: torch.Tensor, position: int) -> torch.Tensor:
        """Predicted rewards (N, K) of N candidate rows, each read at its own time step ``position``.

        ``cache`` comes from :meth:`encode` on the ``position`` rows before (or is None when there are none);
        the result equals ``forward(cat([history, candidate]))[:, position]`` for each candidate.
        """
        cos, sin = self._positions(position, 1)
        x = self._embed(candidates[:, None, :])
        for i, block in enumerate(self.blocks):
            # a ModuleList yields plain Modules to a type checker; these are the Blocks built in __init__
            x = cast(Block, block).step(x, cos, sin, None if cache is None else cache[i])
        return self._out(x)[:, 0, :]
