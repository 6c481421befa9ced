"""Conformance suites: the contract every objective, packer and agent passes, first-party or third-party.

Subclass a suite in a pytest module and say what to test::

    from birdie_core.testing import ObjectiveConformance

    class TestMyObjective(ObjectiveConformance):
        objective = MyObjective(MyObjective.Config(name="mine", paradigm="[M]"))

The suites' names do not start with ``Test``, so pytest collects them only through such subclasses. Each
suite documents the class attributes and methods a subclass may override (documents, tokenizer, budgets).
"""

from __future__ import annotations

import copy
import math
import pickle
from collections import Counter
from collections.abc import Sequence
from functools import cached_property
from typing import ClassVar

from birdie_core.testing._requires import require_test_tools

require_test_tools()

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from birdie_core.builtins.packers import BestFitPacker
from birdie_core.builtins.tokenizers import ByteTokenizer
from birdie_core.interfaces import (
    IGNORE_INDEX,
    TOKEN_DTYPE,
    Agent,
    AgentConfig,
    Arm,
    Example,
    Objective,
    ObjectiveContext,
    PackedBatch,
    Packer,
    PackerConfig,
    Tokenizer,
)
from birdie_core.testing.batches import assert_batch_contract, batch_segments
from birdie_core.testing.documents import SAMPLE_DOCUMENTS

#: conformance suites are subclassed many times: hypothesis must not object to a different ``self``
SUITE_SETTINGS = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.differing_executors, HealthCheck.too_slow],
)


def _assert_segment_is(batch: PackedBatch, row: int, start: int, end: int, example: Example) -> None:
    p = example.prefix.shape[0]
    want_input = np.concatenate([example.prefix, example.target[:-1]])
    assert end - start == example.length, "the segment has the example's length"
    assert np.array_equal(batch.input_ids[row, start:end], want_input), "input = prefix + target[:-1]"
    assert np.array_equal(batch.label_ids[row, start + p - 1 : end], example.target), "labels = target"
    assert np.all(batch.label_ids[row, start : start + p - 1] == IGNORE_INDEX)
    assert np.all(batch.attention_mask[row, start : start + p] == 1)
    assert np.all(batch.attention_mask[row, start + p : end] == 0)


# ---------------------------------------------------------------------------------------------------------
# Objectives
# ---------------------------------------------------------------------------------------------------------


