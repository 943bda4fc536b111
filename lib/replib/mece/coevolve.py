"""One run's co-evolution state: its morphology, its training terrain, pi_m, pi_e, the scheduler and the logs that
feed r_m and r_e (papers/mece.md Sec. 2 "Reconstructed"; the wiring of tests/unit/test_mece_curriculum.toy_loop).

Per run (``RunDesign``):

- every finished training episode is logged with the step it ended at and the id of the terrain level it ran on
  (``curriculum.env_key`` of the roughness): the learning-dynamics signal r_m and r_e are computed from;
- at every check point (``cfg.check_every`` agent steps) the mean return of the episodes finished since the last
  one goes to the scheduler, which answers "none", "morph" or "env":
  * "morph": the previous morphology change gets its r_m (``cfg.morph_reward`` over ``cfg.reward_window`` steps on
    both sides, ``cfg.n_envs`` terrain levels), pi_m is updated with it and acts: a new morphology;
  * "env": the previous environment change gets its r_e (``cfg.env_reward`` over ``cfg.env_window`` steps of r_m
    history, from the r_m scored by now: ``min_gap >= 2 morph_period`` guarantees at least one after that change),
    pi_e is updated with it and acts: a new roughness on a fresh training terrain seed;
- a change is returned to the caller (who rebuilds that run's simulator copy, restarting its episode); a policy
  that returns the current design (the no-op stand-ins) changes nothing, so no episode is cut: MECE with no-op
  pi_m and pi_e is exactly fixed-morphology training (a test).

pi_m and pi_e see ``LearningSignals`` only (training returns, their slope, the last r_m, the current design):
never a held-out return.
"""
from __future__ import annotations

import numpy as np

from .curriculum import (
    ENV_REWARDS,
    MORPH_REWARDS,
    LearningSignals,
    ReturnLog,
    RewardHistory,
    env_key,
    pick,
)
from .design import make_env_policy, make_morph_policy
from .morphology import DEFAULT, FIELDS, HIGHS, LOWS, from_vector, terrain_seed, to_vector
from .scheduler import make_scheduler

SPECS: dict[str, tuple[str, str, str]] = {
    # method: (pi_m, pi_e, scheduler)
    "mece": ("learned", "learned", "plateau"),
    "fixed": ("noop", "noop", "plateau"),              # default robot on flat ground: plain RL
    "morph_flat": ("learned", "noop", "plateau"),      # morphology-only on flat ground
    "dr": ("learned", "uniform", "plateau"),           # morphology + uniformly random roughness (domain randomisation)
    "no_pi_e": ("learned", "random", "plateau"),       # random roughness walk instead of pi_e
    "no_pi_m": ("random", "learned", "plateau"),       # random Delta m instead of pi_m
    "alternation": ("learned", "learned", "fixed_alternation"),
}
TERRAINS_PER_RUN = 10_000        # training terrain seeds of run seed s: s * 10,000 + k, k = 0, 1, ...


class RunDesign:
    """The design side of one run (module docstring)."""

    def __init__(self, method: str, seed: int, cfg):
        m_name, e_name, s_name = pick(SPECS, "method", method)
        self.method, self.seed, self.cfg = method, int(seed), cfg
        self.morph_reward = pick(MORPH_REWARDS, "morph_reward", cfg.morph_reward)
        self.env_reward = pick(ENV_REWARDS, "env_reward", cfg.env_reward)
        self.pi_m = make_morph_policy(m_name, lows=LOWS, highs=HIGHS, seed=self.seed, max_step=cfg.morph_step,
                                      lr=cfg.morph_lr)
        self.pi_e = make_env_policy(e_name, roughness_max=cfg.roughness_max, rough_step=cfg.rough_step,
                                    seed=self.seed + 1, **({} if e_name in ("noop", "uniform") else
                                                           {"lr": cfg.env_lr, "slope_scale": cfg.epsilon}))
        self.scheduler = make_scheduler(s_name, window=cfg.window, epsilon=cfg.epsilon,
                                        morph_period=cfg.morph_period, min_gap=cfg.min_gap)
        self.morph, self.roughness, self.terrain_k = dict(DEFAULT), 0.0, 0
        self.log, self.history = ReturnLog(), RewardHistory()
        self.t_m = self.t_e = None
        self.last_r_m = 0.0
        self._pending: list[float] = []
        self.trace: list[dict] = []                 # one row per check point (F3, F5)

    @property
    def terrain(self) -> int:
        """The training terrain seed in use (never a test seed: ``terrain_seed('train', .)``)."""
        return terrain_seed("train", self.seed * TERRAINS_PER_RUN + self.terrain_k)

    def episode(self, step: int, ret: float) -> None:
        """A training episode of this run ended at ``step`` with return ``ret``."""
        self.log.append(step, env_key(self.roughness, rough_step=self.cfg.rough_step), ret)
        self._pending.append(float(ret))

    def check(self, step: int) -> dict | None:
        """A check point: -> {"morph": dict | None, "roughness": float | None, "seed": int | None} when the design
        changed, else None. No episode finished since the last check point: no decision."""
        if not self._pending:
            return None
        ret = float(np.mean(self._pending))
        self._pending = []
        kind = self.scheduler.decide(step, ret)
        signals = LearningSignals(step=step, design=to_vector(self.morph), roughness=self.roughness,
                                  train_return=ret, return_slope=self.scheduler.slope, last_r_m=self.last_r_m)
        change = None
        if kind == "morph":
            change = self._morph(step, signals)
        elif kind == "env":
            change = self._env(step, signals)
        self.trace.append({"step": step, "kind": kind, "train_return": ret, "slope": self.scheduler.slope,
                           "roughness": self.roughness, **self.morph})
        return change

    def _morph(self, step: int, signals: LearningSignals) -> dict | None:
        if self.t_m is not None:
            r_m = self.morph_reward(self.log, self.t_m, window=self.cfg.reward_window, n_envs=self.cfg.n_envs)
            self.history.append(self.t_m, r_m)
            self.pi_m.update(r_m)
            self.last_r_m = r_m.value if r_m.valid else self.last_r_m
        new = from_vector(self.pi_m.act(signals))
        self.t_m = step
        if all(new[f] == self.morph[f] for f in FIELDS):
            return None
        self.morph = new
        return {"morph": new, "roughness": None, "seed": None}

    def _env(self, step: int, signals: LearningSignals) -> dict | None:
        if self.t_e is not None:
            self.pi_e.update(self.env_reward(self.history, self.t_e, window=self.cfg.env_window))
        rough = float(self.pi_e.act(signals))
        self.t_e = step
        if rough == self.roughness:
            return None
        self.roughness, self.terrain_k = rough, self.terrain_k + 1
        return {"morph": None, "roughness": rough, "seed": self.terrain}
