"""AdapterFusion (Pfeiffer et al., EACL 2021), the baseline MerA compares against (papers/mera.md Sec. 2).

N frozen source adapters sit at the same position of a layer; a per-layer attention over their outputs is
trained on the target (AdapterHub's ``BertFusion`` with the paper's "dynamic" configuration):

    delta_n = W_up^n ReLU(W_down^n LN_n(x) + b_down^n) + b_up^n        (adapter n's output, no residual)
    q = x W_Q + b_Q,  k_n = delta_n W_K + b_K,  v_n = delta_n W_V + b_V           (value before the softmax)
    o = sum_n softmax_n(q . k_n) v_n,            output = residual + o

With the Pfeiffer placement used here (``replib.nn.adapters.PfeifferNorm``): z = h + x enters the layer's
output LayerNorm, the adapters and the query read x = LN(z), the residual is z, and the block returns
LN(z + o) (the same LayerNorm twice, as the single-adapter placement). Our choices, as AdapterHub:
query and key N(0, 0.02), value the identity plus 1e-6 off the diagonal, biases 0; every projection has a bias,
so the trainable count is 3 d^2 + 3 d per layer (plus the head); dropout (the encoder's attention-probability
rate) on the scores before the softmax, temperature 1. Deviation: AdapterHub's optional regulariser
||I - W_V|| is not used. With N = 1 the softmax is 1: o = v_1 = delta_1 W_V + b_V, which at init is delta_1 up to
the 1e-6 off-diagonal terms.

The N adapters run as one batched computation (stacked weights, one einsum per projection), and the key and
value projections are applied once instead of N times (both are linear, see ``Fusion.forward``); the tests hold
it against ``Fusion.literal`` and a loop over ``BottleneckAdapter`` modules.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..nn.adapters import encoder_layers


class StackedAdapters(nn.Module):
    """N frozen bottleneck adapters of one width evaluated at once: x (..., d) -> delta (..., N, d)."""

    def __init__(self, states: list[dict], eps: float = 1e-5):
        super().__init__()
        if not states:
            raise ValueError("AdapterFusion needs at least one source adapter")
        stack = {k: torch.stack([s[k].detach().float() for s in states]) for k in states[0]}
        self.has_ln = "ln.weight" in stack
        for k, v in stack.items():                     # buffers: frozen, moved with the module
            self.register_buffer(k.replace(".", "_"), v)
        self.eps = eps

    @property
    def n(self) -> int:
        return self.down_weight.shape[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = x.unsqueeze(-2)                                                         # (..., 1, d)
        if self.has_ln:
            a = F.layer_norm(a, a.shape[-1:], eps=self.eps) * self.ln_weight + self.ln_bias    # (..., N, d)
        h = F.relu(torch.einsum("...nd,nrd->...nr", a, self.down_weight.to(a.dtype)) + self.down_bias)
        return torch.einsum("...nr,ndr->...nd", h, self.up_weight.to(h.dtype)) + self.up_bias   # (..., N, d)


class Fusion(nn.Module):
    """The trainable attention of one layer: (query x, adapter outputs delta) -> o (Pfeiffer et al. Eq. 2-3)."""

    def __init__(self, d: int, dropout: float = 0.0):
        super().__init__()
        self.query, self.key, self.value = nn.Linear(d, d), nn.Linear(d, d), nn.Linear(d, d)
        self.dropout = nn.Dropout(dropout)
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        for lin in (self.query, self.key):
            lin.weight.normal_(0.0, 0.02)
            lin.bias.zero_()
        d = self.value.weight.shape[0]
        self.value.weight.copy_(torch.full((d, d), 1e-6).fill_diagonal_(1.0))    # AdapterHub value_initialized
        self.value.bias.zero_()

    def forward(self, x: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
        # k_n and v_n are linear in delta_n, so neither is formed per adapter (N times fewer d x d products):
        # q . k_n = (q W_K) . delta_n + q . b_K, and sum_n p_n v_n = W_V (sum_n p_n delta_n) + b_V as sum_n p_n = 1
        q = self.query(x)                                                           # (..., d)
        qk = q @ self.key.weight.to(q.dtype)                                        # (..., d) = q W_K
        scores = torch.einsum("...d,...nd->...n", qk, delta.to(qk.dtype)) + (q * self.key.bias).sum(-1, keepdim=True)
        p = self.dropout(scores).softmax(-1)                                        # (..., N)
        return self.value(torch.einsum("...n,...nd->...d", p.to(delta.dtype), delta))   # (..., d)

    def literal(self, x: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
        """The equations as written (k_n, v_n for every adapter): the reference of the fast forward."""
        q, k, v = self.query(x), self.key(delta), self.value(delta)                 # (..., d), (..., N, d) x 2
        p = self.dropout(torch.einsum("...d,...nd->...n", q, k)).softmax(-1)
        return torch.einsum("...n,...nd->...d", p, v)


class FusionNorm(nn.Module):
    """Stands in for output.LayerNorm: z -> LN(z + Fusion(LN(z), adapters(LN(z))))."""

    def __init__(self, norm: nn.LayerNorm, states: list[dict], dropout: float = 0.0):
        super().__init__()
        self.norm = norm
        self.adapters = StackedAdapters(states)
        self.fusion = Fusion(norm.normalized_shape[0], dropout)

    def forward(self, z):
        x = self.norm(z)
        return self.norm(z + self.fusion(x, self.adapters(x)))


def insert_fusion(model: nn.Module, sources: list[list[dict]], *, layers=None, dropout: float | None = None,
                  freeze: bool = True) -> list[FusionNorm]:
    """AdapterFusion over N source adapter sets (each one Pfeiffer module per layer in ``layers``, default every
    layer) into ``model`` in place; returns the fusion blocks. The backbone and the adapters stay frozen."""
    blocks = encoder_layers(model)
    idx = list(range(len(blocks))) if layers is None else list(layers)
    if any(len(s) != len(idx) for s in sources):
        raise ValueError(f"each source needs one adapter module per fused layer ({len(idx)}), "
                         f"got {[len(s) for s in sources]}")
    p = dropout if dropout is not None else getattr(getattr(model, "config", None), "attention_probs_dropout_prob",
                                                    0.0)
    if freeze:
        model.requires_grad_(False)
    out = []
    for pos, i in enumerate(idx):
        block = blocks[i]
        block.output.LayerNorm = FusionNorm(block.output.LayerNorm, [s[pos] for s in sources], dropout=p)
        out.append(block.output.LayerNorm)
    return out


def fusion_parameters(d: int, layers: int, *, bias: bool = True) -> int:
    """Trainable AdapterFusion parameters: 3 d^2 (+ 3 d biases) per layer."""
    return layers * (3 * d * d + (3 * d if bias else 0))


def adapter_parameters(d: int, r: int, layers: int, *, layer_norm: bool = True) -> int:
    """Parameters of one Pfeiffer adapter set: per layer 2 d r + r + d (+ 2 d for the LayerNorm)."""
    return layers * (2 * d * r + r + d + (2 * d if layer_norm else 0))
