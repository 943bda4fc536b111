"""MECE's curriculum signals: the training-return log, the rewards r_m and r_e, the learning-signals contract
(papers/mece.md Sec. 2 "Reconstructed" and "Ours", Sec. 6, Sec. 7). The scheduler is in ``scheduler.py``, the
policies pi_m / pi_e in ``design.py``.

Rewards are computed **only from the agent's learning dynamics** (Sec. 2, "Solid"): returns of training episodes
logged per environment, never held-out returns. Both are reconstructions (Eq. 1 / Eq. 2 of the PDF unverified), so
they sit in registries (``MORPH_REWARDS``, ``ENV_REWARDS``) that config strings (``morph_reward``, ``env_reward``)
pick, and the PDF's definitions can be dropped in with the same signatures.

- r_m (Eq. 1, reconstructed): ``r_m = (1/n) sum_i [R(pi, m_t, E_i) - R(pi, m_{t-1}, E_i)]``. Here R(pi, m, E_i) is
  the mean training return of the episodes in environment E_i inside a **window of env steps** on one side of the
  morphology change at step t: before = episodes that ended in ``(t - window, t]`` (the old design m_{t-1}), after =
  episodes that ended in ``(t, t + window]`` (the new design m_t). The E_i are the ``n_envs`` most recent distinct
  environment ids seen in both windows (recency = last episode end in the after window; ties -> smaller id).
- r_e (Eq. 2, reconstructed, "progress"): ``r_e = mean r_m(after) - mean r_m(before)`` over the valid r_m of the
  morphology changes made in ``(t_e - window, t_e]`` and ``(t_e, t_e + window]`` around the environment change t_e
  ("a good environment should accelerate the evolution of the agent"). "level" = mean r_m(after) alone.
- Missing data (an empty side, no environment seen on both sides) gives ``Reward(0.0, valid=False, n=0)``, never an
  exception; the policies skip their update on an invalid reward.

The step counter is whatever monotone counter the caller uses (env steps in our loops); an episode is logged with the
step at which it **ended** and is assumed not to straddle a design change (designs change between rollouts), so an
episode ending exactly at t belongs to the old design. Windows should not exceed the gap between two changes of the
same kind (a config should check ``reward_window <= morph_period``).
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import NamedTuple

import numpy as np

FORBIDDEN = ("held", "test", "eval", "unseen")   # no input of pi_m / pi_e may carry one of these in its name


class Reward(NamedTuple):
    """A reward and whether it was computable (``valid``); ``n`` = environments (r_m) or r_m values (r_e) used."""

    value: float
    valid: bool
    n: int


MISSING = Reward(0.0, False, 0)


class _Columns:
    """Append-only numpy columns in step order (capacity doubles); queries slice by ``np.searchsorted``."""

    DTYPES: dict[str, type] = {}

    def __init__(self):
        self._n = 0
        self._cols = {k: np.empty(16, dtype=d) for k, d in self.DTYPES.items()}

    def __len__(self) -> int:
        return self._n

    def _append(self, **values) -> None:
        for k, d in self.DTYPES.items():
            raw = np.asarray(values[k])
            if np.dtype(d).kind == "i" and raw.dtype.kind == "f" and np.any(raw != np.round(raw)):
                raise ValueError(f"{type(self).__name__}: {k} must be integers (env ids: see env_key), got {raw}")
        arrs = [np.atleast_1d(np.asarray(values[k], dtype=d)) for k, d in self.DTYPES.items()]
        arrs = np.broadcast_arrays(*arrs)
        if arrs[0].ndim != 1:
            raise ValueError(f"{type(self).__name__}.append takes scalars or 1-D arrays, got shape {arrs[0].shape}")
        steps, k = arrs[0], arrs[0].size
        if k == 0:
            return
        last = self._cols["step"][self._n - 1] if self._n else None
        if np.any(np.diff(steps) < 0) or (last is not None and steps[0] < last):
            raise ValueError(f"{type(self).__name__}: steps must be non-decreasing (append-only log), got "
                             f"{steps.tolist()} after {last}")
        for a in arrs:
            if a.dtype.kind == "f" and not np.all(np.isfinite(a)):
                raise ValueError(f"{type(self).__name__}: non-finite value in {a.tolist()}")
        if self._n + k > self._cols["step"].size:
            cap = max(2 * self._cols["step"].size, self._n + k)
            for name in self._cols:
                grown = np.empty(cap, dtype=self._cols[name].dtype)
                grown[:self._n] = self._cols[name][:self._n]
                self._cols[name] = grown
        for name, a in zip(self.DTYPES, arrs):
            self._cols[name][self._n:self._n + k] = a
        self._n += k

    def column(self, name: str) -> np.ndarray:
        """A read-only view of one column (length ``len(self)``)."""
        view = self._cols[name][:self._n]
        view.flags.writeable = False
        return view

    def span(self, lo: float, hi: float) -> slice:
        """The rows whose step lies in ``(lo, hi]`` (steps are sorted)."""
        a, b = np.searchsorted(self._cols["step"][:self._n], [lo, hi], side="right")
        return slice(int(a), int(b))


class ReturnLog(_Columns):
    """One run's training episodes: (step at episode end, environment id, training return), append-only."""

    DTYPES = {"step": np.int64, "env": np.int64, "ret": np.float64}

    def append(self, step, env, ret) -> None:
        """Log one episode (scalars) or several (1-D arrays, steps non-decreasing)."""
        self._append(step=step, env=env, ret=ret)

    steps = property(lambda self: self.column("step"))
    envs = property(lambda self: self.column("env"))
    returns = property(lambda self: self.column("ret"))


