"""The `birdie` agent: the contract, the reward model read at the right row, exploration, floor, bad input."""

from __future__ import annotations

import itertools
import pickle
import subprocess
import sys

import numpy as np
import pytest
from birdie_rewards.birdie_agent import BirdieAgent, apply_floor, apply_temperature, exploration_rate
from birdie_rewards.checks import InvalidLossError
from birdie_rewards.classes import class_total

from birdie_core.interfaces import Arm
from birdie_core.testing import AgentConformance

#: a quick model for tests that exercise the logic, not the model's size
SMALL = {"width": 32, "layers": 1, "heads": 2, "train_steps": 20, "num_candidates": 256}


class TestBirdieAgentConformance(AgentConformance):
    """The default model (width 128, 2 layers), trained 20 steps per evaluation to keep the suite quick."""

    agent_cls = BirdieAgent
    agent_config = BirdieAgent.Config(name="rewards.birdie", warmup_steps=0, train_steps=20)


class TestBirdieAgentUniformCandidatesConformance(AgentConformance):
    agent_cls = BirdieAgent
    agent_config = BirdieAgent.Config(name="rewards.birdie", warmup_steps=60, candidates="uniform", **SMALL)


ARMS = (Arm("good", "x.good"), Arm("bad", "x.bad"), Arm("s1", "x.split"), Arm("s2", "x.split"))


def make(seed: int = 0, **cfg) -> BirdieAgent:
    config = BirdieAgent.Config(name="rewards.birdie", **{**SMALL, "warmup_steps": 0, **cfg})
    return BirdieAgent(config, ARMS, np.ones(len(ARMS)), seed=seed, num_steps=2000)


def feed(agent: BirdieAgent, evaluations: int = 12, seed: int = 0) -> np.ndarray:
    """A world where arm 'good' earns a reward growing with its share and 'bad' loses with its share."""
    rng = np.random.default_rng(seed)
    losses = np.array([4.0, 3.0, 3.5, 3.5])
    mixture = agent.initial_mixture()
    for e in range(evaluations):
        rewards = None
        if e:
            rewards = np.array([0.9 * mixture[0], -0.9 * mixture[1], 0.0, 0.0]) + rng.normal(0, 0.02, 4)
        mixture = agent.decide(100 * (e + 1), losses, rewards).mixture
    return losses


def test_predicted_rewards_differ_between_candidates_and_decide_the_choice():
    agent = make(explore_max=0.5, explore_min=0.5)  # explore half the time: varied mixtures to learn from
    losses = feed(agent, evaluations=16)
    candidates = agent.candidates(np.random.default_rng(123))
    predicted = agent.predict(candidates, losses)
    # the original read one row past the candidate, where every candidate scored the same (0)
    assert predicted.shape == (len(candidates), len(ARMS))
    assert np.ptp(predicted[:, 0]) > 0.05 and np.ptp(predicted[:, 1]) > 0.05
    # and the prediction follows what was learned: more 'good' → more reward, more 'bad' → less
    assert np.corrcoef(candidates[:, 0], predicted[:, 0])[0, 1] > 0.5
    assert np.corrcoef(candidates[:, 1], predicted[:, 1])[0, 1] < -0.5

    scores = class_total(predicted, agent.classes)
    chosen, top = agent.choose(candidates, losses)
    np.testing.assert_array_equal(np.sort(top), np.sort(np.argsort(-scores)[:8]))
    np.testing.assert_allclose(chosen, candidates[top].mean(axis=0))
    assert chosen[0] > 0.4 and chosen[1] < 0.1  # the scores moved the mass
    bottom = np.argsort(scores)[:8]
    assert candidates[bottom].mean(axis=0)[0] < chosen[0]

    # with every candidate scored the same, the choice is arbitrary (the first 8 drawn): not what we chose
    agent.predict = lambda c, l: np.zeros((len(c), len(ARMS)))  # type: ignore[method-assign]
    arbitrary, _ = agent.choose(candidates, losses)
    np.testing.assert_allclose(arbitrary, candidates[:8].mean(axis=0))
    assert np.abs(arbitrary - chosen).max() > 0.2


