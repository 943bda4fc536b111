"""Configuration of the MECE notebook: one dataclass, three profiles (smoke, quick, full).

MECE has no public code and its PDF's hyperparameters are not in the spec (papers/mece.md Sec. 3): every field
below marked "ours" is a choice of this reconstruction, stated in the notebook.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..runtime import build_config, resolve_precision
from .curriculum import ENV_REWARDS, MORPH_REWARDS, pick
from .morphology import MAX_ROUGHNESS

METHODS = ("mece", "fixed", "morph_flat", "dr", "no_pi_e", "no_pi_m", "alternation")
"""MECE, the baselines (fixed morphology on flat ground; morphology-only on flat ground; morphology with uniformly
random roughness = domain randomisation) and the ablations (w/o pi_e: random roughness walk; w/o pi_m: random
Delta m; fixed alternation instead of the plateau scheduler)."""


@dataclass
class Config:
    """MECE replication settings; defaults are the quick profile (2 CPU cores, ~15 minutes)."""

    # --- runs ---
    methods: tuple = METHODS
    """methods trained together (one SAC ensemble of len(methods) x seeds runs)."""
    seeds: int = 3
    """seeds per method: seed .. seed + seeds - 1 (SAC init, exploration, replay, reset noise, terrains, pi_m, pi_e)."""
    steps: int = 30_000
    """agent steps per run (Transform2Act: 5e7 environment steps; spec full: 2-5e5)."""
    start_steps: int = 1_000
    """uniform-random steps before SAC updates start."""
    hidden: int = 64
    """SAC hidden width (256 at full)."""
    batch_size: int = 256
    """SAC batch per run."""
    utd: int = 1
    """SAC updates per environment step."""

    # --- robot and terrain ---
    frame_skip: int = 4
    """physics steps per action (dt = 8 ms, gym Hopper)."""
    max_steps: int = 400
    """episode cap (gym Hopper: 1000)."""
    n_ahead: int = 10
    """terrain heights ahead of the torso in the observation (every 0.2 m)."""
    roughness_max: float = 0.12
    """largest training roughness (ours; metres of bump amplitude scale, see morphology.terrain_heights)."""
    rough_step: float = 0.03
    """pi_e's easier / harder step (ours)."""
    test_roughness: tuple = (0.0, 0.06, 0.12, 0.24)
    """held-out roughness grid (includes values above roughness_max: unseen harder terrain)."""
    test_terrains: int = 2
    """held-out terrain seeds per roughness (disjoint from training seeds by construction)."""

    # --- scheduler and rewards (ours: the PDF's Eq. 1/2 and Algorithm 2 are not available) ---
    check_every: int = 500
    """agent steps between scheduler check points."""
    window: int = 4
    """check points in the plateau slope."""
    epsilon: float = 0.01
    """plateau threshold on the relative slope per check point."""
    morph_period: int = 2_000
    """agent steps between morphology changes."""
    min_gap: int = 4_000
    """least agent steps between environment changes; >= 2 x morph_period, so that by the next environment change
    at least one morphology change after this one has its r_m (r_e is scored then, from the r_m scored by then)."""
    reward_window: int = 2_000
    """agent steps before / after a change over which r_m averages training returns (<= morph_period)."""
    env_window: int = 4_000
    """agent steps before / after an environment change over which r_e compares r_m (covers a few r_m)."""
    n_envs: int = 2
    """environments r_m averages over."""
    morph_reward: str = "progress"
    """r_m definition (curriculum.MORPH_REWARDS)."""
    env_reward: str = "progress"
    """r_e definition (curriculum.ENV_REWARDS)."""
    morph_step: float = 0.2
    """pi_m's largest change per action, in normalised units of the bounds box."""
    morph_lr: float = 0.01
    """pi_m's Adam learning rate."""
    env_lr: float = 0.05
    """pi_e's Adam learning rate."""

    # --- evaluation ---
    eval_every: int = 5_000
    """agent steps between held-out evaluations (F4 curves); the last one is F1."""
    threads: int = 2
    """threads stepping the simulator copies (mj_step releases the GIL)."""
    precision: str = "auto"
    """SAC networks' precision (replib.runtime.autocast): 'auto' = bf16 autocast on CUDA, fp32 on CPU."""

    def validate(self) -> None:
        resolve_precision(self.precision)
        bad = [m for m in self.methods if m not in METHODS]
        if bad:
            raise ValueError(f"unknown method(s) {bad}; valid: {', '.join(METHODS)}")
        if "mece" in self.methods and "fixed" not in self.methods:
            raise ValueError("methods must include 'fixed' when 'mece' is run (the claims compare with it)")
        pick(MORPH_REWARDS, "morph_reward", self.morph_reward)
        pick(ENV_REWARDS, "env_reward", self.env_reward)
        positive = ("seeds", "steps", "hidden", "batch_size", "utd", "frame_skip", "max_steps", "check_every", "window",
                    "morph_period", "reward_window", "env_window", "n_envs", "eval_every", "threads", "test_terrains")
        bad = {k: getattr(self, k) for k in positive if getattr(self, k) < 1}
        if bad:
            raise ValueError(f"{bad}: {', '.join(positive)} must all be >= 1")
        if not 0 <= self.start_steps < self.steps:
            raise ValueError(f"need 0 <= start_steps < steps, got {self.start_steps}, {self.steps}")
        if self.reward_window > self.morph_period:
            raise ValueError(f"reward_window={self.reward_window} must be <= morph_period={self.morph_period}: "
                             "r_m's windows must not straddle two morphology changes")
        if self.min_gap < 2 * self.morph_period:
            raise ValueError(f"min_gap={self.min_gap} must be >= 2 x morph_period={self.morph_period}: pi_e's reward "
                             "r_e needs a scored r_m after each environment change before the next one")
        if not 0 < self.roughness_max <= MAX_ROUGHNESS or not 0 < self.rough_step <= self.roughness_max:
            raise ValueError(f"need 0 < rough_step <= roughness_max <= {MAX_ROUGHNESS}; got rough_step="
                             f"{self.rough_step}, roughness_max={self.roughness_max}")
        if not self.test_roughness or not all(0 <= r <= MAX_ROUGHNESS for r in self.test_roughness):
            raise ValueError(f"test_roughness must be a non-empty tuple of values in [0, {MAX_ROUGHNESS}]")


PROFILES: dict[str, dict] = {
    "smoke": dict(seeds=1, steps=600, start_steps=200, hidden=16, batch_size=32,   # the pipeline only
                  max_steps=100, check_every=100, window=2, morph_period=200, min_gap=400, reward_window=200,
                  env_window=400,
                  eval_every=300, test_roughness=(0.0, 0.12), test_terrains=1, methods=("mece", "fixed", "dr")),
    "quick": dict(),
    "full": dict(seeds=5,
                 steps=300_000,          # spec Sec. 6: 200-500k environment steps per run
                 start_steps=10_000,
                 hidden=256,             # SAC's usual width
                 max_steps=1000,         # gym Hopper's episode
                 check_every=5_000, morph_period=20_000, min_gap=40_000, reward_window=20_000, env_window=40_000,
                 window=5,
                 eval_every=25_000, test_terrains=5,
                 threads=8),
}


def get_config(profile: str = "quick", **overrides) -> Config:
    """Config for ``profile`` with ``overrides``; unknown keys or profiles raise ValueError."""
    return build_config(Config, PROFILES, profile, overrides)


def required_assets(cfg: Config) -> tuple[str, ...]:
    """MECE needs no data or model files (MuJoCo robots are generated)."""
    return ()
