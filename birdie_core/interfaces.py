"""The extension points of Birdie and the plain data that flows between them.

Stateful extension points with shared behaviour are ABCs (:class:`Objective`, :class:`Packer`,
:class:`Agent`); callables and duck types are Protocols (:class:`RewardFn`, :class:`Tokenizer`,
:class:`Source`). Every extension class carries a nested, frozen pydantic ``Config`` model that validates
its YAML entry; runtime state (tokenizer, RNG, token budget) never lives in a config.

On the hot path only slotted dataclasses of numpy arrays are used.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, ClassVar, Generic, Literal, Protocol, TypeVar, runtime_checkable

import numpy as np
from pydantic import AllowInfNan, BaseModel, BeforeValidator, ConfigDict, Field, field_validator

TOKEN_DTYPE = np.int32
IGNORE_INDEX = -100
PAD_ID = 0

# ---------------------------------------------------------------------------------------------------------
# Configuration bases (what users write)
# ---------------------------------------------------------------------------------------------------------


# The two validators below raise ValueError for a wrong type: pydantic reports only ValueError and
# AssertionError as validation errors (a TypeError would escape as a traceback).


def _refuse_bool_and_float(value: Any) -> Any:
    # YAML reads true/yes/on as booleans and 1.0e+12 as a float, and pydantic's lax mode would quietly make
    # them 1 and 1000000000000: a typo or a float where a count is meant would pass unseen
    if isinstance(value, (bool, np.bool_)):
        raise ValueError(
            f"expected an integer, got the boolean {str(value).lower()} (YAML reads true/false, yes/no and "
            "on/off as booleans)"
        )
    if isinstance(value, float):
        hint = " (write an integer without a decimal point or exponent)" if value.is_integer() else ""
        raise ValueError(f"expected an integer, got the number {float(value)!r}{hint}")
    return value


def _refuse_bool_and_non_finite(value: Any) -> Any:
    if isinstance(value, (bool, np.bool_)):
        raise ValueError(f"expected a number, got the boolean {str(value).lower()}")
    # checked here, before any bound: pydantic would call nan "not >= 0", which hides what is wrong
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"expected a finite number, got {float(value)}")
    return value


#: An integer config field: a boolean or a float is an error, not 1 or a rounded number. Use it for every
#: int field of a component's ``Config`` (``width: ConfigInt = Field(128, ge=1)``).
ConfigInt = Annotated[int, BeforeValidator(_refuse_bool_and_float)]
#: A number config field: finite (``.inf`` and ``.nan`` are errors) and never a boolean; integers are fine.
ConfigFloat = Annotated[float, BeforeValidator(_refuse_bool_and_non_finite), AllowInfNan(False)]


class ComponentConfig(BaseModel):
    """Base of every component's config: frozen, and unknown keys are errors."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(description="The registered name of the component (qualified or bare).")


class ObjectiveConfig(ComponentConfig):
    """Parameters every objective accepts."""

    id: str | None = Field(
        None, description="Key of this objective configuration in mixtures and metrics (default: derived)."
    )
    prob: ConfigFloat = Field(1.0, ge=0.0, description="Initial (unnormalised) share of the mixture.")
    paradigm: str | None = Field(
        None, description="Paradigm marker put in the input, e.g. '[R]', '[S]', '[X]', '<|INFILL|>'."
    )
    paradigm_at_end: ConfigFloat = Field(
        0.0, ge=0.0, le=1.0, description="Probability of placing the paradigm marker at the end of the input."
    )
    length: tuple[ConfigInt, ConfigInt] | None = Field(
        None, description="[min, max] document tokens one example consumes (default: up to the budget)."
    )

    @field_validator("paradigm")
    @classmethod
    def _paradigm_not_empty(cls, v: str | None) -> str | None:
        if v is not None and not v.strip():
            raise ValueError("the paradigm marker must not be empty or blank (omit it for none)")
        return v

    @field_validator("length")
    @classmethod
    def _length_range(cls, v: tuple[int, int] | None) -> tuple[int, int] | None:
        if v is not None and not (1 <= v[0] <= v[1]):
            raise ValueError(f"length must be [min, max] with 1 <= min <= max, got {list(v)}")
        return v


