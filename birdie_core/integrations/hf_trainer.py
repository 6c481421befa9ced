"""Birdie's batches and curriculum in a Hugging Face ``transformers.Trainer``.

::

    with Birdie(config) as birdie:
        args = training_arguments(birdie, output_dir="out", learning_rate=1e-3, report_to="none")
        trainer = BirdieTrainer(model=model, args=args, birdie=birdie)
        trainer.train()

**Why a ``Trainer`` subclass, and only ``get_train_dataloader``.** Birdie hands over finished
``(batch_size, sequence_length)`` batches, built in its own worker processes, one stream per rank. Everything
the stock ``Trainer`` does to a training dataset works against that: its ``DataLoader`` groups
``per_device_train_batch_size`` items into a batch (a dimension too many) and passes them through its collator,
which drops the columns the model's ``forward`` does not name; and ``accelerator.prepare`` then wraps the loader,
which for an ``IterableDataset`` either reads the stream on rank 0 and splits it (``dispatch_batches``, the
default: the other ranks' streams are never read and their Birdie never learns the step) or makes every rank
read every rank's batches and keep its share (twice the reading, and Birdie's own shards are read as if they
were one). No ``TrainingArguments`` switch turns all of that off, so :class:`BirdieTrainer` overrides the one
method the Trainer documents for this, ``get_train_dataloader``, and returns :class:`CausalLMBatches`: a plain
iterable that moves each of Birdie's batches to ``args.device`` and converts it there with
:func:`~birdie_core.integrations.hf.to_causal_lm_inputs` (labels, ``shift_labels``, ``position_ids``, the 4-D
prefix-LM mask in the model's dtype, built on the device). The Trainer's ``_prepare_inputs`` leaves it as it is.
The rest of the Trainer (optimiser, scheduler, mixed precision, gradient accumulation, logging, trackers) is
untouched. Another ``Trainer`` subclass gets the same by returning :class:`CausalLMBatches` from its own
``get_train_dataloader`` and adding a :class:`BirdieCallback`.

**The schedule.** One Birdie batch is one micro-batch, so Birdie's step ``s`` (what ``time_for_eval`` and
``curriculum.num_steps`` count) is the number of batches the model has trained on:
``s = global_step * gradient_accumulation_steps + i`` before micro-batch ``i`` of an optimiser step.
:class:`BirdieCallback` asks ``time_for_eval(s)`` once for every ``s``, before micro-batch ``s`` is trained on:
step 0 in ``on_train_begin``, the first micro-batch of each optimiser step in ``on_step_begin``, the others in
``on_substep_end``. Between optimiser steps the weights do not change, so an evaluation inside an accumulation
window measures the weights of the window's start, as it should; it runs under ``no_grad`` and leaves the
accumulated gradients alone. Every evaluation is logged through ``Trainer.log`` (so it reaches the Trainer's
trackers): ``birdie/mean_loss``, ``birdie/loss/<objective>``, ``birdie/mixture/<objective>`` (the new mixture)
and ``birdie/reward/<objective>`` once there are rewards. When training reaches ``num_steps``, a last
evaluation at ``num_steps`` measures the trained model, as ``birdie train`` does.

**When a mixture takes effect.** The Trainer draws the ``gradient_accumulation_steps`` batches of an optimiser
step before ``on_step_begin``, so an evaluation at step ``s > 0`` sees ``s + gradient_accumulation_steps``
batches already drawn, and its mixture applies from batch ``s + gradient_accumulation_steps + lookahead``
(``lookahead = num_workers * prefetch_factor``), ``gradient_accumulation_steps`` batches later than in
``birdie train``. The step-0 evaluation runs before the first batch is drawn. Either way it is deterministic.

**Several processes** (``torchrun``/``accelerate launch``): every rank reads its own shard of Birdie's stream,
and every rank evaluates at the same steps (Birdie averages the validation losses over ranks and broadcasts
rank 0's mixture). Build the ``TrainingArguments`` first (they set up the process group), then the ``Birdie``
(it finds the group), then the trainer, which checks that both agree on rank and world size. The evaluation
runs the unwrapped model (``trainer.model``): right for DDP; FSDP and DeepSpeed ZeRO-3, whose parameters are
sharded, are not supported here.

**Checkpoints.** With every Trainer checkpoint the callback writes Birdie's state (stream positions, mixture
schedule, agent, history) beside it as ``birdie_state.json`` (a JSON state file, which loads without running
code). ``BirdieTrainer.train(resume_from_checkpoint=...)`` loads it, so the stream continues where it stood
instead of being skipped through, and the resumed run evaluates at the same steps, with the same batches
drawn, as an uninterrupted one.

Not supported: ``dataloader_num_workers > 0`` (Birdie has its own workers: ``workers.num_workers``), a
``model_init`` instead of a model, hyperparameter search (its checkpoints are not found for Birdie's state).
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Literal

import torch
from torch.utils.data import IterableDataset, get_worker_info
try:
    from transformers import Trainer, TrainerCallback, TrainingArguments
    from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR, get_last_checkpoint
except ImportError as exc:  # pragma: no cover - the test environment has transformers
    raise ImportError(
        f"birdie_core.integrations.hf_trainer needs transformers ({exc}): pip install 'transformers>=4.40'"
    ) from exc

from birdie_core.errors import CheckpointError
from birdie_core.integrations.hf import to_causal_lm_inputs
from birdie_core.train.state_files import read_state, write_state

if TYPE_CHECKING:
    from birdie_core.curriculum.birdie import Birdie

__all__ = [
    "BIRDIE_STATE",
    "BirdieCallback",
    "BirdieTrainer",
    "CausalLMBatches",
    "evaluation_logs",
    "load_birdie_state",
    "training_arguments",
]

#: the file beside each Trainer checkpoint that holds Birdie's state
BIRDIE_STATE = "birdie_state.json"

Mask = Literal["prefix_lm", "none"]


class CausalLMBatches(IterableDataset[dict[str, torch.Tensor]]):
    """Birdie's training batches, on ``device`` and converted for a causal LM; what :class:`BirdieTrainer`
    trains on (one item is one micro-batch; nothing re-batches it).

    Iterating continues Birdie's one stream until ``birdie.num_steps`` batches are consumed. ``dtype``: the
    model's dtype, which the 4-D mask must share; ``mask`` and ``shift_labels`` as in ``to_causal_lm_inputs``.
    :meth:`convert` is also what :class:`BirdieCallback` applies to the validation batches, so training and
    evaluation see the same layout.
    """

    def __init__(
        self,
        birdie: Birdie,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float32,
        mask: Mask = "prefix_lm",
        shift_labels: bool = True,
    ):
        if mask not in ("prefix_lm", "none"):
            raise ValueError(f"mask must be 'prefix_lm' or 'none', got {mask!r}")
        self.birdie = birdie
        self.device = torch.device(device) if device is not None else None
        self.dtype = dtype
        self.mask: Mask = mask
        self.shift_labels = shift_labels

    def convert(self, batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """One Birdie batch as the model's keyword arguments (the mask is built on ``device``)."""
        if self.device is not None:
            batch = {k: v.to(self.device, non_blocking=True) for k, v in batch.items()}
        return to_causal_lm_inputs(batch, mask=self.mask, dtype=self.dtype, shift_labels=self.shift_labels)

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        if get_worker_info() is not None:
            raise RuntimeError(
                "Birdie's batches were read in a DataLoader worker process; Birdie builds batches in its own "
                "workers (workers.num_workers), so read them in the training process: iterate CausalLMBatches "
                "directly, or use BirdieTrainer"
            )
        for batch in self.birdie:
            yield self.convert(batch)