def test_candidates_are_read_at_their_own_time_step():
    import torch

    agent = make()
    losses = feed(agent, evaluations=6)
    candidates = agent.candidates(np.random.default_rng(0))[:5]
    fast = agent.predict(candidates, losses)
    history, _ = agent._history()
    with torch.no_grad():
        for i, c in enumerate(candidates):
            row = torch.tensor(np.concatenate([losses, c]), dtype=torch.float32)[None, None]
            full = agent._model(torch.cat([history, row], dim=1))[0]
            np.testing.assert_allclose(fast[i], full[history.shape[1]].numpy(), atol=1e-5)


def test_one_record_per_update_with_what_was_decided():
    agent = make(warmup_steps=250)
    feed(agent, evaluations=5)
    assert [r["step"] for r in agent.records] == [100, 200, 300, 400, 500]
    first, warm, later = agent.records[0], agent.records[1], agent.records[-1]
    assert first["rewards"] is None and first["phase"] == "no_history"
    assert warm["phase"] == "warmup" and warm["mixture"] == [0.25] * 4
    assert later["phase"] in {"explore", "exploit"} and later["explored"] == (later["phase"] == "explore")
    for r in agent.records:
        assert set(r) >= {"step", "mixture", "losses", "rewards", "explored"}
        pickle.dumps(r)


def test_warmup_gives_the_uniform_mixture():
    agent = BirdieAgent(
        BirdieAgent.Config(name="birdie", **SMALL), ARMS, np.array([5.0, 1, 1, 1]), seed=0, num_steps=2000
    )
    np.testing.assert_allclose(agent.initial_mixture(), 0.25)
    for step in (10, 50, 249):
        np.testing.assert_allclose(agent.decide(step, np.ones(4) * 3, np.zeros(4)).mixture, 0.25)
    assert agent.decide(250, np.ones(4) * 3, np.zeros(4)).info["phase"] in {"explore", "exploit"}


def test_exploration_decays_by_cosine_over_the_first_half():
    cfg = BirdieAgent.Config(name="birdie")
    assert exploration_rate(0, 1000, cfg) == pytest.approx(0.5)
    assert exploration_rate(250, 1000, cfg) == pytest.approx(0.35)
    assert exploration_rate(500, 1000, cfg) == pytest.approx(0.2)
    assert exploration_rate(900, 1000, cfg) == pytest.approx(0.2)
    rates = [exploration_rate(s, 1000, cfg) for s in range(0, 501, 50)]
    assert all(a > b for a, b in itertools.pairwise(rates))


def test_exploring_puts_the_mass_on_one_or_two_classes():
    agent = make(explore_max=1.0, explore_min=1.0, floor=0.0)
    feed(agent, evaluations=12)
    explored = [r for r in agent.records if r["explored"]]
    assert len(explored) >= 10
    for r in explored:
        m = np.asarray(r["mixture"])
        class_mass = np.bincount(agent.classes, m)
        assert 1 <= np.count_nonzero(class_mass > 1e-9) <= 2
        assert sorted(np.round(class_mass[class_mass > 1e-9], 9).tolist()) in ([1.0], [0.5, 0.5])


def test_floor_is_a_total_share_spread_over_all_configurations():
    p = apply_floor(np.array([1.0] + [0.0] * 95), 0.05)
    assert p.min() == pytest.approx(0.05 / 96) and p[0] == pytest.approx(0.95 + 0.05 / 96)
    assert p.sum() == pytest.approx(1.0)
    # not 0.5% per configuration, which at 96 configurations would force 48% of the mass to be uniform
    assert (p - p.min()).sum() == pytest.approx(0.95)


def test_temperature_sharpens_and_keeps_order():
    p = np.array([0.5, 0.3, 0.2])
    sharp = apply_temperature(p, 0.5)
    np.testing.assert_allclose(sharp, p**2 / (p**2).sum())
    np.testing.assert_allclose(apply_temperature(p, 1.0), p)
    assert sharp[0] > p[0] and sharp[2] < p[2]


def test_every_mixture_respects_the_floor():
    agent = make(floor=0.08)
    feed(agent, evaluations=10)
    for r in agent.records:
        assert min(r["mixture"]) >= 0.08 / 4 - 1e-12 or r["phase"] in {"no_history", "warmup"}