class PackerConfig(ComponentConfig):
    """Parameters every packer accepts."""


class AgentConfig(ComponentConfig):
    """Parameters every agent accepts."""


class RewardConfig(ComponentConfig):
    """Parameters every reward function accepts."""


class TokenizerConfig(ComponentConfig):
    """Parameters every tokenizer accepts."""

    num_sentinels: ConfigInt = Field(
        512, ge=1, le=100_000, description="How many sentinel ids (<mask_0>, <mask_1>, ...) to reserve."
    )


class SourceConfig(ComponentConfig):
    """Parameters every source accepts."""

    split: str = Field("train", description="Which split this source reads.")
    shuffle_buffer: ConfigInt = Field(
        1024,
        ge=0,
        le=10_000_000,
        description="Documents are shuffled through a buffer of this many (0 or 1: in the source's order); "
        "deterministic per seed and epoch, and resumable.",
    )
    shuffle_seed: ConfigInt | None = Field(
        None, description="Seed of the shuffling (file order, buffer); null: the pipeline's seed."
    )


# ---------------------------------------------------------------------------------------------------------
# Hot-path data
# ---------------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class Document:
    """One raw document from a source."""

    index: int  # position of the document in its split (stable across runs; used for sharding and reports)
    text: str
    origin: str = ""  # where it came from, for error messages: "file.jsonl:12", "topics['if']"
    #: the document's ids when a source has them already (pre-tokenized data); the pipeline then uses them as
    #: they are instead of encoding ``text`` (which may be empty)
    tokens: np.ndarray | None = None

    def token_ids(self, tokenizer: Tokenizer) -> np.ndarray:
        """The document's int32 ids: its own ``tokens`` if it has them, else ``tokenizer.encode(text)``."""
        if self.tokens is not None:
            return np.asarray(self.tokens, dtype=TOKEN_DTYPE)
        return np.asarray(tokenizer.encode(self.text), dtype=TOKEN_DTYPE)


@dataclass(slots=True)
class Example:
    """One training example: ``prefix`` is seen bidirectionally without loss, ``target`` is generated.

    The prefix ends with the start-of-generation marker, whose position predicts ``target[0]``. In a packed
    row the example occupies ``prefix + target[:-1]`` (so :attr:`length` positions); every target token is a
    label exactly once.
    """

    prefix: np.ndarray  # int32, len >= 1
    target: np.ndarray  # int32, len >= 1
    consumed: int = 0  # document tokens this example used

    @property
    def length(self) -> int:
        return int(self.prefix.shape[0] + self.target.shape[0] - 1)


@dataclass(slots=True)
class PackedBatch:
    """A finished batch of shape (batch_size, sequence_length), plus metadata kept beside it."""

    input_ids: np.ndarray
    label_ids: np.ndarray
    attention_mask: np.ndarray
    segment_ids: np.ndarray
    position_ids: np.ndarray
    #: arm index of each segment: ``segment_arms[b, s - 1]`` is the arm of segment ``s`` in row ``b``; -1 = none
    segment_arms: np.ndarray
    #: non-pad positions per arm in this batch
    arm_positions: np.ndarray
    #: document tokens consumed per arm in this batch
    arm_consumed: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    #: the id in ``input_ids`` wherever ``segment_ids == 0`` (the tokenizer's pad id)
    pad_id: int = PAD_ID

    TENSOR_KEYS: ClassVar[tuple[str, ...]] = (
        "input_ids",
        "label_ids",
        "attention_mask",
        "segment_ids",
        "position_ids",
    )

    @property
    def efficiency(self) -> float:
        """Share of positions that hold a token (not padding)."""
        return float((self.segment_ids != 0).mean())

    def to_torch(self) -> dict[str, Any]:
        """The batch as ``torch.long`` tensors, ready for ``model(**batch)``."""
        import torch

        return {k: torch.from_numpy(getattr(self, k).astype(np.int64, copy=False)) for k in self.TENSOR_KEYS}


