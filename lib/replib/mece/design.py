"""MECE's design policies: pi_m changes the morphology, pi_e the training environment, both trained by REINFORCE on
r_m / r_e (papers/mece.md Sec. 2, Sec. 6 "pi_m Gaussian over Delta m (bounded), pi_e categorical {easier, same,
harder}; REINFORCE updates with r_m, r_e"), and the ablations' stand-ins (Sec. 6 baselines).

- pi_m (``MorphologyPolicy``): the morphology m (D,) in normalised units ``u = 2 (m - lows) / (highs - lows) - 1`` in
  [-1, 1]^D; a Gaussian over a raw action ``a ~ N(W u + b, diag(exp(2 log_std)))`` (W, b zero-initialised, so the
  first mean is 0; ``log_std`` learned, floored at ``log(min_std)``); ``Delta u = max_step * tanh(a)`` (bounded step),
  ``u' = clip(u + Delta u, -1, 1)``, mapped back and clipped to [lows, highs] (so every design is inside the box).
  REINFORCE uses log N(a) of the raw action (squash and clip are a deterministic function of a).
- pi_e (``EnvironmentPolicy``): softmax(W x + b) over ``ENV_ACTIONS`` = (easier, same, harder) -> roughness
  ``clip(rho + (k - 1) * rough_step, 0, roughness_max)``; x = (rho / roughness_max, tanh(return_slope / slope_scale),
  tanh(last_r_m / reward_scale)) from the learning signals only; W, b zero-initialised (uniform at first).
- REINFORCE with a running-mean baseline, one transition per update (the act's pending (features, action) gets the
  reward once it is known, e.g. at the next change): ``loss = -(r - b) log pi(a | x)``, one Adam step; then
  ``b += max(1/n, baseline_rate) (r - b)`` (exact mean of the first 1/baseline_rate rewards, then an EMA; b_0 = 0).
  An invalid reward (missing data) clears the pending action without a step. (Algorithm 2's history D: unverified.)
- Inputs contract: ``act`` takes a ``LearningSignals`` only (``check_signals``).
- Precision: float32 by design. They are tiny (D^2 + 2D and 12 parameters, a few dozen steps per run) and live on the
  CPU whatever the control policy's device; bf16 would only quantise log-probabilities, so their forward and backward
  run with CPU autocast disabled (a caller's ``torch.autocast("cpu", torch.bfloat16)`` leaves them float32).
- Seeding: one ``torch.Generator`` (pi_m, pi_e) or ``numpy.random.Generator`` (UniformRoughness) per object, seeded
  from the run's seed; parameters start at fixed values, so nothing touches the global RNGs (the reduction test:
  no-op policies == fixed-morphology training). One object per run of an S-run ensemble.
- Ablations: ``RandomMorphology`` / ``RandomEnvironment`` are pi_m / pi_e frozen at their initial distribution
  (random Delta m, random walk over roughness levels: "w/o pi_m", "w/o pi_e"); ``NoOpMorphology`` /
  ``NoOpEnvironment`` keep the current design; ``UniformRoughness`` draws rho ~ U[0, roughness_max] ignoring the
  signals (domain randomisation; ``sample(n)`` for one draw per episode).
"""
from __future__ import annotations

import math
from contextlib import contextmanager

import numpy as np
import torch
import torch.nn as nn

from .curriculum import LearningSignals, Reward, check_signals, pick

ENV_ACTIONS = ("easier", "same", "harder")


@contextmanager
def _fp32():
    """CPU autocast off: the policies compute in float32 whatever the caller's context."""
    with torch.autocast("cpu", enabled=False):
        yield


class _Reinforce(nn.Module):
    """REINFORCE with a running-mean baseline and Adam; subclasses define ``log_prob(features, action)``."""

    def _setup(self, *, seed: int, lr: float, baseline_rate: float) -> None:
        if not lr > 0:
            raise ValueError(f"lr={lr!r} must be > 0")
        if not 0 <= baseline_rate <= 1:
            raise ValueError(f"baseline_rate={baseline_rate!r} must be in [0, 1]")
        self.generator = torch.Generator().manual_seed(int(seed))
        self.opt = torch.optim.Adam(self.parameters(), lr=lr)
        self.baseline_rate, self.baseline, self.n_updates = float(baseline_rate), 0.0, 0
        self.pending: tuple[torch.Tensor, torch.Tensor] | None = None

    def update(self, reward: Reward | float, *, valid: bool = True) -> dict:
        """One REINFORCE step on the pending action with ``reward`` (a ``Reward`` carries its own validity)."""
        if isinstance(reward, Reward):
            reward, valid = reward.value, reward.valid
        if self.pending is None:
            raise RuntimeError(f"{type(self).__name__}.update() without a pending act()")
        features, action = self.pending
        self.pending = None
        if not valid:
            return {"updated": False}
        reward = float(reward)
        if not math.isfinite(reward):
            raise ValueError(f"reward={reward!r} must be finite")
        advantage = reward - self.baseline
        with torch.enable_grad(), _fp32():
            loss = -advantage * self.log_prob(features, action)
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            self.opt.step()
        self.n_updates += 1
        self.baseline += max(1.0 / self.n_updates, self.baseline_rate) * (reward - self.baseline)
        return {"updated": True, "advantage": advantage, "loss": float(loss.detach())}


