"""MECE's scheduler: when to change the environment (query pi_e) and when to change the morphology (apply pi_m)
(papers/mece.md Sec. 2 "Reconstructed": "keep the environment while the agent improves; when the slope of the return
in the current environment falls below a threshold (plateau), query pi_e; otherwise apply pi_m at a fixed period";
Sec. 6 baseline "fixed alternation instead of the scheduler"; Sec. 7 scheduler tests; F5 trace).

The scheduler is fed one number per **check point** (the mean return of the training episodes since the last check
point, e.g. one PPO iteration) with the run's step counter, and answers one of ``EVENTS``.

- Plateau statistic (our normalisation): the least-squares slope of the last ``window`` check-point returns against
  their index (return units per check point) divided by ``max(|mean of those returns|, scale_floor)``: the relative
  improvement per check point, unit-free across environments whose return scales differ. Plateau <=> statistic
  < ``epsilon``. The LS slope of equally spaced points is a positively weighted average of the successive differences
  (weights 6k(W-k) / (W(W^2-1)), summing to 1), so a strictly rising curve never has a negative statistic: with
  epsilon <= 0 it never fires, and with epsilon > 0 it never fires while every increment exceeds
  ``epsilon * max(|y|, scale_floor)``.
- ``PlateauScheduler``: "env" when the curve of the **current environment** (reset at every "env" event, kept across
  morphology changes) has at least ``window`` points, is on a plateau, and at least ``min_gap`` steps have passed since
  the last "env" event (or the start); else "morph" when ``morph_period`` steps have passed since the last "morph"
  event (or the start); else "none". On a tie "env" wins and "morph" comes at the next check point.
- ``FixedAlternation``: an event every ``period`` steps, kinds alternating (``first`` = "env" by default); with
  ``period = morph_period // 2`` (``make_scheduler``) pi_m fires at the plateau scheduler's morphology rate.
- ``Schedule``: the events (step, kind) and every check point (step, return, statistic): the F5 trace.
One scheduler object per run (they fire a few dozen times per run; the per-check-point work is O(window)).
"""
from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

import numpy as np

EVENTS = ("none", "morph", "env")


def ls_slope(y) -> float:
    """Least-squares slope of ``y`` against 0..n-1 (0.0 for fewer than two points)."""
    y = np.asarray(y, dtype=np.float64)
    if y.size < 2:
        return 0.0
    x = np.arange(y.size, dtype=np.float64) - (y.size - 1) / 2.0
    return float(x @ (y - y.mean()) / (x @ x))


def normalised_slope(y, *, scale_floor: float = 1.0) -> float:
    """``ls_slope(y) / max(|mean(y)|, scale_floor)``: the plateau statistic (module docstring)."""
    y = np.asarray(y, dtype=np.float64)
    if y.size < 2:
        return 0.0
    return ls_slope(y) / max(abs(float(y.mean())), scale_floor)


@dataclass
class Schedule:
    """The F5 trace of one run: events (step, kind) and check points (step, training return, plateau statistic)."""

    event_steps: list[int] = field(default_factory=list)
    event_kinds: list[str] = field(default_factory=list)
    check_steps: list[int] = field(default_factory=list)
    check_returns: list[float] = field(default_factory=list)
    check_slopes: list[float] = field(default_factory=list)

    def steps_of(self, kind: str) -> np.ndarray:
        """Steps of the events of one kind ("morph" or "env")."""
        if kind not in EVENTS[1:]:
            raise ValueError(f"kind={kind!r}: must be one of {list(EVENTS[1:])}")
        return np.array([s for s, k in zip(self.event_steps, self.event_kinds) if k == kind], dtype=np.int64)

    def as_arrays(self) -> dict[str, np.ndarray]:
        """Plain arrays for the raw results (replib.store round-trips them)."""
        return {"event_steps": np.asarray(self.event_steps, dtype=np.int64),
                "event_kinds": np.asarray(self.event_kinds, dtype=str),
                "check_steps": np.asarray(self.check_steps, dtype=np.int64),
                "check_returns": np.asarray(self.check_returns, dtype=np.float64),
                "check_slopes": np.asarray(self.check_slopes, dtype=np.float64)}


