"""Scoring a model on a task: batched greedy decoding for generation tasks, candidate losses for choice tasks.

The model is any callable ``model_fn(input_ids, attention_mask, segment_ids, position_ids) -> logits`` of
shape (B, L, V), the signature of :meth:`PrefixLMTransformer.logits
<birdie_core.train.models.PrefixLMTransformer.logits>`. Each instance is one segment alone in its row, laid
out as in training: ``[paradigm] prompt [start] answer`` with the prompt and the start marker in the
bidirectional prefix (``attention_mask == 1``) and the answer causal.

Greedy decoding runs exactly as many steps as the answer has tokens (the answers have no end marker and the
model is not asked when to stop; a wrong token stays in the text it is scored on). Every step re-runs the
whole batch (no cache: the tasks are small), each row growing by the token just chosen.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from birdie_core.evals.tasks import EvalError, Instance, Task, encode_parts
from birdie_core.interfaces import TOKEN_DTYPE, Tokenizer

if TYPE_CHECKING:  # torch is imported when a model is scored: the `task` source and objective do without it
    import torch

__all__ = ["EvalResult", "InstanceResult", "ModelFn", "score_instances"]

#: ``(input_ids, attention_mask, segment_ids, position_ids) -> logits`` with logits of shape (B, L, V)
ModelFn = Callable[["torch.Tensor", "torch.Tensor", "torch.Tensor", "torch.Tensor"], "torch.Tensor"]


@dataclass(frozen=True, slots=True)
class InstanceResult:
    """One instance's outcome: its score and what the model produced (text) or chose (candidate index)."""

    index: int
    score: float
    predicted: str
    answer: str
    chosen: int = -1
    losses: tuple[float, ...] = ()


@dataclass(frozen=True)
class EvalResult:
    """A task's score: ``value`` of ``metric`` over ``n`` instances, beside what guessing would get."""

    task: str
    metric: str
    value: float
    chance: float
    n: int
    seed: int
    config: dict[str, Any] = field(default_factory=dict)
    details: tuple[InstanceResult, ...] | None = None

    def to_dict(self, details: bool = False) -> dict[str, Any]:
        """JSON-ready: every field, the per-instance details only when asked."""
        out = asdict(self)
        if not details:
            out.pop("details")
        return out

    def __str__(self) -> str:
        return f"{self.task}: {self.metric} {self.value:.4f} (chance {self.chance:.4f}, n={self.n})"


@dataclass(frozen=True, slots=True)
class _Encoded:
    prompt: np.ndarray  # [paradigm] prompt [start]
    targets: tuple[np.ndarray, ...]  # the answer, or every candidate


def _encode(
    instance: Instance, task: Task[Any], tokenizer: Tokenizer, head: np.ndarray, start_id: int
) -> _Encoded:
    prompt = np.concatenate(
        [head, encode_parts(instance.prompt, tokenizer), np.array([start_id], TOKEN_DTYPE)]
    )
    parts = instance.candidates if task.kind == "choice" else (instance.answer,)
    targets = tuple(encode_parts(p, tokenizer) for p in parts)
    if any(t.size == 0 for t in targets):
        raise EvalError(f"instance {instance.index} of {task.name} has an empty answer or candidate")
    return _Encoded(prompt, targets)


def _check_fits(encoded: Sequence[_Encoded], sequence_length: int | None, task: Task[Any]) -> None:
    need = max(e.prompt.size + max(t.size for t in e.targets) - 1 for e in encoded)
    if sequence_length is not None and need > sequence_length:
        raise EvalError(
            f"an instance of {task.name} needs {need} positions but rows have {sequence_length}; make the "
            "task smaller (fewer entries, shorter context) or the rows longer"
        )


def _rows(
    seqs: Sequence[np.ndarray], prefix_lengths: Sequence[int], device: torch.device
) -> dict[str, torch.Tensor]:
    """One segment per row, right-padded: the model's four inputs."""
    import torch

    width = max(s.size for s in seqs)
    ids = np.zeros((len(seqs), width), dtype=np.int64)
    seg = np.zeros_like(ids)
    prefix = np.zeros_like(ids)
    for r, (s, p) in enumerate(zip(seqs, prefix_lengths)):
        ids[r, : s.size] = s
        seg[r, : s.size] = 1
        prefix[r, :p] = 1
    pos = np.broadcast_to(np.arange(width, dtype=np.int64), ids.shape).copy()
    return {
        "input_ids": torch.from_numpy(ids).to(device),
        "attention_mask": torch.from_numpy(prefix).to(device),
        "segment_ids": torch.from_numpy(seg).to(device),
        "position_ids": torch.from_numpy(pos).to(device),
    }


