"""MADAug: model-adaptive data augmentation curriculum (Hou, Zhang, Zhou, ICCV 2023). Spec: papers/madaug.md;
notebook notebooks/08_madaug.ipynb (later). Step 1: the batched augmentation ops; step 2: the policy, exploit
and the bi-level explore step."""
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
from .policy import (
    BN_MODES,
    Policy,
    exploit,
    explore,
    jitter,
    mix_ops,
    policy_features,
    sample_ops,
    sgd_step,
    split_rate,
    unrolled_loss,
)

__all__ = ["BLENDS", "BN_MODES", "CUTOUT_FILL", "GEOMETRIC", "MAGNITUDE_FREE", "OPS", "OP_NAMES", "Policy",
           "affine_matrices", "apply_op", "check_op", "cutout", "draw_centres", "draw_signs", "exploit", "explore",
           "jitter", "mix_ops", "policy_features", "sample_ops", "sgd_step", "split_rate", "ste", "strength",
           "unrolled_loss", "value"]