def test_different_seeds_decide_differently_and_the_same_seed_identically():
    runs = [make(seed=s) for s in (0, 0, 1)]
    for a in runs:
        feed(a, evaluations=8)
    mix = [np.array([r["mixture"] for r in a.records]) for a in runs]
    np.testing.assert_array_equal(mix[0], mix[1])
    assert not np.array_equal(mix[0], mix[2])


def test_state_round_trip_mid_run_then_identical_decisions():
    a = make(seed=4, explore_max=0.3)
    losses = feed(a, evaluations=7)
    b = make(seed=4, explore_max=0.3)
    b.load_state_dict(pickle.loads(pickle.dumps(a.state_dict())))
    assert b.records == a.records
    rng = np.random.default_rng(9)
    for e in range(4):
        rewards = rng.normal(0, 0.2, 4)
        da, db = a.decide(800 + 100 * e, losses, rewards), b.decide(800 + 100 * e, losses, rewards)
        np.testing.assert_array_equal(da.mixture, db.mixture)
    with pytest.raises(ValueError, match="steered objectives"):
        BirdieAgent(a.config, ARMS[:3], np.ones(3)).load_state_dict(a.state_dict())


@pytest.mark.parametrize(
    ("losses", "rewards", "message"),
    [
        ([3.0, np.nan, 3.0, 3.0], None, "objective 'bad' is nan"),
        ([3.0, 3.0, np.inf, 3.0], None, "objective 's1' is inf"),
        ([3.0, 3.0, 3.0, -1.0], None, "objective 's2' is -1.0, but a loss cannot be negative"),
        ([3.0, 3.0, 3.0], None, "got 3 validation losses for 4"),
        ([], None, "no validation loss"),
        ([3.0] * 4, [0.1, np.nan, 0.0, 0.0], "reward of objective 'bad' is nan"),
        ([3.0] * 4, [0.1, 0.0], "rewards of shape"),
    ],
)
def test_bad_input_raises_naming_the_objective(losses, rewards, message):
    agent = make()
    agent.decide(100, np.full(4, 3.0), None)
    with pytest.raises(InvalidLossError, match=message):
        agent.decide(200, np.asarray(losses, float), None if rewards is None else np.asarray(rewards, float))


def test_zero_losses_and_huge_rewards_never_give_a_nan_mixture():
    agent = make()
    for e in range(6):
        m = agent.decide(100 * (e + 1), np.zeros(4), None if e == 0 else np.array([5.0, -5.0, 0.0, 1e9]))
        assert np.all(np.isfinite(m.mixture)) and m.mixture.sum() == pytest.approx(1.0)


def test_a_single_objective_gets_everything():
    agent = BirdieAgent(BirdieAgent.Config(name="birdie", **SMALL), [Arm("only", "x")], np.ones(1))
    assert agent.decide(300, np.array([2.0]), None).mixture.tolist() == [1.0]
    assert agent.decide(400, np.array([1.9]), np.array([0.2])).mixture.tolist() == [1.0]


def test_config_errors():
    with pytest.raises(ValueError, match="divisible"):
        BirdieAgent.Config(name="birdie", width=30, heads=4)
    with pytest.raises(ValueError, match="explore_classes"):
        BirdieAgent.Config(name="birdie", explore_classes=(2, 1))
    with pytest.raises(ValueError, match="extra"):
        BirdieAgent.Config(name="birdie", widht=64)


def test_torch_threads_are_restored():
    import torch

    before = torch.get_num_threads()
    agent = make(num_threads=1)
    feed(agent, evaluations=3)
    assert torch.get_num_threads() == before


