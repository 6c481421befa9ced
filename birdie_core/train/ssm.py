"""The paper's Gated SSM with a bidirectional prefix, honouring the same batch contract as the Transformer.

Each block is pre-norm and residual, like the Transformer's, with a gated linear recurrence in place of
attention and the same MLP after it. Per position:

    i = σ(W_i x)   z = W_z x   o = GeLU(W_o x)   f = σ(W_f x)
    h_t = f_t ⊙ h_(t−1) + i_t ⊙ z_t              y = W_out(o ⊙ h)

Blocks alternate bidirectional, causal, bidirectional, … In a bidirectional block the state's first half
scans left to right over the whole segment and its second half right to left over the prefix only (a target
position's reverse state holds only its own input): same parameters and compute as a causal block.

What a forget gate of 0 does here is cut the recurrence, so the batch contract becomes two masks of carries:

- forward: position t carries state from t−1 only within one segment (0 at a segment's first position);
- reverse: position t carries state from t+1 only when both are prefix positions of one segment, so nothing
  flows from the target into the prefix (the prefix's last position, which predicts the first target token,
  must not see it) nor from the next packed example;
- padding (segment 0) carries nothing either way, so it holds only its own input and reaches nothing else.

The recurrence needs no position embedding: ``position_ids`` is accepted and ignored, and ``max_length`` is
accepted for symmetry with :class:`~birdie_core.train.models.PrefixLMTransformer` only.

The scan (:func:`linear_scan`) is the doubling (Hillis–Steele) scan in plain PyTorch: log2(L) rounds of
elementwise work on the whole sequence, O(L log L) in all, on CPU and GPU alike, with no custom kernel; its
backward pass is the same scan run the other way. It runs in float32 whatever the autocast dtype: a product of
many gates in bfloat16 would lose the state.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from birdie_core.train.models import ReferenceModel, RMSNorm


def linear_scan(a: torch.Tensor, b: torch.Tensor, reverse: bool = False) -> torch.Tensor:
    """``h`` of shape (B, L, D) with ``h_t = a_t * h_(t−1) + b_t`` from a zero state (``h_(t+1)`` and the
    last position first when ``reverse``), differentiable in ``a`` and ``b``.

    The gradient of a linear recurrence is the same recurrence run the other way, so the backward pass is one
    more scan: memory O(B·L·D) for ``a`` and ``h``, not the O(B·L·D·log L) that autograd through every round
    of the doubling scan would keep.
    """
    return _LinearScan.apply(a, b, reverse)


def _doubling_scan(a: torch.Tensor, b: torch.Tensor, reverse: bool) -> torch.Tensor:
    """The Hillis–Steele scan along dim 1. Round k composes each position's step with the one ``s = 2^k``
    positions earlier; afterwards position t holds ``h_t = a_t h_(t−2s) + b_t`` over its window, and a window
    that reaches past the start needs no more rounds (the state there is zero). Every ``a`` lies in [0, 1]
    here, so the products only shrink: no overflow, and an underflow to 0 is the right answer."""
    length = a.shape[1]
    step = 1
    while step < length:
        if reverse:
            b = torch.cat([torch.addcmul(b[:, :-step], a[:, :-step], b[:, step:]), b[:, -step:]], dim=1)
            if 2 * step < length:  # the last round's products would never be read
                a = torch.cat([a[:, :-step] * a[:, step:], a[:, -step:]], dim=1)
        else:
            b = torch.cat([b[:, :step], torch.addcmul(b[:, step:], a[:, step:], b[:, :-step])], dim=1)
            if 2 * step < length:
                a = torch.cat([a[:, :step], a[:, step:] * a[:, :-step]], dim=1)
        step *= 2
    return b


class _LinearScan(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, a: torch.Tensor, b: torch.Tensor, reverse: bool) -> torch.Tensor:
        h = _doubling_scan(a, b, reverse)
        ctx.save_for_backward(a, h)
        ctx.reverse = reverse
        return h

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, grad_h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, None]:
        a, h = ctx.saved_tensors
        # dL/dh_t gathers grad_h_t and, through h_(t+1) = a_(t+1) h_t + …, a_(t+1) times dL/dh_(t+1): the
        # recurrence in the other direction with the gates moved one step; dL/db = dL/dh, dL/da_t = dL/dh_t ·
        # h_(t−1) (the state a_t multiplied)
        if ctx.reverse:
            grad_b = _doubling_scan(F.pad(a[:, :-1], (0, 0, 1, 0)), grad_h.contiguous(), reverse=False)
            previous = F.pad(h[:, 1:], (0, 0, 0, 1))
        else:
            grad_b = _doubling_scan(F.pad(a[:, 1:], (0, 0, 0, 1)), grad_h.contiguous(), reverse=True)
            previous = F.pad(h[:, :-1], (0, 0, 1, 0))
        return grad_b * previous, grad_b, None


def recurrence_carries(
    attention_mask: torch.Tensor, segment_ids: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Float (B, L, 1) masks: may position t carry state from t−1 (forward) and from t+1 (reverse)?"""
    same = (segment_ids[:, 1:] == segment_ids[:, :-1]) & (segment_ids[:, 1:] != 0)
    prefix = attention_mask.bool()
    no = torch.zeros_like(same[:, :1])
    forward = torch.cat([no, same], dim=1)
    reverse = torch.cat([same & prefix[:, :-1] & prefix[:, 1:], no], dim=1)
    return forward[..., None].float(), reverse[..., None].float()


