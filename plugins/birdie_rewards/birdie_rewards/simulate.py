"""Synthetic loss curves that react to the mixture, to watch an agent steer without training a model.

Each objective configuration has a loss that falls with its *exposure* ``E`` (training steps spent on the
objectives that drive it, weighted by their shares) as a power law with diminishing returns,

    L(E) = floor + (start - floor) * (1 + E / tau) ** -alpha,

and every evaluation measures it with a little relative noise. A ``noise`` objective's loss is pure noise
around a constant and never improves; a ``transfer`` objective is driven by another objective's share instead
of its own; the configurations of a split objective share one exposure (training any of them trains the
objective). Harder kinds: a skill that is *forgotten* (its exposure decays at rate ``forget`` per step, so its
loss climbs back while it is not trained), *interference* (another objective's share subtracts from this one's
exposure), and a noise objective whose measured loss *drifts* upward while it is neglected and falls back when
it is trained — recovery that is worth nothing, since the objective cannot be learned (its true loss, the one
the summed loss counts, stays at ``start``). The simulation calls the reward function and the agent exactly as the training loop does —
``rewards = reward_fn(previous, current, history=..., classes=...)`` then ``agent.decide(step, losses,
rewards)`` after each evaluation — and compares the final summed loss (sum over classes of each class's mean
true loss) with the uniform mixture run for the same number of steps.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, cast

import numpy as np

from birdie_core import Agent, Arm
from birdie_rewards.classes import class_index, class_total

__all__ = [
    "SCENARIOS",
    "Curve",
    "Scenario",
    "SimulationResult",
    "best_fixed_mixture",
    "final_losses",
    "simulate",
    "summarise",
]


@dataclass(frozen=True)
class Curve:
    """One objective configuration's synthetic loss."""

    key: str
    objective: str  # its class
    start: float = 5.0
    floor: float = 2.0
    tau: float = 300.0  # exposure (steps) over which the excess loss falls by about (1/2)^alpha
    alpha: float = 0.6
    kind: Literal["power", "noise"] = "power"
    drivers: tuple[str, ...] = ()  # keys whose shares make its exposure (default: itself)
    noise: float = 0.003  # relative sd of a measurement (kind="noise": absolute sd around `start`)
    forget: float = 0.0  # share of the exposure lost per step (exposure decays as exp(-forget * steps))
    interference: tuple[tuple[str, float], ...] = ()  # (key, weight): that key's share subtracts from exposure
    drift: float = 0.0  # kind="noise": how far the measured loss drifts above `start` while neglected
    drift_tau: float = 200.0  # steps over which the drift relaxes toward its level for the current share
    drift_share: float = 0.25  # the share that holds the drift at 0 (less share: proportionally more drift)

    def loss(self, exposure: np.ndarray | float) -> np.ndarray | float:
        if self.kind == "noise":
            return self.start + 0.0 * np.asarray(exposure)
        return self.floor + (self.start - self.floor) * (1.0 + np.asarray(exposure) / self.tau) ** -self.alpha


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    curves: tuple[Curve, ...]
    num_steps: int = 4000
    evaluations: int = 40

    @property
    def arms(self) -> tuple[Arm, ...]:
        return tuple(Arm(c.key, c.objective) for c in self.curves)

    @property
    def classes(self) -> np.ndarray:
        return class_index(self.arms)

    def drive_matrix(self) -> np.ndarray:
        """D[i, j] = 1 when arm j's share adds to arm i's exposure, -w when it interferes with weight w."""
        keys = [c.key for c in self.curves]
        d = np.zeros((len(keys), len(keys)))
        for i, c in enumerate(self.curves):
            for key in c.drivers or (c.key,):
                d[i, keys.index(key)] = 1.0
            for key, weight in c.interference:
                d[i, keys.index(key)] -= weight
        return d

    @property
    def forget_rates(self) -> np.ndarray:
        return np.array([c.forget for c in self.curves], dtype=np.float64)

    def start_state(self) -> SimState:
        k = len(self.curves)
        return SimState(np.zeros(k), np.zeros(k))

    def advance(self, state: SimState, mixture: np.ndarray, steps: float) -> SimState:
        """The state after training ``steps`` steps with ``mixture`` (exact for a constant mixture).

        Exposure grows by the drive ``D @ mixture`` per step and decays at each arm's ``forget`` rate; it never
        falls below 0 (interference cannot unlearn more than was learned). The drift of a noise objective
        relaxes toward ``drift * (1 - share / drift_share)`` (at least 0) over ``drift_tau`` steps.
        """
        drive = self.drive_matrix() @ np.asarray(mixture, dtype=np.float64)
        lam = self.forget_rates
        if np.any(lam > 0):
            exposure = state.exposure * np.exp(-lam * steps) + drive * self.exposure_gain(steps)
        else:  # the plain sum, so that scenarios without forgetting keep their exact numbers
            exposure = state.exposure + drive * steps
        drift = state.drift.copy()
        for i, c in enumerate(self.curves):
            if c.drift > 0:
                level = c.drift * max(0.0, 1.0 - float(mixture[i]) / c.drift_share)
                drift[i] = level + (drift[i] - level) * np.exp(-steps / c.drift_tau)
        return SimState(np.maximum(exposure, 0.0), drift)

    def exposure_gain(self, steps: float) -> np.ndarray:
        """Exposure per unit of constant drive after ``steps`` steps from nothing: ``(1 - e^(-λ steps)) / λ``."""
        lam = self.forget_rates
        return np.where(lam > 0, -np.expm1(-lam * steps) / np.where(lam > 0, lam, 1.0), float(steps))

    def noise_arms(self) -> list[int]:
        return [i for i, c in enumerate(self.curves) if c.kind == "noise"]

    def true_losses(self, exposure: np.ndarray) -> np.ndarray:
        return np.array([c.loss(e) for c, e in zip(self.curves, exposure)], dtype=np.float64)

    def measure(
        self, exposure: np.ndarray, rng: np.random.Generator, drift: np.ndarray | None = None
    ) -> np.ndarray:
        true = self.true_losses(exposure)
        out = np.empty_like(true)
        for i, c in enumerate(self.curves):
            if c.kind == "noise":
                out[i] = c.start + (0.0 if drift is None else drift[i]) + c.noise * rng.standard_normal()
            else:
                out[i] = true[i] * (1.0 + c.noise * rng.standard_normal())
        return np.maximum(out, 1e-6)


