"""MADAug: model-adaptive data augmentation curriculum (Hou, Zhang, Zhou, ICCV 2023). Spec: papers/madaug.md;
notebook notebooks/08_madaug.ipynb. ``ops`` (the 17 batched ops), ``policy`` (h, the curriculum, exploit, the
bi-level explore step), ``baselines`` (no-aug, Cutout, RandAugment, TrivialAugment), ``model`` (WRN with f / g),
``data`` (reduced sets, crop + flip, Cutout(16)), ``experiment``, ``claims``, ``config``."""
from .ops import (
    BLENDS,
    CUTOUT_FILL,
    GEOMETRIC,
    MAGNITUDE_FREE,
    OP_NAMES,
    OPS,
    affine_matrices,
    apply_chosen,
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
           "affine_matrices", "apply_chosen", "apply_op", "check_op", "cutout", "draw_centres", "draw_signs",
           "exploit", "explore", "jitter", "mix_ops", "policy_features", "sample_ops", "sgd_step", "split_rate",
           "ste", "strength", "unrolled_loss", "value"]
