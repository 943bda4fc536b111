"""Dynamic and partially dynamic convolution (He et al., PAD-Net, ACL 2023; papers/padnet.md Sec. 2).

Fully dynamic DY-Conv (Chen et al. 2020) as PAD-Net's code builds it:
    alpha(x) = softmax(FC2(ReLU(FC1(GAP(x)))) / tau)             FC1: C_in -> max(1, C_in // 16), no bias
    W~(x)    = sum_k alpha_k(x) W_k                              K = 4 kernels
PAD DY-Conv keeps a per-position mask M (shared by the K kernels) and a static kernel W_bar:
    W^(x) = lambda_d * M . W~(x) + lambda_s * (1 - M) . W_bar,   lambda_d = 2 sigmoid(phi), lambda_s = 2 - lambda_d
phi = 0 at init, so both scale factors start at 1 and always sum to 2 (Lambda mode 'both'). Modes 's' / 'd'
learn only that factor as 2 sigmoid(phi) and fix the other at 1 (the official 's'/'d' crash; our choice);
'none' fixes both at 1. M = 1 is the fully dynamic layer, M = 0 a static conv with lambda_s W_bar.

The whole batch runs as one grouped convolution (groups = batch, one kernel per sample). ``path="expand"``
computes the same output as one dense conv with (K + 1) C_out filters (the K dynamic kernels times
lambda_d M, the static one times lambda_s (1 - M)) followed by the alpha-weighted sum: exact because
convolution is linear in its weights (spec Sec. 8); the benchmark keeps whichever is faster.
Temperature: tau(t) = 1 + (tau0 - 1) max(0, (T - t) / T), tau0 = 30 (``temperature``).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

LAMBDA_MODES = ("both", "s", "d", "none")
PATHS = ("grouped", "expand")


def temperature(epoch: float, anneal_epochs: float, tau0: float = 30.0) -> float:
    """Linear annealing from tau0 at epoch 0 to 1 at ``anneal_epochs``, 1 afterwards."""
    if anneal_epochs <= 0:
        return 1.0
    return 1.0 + (tau0 - 1.0) * max(0.0, (anneal_epochs - epoch) / anneal_epochs)


class PADConv2d(nn.Module):
    """Partially dynamic 2-d convolution; ``mask`` (buffer, 1 = dynamic) is set by mode partition."""

    is_pad_layer = True

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int, stride: int = 1, padding: int = 0,
                 num_kernels: int = 4, reduction: int = 16, lambda_mode: str = "both", bias: bool = False,
                 path: str = "grouped"):
        super().__init__()
        if lambda_mode not in LAMBDA_MODES:
            raise ValueError(f"unknown lambda_mode {lambda_mode!r}; valid: {', '.join(LAMBDA_MODES)}")
        if path not in PATHS:
            raise ValueError(f"unknown path {path!r}; valid: {', '.join(PATHS)}")
        if num_kernels < 1:
            raise ValueError(f"num_kernels must be >= 1, got {num_kernels}")
        self.in_ch, self.out_ch, self.kernel_size = in_ch, out_ch, kernel_size
        self.stride, self.padding, self.K = stride, padding, num_kernels
        self.lambda_mode, self.path, self.tau = lambda_mode, path, 1.0
        hidden = max(1, in_ch // reduction)
        self.fc1 = nn.Conv2d(in_ch, hidden, 1, bias=False)
        self.fc2 = nn.Conv2d(hidden, num_kernels, 1, bias=True)
        shape = (out_ch, in_ch, kernel_size, kernel_size)
        std = math.sqrt(2.0 / (in_ch * kernel_size * kernel_size))           # N(0, 2/n), He init
        self.weight = nn.Parameter(torch.randn(num_kernels, *shape) * std)   # W_k: (K, O, I, kh, kw)
        self.static_weight = nn.Parameter(torch.randn(*shape) * std)        # W_bar, its own init
        self.bias = nn.Parameter(torch.zeros(num_kernels, out_ch)) if bias else None
        self.register_buffer("mask", torch.ones(*shape))                    # M, shared by the K kernels
        self.phi = nn.Parameter(torch.zeros(()))

    # ---- the pieces of eq. W^ = lambda_d M . W~ + lambda_s (1 - M) . W_bar ---------------------------------
    def scales(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(lambda_d, lambda_s) for this layer's Lambda mode."""
        one = torch.ones((), device=self.phi.device)
        learned = 2.0 * torch.sigmoid(self.phi)
        if self.lambda_mode == "both":
            return learned, 2.0 - learned
        if self.lambda_mode == "d":
            return learned, one
        if self.lambda_mode == "s":
            return one, learned
        return one, one

    def attention(self, x: torch.Tensor) -> torch.Tensor:
        """alpha(x): (B, C, H, W) -> (B, K), softmax of the logits over tau."""
        h = F.relu(self.fc1(F.adaptive_avg_pool2d(x, 1)))
        return torch.softmax(self.fc2(h).flatten(1) / self.tau, dim=1)

    def kernels(self, alpha: torch.Tensor) -> torch.Tensor:
        """Per-sample computational kernels W^: (B, K) -> (B, O, I, kh, kw)."""
        lam_d, lam_s = self.scales()
        agg = (alpha @ self.weight.flatten(1)).view(-1, *self.weight.shape[1:])   # (B, O, I, kh, kw)
        return lam_d * self.mask * agg + lam_s * (1 - self.mask) * self.static_weight

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B = x.shape[0]
        alpha = self.attention(x)
        bias = (alpha @ self.bias).flatten() if self.bias is not None else None  # (B * O,)
        if self.path == "expand":
            return self._forward_expand(x, alpha, bias)
        w = self.kernels(alpha).flatten(0, 1)                                   # (B*O, I, kh, kw)
        y = F.conv2d(x.reshape(1, B * self.in_ch, *x.shape[2:]), w, bias, self.stride, self.padding, groups=B)
        return y.view(B, self.out_ch, *y.shape[2:])

    def _forward_expand(self, x, alpha, bias):
        """One dense conv with (K + 1) O filters, then the alpha-weighted sum (linear in the weights)."""
        lam_d, lam_s = self.scales()
        w = torch.cat([(lam_d * self.mask) * self.weight, ((lam_s * (1 - self.mask)) * self.static_weight)[None]])
        y = F.conv2d(x, w.flatten(0, 1), None, self.stride, self.padding)          # (B, (K+1) O, H', W')
        y = y.view(x.shape[0], self.K + 1, self.out_ch, *y.shape[2:])
        out = torch.einsum("bk,bkohw->bohw", alpha, y[:, :-1]) + y[:, -1]
        return out if bias is None else out + bias.view(x.shape[0], self.out_ch, 1, 1)

    def intrinsic_parameters(self) -> float:
        """Kernel parameters that exist in the PAD view: K per dynamic position, 1 per static one."""
        n_dyn = float(self.mask.sum())
        return self.K * n_dyn + (self.mask.numel() - n_dyn)

    def extra_repr(self) -> str:
        return (f"{self.in_ch}, {self.out_ch}, kernel_size={self.kernel_size}, stride={self.stride}, K={self.K}, "
                f"dynamic={float(self.mask.mean()):.3f}, lambda={self.lambda_mode}")