@dataclass(frozen=True)
class SimState:
    """What the simulated model has learned: each arm's exposure, and each noise objective's drift."""

    exposure: np.ndarray
    drift: np.ndarray


def _split(n: int) -> tuple[Curve, ...]:
    keys = tuple(f"infill_{i}" for i in range(n))
    return tuple(
        Curve(k, "infilling", start=5.5 + 0.1 * i, floor=2.6 + 0.05 * i, tau=120.0, alpha=0.6, drivers=keys)
        for i, k in enumerate(keys)
    )


SCENARIOS: Mapping[str, Scenario] = {
    s.name: s
    for s in (
        Scenario(
            "improving_vs_plateaued",
            "two objectives keep improving, two have plateaued near their floor",
            (
                Curve("improving", "improving", start=6.0, floor=2.0, tau=400.0, alpha=0.6),
                Curve("improving_slowly", "improving_slowly", start=5.0, floor=2.5, tau=900.0, alpha=0.5),
                Curve("plateaued", "plateaued", start=3.3, floor=3.0, tau=40.0, alpha=1.0),
                Curve("plateaued_low", "plateaued_low", start=2.3, floor=2.1, tau=30.0, alpha=1.0),
            ),
        ),
        Scenario(
            "noise",
            "three learnable objectives and one whose loss is pure noise and never improves",
            (
                Curve("fast", "fast", start=6.0, floor=2.0, tau=300.0, alpha=0.6),
                Curve("slow", "slow", start=5.0, floor=2.5, tau=900.0, alpha=0.5),
                Curve("steady", "steady", start=4.0, floor=2.2, tau=400.0, alpha=0.6),
                Curve("noise", "noise", start=7.0, kind="noise", noise=0.07),
            ),
        ),
        Scenario(
            "transfer",
            "`target` improves only while `source` is trained; two ordinary objectives beside them",
            (
                Curve("source", "source", start=5.0, floor=2.5, tau=400.0, alpha=0.6),
                Curve("target", "target", start=5.5, floor=2.0, tau=400.0, alpha=0.6, drivers=("source",)),
                Curve("plain", "plain", start=4.0, floor=2.4, tau=400.0, alpha=0.6),
                Curve("plateaued", "plateaued", start=3.1, floor=2.9, tau=40.0, alpha=1.0),
            ),
        ),
        Scenario(
            "split",
            "one objective split into 8 configurations (one shared skill) beside 3 single-configuration ones",
            (
                *_split(8),
                Curve("copying", "copying", start=5.0, floor=1.5, tau=500.0, alpha=0.6),
                Curve("prefix_lm", "prefix_lm", start=5.5, floor=2.4, tau=600.0, alpha=0.6),
                Curve("deshuffling", "deshuffling", start=4.5, floor=2.0, tau=500.0, alpha=0.6),
            ),
        ),
        Scenario(
            "mixed",
            "12 configurations of mixed kinds: improving, plateaued, noise, a transfer pair, a 4-way split",
            (
                Curve("ntp", "ntp", start=6.0, floor=2.2, tau=500.0, alpha=0.6),
                Curve("prefix_lm", "prefix_lm", start=5.5, floor=2.4, tau=700.0, alpha=0.5),
                Curve("copying", "copying", start=4.5, floor=1.2, tau=300.0, alpha=0.7),
                Curve("plateaued", "plateaued", start=3.2, floor=3.0, tau=40.0, alpha=1.0),
                Curve("plateaued_low", "plateaued_low", start=2.2, floor=2.1, tau=30.0, alpha=1.0),
                Curve("noise", "noise", start=7.0, kind="noise", noise=0.07),
                Curve("source", "source", start=5.0, floor=2.5, tau=500.0, alpha=0.6),
                Curve("target", "target", start=5.5, floor=2.2, tau=500.0, alpha=0.6, drivers=("source",)),
                *(
                    Curve(
                        f"infill_{i}",
                        "infilling",
                        start=5.5,
                        floor=2.6 + 0.05 * i,
                        tau=150.0,
                        alpha=0.6,
                        drivers=tuple(f"infill_{j}" for j in range(4)),
                    )
                    for i in range(4)
                ),
            ),
        ),
        Scenario(
            "forgetting",
            "every skill is forgotten while it is not trained (its loss climbs back); one holds cheaply",
            (
                Curve("fast", "fast", start=6.0, floor=2.0, tau=300.0, alpha=0.6, forget=1 / 1000),
                Curve("slow", "slow", start=5.0, floor=2.5, tau=900.0, alpha=0.5, forget=1 / 2000),
                Curve("steady", "steady", start=4.0, floor=2.2, tau=400.0, alpha=0.6, forget=1 / 1000),
                Curve("plateaued", "plateaued", start=3.3, floor=3.0, tau=40.0, alpha=1.0, forget=1 / 500),
            ),
        ),
        Scenario(
            "interference",
            "training `copying` undoes some of `ntp`, training `deshuffling` some of `prefix_lm`",
            (
                Curve("ntp", "ntp", start=6.0, floor=2.2, tau=500.0, alpha=0.6, interference=(("copying", 0.5),)),
                Curve("copying", "copying", start=4.5, floor=1.2, tau=300.0, alpha=0.7),
                Curve(
                    "prefix_lm",
                    "prefix_lm",
                    start=5.5,
                    floor=2.4,
                    tau=700.0,
                    alpha=0.5,
                    interference=(("deshuffling", 0.5),),
                ),
                Curve("deshuffling", "deshuffling", start=4.5, floor=2.0, tau=500.0, alpha=0.6),
            ),
        ),
        Scenario(
            "noise_drift",
            "three learnable objectives and an unlearnable one whose loss drifts up while neglected and "
            "falls back when trained (recovery, not learning)",
            (
                Curve("fast", "fast", start=6.0, floor=2.0, tau=300.0, alpha=0.6),
                Curve("slow", "slow", start=5.0, floor=2.5, tau=900.0, alpha=0.5),
                Curve("steady", "steady", start=4.0, floor=2.2, tau=400.0, alpha=0.6),
                Curve("noise", "noise", start=7.0, kind="noise", noise=0.07, drift=1.0, drift_tau=200.0),
            ),
        ),
    )
}


