"""`birdie train`: the reference training loop, written with the public ``Birdie`` API and accelerate only.

Read it as the template for your own loop: everything Birdie asks of a loop is in :func:`train` —
``time_for_eval`` / ``measure_validation_losses`` / ``log_validation_loss`` at evaluations,
``get_next_training_sample`` at every step, and ``birdie.state_dict()`` / ``load_state_dict()`` beside
accelerate's ``save_state`` / ``load_state`` for resume (as JSON, never pickled: see :func:`_save_checkpoint`).
The rest is a plain accelerate loop: AdamW with warm-up and cosine decay, periodic checkpoints, a progress
line, and plots at the end. The same code runs on one CPU, under ``torchrun`` and under ``accelerate launch``
on many GPUs and nodes. The run directory's layout is in :mod:`birdie_core.train.runs`; docs/training.md has more.
"""

from __future__ import annotations

import json
import math
import os
import random
import shutil
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch

from birdie_core.config import resolved_config
from birdie_core.config.issues import format_path
from birdie_core.config.load import ConfigSource
from birdie_core.config.models import PipelineConfig
from birdie_core.config.preflight import memory_problems
from birdie_core.curriculum.birdie import Birdie
from birdie_core.errors import (
    BirdieError,
    CheckpointError,
    ConfigError,
    ConfigIssue,
    RunDirectoryError,
    TrainError,
)
from birdie_core.interfaces import Tokenizer
from birdie_core.pipeline.build import Components
from birdie_core.registry import Registry
from birdie_core.train import runs, trackers
from birdie_core.train.config import OptimizerConfig, TrainConfig
from birdie_core.train.evaluation import (
    InitialWeights,
    TaskEvaluator,
    describe_tasks,
    initial_weights,
    read_task_log,
    task_eval_issues,
)
from birdie_core.train.models import PrefixLMTransformer, ReferenceModel
from birdie_core.train.ssm import GatedSSM
from birdie_core.train.plots import objective_classes
from birdie_core.train.plots_extra import PLOTS_INSTALL, plots_available
from birdie_core.train.progress import Progress, describe_evaluation
from birdie_core.train.state_files import read_state, write_state

__all__ = ["TrainResult", "build_model", "build_optimizer", "build_scheduler", "train", "train_step"]


@dataclass
class TrainResult:
    """What a call of :func:`train` did (on the main process; other ranks get the same steps)."""

    run_dir: Path
    steps_done: int  # training steps completed, counting those of earlier sessions of a resumed run
    total_steps: int
    finished: bool  # reached train.steps (not stopped early by max_steps)
    initial_mixture: dict[str, float]
    final_mixture: dict[str, float]
    final_losses: dict[str, float] | None  # the last evaluation's validation losses
    plots: list[Path] = field(default_factory=list)
    #: the signal that stopped the run early (after a checkpoint), e.g. "SIGTERM"; None otherwise
    stopped_by: str | None = None
    #: the last evaluation's values of the evaluation tasks (train.evals) by key; None without tasks
    final_tasks: dict[str, float] | None = None


#: Signals that make `birdie train` finish its step, write a checkpoint and exit: what cluster schedulers send
#: before they stop a job (SLURM and Kubernetes send SIGTERM; SLURM can send SIGUSR1 ahead of the time limit).
STOP_SIGNALS: tuple[signal.Signals, ...] = (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1)


class _StopRequest:
    """Records the first stop signal; a second SIGINT aborts at once (the usual Ctrl-C twice)."""

    def __init__(self) -> None:
        self.signal: signal.Signals | None = None
        self._previous: dict[signal.Signals, Any] = {}

    def __enter__(self) -> _StopRequest:
        if threading.current_thread() is threading.main_thread():  # handlers can only be set there
            for sig in STOP_SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        sig = signal.Signals(signum)
        if self.signal is signal.SIGINT and sig is signal.SIGINT:
            raise KeyboardInterrupt
        self.signal = self.signal or sig

    def __exit__(self, *exc: object) -> None:
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)


