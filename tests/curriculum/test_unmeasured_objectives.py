"""An objective that no validation document suits has no validation loss, and the run goes on.

Before, such an objective (one that returns None for short documents, with a validation set of short
documents) stopped ``birdie train`` at step 0 with "building the validation batches of objective X: none of
the N documents could make an example".
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from birdie_core import Example, Objective, ObjectiveConfig, ObjectiveContext, PipelineError, hookimpl
from birdie_core.curriculum.birdie import Birdie
from birdie_core.curriculum.metrics import read_metrics
from birdie_core.registry import load_registry
from birdie_core.testing import InMemorySource
from tests.support import GreedyAgent, Improvement, fake_loss, make_config

LONG = 40  # the test objective needs documents of this many tokens (bytes)
SHORT_TEXTS = ["tiny", "short one", "a few words", "no more than", "thirty bytes or so"]


class NeedsLongDocuments(Objective[ObjectiveConfig]):
    """Prefix-LM on documents of at least ``LONG`` tokens; nothing from shorter ones."""

    min_document_tokens = LONG

    def build(
        self, tokens: np.ndarray, budget: int, ctx: ObjectiveContext
    ) -> tuple[Example | None, np.ndarray]:
        n = min(tokens.shape[0], budget - self.overhead)
        if tokens.shape[0] < LONG or n < LONG:
            return None, tokens
        return self.make_example(tokens[: n // 2], tokens[n // 2 : n], ctx, consumed=n), tokens[n:]


class Plugin:
    @hookimpl
    def birdie_register_sources(self, register):
        register("memory", InMemorySource)

    @hookimpl
    def birdie_register_objectives(self, register):
        register("needs_long", NeedsLongDocuments)

    @hookimpl
    def birdie_register_reward_fns(self, register):
        register("improvement", Improvement)

    @hookimpl
    def birdie_register_agents(self, register):
        register("greedy", GreedyAgent)


@pytest.fixture(scope="module")
def registry():
    return load_registry(autoload=False, extra_plugins={"test": Plugin()})


def config(validation_texts, agent=None, reward=None):
    cfg = make_config(agent=agent, reward=reward, every=3)
    cfg["data"]["validation"] = {"name": "memory", "split": "validation", "texts": list(validation_texts)}
    cfg["objectives"].append({"name": "needs_long", "id": "long", "prob": 1.0})
    return cfg


def train(birdie: Birdie, steps: int) -> None:
    for step in range(steps):
        if birdie.time_for_eval(step):
            for key, batch in birdie.measure_validation_losses():
                birdie.log_validation_loss(key, fake_loss(batch), step)
        birdie.get_next_training_sample()


def test_an_objective_without_validation_examples_does_not_stop_the_run(registry, tmp_path):
    with Birdie(config(SHORT_TEXTS), registry=registry, run_dir=tmp_path) as b:
        assert b.time_for_eval(0)
        with pytest.warns(RuntimeWarning, match=r"objective 'long' has no validation loss: none of the 5"):
            keys = [key for key, _ in b.measure_validation_losses()]
        assert keys == ["ntp", "plm"]
        assert b.unmeasured == ("long",)
        for key in keys:
            b.log_validation_loss(key, 1.0, 0)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # reported once, not at every evaluation
            train(b, 12)
        assert len(b.history) == 4 + 1
        first = b.history[0]
        assert np.isnan(first["losses"]["long"]) and first["losses"]["ntp"] == 1.0
        # it still trains: the training documents suit it
        assert b.data_stats()["examples"]["long"] > 0
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["losses"]["long"] for r in records] == [None] * len(records)
    # read back as the history holds it
    assert all(np.isnan(r["losses"]["long"]) for r in read_metrics(tmp_path))


def test_the_reward_and_agent_see_no_change_for_it(registry):
    cfg = config(SHORT_TEXTS, agent={"name": "greedy"}, reward={"name": "improvement"})
    with Birdie(cfg, registry=registry) as b, warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        train(b, 13)
        assert len(b.history) >= 3
        for record in b.history[1:]:
            assert record["rewards"]["long"] == 0.0
            assert np.isfinite(record["rewards"]["ntp"])
        assert all(np.all(np.isfinite(h)) for h in b._loss_history)


def test_no_objective_with_validation_examples_still_runs(registry):
    cfg = config(SHORT_TEXTS)
    cfg["objectives"] = [cfg["objectives"][-1]]
    with Birdie(cfg, registry=registry) as b, warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        train(b, 7)  # evaluations at steps 0, 3 and 6, each complete as it opens: there is nothing to log
        assert [r["step"] for r in b.history] == [0, 3, 6]
        assert b.unmeasured == ("long",) and np.isnan(b.history[-1]["losses"]["long"])


def test_long_enough_validation_documents_measure_it(registry):
    texts = [t * 8 for t in SHORT_TEXTS]
    with Birdie(config(texts), registry=registry) as b, warnings.catch_warnings():
        warnings.simplefilter("error")
        train(b, 4)
        assert b.unmeasured == ()
        assert np.isfinite(b.history[0]["losses"]["long"])


def test_a_training_set_no_objective_suits_is_still_an_error(registry):
    cfg = config(SHORT_TEXTS)
    cfg["objectives"] = [cfg["objectives"][-1]]
    cfg["data"]["train"]["texts"] = SHORT_TEXTS
    with Birdie(cfg, registry=registry) as b, pytest.raises(PipelineError, match="could make an example"):
        b.get_next_training_sample()
