"""Literal single-run SAC / ERC, written the way the official ERC code is (DMControl/ERC.py, main.py).

nn.Linear layers in TwinCritic / DiagGaussianActor order, torch.distributions' tanh-squashed
Normal, deepcopy target, Polyak by ``copy_``, a numpy replay buffer and one environment stepped
by a plain loop. The only departures from the official file: every random draw comes from a
per-run ``torch.Generator`` / numpy Generator (instead of the global RNGs and the gym action space)
so the batched ensemble in ``replib.rl`` can be compared number for number.
"""
from __future__ import annotations

import copy
import math
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import distributions as pyd
from torch import nn

from replib.rl.envs import DMCEnv


class TanhTransform(pyd.transforms.Transform):
    domain = pyd.constraints.real
    codomain = pyd.constraints.interval(-1.0, 1.0)
    bijective = True
    sign = +1

    def __init__(self):
        super().__init__(cache_size=1)

    def __eq__(self, other):
        return isinstance(other, TanhTransform)

    def _call(self, x):
        return x.tanh()

    def _inverse(self, y):
        return 0.5 * (y.log1p() - (-y).log1p())

    def log_abs_det_jacobian(self, x, y):
        return 2.0 * (math.log(2.0) - x - F.softplus(-2.0 * x))


class SquashedNormal(pyd.transformed_distribution.TransformedDistribution):
    def __init__(self, loc, scale):
        self.loc, self.scale = loc, scale
        super().__init__(pyd.Normal(loc, scale), [TanhTransform()])

    def rsample_with(self, generator):
        """rsample with the noise drawn from ``generator``; log_prob then uses the cached pre-tanh value."""
        eps = torch.randn(self.loc.shape, generator=generator)
        return self.transforms[0](self.loc + eps * self.scale)


def init_linear(layer, generator):
    nn.init.orthogonal_(layer.weight.data, generator=generator)
    layer.bias.data.fill_(0.0)


class Actor(nn.Module):
    def __init__(self, obs_dim, act_dim, hidden, generator, log_std_bounds=(-10.0, 2.0)):
        super().__init__()
        self.l1, self.l2 = nn.Linear(obs_dim, hidden), nn.Linear(hidden, hidden)
        self.mu_head, self.log_std_head = nn.Linear(hidden, act_dim), nn.Linear(hidden, act_dim)
        for layer in (self.l1, self.l2, self.mu_head, self.log_std_head):
            init_linear(layer, generator)
        self.lo, self.hi = log_std_bounds

    def forward(self, obs):
        x = F.relu(self.l2(F.relu(self.l1(obs))))
        mu, log_std = self.mu_head(x), torch.tanh(self.log_std_head(x))
        log_std = self.lo + 0.5 * (self.hi - self.lo) * (log_std + 1)
        return SquashedNormal(mu, log_std.exp())


class TwinCritic(nn.Module):
    def __init__(self, obs_dim, act_dim, hidden, generator):
        super().__init__()
        d = obs_dim + act_dim
        self.l1, self.l2, self.l3 = nn.Linear(d, hidden), nn.Linear(hidden, hidden), nn.Linear(hidden, 1)
        self.l4, self.l5, self.l6 = nn.Linear(d, hidden), nn.Linear(hidden, hidden), nn.Linear(hidden, 1)
        for layer in (self.l1, self.l2, self.l3, self.l4, self.l5, self.l6):
            init_linear(layer, generator)

    def forward(self, state, action):
        sa = torch.cat([state, action], 1)
        q1 = self.l3(F.relu(self.l2(F.relu(self.l1(sa)))))
        q2 = self.l6(F.relu(self.l5(F.relu(self.l4(sa)))))
        return q1, q2