@dataclass(frozen=True, slots=True)
class Shard:
    """Which part of a split a reader owns: documents ``i`` with ``i % count == index``."""

    index: int = 0
    count: int = 1

    def owns(self, doc_index: int) -> bool:
        return doc_index % self.count == self.index


#: The default shard: every document of the split.
WHOLE_SPLIT = Shard()


# ---------------------------------------------------------------------------------------------------------
# Protocols
# ---------------------------------------------------------------------------------------------------------


@runtime_checkable
class Tokenizer(Protocol):
    """Text ↔ ids, with reserved ids for padding, sentinels and markers.

    Registered tokenizer classes are built as ``cls(config, specials)`` where ``specials`` lists the marker
    names (paradigms, start-of-generation, selective-copying markers) the configured objectives need; each
    gets one reserved id. ``num_sentinels`` sentinel ids are reserved as well. ``pad_id`` fills the padding
    of a batch and never comes out of :meth:`encode` (it is 0 for ``bytes`` and ``tiktoken``, the
    tokenizer's own pad token or an appended id for Hugging Face and SentencePiece vocabularies);
    ``vocab_size`` counts every id, reserved ones included: it is the size a model's embedding needs.

    Optional: ``token_texts(ids) -> np.ndarray``, each id's own text (``decode([id])``) for a whole array of
    ids at once, as an object array of the same shape. It is not a member of this protocol, so that a
    tokenizer written before it still satisfies the protocol: call :func:`birdie_core.tools.token_texts`,
    which uses the method when a tokenizer has one and decodes each distinct id once otherwise. Every
    tokenizer built on :class:`~birdie_core.tools.ReservedIdsTokenizer` has it (a look-up in a table of its
    whole vocabulary, built once).
    """

    vocab_size: int
    pad_id: int

    def encode(self, text: str) -> np.ndarray:
        """int32 ids of ``text``; special-token look-alikes in ``text`` are ordinary text."""
        ...

    def decode(self, ids: Sequence[int] | np.ndarray) -> str:
        """Text of ``ids``; reserved ids are shown by their names (``<mask_3>``, ``[S]``)."""
        ...

    def special_id(self, name: str) -> int:
        """The reserved id of a marker named when the tokenizer was built."""
        ...

    def sentinel_ids(self) -> np.ndarray:
        """All reserved sentinel ids, in order (``<mask_0>`` first)."""
        ...

    def is_special(self, ids: np.ndarray) -> np.ndarray:
        """Boolean mask: which ids are pad, sentinels or markers."""
        ...


@runtime_checkable
class Source(Protocol):
    """Yields documents of one split. Registered classes are built as ``cls(config)``."""

    def documents(self, shard: Shard, epoch: int) -> Iterator[Document]:
        """This shard's documents, in an order fixed by ``(shard, epoch)``: the shards of a split partition
        it, every document read by exactly one of them each epoch (by whole files, say, or by ``shard.owns``)."""
        ...


@runtime_checkable
class RewardFn(Protocol):
    """From the previous and current validation losses (one per arm) to one reward per arm.

    ``history`` holds earlier loss vectors (oldest first); ``classes`` gives each arm's class index so a
    reward can be normalised per class.
    """

    def __call__(
        self,
        previous: np.ndarray,
        current: np.ndarray,
        *,
        history: Sequence[np.ndarray] = (),
        classes: np.ndarray | None = None,
    ) -> np.ndarray: ...


# ---------------------------------------------------------------------------------------------------------
# ABCs
# ---------------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class ObjectiveContext:
    """Runtime state an objective needs: never part of its config."""

    tokenizer: Tokenizer
    rng: np.random.Generator
    start_id: int  # the start-of-generation marker


ObjectiveConfigT = TypeVar("ObjectiveConfigT", bound=ObjectiveConfig)
PackerConfigT = TypeVar("PackerConfigT", bound=PackerConfig)
AgentConfigT = TypeVar("AgentConfigT", bound=AgentConfig)


