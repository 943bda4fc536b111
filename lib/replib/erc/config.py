"""Configuration of the ERC notebook: one dataclass, three profiles (smoke, quick, full)."""
from __future__ import annotations

from dataclasses import dataclass

from ..rl.envs import task_names
from ..runtime import build_config, resolve_precision

FORMS = ("code", "signed", "rebuttal")


@dataclass
class Config:
    """ERC replication settings; defaults are the quick profile (2 CPU cores, minutes)."""

    # --- tabular theory (F1, F2) ---
    tab_states: int = 20
    """states of the random MDP (F1)."""
    tab_actions: int = 4
    """actions of the random MDP."""
    tab_gamma: float = 0.99
    """discount of both tabular MDPs."""
    tab_alpha: float = 0.5
    """step size of expected TD on the random MDP."""
    tab_iters: int = 200
    """expected-TD iterations on the random MDP."""
    ring_states: int = 30
    """states of the slowly mixing ring MDP (F2)."""
    ring_actions: int = 3
    """actions of the ring MDP."""
    ring_lr: float = 0.3
    """learning rate of full-batch semi-gradient TD on the ring (lr * (1 + beta) < 2)."""
    ring_betas: tuple = (0.0, 0.5, 1.0, 2.0)
    """ERC strengths of the ring experiment (0 = plain TD)."""
    ring_iters: int = 1000
    """iterations on the ring MDP."""

    # --- deep RL (F3-F6) ---
    tasks: tuple = ("cartpole-swingup", "pendulum-swingup", "walker-stand")
    """dm_control tasks as domain-task names."""
    methods: tuple = ("sac", "erc")
    """methods trained side by side ('sac' = beta 0)."""
    seeds: int = 3
    """seeds per method: seed .. seed + seeds - 1 (SAC and ERC share them)."""
    steps: int = 12_000
    """agent steps per run (environment steps = steps * action_repeat); the paper trains 1e6."""
    start_steps: int = 1_000
    """uniform-random steps before updates start (paper: 25,000)."""
    action_repeat: int = 4
    """repeat each action this many simulator steps (ERC: 1; quick uses 4 so that 12k agent steps cover
    48k environment steps and show learning)."""
    utd: int = 1
    """gradient updates per environment step (camera-ready main.py: 5; class default and log: 1)."""
    hidden: int = 64
    """width of the hidden layers (paper: 256; quick shrinks it to fit 2 CPU cores)."""
    batch_size: int = 256
    """replay batch per update."""
    beta: float = 0.005
    """ERC strength (official default)."""
    erc_form: str = "code"
    """'code' (official: squared TD errors, detached mean, clipped), 'signed' (paper's text), 'rebuttal'."""
    erc_clip: float | None = 1e-2
    """per-sample cap of the ERC term (official 1e-2; None = no clip)."""
    eval_every: int = 1_500
    """agent steps between evaluations."""
    eval_episodes: int = 2
    """deterministic evaluation episodes per run and evaluation (paper's code: none)."""
    log_every: int = 500
    """agent steps between logged TD-error statistics."""
    threads: int = 0
    """torch CPU threads (0 = leave torch's default)."""

    precision: str = "auto"
    """precision of the SAC networks' forwards (updates and acting; replib.runtime.autocast): 'auto' = bf16
    autocast on CUDA, fp32 on CPU (every committed figure is fp32), 'fp32' or 'bf16'. Losses, TD errors and
    the regulariser are computed in fp32."""

    def validate(self) -> None:
        resolve_precision(self.precision)
        valid = task_names()
        bad = [t for t in self.tasks if t not in valid]
        if bad:
            raise ValueError(f"unknown task(s) {bad}; valid: {', '.join(valid)}")
        if set(self.methods) - {"sac", "erc"} or not self.methods:
            raise ValueError(f"methods must be a subset of ('sac', 'erc'), got {self.methods}")
        if self.erc_form not in FORMS:
            raise ValueError(f"erc_form must be one of {FORMS}, got {self.erc_form!r}")
        if not 0 <= self.start_steps < self.steps:
            raise ValueError(f"need 0 <= start_steps < steps, got {self.start_steps}, {self.steps}")
        if self.beta < 0 or self.seeds < 1 or self.eval_episodes < 1 or self.hidden < 1:
            raise ValueError("beta must be >= 0 and seeds, eval_episodes, hidden >= 1")
        if max(self.ring_betas) * self.ring_lr + self.ring_lr >= 2:
            raise ValueError(f"ring_lr * (1 + beta) must stay below 2 for stable TD; got lr {self.ring_lr}, "
                             f"betas {self.ring_betas}")


PROFILES = {
    # smoke keeps the tabular part at full size (numpy, 0.1 s), so its exact claims are judged there too
    "smoke": dict(action_repeat=1, tasks=("cartpole-swingup",), seeds=1, steps=400,
                  start_steps=200, hidden=16, batch_size=32, eval_every=200, eval_episodes=1, log_every=100),
    "quick": dict(),
    "full": dict(tasks=("cartpole-swingup", "pendulum-swingup", "hopper-stand", "finger-turn_hard"), seeds=5,
                 steps=1_000_000, start_steps=25_000, hidden=256, action_repeat=1, eval_every=10_000, eval_episodes=10,
                 log_every=5_000),
}


def get_config(profile: str = "quick", **overrides) -> Config:
    """Config for ``profile`` with ``overrides``; unknown keys or profiles raise ValueError."""
    return build_config(Config, PROFILES, profile, overrides)


def required_assets(cfg: Config) -> tuple[str, ...]:
    """No models or datasets: the dm_control tasks ship with the dm_control package (``replib.assets.require``)."""
    return ()