class RewardHistory(_Columns):
    """One run's morphology rewards: (step of the morphology change scored, r_m, valid), append-only."""

    DTYPES = {"step": np.int64, "value": np.float64, "valid": np.bool_}

    def append(self, step, value, valid=True) -> None:
        """Record r_m of the morphology change made at ``step`` (a ``Reward`` may be passed as ``value``)."""
        if isinstance(value, Reward):
            value, valid = value.value, value.valid
        self._append(step=step, value=value, valid=valid)

    steps = property(lambda self: self.column("step"))
    values = property(lambda self: self.column("value"))
    valid = property(lambda self: self.column("valid"))


def env_key(roughness, *, rough_step: float) -> np.ndarray:
    """Environment ids of roughness values: the index of the nearest level on the grid ``k * rough_step``."""
    _positive("rough_step", rough_step)
    return np.rint(np.asarray(roughness, dtype=np.float64) / rough_step).astype(np.int64)


def morphology_reward(log: ReturnLog, t_change: int, *, window: int, n_envs: int = 1) -> Reward:
    """r_m of the morphology change at ``t_change`` (Eq. 1, reconstructed; windows in env steps, module docstring)."""
    _positive("window", window)
    _positive("n_envs", n_envs)
    before, after = log.span(t_change - window, t_change), log.span(t_change, t_change + window)
    env_b, env_a = log.envs[before], log.envs[after]
    common = np.intersect1d(env_b, env_a)                        # sorted distinct ids seen on both sides
    if common.size == 0:
        return MISSING
    last = np.full(common.size, np.iinfo(np.int64).min)
    ia = np.searchsorted(common, env_a)
    on = ia < common.size
    on[on] = common[ia[on]] == env_a[on]
    np.maximum.at(last, ia[on], log.steps[after][on])
    order = np.argsort(-last, kind="stable")[:n_envs]           # most recent first; ties -> smaller id
    chosen = common[np.sort(order)]
    mean_b = _group_mean(env_b, log.returns[before], chosen)
    mean_a = _group_mean(env_a, log.returns[after], chosen)
    return Reward(float(np.mean(mean_a - mean_b)), True, int(chosen.size))


def _group_mean(keys: np.ndarray, values: np.ndarray, chosen: np.ndarray) -> np.ndarray:
    """Mean of ``values`` per id in the sorted ``chosen`` (every chosen id occurs in ``keys``)."""
    idx = np.searchsorted(chosen, keys)
    hit = idx < chosen.size
    hit[hit] = chosen[idx[hit]] == keys[hit]
    sums = np.bincount(idx[hit], weights=values[hit], minlength=chosen.size)
    return sums / np.bincount(idx[hit], minlength=chosen.size)


