"""Soft Actor-Critic as the ERC paper's base agent, for an ensemble of S runs trained together.

Haarnoja et al. 2018 in the form of denisyarats/pytorch_sac as used by the official ERC code
(``DMControl/ERC.py``; spec ``papers/erc.md`` §2-3):

- actor: obs -> 256 -> 256 -> (mu, log_std), ReLU; ``log_std = lo + (hi - lo)(tanh(.) + 1)/2`` with
  (lo, hi) = (-10, 2); a = tanh(u), u ~ N(mu, std); log pi(a|s) = sum_i [log N(u_i) - 2(log 2 - u_i -
  softplus(-2 u_i))] (the tanh change of variables in its stable form);
- twin critics (s, a) -> 256 -> 256 -> 1; target y = r + not_done * gamma * (min_j Qbar_j(s', a') -
  alpha log pi(a'|s')), a' ~ pi(.|s'); critic loss sum_j mean_i (Q_j(s_i, a_i) - y_i)^2 plus an
  optional regulariser of the signed TD errors (ERC's, passed in by the paper package);
- every ``policy_freq``-th critic update: actor loss mean(alpha.detach() log pi - min_j Q_j), the
  temperature loss mean(alpha (-log pi - target_entropy).detach()) with target entropy -|A|, and the
  Polyak step of the target critics with tau;
- Adam 3e-4 (actor, critics), 1e-4 (log alpha), alpha starts at 0.1.

Mixed precision (``precision``, ``replib.runtime.autocast``): only the actor and critic forwards run under
bf16 autocast; their outputs are cast back to float32, so the tanh-Gaussian log-density, the targets, the
TD errors, every loss and the parameters and Adam states stay float32. 'auto' is fp32 on CPU.

Runs are members of stacked networks (``EnsembleMLP`` below); each run keeps its own
``torch.Generator`` for every random draw (replay indices, policy noise), so run s of an ensemble
reproduces the single run with seed s. ``tests/rl_reference.py`` is that single run, written
literally with ``nn.Linear`` and ``torch.distributions``.
"""
from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .. import runtime

# ---- stacked MLPs: E networks of one shape, one batched matmul per layer --------------------------------
# Weights (E, in, out), biases (E, 1, out), inputs (E, B, in) through baddbmm. Adam is element-wise, so one
# optimizer over the stacked tensors updates each member exactly as E optimizers would; summing the members'
# losses keeps their gradients apart. Orthogonal init (gain 1) and zero biases as pytorch_sac's weight_init,
# drawn member by member in nn.Linear order from the member's generator.


def orthogonal(out_dim: int, in_dim: int, generator: torch.Generator) -> torch.Tensor:
    """An ``nn.Linear``-shaped (out, in) orthogonal matrix (gain 1) drawn from ``generator``."""
    w = torch.empty(out_dim, in_dim)
    nn.init.orthogonal_(w, generator=generator)
    return w


class EnsembleMLP(nn.Module):
    """E ReLU MLPs built from ``weights[e]``, member e's list of (out, in) layer weights (``draw_init``);
    biases start at zero."""

    def __init__(self, weights: list[list[torch.Tensor]]):
        super().__init__()
        n_layers = len(weights[0])
        self.W = nn.ParameterList(
            [nn.Parameter(torch.stack([m[i].T for m in weights]).contiguous()) for i in range(n_layers)])
        self.b = nn.ParameterList(
            [nn.Parameter(torch.zeros(len(weights), 1, w.shape[-1])) for w in self.W])

    def forward(self, x: torch.Tensor, detach_params: bool = False) -> torch.Tensor:
        """x (E, B, in) -> (E, B, out). ``detach_params``: gradients flow to ``x`` only (the actor's
        pass through the critic needs no critic weight gradients)."""
        last = len(self.W) - 1
        for i, (w, b) in enumerate(zip(self.W, self.b)):
            if detach_params:
                w, b = w.detach(), b.detach()
            x = torch.baddbmm(b, x, w)
            if i < last:
                x = F.relu(x)
        return x


def draw_init(sizes: list[int], generator: torch.Generator, heads: list[int] | None = None) -> list[torch.Tensor]:
    """One member's (out, in) weights for ``sizes``; the last layer drawn head by head, then stacked."""
    weights = [orthogonal(o, i, generator) for i, o in itertools.pairwise(sizes[:-1])]
    heads = heads or [sizes[-1]]
    if sum(heads) != sizes[-1]:
        raise ValueError(f"heads {heads} do not add up to the output width {sizes[-1]}")
    weights.append(torch.cat([orthogonal(h, sizes[-2], generator) for h in heads]))
    return weights