class BirdieCallback(TrainerCallback):
    """Runs Birdie's evaluations, and with them its mixture updates, on Birdie's schedule (module docstring).

    ``log``: where each evaluation's metrics go (:func:`evaluation_logs`); :class:`BirdieTrainer` passes its
    own ``log``, so they reach the Trainer's log history and trackers. ``evaluate_at_end``: evaluate the
    trained model once more when training ends at ``num_steps``. The Trainer's training loader must be a
    :class:`CausalLMBatches` of the same ``birdie``: its conversion is the one the evaluations use.
    """

    def __init__(
        self,
        birdie: Birdie,
        *,
        log: Callable[[dict[str, float]], None] | None = None,
        evaluate_at_end: bool = True,
    ):
        self.birdie = birdie
        self.log = log
        self.evaluate_at_end = evaluate_at_end
        self._batches: CausalLMBatches | None = None
        self._model: torch.nn.Module | None = None
        self._step = 0  # Birdie's step: the batches the model has trained on
        self._asked = -1  # the last step whose time_for_eval was asked

    # -- the Trainer's events ------------------------------------------------------------------------------
    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        batches = kwargs.get("train_dataloader")
        if not isinstance(batches, CausalLMBatches) or batches.birdie is not self.birdie:
            raise TypeError(
                f"BirdieCallback needs the Trainer to train on this Birdie's CausalLMBatches, but its training "
                f"loader is a {type(batches).__name__}: use BirdieTrainer, or return "
                "CausalLMBatches(birdie, device=self.args.device, dtype=self.model.dtype) from "
                "get_train_dataloader (a DataLoader would re-batch Birdie's batches and drop their columns)"
            )
        step = state.global_step * args.gradient_accumulation_steps
        if self.birdie.batches_consumed != step:
            raise CheckpointError(
                f"the Trainer starts at step {state.global_step} ({step} batches of "
                f"gradient_accumulation_steps={args.gradient_accumulation_steps}) but Birdie has consumed "
                f"{self.birdie.batches_consumed} batches: to resume, load Birdie's state from the same checkpoint "
                f"(BirdieTrainer.train(resume_from_checkpoint=...) does); otherwise start with a new Birdie"
            )
        self._batches = batches
        self._model = kwargs.get("model")
        self._step, self._asked = step, step - 1
        # step 0 is evaluated before any batch is drawn; a resumed run asks in on_step_begin, as the
        # uninterrupted run did at that step, so that both have drawn the same batches when they evaluate
        if state.global_step == 0:
            self._before_batch()

    def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._model = kwargs.get("model", self._model)
        self._step = state.global_step * args.gradient_accumulation_steps
        self._before_batch()

    def on_substep_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._step += 1
        self._before_batch()

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        birdie_state = self.birdie.state_dict()  # every rank takes part: it gathers the stream positions
        if state.is_world_process_zero:
            folder = os.path.join(args.output_dir, f"{PREFIX_CHECKPOINT_DIR}-{state.global_step}")
            if not os.path.isdir(folder):
                raise CheckpointError(f"no Trainer checkpoint at {folder} to save Birdie's state beside")
            write_state(os.path.join(folder, BIRDIE_STATE), birdie_state)

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        end = state.global_step * args.gradient_accumulation_steps
        done = self.birdie.history and self.birdie.history[-1]["step"] == end
        if self.evaluate_at_end and self._batches is not None and end == self.birdie.num_steps and not done:
            self.evaluate(end)

    # -- the evaluation ------------------------------------------------------------------------------------
    def _before_batch(self) -> None:
        if self._step <= self._asked:
            return
        self._asked = self._step
        if self.birdie.time_for_eval(self._step):
            self.evaluate(self._step)

    def evaluate(self, step: int) -> dict[str, Any]:
        """One evaluation at Birdie step ``step``: a validation loss for every batch Birdie gives, measured
        with the Trainer's model in eval mode without gradients; then the curriculum picks the next mixture.
        Returns the evaluation's record (``birdie.history[-1]``)."""
        if self._batches is None or self._model is None:
            raise RuntimeError("BirdieCallback.evaluate runs during Trainer.train(), after on_train_begin")
        model, convert = self._model, self._batches.convert
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad():
                for key, batch in self.birdie.measure_validation_losses():
                    loss = model(**convert(batch)).loss
                    self.birdie.log_validation_loss(key=key, loss=loss, step_idx=step)
        finally:
            model.train(was_training)
        record = self.birdie.history[-1]
        if self.log is not None:
            self.log(evaluation_logs(record))
        return record


