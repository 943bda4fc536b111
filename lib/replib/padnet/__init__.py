"""PAD-Net: partially dynamic networks (He et al., ACL 2023). Spec: papers/padnet.md."""
from .conv import (
           LAMBDA_MODES,
           PADConv2d,
           ResNet,
           pad_layers,
           param_count,
           set_temperature,
           temperature,
)
from .moe import PadMoELinear
from .partition import kappa_schedule, mode_partition

__all__ = ["LAMBDA_MODES", "PADConv2d", "PadMoELinear", "ResNet", "kappa_schedule", "mode_partition", "pad_layers",
           "param_count", "set_temperature", "temperature"]