class ObjectiveConformance:
    """The objective contract. Set ``objective`` (an instance) or override :meth:`make_objective`.

    Override to fit your objective: ``documents`` (texts the tokenizer understands; include some long
    enough for your objective at ``sequence_length``), :meth:`make_tokenizer`, ``budgets``,
    :meth:`leak_check_tokens` (the document the leak check uses; return None to skip it), ``leak_window``.

    What the objective declares is checked too: :attr:`~birdie_core.Objective.target_shares` (what its target
    may share with its prefix; see :meth:`test_target_shares_only_what_is_declared`) and
    :attr:`~birdie_core.Objective.min_document_tokens` (every document at least that long makes an example:
    short documents must never leave an objective without validation examples unannounced).
    """

    objective: ClassVar[Objective | None] = None
    start_marker: ClassVar[str] = "<|start|>"
    documents: ClassVar[Sequence[str]] = SAMPLE_DOCUMENTS
    budgets: ClassVar[Sequence[int]] = (1, 2, 3, 4, 5, 8, 13, 32, 64, 100, 256, 512, 2048)
    sequence_length: ClassVar[int] = 256
    seeds: ClassVar[Sequence[int]] = (0, 1, 2)
    #: a run of this many target tokens found verbatim in the prefix is a leak (a shorter run of ordinary
    #: target tokens, between two markers, counts whole); longer when the leak-check document repeats tokens
    #: (a small vocabulary), so that a match by chance stays negligible
    leak_window: ClassVar[int] = 4
    #: seeds of the permutation check, which needs a few identities at most
    permutation_seeds: ClassVar[Sequence[int]] = tuple(range(16))
    #: short document lengths every objective is tried on (see ``min_document_tokens``)
    short_document_lengths: ClassVar[Sequence[int]] = tuple(range(1, 9))

    # -- what a subclass may override ---------------------------------------------------------------------
    def make_objective(self) -> Objective:
        if self.objective is None:
            raise NotImplementedError(
                "set `objective = MyObjective(MyObjective.Config(...))` on the subclass"
            )
        return copy.deepcopy(self.objective)

    def make_tokenizer(self, specials: Sequence[str]) -> Tokenizer:
        return ByteTokenizer(None, specials)

    def leak_check_tokens(self, tokenizer: Tokenizer) -> np.ndarray | None:
        """The leak check's document: up to 512 distinct ordinary tokens, so even one copied token is
        unambiguous; with fewer than 64 ordinary ids, 512 random ones (the window then grows to keep chance
        matches out)."""
        ids = np.arange(0, min(tokenizer.vocab_size, 1 << 20), dtype=np.int64)
        ids = ids[~np.asarray(tokenizer.is_special(ids), dtype=bool)]
        if ids.size < 2:
            return None
        rng = np.random.default_rng(0)
        if ids.size >= 64:
            return rng.permutation(ids)[:512].astype(TOKEN_DTYPE)
        return rng.choice(ids, 512).astype(TOKEN_DTYPE)

    # -- fixtures -----------------------------------------------------------------------------------------
    @cached_property
    def _objective(self) -> Objective:
        return self.make_objective()

    @cached_property
    def _tokenizer(self) -> Tokenizer:
        specials = [self.start_marker, *self._objective.special_tokens()]
        return self.make_tokenizer(list(dict.fromkeys(specials)))

    @cached_property
    def _tokens(self) -> list[np.ndarray]:
        return [np.asarray(self._tokenizer.encode(d), dtype=TOKEN_DTYPE) for d in self.documents]

    def _ctx(self, seed: int) -> ObjectiveContext:
        tok = self._tokenizer
        return ObjectiveContext(
            tokenizer=tok, rng=np.random.default_rng(seed), start_id=tok.special_id(self.start_marker)
        )

    def _check(self, tokens: np.ndarray, budget: int, example: Example | None, rest: np.ndarray) -> None:
        """Everything one ``build`` result must satisfy."""
        assert isinstance(rest, np.ndarray) and rest.ndim == 1
        if example is None:
            assert np.array_equal(rest, tokens), "returning None must hand back the input unchanged"
            return
        assert isinstance(example, Example)
        for part in (example.prefix, example.target):
            assert isinstance(part, np.ndarray) and part.ndim == 1 and part.dtype == TOKEN_DTYPE
            assert part.shape[0] >= 1, "prefix and target must not be empty"
            assert np.all(part >= 0) and np.all(part < self._tokenizer.vocab_size), (
                "ids must be in the vocabulary"
            )
            assert not np.any(part == self._tokenizer.pad_id), "the pad id must not appear in an example"
        start_id = self._tokenizer.special_id(self.start_marker)
        assert example.prefix[-1] == start_id, "the prefix ends with the start-of-generation marker"
        assert example.length <= budget, f"example of length {example.length} exceeds the budget {budget}"
        assert rest.shape[0] < tokens.shape[0], "an example must consume at least one document token"
        assert np.array_equal(rest, tokens[tokens.shape[0] - rest.shape[0] :]), (
            "rest must be a suffix of the input"
        )
        assert example.consumed == tokens.shape[0] - rest.shape[0], "consumed == len(tokens) - len(rest)"

    # -- the contract -------------------------------------------------------------------------------------
    def test_examples_respect_budget_and_return_rest(self) -> None:
        made = 0
        for tokens in self._tokens:
            for budget in self.budgets:
                example, rest = self._objective.build(tokens, budget, self._ctx(budget))
                self._check(tokens, budget, example, rest)
                made += example is not None
        assert made > 0, "no sample document made a single example: give the suite longer `documents`"

    @SUITE_SETTINGS
    @given(data=st.data(), budget=st.integers(1, 1024), seed=st.integers(0, 2**32 - 1))
    def test_any_slice_any_budget(self, data: st.DataObject, budget: int, seed: int) -> None:
        tokens = self._tokens[data.draw(st.integers(0, len(self._tokens) - 1))]
        a = data.draw(st.integers(0, tokens.shape[0]))
        b = data.draw(st.integers(a, tokens.shape[0]))
        piece = tokens[a:b]
        example, rest = self._objective.build(piece, budget, self._ctx(seed))
        self._check(piece, budget, example, rest)

    def test_deterministic_under_a_seed(self) -> None:
        for seed in self.seeds:
            for tokens in self._tokens:
                one = self._objective.build(tokens, self.sequence_length, self._ctx(seed))
                two = self.make_objective().build(tokens, self.sequence_length, self._ctx(seed))
                assert _same(one, two), "the same RNG state must give the same example"

    def test_picklable(self) -> None:
        clone = pickle.loads(pickle.dumps(self._objective))
        for tokens in self._tokens:
            one = self._objective.build(tokens, self.sequence_length, self._ctx(7))
            two = clone.build(tokens, self.sequence_length, self._ctx(7))
            assert _same(one, two), "a pickled objective must behave the same (worker processes rely on it)"

    def test_consumes_a_document_to_the_end(self) -> None:
        ctx = self._ctx(3)
        for tokens in self._tokens:
            rest, used = tokens, 0
            for _ in range(tokens.shape[0] + 1):  # each example consumes >= 1 token: bounded
                example, new_rest = self._objective.build(rest, self.sequence_length, ctx)
                self._check(rest, self.sequence_length, example, new_rest)
                if example is None:
                    break
                used += example.consumed
                rest = new_rest
            assert used + rest.shape[0] == tokens.shape[0]

    def test_labels_aligned_once_packed(self) -> None:
        ctx = self._ctx(11)
        # arm = example number, so segment_arms names the example each segment came from
        examples: list[Example] = []
        # padded as the pipeline pads, with the tokenizer's pad id: id 0 may be ordinary text (GPT-2's "!")
        packer = BestFitPacker(
            BestFitPacker.Config(name="best_fit"),
            4,
            self.sequence_length,
            100_000,
            pad_id=self._tokenizer.pad_id,
        )
        batches = []
        for tokens in self._tokens:
            rest = tokens
            for _ in range(tokens.shape[0] + 1):
                if packer.ready():
                    batches.append((packer.pop(), list(examples)))
                example, rest = self._objective.build(rest, packer.budget(), ctx)
                if example is None:
                    break
                packer.add(example, len(examples))
                examples.append(example)
        batches.append((packer.pop(), list(examples)))
        checked = 0
        for batch, made in batches:
            assert_batch_contract(batch, num_arms=100_000)
            for row, start, end, seg in batch_segments(batch):
                _assert_segment_is(batch, row, start, end, made[int(batch.segment_arms[row, seg - 1])])
                checked += 1
        assert checked == len(examples) > 0

    def _declared_shares(self) -> str:
        shares = str(getattr(type(self._objective), "target_shares", "nothing"))
        if shares not in TARGET_SHARES:
            raise AssertionError(f"target_shares must be one of {TARGET_SHARES}, got {shares!r}")
        return shares

    def _leak_examples(self, seeds: Sequence[int]) -> tuple[np.ndarray, list[Example]]:
        tokens = self.leak_check_tokens(self._tokenizer)
        if tokens is None:
            pytest.skip("the tokenizer has too few ordinary ids for a leak check; override leak_check_tokens")
        made = []
        for seed in seeds:
            for n in (8, 32, 100, tokens.shape[0]):
                example, _ = self._objective.build(tokens[:n], self.sequence_length, self._ctx(seed))
                if example is not None:
                    made.append(example)
        assert made, "no example was made from the leak-check document"
        return tokens, made

    def test_target_shares_only_what_is_declared(self) -> None:
        """The leak check, by the objective's ``target_shares``.

        ``"nothing"`` and ``"span"``: no run of ``leak_window`` ordinary target tokens (or a whole shorter
        run between markers) appears verbatim in the prefix. ``"permutation"``: the target's ordinary tokens
        (or, for an objective that re-encodes a shuffled text, their characters) are those of the prefix in
        another order, and not in the same order but rarely. ``"copy"``: nothing is checked.
        """
        shares = self._declared_shares()
        if shares == "copy":
            pytest.skip(f"{type(self._objective).__name__} declares target_shares = 'copy'")
        if shares == "permutation":
            self._check_permutation()
            return
        tokens, made = self._leak_examples(self.seeds)
        shortest = _chance_free_window(tokens, self._ordinary(tokens))
        for example in made:
            leaked = _leaked_runs(
                self._ordinary_runs(example.target),
                self._ordinary(example.prefix),
                self.leak_window,
                shortest,
            )
            assert not leaked, (
                f"{type(self._objective).__name__} declares target_shares = {shares!r}, but target tokens "
                f"appear verbatim in the prefix: {leaked[:3]} (declare what the target may share: "
                "'permutation' or 'copy')"
            )

    def _check_permutation(self) -> None:
        _, made = self._leak_examples(self.permutation_seeds)
        decode = self._tokenizer.decode
        identities = 0
        for example in made:
            target, prefix = self._ordinary(example.target), self._ordinary(example.prefix)
            if Counter(target.tolist()) != Counter(prefix.tolist()):
                # an objective that shuffles characters and encodes the result again: compare characters,
                # as a normalising tokenizer gives them back (its case, spaces and unknown pieces its own)
                again = self._tokenizer.encode
                assert _characters(decode(again(decode(target)))) == _characters(
                    decode(again(decode(prefix)))
                ), (
                    f"{type(self._objective).__name__} declares target_shares = 'permutation', but its target "
                    "is not its prefix's document tokens (or characters) in another order"
                )
            identities += bool(np.array_equal(target, prefix))
        assert identities < len(made) and identities <= max(1, len(made) // 4), (
            f"{identities} of {len(made)} targets are the prefix's document tokens in the same order: a "
            "permutation that copies; declare target_shares = 'copy' if that is the objective"
        )

    def _ordinary(self, ids: np.ndarray) -> np.ndarray:
        ids = np.asarray(ids)
        return ids[~np.asarray(self._tokenizer.is_special(ids), dtype=bool)]

    def _ordinary_runs(self, ids: np.ndarray) -> list[np.ndarray]:
        """The stretches of ordinary tokens between the markers and sentinels of ``ids``."""
        ids = np.asarray(ids)
        special = np.asarray(self._tokenizer.is_special(ids), dtype=bool)
        pieces = np.split(ids, np.flatnonzero(special))
        flags = np.split(special, np.flatnonzero(special))
        return [p[~f] for p, f in zip(pieces, flags) if (~f).any()]

    def test_short_documents_make_examples_or_are_declared(self) -> None:
        """Documents of ``short_document_lengths`` tokens, and of ``min_document_tokens`` and a few more, make
        examples with a whole row of budget from ``min_document_tokens`` on (some of the slices and seeds
        tried, for an objective whose placements are drawn): an objective that needs longer documents
        declares it, and the declaration is honest."""
        obj = self._objective
        need = int(obj.min_document_tokens)
        assert need >= 1, f"min_document_tokens must be >= 1, got {need}"
        longest = max(self._tokens, key=lambda t: t.shape[0])
        lengths = [n for n in sorted({*self.short_document_lengths, *range(need, need + 8)}) if n >= need]
        lengths = [n for n in lengths if n <= longest.shape[0]]
        assert lengths or need > longest.shape[0], "no short document was tried"
        for n in lengths:
            made = 0
            for start in sorted({0, (longest.shape[0] - n) // 2, longest.shape[0] - n}):
                doc = longest[start : start + n]
                for seed in self.seeds:
                    example, rest = obj.build(doc, self.sequence_length, self._ctx(seed))
                    self._check(doc, self.sequence_length, example, rest)
                    made += example is not None
            assert made, (
                f"{type(obj).__name__} made no example from any document of {n} tokens with a budget of "
                f"{self.sequence_length}; declare `min_document_tokens` on the class (now {need}) if it "
                "needs longer documents: a validation set of short documents otherwise leaves it without "
                "validation loss"
            )


def _characters(text: str) -> Counter[str]:
    return Counter(c for c in text.casefold() if not c.isspace())


#: what an objective's target may share with its prefix (:attr:`birdie_core.Objective.target_shares`)
TARGET_SHARES = ("nothing", "span", "permutation", "copy")


def _chance_free_window(tokens: np.ndarray, ordinary: np.ndarray) -> int:
    """The shortest run that cannot match by chance in the leak-check document: 1 when its tokens are
    distinct, else long enough that a random match among ``n^2`` pairs has odds below one in a million."""
    values = np.unique(ordinary)
    if values.size == ordinary.size:
        return 1
    n = max(2, tokens.shape[0])
    return math.ceil(math.log(1e6 * n * n) / math.log(max(2, values.size)))


def _leaked_runs(
    runs: Sequence[np.ndarray], prefix: np.ndarray, window: int, shortest: int
) -> list[tuple[int, ...]]:
    """Windows of ``max(shortest, min(window, len(run)))`` tokens of each run that occur in ``prefix``."""
    found: list[tuple[int, ...]] = []
    for run in runs:
        k = max(shortest, min(window, run.shape[0]))
        if run.shape[0] < k or prefix.shape[0] < k:
            continue
        have = {tuple(w) for w in np.lib.stride_tricks.sliding_window_view(prefix, k).tolist()}
        found += [
            tuple(w) for w in np.lib.stride_tricks.sliding_window_view(run, k).tolist() if tuple(w) in have
        ]
    return found


def _same(a: tuple[Example | None, np.ndarray], b: tuple[Example | None, np.ndarray]) -> bool:
    (ea, ra), (eb, rb) = a, b
    if not np.array_equal(ra, rb):
        return False
    if ea is None or eb is None:
        return ea is eb
    return (
        np.array_equal(ea.prefix, eb.prefix)
        and np.array_equal(ea.target, eb.target)
        and ea.consumed == eb.consumed
    )


# ---------------------------------------------------------------------------------------------------------
# Packers
# ---------------------------------------------------------------------------------------------------------


class PackerConformance:
    """The packer contract. Set ``packer_cls`` (and ``packer_config`` when its defaults do not do)."""

    packer_cls: ClassVar[type[Packer] | None] = None
    packer_config: ClassVar[PackerConfig | None] = None
    num_arms: ClassVar[int] = 3

    def make_packer(self, batch_size: int, sequence_length: int, num_arms: int | None = None) -> Packer:
        if self.packer_cls is None:
            raise NotImplementedError("set `packer_cls` on the subclass")
        cfg = self.packer_config or self.packer_cls.Config(name=self.packer_cls.__name__)
        return self.packer_cls(cfg, batch_size, sequence_length, num_arms or self.num_arms)

    @staticmethod
    def _example(uid: int, length: int, rng: np.random.Generator) -> Example:
        """An example of ``length`` positions whose first token ``1000 + uid`` identifies it."""
        p = int(rng.integers(1, length + 1))
        t = length - p + 1
        prefix = rng.integers(1, 1000, p).astype(TOKEN_DTYPE)
        prefix[0] = 1000 + uid
        return Example(
            prefix, rng.integers(1, 1000, t).astype(TOKEN_DTYPE), consumed=int(rng.integers(0, 50))
        )

    def _feed(
        self, packer: Packer, lengths: Sequence[int], seed: int
    ) -> list[tuple[PackedBatch, list[Example]]]:
        """Drive ``packer`` as the pipeline does; returns each batch with the examples it should hold."""
        rng = np.random.default_rng(seed)
        out: list[tuple[PackedBatch, list[Example]]] = []
        pending: list[Example] = []
        for uid, want in enumerate(lengths):
            if packer.ready():
                out.append((packer.pop(), pending))
                pending = []
            budget = packer.budget()
            assert 1 <= budget <= packer.sequence_length, f"budget {budget} with a batch that is not ready"
            example = self._example(uid, min(want, budget), rng)
            packer.add(example, uid % packer.num_arms)
            pending.append(example)
        out.append((packer.pop(), pending))
        return out

    def _verify(self, packer: Packer, batch: PackedBatch, examples: list[Example]) -> None:
        b, L = packer.batch_size, packer.sequence_length
        for k in PackedBatch.TENSOR_KEYS:
            a = getattr(batch, k)
            assert a.shape == (b, L) and a.dtype == np.int32, f"{k}: {a.shape} {a.dtype}"
        assert_batch_contract(batch, num_arms=packer.num_arms)
        by_uid = {int(e.prefix[0]) - 1000: e for e in examples}
        seen = []
        for row, start, end, seg in batch_segments(batch):
            uid = int(batch.input_ids[row, start]) - 1000
            assert uid in by_uid, "a segment that was never added (or an example split across rows)"
            _assert_segment_is(batch, row, start, end, by_uid[uid])
            assert batch.segment_arms[row, seg - 1] == uid % packer.num_arms
            seen.append(uid)
        assert sorted(seen) == sorted(by_uid), "every example added appears exactly once, whole"
        arms = np.array([u % packer.num_arms for u in by_uid], dtype=np.int64)
        lengths = np.array([e.length for e in by_uid.values()], dtype=np.int64)
        consumed = np.array([e.consumed for e in by_uid.values()], dtype=np.int64)
        np.testing.assert_array_equal(batch.arm_positions, np.bincount(arms, lengths, packer.num_arms))
        np.testing.assert_array_equal(batch.arm_consumed, np.bincount(arms, consumed, packer.num_arms))

    def test_fresh_packer(self) -> None:
        packer = self.make_packer(3, 32)
        assert packer.budget() == 32 and not packer.ready()
        batch = packer.pop()
        self._verify(packer, batch, [])
        assert batch.efficiency == 0.0 and not batch.segment_ids.any()

    @SUITE_SETTINGS
    @given(
        batch_size=st.integers(1, 4),
        sequence_length=st.integers(1, 96),
        lengths=st.lists(st.integers(1, 150), min_size=0, max_size=60),
        seed=st.integers(0, 1000),
    )
    def test_random_streams_keep_the_contract(
        self, batch_size: int, sequence_length: int, lengths: list[int], seed: int
    ) -> None:
        packer = self.make_packer(batch_size, sequence_length)
        for batch, examples in self._feed(packer, lengths, seed):
            self._verify(packer, batch, examples)
            assert packer.budget() == sequence_length, "pop() starts an empty batch"

    def test_an_example_of_exactly_the_budget_fits(self) -> None:
        packer = self.make_packer(2, 40)
        rng = np.random.default_rng(0)
        examples = [self._example(0, 25, rng)]
        packer.add(examples[0], 0)
        examples.append(self._example(1, packer.budget(), rng))
        packer.add(examples[1], 1)
        self._verify(packer, packer.pop(), examples)

    def test_state_round_trip(self) -> None:
        lengths = np.random.default_rng(5).integers(1, 60, 40).tolist()
        a = self.make_packer(3, 64)
        self._feed_partial(a, lengths[:17], seed=1)
        state = pickle.loads(pickle.dumps(a.state_dict()))
        b = self.make_packer(3, 64)
        b.load_state_dict(state)
        rest_a = self._feed(a, lengths[17:], seed=2)
        rest_b = self._feed(b, lengths[17:], seed=2)
        assert len(rest_a) == len(rest_b)
        for (x, _), (y, _) in zip(rest_a, rest_b):
            for k in (*PackedBatch.TENSOR_KEYS, "segment_arms", "arm_positions", "arm_consumed"):
                np.testing.assert_array_equal(getattr(x, k), getattr(y, k), err_msg=k)

    def _feed_partial(self, packer: Packer, lengths: Sequence[int], seed: int) -> None:
        rng = np.random.default_rng(seed)
        for uid, want in enumerate(lengths):
            if packer.ready():
                packer.pop()
            packer.add(self._example(uid, min(want, packer.budget()), rng), uid % packer.num_arms)


# ---------------------------------------------------------------------------------------------------------
# Agents
# ---------------------------------------------------------------------------------------------------------


class AgentConformance:
    """The agent contract. Set ``agent_cls`` (and ``agent_config`` when its defaults do not do).

    The history is synthetic: four arms in three classes with falling, flat and noisy losses.
    """

    agent_cls: ClassVar[type[Agent] | None] = None
    agent_config: ClassVar[AgentConfig | None] = None
    arms: ClassVar[tuple[Arm, ...]] = (
        Arm("a", "x.falling"),
        Arm("b", "x.falling"),
        Arm("c", "x.flat"),
        Arm("d", "x.noise"),
    )
    initial: ClassVar[tuple[float, ...]] = (1.0, 1.0, 2.0, 1.0)
    num_evaluations: ClassVar[int] = 6
    steps_between: ClassVar[int] = 50
    num_steps: ClassVar[int] = 300

    def make_agent(self, seed: int = 0) -> Agent:
        if self.agent_cls is None:
            raise NotImplementedError("set `agent_cls` on the subclass")
        cfg = self.agent_config or self.agent_cls.Config(name=self.agent_cls.__name__)
        return self.agent_cls(cfg, self.arms, np.asarray(self.initial), seed=seed, num_steps=self.num_steps)

    def history(self, seed: int = 0, scale: float = 1.0) -> list[tuple[int, np.ndarray, np.ndarray]]:
        """``(step, losses, rewards)`` per evaluation; deterministic."""
        rng = np.random.default_rng(seed)
        out, prev = [], None
        for i in range(self.num_evaluations):
            losses = scale * np.array([4.0 - 0.3 * i, 4.5 - 0.2 * i, 3.0, 3.0 + rng.normal(0, 0.3)])
            rewards = np.zeros(len(self.arms)) if prev is None else np.clip((prev - losses) / prev, -1, 1)
            out.append(((i + 1) * self.steps_between, losses, rewards))
            prev = losses
        return out

    def _decide(self, agent: Agent, step: int, losses: np.ndarray, rewards: np.ndarray) -> np.ndarray:
        decision = agent.decide(step, losses.copy(), rewards.copy() if agent.needs_reward else None)
        m = np.asarray(decision.mixture, dtype=np.float64)
        assert decision.step == step
        assert m.shape == (len(self.arms),), f"mixture shape {m.shape}"
        assert np.all(np.isfinite(m)) and np.all(m >= 0) and abs(m.sum() - 1.0) < 1e-6, f"not a mixture: {m}"
        return m

    def test_initial_mixture_is_a_probability_vector(self) -> None:
        m = self.make_agent().initial_mixture()
        assert m.shape == (len(self.arms),) and np.all(m >= 0) and abs(m.sum() - 1.0) < 1e-6

    def test_decisions_are_mixtures_and_deterministic(self) -> None:
        a, b = self.make_agent(seed=3), self.make_agent(seed=3)
        for step, losses, rewards in self.history():
            np.testing.assert_array_equal(
                self._decide(a, step, losses, rewards), self._decide(b, step, losses, rewards)
            )

    def test_state_round_trip_gives_the_same_next_decision(self) -> None:
        history = self.history()
        half = len(history) // 2
        a = self.make_agent(seed=1)
        for h in history[:half]:
            self._decide(a, *h)
        b = self.make_agent(seed=1)
        b.load_state_dict(pickle.loads(pickle.dumps(a.state_dict())))
        for h in history[half:]:
            np.testing.assert_array_equal(self._decide(a, *h), self._decide(b, *h))

    @pytest.mark.parametrize("scale", [1e-6, 1.0, 1e4])
    def test_never_nan_for_extreme_losses(self, scale: float) -> None:
        agent = self.make_agent()
        for h in self.history(seed=2, scale=scale):
            self._decide(agent, *h)
