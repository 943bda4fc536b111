"""DeepMind Control Suite environments for state-based agents, called directly (no dmc2gym, no gym).

The ERC official code (sweetice/ERC-ECML-23, built on denisyarats/pytorch_sac) reaches dm_control
through dmc2gym and the old gym API; that stack no longer installs. We call ``dm_control.suite``
directly and reproduce what dmc2gym gave the agent:

- observations flattened by concatenating the observation dict's arrays **in the key order of the
  task's observation spec** (fixed per task, so a run and its replay buffer always agree);
- actions in [-1, 1] (every suite task already uses that box; we check it);
- ``action_repeat`` (dmc2gym's ``frame_skip``; 1 in ERC) sums rewards over repeated steps;
- episodes of 1000 control steps end at the time limit, which is **not** a terminal state: the
  suite reports ``discount == 1`` there, so ``terminal = (discount == 0)`` and agents bootstrap
  (ERC's ``done_bool = 0`` at the time limit).

``EnvBatch`` holds one environment per run and steps them in lockstep; it resets an environment
as soon as its episode ends and returns the pre-reset next observation for the replay buffer.
Time spent inside MuJoCo is accumulated in ``sim_seconds`` (the benchmark reports its share).
Requires ``mujoco==3.17.0`` and ``dm_control==1.0.50`` (4.x breaks dm_control); MUJOCO_GL is left
unset: nothing here renders.
"""
from __future__ import annotations

import time
import warnings

import numpy as np

MUJOCO_VERSION = "3.17.0"


def _suite():
    with warnings.catch_warnings():  # GLFW complains about a missing DISPLAY; we never render
        warnings.simplefilter("ignore")
        from dm_control import suite
    from absl import logging as absl_logging
    absl_logging.set_verbosity(absl_logging.ERROR)  # cheetah's XML warns about 'settotalmass' per load
    return suite


def task_names() -> list[str]:
    """All suite tasks as ``domain-task`` names (``ball_in_cup-catch``, ``cartpole-swingup``, ...)."""
    return [f"{d}-{t}" for d, t in _suite().ALL_TASKS]


def parse_task(name: str) -> tuple[str, str]:
    """``"cartpole-swingup"`` -> ``("cartpole", "swingup")``, with a clear error for unknown names."""
    valid = task_names()
    if name not in valid:
        raise ValueError(f"unknown dm_control task {name!r}; valid names: {', '.join(valid)}")
    domain, task = name.split("-", 1)
    return domain, task


class DMCEnv:
    """One dm_control task with flattened float32 observations and actions in [-1, 1]."""

    def __init__(self, name: str, seed: int, action_repeat: int = 1):
        if action_repeat < 1:
            raise ValueError(f"action_repeat must be >= 1, got {action_repeat}")
        import mujoco
        if mujoco.__version__ != MUJOCO_VERSION:
            raise RuntimeError(f"mujoco {mujoco.__version__} is installed; dm_control 1.0.50 needs "
                               f"mujoco=={MUJOCO_VERSION}. Fix: pip install -c constraints.txt "
                               f"mujoco=={MUJOCO_VERSION}")
        domain, task = parse_task(name)
        self.name, self.action_repeat = name, action_repeat
        self._env = _suite().load(domain, task, task_kwargs={"random": seed})
        spec = self._env.action_spec()
        if not (np.allclose(spec.minimum, -1) and np.allclose(spec.maximum, 1)):
            raise ValueError(f"{name}: action bounds {spec.minimum}..{spec.maximum} are not [-1, 1]")
        self.act_dim = int(spec.shape[0])
        self._keys = list(self._env.observation_spec().keys())
        self.obs_dim = int(sum(np.prod(v.shape, dtype=int) for v in self._env.observation_spec().values()))
        self.sim_seconds = 0.0

    def _flat(self, obs) -> np.ndarray:
        return np.concatenate([np.asarray(obs[k], dtype=np.float32).ravel() for k in self._keys])

    def reset(self) -> np.ndarray:
        t0 = time.perf_counter()
        obs = self._flat(self._env.reset().observation)
        self.sim_seconds += time.perf_counter() - t0
        return obs

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool]:
        """-> (next_obs, reward, terminal, last); ``terminal`` only for true terminal states."""
        t0 = time.perf_counter()
        reward = 0.0
        for _ in range(self.action_repeat):
            ts = self._env.step(action)
            reward += ts.reward or 0.0
            if ts.last():
                break
        obs = self._flat(ts.observation)
        self.sim_seconds += time.perf_counter() - t0
        return obs, reward, bool(ts.discount == 0.0), bool(ts.last())


class EnvBatch:
    """``n`` environments of one task, one per run, stepped in lockstep with automatic resets.

    ``EnvBatch(name, seeds)`` builds DMC environments; ``EnvBatch.of(envs)`` wraps any prebuilt objects with
    DMCEnv's interface (obs_dim, act_dim, sim_seconds, reset(), step(a) -> (next_obs, reward, terminal, last)).
    Subclasses may override ``_step_envs`` (how the n steps are run) and keep the bookkeeping.
    """

    def __init__(self, name: str, seeds: list[int], action_repeat: int = 1):
        self._init_envs([DMCEnv(name, s, action_repeat) for s in seeds])

    @classmethod
    def of(cls, envs: list) -> EnvBatch:
        """A batch over prebuilt environments (all with the same obs_dim and act_dim)."""
        batch = cls.__new__(cls)
        EnvBatch._init_envs(batch, list(envs))
        return batch

    def _init_envs(self, envs: list) -> None:
        if not envs:
            raise ValueError("an EnvBatch needs at least one environment")
        dims = {(e.obs_dim, e.act_dim) for e in envs}
        if len(dims) != 1:
            raise ValueError(f"environments of one batch must share obs_dim and act_dim, got {sorted(dims)}")
        self.envs = envs
        self.obs_dim, self.act_dim = self.envs[0].obs_dim, self.envs[0].act_dim
        self.obs = np.stack([e.reset() for e in self.envs])                 # (n, obs_dim)
        self.episode_return = np.zeros(len(self.envs))
        self.episode_steps = np.zeros(len(self.envs), dtype=int)

    def __len__(self) -> int:
        return len(self.envs)

    @property
    def sim_seconds(self) -> float:
        return sum(e.sim_seconds for e in self.envs)

    def _step_envs(self, actions: np.ndarray) -> list[tuple]:
        """One step of every environment, in order: [(next_obs, reward, terminal, last)] * n."""
        return [env.step(a) for env, a in zip(self.envs, actions)]

    def step(self, actions: np.ndarray):
        """actions (n, act_dim) -> (obs, next_obs, reward (n,), terminal (n,), finished returns).

        ``next_obs`` is what the transition stores (before any reset); ``self.obs`` moves on to the
        first observation of the next episode where one ended. ``finished`` maps run index -> return
        of each episode that ended on this step.
        """
        obs = self.obs
        out = self._step_envs(actions)
        next_obs = np.stack([o[0] for o in out])
        reward = np.array([o[1] for o in out])
        terminal = np.array([o[2] for o in out])
        last = [o[3] for o in out]
        self.episode_return += reward
        self.episode_steps += 1
        finished = {}
        self.obs = next_obs.copy()
        for i, done in enumerate(last):
            if done:
                finished[i] = float(self.episode_return[i])
                self.episode_return[i], self.episode_steps[i] = 0.0, 0
                self.obs[i] = self.envs[i].reset()
        return obs, next_obs, reward, terminal, finished