class TrainerState:
    """The loop's own state, checkpointed beside Birdie's, one file per rank (each rank has its own torch RNG).

    It is loaded after Birdie's state: it restores torch's RNG once more, in case something loaded before it
    (an agent rebuilding its model) drew from the RNG accelerate had just restored.
    """

    def __init__(self) -> None:
        self.step = 0
        self.tokens = 0
        self.finished = False

    def state_dict(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "tokens": self.tokens,
            "finished": self.finished,
            "rng": torch.get_rng_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict`; a ``ValueError`` saying what is wrong with anything else (it was read
        from a file)."""
        rng = state.get("rng") if isinstance(state, dict) else None
        expected = torch.get_rng_state()
        if not (
            isinstance(state, dict)
            and set(state) == {"step", "tokens", "finished", "rng"}
            and type(state["step"]) is int
            and type(state["tokens"]) is int
            and min(state["step"], state["tokens"]) >= 0
            and type(state["finished"]) is bool
            and isinstance(rng, torch.Tensor)
            and rng.dtype == expected.dtype
            and rng.shape == expected.shape
        ):
            raise ValueError(
                "expected step and tokens (counts), finished (a bool) and rng (torch's CPU generator state, "
                f"{expected.numel()} bytes)"
            )
        self.step, self.tokens, self.finished = state["step"], state["tokens"], state["finished"]
        torch.set_rng_state(rng)


def train(
    config: ConfigSource,
    *,
    resume: str | os.PathLike[str] | None = None,
    max_steps: int | None = None,
    output: str | os.PathLike[str] | None = None,
    overwrite: bool = False,
    registry: Registry | None = None,
    echo: Callable[[str], None] = print,
    progress: str = "auto",
) -> TrainResult:
    """Train the reference model on ``config``'s batches; see the module docstring.

    ``resume``: a run directory to continue from its newest checkpoint (the config must be the one it started
    with). ``max_steps``: stop after this many steps (counted from the run's start) without changing the
    schedule, so that a later ``resume`` continues as if never stopped. ``output``: the run directory
    (default ``train.output``). ``overwrite``: delete an existing run there first. ``echo``: where progress
    lines go (main process only). ``progress``: ``bar``, ``lines``, ``none`` or ``auto`` (a bar when stdout is a
    terminal; :mod:`birdie_core.train.progress`).
    """
    from accelerate import Accelerator

    components = Components.resolve(config, registry)
    cfg = components.config
    tcfg = cfg.train if cfg.train is not None else TrainConfig()
    precision = _precision(tcfg)
    _reset_accelerate_settings()
    try:
        accelerator = Accelerator(
            cpu=not _has_accelerator(),  # without it, accelerate makes no gloo group of torchrun's CPU processes
            step_scheduler_with_optimizer=False,  # one scheduler step per optimizer step, whatever the process count
            gradient_accumulation_steps=tcfg.gradient_accumulation_steps,
            mixed_precision=precision,
            **trackers.accelerator_settings(tcfg, _run_dir_path(tcfg, resume, output)),
        )
    except ValueError as exc:  # accelerate refuses a precision the device lacks (bf16 on an older GPU)
        if "precision" not in str(exc):
            raise
        raise ConfigError(_precision_issue(tcfg, precision, str(exc))) from None
    _check_device_settings(accelerator, tcfg, precision)
    main = accelerator.is_main_process
    say = echo if main else (lambda _: None)
    tokenizer = _check_data(components)  # before the run directory is touched: a bad input changes nothing
    eval_issues = task_eval_issues(tcfg.evals, tokenizer, cfg.start_generating_paradigm)
    if eval_issues:
        raise ConfigError(eval_issues)
    init_weights = _init_weights(cfg, tcfg, tokenizer, components.registry, resume=resume, output=output)
    init_note: str | None = None
    run_dir = _choose_run_dir(cfg, tcfg, accelerator, resume=resume, output=output, overwrite=overwrite)
    total = tcfg.steps or cfg.curriculum.num_steps
    stop = min(total, max_steps) if max_steps else total

    building = time.perf_counter()
    say("building the model and optimizer…")  # seconds: the optimizer's first use imports torch's compiler
    _seed_everything(cfg.seed, tcfg.num_threads)
    model: torch.nn.Module = build_model(cfg, tcfg, tokenizer.vocab_size)
    if init_weights is not None:  # before prepare, which may move and wrap the model
        init_weights.load_into(model)  # shapes checked by _init_weights; vocabulary rows mapped by token
        init_note = init_weights.note
        del init_weights
    optimizer = build_optimizer(model, tcfg.optimizer)
    scheduler = build_scheduler(optimizer, tcfg.optimizer, total)
    model, optimizer, scheduler = accelerator.prepare(model, optimizer, scheduler)
    if tcfg.compile:
        # after prepare, as accelerate's own dynamo_backend does: the compiled wrapper only runs the forward
        # and backward passes, while checkpoints save the prepared module, whose weights keep their names
        model = cast(torch.nn.Module, torch.compile(model))  # an OptimizedModule
    state = TrainerState()
    stop_request = _StopRequest()
    say(f"  done in {time.perf_counter() - building:.1f} s")
    resolved = resolved_config(cfg)

    with (
        stop_request,
        trackers.session(accelerator, tcfg, resolved, run_dir),
        Birdie(components, accelerator=accelerator, run_dir=run_dir) as birdie,
    ):
        # Birdie and the trainer are not registered with accelerator.register_for_checkpointing: accelerate
        # would pickle them and unpickle them with weights_only=False, and a run directory is untrusted input
        initial_mixture = birdie.mixture
        if resume is not None:
            checkpoint = runs.latest_checkpoint(run_dir)
            _load_checkpoint(accelerator, checkpoint, birdie, state)
            if main:
                runs.truncate_logs(run_dir, state.step, len(birdie.history))
            say(f"resumed {run_dir} from {checkpoint.name} (step {state.step} of {total})")
            if tcfg.init_from is not None:
                say(f"  (train.init_from {tcfg.init_from} is not used: a resumed run has its own weights)")
        elif tcfg.init_from is not None:
            say(f"model weights from {tcfg.init_from} (its newest checkpoint); the rest starts afresh")
            if init_note is not None:
                say(f"  {init_note}")
        say(_describe_start(cfg, model, accelerator, run_dir, state.step, stop, total))
        say(f"tokenizer: {tokenizer!r}, pad id {tokenizer.pad_id}")
        if tcfg.trackers:
            say(f"logging to {', '.join(tcfg.trackers)} in {run_dir / trackers.TRACKERS_DIR}")
        if cfg.workers.num_workers and state.step < stop:
            say(
                f"starting {cfg.workers.num_workers} data workers (the first step waits for their first batches)"
            )

        log = _TrainLog(run_dir / runs.TRAIN_LOG if main else None)
        display = Progress(echo, progress, tcfg.log_every, stop, state.step, main=main)
        say = display.say  # from here on, lines are printed around the progress bar
        tasks = TaskEvaluator(
            tcfg.evals,
            tokenizer,
            start_marker=cfg.start_generating_paradigm,
            sequence_length=cfg.sequence_length,
            log=run_dir / runs.TASKS_LOG if main else None,
        )
        evaluation = _Evaluations(
            birdie, model, accelerator, say, tcfg, objective_classes(resolved["objectives"]), tasks
        )
        start, finishing, stopped_by = state.step, False, None
        try:
            model.train()
            for step in range(state.step, stop):
                if birdie.time_for_eval(step):
                    evaluation(step)

                lr = scheduler.get_last_lr()[0]  # the rate this step uses
                loss, step_tokens = train_step(
                    accelerator, model, optimizer, scheduler, birdie.get_next_training_sample, tcfg
                )

                # the loss and token count of this step over every rank, and whether any rank was asked to
                # stop, so that all ranks stop after the same step (one small all-reduce)
                asked = torch.tensor(float(stop_request.signal is not None), device=loss.device)
                sums = accelerator.reduce(torch.stack([loss, step_tokens, asked]), "sum")
                mean_loss, tokens = float(sums[0]) / accelerator.num_processes, int(sums[1])
                state.step, state.tokens = step + 1, state.tokens + tokens
                record = display.update(step, mean_loss, tokens, lr, birdie.mixture)
                log.append(record)
                if tcfg.trackers:
                    accelerator.log(trackers.step_values(record, state.tokens, display.step_rate), step=step)
                if float(sums[2]) > 0 and state.step < stop:
                    stopped_by = stop_request.signal.name if stop_request.signal is not None else "a signal"
                    say(f"\n{stopped_by} received: stopping after step {state.step}, writing a checkpoint")
                    break
                if tcfg.checkpoint_every and state.step % tcfg.checkpoint_every == 0 and state.step < stop:
                    _save_checkpoint(accelerator, run_dir, tcfg.keep_checkpoints, birdie, state)

            if state.step == total and not state.finished and stopped_by is None:
                # a last evaluation, so the run ends with the losses of the trained model
                evaluation(total)
                state.finished = finishing = True
            if state.step > start or finishing:
                _save_checkpoint(accelerator, run_dir, tcfg.keep_checkpoints, birdie, state)
        except KeyboardInterrupt:
            done = runs.checkpoints(run_dir)
            where = (
                f"from the checkpoint at step {done[-1][0]}" if done else "(no checkpoint yet: start again)"
            )
            say(f"\ninterrupted at step {state.step}; continue with --resume {run_dir} {where}")
            raise
        finally:
            display.close()
            log.close()
        final_losses = birdie.history[-1]["losses"] if birdie.history else None
        final_tasks = evaluation.last_tasks if tasks else None
        if tasks and final_tasks is None and main:  # no evaluation in this session: the run's last one
            logged = read_task_log(run_dir)
            final_tasks = {r["key"]: r["value"] for r in logged if r["step"] == logged[-1]["step"]} or None
        final_mixture = birdie.mixture

    plots: list[Path] = []
    if main:
        if plots_available():
            from birdie_core.train.plots import plot_run

            plots = plot_run(run_dir)
        else:
            say(f"no plots: they need matplotlib ({PLOTS_INSTALL}), then `birdie plot {run_dir}` draws them")
    accelerator.wait_for_everyone()
    if state.finished:
        say(f"done: {state.step} steps, {state.tokens:,} tokens. Run directory: {run_dir}")
    else:
        say(
            f"stopped at step {state.step} of {total}; continue with --resume {run_dir}. Run directory: {run_dir}"
        )
    if tcfg.trackers:
        accelerator.end_training()  # closes the trackers; it also ends the process group: after the last barrier
    return TrainResult(
        run_dir,
        state.step,
        total,
        state.finished,
        initial_mixture,
        final_mixture,
        final_losses,
        plots,
        stopped_by,
        final_tasks,
    )


def train_step(
    accelerator: Any,
    model: torch.nn.Module,
    optimizer: Any,
    scheduler: Any,
    next_batch: Callable[[], dict[str, torch.Tensor]],
    tcfg: TrainConfig,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One training step: one optimizer update over ``train.gradient_accumulation_steps`` batches of
    ``next_batch`` (``birdie.get_next_training_sample``). Returns this process's loss of the step (the mean
    of its batches' losses) and its token count (non-padding positions of all its batches).

    accelerate divides each batch's loss by the number of batches, skips the gradient all-reduce on all but
    the last (``no_sync``), and sets ``sync_gradients`` on the last: only then are the gradients complete, so
    only then are they clipped (unscaled first under fp16) and applied."""
    losses, tokens = [], torch.zeros((), device=accelerator.device)
    for _ in range(tcfg.gradient_accumulation_steps):
        batch = _to(accelerator.device, next_batch())
        with accelerator.accumulate(model):
            loss = model(**batch)
            accelerator.backward(loss)
            if accelerator.sync_gradients:
                if tcfg.optimizer.grad_clip is not None:
                    accelerator.clip_grad_norm_(model.parameters(), tcfg.optimizer.grad_clip)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
        losses.append(loss.detach().float())
        tokens += _tokens(batch, loss)
    if not accelerator.sync_gradients:  # accelerate counted the batches differently: the update was skipped
        raise TrainError("a training step ended without its optimizer update (gradient accumulation)")
    return torch.stack(losses).mean(), tokens


def evaluate(birdie: Birdie, model: torch.nn.Module, accelerator: Any, step: int) -> dict[str, Any]:
    """One evaluation: a validation loss for every batch Birdie gives; the agent then picks the next mixture."""
    model.eval()
    with torch.no_grad():
        for key, batch in birdie.measure_validation_losses():
            birdie.log_validation_loss(key=key, loss=model(**_to(accelerator.device, batch)), step_idx=step)
    model.train()
    return birdie.history[-1]


# -- the pieces -----------------------------------------------------------------------------------------


def build_model(cfg: PipelineConfig, tcfg: TrainConfig, vocab_size: int) -> ReferenceModel:
    """The reference model ``train.model.name`` names, sized for the tokenizer and the rows of ``cfg``."""
    m = tcfg.model
    max_length = m.max_length if m.max_length is not None else cfg.sequence_length
    if m.name == "gated_ssm":
        return GatedSSM(
            vocab_size,
            max_length,
            width=m.width,
            depth=m.depth,
            state_expansion=m.state_expansion,
            dropout=m.dropout,
            bidirectional=m.bidirectional,
        )
    return PrefixLMTransformer(
        vocab_size, max_length, width=m.width, depth=m.depth, heads=m.heads, dropout=m.dropout
    )


def build_optimizer(model: torch.nn.Module, ocfg: OptimizerConfig) -> torch.optim.Optimizer:
    """AdamW; weight decay on matrices and embeddings only: not on norms and biases, nor on what the model's
    ``no_weight_decay()`` names (the gated SSM's forget gates). Call it before ``accelerator.prepare``, whose
    wrappers change parameter names."""
    own = getattr(model, "no_weight_decay", None)
    skip: set[str] = set(own()) if callable(own) else set()
    named = list(model.named_parameters())
    decay = [p for n, p in named if p.ndim >= 2 and n not in skip]
    no_decay = [p for n, p in named if p.ndim < 2 or n in skip]
    groups = [{"params": decay, "weight_decay": ocfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=ocfg.lr, betas=ocfg.betas)


def build_scheduler(optimizer: torch.optim.Optimizer, ocfg: OptimizerConfig, total_steps: int) -> Any:
    """Linear warm-up over ``warmup_steps``, then cosine decay to ``min_lr_ratio`` (or constant)."""

    def factor(step: int) -> float:
        if step < ocfg.warmup_steps:
            return (step + 1) / ocfg.warmup_steps
        if ocfg.schedule == "constant":
            return 1.0
        progress = min(1.0, (step - ocfg.warmup_steps) / max(1, total_steps - ocfg.warmup_steps))
        return ocfg.min_lr_ratio + (1 - ocfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def _has_accelerator() -> bool:
    probe = getattr(torch, "accelerator", None)  # torch >= 2.6: CUDA, ROCm, XPU, MPS, ...
    return bool(probe.is_available()) if probe is not None else torch.cuda.is_available()


def _precision(tcfg: TrainConfig) -> str:
    """``train.precision``, or the launcher's (``accelerate launch --mixed_precision`` sets the variable)."""
    if tcfg.precision is not None:
        return tcfg.precision
    return os.environ.get("ACCELERATE_MIXED_PRECISION", "no").lower()


def _reset_accelerate_settings() -> None:
    """accelerate keeps mixed precision and gradient accumulation in process-wide state that refuses (or
    ignores) other values once set: a second :func:`train` in one process (tests, a notebook) would get the
    first one's. Start both afresh; the process group (``PartialState``) stays."""
    from accelerate.state import AcceleratorState, GradientState

    AcceleratorState._reset_state()
    GradientState._reset_state()


def _precision_issue(tcfg: TrainConfig, precision: str, why: str) -> ConfigIssue:
    given = " (the launcher's: train.precision is null)" if tcfg.precision is None else ""
    return ConfigIssue("train.precision", f"{precision!r}{given} is not available on this machine: {why}")


def _check_device_settings(accelerator: Any, tcfg: TrainConfig, precision: str) -> None:
    """Refuse, before anything is written, settings the device cannot honour."""
    issues = []
    if precision == "fp16" and accelerator.device.type == "cpu":
        # accelerate would train in float32 without a word: float16 autocast needs a GPU
        issues.append(
            _precision_issue(
                tcfg,
                precision,
                "float16 mixed precision needs a GPU and this run trains on the CPU; "
                "use 'bf16' (bfloat16 autocast works on CPUs) or 'no'",
            )
        )
    if tcfg.compile and _cxx_compiler() is None:
        issues.append(
            ConfigIssue(
                "train.compile",
                "torch.compile (inductor) needs a C++ compiler and none was found ($CXX, g++, c++ or clang++ "
                "on PATH): install one, or set train.compile to false",
            )
        )
    if issues:
        raise ConfigError(issues)


def _cxx_compiler() -> str | None:
    """The C++ compiler inductor would call (it builds CPU kernels and, on GPUs, Triton's launchers)."""
    names = [os.environ["CXX"]] if os.environ.get("CXX") else ["g++", "c++", "clang++"]
    return next((path for path in map(shutil.which, names) if path is not None), None)


def _seed_everything(seed: int, num_threads: int | None) -> None:
    """Same seed, same thread count → the same losses, run after run (and across a resume)."""
    if num_threads is not None:
        torch.set_num_threads(num_threads)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device


def _check_data(components: Components) -> Tokenizer:
    """Open the configured sources (a missing file fails here, before anything is written), check that the
    batches fit in memory, and return the tokenizer (its ``vocab_size`` counts markers and sentinels)."""
    too_big = memory_problems(components.config)
    if too_big:
        raise ConfigError([ConfigIssue(format_path(path), message) for path, message in too_big])
    components.source("train")
    if components.config.data.validation is not None:
        components.source("validation")
    return components.tokenizer()


def _init_weights(
    cfg: PipelineConfig,
    tcfg: TrainConfig,
    tokenizer: Tokenizer,
    registry: Registry,
    *,
    resume: Any,
    output: Any,
) -> InitialWeights | None:
    """The weights ``train.init_from`` names, checked against the model this config builds (on the meta
    device: shapes only), before the run directory is touched; None without it or when resuming. Rows of
    reserved ids are mapped by token when the two tokenizers share their base vocabulary."""
    if tcfg.init_from is None or resume is not None:
        return None
    source = Path(tcfg.init_from)
    if source.resolve() == _run_dir_path(tcfg, resume, output).resolve():
        raise ConfigError(
            ConfigIssue(
                "train.init_from",
                f"{source} is the run directory this run writes to; to continue that run use --resume",
            )
        )
    with torch.device("meta"):
        shapes = build_model(cfg, tcfg, tokenizer.vocab_size)
    return initial_weights(source, shapes, tokenizer, registry)


def _run_dir_path(tcfg: TrainConfig, resume: Any, output: Any) -> Path:
    """The run directory of a run (named before it is checked: accelerate's trackers are told it up front)."""
    return Path(resume if resume is not None else output if output is not None else tcfg.output)


def _choose_run_dir(
    cfg: PipelineConfig, tcfg: TrainConfig, accelerator: Any, *, resume: Any, output: Any, overwrite: bool
) -> Path:
    run_dir = _run_dir_path(tcfg, resume, output)
    if resume is not None:
        if output is not None and Path(output).resolve() != run_dir.resolve():
            raise RunDirectoryError(f"--output {output} and --resume {resume} name different run directories")
        runs.latest_checkpoint(run_dir)  # fails early, with the reason, when there is nothing to resume
        runs.check_same_config(cfg, run_dir)
        return run_dir
    delete = runs.check_new_run_dir(run_dir, overwrite=overwrite)  # every rank checks before one deletes
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        if delete:
            runs.delete_run_dir(run_dir)
        runs.create_run_dir(run_dir)  # the marker that lets a later --overwrite delete this run
    accelerator.wait_for_everyone()
    return run_dir


def _save_checkpoint(accelerator: Any, run_dir: Path, keep: int, birdie: Birdie, state: TrainerState) -> None:
    """accelerate's files (model and optimizer as safetensors and torch files it loads with weights_only=True,
    each rank's RNG states), Birdie's and the trainer's state as JSON, then the manifest."""
    final = runs.checkpoint_path(run_dir, state.step)
    partial = runs.partial_path(final)
    if accelerator.is_main_process and partial.exists():  # left by a run that died while saving
        shutil.rmtree(partial)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(partial))
    birdie_state = birdie.state_dict()  # every rank takes part: it gathers each rank's stream position
    failure: CheckpointError | None = None
    try:
        if accelerator.is_main_process:
            write_state(partial / runs.BIRDIE_STATE, birdie_state)
        write_state(partial / runs.trainer_state_name(accelerator.process_index), state.state_dict())
    except CheckpointError as exc:
        failure = CheckpointError(f"cannot write the checkpoint {final}: {exc}")
    except OSError as exc:
        failure = CheckpointError(f"cannot write the checkpoint {final}: {exc.strerror or exc}")
    # also the barrier after which rank 0 may hash every rank's files
    _stop_everyone_if_one_failed(accelerator, failure, f"cannot write the checkpoint {final}")
    if accelerator.is_main_process:
        runs.finish_checkpoint(partial, final, keep)
    accelerator.wait_for_everyone()


def _load_checkpoint(accelerator: Any, checkpoint: Path, birdie: Birdie, state: TrainerState) -> None:
    """Check every file of ``checkpoint`` against its manifest, read the JSON states, then load: accelerate's
    files first, Birdie's state, and the trainer's last (its torch RNG state is the one that must hold)."""
    what = f"cannot resume from {checkpoint}"
    failure: CheckpointError | None = None
    if accelerator.is_local_main_process:  # once per machine: its processes read the same files
        try:
            runs.verify_checkpoint(checkpoint)
        except CheckpointError as exc:
            failure = exc
    _stop_everyone_if_one_failed(accelerator, failure, what)
    rank = accelerator.process_index
    trainer_file = checkpoint / runs.trainer_state_name(rank)
    try:
        if not trainer_file.is_file():
            saved = len(list(checkpoint.glob(runs.trainer_state_name("*"))))
            raise CheckpointError(
                f"{what}: it has no {trainer_file.name}: it was written by {saved} process(es), and this is "
                f"process {rank} of {accelerator.num_processes}; resume with as many processes as the run "
                "started with"
            )
        birdie_state = read_state(checkpoint / runs.BIRDIE_STATE)
        trainer_state = read_state(trainer_file)
        _check_rng_file(checkpoint, rank)
    except CheckpointError as exc:
        failure = exc
    _stop_everyone_if_one_failed(accelerator, failure, what)
    try:
        accelerator.load_state(str(checkpoint))
        birdie.load_state_dict(birdie_state)
    except BirdieError as exc:  # e.g. a different number of processes: Birdie says what differs
        raise CheckpointError(f"{what}: {exc}") from exc
    # a damaged file fails in safetensors, torch or Birdie, each in its own way: say which checkpoint
    except Exception as exc:
        raise CheckpointError(
            f"{what}: it is damaged or incomplete ({type(exc).__name__}: {_first_line(exc)}). Delete it to "
            "resume from an earlier checkpoint, or start again with --overwrite"
        ) from exc
    try:
        state.load_state_dict(trainer_state)
    except ValueError as exc:
        raise CheckpointError(f"{what}: {trainer_file.name}: {exc}") from None


def _stop_everyone_if_one_failed(accelerator: Any, failure: CheckpointError | None, what: str) -> None:
    """Raise on every rank when any rank failed: one rank raising alone would leave the others waiting at
    the next collective. An all-reduce, so also a barrier."""
    flag = torch.tensor(float(failure is not None), device=accelerator.device)
    if float(accelerator.reduce(flag, "sum")) > 0:
        if failure is not None:
            raise failure
        raise CheckpointError(f"{what}: another process found a problem (its error says which)")


def _check_rng_file(checkpoint: Path, rank: int) -> None:
    """accelerate's load_state skips an RNG file it cannot load with only a log line, and the resumed run is
    then silently not exact: load it first (as accelerate does, weights_only=True) and fail with its name."""
    from accelerate.utils import RNG_STATE_NAME
    from accelerate.utils import load as accelerate_load

    path = checkpoint / f"{RNG_STATE_NAME}_{rank}.pkl"
    try:
        states = accelerate_load(path)
    except Exception as exc:
        raise CheckpointError(
            f"cannot resume from {checkpoint}: {path.name} cannot be loaded as RNG states "
            f"({type(exc).__name__}: {_first_line(exc)})"
        ) from exc
    needed = {"random_state", "numpy_random_seed", "torch_manual_seed"}
    if not isinstance(states, dict) or not needed <= set(states):
        raise CheckpointError(
            f"cannot resume from {checkpoint}: {path.name} does not hold the RNG states {sorted(needed)}"
        )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else "no message"


def _to(device: torch.device, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}


def _tokens(batch: dict[str, torch.Tensor], like: torch.Tensor) -> torch.Tensor:
    """Positions that hold a token (not padding)."""
    return (batch["segment_ids"] != 0).sum().to(device=like.device, dtype=torch.float32)


# -- what it prints and logs ----------------------------------------------------------------------------


class _TrainLog:
    """``train.jsonl``: one line per step, flushed as written so an interrupted run keeps its log."""

    def __init__(self, path: Path | None):
        self._file = path.open("a", encoding="utf-8", buffering=1) if path is not None else None

    def append(self, record: dict[str, Any]) -> None:
        if self._file is not None:
            self._file.write(json.dumps(record) + "\n")

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


def _describe_start(
    cfg: PipelineConfig, model: Any, accelerator: Any, run_dir: Path, start: int, stop: int, total: int
) -> str:
    params = sum(p.numel() for p in model.parameters())
    where = f"{accelerator.num_processes} × {accelerator.device.type}" + (
        f" ({accelerator.distributed_type.value})" if accelerator.num_processes > 1 else ""
    )
    steps = f"steps {start}→{stop}" + (f" of {total}" if stop != total else "")
    tcfg = cfg.train if cfg.train is not None else TrainConfig()
    settings = [s for s in (
        f"{accelerator.mixed_precision} autocast" if accelerator.mixed_precision != "no" else "",
        f"{tcfg.gradient_accumulation_steps} batches per step" if tcfg.gradient_accumulation_steps > 1 else "",
        "compiled" if tcfg.compile else "",
    ) if s]
    return (
        f"training a {tcfg.model.name} of {params / 1e6:.2f}M parameters on {where}"
        + (f" ({', '.join(settings)})" if settings else "")
        + f", {len(cfg.objectives)} objective configurations, {steps}, batches of "
        f"{cfg.batch_size}×{cfg.sequence_length}; run directory: {run_dir}"
    )


class _Evaluations:
    """Runs an evaluation, prints its line and logs it to the trackers. The first of a session says that it
    builds the validation batches, which takes seconds (once)."""

    def __init__(
        self,
        birdie: Birdie,
        model: Any,
        accelerator: Any,
        say: Callable[[str], None],
        tcfg: TrainConfig,
        classes: dict[str, str],
        tasks: TaskEvaluator | None = None,
    ):
        self.birdie, self.model, self.accelerator, self.say = birdie, model, accelerator, say
        self.log_to_trackers = bool(tcfg.trackers)
        self.classes = classes
        self.tasks = tasks
        self.first = True
        #: the task values of the last evaluation of this session (None before one, or without tasks)
        self.last_tasks: dict[str, float] | None = None

    def __call__(self, step: int) -> dict[str, Any]:
        started = time.perf_counter()
        if self.first:
            self.say(
                f"first evaluation: building the validation batches ({self.birdie.num_validation_batches} per "
                "objective configuration, kept for every evaluation)…"
            )
        record = evaluate(self.birdie, self.model, self.accelerator, step)
        if self.first:
            self.say(f"  built and measured in {time.perf_counter() - started:.1f} s")
            self.first = False
        self.say(describe_evaluation(record, self.classes))
        if self.tasks:
            results = self.tasks(self.model, self.accelerator, int(record["step"]))
            self.say(describe_tasks(results))
            self.last_tasks = {key: r.value for key, r in results.items()}
        if self.log_to_trackers:
            values = trackers.evaluation_values(record, self.last_tasks if self.tasks else None)
            self.accelerator.log(values, step=int(record["step"]))
        return record
