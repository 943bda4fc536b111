"""The task model: a Wide ResNet exposing features ``f`` and head ``g`` (papers/madaug.md Sec. 2 "Models").

WRN-d-k (Zagoruyko & Komodakis 2016) as the official ``networks/wideresnet.py`` builds it: a 3x3 stem of 16
channels, three groups of ``n = (d - 4) / 6`` pre-activation basic blocks of widths 16k, 32k, 64k (stride 1, 2,
2), BN-ReLU, global average pooling. ``f(x)`` returns the pooled features (64k channels; 640 for WRN-28-10), the
policy's input; ``g(z)`` is the linear classifier, ``forward = g(f(x))``. Dropout 0 (the official default).
Init as the official file: Kaiming-normal (fan_out) convolutions, BN weight 1 / bias 0, zero linear bias.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    """Pre-activation basic block: BN-ReLU-conv3x3(stride)-BN-ReLU-conv3x3, 1x1 shortcut when the shape changes."""

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.bn1, self.conv1 = nn.BatchNorm2d(c_in), nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn2, self.conv2 = nn.BatchNorm2d(c_out), nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.short = None if (c_in == c_out and stride == 1) else nn.Conv2d(c_in, c_out, 1, stride, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        o = F.relu(self.bn1(x))
        y = self.conv2(F.relu(self.bn2(self.conv1(o))))
        return y + (x if self.short is None else self.short(o))


class WideResNet(nn.Module):
    """WRN-``depth``-``widen`` with ``f`` (features, (B, 64 * widen)) and ``g`` (logits)."""

    def __init__(self, *, depth: int = 10, widen: int = 1, num_classes: int = 10, in_channels: int = 3):
        """
        - depth: 6n + 4 (10, 16, 28, 40, ...); n blocks per group.
        - widen: width factor k.
        - num_classes: outputs of g.
        - in_channels: image channels.
        """
        super().__init__()
        if depth < 10 or (depth - 4) % 6 or widen < 1 or num_classes < 2:
            raise ValueError(f"WideResNet needs depth = 6n + 4 >= 10, widen >= 1, num_classes >= 2; got depth={depth}, "
                             f"widen={widen}, num_classes={num_classes}")
        n, widths = (depth - 4) // 6, [16, 16 * widen, 32 * widen, 64 * widen]
        self.stem = nn.Conv2d(in_channels, widths[0], 3, 1, 1, bias=False)
        blocks, c = [], widths[0]
        for w, stride in zip(widths[1:], (1, 2, 2)):
            for i in range(n):
                blocks.append(Block(c, w, stride if i == 0 else 1))
                c = w
        self.blocks = nn.Sequential(*blocks)
        self.bn = nn.BatchNorm2d(c)
        self.feature_dim = c
        self.fc = nn.Linear(c, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.zeros_(m.bias)

    def f(self, x: torch.Tensor) -> torch.Tensor:
        """Images (B, C, H, W) -> pooled features (B, feature_dim)."""
        h = F.relu(self.bn(self.blocks(self.stem(x))))
        return h.mean((2, 3))

    def g(self, z: torch.Tensor) -> torch.Tensor:
        """Features (B, feature_dim) -> logits (B, classes)."""
        return self.fc(z)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.g(self.f(x))
