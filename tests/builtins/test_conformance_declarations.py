"""The objective suite's checks of what an objective declares: ``target_shares`` (the leak check) and
``min_document_tokens`` (short documents); and the testing kit without its test tools."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest

from birdie_core import (
    Example,
    InvalidLossError,
    Objective,
    ObjectiveConfig,
    ObjectiveContext,
    PipelineError,
    RewardConfig,
)
from birdie_core.testing import ObjectiveConformance, RewardFnConformance

# -- objectives that declare what their target shares ----------------------------------------------------


class _Span(Objective[ObjectiveConfig]):
    """Up to 64 tokens; the target is those tokens, in an order ``arrange`` decides; the prefix is the tokens
    as they are. ``target_shares`` is set by each test."""

    def arrange(self, span: np.ndarray, ctx: ObjectiveContext) -> np.ndarray:
        return span

    def build(
        self, tokens: np.ndarray, budget: int, ctx: ObjectiveContext
    ) -> tuple[Example | None, np.ndarray]:
        n = min(tokens.shape[0], 64, (budget - self.overhead + 1) // 2)
        if n < 2:
            return None, tokens
        span = tokens[:n]
        return self.make_example(span, self.arrange(span, ctx), ctx, consumed=n), tokens[n:]

    @property
    def min_document_tokens(self) -> int:
        return 2


class VerbatimLeak(_Span):
    """Claims to share nothing, yet its prefix holds its target verbatim."""


class TailLeak(Objective[ObjectiveConfig]):
    """Prefix-LM whose prefix also holds the last four target tokens: a short leak."""

    def build(
        self, tokens: np.ndarray, budget: int, ctx: ObjectiveContext
    ) -> tuple[Example | None, np.ndarray]:
        n = min(tokens.shape[0], budget - self.overhead - 4)
        if n < 8:
            return None, tokens
        half = n // 2
        body = np.concatenate([tokens[:half], tokens[n - 4 : n]])
        return self.make_example(body, tokens[half:n], ctx, consumed=n), tokens[n:]


class SentenceShuffle(_Span):
    """A correct permutation objective: the prefix is the tokens shuffled, the target as they were."""

    target_shares = "permutation"

    def build(
        self, tokens: np.ndarray, budget: int, ctx: ObjectiveContext
    ) -> tuple[Example | None, np.ndarray]:
        n = min(tokens.shape[0], 64, (budget - self.overhead + 1) // 2)
        if n < 2:
            return None, tokens
        span = tokens[:n]
        return self.make_example(ctx.rng.permutation(span), span, ctx, consumed=n), tokens[n:]


class CopyCalledPermutation(_Span):
    """Declares a permutation but copies: its target is always its prefix, in order."""

    target_shares = "permutation"


class PermutationPlusExtra(SentenceShuffle):
    """A permutation whose prefix also holds a token the target lacks."""

    def build(
        self, tokens: np.ndarray, budget: int, ctx: ObjectiveContext
    ) -> tuple[Example | None, np.ndarray]:
        example, rest = super().build(tokens, budget - 1, ctx)
        if example is None or rest.shape[0] == 0:
            return None, tokens
        prefix = np.concatenate([rest[:1], example.prefix])
        return Example(prefix, example.target, example.consumed + 1), rest[1:]


def _suite(cls: type[Objective[ObjectiveConfig]], **attrs: object) -> ObjectiveConformance:
    objective = cls(ObjectiveConfig(name="test", paradigm="[T]"))
    return type("Suite", (ObjectiveConformance,), {"objective": objective, **attrs})()


def test_a_verbatim_leak_is_caught():
    with pytest.raises(AssertionError, match="appear verbatim in the prefix"):
        _suite(VerbatimLeak).test_target_shares_only_what_is_declared()


def test_a_short_leak_is_caught():
    with pytest.raises(AssertionError, match="appear verbatim in the prefix"):
        _suite(TailLeak).test_target_shares_only_what_is_declared()


def test_a_correct_permutation_passes():
    suite = _suite(SentenceShuffle)
    suite.test_target_shares_only_what_is_declared()
    suite.test_short_documents_make_examples_or_are_declared()


def test_a_copy_declared_as_a_permutation_is_caught():
    with pytest.raises(AssertionError, match="same order"):
        _suite(CopyCalledPermutation).test_target_shares_only_what_is_declared()


def test_a_permutation_with_more_in_the_prefix_is_caught():
    with pytest.raises(AssertionError, match="not its prefix's document tokens"):
        _suite(PermutationPlusExtra).test_target_shares_only_what_is_declared()


def test_the_leak_check_works_with_few_ordinary_ids():
    """A four-letter vocabulary: random documents, longer windows; a leak still shows, a permutation passes."""
    from birdie_core.builtins.tokenizers import ByteTokenizer

    class FourLetters(ByteTokenizer):
        def is_special(self, ids: np.ndarray) -> np.ndarray:
            ids = np.asarray(ids)
            return super().is_special(ids) | ~np.isin(ids, [65, 67, 71, 84])

    def tokenizer(self: object, specials: list[str]) -> ByteTokenizer:
        return FourLetters(None, specials)

    with pytest.raises(AssertionError, match="appear verbatim"):
        _suite(VerbatimLeak, make_tokenizer=tokenizer).test_target_shares_only_what_is_declared()
    _suite(SentenceShuffle, make_tokenizer=tokenizer).test_target_shares_only_what_is_declared()


def test_copies_input_still_means_copy():
    with warnings.catch_warnings():
        warnings.simplefilter("error")

        class OldStyle(_Span):
            copies_input = True

    assert OldStyle.target_shares == "copy"
    with pytest.raises(pytest.skip.Exception, match="'copy'"):
        _suite(OldStyle).test_target_shares_only_what_is_declared()


def test_an_unknown_declaration_is_refused():
    with pytest.raises(AssertionError, match="target_shares must be one of"):
        _suite(
            VerbatimLeak,
            objective=type("Odd", (VerbatimLeak,), {"target_shares": "some"})(ObjectiveConfig(name="odd")),
        ).test_target_shares_only_what_is_declared()


# -- short documents -------------------------------------------------------------------------------------


class NeedsSixteen(_Span):
    """Nothing from documents under 16 tokens; whether it says so is set by each test."""

    target_shares = "permutation"

    def build(
        self, tokens: np.ndarray, budget: int, ctx: ObjectiveContext
    ) -> tuple[Example | None, np.ndarray]:
        if tokens.shape[0] < 16:
            return None, tokens
        n = min(tokens.shape[0], 64, (budget - self.overhead + 1) // 2)
        span = tokens[:n]
        return self.make_example(span[::-1].copy(), span, ctx, consumed=n), tokens[n:]


def test_an_objective_silent_about_short_documents_fails():
    with pytest.raises(AssertionError, match="no example from any document of 2 tokens"):
        _suite(NeedsSixteen).test_short_documents_make_examples_or_are_declared()


def test_an_honest_declaration_passes():
    declared = type("Declared", (NeedsSixteen,), {"min_document_tokens": 16})
    _suite(declared).test_short_documents_make_examples_or_are_declared()


def test_a_declaration_too_low_fails():
    declared = type("TooLow", (NeedsSixteen,), {"min_document_tokens": 12})
    with pytest.raises(AssertionError, match="of 12 tokens"):
        _suite(declared).test_short_documents_make_examples_or_are_declared()


# -- rewards: a third-party one needs only the core ------------------------------------------------------


class _PlainFall:
    """A reward written with the core alone: the fall of each loss, refusing what it cannot use."""

    class Config(RewardConfig):
        pass

    def __init__(self, config: object = None):
        self.config = config

    def __call__(self, previous, current, *, history=(), classes=None):
        old, new = np.asarray(previous, float), np.asarray(current, float)
        if old.ndim != 1 or new.shape != old.shape:
            raise InvalidLossError(f"losses of shapes {old.shape} and {new.shape}: one 1-d vector each")
        if not (np.isfinite(old).all() and np.isfinite(new).all()):
            raise InvalidLossError(f"losses must be finite, got {old} and {new}")
        if classes is not None and np.shape(classes) != old.shape:
            raise InvalidLossError(f"classes of shape {np.shape(classes)} for {old.size} arms")
        return old - new


class TestAThirdPartyReward(RewardFnConformance):
    reward_cls = _PlainFall


def test_the_reward_error_is_a_pipeline_error_and_a_value_error():
    assert issubclass(InvalidLossError, PipelineError) and issubclass(InvalidLossError, ValueError)
    from birdie_rewards import InvalidLossError as Old

    assert Old is InvalidLossError


# -- the testing kit without pytest or hypothesis --------------------------------------------------------


@pytest.mark.parametrize("missing", [("pytest",), ("hypothesis",), ("pytest", "hypothesis")])
def test_one_clear_error_without_the_test_tools(missing):
    script = textwrap.dedent(
        f"""
        import sys
        for name in {missing!r}:
            sys.modules[name] = None  # what an environment without it gives: the import fails
        import birdie_core.testing as kit
        from birdie_core.testing import CORPUS, InMemorySource, assert_batch_contract  # need neither
        for suite in ("ObjectiveConformance", "TokenizerConformance", "RewardFnConformance"):
            try:
                getattr(kit, suite)
            except ModuleNotFoundError as exc:
                print("ERROR", exc)
            else:
                print("IMPORTED", suite)
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], check=False, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 3 and all(line.startswith("ERROR") for line in lines), proc.stdout
    for line in lines:
        assert "pip install 'birdie-core[testing]'" in line
        assert all(name in line for name in missing), line
