"""PAD version of a mixture-of-experts linear layer (PAD-Net Sec. 3.2; ``SingleExpert_Pad`` in papers/padnet.md).

He et al., "PAD-Net: An Efficient Framework for Dynamic Networks" (ACL 2023). n experts W_i (out x in)
with biases b_i share one static matrix W_s and one mask M (out x in):
    W_i^eff = lambda_d M . W_i + lambda_s (1 - M) . W_s,       lambda_d = 2 sigmoid(phi), lambda_s = 2 - lambda_d
    y = sum_{i in topk(x)} G_i(x) (W_i^eff x + b_i)            token-level noisy top-k gate (n = 8, k = 2)
The released ``PadMoE`` uses ``SingleExpert_Structured`` (W_i + W_s, no mask, no lambda), so the mask there
has no effect and SNIP scores it with a None gradient; that form is kept as ``variant="released"``.

The MoE machinery is the shared ``replib.nn.moe``: Shazeer et al.'s (2017) noisy top-k gate (logits x W_g,
plus Gaussian noise scaled by softplus(x W_noise) + 0.01 in training, softmax over the top k; W_g = W_noise = 0
at init), its load-balance term 0.01 (cv^2(importance) + cv^2(load)) kept in ``aux_loss`` with the load
counted as tokens per expert (``load="count"``), the dispatch that groups tokens by expert (one matmul per
expert on its tokens, no per-token loop) and upcycling. ``upcycle`` copies a dense linear into every expert
and into W_s, so at step 0 the layer computes the dense linear exactly (the gates of a token sum to 1).
What is PAD's own here is the mask M and the scale factors lambda.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..nn.moe import NoisyTopKGate, mix_top_k, upcycle_weights

VARIANTS = ("pad", "released")


class PadMoELinear(nn.Module):
    """n experts sharing W_s and M; ``mask`` (buffer, 1 = expert-specific) is set by mode partition."""

    is_pad_layer = True

    def __init__(self, in_features: int, out_features: int, n_experts: int = 8, top_k: int = 2, *,
                 lambda_mode: str = "both", variant: str = "pad"):
        super().__init__()
        if variant not in VARIANTS:
            raise ValueError(f"unknown variant {variant!r}; valid: {', '.join(VARIANTS)}")
        if not 1 <= top_k <= n_experts:
            raise ValueError(f"need 1 <= top_k <= n_experts, got top_k={top_k}, n_experts={n_experts}")
        self.n, self.top_k, self.variant, self.lambda_mode = n_experts, top_k, variant, lambda_mode
        bound = in_features ** -0.5
        self.weight = nn.Parameter(torch.empty(n_experts, out_features, in_features).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.zeros(n_experts, out_features))
        self.static_weight = nn.Parameter(torch.empty(out_features, in_features).uniform_(-bound, bound))
        self.register_buffer("mask", torch.ones(out_features, in_features))
        self.phi = nn.Parameter(torch.zeros(()))
        # registered last, so the parameter order (weight, bias, static_weight, phi, W_g, W_noise) is unchanged
        self.gate = NoisyTopKGate(in_features, n_experts, top_k, load="count")
        self.aux_loss = torch.zeros(())

    @property
    def w_gate(self) -> nn.Parameter:
        return self.gate.w_gate

    @property
    def w_noise(self) -> nn.Parameter:
        return self.gate.w_noise

    @classmethod
    def upcycle(cls, linear: nn.Linear, n_experts: int = 8, top_k: int = 2, **kw) -> PadMoELinear:
        """Every expert and W_s start as the dense weight, every b_i as its bias."""
        layer = cls(linear.in_features, linear.out_features, n_experts, top_k, **kw)
        layer.to(device=linear.weight.device, dtype=linear.weight.dtype)
        upcycle_weights(linear, layer.weight, layer.bias)
        with torch.no_grad():
            layer.static_weight.copy_(linear.weight)
        return layer

    def scales(self) -> tuple[torch.Tensor, torch.Tensor]:
        one = torch.ones((), device=self.phi.device)
        learned = 2.0 * torch.sigmoid(self.phi)
        return {"both": (learned, 2.0 - learned), "d": (learned, one), "s": (one, learned)}.get(
            self.lambda_mode, (one, one))

    def expert_weights(self) -> torch.Tensor:
        """W^eff (n, out, in)."""
        if self.variant == "released":
            return self.weight + self.static_weight
        lam_d, lam_s = self.scales()
        return lam_d * self.mask * self.weight + lam_s * (1 - self.mask) * self.static_weight

    def gates(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Noisy top-k gate on tokens (T, in) -> weights (T, top_k) summing to 1 and expert indices (T, top_k)."""
        r = self.gate(x)
        return r.weights, r.indices

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        tokens = x.reshape(-1, shape[-1])                                        # (T, in)
        routing = self.gate(tokens)
        self.aux_loss = routing.aux_loss
        w = self.expert_weights()
        out = mix_top_k(tokens, routing.indices, routing.weights, lambda e, xe: F.linear(xe, w[e], self.bias[e]),
                        n_experts=self.n, out_features=w.shape[1])               # (T, out)
        return out.view(*shape[:-1], -1)                                         # (..., out)

    def intrinsic_parameters(self) -> float:
        """n per expert-specific position, 1 per shared static one: |W| (n kappa + 1 - kappa)."""
        n_dyn = float(self.mask.sum())
        return self.n * n_dyn + (self.mask.numel() - n_dyn)