def pad_layers(model: nn.Module) -> list[nn.Module]:
    """Every layer with a mode mask (PAD convolutions and PAD MoE linears), in module order."""
    return [m for m in model.modules() if getattr(m, "is_pad_layer", False)]


def kernel_stats(model: nn.Module) -> dict:
    """Share of dynamic positions, intrinsic parameters and mask size over all PAD layers (zeros if none)."""
    layers = pad_layers(model)
    n = sum(m.mask.numel() for m in layers)
    return {"dynamic_share": sum(float(m.mask.sum()) for m in layers) / n if n else 0.0,
            "intrinsic_params": float(sum(m.intrinsic_parameters() for m in layers)), "kernel_numel": n}


def counted_parameters(model: nn.Module) -> int:
    """Kernel entries the PAD view uses, counted from the tensors themselves (not ``intrinsic_parameters``):
    the K (or n) kernel entries at every dynamic mask position plus the static entry at every static one."""
    total = 0
    for m in pad_layers(model):
        dyn = m.mask.bool()
        total += m.weight[:, dyn].numel() + m.static_weight[~dyn].numel()
    return int(total)


def set_temperature(model: nn.Module, tau: float) -> None:
    for m in pad_layers(model):
        if isinstance(m, PADConv2d):
            m.tau = float(tau)