# ---------------------------------------------------------------------------------------------------------


def final_losses(scenario: Scenario, mixtures: np.ndarray, num_steps: int | None = None) -> np.ndarray:
    """True losses after training with ``mixtures`` (one row per equal interval, or one fixed mixture)."""
    m = np.asarray(mixtures, dtype=np.float64)
    steps = num_steps or scenario.num_steps
    if m.ndim == 1:  # a fixed mixture from nothing, in closed form
        exposure = np.maximum(scenario.drive_matrix() @ m, 0.0) * scenario.exposure_gain(steps)
        return scenario.true_losses(exposure)
    state = scenario.start_state()
    for row in m:
        state = scenario.advance(state, row, steps / m.shape[0])
    return scenario.true_losses(state.exposure)


def summed_loss(scenario: Scenario, losses: np.ndarray) -> float:
    """Sum over classes of each class's mean loss (a split objective counts once)."""
    return float(class_total(losses, scenario.classes))


def best_fixed_mixture(scenario: Scenario, iterations: int = 3000) -> tuple[np.ndarray, float]:
    """The fixed mixture with the lowest final summed loss (exponentiated gradient on the simplex)."""
    k = len(scenario.curves)
    d = scenario.drive_matrix()
    w = class_total(np.eye(k), scenario.classes)  # per-arm weight in the summed loss
    p = np.full(k, 1.0 / k)
    gain = scenario.exposure_gain(scenario.num_steps)

    def grad(p: np.ndarray) -> np.ndarray:
        drive = d @ p
        e = np.maximum(drive, 0.0) * gain
        g = np.zeros(k)
        for i, c in enumerate(scenario.curves):
            if c.kind == "noise" or drive[i] <= 0:
                continue
            dl_de = -(c.start - c.floor) * c.alpha / c.tau * (1.0 + e[i] / c.tau) ** (-c.alpha - 1.0)
            g += w[i] * dl_de * gain[i] * d[i]
        return g

    for _ in range(iterations):
        g = grad(p)
        p = p * np.exp(-0.05 * g / (np.abs(g).max() + 1e-12))
        p = np.maximum(p / p.sum(), 1e-12)
    return p, summed_loss(scenario, final_losses(scenario, p))


