"""Noisy top-k gating with the load-balancing loss (Shazeer et al. 2017), as MEO's official code uses it.

He et al., "Merging Experts into One" (EMNLP 2023), background on MoE: a router maps the routing
input u to gates G(u) over n experts, of which the top k are non-zero.

    h = u W_g                                        (clean logits; Shazeer Eq. 3-5)
    H = h + eps * (softplus(u W_noise) + 0.01)       (training only, eps ~ N(0, 1))
    G = scatter(softmax(TopK(H, k)))                 (k non-zeros, summing to one)
    L_aux = 0.01 * (cv^2(importance) + cv^2(load))   per routed layer, added to the task loss
    importance_i = sum_batch G_i,   cv^2(v) = Var(v) / (mean(v)^2 + 1e-10)
    load_i = sum_batch P(expert i stays in the top k | re-drawing its noise)   (Shazeer Eq. 8-10)

W_g and W_noise start at zero, so at step 0 routing is noise-driven and every selected gate is 1/k.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

NOISE_EPS = 0.01
CV_EPS = 1e-10


def cv_squared(v: torch.Tensor) -> torch.Tensor:
    """Squared coefficient of variation, Var(v) / (mean(v)^2 + 1e-10); 0 for a single entry."""
    v = v.float()
    if v.numel() <= 1:
        return v.new_zeros(())
    return v.var() / (v.mean() ** 2 + CV_EPS)


def prob_in_top_k(clean: torch.Tensor, noisy: torch.Tensor, noise_std: torch.Tensor,
                  noisy_top: torch.Tensor, k: int) -> torch.Tensor:
    """P(expert i is in the top k) when only its own noise is re-drawn (Shazeer 2017, Eq. 9).

    clean, noisy, noise_std: (R, n); noisy_top: (R, k+1) the k+1 largest noisy logits, descending.
    If i is currently in the top k it stays there while its logit beats the (k+1)-th value;
    otherwise it must beat the k-th value.
    """
    threshold_if_in = noisy_top[:, k : k + 1]      # (R, 1) the (k+1)-th largest
    threshold_if_out = noisy_top[:, k - 1 : k]     # (R, 1) the k-th largest
    is_in = noisy > threshold_if_in
    normal = torch.distributions.Normal(clean.new_zeros(()), clean.new_ones(()))
    p_in = normal.cdf((clean - threshold_if_in) / noise_std)
    p_out = normal.cdf((clean - threshold_if_out) / noise_std)
    return torch.where(is_in, p_in, p_out)


@dataclass
class Routing:
    """Result of one routing call: dense gates, the selected experts and the auxiliary loss."""

    gates: torch.Tensor      # (R, n) non-negative, k non-zeros per row, rows sum to one
    indices: torch.Tensor    # (R, k) selected experts, by decreasing logit
    aux_loss: torch.Tensor   # scalar, already multiplied by the loss coefficient


class NoisyTopKGate(nn.Module):
    """Router u -> (gates, indices, aux loss) over `n_experts`, `k` selected per routed unit."""

    def __init__(self, in_dim: int, n_experts: int, k: int, *, noisy: bool = True, loss_coef: float = 0.01):
        super().__init__()
        if not 1 <= k <= n_experts:
            raise ValueError(f"need 1 <= k <= n_experts, got k={k}, n_experts={n_experts}")
        self.n_experts, self.k, self.noisy, self.loss_coef = n_experts, k, noisy, loss_coef
        # zero init (official): routing starts noise-driven with equal gates 1/k
        self.w_gate = nn.Parameter(torch.zeros(in_dim, n_experts))
        self.w_noise = nn.Parameter(torch.zeros(in_dim, n_experts))

    def forward(self, u: torch.Tensor) -> Routing:
        """u: (R, in_dim), one row per routed unit (a sequence, a task or a token)."""
        u = u.to(self.w_gate.dtype)
        clean = u @ self.w_gate                                            # (R, n)
        use_noise = self.noisy and self.training
        if use_noise:
            noise_std = F.softplus(u @ self.w_noise) + NOISE_EPS
            logits = clean + torch.randn_like(clean) * noise_std
        else:
            logits = clean
        m = min(self.k + 1, self.n_experts)
        top_vals, top_idx = logits.topk(m, dim=1)                          # (R, m) descending
        idx = top_idx[:, : self.k]
        top_gates = torch.softmax(top_vals[:, : self.k], dim=1)
        gates = torch.zeros_like(logits).scatter(1, idx, top_gates)        # (R, n)

        if use_noise and self.k < self.n_experts:
            load = prob_in_top_k(clean, logits, noise_std, top_vals, self.k).sum(0)
        else:
            load = (gates > 0).sum(0).to(gates.dtype)
        aux = self.loss_coef * (cv_squared(gates.sum(0)) + cv_squared(load))
        return Routing(gates=gates, indices=idx, aux_loss=aux)