def _call(model_fn: ModelFn, batch: dict[str, torch.Tensor], pad_id: int) -> torch.Tensor:
    ids = batch["input_ids"].masked_fill(batch["segment_ids"] == 0, pad_id)
    logits = model_fn(ids, batch["attention_mask"], batch["segment_ids"], batch["position_ids"])
    if logits.dim() != 3 or logits.shape[:2] != ids.shape:
        raise EvalError(
            f"the model returned logits of shape {tuple(logits.shape)} for inputs {tuple(ids.shape)}"
        )
    return logits


def _generate(
    model_fn: ModelFn, encoded: Sequence[_Encoded], pad_id: int, device: torch.device
) -> list[np.ndarray]:
    """Greedy continuations, each as long as its answer."""
    import torch

    lengths = [e.targets[0].size for e in encoded]
    out = [np.zeros(n, dtype=TOKEN_DTYPE) for n in lengths]
    for step in range(max(lengths)):
        rows = [r for r, n in enumerate(lengths) if step < n]  # rows whose answer is complete drop out
        seqs = [np.concatenate([encoded[r].prompt, out[r][:step]]) for r in rows]
        logits = _call(model_fn, _rows(seqs, [encoded[r].prompt.size for r in rows], device), pad_id)
        at = torch.tensor([s.size - 1 for s in seqs], device=logits.device)
        chosen = logits[torch.arange(len(seqs), device=logits.device), at].argmax(-1).cpu().numpy()
        for r, token in zip(rows, chosen.tolist()):
            out[r][step] = token
    return out


def _candidate_losses(
    model_fn: ModelFn, encoded: Sequence[_Encoded], pad_id: int, device: torch.device
) -> list[list[float]]:
    """Mean per-token cross-entropy of every candidate after its prompt."""
    import torch

    seqs, prefixes, owners = [], [], []
    for i, e in enumerate(encoded):
        for t in e.targets:
            seqs.append(np.concatenate([e.prompt, t[:-1]]))
            prefixes.append(e.prompt.size)
            owners.append((i, t))
    logits = _call(model_fn, _rows(seqs, prefixes, device), pad_id).float()
    logp = torch.log_softmax(logits, dim=-1)
    losses: list[list[float]] = [[] for _ in encoded]
    for r, ((i, t), p) in enumerate(zip(owners, prefixes)):
        rows = torch.arange(p - 1, p - 1 + t.size, device=logp.device)
        labels = torch.from_numpy(t.astype(np.int64)).to(logp.device)
        losses[i].append(float(-logp[r, rows, labels].mean()))
    return losses


def score_instances(
    model_fn: ModelFn,
    tokenizer: Tokenizer,
    task: Task[Any],
    instances: Sequence[Instance],
    *,
    start_id: int,
    paradigm_id: int | None = None,
    batch_size: int = 16,
    sequence_length: int | None = None,
    device: torch.device | str = "cpu",
) -> list[InstanceResult]:
    """Run ``model_fn`` on ``instances`` of ``task``, ``batch_size`` at a time, and score each."""
    import torch

    if batch_size < 1:
        raise EvalError(f"batch_size must be at least 1, got {batch_size}")
    dev = torch.device(device)
    head = np.array([] if paradigm_id is None else [paradigm_id], dtype=TOKEN_DTYPE)
    encoded = [_encode(inst, task, tokenizer, head, start_id) for inst in instances]
    if encoded:
        _check_fits(encoded, sequence_length, task)
    pad_id = int(getattr(tokenizer, "pad_id", 0))
    results: list[InstanceResult] = []
    # a choice instance takes one row per candidate
    per_batch = (
        batch_size if task.kind == "generate" else max(1, batch_size // max(1, len(instances[0].candidates)))
    )
    with torch.inference_mode():
        for lo in range(0, len(encoded), per_batch):
            chunk, insts = encoded[lo : lo + per_batch], instances[lo : lo + per_batch]
            if task.kind == "generate":
                for inst, e, ids in zip(insts, chunk, _generate(model_fn, chunk, pad_id, dev)):
                    text = tokenizer.decode(ids)
                    results.append(
                        InstanceResult(
                            inst.index, task.score(inst, ids, e.targets[0], text), text, inst.answer_text
                        )
                    )
            else:
                for inst, losses in zip(insts, _candidate_losses(model_fn, chunk, pad_id, dev)):
                    finite = [x if math.isfinite(x) else math.inf for x in losses]
                    pick = int(np.argmin(finite))
                    results.append(
                        InstanceResult(
                            inst.index,
                            float(pick == inst.correct),
                            inst.candidate_texts[pick],
                            inst.answer_text,
                            chosen=pick,
                            losses=tuple(losses),
                        )
                    )
    return results
