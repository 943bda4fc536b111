"""Mixture-of-linear-experts layers: vanilla MoE and MEO (He et al., EMNLP 2023, method section).

Each FFN linear becomes n bias-free experts W in R^{n x out x in} with its own router; the activation
stays outside. For routed unit b with gates G_b (k non-zeros):

    vanilla MoE:   y_bt = sum_i G_bi (W_i x_bt)               k matmuls per unit
    MEO:           W~_b = sum_i G_bi W_i,  y_bt = W~_b x_bt   one merge, then one matmul

At sequence and task level the two are equal (distributivity); MEO only saves compute. At token level
vanilla MoE routes each token while MEO (official code) still routes per sequence, after the token
attention block, TokenAtt(x) = W_up ReLU(W_down x + b_down) + b_up, applied as
x <- x + TokenAtt(x) before both gating and the merged matmul.

The router (Shazeer et al. 2017), the grouped dispatch of vanilla MoE and upcycling are the shared
``replib.nn.moe``; the merged linear is MEO's own. Under autocast the merged linear runs in the autocast
dtype with its hand-written backward (``merged_linear``), and the router stays in fp32.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from ..nn.moe import NoisyTopKGate, Routing, autocast_dtype, mix_experts, upcycle_weights

MODES = ("moe", "meo")
LEVELS = ("sequence", "task", "token")
TASK_EMB_DIM = 128
# Official task-level projection widths: 128 -> 128/64 = 2 (MEO), 128 -> 128/16 = 8 (MoE).
TASK_PROJ = {"meo": TASK_EMB_DIM // 64, "moe": TASK_EMB_DIM // 16}


class RoutingState:
    """Per-batch context the model hands to every MoE linear (shared by reference)."""

    def __init__(self, pad_in_mean: bool = True):
        self.pad_in_mean = pad_in_mean   # official: the sequence mean includes padding
        self.mask: torch.Tensor | None = None     # (B, T) attention mask
        self.task_u: torch.Tensor | None = None   # (B, 128) task-description embedding


def sequence_mean(x: torch.Tensor, mask: torch.Tensor | None, pad_in_mean: bool) -> torch.Tensor:
    """(B, T, d) -> (B, d); mean over all positions (official) or over unmasked ones."""
    if pad_in_mean or mask is None:
        return x.mean(dim=1)
    m = mask.to(x.dtype).unsqueeze(-1)                                   # (B, T, 1)
    return (x * m).sum(1) / m.sum(1).clamp_min(1.0)


def moe_apply(x: torch.Tensor, gates: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None,
              indices: torch.Tensor | None = None) -> torch.Tensor:
    """Vanilla MoE, y_r = sum_i G_ri (W_i x_r + b_i), grouped by expert (one matmul per used expert).

    x: (R, T, in) routed units; gates: (R, n); weight: (n, out, in); bias: (n, out) -> (R, T, out).
    indices: (R, k) the selected experts (the router's); without them the non-zeros of `gates` are used.
    Dispatch is ``replib.nn.moe.mix_experts``: one sort by expert id, no loop over units.
    """
    if indices is None:
        units, experts = gates.nonzero(as_tuple=True)                          # (P,), (P,) row-major
    else:
        units = torch.arange(indices.shape[0], device=indices.device).repeat_interleave(indices.shape[1])
        experts = indices.flatten()                                            # (R*k,)

    def expert(e: int, xe: torch.Tensor) -> torch.Tensor:
        out = xe @ weight[e].T                                                 # (m, T, out)
        return out if bias is None else out + bias[e]

    return mix_experts(x, units, experts, gates[units, experts], expert, n_experts=weight.shape[0],
                       out_features=weight.shape[1])


def _merge_basis(gates: torch.Tensor, indices: torch.Tensor, weight: torch.Tensor, *,
                 sync_free: bool | None = None):
    """(g, w): gates and experts restricted to the experts U the batch uses, or all n when most are used.

    The official code gathers each sequence's k experts (B x k x out x in) when 2k < n, else sums all
    n densely. Merging over U instead gives the same W~ with far less memory traffic, which is what the
    merge is bound by; copying W[U] only pays when at most half of the experts are used.
    Finding U (``unique``) is a host read: free on the CPU, a sync per step on an accelerator. There
    (``sync_free``, the default off the CPU) the basis follows from shapes alone: all n experts when the
    batch's B*k selections could cover more than half of them, else the B*k selected experts themselves
    with block-diagonal gates (the official gather).
    """
    n = weight.shape[0]
    if sync_free is None:
        sync_free = gates.device.type != "cpu"
    if sync_free:
        if 2 * indices.numel() > n:
            return gates.to(weight.dtype), weight
        B, k = indices.shape
        slots = torch.arange(B * k, device=indices.device).view(B, k)         # (B, k) column of each selection
        g = gates.new_zeros(B, B * k).scatter(1, slots, gates.gather(1, indices))   # (B, B*k) block-diagonal
        return g.to(weight.dtype), weight.index_select(0, indices.flatten())  # (B*k, out, in)
    used = indices.unique()
    if 2 * used.numel() > n:
        return gates.to(weight.dtype), weight
    return gates.index_select(1, used).to(weight.dtype), weight.index_select(0, used)


def _merge(g: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """(B, m) gates @ (m, out, in) experts -> (B, out, in) merged weights, one GEMM."""
    return (g @ w.reshape(w.shape[0], -1)).view(-1, *w.shape[1:])


def meo_merge(gates: torch.Tensor, indices: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """W~_b = sum_i G_bi W_i -> (B, out, in), as one GEMM (B x |U|) @ (|U| x out*in)."""
    return _merge(*_merge_basis(gates, indices, weight))


class _MergedLinear(torch.autograd.Function):
    """y_b = x_b W~_b^T with W~_b = sum_i g_bi w_i, and a hand-written backward.

    Training is bound by the (B, out, in) tensors W~ and dW~; autograd's generic backward makes extra
    transposed copies of them. Here each is written once and read where needed:
        dx_b = dy_b W~_b,   dW~_b = dy_b^T x_b,   dg_bi = <dW~_b, w_i>,   dw_i = sum_b g_bi dW~_b.
    """

    @staticmethod
    def forward(ctx, x, g, w):
        merged = _merge(g, w)                                                 # (B, out, in)
        ctx.save_for_backward(x, g, w, merged)
        return torch.bmm(x, merged.transpose(1, 2))                           # (B, T, out)

    @staticmethod
    def backward(ctx, dy):
        x, g, w, merged = ctx.saved_tensors
        dx = torch.bmm(dy, merged) if ctx.needs_input_grad[0] else None       # (B, T, in)
        d_merged = torch.bmm(dy.transpose(1, 2), x).view(x.shape[0], -1)      # (B, out*in)
        w_flat = w.reshape(w.shape[0], -1)
        dg = d_merged @ w_flat.T if ctx.needs_input_grad[1] else None         # (B, m)
        dw = (g.T @ d_merged).view_as(w) if ctx.needs_input_grad[2] else None
        return dx, dg, dw


def merged_linear(x: torch.Tensor, g: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """``_MergedLinear`` with its autocast behaviour declared, on any device type.

    Under autocast the inputs are cast to the autocast dtype and forward and backward run with autocast
    off, which is what ``torch.amp.custom_fwd(cast_inputs=...)`` does for a single device type; without
    autocast nothing is cast. x: (B, T, in), g: (B, m), w: (m, out, in) -> (B, T, out).
    """
    dtype = autocast_dtype(x.device.type)
    if dtype is None:
        return _MergedLinear.apply(x, g, w)
    with torch.autocast(x.device.type, enabled=False):
        return _MergedLinear.apply(x.to(dtype), g.to(dtype), w.to(dtype))


def meo_apply(x: torch.Tensor, routing: Routing, weight: torch.Tensor,
              bias: torch.Tensor | None = None) -> torch.Tensor:
    """MEO, y_bt = W~_b x_bt + b~_b. x: (B, T, in) -> (B, T, out)."""
    g, w = _merge_basis(routing.gates, routing.indices, weight)
    y = merged_linear(x, g, w)
    if bias is not None:
        y = y + (routing.gates.to(bias.dtype) @ bias).unsqueeze(1)           # b~_b = sum_i G_bi b_i
    return y


class TokenAtt(nn.Module):
    """MEO's token attention block: d -> d/reduction -> d bottleneck, zero at initialisation."""

    def __init__(self, dim: int, reduction: int = 64):
        super().__init__()
        hidden = max(1, dim // reduction)
        self.down = nn.Linear(dim, hidden)    # default init = kaiming_uniform(a=sqrt(5)), as official
        self.up = nn.Linear(hidden, dim)
        nn.init.zeros_(self.down.bias)
        nn.init.zeros_(self.up.weight)        # W_up = 0: the block starts as the identity residual
        nn.init.zeros_(self.up.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.up(torch.relu(self.down(x)))


class MoELinear(nn.Module):
    """A linear layer made of `n_experts` experts with its own noisy top-k router.

    mode: "moe" (vanilla) or "meo" (merged); level: "sequence", "task" or "token".
    At token level MEO routes per sequence after TokenAtt, as the official code does.
    The latest auxiliary loss is kept in `self.aux_loss` for the model to collect.
    """

    def __init__(self, in_features: int, out_features: int, n_experts: int, k: int, *,
                 mode: str = "meo", level: str = "sequence", bias: bool = False,
                 state: RoutingState | None = None, att_reduction: int = 64, noisy: bool = True):
        super().__init__()
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; valid: {MODES}")
        if level not in LEVELS:
            raise ValueError(f"unknown level {level!r}; valid: {LEVELS}")
        self.in_features, self.out_features = in_features, out_features
        self.mode, self.level, self.state = mode, level, state or RoutingState()
        self.weight = nn.Parameter(torch.empty(n_experts, out_features, in_features))
        self.bias = nn.Parameter(torch.zeros(n_experts, out_features)) if bias else None
        nn.init.kaiming_uniform_(self.weight.view(-1, in_features), a=math.sqrt(5))
        route_dim = in_features
        self.task_proj = None
        if level == "task":
            route_dim = TASK_PROJ[mode]
            self.task_proj = nn.Linear(TASK_EMB_DIM, route_dim)
        self.gate = NoisyTopKGate(route_dim, n_experts, k, noisy=noisy)
        self.token_att = TokenAtt(in_features, att_reduction) if (mode, level) == ("meo", "token") else None
        self.aux_loss = torch.zeros(())

    @classmethod
    def upcycle(cls, linear: nn.Linear, n_experts: int, k: int, *, drop_bias: bool = True, **kw) -> MoELinear:
        """Copy a dense linear into every expert; the merged weight then equals it for any gates."""
        keep_bias = linear.bias is not None and not drop_bias
        layer = cls(linear.in_features, linear.out_features, n_experts, k, bias=keep_bias, **kw)
        layer.to(device=linear.weight.device, dtype=linear.weight.dtype).train(linear.training)
        upcycle_weights(linear, layer.weight, layer.bias)
        return layer

    def route_input(self, x: torch.Tensor) -> torch.Tensor:
        if self.level == "task":
            if self.state.task_u is None:
                raise RuntimeError("task-level routing needs state.task_u (the task-description embedding)")
            return self.task_proj(self.state.task_u)
        if self.level == "token" and self.mode == "moe":
            return x.reshape(-1, x.shape[-1])                                  # (B*T, in)
        return sequence_mean(x, self.state.mask, self.state.pad_in_mean)      # (B, in)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, T, in) -> (B, T, out)."""
        if self.token_att is not None:
            x = x + self.token_att(x)
        routing = self.gate(self.route_input(x))
        self.aux_loss = routing.aux_loss
        if self.mode == "meo":
            return meo_apply(x, routing, self.weight, self.bias)
        if self.level == "token":
            B, T, _ = x.shape
            y = moe_apply(x.reshape(B * T, 1, -1), routing.gates, self.weight, self.bias, routing.indices)
            return y.view(B, T, -1)                                            # (B*T, 1, out) -> (B, T, out)
        return moe_apply(x, routing.gates, self.weight, self.bias, routing.indices)

    def extra_repr(self) -> str:
        return (f"in={self.in_features}, out={self.out_features}, n={self.weight.shape[0]}, "
                f"k={self.gate.k}, mode={self.mode}, level={self.level}, bias={self.bias is not None}")


def ffn_pair(d: int, f: int, n_experts: int, k: int, generator: torch.Generator | None = None):
    """(vanilla MoE FFN, MEO FFN) sharing experts and a random router, so both compute one function.

    The router is drawn at random (not zero) so that different sequences pick different experts.
    """
    moe = MoEFFN(d, f, n_experts, k, mode="moe")
    for lin in (moe.up, moe.down):
        lin.gate.w_gate.data = torch.randn(lin.gate.w_gate.shape, generator=generator)
    meo = MoEFFN(d, f, n_experts, k, mode="meo")
    meo.load_state_dict(moe.state_dict())
    return moe, meo


class MoEFFN(nn.Module):
    """d -> f -> d FFN of two MoE linears (sequence level) with GELU between, as a BERT FFN."""

    def __init__(self, d: int, f: int, n_experts: int, k: int, *, mode: str = "meo"):
        super().__init__()
        self.up = MoELinear(d, f, n_experts, k, mode=mode)
        self.down = MoELinear(f, d, n_experts, k, mode=mode)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down(nn.functional.gelu(self.up(x)))
