"""Mixture-of-experts core shared by MEO and PAD-Net: noisy top-k gate, cv^2 balance loss, dispatch, upcycling.

The gate is Shazeer et al., "Outrageously Large Neural Networks: The Sparsely-Gated Mixture-of-Experts
Layer" (ICLR 2017). A router maps the routing input u to gates G(u) over n experts, k of them non-zero:

    h = u W_g                                        clean logits                              (Eq. 3-5)
    H = h + eps * (softplus(u W_noise) + 0.01)       training only, eps ~ N(0, 1); 0.01 as the official codes
    G = scatter(softmax(TopK(H, k)))                 k non-zeros per row, summing to one
    importance_i = sum_batch G_i                                                                (Eq. 6)
    load_i = sum_batch P(expert i stays in the top k | re-drawing its noise)                   (Eq. 8-10)
    L_aux = coef * (cv^2(importance) + cv^2(load)),  cv^2(v) = Var(v) / (mean(v)^2 + 1e-10)   (Eq. 7, 11)

W_g = W_noise = 0 at init (both official codes): routing starts noise-driven and every selected gate is 1/k.
Two forms of the load are in use: ``"smooth"`` is Eq. 10 (MEO, He et al., EMNLP 2023, ``replib.meo``);
``"count"`` counts the routed units per expert (PAD-Net's MoE, He et al., ACL 2023, ``replib.padnet``).

Dispatch (``mix_experts``) groups the (unit, expert) pairs by expert with one stable sort by expert id and
one bincount (``expert_counts``); the counts are read once, as the split sizes, instead of one ``nonzero()``
per expert. Each used expert then runs one matmul on its units and adds its contributions back with
``index_add_`` (asynchronous on an accelerator; adding expert by expert saves a copy of all of them).
Upcycling (Komatsuzaki et al., "Sparse Upcycling", ICLR 2023) copies a dense linear into every expert.

Mixed precision: under autocast the router runs in the gate parameters' dtype with autocast off (a bf16
router would pick other experts than the fp32 one), and the combine casts each expert's output to the
accumulator's dtype (the input's), so fp32 runs are unchanged and bf16 runs agree with them.
"""
from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

NOISE_EPS = 0.01
CV_EPS = 1e-10
LOADS = ("smooth", "count")


def autocast_dtype(device_type: str) -> torch.dtype | None:
    """The dtype autocast runs matmuls in on `device_type`, or None when autocast is off there."""
    return torch.get_autocast_dtype(device_type) if torch.is_autocast_enabled(device_type) else None


def autocast_off(device_type: str):
    """A context with autocast disabled on `device_type` (a no-op when it is not enabled)."""
    if torch.is_autocast_enabled(device_type):
        return torch.autocast(device_type, enabled=False)
    return contextlib.nullcontext()


def expert_counts(experts: torch.Tensor, n_experts: int) -> torch.Tensor:
    """bincount(experts, minlength=n) -> (n,) int64, computed on the device.

    ``torch.bincount`` on CUDA reads the input's min and max to the host; a scatter-add of ones does not.
    """
    return torch.zeros(n_experts, dtype=torch.long, device=experts.device).index_add_(
        0, experts, torch.ones_like(experts))


# ---- gate and balance loss (Shazeer et al. 2017) ------------------------------------------------------------
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
    """Result of one routing call: dense gates, the selected experts and their gates, the auxiliary loss."""

    gates: torch.Tensor      # (R, n) non-negative, k non-zeros per row, rows sum to one
    indices: torch.Tensor    # (R, k) selected experts, by decreasing logit
    aux_loss: torch.Tensor   # scalar, already multiplied by the loss coefficient
    weights: torch.Tensor    # (R, k) the gates of `indices`, summing to one per row