def evaluation_logs(record: Mapping[str, Any]) -> dict[str, float]:
    """The scalars one evaluation record (an entry of ``birdie.history``) contributes to the Trainer's logs.

    An objective without a validation loss (``birdie.unmeasured``: no validation document suits it) has no
    ``birdie/loss/...`` entry and is left out of ``birdie/mean_loss``, the mean over the measured objectives.
    """
    losses = {k: float(v) for k, v in record["losses"].items() if v is not None and math.isfinite(v)}
    out = {"birdie/evaluation_step": float(record["step"])}
    if losses:
        out["birdie/mean_loss"] = math.fsum(losses.values()) / len(losses)
    out.update({f"birdie/loss/{k}": v for k, v in losses.items()})
    out.update({f"birdie/mixture/{k}": float(v) for k, v in record["mixture"].items()})
    if record.get("rewards") is not None:
        out.update({f"birdie/reward/{k}": float(v) for k, v in record["rewards"].items()})
    return out


def load_birdie_state(birdie: Birdie, checkpoint: str | os.PathLike[str]) -> None:
    """Continue ``birdie`` from the state :class:`BirdieCallback` saved in the Trainer checkpoint folder
    ``checkpoint``."""
    path = os.path.join(checkpoint, BIRDIE_STATE)
    if not os.path.isfile(path):
        raise CheckpointError(
            f"{checkpoint} holds no {BIRDIE_STATE}: it was not written by a Trainer with a BirdieCallback"
        )
    birdie.load_state_dict(read_state(path))