class GatedSSMMixer(nn.Module):
    """The gated recurrence over ``state_width`` channels; in a bidirectional mixer the second half of the
    channels runs in reverse over the prefix."""

    def __init__(self, width: int, state_width: int, bidirectional: bool):
        super().__init__()
        self.bidirectional = bidirectional
        self.inputs = nn.Linear(width, 3 * state_width, bias=False)  # W_i, W_z, W_o in one matrix multiply
        self.forget = nn.Linear(width, state_width)  # W_f: kept out of weight decay (no_weight_decay)
        self.out = nn.Linear(state_width, width, bias=False)

    def forward(
        self, x: torch.Tensor, carry_forward: torch.Tensor, carry_reverse: torch.Tensor
    ) -> torch.Tensor:
        i, z, o = self.inputs(x).float().chunk(3, dim=-1)
        f = torch.sigmoid(self.forget(x).float())
        b = torch.sigmoid(i) * z
        if self.bidirectional:
            half = f.shape[-1] // 2
            h = torch.cat(
                [
                    linear_scan(f[..., :half] * carry_forward, b[..., :half]),
                    linear_scan(f[..., half:] * carry_reverse, b[..., half:], reverse=True),
                ],
                dim=-1,
            )
        else:
            h = linear_scan(f * carry_forward, b)
        return self.out((F.gelu(o) * h).to(x.dtype))


class GatedSSMBlock(nn.Module):
    def __init__(self, width: int, state_width: int, bidirectional: bool, dropout: float):
        super().__init__()
        self.norm1 = RMSNorm(width)
        self.mixer = GatedSSMMixer(width, state_width, bidirectional)
        self.norm2 = RMSNorm(width)
        self.mlp = nn.Sequential(nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width))
        self.dropout = dropout

    def forward(
        self, x: torch.Tensor, carry_forward: torch.Tensor, carry_reverse: torch.Tensor
    ) -> torch.Tensor:
        drop = self.dropout if self.training else 0.0
        x = x + F.dropout(self.mixer(self.norm1(x), carry_forward, carry_reverse), drop, self.training)
        return x + F.dropout(self.mlp(self.norm2(x)), drop, self.training)


class GatedSSM(ReferenceModel):
    """``model(**batch)`` → mean loss over labelled positions; :meth:`logits` for the raw outputs.

    ``state_expansion`` sets the recurrent state to ``state_expansion * width`` channels (an even number, as
    a bidirectional block splits it in halves); ``bidirectional=False`` makes every block causal, a pure
    next-token model that ignores ``attention_mask``.
    """

    def __init__(
        self,
        vocab_size: int,
        max_length: int | None = None,
        width: int = 128,
        depth: int = 2,
        state_expansion: int = 1,
        dropout: float = 0.0,
        bidirectional: bool = True,
    ):
        super().__init__()
        state_width = state_expansion * width
        if state_expansion < 1 or state_width % 2:
            raise ValueError(
                f"the state (state_expansion {state_expansion} × width {width}) must be a positive even size, "
                "since a bidirectional block splits it in two halves"
            )
        self.vocab_size = vocab_size
        self.max_length = max_length
        self.embed = nn.Embedding(vocab_size, width)
        self.blocks = nn.ModuleList(
            GatedSSMBlock(width, state_width, bidirectional and n % 2 == 0, dropout) for n in range(depth)
        )
        self.norm = RMSNorm(width)
        self.head = nn.Linear(width, vocab_size, bias=False)
        self.apply(self._init)
        for m in self.modules():
            if isinstance(m, GatedSSMMixer):
                _init_forget_bias(m.forget.bias)

    @staticmethod
    def _init(m: nn.Module) -> None:
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, std=0.02)
        if isinstance(m, nn.Linear) and m.bias is not None:
            nn.init.zeros_(m.bias)

    def no_weight_decay(self) -> set[str]:
        """Names (as in ``named_parameters()``) that the optimizer must not decay: every forget-gate
        projection W_f. Decay would pull W_f and its bias towards 0, i.e. f towards 0.5: a memory of about
        two positions, whatever the data asks for."""
        return {name for name, _ in self.named_parameters() if ".mixer.forget." in name}

    def logits(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        segment_ids: torch.Tensor,
        position_ids: torch.Tensor,
    ) -> torch.Tensor:
        del position_ids  # the recurrence knows the order; there is no position embedding
        carry_forward, carry_reverse = recurrence_carries(attention_mask, segment_ids)
        x = self.embed(input_ids)
        for block in self.blocks:
            x = block(x, carry_forward, carry_reverse)
        return self.head(self.norm(x))


def _init_forget_bias(bias: torch.Tensor) -> None:
    """Spread the channels' initial memory: f = 1 − 1/τ with timescales τ log-uniform in [2, 256] positions,
    so some channels start short-term and some span a whole example (a bias of 0 would give τ = 2 for all)."""
    spread = torch.exp(torch.linspace(math.log(2.0), math.log(256.0), bias.numel()))
    # alternate channels go to the two halves, so the forward and the reverse half each get the whole range
    timescale = torch.cat([spread[0::2], spread[1::2]])
    with torch.no_grad():
        bias.copy_(torch.logit(1.0 - 1.0 / timescale))