class MorphologyPolicy(_Reinforce):
    """pi_m: a bounded Gaussian over Delta m in normalised units (module docstring)."""

    def __init__(self, *, lows, highs, seed: int = 0, max_step: float = 0.2, init_std: float = 0.5,
                 min_std: float = 0.05, lr: float = 0.01, baseline_rate: float = 0.1):
        super().__init__()
        self.lows, self.highs = _bounds(lows, highs)
        if not 0 < max_step <= 2:
            raise ValueError(f"max_step={max_step!r} must be in (0, 2] (normalised units)")
        if not 0 < min_std <= init_std:
            raise ValueError(f"min_std={min_std!r}, init_std={init_std!r}: need 0 < min_std <= init_std")
        d = self.lows.size
        self.max_step, self.min_log_std = float(max_step), math.log(min_std)
        self.weight = nn.Parameter(torch.zeros(d, d))
        self.bias = nn.Parameter(torch.zeros(d))
        self.log_std = nn.Parameter(torch.full((d,), math.log(init_std)))
        self._setup(seed=seed, lr=lr, baseline_rate=baseline_rate)

    def features(self, signals: LearningSignals) -> torch.Tensor:
        """The normalised current design u (D,) float32."""
        m = check_signals(signals).design
        if m.shape != self.lows.shape:
            raise ValueError(f"design has shape {m.shape}, the bounds {self.lows.shape}")
        return torch.as_tensor(2.0 * (m - self.lows) / (self.highs - self.lows) - 1.0, dtype=torch.float32)

    def distribution(self, features: torch.Tensor) -> torch.distributions.Normal:
        with _fp32():
            mean = features @ self.weight.T + self.bias
            return torch.distributions.Normal(mean, self.log_std.clamp(min=self.min_log_std).exp())

    def log_prob(self, features: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """log pi_m(a | u), summed over the D coordinates (a scalar with gradient)."""
        with _fp32():
            return self.distribution(features).log_prob(action).sum(-1)

    def act(self, signals: LearningSignals) -> np.ndarray:
        """Sample a raw action, keep it pending for ``update``, return the new design (D,) inside [lows, highs]."""
        u = self.features(signals)
        with torch.no_grad():
            dist = self.distribution(u)
            raw = dist.loc + dist.scale * torch.randn(u.shape, generator=self.generator)
        self.pending = (u, raw)
        return self.apply(signals.design, raw)

    def apply(self, design, raw: torch.Tensor) -> np.ndarray:
        """``m'`` from ``m`` and a raw action: ``u' = clip(u + max_step tanh(a), -1, 1)``, back to [lows, highs]."""
        span = self.highs - self.lows
        u = 2.0 * (np.asarray(design, dtype=np.float64) - self.lows) / span - 1.0
        u = np.clip(u + self.max_step * np.tanh(raw.double().numpy()), -1.0, 1.0)
        return np.clip(self.lows + (u + 1.0) / 2.0 * span, self.lows, self.highs)


class EnvironmentPolicy(_Reinforce):
    """pi_e: categorical over (easier, same, harder) roughness steps (module docstring)."""

    def __init__(self, *, roughness_max: float, rough_step: float, seed: int = 0, lr: float = 0.05,
                 baseline_rate: float = 0.1, slope_scale: float = 0.01, reward_scale: float = 1.0):
        super().__init__()
        for name, v in (("roughness_max", roughness_max), ("rough_step", rough_step),
                        ("slope_scale", slope_scale), ("reward_scale", reward_scale)):
            if not (math.isfinite(v) and v > 0):
                raise ValueError(f"{name}={v!r} must be finite and > 0")
        self.roughness_max, self.rough_step = float(roughness_max), float(rough_step)
        self.slope_scale, self.reward_scale = float(slope_scale), float(reward_scale)
        self.weight = nn.Parameter(torch.zeros(len(ENV_ACTIONS), 3))
        self.bias = nn.Parameter(torch.zeros(len(ENV_ACTIONS)))
        self.last_action: str | None = None
        self._setup(seed=seed, lr=lr, baseline_rate=baseline_rate)

    def features(self, signals: LearningSignals) -> torch.Tensor:
        """(rho / roughness_max, tanh(return_slope / slope_scale), tanh(last_r_m / reward_scale)) float32."""
        s = check_signals(signals)
        x = [s.roughness / self.roughness_max, math.tanh(s.return_slope / self.slope_scale),
             math.tanh(s.last_r_m / self.reward_scale)]
        return torch.tensor(x, dtype=torch.float32)

    def probs(self, features: torch.Tensor) -> torch.Tensor:
        with _fp32():
            return torch.softmax(features @ self.weight.T + self.bias, dim=-1)

    def log_prob(self, features: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """log pi_e(k | x) of the action index k (a scalar with gradient)."""
        with _fp32():
            return torch.log_softmax(features @ self.weight.T + self.bias, dim=-1)[action]

    def act(self, signals: LearningSignals) -> float:
        """Sample easier / same / harder, keep it pending for ``update``, return the new roughness."""
        x = self.features(signals)
        with torch.no_grad():
            k = torch.multinomial(self.probs(x), 1, generator=self.generator)[0]
        self.pending = (x, k)
        self.last_action = ENV_ACTIONS[int(k)]
        return self.apply(signals.roughness, int(k))

    def apply(self, roughness: float, k: int) -> float:
        return float(np.clip(roughness + (k - 1) * self.rough_step, 0.0, self.roughness_max))


class RandomMorphology(MorphologyPolicy):
    """"w/o pi_m": random Delta m from pi_m's initial distribution, never updated."""

    def update(self, reward=None, *, valid: bool = True) -> dict:
        self.pending = None
        return {"updated": False}


class RandomEnvironment(EnvironmentPolicy):
    """"w/o pi_e": a uniformly random easier / same / harder step (pi_e at its initial distribution), never updated."""

    update = RandomMorphology.update


class NoOpMorphology:
    """Keeps the current design (fixed-morphology training, the reduction test)."""

    def __init__(self, *, lows, highs):
        self.lows, self.highs = _bounds(lows, highs)

    def act(self, signals: LearningSignals) -> np.ndarray:
        return check_signals(signals).design.copy()

    def update(self, reward=None, *, valid: bool = True) -> dict:
        return {"updated": False}


class NoOpEnvironment:
    """Keeps the current roughness."""

    def __init__(self, *, roughness_max: float):
        self.roughness_max = float(roughness_max)

    def act(self, signals: LearningSignals) -> float:
        return check_signals(signals).roughness

    update = NoOpMorphology.update


class UniformRoughness:
    """Domain randomisation: rho ~ U[0, roughness_max], ignoring the signals (per period or, via ``sample``, per
    episode)."""

    def __init__(self, *, roughness_max: float, seed: int = 0):
        if not (math.isfinite(roughness_max) and roughness_max > 0):
            raise ValueError(f"roughness_max={roughness_max!r} must be finite and > 0")
        self.roughness_max, self.rng = float(roughness_max), np.random.default_rng(seed)

    def act(self, signals: LearningSignals | None = None) -> float:
        if signals is not None:
            check_signals(signals)
        return float(self.sample(1)[0])

    def sample(self, n: int) -> np.ndarray:
        """n roughness values (one per episode)."""
        return self.rng.uniform(0.0, self.roughness_max, size=int(n))

    update = NoOpMorphology.update


MORPH_POLICIES = {"learned": MorphologyPolicy, "random": RandomMorphology, "noop": NoOpMorphology}
ENV_POLICIES = {"learned": EnvironmentPolicy, "random": RandomEnvironment, "noop": NoOpEnvironment,
                "uniform": UniformRoughness}


def make_morph_policy(name: str, *, lows, highs, seed: int = 0, **hyper):
    """The config's ``morph_policy`` string -> pi_m or its stand-in (``hyper``: MorphologyPolicy's keywords)."""
    cls = pick(MORPH_POLICIES, "morph_policy", name)
    if cls is NoOpMorphology:
        return cls(lows=lows, highs=highs)
    return cls(lows=lows, highs=highs, seed=seed, **hyper)


def make_env_policy(name: str, *, roughness_max: float, rough_step: float, seed: int = 0, **hyper):
    """The config's ``env_policy`` string -> pi_e or its stand-in (``hyper``: EnvironmentPolicy's keywords)."""
    cls = pick(ENV_POLICIES, "env_policy", name)
    if cls is NoOpEnvironment:
        return cls(roughness_max=roughness_max)
    if cls is UniformRoughness:
        return cls(roughness_max=roughness_max, seed=seed)
    return cls(roughness_max=roughness_max, rough_step=rough_step, seed=seed, **hyper)


def _bounds(lows, highs) -> tuple[np.ndarray, np.ndarray]:
    lo, hi = np.array(lows, dtype=np.float64), np.array(highs, dtype=np.float64)
    ok = lo.ndim == 1 and lo.shape == hi.shape and lo.size > 0
    if not (ok and np.all(np.isfinite(lo)) and np.all(np.isfinite(hi)) and np.all(hi > lo)):
        raise ValueError(f"bounds: lows={lows!r}, highs={highs!r} must be finite 1-D of one shape with lows < highs")
    return lo, hi
