"""A small CIFAR-style ResNet whose 3x3 and shortcut convolutions are PAD DY-Convs (PAD-Net Sec. 4.1).

Stem conv and classifier stay static, as in the official ResNet variants. ``kind``:
  "static"   plain ``nn.Conv2d`` everywhere (the static network),
  "dynamic"  ``PADConv2d`` with M = 1 and no scale factors: the fully dynamic DY-Conv network,
  "pad"      ``PADConv2d`` with scale factors (``lambda_mode``); its masks come from ``mode_partition``.
"""
from __future__ import annotations

import torch.nn.functional as F
from torch import nn

from .conv import PADConv2d

KINDS = ("static", "dynamic", "pad")


def make_conv(kind: str, in_ch: int, out_ch: int, k: int, stride: int, num_kernels: int, reduction: int,
              lambda_mode: str, path: str) -> nn.Module:
    if kind == "static":
        return nn.Conv2d(in_ch, out_ch, k, stride, k // 2, bias=False)
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; valid: {', '.join(KINDS)}")
    mode = "none" if kind == "dynamic" else lambda_mode
    return PADConv2d(in_ch, out_ch, k, stride, k // 2, num_kernels, reduction, mode, path=path)


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
        def conv(i, o, k, s):
            return make_conv(kind, i, o, k, s, num_kernels, reduction, lambda_mode, path)
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