# ---------------------------------------------------------------------------------------------------------


@dataclass
class SimulationResult:
    """One run of one agent on one scenario."""

    scenario: str
    agent: str
    seed: int
    keys: list[str]
    steps: list[int]  # evaluation steps
    mixtures: np.ndarray  # (evaluations + 1, K): the initial mixture, then each decision
    losses: np.ndarray  # (evaluations, K) measured
    rewards: list[np.ndarray | None]
    explored: list[bool]
    phases: list[str]  # what the agent says it did at each evaluation (Decision.info["phase"]), if anything
    final_losses: np.ndarray  # true losses at the end
    summed: float  # class-normalised sum of final true losses
    uniform_summed: float
    decision_seconds: list[float] = field(default_factory=list)
    noise_arms: list[int] = field(default_factory=list)

    @property
    def relative(self) -> float:
        """Final summed loss relative to the uniform mixture (-0.03 = 3% lower)."""
        return self.summed / self.uniform_summed - 1.0

    def training_shares(self) -> np.ndarray:
        """Share of all training steps each arm received (the mixture of each interval, averaged)."""
        return self.mixtures[:-1].mean(axis=0)

    @property
    def noise_share(self) -> float | None:
        """Share of training spent on the noise objective(s) over the second half (None: no noise arm)."""
        if not self.noise_arms:
            return None
        m = self.mixtures[:-1]
        return float(m[len(m) // 2 :, self.noise_arms].sum(axis=1).mean())

    @property
    def final_noise_share(self) -> float | None:
        if not self.noise_arms:
            return None
        return float(self.mixtures[-2, self.noise_arms].sum())  # the last mixture that was trained with


AgentFactory = Callable[[Sequence[Arm], np.ndarray, int, int], Agent]


def _agent_factory(
    agent: str | type[Agent] | AgentFactory, config: Mapping[str, Any] | None
) -> tuple[str, AgentFactory]:
    if isinstance(agent, str):
        from birdie_core import load_registry

        entry = load_registry().resolve("agent", agent)
        cls, label = entry.obj, entry.qualified_name
    elif isinstance(agent, type) and issubclass(agent, Agent):
        cls, label = agent, agent.__name__
    else:  # any other callable is a factory (mypy cannot narrow the union through `and` above)
        return getattr(agent, "__name__", "agent"), cast(AgentFactory, agent)

    def make(arms: Sequence[Arm], initial: np.ndarray, seed: int, num_steps: int) -> Agent:
        cfg = cls.Config(**{"name": label, **dict(config or {})})
        return cls(cfg, arms, initial, seed=seed, num_steps=num_steps)

    return label, make


def _reward_fn(reward: str | Callable[..., np.ndarray] | None, config: Mapping[str, Any] | None):
    if reward is None or callable(reward):
        return reward
    from birdie_core import load_registry

    entry = load_registry().resolve("reward", reward)
    config_model = entry.obj.Config
    return entry.obj(config_model(**{"name": entry.qualified_name, **dict(config or {})}))


def simulate(
    scenario: str | Scenario,
    agent: str | type[Agent] | AgentFactory = "birdie",
    *,
    seed: int = 0,
    evaluations: int | None = None,
    num_steps: int | None = None,
    reward: str | Callable[..., np.ndarray] | None = "birdie",
    agent_config: Mapping[str, Any] | None = None,
    reward_config: Mapping[str, Any] | None = None,
) -> SimulationResult:
    """Run ``agent`` on ``scenario`` through the training loop's interface; compare with uniform.

    ``agent`` is a registered name, an :class:`~birdie_core.Agent` subclass (built with ``agent_config``), or
    a factory ``(arms, initial, seed, num_steps) -> Agent``. ``reward`` is a registered reward name, a
    callable, or None (the agent then gets ``rewards=None``).
    """
    sc = SCENARIOS[scenario] if isinstance(scenario, str) else scenario
    n_eval = evaluations or sc.evaluations
    steps_total = num_steps or sc.num_steps
    label, make = _agent_factory(agent, agent_config)
    fn = _reward_fn(reward, reward_config)
    arms, classes = sc.arms, sc.classes
    k = len(arms)
    rng = np.random.default_rng([seed, 7])

    agent_obj = make(arms, np.ones(k), seed, steps_total)
    mixture = np.asarray(agent_obj.initial_mixture(), dtype=np.float64)
    state = sc.start_state()
    eval_steps = [round(steps_total * (e + 1) / n_eval) for e in range(n_eval)]
    mixtures, losses, rewards, explored, phases, seconds = [mixture], [], [], [], [], []
    history: list[np.ndarray] = []
    previous: np.ndarray | None = None
    last = 0
    for step in eval_steps:
        state = sc.advance(state, mixture, step - last)
        last = step
        current = sc.measure(state.exposure, rng, state.drift)
        r = None
        if previous is not None and fn is not None:
            r = np.asarray(fn(previous, current, history=tuple(history), classes=classes), dtype=np.float64)
        t0 = time.perf_counter()
        decision = agent_obj.decide(step, current.copy(), None if r is None else r.copy())
        seconds.append(time.perf_counter() - t0)
        mixture = np.asarray(decision.mixture, dtype=np.float64)
        if not (np.all(np.isfinite(mixture)) and np.all(mixture >= 0) and abs(mixture.sum() - 1) < 1e-6):
            raise ValueError(f"agent {label} returned an invalid mixture at step {step}: {mixture.tolist()}")
        if previous is not None:
            history.append(previous)
        previous = current
        mixtures.append(mixture)
        losses.append(current)
        rewards.append(r)
        explored.append(bool(decision.explored))
        phases.append(str(decision.info.get("phase", "explore" if decision.explored else "")))

    true_final = sc.true_losses(state.exposure)
    uniform = final_losses(sc, np.full(k, 1.0 / k), steps_total)
    return SimulationResult(
        scenario=sc.name,
        agent=label,
        seed=seed,
        keys=[a.key for a in arms],
        steps=eval_steps,
        mixtures=np.asarray(mixtures),
        losses=np.asarray(losses),
        rewards=rewards,
        explored=explored,
        phases=phases,
        final_losses=true_final,
        summed=summed_loss(sc, true_final),
        uniform_summed=summed_loss(sc, uniform),
        decision_seconds=seconds,
        noise_arms=sc.noise_arms(),
    )


@dataclass(frozen=True)
class Summary:
    scenario: str
    agent: str
    seeds: int
    relative: float  # median over seeds
    noise_share: float | None  # median over seeds (second half of training)
    final_noise_share: float | None
    seconds_per_decision: float
    best: float | None = None  # the best fixed mixture's summed loss relative to uniform (hindsight)
    captured: float | None = None  # median over seeds of the share of that gain the agent reached


def _median(values: Sequence[float | None]) -> float | None:
    """The median over seeds; None in a scenario without the measure (no noise objective)."""
    known = [v for v in values if v is not None]
    return float(np.median(known)) if known else None


def summarise(results: Sequence[SimulationResult], best: float | None = None) -> Summary:
    """Medians over seeds of one scenario × agent; with ``best`` (the hindsight-best fixed mixture's summed
    loss relative to uniform, e.g. -0.05) also the share of that gain captured (1 = all of it, 0 = uniform's)."""
    r0 = results[0]
    captured = None
    if best is not None and best < 0:
        captured = float(np.median([r.relative / best for r in results]))
    ns = [r.noise_share for r in results]
    fns = [r.final_noise_share for r in results]
    return Summary(
        scenario=r0.scenario,
        agent=r0.agent,
        seeds=len(results),
        relative=float(np.median([r.relative for r in results])),
        noise_share=_median(ns),
        final_noise_share=_median(fns),
        seconds_per_decision=float(np.mean([s for r in results for s in r.decision_seconds])),
        best=best,
        captured=captured,
    )


# ---------------------------------------------------------------------------------------------------------
# The ``birdie`` agent's settings in simulations, and drawing
# ---------------------------------------------------------------------------------------------------------

#: What ``birdie simulate`` and the tests give the ``birdie`` agent unless told otherwise (``--full``): a
#: smaller reward model (width 64, one layer) trained for fewer steps (30 instead of 200, at lr 2e-3 instead of
#: 5e-4), so that every scenario × agent runs in seconds on a laptop CPU. Everything else is the agent's default.
SIMULATION_BIRDIE_CONFIG: Mapping[str, Any] = {
    "width": 64,
    "layers": 1,
    "heads": 2,
    "train_steps": 30,
    "lr": 2e-3,
}


def class_shares(scenario: Scenario, mixtures: np.ndarray) -> tuple[list[str], np.ndarray]:
    """Class names (with the number of configurations when split) and each class's share per row."""
    classes = scenario.classes
    names = []
    for c in range(classes.max() + 1):
        members = np.flatnonzero(classes == c)
        label = scenario.curves[members[0]].objective
        names.append(f"{label}×{members.size}" if members.size > 1 else label)
    onehot = np.eye(classes.max() + 1)[classes]
    return names, np.asarray(mixtures) @ onehot


class PlotUnavailable(RuntimeError):
    """matplotlib is not installed."""


def plot_results(results: Sequence[SimulationResult], path: str) -> None:
    """One panel per run: the share of each class over training (stacked), titled with the outcome."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise PlotUnavailable(
            "--plot needs matplotlib, which is not installed: pip install 'birdie-rewards[plot]'"
        ) from exc
    n = len(results)
    cols = 2 if n in (2, 4) else min(n, 3)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(5.2 * cols, 3.4 * rows), squeeze=False)
    for ax, r in zip(axes.flat, results):
        sc = SCENARIOS[r.scenario]
        names, shares = class_shares(sc, r.mixtures[:-1])
        starts = [0, *r.steps[:-1]]
        x = np.repeat(np.asarray([*starts, r.steps[-1]]), 2)[
            1:-1
        ]  # a step plot: each mixture holds its interval
        y = np.repeat(shares, 2, axis=0)
        ax.stackplot(x, y.T, labels=names, alpha=0.85)
        for s, e in zip(starts, r.explored[:-1]):
            if e:
                ax.axvline(s, color="k", lw=0.4, alpha=0.4)
        ax.set_xlim(0, r.steps[-1])
        ax.set_ylim(0, 1)
        ax.set_title(
            f"{r.scenario} · {r.agent} · seed {r.seed}\nsummed loss {r.relative:+.1%} vs uniform", fontsize=9
        )
        ax.set_xlabel("step")
        ax.set_ylabel("share of the mixture")
        ax.legend(fontsize=7, loc="upper right", framealpha=0.6)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
