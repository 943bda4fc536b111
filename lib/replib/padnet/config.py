"""Configuration of the PAD-Net notebook: one dataclass, three profiles (smoke, quick, full)."""
from __future__ import annotations

from dataclasses import dataclass

from ..runtime import build_config, resolve_precision
from .conv import LAMBDA_MODES, PATHS

DATASETS = ("cifar10", "fashion-mnist")


@dataclass
class Config:
    """PAD-Net replication settings; defaults are the quick profile (2 CPU cores, minutes)."""

    datasets: tuple = ("cifar10", "fashion-mnist")
    """image datasets of the dynamic-ratio sweep (F1)."""
    ablation_dataset: str = "fashion-mnist"
    """dataset of the ablations (F2-F4)."""
    n_train: int | None = 4000
    """training images per dataset (seeded random subset); None = all."""
    n_test: int | None = 2000
    """test images per dataset; None = all."""
    image_size: int = 16
    """images are resized (area) to this side; 32 / 28 keeps CIFAR-10 / Fashion-MNIST as they are."""
    width: int = 8
    """channels of the first stage (stages: w, 2w, 4w)."""
    blocks: int = 1
    """residual blocks per stage."""
    num_kernels: int = 4
    """K, kernels per dynamic convolution."""
    reduction: int = 4
    """attention hidden size C_in // reduction (official 16; the plan's C/4 for narrow nets)."""
    path: str = "grouped"
    """batched dynamic conv: 'grouped' (groups = batch) or 'expand' ((K + 1) C_out filters)."""
    kappas: tuple = (0.1, 0.3, 0.5, 0.7, 0.9)
    """dynamic ratios of the sweep (plus static and fully dynamic)."""
    rounds: int = 5
    """IMP rounds T (exponential schedule)."""
    imp_batches: int = 4
    """batches of training images scored by IMP (official: 10 x 256)."""
    ablation_kappa: float = 0.3
    """dynamic ratio of the one-shot and scale-factor ablations."""
    random_kappas: tuple = (0.1, 0.3, 0.5)
    """dynamic ratios at which random partition is compared with IMP."""
    seeds: int = 2
    """seeds per configuration: seed .. seed + seeds - 1."""
    epochs: int = 8
    """training epochs."""
    batch_size: int = 128
    """training batch size."""
    lr: float = 0.05
    """SGD learning rate (momentum 0.9, Nesterov, cosine decay)."""
    weight_decay: float = 5e-4
    """SGD weight decay."""
    label_smoothing: float = 0.1
    """cross-entropy label smoothing (official ImageNet setting)."""
    tau0: float = 30.0
    """initial attention temperature."""
    anneal_frac: float = 1 / 3
    """share of the epochs over which tau anneals to 1."""
    lambda_mode: str = "both"
    """scale factors of the PAD runs ('both' tied, 's', 'd', 'none')."""
    data_seed: int = 0
    """seed of the train/test subsets (the same for every run)."""

    # --- F5: PAD MoE on GLUE ---
    glue: bool = True
    """run the MoE track (dense, fully dynamic MoE, PAD MoE on one GLUE task)."""
    glue_task: str = "SST-2"
    """GLUE task (dev split is the test set)."""
    glue_encoder: str = "minilm-l6"
    """'tiny' (random 2-layer BERT, smoke), 'minilm-l6' (offline) or a hub id (full, online)."""
    glue_layers: int = 1
    """top encoder layers upcycled and fine-tuned; the others are frozen and cached."""
    glue_train: int | None = 1000
    """training examples (seeded subset); None = all."""
    glue_eval: int | None = None
    """dev examples; None = all."""
    glue_max_len: int = 64
    """tokens per example."""
    glue_epochs: int = 3
    """fine-tuning epochs."""
    glue_batch_size: int = 32
    """fine-tuning batch size (README: 32)."""
    glue_lr: float = 1e-4
    """AdamW learning rate of the encoder top (paper 2e-5 over the whole of BERT)."""
    glue_head_lr: float = 3e-3
    """learning rate of the new classification head."""
    glue_imp_examples: int = 320
    """examples the mode partition sees (official: length x 32 = 320)."""
    moe_experts: int = 8
    """experts per upcycled FFN linear (n)."""
    moe_k: int = 2
    """experts per token (top-k)."""
    moe_kappa: float = 0.5
    """dynamic ratio of the PAD MoE (the paper's headline)."""

    precision: str = "auto"
    """precision of image and GLUE training and evaluation (replib.runtime.autocast): 'auto' = bf16 autocast on
    CUDA, fp32 on CPU (every committed figure is fp32), 'fp32' or 'bf16'. The IMP / random mode partition
    scores stay fp32 (a mask's ranking should not move with bf16 rounding)."""

    def validate(self) -> None:
        resolve_precision(self.precision)
        bad = [d for d in (*self.datasets, self.ablation_dataset) if d not in DATASETS]
        if bad:
            raise ValueError(f"unknown dataset(s) {bad}; valid: {', '.join(DATASETS)}")
        if self.lambda_mode not in LAMBDA_MODES or self.path not in PATHS:
            raise ValueError(f"lambda_mode must be one of {LAMBDA_MODES}, path one of {PATHS}")
        ks = (*self.kappas, self.ablation_kappa, *self.random_kappas)
        if not all(0.0 < k < 1.0 for k in ks):
            raise ValueError(f"dynamic ratios must lie strictly between 0 and 1, got {ks}")
        if not 0.0 < self.moe_kappa < 1.0 or not 1 <= self.moe_k <= self.moe_experts:
            raise ValueError(f"need 0 < moe_kappa < 1 and 1 <= moe_k <= moe_experts, got {self.moe_kappa}, "
                             f"{self.moe_k}, {self.moe_experts}")
        if min(self.seeds, self.epochs, self.rounds, self.imp_batches, self.width, self.image_size) < 1:
            raise ValueError("seeds, epochs, rounds, imp_batches, width and image_size must be >= 1")


PROFILES = {
    "smoke": dict(n_train=256, n_test=256, image_size=12, width=4, kappas=(0.3,), random_kappas=(0.3,), seeds=1,
                  epochs=1, batch_size=64, rounds=2, imp_batches=1, glue_encoder="tiny", glue_train=64, glue_eval=64,
                  glue_epochs=1, glue_imp_examples=32),
    "quick": dict(),
    "full": dict(n_train=None, n_test=None, image_size=32, width=16, blocks=2, reduction=16, kappas=(0.1, 0.3, 0.5,
                 0.7, 0.9), random_kappas=(0.1, 0.3, 0.5, 0.7, 0.9), seeds=3, epochs=60, imp_batches=10,
                 batch_size=256, lr=0.1, glue_layers=6, glue_train=None, glue_lr=2e-5, glue_max_len=128),
}


def get_config(profile: str = "quick", **overrides) -> Config:
    """Config for ``profile`` with ``overrides``; unknown keys or profiles raise ValueError."""
    return build_config(Config, PROFILES, profile, overrides)


def required_assets(cfg: Config) -> tuple[str, ...]:
    """The models and datasets `cfg` loads (replib.assets names or hub ids), for ``replib.assets.require``."""
    from ..nn.glue import encoder_asset
    glue = (encoder_asset(cfg.glue_encoder), f"glue/{cfg.glue_task}") if cfg.glue else ()
    return (*dict.fromkeys((*cfg.datasets, cfg.ablation_dataset)), *glue)
