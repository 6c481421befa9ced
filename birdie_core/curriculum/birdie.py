"""``Birdie``: the training-loop API of the original project, over the multi-worker pipeline.

::

    birdie = Birdie("configs/quickstart.yaml")          # or a dict (nested or the original flat form)
    for step in range(birdie.num_steps):
        if birdie.time_for_eval(step):
            for key, batch in birdie.measure_validation_losses():
                birdie.log_validation_loss(key=key, loss=model(**batch), step_idx=step)
        batch = birdie.get_next_training_sample()
        loss = model(**batch)
        ...
    birdie.close()                                       # or use `with Birdie(...) as birdie:`

After the last validation loss of an evaluation is logged, the losses are averaged over ranks, rank 0 runs
the reward function and the agent, the new mixture is broadcast to every rank and written, stamped with the
batch index it takes effect from, into the mixture schedule the workers read (see ``birdie_core.pipeline.workers``:
an update after ``k`` consumed batches takes effect from batch ``k + num_workers * prefetch_factor``).
"""

from __future__ import annotations

import functools
import json
import math
import numbers
import os
import warnings
import weakref
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from birdie_core.config.load import ConfigSource
from birdie_core.config.models import PipelineConfig
from birdie_core.config.resolved import save_resolved_config
from birdie_core.curriculum.distributed import Collective, collective_for
from birdie_core.curriculum.metrics import METRICS_NAME, MetricsLog, RealisedShares, by_key, jsonable
from birdie_core.curriculum.schedule import EvaluationSchedule
from birdie_core.errors import BirdieError, ConfigError, ConfigIssue, NoUsableDocumentsError, PipelineError
from birdie_core.interfaces import Agent, Arm, RewardFn, Shard, Tokenizer, normalise
from birdie_core.pipeline.build import Components
from birdie_core.pipeline.workers import BatchInfo, BatchLoader, MixtureSchedule, sum_data_stats
from birdie_core.registry import Registry

if TYPE_CHECKING:
    from birdie_core.integrations.torch import BirdieIterableDataset

__all__ = ["Birdie", "EvaluationError"]

_STATE_VERSION = 1


class EvaluationError(BirdieError):
    """The training loop used the evaluation API out of order (a loss logged twice, an unknown key, ...)."""


@dataclass
class _Evaluation:
    step: int | None
    expected: dict[str, int]
    losses: dict[str, list[float]] = field(default_factory=dict)
    logged: int = 0

    @property
    def total(self) -> int:
        return sum(self.expected.values())

    def missing(self) -> dict[str, int]:
        return {
            k: n - len(self.losses.get(k, ()))
            for k, n in self.expected.items()
            if len(self.losses.get(k, ())) < n
        }