def param_count(numel: int, num_kernels: int, dynamic_ratio: float) -> float:
    """Intrinsic parameters of one PAD layer's kernel (spec Sec. 2): |W| (K kappa + 1 - kappa).

    kappa = 1 gives the fully dynamic K |W|, kappa = 0 the static |W|; K = 4, kappa = 0.3 gives 1.9 |W|.
    """
    if not 0.0 <= dynamic_ratio <= 1.0:
        raise ValueError(f"dynamic_ratio must lie in [0, 1], got {dynamic_ratio}")
    return numel * (num_kernels * dynamic_ratio + 1.0 - dynamic_ratio)


# ---- a small CIFAR-style ResNet whose 3x3 and shortcut convolutions are PAD DY-Convs ----------------------
# Stem conv and classifier stay static, as in the official ResNet variants. kind: "static" (nn.Conv2d),
# "dynamic" (PADConv2d with M = 1 and no scale factors: the fully dynamic DY-Conv network), "pad"
# (PADConv2d with scale factors; masks from mode_partition).
KINDS = ("static", "dynamic", "pad")


def make_conv(kind: str, in_ch: int, out_ch: int, kernel_size: int, stride: int, num_kernels: int, reduction: int,
              lambda_mode: str, path: str) -> nn.Module:
    if kind == "static":
        return nn.Conv2d(in_ch, out_ch, kernel_size, stride, kernel_size // 2, bias=False)
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; valid: {', '.join(KINDS)}")
    mode = "none" if kind == "dynamic" else lambda_mode
    return PADConv2d(in_ch, out_ch, kernel_size, stride, kernel_size // 2, num_kernels, reduction, mode, path=path)


class Block(nn.Module):
    """Basic residual block: conv-BN-ReLU-conv-BN plus an identity or 1x1 conv shortcut."""

    def __init__(self, in_ch: int, out_ch: int, stride: int, conv):
        super().__init__()
        self.c1, self.b1 = conv(in_ch, out_ch, 3, stride), nn.BatchNorm2d(out_ch)
        self.c2, self.b2 = conv(out_ch, out_ch, 3, 1), nn.BatchNorm2d(out_ch)
        self.short = None
        if stride != 1 or in_ch != out_ch:
            self.short = nn.Sequential(conv(in_ch, out_ch, 1, stride), nn.BatchNorm2d(out_ch))

    def forward(self, x):
        out = self.b2(self.c2(F.relu(self.b1(self.c1(x)))))
        return F.relu(out + (x if self.short is None else self.short(x)))


class ResNet(nn.Module):
    """Stem 3x3 -> stages of ``blocks`` blocks at widths (w, 2w, 4w), strides (1, 2, 2) -> GAP -> linear."""

    def __init__(self, in_ch: int = 3, num_classes: int = 10, width: int = 16, blocks: int = 1,
                 kind: str = "pad", num_kernels: int = 4, reduction: int = 16, lambda_mode: str = "both",
                 path: str = "grouped"):
        super().__init__()
        def conv(i, o, kernel_size, s):
            return make_conv(kind, i, o, kernel_size, s, num_kernels, reduction, lambda_mode, path)
        self.stem = nn.Sequential(nn.Conv2d(in_ch, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU())
        layers, ch = [], width
        for i, w in enumerate((width, 2 * width, 4 * width)):
            for b in range(blocks):
                layers.append(Block(ch, w, 2 if (i > 0 and b == 0) else 1, conv))
                ch = w
        self.layers = nn.Sequential(*layers)
        self.head = nn.Linear(ch, num_classes)

    def forward(self, x):
        return self.head(F.adaptive_avg_pool2d(self.layers(self.stem(x)), 1).flatten(1))
