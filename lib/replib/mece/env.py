"""The MECE 2D-locomotion environment: a hopper of morphology m on terrain of roughness theta (papers/mece.md Sec. 6).

``MorphEnv`` has replib.rl.envs.DMCEnv's interface (obs_dim, act_dim, sim_seconds, reset(), step(a) ->
(next_obs, reward, terminal, last)) plus ``set_design`` (a new MjModel + MjData when m or the terrain changes;
obs_dim and act_dim never change). Execution step as Transform2Act's hopper (spec Sec. 3) / gym Hopper-v5:

- action a in [-1, 1]^3 (clipped) drives the thigh, leg and foot motors for ``frame_skip`` = 4 physics steps of
  2 ms (dt = 8 ms);
- reward = (x_after - x_before) / dt + 1 - 1e-3 |a|^2: Transform2Act's forward velocity + alive bonus 1 (paid on
  every step, as Transform2Act does; gym v5 pays it only while healthy) minus gym Hopper's control cost
  (ctrl_cost_weight 1e-3; Transform2Act has none);
- healthy <=> finite state, |qpos[2:]|, |qvel| < 100 (gym's healthy_state_range), height h of the torso centre
  above the ground under it in (0.7, 2.0) x start_height(m) / 1.25 (Transform2Act's min/max_height 0.7 / 2.0 for
  a robot that starts at gym's 1.25; scaled, so a short-legged morphology is not terminated at once; the same
  for DEFAULT), and |torso angle| < max_ang = 20 deg (Transform2Act cfg/hopper.yml; gym: 0.2 rad);
  ``terminal`` = not healthy; ``last`` = terminal or ``max_steps`` reached (the time limit is not terminal);
- reset as gym: qpos0 + U(-5e-3, 5e-3) and U(-5e-3, 5e-3) velocities (reset_noise_scale 5e-3) from the
  environment's own numpy Generator, default_rng((noise_seed, 1)), noise_seed defaulting to the terrain seed.

Observation (float32, obs_dim = 11 + len(FIELDS) + n_ahead): [h (gym's qpos[1] with the ground height under
the torso subtracted: equal to gym's on flat ground), torso angle, 3 joint angles, qvel clipped to [-10, 10]
(6, Transform2Act's clip_qvel), normalise(m) (11), terrain heights at x_torso + k * ahead_dx, k = 1..n_ahead,
minus the ground height under the torso (all 0 on flat ground)].

``MorphEnvBatch`` is replib.rl.envs.EnvBatch over MorphEnvs (each copy with its own m and terrain); with
``threads`` > 1 the copies' mj_step calls run in a thread pool (MuJoCo's bindings release the GIL inside
mj_step), the Python parts stay serial. ``evaluate`` runs one episode per copy in lockstep.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import mujoco
import numpy as np

from replib.rl.envs import EnvBatch

from .morphology import (
    FIELDS,
    GYM_START_HEIGHT,
    TERRAIN_X,
    build_model,
    check,
    ground_height,
    normalise,
    start_height,
    terrain_heights,
)

PROPRIO_DIM = 11                 # h, angle, 3 joint angles, 6 velocities
CTRL_COST = 1e-3                 # gym Hopper ctrl_cost_weight
ALIVE_BONUS = 1.0                # Transform2Act reward_specs alive_bonus
HEIGHT_RANGE = (0.7, 2.0)        # Transform2Act done_condition min_height / max_height, for a start at 1.25
RESET_NOISE = 5e-3               # gym Hopper reset_noise_scale
QVEL_CLIP = 10.0                 # Transform2Act clip_qvel
STATE_LIMIT = 100.0              # gym Hopper healthy_state_range


class MorphEnv:
    """One hopper of morphology ``morph`` on terrain (``roughness``, ``seed``); see the module docstring."""

    def __init__(self, morph: dict[str, float], roughness: float, seed: int, *, frame_skip: int = 4,
                 max_steps: int = 1000, n_ahead: int = 10, ahead_dx: float = 0.2, max_ang: float = 20.0,
                 noise_seed: int | None = None):
        for name, v, lo in (("frame_skip", frame_skip, 1), ("max_steps", max_steps, 1), ("n_ahead", n_ahead, 0)):
            if not isinstance(v, (int, np.integer)) or v < lo:
                raise ValueError(f"{name} must be an int >= {lo}, got {v!r}")
        if not (math.isfinite(ahead_dx) and ahead_dx > 0):
            raise ValueError(f"ahead_dx must be > 0 (metres), got {ahead_dx!r}")
        if not (0 < max_ang <= 180):
            raise ValueError(f"max_ang must be in (0, 180] degrees, got {max_ang!r}")
        self.frame_skip, self.max_steps, self.n_ahead = int(frame_skip), int(max_steps), int(n_ahead)
        self.ahead = ahead_dx * np.arange(1, n_ahead + 1)
        self._offsets = np.concatenate(([0.0], self.ahead))
        self.max_ang = math.radians(max_ang)
        self.act_dim = 3
        self.obs_dim = PROPRIO_DIM + len(FIELDS) + self.n_ahead
        self.sim_seconds = 0.0
        self.rng = np.random.default_rng((seed if noise_seed is None else noise_seed, 1))
        self.morph, self.roughness, self.seed = None, None, None
        self.set_design(morph, roughness, seed)

    def set_design(self, morph: dict[str, float] | None = None, roughness: float | None = None,
                   seed: int | None = None) -> None:
        """Rebuild the model for a new morphology and / or terrain (None keeps the current one); call reset()
        before the next step. The reset-noise Generator carries on (it is not reseeded)."""
        morph = check(self.morph if morph is None else morph)
        roughness = self.roughness if roughness is None else float(roughness)
        seed = self.seed if seed is None else int(seed)
        self.model = build_model(morph, roughness, seed)
        self.data = mujoco.MjData(self.model)
        self.morph, self.roughness, self.seed = morph, roughness, seed
        self.heights = terrain_heights(roughness, seed)
        self.morph_obs = normalise(morph).astype(np.float32)
        self.dt = self.model.opt.timestep * self.frame_skip
        scale = start_height(morph) / GYM_START_HEIGHT
        self.height_range = (HEIGHT_RANGE[0] * scale, HEIGHT_RANGE[1] * scale)
        self.steps, self._ready = 0, False

    def reset(self) -> np.ndarray:
        t0 = time.perf_counter()
        m, d = self.model, self.data
        mujoco.mj_resetData(m, d)
        d.qpos[:] = m.qpos0 + self.rng.uniform(-RESET_NOISE, RESET_NOISE, m.nq)
        d.qvel[:] = self.rng.uniform(-RESET_NOISE, RESET_NOISE, m.nv)
        self.sim_seconds += time.perf_counter() - t0
        self.steps, self._ready = 0, True
        return self.observe()

    def ground(self, x) -> np.ndarray:
        """Terrain height under x (no MuJoCo call)."""
        return ground_height(self.heights, x)

    def observe(self) -> np.ndarray:
        return self._observe()[0]

    def _observe(self) -> tuple[np.ndarray, float]:
        """-> (obs, h): one interpolation gives the ground under the torso and the n_ahead heights."""
        qpos, qvel = self.data.qpos, self.data.qvel
        g = np.interp(qpos[0] + self._offsets, TERRAIN_X, self.heights)
        h = float(qpos[1] - g[0])
        obs = np.concatenate(((h,), qpos[2:], np.clip(qvel, -QVEL_CLIP, QVEL_CLIP), self.morph_obs, g[1:] - g[0]))
        return obs.astype(np.float32), h

    def healthy(self, h: float | None = None) -> bool:
        """Gym's / Transform2Act's health test; a NaN anywhere fails a comparison, so it is unhealthy too."""
        qpos = self.data.qpos
        if h is None:
            h = float(qpos[1] - self.ground(qpos[0]))
        worst = np.abs(np.concatenate((qpos[2:], self.data.qvel))).max()
        return bool(worst < STATE_LIMIT and self.height_range[0] < h < self.height_range[1]
                    and abs(qpos[2]) < self.max_ang)

    # step = _begin, physics (mj_step, GIL released), _finish: MorphEnvBatch runs the physics of all copies at once
    def _begin(self, action) -> None:
        if not self._ready:
            raise RuntimeError("call reset() before step() (after construction or set_design)")
        self._a = np.clip(np.asarray(action, dtype=np.float64), -1.0, 1.0)
        self._x0 = float(self.data.qpos[0])
        self.data.ctrl[:] = self._a

    def _physics(self) -> None:
        mujoco.mj_step(self.model, self.data, self.frame_skip)

    def _finish(self) -> tuple[np.ndarray, float, bool, bool]:
        reward = (float(self.data.qpos[0]) - self._x0) / self.dt + ALIVE_BONUS - CTRL_COST * float(self._a @ self._a)
        self.steps += 1
        obs, h = self._observe()
        terminal = not self.healthy(h)
        last = terminal or self.steps >= self.max_steps
        if last:
            self._ready = False
        return obs, reward, terminal, last

    def step(self, action) -> tuple[np.ndarray, float, bool, bool]:
        """-> (next_obs, reward, terminal, last); ``terminal`` only for unhealthy states, never the time limit."""
        self._begin(action)
        t0 = time.perf_counter()
        self._physics()
        self.sim_seconds += time.perf_counter() - t0
        return self._finish()


def _physics_chunk(envs: list[MorphEnv]) -> None:
    for e in envs:
        e._physics()


class MorphEnvBatch(EnvBatch):
    """S MorphEnvs stepped in lockstep with automatic resets (EnvBatch's step / obs / finished bookkeeping).

    ``threads`` > 1 (and S > 1) splits the copies' physics (mj_step, which releases the GIL) into k = min(threads,
    S) interleaved shares: the calling thread steps share 0 and a pool of k - 1 threads the others, while the
    Python parts (actions in, reward / obs out) stay serial. Results are identical to serial stepping (each copy
    owns its MjModel / MjData). ``sim_seconds`` is the wall time of the physics phases (spread over the copies).
    """

    def __init__(self, envs: list[MorphEnv], *, threads: int = 1):
        if not isinstance(threads, (int, np.integer)) or threads < 1:
            raise ValueError(f"threads must be an int >= 1, got {threads!r}")
        self._init_envs(list(envs))
        self.threads = min(int(threads), len(self.envs))
        self._pool = ThreadPoolExecutor(self.threads - 1) if self.threads > 1 else None

    @classmethod
    def of(cls, envs: list[MorphEnv], *, threads: int = 1) -> MorphEnvBatch:
        return cls(envs, threads=threads)

    @classmethod
    def make(cls, morphs: list[dict[str, float]], roughness: list[float], seeds: list[int], *,
             noise_seeds: list[int] | None = None, threads: int = 1, **env_kwargs) -> MorphEnvBatch:
        """One MorphEnv per (morph, roughness, seed[, noise_seed]); ``env_kwargs`` go to every MorphEnv."""
        noise_seeds = list(seeds) if noise_seeds is None else list(noise_seeds)
        if not (len(morphs) == len(roughness) == len(seeds) == len(noise_seeds)):
            raise ValueError(f"morphs, roughness, seeds and noise_seeds need one entry per copy, got lengths "
                             f"{len(morphs)}, {len(roughness)}, {len(seeds)}, {len(noise_seeds)}")
        return cls([MorphEnv(m, r, s, noise_seed=n, **env_kwargs)
                    for m, r, s, n in zip(morphs, roughness, seeds, noise_seeds)], threads=threads)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None

    def set_design(self, i: int, morph: dict[str, float] | None = None, roughness: float | None = None,
                   seed: int | None = None) -> None:
        """New morphology / terrain for copy i; its episode restarts (the running return is dropped)."""
        self.envs[i].set_design(morph, roughness, seed)
        self.obs[i] = self.envs[i].reset()
        self.episode_return[i], self.episode_steps[i] = 0.0, 0

    def restart(self) -> np.ndarray:
        """Reset every copy (fresh episodes, running returns dropped); -> the new obs (S, obs_dim)."""
        self.obs = np.stack([e.reset() for e in self.envs])
        self.episode_return[:], self.episode_steps[:] = 0.0, 0
        return self.obs

    def step_some(self, idx, actions: np.ndarray) -> list[tuple[np.ndarray, float, bool, bool]]:
        """Step copies ``idx`` (actions (len(idx), act_dim)) without the batch bookkeeping (no auto-reset)."""
        envs = [self.envs[i] for i in idx]
        for e, a in zip(envs, actions):
            e._begin(a)
        t0 = time.perf_counter()
        k = min(self.threads, len(envs))
        if self._pool is not None and k > 1:          # the calling thread steps share 0, the pool the others
            futures = [self._pool.submit(_physics_chunk, envs[j::k]) for j in range(1, k)]
            _physics_chunk(envs[0::k])
            for f in futures:
                f.result()
        else:
            _physics_chunk(envs)
        share = (time.perf_counter() - t0) / max(len(envs), 1)
        for e in envs:
            e.sim_seconds += share
        return [e._finish() for e in envs]

    def _step_envs(self, actions: np.ndarray) -> list[tuple]:
        return self.step_some(range(len(self.envs)), actions)


def evaluate(act_fn: Callable[[np.ndarray], np.ndarray], envs: MorphEnvBatch, max_steps: int) -> np.ndarray:
    """One episode per copy, all in lockstep: returns (S,) float64.

    Every copy is reset, then ``act_fn(obs (S, obs_dim)) -> actions (S, act_dim)`` is called once per step on
    all observations (a finished copy's stays its last one); only unfinished copies are stepped, so a finished
    copy collects no further reward. An episode ends at its ``last`` (termination or the copy's own max_steps) or
    after ``max_steps``; the loop stops when every copy is done. With a deterministic ``act_fn`` the episodes
    are deterministic given the copies' reset-noise Generators. The batch's own episodes restart afterwards.
    """
    if not isinstance(max_steps, (int, np.integer)) or max_steps < 1:
        raise ValueError(f"max_steps must be an int >= 1, got {max_steps!r}")
    obs = np.stack([e.reset() for e in envs.envs])
    returns = np.zeros(len(envs))
    active = np.ones(len(envs), dtype=bool)
    for _ in range(max_steps):
        act = np.asarray(act_fn(obs))
        if act.shape != (len(envs), envs.act_dim):
            raise ValueError(f"act_fn must return shape {(len(envs), envs.act_dim)}, got {act.shape}")
        idx = np.flatnonzero(active)
        for i, (o, r, _, last) in zip(idx, envs.step_some(idx, act[idx])):
            obs[i] = o
            returns[i] += r
            active[i] = not last
        if not active.any():
            break
    envs.restart()
    return returns
