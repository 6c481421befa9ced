"""The one construction path: a validated config plus a registry → the components it names.

:meth:`Components.resolve` looks every name up once (an unknown or broken plugin fails here, naming it) and
fixes the arms; its methods then build the tokenizer, sources, objectives, packer, agent and reward function,
and whole :class:`~birdie_core.pipeline.stream.Pipeline` objects for any split and shard. ``Birdie``, its
workers, its validation batches, ``preview`` and ``birdie train`` all build through it.

What a pipeline reads is decided here, once, from ``data`` (:meth:`Components.mix`): each source with its
shuffle buffer and seed (a validation source unshuffled unless it says otherwise), several training sources
mixed by weight, and, without a validation source, the hold-out that splits the training documents between
the two streams (:mod:`birdie_core.pipeline.holdout`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from birdie_core.config.load import ConfigSource, LoadedConfig, read_config
from birdie_core.config.models import DomainConfig, PipelineConfig
from birdie_core.config.original import PythonObjects
from birdie_core.errors import ConfigError, ConfigIssue, PipelineError
from birdie_core.interfaces import (
    WHOLE_SPLIT,
    Agent,
    Arm,
    Objective,
    Packer,
    RewardFn,
    Shard,
    Source,
    SourceConfig,
    Tokenizer,
    normalise,
)
from birdie_core.kinds import (
    AgentClass,
    ObjectiveClass,
    PackerClass,
    RewardFnFactory,
    SourceFactory,
    TokenizerFactory,
)
from birdie_core.pipeline.domains import Domain, DomainMix
from birdie_core.pipeline.holdout import HoldOut
from birdie_core.registry import Entry, Registry, default_registry

if TYPE_CHECKING:
    from birdie_core.pipeline.stream import Pipeline

__all__ = ["Components", "Split"]

Split = Literal["train", "validation"]


@dataclass(frozen=True)
class Components:
    """Every component a config names, resolved against one registry (build with :meth:`resolve`)."""

    config: PipelineConfig
    registry: Registry
    objects: PythonObjects
    arms: tuple[Arm, ...]  # one per objective entry: its id and its qualified objective name
    _objectives: tuple[Entry[ObjectiveClass], ...]
    _sources: Mapping[str, tuple[Entry[SourceFactory], ...]]  # by split, one per domain: configured ones only
    _tokenizer: Entry[TokenizerFactory]
    _packer: Entry[PackerClass]
    _agent: Entry[AgentClass]
    _reward: Entry[RewardFnFactory] | None

    @classmethod
    def resolve(cls, config: ConfigSource, registry: Registry | None = None) -> Components:
        """Validate ``config`` if needed and look up every component it names in ``registry``.

        A tokenizer object given beside the config is checked here, once, so that a broken one fails when
        Birdie or a Pipeline is built (:func:`~birdie_core.builtins.objects.check_tokenizer_object`).
        """
        registry = registry if registry is not None else default_registry()
        loaded = read_config(config, registry)
        cfg = loaded.config
        objectives = tuple(registry.resolve("objective", c.name) for c in cfg.objectives)
        sources = {
            split: tuple(registry.resolve("source", d.source.name) for d in domains)
            for split, domains in (
                ("train", cfg.data.domains("train")),
                ("validation", cfg.data.domains("validation")),
            )
            if domains
        }
        reward = cfg.curriculum.reward
        components = cls(
            config=cfg,
            registry=registry,
            objects=loaded.objects,
            arms=tuple(Arm(c.id or e.name, e.qualified_name) for c, e in zip(cfg.objectives, objectives)),
            _objectives=objectives,
            _sources=MappingProxyType(sources),
            _tokenizer=registry.resolve("tokenizer", cfg.tokenizer.name),
            _packer=registry.resolve("packer", cfg.packer.name),
            _agent=registry.resolve("agent", cfg.curriculum.agent.name),
            _reward=registry.resolve("reward", reward.name) if reward is not None else None,
        )
        components._check_tokenizer_object()
        return components

    def _check_tokenizer_object(self) -> None:
        # in the training process: a broken object must not first fail at the first batch, inside a worker
        obj = self.objects.tokenizer
        if obj is None:
            return
        from birdie_core.builtins.objects import check_tokenizer_object, wrap_tokenizer_object

        cfg = self.config
        tokenizer = wrap_tokenizer_object(obj, [cfg.start_generating_paradigm], self._num_sentinels_given())
        num_workers = cfg.workers.num_workers
        workers_fork = True
        if num_workers > 0:
            from birdie_core.pipeline.workers import _start_method

            workers_fork = _start_method() == "fork"
        check_tokenizer_object(obj, tokenizer, num_workers=num_workers, workers_fork=workers_fork)

    @property
    def loaded(self) -> LoadedConfig:
        """The config with the Python objects given beside it (what a forked worker inherits)."""
        return LoadedConfig(self.config, self.objects)

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(a.key for a in self.arms)

    # -- the components ---------------------------------------------------------------------------------
    def objectives(self) -> list[Objective[Any]]:
        return [e.obj(c) for e, c in zip(self._objectives, self.config.objectives)]

    def tokenizer(self, objectives: Sequence[Objective[Any]] | None = None) -> Tokenizer:
        """The tokenizer, with the start marker and every marker the objectives emit reserved: the configured
        one, or the tokenizer object given beside the config, wrapped (:mod:`birdie_core.builtins.objects`)."""
        objectives = objectives if objectives is not None else self.objectives()
        start = self.config.start_generating_paradigm
        specials = list(dict.fromkeys([start, *(s for o in objectives for s in o.special_tokens())]))
        obj = self.objects.tokenizer
        if obj is None:
            return self._tokenizer.obj(self.config.tokenizer, specials)
        from birdie_core.builtins.objects import wrap_tokenizer_object

        return wrap_tokenizer_object(obj, specials, self._num_sentinels_given())

    def _num_sentinels_given(self) -> int | None:
        # the tokenizer entry beside an object is a placeholder: only a count set on purpose is passed on, so
        # that a vocabulary with sentinel tokens of its own (T5's) keeps exactly those
        tok_cfg = self.config.tokenizer
        return tok_cfg.num_sentinels if "num_sentinels" in tok_cfg.model_fields_set else None

    @property
    def domain_ids(self) -> tuple[str, ...]:
        """The ids of the training domains (``("train",)`` for a single train source)."""
        return tuple(d.id for d in self.config.data.domains("train"))

    def source(self, split: Split) -> Source:
        """The source ``data.<split>`` as configured (for a list of sources, their :class:`DomainMix`); its
        config errors name their place in the pipeline config."""
        self._split_domains(split)
        if isinstance(getattr(self.config.data, split), tuple):
            return self.mix(split)
        return self.domain_source(split, 0)

    def domain_source(self, split: Split, index: int) -> Source:
        """The source of domain ``index`` of ``split`` (the source itself for a single one), as configured."""
        domains = self._split_domains(split)
        where = (
            f"data.{split}[{index}]"
            if isinstance(getattr(self.config.data, split), tuple)
            else f"data.{split}"
        )
        try:
            return self._make_source(self._sources[split][index], domains[index].source)
        except ConfigError as exc:
            raise ConfigError(
                [replace(i, path=f"{where}.{i.path}" if i.path else where) for i in exc.issues]
            ) from None

    def _split_domains(self, split: Split) -> tuple[DomainConfig, ...]:
        if split not in ("train", "validation"):
            raise PipelineError(f"unknown split {split!r}: 'train' or 'validation'")
        domains = self.config.data.domains(split)
        if not domains:
            raise PipelineError(f"no {split!r} source is configured (data.{split})")
        return domains

    def mix(self, split: Split) -> DomainMix:
        """What a pipeline of ``split`` reads: its sources with their shuffling, weights and hold-out.

        Training reads ``data.train`` less the held-out documents. Validation reads ``data.validation``, or,
        without one, the training sources' held-out documents (all their documents when
        ``validation_holdout`` is 0), unshuffled.
        """
        data, seed = self.config.data, self.config.seed
        holdout = HoldOut(data.validation_holdout) if data.validation_holdout else None
        if split == "train" or data.validation is None:
            validating = split == "validation"
            domains = [
                Domain(
                    d.id,
                    self.domain_source("train", i),
                    d.weight,
                    shuffle_buffer=0 if validating else d.source.shuffle_buffer,
                    shuffle_seed=_seed_of(d, seed),
                    holdout=holdout,
                    held_out_only=validating and holdout is not None,
                )
                for i, d in enumerate(data.domains("train"))
            ]
        else:
            domains = [
                Domain(
                    d.id,
                    self.domain_source(split, i),
                    d.weight,
                    shuffle_buffer=d.source.shuffle_buffer,
                    shuffle_seed=_seed_of(d, seed),
                )
                for i, d in enumerate(self._split_domains(split))
            ]
        return DomainMix(domains, seed=seed, split=split)

    def _make_source(self, entry: Entry[SourceFactory], src_cfg: SourceConfig) -> Source:
        from birdie_core.builtins.sources import CallableSource

        objects = self.objects
        # the flat form may have given the functions themselves
        if isinstance(src_cfg, CallableSource.Config):
            fn = objects.ds_validation if src_cfg.split == "validation" else None
            fn = fn if fn is not None else objects.ds
            if fn is not None:
                return CallableSource.from_callables(
                    fn,
                    objects.text_grabber_fn,
                    split=src_cfg.split,
                    sharded_by_function=src_cfg.sharded_by_function,
                    seed=src_cfg.seed,
                    text_field=src_cfg.text_field,
                )
        return entry.obj(src_cfg)

    def packer(self, tokenizer: Tokenizer) -> Packer[Any]:
        """The configured packer, padding with ``tokenizer``'s pad id."""
        cfg = self.config
        return self._packer.obj(
            cfg.packer, cfg.batch_size, cfg.sequence_length, len(self.arms), pad_id=tokenizer.pad_id
        )

    def agent(self) -> Agent[Any]:
        """The configured agent; its initial mixture comes from each objective's ``prob``."""
        cfg = self.config
        probs = np.array([c.prob for c in cfg.objectives], dtype=np.float64)
        return self._agent.obj(
            cfg.curriculum.agent, self.arms, probs, seed=cfg.seed, num_steps=cfg.curriculum.num_steps
        )

    def reward_fn(self, agent: Agent[Any]) -> RewardFn | None:
        """The configured reward function; None without one, which is an error for an agent that needs it."""
        reward_cfg = self.config.curriculum.reward
        if self._reward is None or reward_cfg is None:
            if agent.needs_reward:
                raise ConfigError(
                    ConfigIssue(
                        "curriculum.reward",
                        f"agent {self.config.curriculum.agent.name!r} learns from rewards: set a reward function, "
                        "e.g. {name: birdie} (pip install birdie-rewards)",
                    )
                )
            return None
        return self._reward.obj(reward_cfg)

    def pipeline(
        self,
        split: Split = "train",
        shard: Shard = WHOLE_SPLIT,
        mixture: np.ndarray | Sequence[float] | None = None,
        *,
        read_from: Split | None = None,
    ) -> Pipeline:
        """A :class:`~birdie_core.pipeline.stream.Pipeline` for ``split`` and ``shard``.

        ``mixture`` defaults to the configured agent's initial mixture. It reads :meth:`mix` of ``split``, or
        of ``read_from`` when given (``read_from="train"``: the training stream's documents, hold-out excluded).
        """
        from birdie_core.pipeline.stream import Pipeline

        objectives = self.objectives()
        tokenizer = self.tokenizer(objectives)
        source = self.mix(read_from or split)
        # a source of token ids (pre-tokenized data) refuses a tokenizer other than the one that wrote them
        for domain in source.domains:
            if hasattr(domain.source, "check_tokenizer"):
                domain.source.check_tokenizer(tokenizer)
        if mixture is None:
            mixture = self.agent().initial_mixture()
        cfg = self.config
        return Pipeline(
            tokenizer,
            source,
            objectives,
            self.arms,
            self.packer(tokenizer),
            normalise(mixture),
            cfg.seed,
            cfg.start_generating_paradigm,
            shard,
            split=split,
            mixture_unit=cfg.curriculum.mixture_unit,
        )


def _seed_of(domain: DomainConfig, seed: int) -> int:
    # load_config fills every shuffle_seed; a config built by hand may still carry null
    given = domain.source.shuffle_seed
    return int(given) if given is not None else int(seed)
