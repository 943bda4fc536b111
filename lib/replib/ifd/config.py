"""Configuration of the IFD (Cherry LLM) notebook: one dataclass, three profiles (smoke, quick, full).

Quick values are chosen so the whole notebook, including first-time scoring, runs in about 12 minutes
on 2 CPU cores (measured: SmolLM2-135M scores ~2.5-3.5 samples/s in fp32, fine-tunes at ~130 tokens/s).
"""
from __future__ import annotations

from dataclasses import dataclass

from ..runtime import build_config, resolve_precision

POOLS = ("alpaca-random-9k", "alpaca")   # offline uniform 9k of Alpaca-52k; the hub's 52k (full, online)


@dataclass
class Config:
    """IFD replication settings; defaults are the quick profile."""

    model: str = "smollm2-135m-instruct"
    """the scorer and student: a GGUF short name, 'tiny-smollm2' (random, smoke) or a hub id (full)."""
    data: str = "alpaca-random-9k"
    """instruction pool: 'alpaca-random-9k' (offline) or 'alpaca' (hub, full)."""
    n_pool: int | None = 500
    """samples scored and selected from (None = the whole dataset minus the held-out set). 500 keeps
    scoring at ~3 min; about 30 of them are in the official Cherry 5% release."""
    n_heldout: int = 48
    """held-out Alpaca samples whose reference answers evaluate the instruction-tuned students."""
    data_seed: int = 0
    """seed of the pool / held-out draw."""
    max_length: int = 512
    """scoring window M (the official Alpaca setting)."""
    template: str = "alpaca"
    """prompt template of scoring and training (the official Stanford-Alpaca prompt)."""

    # --- pre-experience (brief experience on K-means-sampled prompts) ---
    n_clusters: int = 16
    """K-means clusters of the prompt embeddings (paper: 100)."""
    per_cluster: int = 2
    """samples per cluster with the middle-perplexity rule (paper: 10)."""
    band: tuple = (25, 75)
    """prompt-perplexity percentile band of the cluster sampler (the official script's 25/75)."""
    pre_epochs: int = 1
    """pre-experience epochs (paper: 1)."""
    pre_lr: float = 5e-5
    """pre-experience learning rate (paper 2e-5 at batch 128; here ~8 steps at batch 4, so a bit higher)."""
    pre_batch: int = 4
    """pre-experience batch size."""
    n_base: int | None = 160
    """pool samples also scored by the base model, for the with/without pre-experience comparison
    (None = all)."""

    # --- selection ---
    rate: float = 0.06
    """selection rate (the official '5%' file is --sample_rate 0.06 over the valid samples)."""

    # --- instruction tuning on equal-size subsets ---
    n_train: int = 25
    """samples per training subset (top-IFD / random / low-IFD): 5 % of the quick pool."""
    sft_epochs: int = 2
    """epochs of each student run (paper: 3)."""
    sft_lr: float = 5e-5
    """student learning rate (paper 2e-5 over thousands of steps; here ~12 steps)."""
    sft_batch: int = 4
    """student batch size."""
    sft_max_length: int = 384
    """student sequence cap (prompt + answer + EOS)."""
    sft_seeds: int = 1
    """student seeds per subset (seed .. seed + sft_seeds - 1)."""

    precision: str = "auto"
    """precision of IFD scoring and of student / pre-experience fine-tuning (replib.runtime.autocast; part of the
    IFD cache key): 'auto' = bf16 autocast on CUDA, fp32 on CPU (every committed figure is fp32; the official
    scorers run fp32), 'fp32' or 'bf16'."""

    def validate(self) -> None:
        resolve_precision(self.precision)
        if self.data not in POOLS:
            raise ValueError(f"data={self.data!r}: valid pools are {POOLS}")
        if self.n_pool is not None and self.n_pool < 8:
            raise ValueError(f"n_pool={self.n_pool} must be >= 8 (or None for the whole dataset)")
        if not 0 < self.rate <= 1:
            raise ValueError(f"rate={self.rate} must lie in (0, 1]")
        if not 0 <= self.band[0] < self.band[1] <= 100:
            raise ValueError(f"band={self.band} must be two percentiles low < up in [0, 100]")
        for name in ("n_clusters", "per_cluster", "pre_epochs", "pre_batch", "n_train", "sft_epochs",
                     "sft_batch", "sft_seeds", "n_heldout"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}={getattr(self, name)} must be >= 1")
        if self.n_pool is not None and 3 * self.n_train > self.n_pool:
            raise ValueError(f"n_train={self.n_train} is too large for n_pool={self.n_pool} "
                             "(top-IFD, random and low-IFD subsets must fit)")
        if self.n_pool is not None and self.n_clusters > self.n_pool:
            raise ValueError(f"n_clusters={self.n_clusters} exceeds n_pool={self.n_pool}")
        if self.max_length < 16 or self.sft_max_length < 16:
            raise ValueError("max_length and sft_max_length must be >= 16")
        if self.pre_lr <= 0 or self.sft_lr <= 0:
            raise ValueError("pre_lr and sft_lr must be > 0")


PROFILES: dict[str, dict] = {
    "smoke": dict(model="tiny-smollm2", n_pool=24, n_heldout=6, n_base=8, max_length=256, n_clusters=3, per_cluster=2,
                  n_train=4, sft_epochs=1, sft_max_length=128),
    "quick": dict(),
    "full": dict(data="alpaca", n_pool=None, n_heldout=1000, n_base=None, n_clusters=100, per_cluster=10,
                 pre_lr=2e-5, pre_batch=128, n_train=2600, sft_epochs=3, sft_lr=2e-5, sft_batch=128,
                 sft_max_length=512, sft_seeds=3),
}


def get_config(profile: str = "quick", **overrides) -> Config:
    """Config for `profile` with `overrides`; unknown keys or profiles raise ValueError."""
    return build_config(Config, PROFILES, profile, overrides)


def required_assets(cfg: Config) -> tuple[str, ...]:
    """The models and datasets `cfg` loads (replib.assets names or hub ids), for ``replib.assets.require``:
    the scorer and student, the pool, the offline 9k (Table 4 baseline), the Cherry release and its GPT-4 reviews."""
    from ..lm.models import TINY  # a tiny random LM uses a registered LM's tokenizer
    from .judge import REVIEW_SETS

    return (TINY.get(cfg.model, cfg.model), cfg.data, "alpaca-random-9k", "cherry-alpaca-5pct",
            *(f"cherry-reviews/{s}-gpt4" for s in REVIEW_SETS))