def training_arguments(
    birdie: Birdie, *, gradient_accumulation_steps: int = 1, **kwargs: Any
) -> TrainingArguments:
    """``TrainingArguments(**kwargs)`` with what Birdie decides: ``max_steps`` (the optimiser steps that use
    ``birdie.num_steps`` batches, ``gradient_accumulation_steps`` each; a remainder is left unused) and
    ``per_device_train_batch_size`` (Birdie's ``batch_size``; the Trainer uses it only to report throughput)."""
    for fixed in ("max_steps", "per_device_train_batch_size", "num_train_epochs"):
        if fixed in kwargs:
            raise ValueError(
                f"{fixed} follows from the Birdie config (curriculum.num_steps, batch_size); leave it out"
            )
    if gradient_accumulation_steps < 1:
        raise ValueError(f"gradient_accumulation_steps must be >= 1, got {gradient_accumulation_steps}")
    max_steps = birdie.num_steps // gradient_accumulation_steps
    if max_steps < 1:
        raise ValueError(
            f"curriculum.num_steps={birdie.num_steps} training batches are not enough for one optimiser step "
            f"of gradient_accumulation_steps={gradient_accumulation_steps}"
        )
    return TrainingArguments(
        max_steps=max_steps,
        per_device_train_batch_size=birdie.config.batch_size,
        gradient_accumulation_steps=gradient_accumulation_steps,
        **kwargs,
    )