def test_registering_the_plugin_does_not_import_torch():
    code = (
        "import sys\n"
        "from birdie_core.registry import load_registry\n"
        "reg = load_registry(allow=['rewards'])\n"
        "assert 'rewards.birdie' in reg.names('agent'), reg.names('agent')\n"
        "import birdie_rewards.cli, birdie_rewards.simulate\n"
        "print('torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False", out.stdout + out.stderr


def test_building_the_reward_model_leaves_torchs_global_random_stream_alone():
    import numpy as np
    import torch
    from birdie_rewards.birdie_agent import BirdieAgent

    from birdie_core import Arm

    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    agent = BirdieAgent(BirdieAgent.Config(name="rewards.birdie"), [Arm("a", "x"), Arm("b", "y")], np.ones(2), seed=0)
    agent._ensure_model()
    assert torch.equal(torch.rand(3), expected)


# -- decisions a user can trust: smooth steps unless the evidence is strong, and a record of why --------------


def _exploits(agent: BirdieAgent) -> list[dict]:
    return [r for r in agent.records if r["phase"] == "exploit"]


def test_exploiting_changes_the_mixture_by_at_most_max_change_unless_the_evidence_is_strong():
    agent = make(explore_max=0.3, explore_min=0.3, max_change=0.1, strong_evidence=None)
    feed(agent, evaluations=14)
    exploits = _exploits(agent)
    assert len(exploits) >= 5
    anchor = agent.uniform
    for r in agent.records:
        m = np.asarray(r["mixture"])
        if r["phase"] == "exploit":
            assert 0.5 * np.abs(m - anchor).sum() <= 0.1 + 1e-9  # measured from the last exploited mixture
            assert r["change"] == pytest.approx(0.5 * np.abs(m - anchor).sum())
            assert not r["strong"]
        if not r["explored"]:
            anchor = m
    assert any(r["step_size"] < 1.0 for r in exploits)  # the target was further away: a partial step


def test_strong_evidence_lifts_the_limit():
    capped = make(max_change=0.05, strong_evidence=None, explore_max=0.0, explore_min=0.0)
    free = make(max_change=0.05, strong_evidence=1e-9, explore_max=0.0, explore_min=0.0)
    for agent in (capped, free):
        feed(agent, evaluations=8)
    strong = [r for r in _exploits(free) if r["strong"]]
    assert strong, [r["evidence"] for r in _exploits(free)]
    for r in strong:
        assert r["advantage"] >= 1e-9 * r["noise"] and r["step_size"] == 1.0
    assert max(r["change"] for r in _exploits(free)) > 0.05
    assert max(r["change"] for r in _exploits(capped)) <= 0.05 + 1e-9


def test_without_a_limit_the_agent_takes_the_chosen_mixture_as_before():
    agent = make(max_change=1.0, explore_max=0.0, explore_min=0.0)
    feed(agent, evaluations=6)
    assert all(r["step_size"] == 1.0 for r in _exploits(agent))


def test_each_exploiting_decision_records_why():
    agent = make(explore_max=0.0, explore_min=0.0)
    feed(agent, evaluations=6)
    r = _exploits(agent)[-1]
    assert set(r["predicted_class_rewards"]) == {"x.good", "x.bad", "x.split"}
    for key in ("score_chosen", "score_target", "score_previous", "score_uniform", "advantage", "noise",
                "evidence", "step_size", "change"):
        assert np.isfinite(r[key]), key
    # the class-normalised sum of the predicted class rewards is the chosen mixture's score
    assert sum(r["predicted_class_rewards"].values()) == pytest.approx(r["score_chosen"], abs=1e-5)
    assert r["advantage"] == pytest.approx(r["score_target"] - r["score_previous"])
    assert r["noise"] > 0
    # good is paid, bad is not: the model says so, and the chosen mixture beats the uniform one
    assert r["predicted_class_rewards"]["x.good"] > r["predicted_class_rewards"]["x.bad"]
    assert r["score_chosen"] > r["score_uniform"]
    # what the training loop writes under "agent" in metrics.jsonl: plain JSON values
    import json

    info = agent.decide(800, np.array([4.0, 3.0, 3.5, 3.5]), np.zeros(4)).info
    json.dumps(info, allow_nan=False)


def test_exploring_is_a_visible_detour_from_the_last_exploited_mixture():
    agent = make(explore_max=0.5, explore_min=0.5, max_change=0.1, strong_evidence=None, explore_mass=0.5)
    feed(agent, evaluations=14)
    anchor, detours = agent.uniform, 0
    for r in agent.records:
        m = np.asarray(r["mixture"])
        if r["explored"]:
            detours += 1
            assert r["phase"] == "explore"
            # half the mass stays on the last exploited mixture (explore_mass 0.5), half goes to random classes
            assert np.all(m >= 0.95 * 0.5 * anchor - 1e-12)
        else:
            if r["phase"] == "exploit":  # the step after a detour is measured from before the detour
                assert 0.5 * np.abs(m - anchor).sum() <= 0.1 + 1e-9
            anchor = m
    assert detours >= 3