@dataclass
class SACConfig:
    """SAC hyperparameters (ERC.py defaults)."""
    hidden: int = 256
    """width of the two hidden layers of actor and critics"""
    lr: float = 3e-4
    """Adam learning rate of actor and critics"""
    alpha_lr: float = 1e-4
    """Adam learning rate of log alpha"""
    init_temperature: float = 0.1
    """alpha at the start"""
    gamma: float = 0.99
    """discount"""
    tau: float = 0.005
    """Polyak rate of the target critics"""
    batch_size: int = 256
    """replay batch per run and update"""
    policy_freq: int = 2
    """actor, alpha and target updates every this many critic updates"""
    log_std_min: float = -10.0
    """lower bound of the actor's log std"""
    log_std_max: float = 2.0
    """upper bound of the actor's log std"""


def squashed_sample(mu: torch.Tensor, log_std: torch.Tensor, eps: torch.Tensor):
    """tanh-Gaussian reparameterised sample and its log-density (summed over action dims)."""
    u = mu + log_std.exp() * eps
    log_normal = -0.5 * eps.pow(2) - log_std - 0.5 * math.log(2 * math.pi)
    log_det = 2.0 * (math.log(2.0) - u - F.softplus(-2.0 * u))
    return torch.tanh(u), (log_normal - log_det).sum(-1)