class Objective(ABC, Generic[ObjectiveConfigT]):
    """Turns one tokenized document into one :class:`Example` within a token budget.

    Subclasses set ``Config`` (a subclass of :class:`ObjectiveConfig`) and implement :meth:`build`; written
    as ``class Mine(Objective[MyConfig])`` with ``Config = MyConfig``, ``self.config`` type-checks as
    ``MyConfig``. Everything an objective does with a document is decided by ``ctx.rng``: same RNG state,
    same example.
    """

    Config: ClassVar[type[ObjectiveConfig]] = ObjectiveConfig
    #: what the target may legitimately share with the prefix, checked by the conformance suite's leak check:
    #: ``"nothing"`` (next-token prediction, prefix-LM) and ``"span"`` (infilling: the prefix holds the text
    #: around the target's spans) let no run of target tokens appear verbatim in the prefix;
    #: ``"permutation"`` (deshuffling) lets the target be the prefix's document tokens in another order, never
    #: verbatim; ``"copy"`` (copying, selective copying, autoencoding) lets the target repeat the prefix
    target_shares: ClassVar[Literal["nothing", "span", "permutation", "copy"]] = "nothing"
    #: deprecated: ``copies_input = True`` reads as ``target_shares = "copy"`` (declare ``target_shares``)
    copies_input: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # an objective written before ``target_shares`` existed keeps meaning what it said
        if cls.__dict__.get("copies_input") and "target_shares" not in cls.__dict__:
            cls.target_shares = "copy"

    def __init__(self, config: ObjectiveConfigT):
        self.config: ObjectiveConfigT = config

    @property
    def min_document_tokens(self) -> int:
        """The fewest document tokens this objective needs to make an example, given a whole row of budget.

        Shorter documents give no example (the pipeline skips and counts them); from this length on, some
        draw of the RNG makes one, which the conformance suite checks. Override it (a class attribute will
        do) when the objective needs more than one token; a validation set of shorter documents leaves the
        objective without a validation loss, which the curriculum reports.
        """
        return 1

    def special_tokens(self) -> tuple[str, ...]:
        """Names of the markers this objective emits (its paradigm, plus any of its own)."""
        return (self.config.paradigm,) if self.config.paradigm else ()

    @property
    def overhead(self) -> int:
        """Positions the markers take in every example (paradigm + start-of-generation)."""
        return 1 + (1 if self.config.paradigm else 0)

    @abstractmethod
    def build(self, tokens: np.ndarray, budget: int, ctx: ObjectiveContext) -> tuple[Example | None, np.ndarray]:
        """Make one example from the head of ``tokens`` that fits in ``budget`` positions.

        Returns ``(example, rest)`` where ``rest`` is the unused tail of ``tokens``. When no sensible example
        fits (document too short, budget too small) returns ``(None, tokens)`` unchanged.
        """

    # -- helpers shared by all objectives -----------------------------------------------------------------
    def draw_length(self, available: int, ctx: ObjectiveContext) -> int:
        """Document tokens to consume: drawn from ``config.length`` and capped at ``available``."""
        if self.config.length is None:
            return available
        lo, hi = self.config.length
        return min(int(ctx.rng.integers(lo, hi + 1)), available)

    def make_example(
        self, body: np.ndarray, target: np.ndarray, ctx: ObjectiveContext, consumed: int
    ) -> Example:
        """Assemble ``[paradigm] body [start]`` (or ``body [paradigm] [start]``) and the target."""
        parts: list[Any] = []
        paradigm = self.config.paradigm
        at_end = paradigm is not None and self.config.paradigm_at_end > 0 and (
            ctx.rng.random() < self.config.paradigm_at_end
        )
        if paradigm is not None and not at_end:
            parts.append([ctx.tokenizer.special_id(paradigm)])
        parts.append(body)
        if at_end:
            parts.append([ctx.tokenizer.special_id(paradigm)])  # type: ignore[arg-type]
        parts.append([ctx.start_id])
        prefix = np.concatenate([np.asarray(p, dtype=TOKEN_DTYPE) for p in parts])
        return Example(prefix, np.asarray(target, dtype=TOKEN_DTYPE), consumed)


