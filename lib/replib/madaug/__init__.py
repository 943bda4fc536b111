"""MADAug: model-adaptive data augmentation curriculum (Hou, Zhang, Zhou, ICCV 2023). Spec: papers/madaug.md;
notebook notebooks/08_madaug.ipynb (later). Step 1: the batched augmentation ops."""
from .ops import (
    BLENDS,
    CUTOUT_FILL,
    GEOMETRIC,
    MAGNITUDE_FREE,
    OP_NAMES,
    OPS,
    affine_matrices,
    apply_op,
    check_op,
    cutout,
    draw_centres,
    draw_signs,
    ste,
    strength,
    value,
)

__all__ = ["BLENDS", "CUTOUT_FILL", "GEOMETRIC", "MAGNITUDE_FREE", "OPS", "OP_NAMES", "affine_matrices", "apply_op",
           "check_op", "cutout", "draw_centres", "draw_signs", "ste", "strength", "value"]
