"""Configuration of the MADAug notebook: one dataclass, three profiles (smoke, quick, full).

Defaults are the official reduced-CIFAR-10 recipe (papers/madaug.md Sec. 3) where it is affordable and the quick
profile's reductions otherwise; the ``full`` profile restores the official schedule on a GPU.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..runtime import build_config, resolve_precision
from .baselines import METHODS, check_method
from .data import DATASETS
from .policy import BN_MODES


@dataclass
class Config:
    """MADAug replication settings; defaults are the quick profile (2 CPU cores, ~15 minutes)."""

    # --- data ---
    datasets: tuple = ("cifar10", "fashion-mnist")
    """image sets: reduced CIFAR-10 (the paper's setting) and reduced Fashion-MNIST (a second set)."""
    n_train: int = 4000
    """training images per set by the official stratified split (official reduced CIFAR-10: 4,256)."""
    n_train_fashion: int | None = 2000
    """Fashion-MNIST training images (same split rule); None = n_train. Quick halves it to fit 15 minutes."""
    n_search: int = 1000
    """search (validation) images drawn from the rest, stratified (official: all 45,744 others)."""
    n_test: int | None = 2000
    """test images (stratified subset); None = the whole test set (10,000)."""
    data_seed: int = 0
    """seed of the search and test subsets (the training split is the official random_state 0)."""

    # --- task model and schedule ---
    depth: int = 10
    """WRN depth (6n + 4; official WRN-28-10)."""
    widen: int = 1
    """WRN width factor (official 10)."""
    epochs: int = 7
    """training epochs (official 240)."""
    batch_size: int = 128
    """training batch size (official 128); the last partial batch is dropped (defect 8 fixed)."""
    lr: float = 0.1
    """SGD learning rate before warm-up (official 0.1; peak lr * warmup_mult)."""
    warmup_mult: float = 2.0
    """GradualWarmup multiplier (official 2: lr rises to 0.2)."""
    warmup_epochs: float = 1.0
    """warm-up epochs, then cosine to min_lr (official 5 of 240)."""
    min_lr: float = 1e-4
    """end of the cosine (official 1e-4)."""
    momentum: float = 0.9
    """SGD momentum (official 0.9)."""
    weight_decay: float = 5e-4
    """SGD weight decay (official 5e-4)."""
    smoothing: float = 0.1
    """label smoothing of the training and explore losses (official 0.1)."""

    # --- augmentation and MADAug ---
    methods: tuple = METHODS
    """methods to train (baselines.METHODS)."""
    cutout: int = 16
    """side of the post-normalisation Cutout of every method except no-aug (official 16)."""
    ra_n: int = 2
    """RandAugment ops per image."""
    ra_magnitude: float = 0.5
    """RandAugment strength in [0, 1] (on the op's strength scale)."""
    k_ops: int = 2
    """ops per image in exploit (official 2)."""
    delta: float = 0.3
    """magnitude jitter U(0, delta) (official 0.3)."""
    temperature: float = 3.0
    """softmax temperature of exploit (official 3)."""
    threshold: float = 40.0
    """curriculum constant: split = min(tanh(e / (threshold * threshold_scale)) + 0.01, 1) (official 40 of 240)."""
    threshold_scale: float | None = None
    """scales the threshold: None = epochs / 240, the official share of the budget (40 of 240 epochs: the split
    reaches 0.77 at 1/6 of the epochs at every profile); 1 = the official constant 40 whatever the budget."""
    search_freq: int = 3
    """explore every search_freq training steps (official 3)."""
    search_batch: int = 16
    """clean validation images per explore step (official 16)."""
    explore_batch: int | None = 32
    """training images through the explore step: the first of the batch; None = the whole batch (official)."""
    policy_lr: float = 1e-3
    """Adam learning rate of h (official 1e-3)."""
    policy_wd: float = 1e-3
    """Adam weight decay of h (official 1e-3)."""
    explore_bn: str = "eval"
    """BN mode of the explore step: 'eval' (official) or 'train' (ablation flag)."""

    # --- runs ---
    seeds: int = 3
    """seeds per (set, method): seed .. seed + seeds - 1 (model init, batch order, augmentation draws)."""
    precision: str = "auto"
    """training precision (replib.runtime.autocast): 'auto' = bf16 autocast on CUDA, fp32 on CPU, 'fp32', 'bf16'."""

    @property
    def curriculum_scale(self) -> float:
        """``scale`` of ``policy.split_rate``: threshold_scale, or epochs / 240 when it is None."""
        return self.epochs / 240 if self.threshold_scale is None else self.threshold_scale

    def train_size(self, dataset: str) -> int:
        """Training images of ``dataset``."""
        return self.n_train_fashion if dataset == "fashion-mnist" and self.n_train_fashion else self.n_train

    def validate(self) -> None:
        resolve_precision(self.precision)
        for d in self.datasets:
            if d not in DATASETS:
                raise ValueError(f"dataset {d!r}; valid: {', '.join(DATASETS)}")
        for m in self.methods:
            check_method(m)
        if "madaug" in self.methods and "noaug" not in self.methods:
            raise ValueError("methods must include 'noaug' when 'madaug' is run (the claims compare with it)")
        if self.explore_bn not in BN_MODES:
            raise ValueError(f"explore_bn={self.explore_bn!r}; valid: {', '.join(BN_MODES)}")
        if self.depth < 10 or (self.depth - 4) % 6:
            raise ValueError(f"depth={self.depth} must be 6n + 4 >= 10 (10, 16, 22, 28, 40)")
        if min(self.widen, self.epochs, self.batch_size, self.seeds, self.search_freq, self.search_batch) < 1:
            raise ValueError("widen, epochs, batch_size, seeds, search_freq and search_batch must be >= 1")
        if self.n_search < self.search_batch:
            raise ValueError(f"n_search={self.n_search} must be >= search_batch={self.search_batch}")
        for name in ("n_train", "n_train_fashion"):
            n = getattr(self, name)
            if n is not None and n < self.batch_size:
                raise ValueError(f"{name}={n} must be >= batch_size={self.batch_size} (the last batch is dropped)")
        if not 1 <= self.k_ops <= 17 or not 0 <= self.delta <= 1 or not 0 <= self.ra_magnitude <= 1:
            raise ValueError(f"need 1 <= k_ops <= 17, delta and ra_magnitude in [0, 1]; got k_ops={self.k_ops}, "
                             f"delta={self.delta}, ra_magnitude={self.ra_magnitude}")
        if min(self.temperature, self.threshold, self.curriculum_scale, self.lr) <= 0 or self.warmup_epochs < 0:
            raise ValueError("temperature, threshold, threshold_scale and lr must be > 0, warmup_epochs >= 0")
        if self.explore_batch is not None and self.explore_batch < 1:
            raise ValueError(f"explore_batch={self.explore_batch} must be >= 1 or None (the whole batch)")


PROFILES: dict[str, dict] = {
    "smoke": dict(datasets=("cifar10",), n_train=256, n_train_fashion=256, n_search=64, n_test=200,  # the pipeline
                  epochs=2, batch_size=64, seeds=1, explore_batch=8, search_batch=8,
                  methods=("noaug", "trivialaugment", "madaug", "madaug_nobilevel")),
    "quick": dict(),
    "full": dict(n_train=4256,             # the official reduced CIFAR-10 split
                 n_train_fashion=None,     # Fashion-MNIST as large as CIFAR-10
                 n_search=10_000,          # a large search set (official: all 45,744 others)
                 n_test=None,              # the whole test set
                 depth=28, widen=10,       # WRN-28-10, the paper's model
                 epochs=240,               # the official schedule
                 warmup_epochs=5.0,        # official GradualWarmup over 5 epochs
                 explore_batch=None,       # the whole training batch through explore
                 seeds=3),
}


def get_config(profile: str = "quick", **overrides) -> Config:
    """Config for ``profile`` with ``overrides``; unknown keys or profiles raise ValueError."""
    return build_config(Config, PROFILES, profile, overrides)


def required_assets(cfg: Config) -> tuple[str, ...]:
    """The datasets ``cfg`` loads (replib.assets names), for ``replib.assets.require``."""
    return tuple(cfg.datasets)