class BirdieTrainer(Trainer):
    """A ``Trainer`` that trains on ``birdie``'s batches and runs its curriculum (see the module docstring).

    Takes the Trainer's arguments (``model``, ``args``, ``callbacks``, ``optimizers``, ...) but no
    ``train_dataset``, plus ``birdie``, ``mask`` / ``shift_labels`` (as in ``to_causal_lm_inputs``) and
    ``evaluate_at_end`` (see :class:`BirdieCallback`). ``args.max_steps * args.gradient_accumulation_steps``
    may not exceed ``birdie.num_steps``; :func:`training_arguments` sets it to use them all.
    """

    def __init__(
        self,
        *args: Any,
        birdie: Birdie,
        mask: Mask = "prefix_lm",
        shift_labels: bool = True,
        evaluate_at_end: bool = True,
        **kwargs: Any,
    ):
        if kwargs.get("train_dataset") is not None:
            raise ValueError("BirdieTrainer trains on Birdie's batches: pass birdie=..., not a train_dataset")
        if mask not in ("prefix_lm", "none"):
            raise ValueError(f"mask must be 'prefix_lm' or 'none', got {mask!r}")
        super().__init__(*args, **kwargs)
        self.birdie = birdie
        self.birdie_mask: Mask = mask
        self.birdie_shift_labels = shift_labels
        _check_arguments(birdie, self.args)
        #: the callback running Birdie's evaluations
        self.birdie_callback = BirdieCallback(birdie, log=self.log, evaluate_at_end=evaluate_at_end)
        self.add_callback(self.birdie_callback)

    def get_train_dataloader(self) -> CausalLMBatches:  # type: ignore[override]
        """Birdie's batches, neither re-batched nor collated nor wrapped by the accelerator (module docstring)."""
        return CausalLMBatches(
            self.birdie,
            device=self.args.device,
            dtype=_dtype_of(self.model),
            mask=self.birdie_mask,
            shift_labels=self.birdie_shift_labels,
        )

    def train(self, resume_from_checkpoint: str | bool | None = None, *args: Any, **kwargs: Any) -> Any:
        """``Trainer.train``; resuming also continues Birdie from the checkpoint's ``birdie_state.json``."""
        _check_arguments(self.birdie, self.args)  # args may have been changed since __init__
        if resume_from_checkpoint is None or resume_from_checkpoint is False:
            return super().train(None, *args, **kwargs)
        checkpoint: str | None = (
            get_last_checkpoint(self.args.output_dir)
            if resume_from_checkpoint is True
            else resume_from_checkpoint
        )
        if checkpoint is None:
            raise ValueError(f"no checkpoint found in output_dir={self.args.output_dir}")
        load_birdie_state(self.birdie, checkpoint)
        # Birdie's stream continues by itself; the Trainer must not skip through it
        skip, self.args.ignore_data_skip = self.args.ignore_data_skip, True
        try:
            return super().train(checkpoint, *args, **kwargs)
        finally:
            self.args.ignore_data_skip = skip


def _check_arguments(birdie: Birdie, args: Any) -> None:
    accumulation, planned = args.gradient_accumulation_steps, birdie.num_steps
    if args.max_steps <= 0:
        raise ValueError(
            "TrainingArguments.max_steps must be set: Birdie's stream has no length. It plans "
            f"curriculum.num_steps={planned} training batches, so max_steps={planned // accumulation} with "
            f"gradient_accumulation_steps={accumulation}; "
            "birdie_core.integrations.hf_trainer.training_arguments(birdie, ...) sets it"
        )
    if args.max_steps * accumulation > planned:
        raise ValueError(
            f"max_steps={args.max_steps} × gradient_accumulation_steps={accumulation} needs "
            f"{args.max_steps * accumulation} training batches, but Birdie's stream ends after "
            f"curriculum.num_steps={planned}: use max_steps <= {planned // accumulation}, or raise "
            "curriculum.num_steps (the agent plans for it)"
        )
    if args.dataloader_num_workers:
        raise ValueError(
            f"dataloader_num_workers={args.dataloader_num_workers}: Birdie builds batches in its own worker "
            "processes (workers.num_workers in its config); leave dataloader_num_workers at 0"
        )
    coll = birdie.collective
    if (coll.rank, coll.world_size) != (args.process_index, args.world_size):
        raise ValueError(
            f"this process is rank {args.process_index} of {args.world_size} for the Trainer but rank "
            f"{coll.rank} of {coll.world_size} for Birdie: build the TrainingArguments first (they set up the "
            "process group), then the Birdie (or pass it accelerator=... / rank= and world_size=)"
        )
    if args.per_device_train_batch_size != birdie.config.batch_size:
        warnings.warn(
            f"per_device_train_batch_size={args.per_device_train_batch_size} but Birdie's batches hold "
            f"{birdie.config.batch_size} rows: training uses Birdie's; only the Trainer's throughput figures "
            "use the argument (training_arguments(birdie, ...) sets it)",
            stacklevel=3,
        )


def _dtype_of(model: torch.nn.Module | None) -> torch.dtype:
    if model is None:
        raise ValueError("BirdieTrainer needs a model (model_init is not supported)")
    dtype = getattr(model, "dtype", None)
    if isinstance(dtype, torch.dtype):
        return dtype
    return next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.float32)
