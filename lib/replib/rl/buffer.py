"""Uniform replay buffer for an ensemble of runs, held as torch tensors on the training device.

Every run owns one slice of the stacked storage (``obs`` is ``(n_runs, capacity, obs_dim)``) and adds
one transition per environment step, in lockstep with the others, so one write pointer serves all.
Sampling draws each run's indices from that run's own ``torch.Generator``: the indices a run sees
do not depend on how many other runs share the buffer, which is what makes the batched trainer
reproduce a single run with the same seed. Uniform sampling with replacement over the filled part,
as the official ERC code does with ``np.random.randint(0, size, batch)``.
"""
from __future__ import annotations

import numpy as np
import torch


class ReplayBuffer:
    """Stacked FIFO storage: ``add`` one transition per run, ``sample`` ``(n_runs, batch, ...)``."""

    def __init__(self, n_runs: int, capacity: int, obs_dim: int, act_dim: int, device: torch.device | str):
        if n_runs < 1 or capacity < 1:
            raise ValueError(f"need n_runs >= 1 and capacity >= 1, got {n_runs}, {capacity}")
        self.n_runs, self.capacity, self.device = n_runs, int(capacity), torch.device(device)
        z = dict(device=self.device, dtype=torch.float32)
        self.obs = torch.zeros(n_runs, self.capacity, obs_dim, **z)
        self.act = torch.zeros(n_runs, self.capacity, act_dim, **z)
        self.rew = torch.zeros(n_runs, self.capacity, **z)
        self.next_obs = torch.zeros(n_runs, self.capacity, obs_dim, **z)
        self.not_done = torch.zeros(n_runs, self.capacity, **z)
        self.ptr, self.size = 0, 0
        self._rows = torch.arange(n_runs, device=self.device)[:, None]      # (S, 1) for gathers

    def __len__(self) -> int:
        return self.size

    def add(self, obs, act, rew, next_obs, terminal) -> None:
        """One transition per run; host arrays (numpy, or CPU tensors) with leading dimension ``n_runs``,
        packed into one float32 row per run so that each environment step costs one host-to-device copy."""
        S = self.n_runs
        parts = [np.asarray(x, dtype=np.float32).reshape(S, -1) for x in (obs, act, rew, next_obs, terminal)]
        parts[-1] = 1.0 - parts[-1]                                                # not_done
        row = torch.as_tensor(np.concatenate(parts, axis=1), device=self.device)   # (S, 2 obs + act + 2)
        o, a = self.obs.shape[-1], self.act.shape[-1]
        i = self.ptr
        self.obs[:, i] = row[:, :o]
        self.act[:, i] = row[:, o:o + a]
        self.rew[:, i] = row[:, o + a]
        self.next_obs[:, i] = row[:, o + a + 1:2 * o + a + 1]
        self.not_done[:, i] = row[:, -1]
        self.ptr = (self.ptr + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    def sample_indices(self, batch_size: int, generators: list[torch.Generator]) -> torch.Tensor:
        """(n_runs, batch_size) indices, run ``s`` drawn from ``generators[s]``."""
        if self.size == 0:
            raise RuntimeError("cannot sample from an empty replay buffer")
        return torch.stack([torch.randint(self.size, (batch_size,), generator=g, device=self.device)
                            for g in generators])

    def gather(self, idx: torch.Tensor) -> dict[str, torch.Tensor]:
        """Rows ``idx`` (S, B) of every run -> dict of (S, B, ...) tensors."""
        r = self._rows
        return {"obs": self.obs[r, idx], "act": self.act[r, idx], "rew": self.rew[r, idx],
                "next_obs": self.next_obs[r, idx], "not_done": self.not_done[r, idx]}

    def sample(self, batch_size: int, generators: list[torch.Generator]) -> dict[str, torch.Tensor]:
        return self.gather(self.sample_indices(batch_size, generators))