class Packer(ABC, Generic[PackerConfigT]):
    """Places examples into fixed-shape rows and emits finished batches.

    The pipeline asks :meth:`budget` for the largest example it may add now, adds examples with :meth:`add`
    until :meth:`ready`, then takes the batch with :meth:`pop`. Registered packer classes are built as
    ``cls(config, batch_size, sequence_length, num_arms, pad_id=tokenizer.pad_id)``.
    """

    Config: ClassVar[type[PackerConfig]] = PackerConfig

    def __init__(
        self,
        config: PackerConfigT,
        batch_size: int,
        sequence_length: int,
        num_arms: int,
        *,
        pad_id: int = PAD_ID,
    ):
        self.config: PackerConfigT = config
        self.batch_size = batch_size
        self.sequence_length = sequence_length
        self.num_arms = num_arms
        #: the tokenizer's pad id, which fills ``input_ids`` wherever ``segment_ids == 0``
        self.pad_id = pad_id

    @abstractmethod
    def budget(self) -> int:
        """Largest :attr:`Example.length` that fits now."""

    @abstractmethod
    def add(self, example: Example, arm: int) -> None:
        """Place ``example`` (``example.length <= budget()``), produced by arm ``arm``."""

    @abstractmethod
    def ready(self) -> bool:
        """True when the batch should be emitted."""

    @abstractmethod
    def pop(self) -> PackedBatch:
        """Emit the current batch (padding what is left) and start a new one."""

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass


@dataclass(frozen=True, slots=True)
class Arm:
    """One objective configuration: an arm of the curriculum."""

    key: str  # unique: the objective entry's id
    objective: str  # qualified objective name: its class, for per-class normalisation


@dataclass(frozen=True)
class Decision:
    """What an agent decided at one evaluation."""

    step: int
    mixture: np.ndarray  # one probability per arm, sums to 1
    explored: bool = False
    info: dict[str, Any] = field(default_factory=dict)


class Agent(ABC, Generic[AgentConfigT]):
    """Proposes the next mixture from the history of mixtures, losses and rewards.

    Deterministic given ``seed`` and the sequence of calls; :meth:`state_dict` captures everything needed to
    make the same next decision after a restart.
    """

    Config: ClassVar[type[AgentConfig]] = AgentConfig
    #: whether :meth:`decide` needs rewards (the pipeline then requires a reward function)
    needs_reward: bool = True  # an instance may decide (an agent configured to ignore rewards)

    def __init__(
        self,
        config: AgentConfigT,
        arms: Sequence[Arm],
        initial: np.ndarray,
        *,
        seed: int = 0,
        num_steps: int = 0,
    ):
        self.config: AgentConfigT = config
        self.arms = tuple(arms)
        self.initial = normalise(initial)
        self.seed = seed
        self.num_steps = num_steps

    def initial_mixture(self) -> np.ndarray:
        return self.initial.copy()

    @abstractmethod
    def decide(self, step: int, losses: np.ndarray, rewards: np.ndarray | None) -> Decision:
        """The mixture to use from ``step`` on, given this evaluation's losses and rewards."""

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass


def normalise(p: np.ndarray | Sequence[float]) -> np.ndarray:
    """Probabilities from non-negative weights; all-zero weights give the uniform mixture."""
    a = np.asarray(p, dtype=np.float64)
    if a.ndim != 1 or a.size == 0:
        raise ValueError(f"a mixture needs a non-empty 1-d vector, got shape {a.shape}")
    if not np.all(np.isfinite(a)) or np.any(a < 0):
        raise ValueError(f"mixture weights must be finite and >= 0, got {a.tolist()}")
    total = a.sum()
    return np.full_like(a, 1.0 / a.size) if total <= 0 else a / total