class _Scheduler:
    """The current environment's return curve (last ``window`` points), its statistic and the event record."""

    def __init__(self, *, window: int, scale_floor: float, start: int):
        if int(window) != window or window < 2:
            raise ValueError(f"window={window!r} must be an integer >= 2")
        if not scale_floor > 0:
            raise ValueError(f"scale_floor={scale_floor!r} must be > 0")
        self.window, self.scale_floor = int(window), float(scale_floor)
        self.curve: deque[float] = deque(maxlen=self.window)
        self.n_points = 0                                     # check points since the last "env" event
        self.last_step = self.last_env = self.last_morph = int(start)
        self.slope = 0.0
        self.schedule = Schedule()

    def _observe(self, step: int, ret: float) -> int:
        step = int(step)
        if step < self.last_step:
            raise ValueError(f"step={step} is before the previous check point {self.last_step}")
        if not math.isfinite(ret):
            raise ValueError(f"training return {ret!r} must be finite")
        self.last_step = step
        self.curve.append(float(ret))
        self.n_points += 1
        self.slope = normalised_slope(self.curve, scale_floor=self.scale_floor)
        s = self.schedule
        s.check_steps.append(step)
        s.check_returns.append(float(ret))
        s.check_slopes.append(self.slope)
        return step

    def _fire(self, step: int, kind: str) -> str:
        if kind == "env":
            self.last_env = step
            self.curve.clear()
            self.n_points = 0
        elif kind == "morph":
            self.last_morph = step
        if kind != "none":
            self.schedule.event_steps.append(step)
            self.schedule.event_kinds.append(kind)
        return kind


class PlateauScheduler(_Scheduler):
    """Plateau -> "env" (query pi_e); every ``morph_period`` steps -> "morph" (apply pi_m) (module docstring)."""

    def __init__(self, *, window: int, epsilon: float, morph_period: int, min_gap: int = 0,
                 scale_floor: float = 1.0, start: int = 0):
        super().__init__(window=window, scale_floor=scale_floor, start=start)
        if not math.isfinite(epsilon):
            raise ValueError(f"epsilon={epsilon!r} must be finite")
        if not morph_period > 0:
            raise ValueError(f"morph_period={morph_period!r} must be > 0")
        if not min_gap >= 0:
            raise ValueError(f"min_gap={min_gap!r} must be >= 0")
        self.epsilon, self.morph_period, self.min_gap = float(epsilon), morph_period, min_gap

    def decide(self, step: int, ret: float) -> str:
        """Feed the check point (step, mean training return) and get "none", "morph" or "env"."""
        step = self._observe(step, ret)
        if (self.n_points >= self.window and self.slope < self.epsilon
                and step - self.last_env >= self.min_gap):
            return self._fire(step, "env")
        if step - self.last_morph >= self.morph_period:
            return self._fire(step, "morph")
        return "none"


class FixedAlternation(_Scheduler):
    """Baseline: an event every ``period`` steps, alternating "env" and "morph"; ``ret`` only feeds the trace."""

    def __init__(self, *, period: int, window: int = 5, first: str = "env", scale_floor: float = 1.0,
                 start: int = 0):
        super().__init__(window=window, scale_floor=scale_floor, start=start)
        if not period > 0:
            raise ValueError(f"period={period!r} must be > 0")
        if first not in EVENTS[1:]:
            raise ValueError(f"first={first!r}: must be one of {list(EVENTS[1:])}")
        self.period, self.next_kind, self.last_event = period, first, int(start)

    def decide(self, step: int, ret: float = 0.0) -> str:
        step = self._observe(step, ret)
        if step - self.last_event < self.period:
            return "none"
        kind, self.last_event = self.next_kind, step
        self.next_kind = "morph" if kind == "env" else "env"
        return self._fire(step, kind)


SCHEDULERS = ("plateau", "fixed_alternation")


def make_scheduler(name: str, *, window: int, epsilon: float, morph_period: int, min_gap: int = 0,
                   scale_floor: float = 1.0, start: int = 0) -> PlateauScheduler | FixedAlternation:
    """The config's ``scheduler`` string -> a scheduler; "fixed_alternation" uses ``period = max(1, morph_period // 2)``
    so pi_m fires every ``morph_period`` steps in both (ignores epsilon and min_gap)."""
    if name == "plateau":
        return PlateauScheduler(window=window, epsilon=epsilon, morph_period=morph_period, min_gap=min_gap,
                                scale_floor=scale_floor, start=start)
    if name == "fixed_alternation":
        return FixedAlternation(period=max(1, morph_period // 2), window=window, scale_floor=scale_floor, start=start)
    raise ValueError(f"scheduler={name!r}: must be one of {list(SCHEDULERS)}")