class SACEnsemble:
    """S SAC agents (one per seed) with stacked networks; ``regularizer`` maps the signed TD errors
    (S, 2, B) to a per-(run, critic) penalty (S, 2) that is added to the critic loss."""

    def __init__(self, obs_dim: int, act_dim: int, seeds: list[int], cfg: SACConfig,
                 device: torch.device | str = "cpu",
                 regularizer: Callable[[torch.Tensor], torch.Tensor] | None = None, *, precision: str = "auto"):
        self.cfg, self.device, self.regularizer = cfg, torch.device(device), regularizer
        self.precision = runtime.resolve_precision(precision, self.device)
        self.obs_dim, self.act_dim, self.n_runs = obs_dim, act_dim, len(seeds)
        h = cfg.hidden
        self.generators, actor_w, critic_w = [], [], []
        for seed in seeds:
            g = torch.Generator().manual_seed(int(seed))     # CPU draws for init, as nn.Linear would
            actor_w.append(draw_init([obs_dim, h, h, 2 * act_dim], g, heads=[act_dim, act_dim]))
            for _ in range(2):                                # Q1 then Q2, as TwinCritic registers them
                critic_w.append(draw_init([obs_dim + act_dim, h, h, 1], g))
            self.generators.append(torch.Generator(device=self.device).manual_seed(int(seed)))
        self.actor = EnsembleMLP(actor_w).to(self.device)
        self.critic = EnsembleMLP(critic_w).to(self.device)   # members ordered (run, critic)
        self.critic_target = EnsembleMLP(critic_w).to(self.device)
        self.critic_target.load_state_dict(self.critic.state_dict())
        self.critic_target.requires_grad_(False)
        self.log_alpha = torch.full((self.n_runs,), math.log(cfg.init_temperature), device=self.device,
                                    requires_grad=True)
        self.target_entropy = -float(act_dim)
        self.actor_opt = torch.optim.Adam(self.actor.parameters(), lr=cfg.lr)
        self.critic_opt = torch.optim.Adam(self.critic.parameters(), lr=cfg.lr)
        self.alpha_opt = torch.optim.Adam([self.log_alpha], lr=cfg.alpha_lr)
        self.total_it = 0

    # ---- networks -------------------------------------------------------------------------------
    def _randn(self, shape: tuple[int, ...]) -> torch.Tensor:
        """(S, *shape) standard normals, run s from its own generator."""
        return torch.stack([torch.randn(shape, generator=g, device=self.device) for g in self.generators])

    def policy(self, obs: torch.Tensor):
        """obs (S, B, o) -> mean pre-tanh action and log std, each (S, B, A), float32 (the actor runs under
        ``runtime.autocast(device, precision)``)."""
        with runtime.autocast(self.device, self.precision):
            out = self.actor(obs)
        mu, raw = out.float().chunk(2, dim=-1)
        lo, hi = self.cfg.log_std_min, self.cfg.log_std_max
        return mu, lo + 0.5 * (hi - lo) * (torch.tanh(raw) + 1.0)

    def q_values(self, obs: torch.Tensor, act: torch.Tensor, target: bool = False,
                 detach_params: bool = False) -> torch.Tensor:
        """(S, B, o), (S, B, A) -> (S, 2, B) twin Q estimates, float32 (the critic runs under
        ``runtime.autocast(device, precision)``; TD errors, losses and the regulariser are fp32)."""
        S, B, _ = obs.shape
        sa = torch.cat([obs, act], -1).unsqueeze(1).expand(S, 2, B, -1).reshape(2 * S, B, -1)
        net = self.critic_target if target else self.critic
        with runtime.autocast(self.device, self.precision):
            q = net(sa, detach_params=detach_params)
        return q.float().view(S, 2, B)

    @torch.no_grad()
    def act(self, obs: np.ndarray | torch.Tensor, sample: bool) -> np.ndarray:
        """obs (S, o) or (S, B, o) -> actions in [-1, 1]; ``sample`` draws from pi, else tanh(mean)."""
        x = torch.as_tensor(np.asarray(obs, dtype=np.float32), device=self.device)
        squeeze = x.dim() == 2
        x = x.unsqueeze(1) if squeeze else x                                   # (S, B, o)
        mu, log_std = self.policy(x)
        a = squashed_sample(mu, log_std, self._randn(mu.shape[1:]))[0] if sample else torch.tanh(mu)
        a = a.clamp(-1.0, 1.0)
        return (a.squeeze(1) if squeeze else a).cpu().numpy()

    # ---- one gradient step ------------------------------------------------------------------------
    def update(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """One critic step (and every ``policy_freq``-th an actor/alpha/target step) on (S, B, ...)
        batches. Returns per-run statistics as tensors (no host sync): TD-error variance over the
        batch (mean of the two critics), mean Q, regulariser value."""
        cfg = self.cfg
        self.total_it += 1
        obs, act, next_obs = batch["obs"], batch["act"], batch["next_obs"]
        S, B, _ = obs.shape
        alpha = self.log_alpha.exp()
        with torch.no_grad():
            mu, log_std = self.policy(next_obs)
            next_act, next_logp = squashed_sample(mu, log_std, self._randn((B, self.act_dim)))
            target_v = self.q_values(next_obs, next_act, target=True).min(1).values - alpha[:, None] * next_logp
            y = batch["rew"] + batch["not_done"] * cfg.gamma * target_v                  # (S, B)
        q = self.q_values(obs, act)                                                         # (S, 2, B)
        td = q - y[:, None, :]
        loss = td.pow(2).mean(-1).sum()
        reg = self.regularizer(td) if self.regularizer is not None else torch.zeros(S, 2, device=self.device)
        self.critic_opt.zero_grad(set_to_none=True)
        (loss + reg.sum()).backward()
        self.critic_opt.step()

        if self.total_it % cfg.policy_freq == 0:
            mu, log_std = self.policy(obs)
            pi_act, logp = squashed_sample(mu, log_std, self._randn((B, self.act_dim)))
            q_pi = self.q_values(obs, pi_act, detach_params=True).min(1).values            # (S, B)
            actor_loss = (alpha.detach()[:, None] * logp - q_pi).mean(-1).sum()
            alpha_loss = (alpha[:, None] * (-logp - self.target_entropy).detach()).mean(-1).sum()
            self.alpha_opt.zero_grad(set_to_none=True)
            alpha_loss.backward(inputs=[self.log_alpha])
            self.alpha_opt.step()
            self.actor_opt.zero_grad(set_to_none=True)
            actor_loss.backward(inputs=list(self.actor.parameters()))
            self.actor_opt.step()
            with torch.no_grad():
                torch._foreach_lerp_(list(self.critic_target.parameters()), list(self.critic.parameters()),
                                     cfg.tau)
        td = td.detach()
        return {"td_var": td.var(-1, unbiased=False).mean(1), "q_mean": q.detach().mean((1, 2)),
                "reg": reg.detach().sum(1)}

    @torch.no_grad()
    def q_mean(self, obs: torch.Tensor, act: torch.Tensor) -> torch.Tensor:
        """0.5 (Q1 + Q2) as the official ``get_value``: (S, B, o), (S, B, A) -> (S, B)."""
        return self.q_values(obs, act).mean(1)