def _r_m_sides(history: RewardHistory, t_change: int, window: int) -> tuple[np.ndarray, np.ndarray]:
    _positive("window", window)
    before, after = history.span(t_change - window, t_change), history.span(t_change, t_change + window)
    return (history.values[before][history.valid[before]], history.values[after][history.valid[after]])


def environment_reward(history: RewardHistory, t_change: int, *, window: int) -> Reward:
    """r_e "progress" (Eq. 2, reconstructed): mean valid r_m after the environment change at ``t_change`` minus
    mean valid r_m before it (morphology changes in ``(t - window, t]`` and ``(t, t + window]``)."""
    b, a = _r_m_sides(history, t_change, window)
    if b.size == 0 or a.size == 0:
        return MISSING
    return Reward(float(a.mean() - b.mean()), True, int(a.size))


def environment_level_reward(history: RewardHistory, t_change: int, *, window: int) -> Reward:
    """r_e "level": mean valid r_m of the morphology changes in ``(t, t + window]`` after the environment change."""
    _, a = _r_m_sides(history, t_change, window)
    return Reward(float(a.mean()), True, int(a.size)) if a.size else MISSING


MorphReward = Callable[..., Reward]   # (log: ReturnLog, t_change: int, *, window: int, n_envs: int) -> Reward
EnvReward = Callable[..., Reward]     # (history: RewardHistory, t_change: int, *, window: int) -> Reward
MORPH_REWARDS: dict[str, MorphReward] = {"progress": morphology_reward}
ENV_REWARDS: dict[str, EnvReward] = {"progress": environment_reward, "level": environment_level_reward}


def pick(registry: dict, field: str, name: str):
    """``registry[name]``, or a ValueError naming the config field, the value and the valid choices."""
    if name not in registry:
        raise ValueError(f"{field}={name!r}: must be one of {sorted(registry)}")
    return registry[name]


@dataclass(frozen=True, eq=False)
class LearningSignals:
    """Everything pi_m and pi_e may observe: training-only learning-dynamics signals (Sec. 2 "computed only from the
    agent's learning dynamics"; Sec. 7 "never held-out returns"). No field may name held-out / test / eval data."""

    step: int
    """Training env steps so far."""
    design: np.ndarray
    """Current morphology m, (D,) in physical units (the robot's bounds)."""
    roughness: float
    """Current training roughness in [0, roughness_max]."""
    train_return: float
    """Mean return of the training episodes at the last check point (current environment)."""
    return_slope: float
    """Normalised least-squares slope of recent training returns (``scheduler.normalised_slope``)."""
    last_r_m: float
    """The last valid morphology reward (0.0 before any)."""

    def __post_init__(self):
        design = np.array(self.design, dtype=np.float64)          # a private copy, read-only
        if design.ndim != 1 or design.size == 0 or not np.all(np.isfinite(design)):
            raise ValueError(f"LearningSignals.design must be a finite 1-D vector, got {self.design!r}")
        design.flags.writeable = False
        object.__setattr__(self, "design", design)
        for name in ("roughness", "train_return", "return_slope", "last_r_m"):
            v = float(getattr(self, name))
            if not math.isfinite(v):
                raise ValueError(f"LearningSignals.{name}={v!r} must be finite")
            object.__setattr__(self, name, v)
        object.__setattr__(self, "step", int(self.step))


def check_signals(signals) -> LearningSignals:
    """The inputs contract of pi_m / pi_e: only a ``LearningSignals`` (whose fields are training-only) is accepted."""
    if type(signals) is not LearningSignals:
        raise TypeError(f"pi_m / pi_e observe only LearningSignals (training-only fields "
                        f"{[f.name for f in fields(LearningSignals)]}), got {type(signals).__name__}")
    return signals


def _positive(name: str, v) -> None:
    if not v > 0:
        raise ValueError(f"{name}={v!r} must be > 0")