class Birdie:
    """Training batches whose objective mixture a reward-driven agent steers; see the module docstring.

    ``config``: a YAML path, a dict (the nested form, or the original project's flat form), a
    :class:`~birdie_core.config.PipelineConfig`, or already resolved :class:`~birdie_core.pipeline.Components`
    (what ``birdie train`` passes). ``registry``: the plugins to use (default: the process's).
    ``accelerator``: an ``accelerate.Accelerator`` for multi-process training (also taken from the flat form's
    ``accelerator`` key); without one an initialised ``torch.distributed`` group is used if there is one.
    ``run_dir``: where the resolved config and ``metrics.jsonl`` go (nothing is written without it; the
    records are always in :attr:`history`). ``num_validation_batches``: fixed validation batches per objective
    configuration (default 1). ``worker_timeout``: seconds a worker may take for one batch before the loader
    raises (0: no limit; a dead worker is detected regardless). ``rank`` / ``world_size``: read that shard
    without any process group (tests, or ranks that coordinate otherwise).
    """

    def __init__(
        self,
        config: ConfigSource | Components,
        *,
        registry: Registry | None = None,
        accelerator: Any = None,
        run_dir: str | os.PathLike[str] | None = None,
        num_validation_batches: int | None = None,
        worker_timeout: float = 0.0,
        rank: int | None = None,
        world_size: int | None = None,
    ):
        if accelerator is None and isinstance(config, Mapping):
            given = config.get("accelerator")
            accelerator = given if hasattr(given, "num_processes") else None
        components = config if isinstance(config, Components) else Components.resolve(config, registry)
        #: the components of the config, resolved once; workers and validation batches are built from them
        self.components = components
        self.registry: Registry = components.registry
        self.config: PipelineConfig = components.config
        cfg = self.config
        self.accelerator = accelerator
        self.collective: Collective = collective_for(accelerator, rank, world_size)
        self.arms: tuple[Arm, ...] = components.arms
        self.keys: tuple[str, ...] = components.keys
        self.agent: Agent[Any] = components.agent()
        self.reward_fn: RewardFn | None = components.reward_fn(self.agent)
        classes = list(dict.fromkeys(a.objective for a in self.arms))
        self._classes = np.array([classes.index(a.objective) for a in self.arms], dtype=np.int64)
        self.schedule = EvaluationSchedule(cfg.curriculum.steps_between_evaluations)
        n_val = num_validation_batches
        if n_val is None:
            n_val = getattr(cfg.curriculum, "num_validation_batches", None) or 1
        if int(n_val) < 1:
            raise ConfigError(ConfigIssue("num_validation_batches", f"must be >= 1, got {n_val}"))
        self.num_validation_batches = int(n_val)
        self.worker_timeout = float(worker_timeout)

        self._consumed = 0
        self._realised = RealisedShares(len(self.arms))
        self._loss_history: list[np.ndarray] = []
        #: one record per evaluation (what ``metrics.jsonl`` holds)
        self.history: list[dict[str, Any]] = []
        #: metadata of the batch last returned by :meth:`get_next_training_sample`
        self.last_batch_info: BatchInfo | None = None
        self._validation: list[tuple[str, dict[str, torch.Tensor]]] | None = None
        #: objective keys that no validation document could make an example for (known once the validation
        #: batches are built): they have no validation loss (see :meth:`measure_validation_losses`)
        self.unmeasured: tuple[str, ...] = ()
        self._eval: _Evaluation | None = None
        self._eval_step: int | None = None
        self._pending_state: dict[str, Any] | None = None
        self._closed = False
        self._new_loader(self.agent.initial_mixture())

        self.run_dir = Path(run_dir) if run_dir is not None else None
        self._metrics = MetricsLog(None)
        if self.run_dir is not None and self.collective.is_main:
            save_resolved_config(cfg, self.run_dir)
            plugins = [p.to_dict() for p in self.registry.plugins]
            (self.run_dir / "plugins.json").write_text(json.dumps(plugins, indent=1) + "\n", encoding="utf-8")
            self._metrics = MetricsLog(self.run_dir / METRICS_NAME)

    # -- construction -------------------------------------------------------------------------------------
    def _new_loader(self, initial: np.ndarray) -> None:
        workers = self.config.workers
        self._mixtures = MixtureSchedule(initial, workers.num_workers * workers.prefetch_factor)
        self._loader = BatchLoader(
            self.components,
            self._mixtures,
            rank=self.collective.rank,
            world_size=self.collective.world_size,
            timeout=self.worker_timeout,
        )
        self._finalizer = weakref.finalize(self, self._loader.close)

    # -- properties ---------------------------------------------------------------------------------------
    @property
    def num_steps(self) -> int:
        """``curriculum.num_steps``: the training steps the curriculum plans for."""
        return self.config.curriculum.num_steps

    @functools.cached_property
    def tokenizer(self) -> Tokenizer:
        """The tokenizer the batches are built with: ``vocab_size`` is the size the model's embedding needs
        (reserved ids included), ``pad_id`` the id that fills padding, ``decode`` turns ids back into text."""
        return self.components.tokenizer()

    @property
    def lookahead(self) -> int:
        """``num_workers * prefetch_factor``: an update after ``k`` batches takes effect from ``k + lookahead``."""
        return self._loader.lookahead

    @property
    def batches_consumed(self) -> int:
        return self._consumed

    @property
    def mixture(self) -> dict[str, float]:
        """The latest commanded mixture (in force from batch ``mixture_effective_from``)."""
        _, m = self._mixtures.latest()
        return {k: float(p) for k, p in zip(self.keys, m)}

    @property
    def mixture_effective_from(self) -> int:
        return self._mixtures.latest()[0]

    def data_stats(self) -> dict[str, Any]:
        """What this rank's data pipeline has read and made so far: documents read, too short for every
        objective, tokens dropped, examples and positions per objective, per training domain the documents
        read, document tokens consumed and documents held out for validation (``"domains"``), and the sources'
        own counters (empty documents, invalid UTF-8 replaced, ...), summed over workers. Each evaluation's record in
        ``metrics.jsonl`` holds the same, summed over ranks, under ``"data"``."""
        return self._loader.data_stats()

    def worker_pids(self) -> list[int]:
        """Process ids of the live worker processes (empty in-process or before the first batch)."""
        return self._loader.worker_pids()

    # -- the training loop --------------------------------------------------------------------------------
    def time_for_eval(self, step_idx: int) -> bool:
        """Whether ``step_idx`` is an evaluation step (``curriculum.steps_between_evaluations``)."""
        due = self.schedule(int(step_idx))
        if due:
            self._eval_step = int(step_idx)
        return due

    def measure_validation_losses(self) -> Iterator[tuple[str, dict[str, torch.Tensor]]]:
        """Open an evaluation and yield ``(objective key, batch)`` for every fixed validation batch.

        The batches are built once (``num_validation_batches`` per objective configuration, from
        ``data.validation``, or without one from the training documents held out for validation,
        ``data.validation_holdout``) with exactly the training layout, and are the same at every evaluation.
        With several validation sources (per training domain) they are mixed by weight like the training
        domains. Log one loss per yielded batch with :meth:`log_validation_loss`.

        An objective that no validation document suits (every one too short for it: see
        :attr:`~birdie_core.Objective.min_document_tokens`) gets no batch; it is named once in a warning and
        in :attr:`unmeasured`, its loss in the metrics is null, and the reward function and the agent see it
        unchanged since its first evaluation (a constant stand-in loss, so no reward and no penalty): the run
        goes on, steered by the objectives that are measured.
        """
        self._check_open()
        if self._eval is not None and self._eval.logged:
            missing = self._eval.missing()
            raise EvaluationError(
                f"the evaluation at step {self._eval.step} is incomplete: no loss was logged for "
                f"{sorted(missing)}; log one loss per batch that measure_validation_losses() yields"
            )
        if self._validation is None:
            self._validation = self._build_validation()
        expected: dict[str, int] = {}
        for key, _ in self._validation:
            expected[key] = expected.get(key, 0) + 1
        self._eval = _Evaluation(self._eval_step, expected, {k: [] for k in expected})
        if not expected:  # nothing to measure: the evaluation is complete as it opens
            self._finish_evaluation(self._eval)
        return self._yield_validation(self._validation)

    @staticmethod
    def _yield_validation(batches: list[tuple[str, dict[str, torch.Tensor]]]) -> Iterator[Any]:
        for key, batch in batches:
            yield key, {k: v.clone() for k, v in batch.items()}

    def log_validation_loss(self, key: str, loss: Any, step_idx: int | None = None) -> None:
        """Record the validation loss of one batch yielded by :meth:`measure_validation_losses`.

        ``loss``: a float or a one-element tensor. When every batch of the evaluation has its loss, the
        curriculum runs (reward, agent, new mixture).
        """
        self._check_open()
        ev = self._eval
        if ev is None:
            raise EvaluationError(
                "no evaluation is open: call measure_validation_losses() and log one loss per batch it yields"
            )
        if key not in ev.expected:
            raise EvaluationError(f"unknown objective key {key!r}; the keys are {list(ev.expected)}")
        if len(ev.losses[key]) >= ev.expected[key]:
            n = ev.expected[key]
            raise EvaluationError(
                f"a loss for {key!r} was logged {n + 1} times in the evaluation at step {ev.step}, but "
                f"{n} validation batch{'es were' if n > 1 else ' was'} given for it"
            )
        value = _loss_value(key, loss)
        if step_idx is not None:
            if ev.step is None:
                ev.step = int(step_idx)
            elif int(step_idx) != ev.step:
                raise EvaluationError(
                    f"loss for {key!r} logged with step_idx={step_idx} in the evaluation of step {ev.step}"
                )
        ev.losses[key].append(value)
        ev.logged += 1
        if ev.logged == ev.total:
            self._finish_evaluation(ev)

    def get_next_training_sample(self) -> dict[str, torch.Tensor]:
        """The next training batch: ``torch.long`` tensors of shape (batch_size, sequence_length).

        Keys: ``input_ids``, ``label_ids`` (already shifted), ``attention_mask``, ``segment_ids``,
        ``position_ids``. Its metadata is in :attr:`last_batch_info`.
        """
        self._check_open()
        if not self._loader.started:
            state, self._pending_state = self._pending_state, None
            self._loader.start(state)
        tensors, info = self._loader.next()
        if info.index != self._consumed:
            self.close()
            raise PipelineError(f"received batch {info.index} where batch {self._consumed} was due (a bug)")
        self._realised.add(info.arm_positions, info.segment_arms, info.mixture)
        self._consumed += 1
        self.last_batch_info = info
        return tensors

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        """Training batches until :attr:`batches_consumed` reaches :attr:`num_steps` (counting every batch
        drawn, by this loop or by :meth:`get_next_training_sample`): ``for step, batch in enumerate(birdie)``.

        Iterating again after a resume continues where the stream stands, up to ``num_steps`` in total. The
        batch of step ``s`` is drawn before the loop body runs ``s``'s evaluation, so a mixture update takes
        effect one batch later than in the loop that calls :meth:`get_next_training_sample` after evaluating.
        """
        while self._consumed < self.num_steps:
            yield self.get_next_training_sample()

    def as_iterable_dataset(self) -> BirdieIterableDataset:
        """This Birdie as a ``torch.utils.data.IterableDataset`` of whole batches, for APIs that want a
        dataset; see :class:`birdie_core.integrations.torch.BirdieIterableDataset` for the DataLoader rules."""
        from birdie_core.integrations.torch import BirdieIterableDataset

        return BirdieIterableDataset(self)

    # -- the curriculum -----------------------------------------------------------------------------------
    def _build_validation(self) -> list[tuple[str, dict[str, torch.Tensor]]]:
        coll = self.collective
        shard = Shard(coll.rank, coll.world_size)
        out: list[tuple[str, dict[str, torch.Tensor]]] = []
        unmeasured: list[str] = []
        for i, arm in enumerate(self.arms):
            one_hot = np.zeros(len(self.arms))
            one_hot[i] = 1.0
            pipe = None
            try:
                pipe = self.components.pipeline("validation", shard, one_hot)
                batches = [pipe.next_batch() for _ in range(self.num_validation_batches)]
            except NoUsableDocumentsError as exc:
                unmeasured.append(arm.key)
                warnings.warn(
                    f"objective {arm.key!r} has no validation loss: {exc}; it is left out of the evaluations "
                    "(its share of the mixture is steered by the other objectives' losses)",
                    RuntimeWarning,
                    stacklevel=3,
                )
                continue
            except BirdieError as exc:
                raise PipelineError(
                    f"building the validation batches of objective {arm.key!r}: {exc}"
                ) from exc
            finally:
                if pipe is not None:
                    pipe.close()
            out += [(arm.key, b.to_torch()) for b in batches]
        self.unmeasured = tuple(unmeasured)
        return out

    def _finish_evaluation(self, ev: _Evaluation) -> None:
        coll = self.collective
        step = ev.step if ev.step is not None else self._consumed
        # mean over the batches of every rank that has any: a rank whose shard suits no validation document
        # of an objective adds nothing for it; an objective no rank measured stays NaN
        sums = np.array([np.sum(ev.losses.get(k, ())) for k in self.keys], dtype=np.float64)
        counts = np.array([len(ev.losses.get(k, ())) for k in self.keys], dtype=np.float64)
        if coll.connected:
            sums, counts = coll.sum(sums), coll.sum(counts)
        with np.errstate(invalid="ignore", divide="ignore"):
            losses = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
        realised = self._realised
        if coll.connected:
            realised = realised.from_vector(coll.sum(realised.as_vector()))
        data = self._loader.data_stats()
        if coll.connected:
            data = sum_data_stats(coll.gather(data), self.keys)
        previous = self._loss_history[-1] if self._loss_history else None
        outcome: dict[str, Any] = {}
        if coll.is_main:
            try:
                outcome = self._decide(step, losses, previous)
            except Exception as exc:  # every rank must learn of it, or the others wait in broadcast forever
                outcome = {"error": f"{type(exc).__name__}: {exc}"}
                if not coll.connected:
                    raise
        if coll.connected:
            outcome = coll.broadcast(outcome)
        if "error" in outcome:
            raise PipelineError(f"the curriculum failed at step {step} on rank 0: {outcome['error']}")
        mixture = np.asarray(outcome["mixture"], dtype=np.float64)
        rewards = outcome["rewards"]
        effective = self._consumed + self._loader.lookahead
        self._mixtures.set(effective, mixture)
        # what the reward function and agent saw (stand-ins for unmeasured objectives), not the NaNs
        self._loss_history.append(np.asarray(outcome["losses"], dtype=np.float64))
        record = {
            "evaluation": len(self.history),
            "step": int(step),
            "batches_consumed": self._consumed,
            "effective_batch": effective,
            "mixture": by_key(self.keys, mixture),
            "losses": by_key(self.keys, losses),
            "rewards": None if rewards is None else by_key(self.keys, np.asarray(rewards)),
            "explored": bool(outcome["explored"]),
            "agent": outcome["info"],
            "realised": realised.summary(self.keys),
            "data": data,
        }
        self.history.append(record)
        self._realised.reset()
        self._eval, self._eval_step = None, None
        if coll.is_main:
            self._metrics.append(record)
            self.registry.notify_evaluation(int(step), record["losses"])
            self.registry.notify_mixture_update(int(step), record["mixture"], record)

    def _stand_in(self, losses: np.ndarray) -> np.ndarray:
        """``losses`` with each unmeasured (NaN) one replaced by a constant: its value at the previous
        evaluation, else the mean of the measured ones (1.0 with none), so that no reward moves for it."""
        missing = ~np.isfinite(losses)
        if not missing.any():
            return losses
        filled = losses.copy()
        if self._loss_history:
            filled[missing] = self._loss_history[-1][missing]
        else:
            measured = losses[~missing]
            filled[missing] = float(measured.mean()) if measured.size else 1.0
        return filled

    def _decide(self, step: int, measured: np.ndarray, previous: np.ndarray | None) -> dict[str, Any]:
        n = len(self.arms)
        losses = self._stand_in(measured)
        rewards = None
        if self.reward_fn is not None and previous is not None:
            rewards = np.asarray(
                self.reward_fn(
                    previous.copy(), losses.copy(), history=tuple(self._loss_history), classes=self._classes
                ),
                dtype=np.float64,
            )
            if rewards.shape != (n,) or not np.all(np.isfinite(rewards)):
                reward_cfg = self.config.curriculum.reward
                raise PipelineError(
                    f"reward function {reward_cfg.name if reward_cfg else '?'!r} returned {rewards.tolist()}: "
                    f"expected {n} finite values"
                )
            rewards[~np.isfinite(measured)] = 0.0  # an objective without a validation loss earns nothing
        given = rewards if rewards is not None else (np.zeros(n) if self.agent.needs_reward else None)
        decision = self.agent.decide(step, losses.copy(), None if given is None else given.copy())
        try:
            mixture = normalise(decision.mixture)
        except ValueError as exc:
            raise PipelineError(
                f"agent {self.config.curriculum.agent.name!r}: invalid mixture: {exc}"
            ) from None
        if mixture.shape != (n,):
            raise PipelineError(
                f"agent {self.config.curriculum.agent.name!r} returned {mixture.size} probabilities for {n} arms"
            )
        return {
            "mixture": mixture,
            "losses": losses,
            "rewards": rewards,
            "explored": bool(decision.explored),
            "info": jsonable(dict(decision.info)),
        }

    # -- resume -------------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue exactly: stream positions, mixture schedule, agent, loss history.

        With several ranks every rank must call it (it gathers each rank's stream position, so that the
        state rank 0 saves, as ``accelerator.save_state`` does, lets every rank resume). After :meth:`close` or
        a failure of the data pipeline there is no position to save, and this raises a PipelineError.
        """
        self._check_open()
        loader_state = self._loader.state_dict()  # raises after a failure: such a stream cannot resume
        mine = {
            "loader": loader_state if loader_state is not None else self._pending_state,
            "consumed": self._consumed,
            "realised": self._realised.state_dict(),
        }
        ranks = self.collective.gather(mine) if self.collective.connected else [mine]
        first_rank = 0 if self.collective.connected else self.collective.rank
        return {
            "version": _STATE_VERSION,
            "arm_keys": list(self.keys),
            "world_size": self.collective.world_size,
            "num_workers": self.config.workers.num_workers,
            "seed": self.config.seed,
            "ranks": {first_rank + i: r for i, r in enumerate(ranks)},
            "schedule": self._mixtures.entries(),
            "agent": self.agent.state_dict(),
            "loss_history": [h.tolist() for h in self._loss_history],
            "history": list(self.history),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from :meth:`state_dict` (in this or a new process); workers restart from it."""
        self._check_open()
        if state.get("version") != _STATE_VERSION:
            raise PipelineError(f"unknown Birdie state version {state.get('version')!r}")
        problems = []
        for what, saved, here in (
            ("objective keys", list(state["arm_keys"]), list(self.keys)),
            ("world size", state["world_size"], self.collective.world_size),
            ("workers.num_workers", state["num_workers"], self.config.workers.num_workers),
            ("seed", state["seed"], self.config.seed),
        ):
            if saved != here:
                problems.append(f"{what}: saved {saved}, here {here}")
        ranks = state["ranks"]
        if self.collective.rank not in ranks:
            problems.append(f"no stream position for rank {self.collective.rank} (saved: {sorted(ranks)})")
        if problems:
            raise PipelineError("cannot resume from this state: " + "; ".join(problems))
        mine = ranks[self.collective.rank]
        self._loader.close()
        self._finalizer.detach()
        entries = state["schedule"]
        self._new_loader(np.asarray(entries[0][1], dtype=np.float64))
        self._mixtures.load(entries)
        self._pending_state = mine["loader"]
        self._consumed = int(mine["consumed"])
        self._realised.load_state_dict(mine["realised"])
        self.agent.load_state_dict(state["agent"])
        self._loss_history = [np.asarray(h, dtype=np.float64) for h in state["loss_history"]]
        self.history = list(state["history"])
        self._eval, self._eval_step = None, None
        self.last_batch_info = None

    # -- lifetime -----------------------------------------------------------------------------------------
    def close(self) -> None:
        """Stop every worker process. Idempotent; also run on leaving a ``with`` block and on collection."""
        if self._closed:
            return
        self._closed = True
        self._finalizer()

    def _check_open(self) -> None:
        if self._closed:
            raise PipelineError("this Birdie is closed")

    def __enter__(self) -> Birdie:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        workers = self.config.workers.num_workers
        return (
            f"Birdie({len(self.arms)} objectives, {workers} workers, rank {self.collective.rank}/"
            f"{self.collective.world_size}, {self._consumed} batches consumed)"
        )


def _loss_value(key: str, loss: Any) -> float:
    if isinstance(loss, torch.Tensor):
        if loss.numel() != 1:
            raise EvaluationError(
                f"the loss for {key!r} must be a float or a one-element tensor, got shape {tuple(loss.shape)}"
            )
        value = float(loss.detach().float().cpu().item())
    elif isinstance(loss, numbers.Real) or (isinstance(loss, np.ndarray) and loss.size == 1):
        value = float(loss)
    else:
        raise EvaluationError(
            f"the loss for {key!r} must be a float or a 0-d tensor, got {type(loss).__name__}"
        )
    if not math.isfinite(value):
        raise EvaluationError(f"the validation loss for {key!r} is {value}: the model's loss diverged")
    return value