class ReferenceAgent:
    """ERC.py's agent for one run; ``beta = 0`` is plain SAC (the ERC terms are then exactly zero)."""

    def __init__(self, obs_dim, act_dim, seed, cfg, beta=0.0, clip=1e-2):
        g = torch.Generator().manual_seed(seed)
        self.actor = Actor(obs_dim, act_dim, cfg.hidden, g, (cfg.log_std_min, cfg.log_std_max))
        self.critic = TwinCritic(obs_dim, act_dim, cfg.hidden, g)
        self.critic_target = copy.deepcopy(self.critic)
        self.actor_optimizer = torch.optim.Adam(self.actor.parameters(), lr=cfg.lr)
        self.critic_optimizer = torch.optim.Adam(self.critic.parameters(), lr=cfg.lr)
        self.log_alpha = torch.tensor([np.log(cfg.init_temperature)], dtype=torch.float32, requires_grad=True)
        self.log_alpha_optimizer = torch.optim.Adam([self.log_alpha], lr=cfg.alpha_lr)
        self.target_entropy = -act_dim
        self.cfg, self.beta, self.clip, self.total_it = cfg, beta, clip, 0
        self.generator = torch.Generator().manual_seed(seed)

    def select_action(self, state, sample):
        with torch.no_grad():
            dist = self.actor(torch.as_tensor(state, dtype=torch.float32).reshape(1, -1))
            action = dist.rsample_with(self.generator) if sample else dist.mean
            return action.clamp(-1.0, 1.0).numpy().flatten()

    def train(self, state, action, next_state, reward, not_done):
        cfg, alpha = self.cfg, self.log_alpha.exp()
        self.total_it += 1
        with torch.no_grad():
            dist = self.actor(next_state)
            next_action = dist.rsample_with(self.generator)
            next_log_prob = dist.log_prob(next_action).sum(-1, keepdim=True)
            tq1, tq2 = self.critic_target(next_state, next_action)
            target_q = reward + not_done * cfg.gamma * (torch.min(tq1, tq2) - alpha.detach() * next_log_prob)
        q1, q2 = self.critic(state, action)
        l1, l2 = F.mse_loss(q1, target_q, reduction="none"), F.mse_loss(q2, target_q, reduction="none")
        with torch.no_grad():
            e1, e2 = torch.mean(l1), torch.mean(l2)
        ones = torch.ones_like(l1)
        r1, r2 = F.mse_loss(l1, ones * e1, reduction="none"), F.mse_loss(l2, ones * e2, reduction="none")
        r1 = torch.clip_(self.beta * r1, min=0, max=self.clip).mean()
        r2 = torch.clip_(self.beta * r2, min=0, max=self.clip).mean()
        critic_loss = l1.mean() + l2.mean() + r1 + r2
        self.critic_optimizer.zero_grad()
        critic_loss.backward()
        self.critic_optimizer.step()
        if self.total_it % cfg.policy_freq == 0:
            dist = self.actor(state)
            a = dist.rsample_with(self.generator)
            log_prob = dist.log_prob(a).sum(-1, keepdim=True)
            aq1, aq2 = self.critic(state, a)
            actor_loss = (alpha.detach() * log_prob - torch.min(aq1, aq2)).mean()
            self.log_alpha_optimizer.zero_grad()
            alpha_loss = (alpha * (-log_prob - self.target_entropy).detach()).mean()
            alpha_loss.backward()
            self.log_alpha_optimizer.step()
            self.actor_optimizer.zero_grad()
            actor_loss.backward()
            self.actor_optimizer.step()
            for p, tp in zip(self.critic.parameters(), self.critic_target.parameters()):
                tp.data.copy_(cfg.tau * p.data + (1 - cfg.tau) * tp.data)


def train_single(task, seed, cfg, steps, start_steps, beta=0.0, utd=1):
    """main.py's loop for one run; returns (agent, finished episode returns, {"loop_s", "sim_s"})."""
    env = DMCEnv(task, seed)
    agent = ReferenceAgent(env.obs_dim, env.act_dim, seed, cfg, beta)
    rng = np.random.default_rng(seed)
    n = steps
    buf = {k: np.zeros((n, d)) for k, d in [("s", env.obs_dim), ("a", env.act_dim), ("s2", env.obs_dim),
                                            ("r", 1), ("nd", 1)]}
    state, returns, ep_return = env.reset(), [], 0.0
    t0, sim0 = time.perf_counter(), env.sim_seconds
    for t in range(steps):
        if t < start_steps:
            action = rng.uniform(-1.0, 1.0, env.act_dim).astype(np.float32)
        else:
            action = agent.select_action(state, sample=True)
        next_state, reward, terminal, last = env.step(action)
        for k, v in zip(("s", "a", "s2", "r", "nd"), (state, action, next_state, reward, 1.0 - terminal)):
            buf[k][t] = v
        state, ep_return = next_state, ep_return + reward
        if t >= start_steps:
            for _ in range(utd):
                ind = torch.randint(t + 1, (cfg.batch_size,), generator=agent.generator).numpy()
                agent.train(*(torch.FloatTensor(buf[k][ind]) for k in ("s", "a", "s2", "r", "nd")))
        if last:
            returns.append(ep_return)
            state, ep_return = env.reset(), 0.0
    return agent, returns, {"loop_s": time.perf_counter() - t0, "sim_s": env.sim_seconds - sim0}