class NoisyTopKGate(nn.Module):
    """Router u -> Routing over `n_experts`, `k` selected per routed unit (Shazeer et al. 2017).

    noisy: add the tunable Gaussian noise in training; load: "smooth" (Eq. 10) or "count" (units per expert).
    """

    def __init__(self, in_dim: int, n_experts: int, k: int, *, noisy: bool = True, loss_coef: float = 0.01,
                 load: str = "smooth"):
        super().__init__()
        if not 1 <= k <= n_experts:
            raise ValueError(f"need 1 <= k <= n_experts, got k={k}, n_experts={n_experts}")
        if load not in LOADS:
            raise ValueError(f"unknown load {load!r}; valid: {', '.join(LOADS)}")
        self.n_experts, self.k, self.noisy, self.loss_coef, self.load = n_experts, k, noisy, loss_coef, load
        # zero init (both official codes): routing starts noise-driven with equal gates 1/k
        self.w_gate = nn.Parameter(torch.zeros(in_dim, n_experts))
        self.w_noise = nn.Parameter(torch.zeros(in_dim, n_experts))

    def forward(self, u: torch.Tensor) -> Routing:
        """u: (R, in_dim), one row per routed unit (a sequence, a task or a token)."""
        with autocast_off(u.device.type):
            return self._route(u.to(self.w_gate.dtype))

    def _route(self, u: torch.Tensor) -> Routing:
        n, k = self.n_experts, self.k
        clean = u @ self.w_gate                                            # (R, n)
        use_noise = self.noisy and self.training
        if use_noise:
            noise_std = F.softplus(u @ self.w_noise) + NOISE_EPS
            logits = clean + torch.randn_like(clean) * noise_std
        else:
            logits = clean
        # the smooth load needs the (k+1)-th logit too; the count form takes only the top k
        m = min(k + 1, n) if self.load == "smooth" else k
        top_vals, top_idx = logits.topk(m, dim=1)                          # (R, m) descending
        idx = top_idx[:, :k]
        weights = torch.softmax(top_vals[:, :k], dim=1)                    # (R, k)
        gates = torch.zeros_like(logits).scatter(1, idx, weights)          # (R, n)

        if self.load == "count":
            importance = torch.zeros(n, dtype=torch.float32, device=u.device).index_add_(
                0, idx.flatten(), weights.flatten().float())                 # source cast to the accumulator
            load = expert_counts(idx.flatten(), n)                         # units routed to each expert
        else:
            importance = gates.sum(0)
            if use_noise and k < n:
                load = prob_in_top_k(clean, logits, noise_std, top_vals, k).sum(0)
            else:
                load = (gates > 0).sum(0).to(gates.dtype)
        aux = self.loss_coef * (cv_squared(importance) + cv_squared(load))
        return Routing(gates=gates, indices=idx, aux_loss=aux, weights=weights)

    def extra_repr(self) -> str:
        return (f"in={self.w_gate.shape[0]}, n={self.n_experts}, k={self.k}, noisy={self.noisy}, "
                f"load={self.load}")


# ---- dispatch -------------------------------------------------------------------------------------------------
def mix_experts(x: torch.Tensor, units: torch.Tensor, experts: torch.Tensor, weights: torch.Tensor,
                expert: Callable[[int, torch.Tensor], torch.Tensor], *, n_experts: int,
                out_features: int) -> torch.Tensor:
    """y_r = sum over pairs p with units_p = r of weights_p * expert(experts_p, x_r), grouped by expert.

    x: (R, ..., in) routed units; units, experts, weights: (P,) one entry per (unit, selected expert) pair,
    each pair at most once; expert(e, x_e): (m, ..., in) -> (m, ..., out). Returns (R, ..., out) in x's dtype.
    The stable sort hands every expert its units in their input order (ascending for top-k and non-zero
    pairs) and the contributions are added in expert order, so this computes what a loop of one
    ``nonzero()`` and one ``index_add_`` per expert does, to the bit.
    """
    order = experts.argsort(stable=True)                                   # (P,) expert-major, stable
    sizes = expert_counts(experts, n_experts).tolist()                     # the one host read: split sizes
    rows = units[order]                                                    # (P,) unit of each sorted pair
    gate = weights[order]
    y = x.new_zeros(*x.shape[:-1], out_features)                           # (R, ..., out) accumulator
    for e, (r, g) in enumerate(zip(rows.split(sizes), gate.split(sizes))):
        if sizes[e]:
            out = expert(e, x.index_select(0, r)).to(y.dtype)               # (m, ..., out)
            # added back expert by expert: no concatenated copy of all contributions, and no sync
            g = g.to(y.dtype).view(-1, *[1] * (out.dim() - 1))                # (m, 1, ..., 1) over out
            y.index_add_(0, r, out * g)
    return y


def mix_top_k(x: torch.Tensor, indices: torch.Tensor, weights: torch.Tensor,
              expert: Callable[[int, torch.Tensor], torch.Tensor], *, n_experts: int,
              out_features: int) -> torch.Tensor:
    """``mix_experts`` for a top-k routing: indices, weights (R, k) -> (R, ..., out)."""
    R, k = indices.shape
    units = torch.arange(R, device=indices.device).repeat_interleave(k)   # (R*k,) unit of each (unit, slot)
    return mix_experts(x, units, indices.flatten(), weights.flatten(), expert, n_experts=n_experts,
                       out_features=out_features)


# ---- upcycling (Komatsuzaki et al. 2023) ----------------------------------------------------------------------
@torch.no_grad()
def upcycle_weights(linear: nn.Linear, weight: torch.Tensor, bias: torch.Tensor | None = None) -> None:
    """Copy a dense linear into every expert, in place: weight (n, out, in) <- W, bias (n, out) <- b.

    With gates summing to one per unit the experts then compute the dense linear for any routing.
    ``bias`` is left as it is when the dense linear has none.
    """
    weight.copy_(linear.weight.unsqueeze(0).expand_as(weight))
    if bias is not None and linear.bias is not None:
        bias.copy_(linear.bias.unsqueeze(0).expand_as(bias))
