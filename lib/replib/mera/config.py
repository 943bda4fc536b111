"""Configuration of the MerA notebook: one dataclass, three profiles (smoke, quick, full).

Defaults are the quick profile (2 CPU cores, 15 minutes with a cold source cache): frozen all-MiniLM-L6-v2
whose bottom layers run once and are cached (``replib.nn.glue.split_encoder``), one Pfeiffer adapter in each
of the top ``adapt_layers`` layers. Full adapts every layer of BERT-base. Every choice the spec leaves open
is a field here (documented below) and is printed in the notebook's header table.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..runtime import PRECISIONS, build_config, resolve_precision
from .data import DEFAULT_TRACKS, TASKS
from .merge import SOLVERS

METHODS = ("scratch", "single", "fusion", "mera-sum", "mera-avg", "mera-ot", "mera-ot-act", "mera-ot-track", "full-ft")
"""Few-shot methods (F1): adapter from random init, each single source adapter as init, AdapterFusion, MerA with
each merge operator (mixed-track sources), weight-OT on the target's track only, and full fine-tuning."""


@dataclass
class Config:
    """MerA replication settings; defaults are the quick profile."""

    # --- encoder and data ---
    encoder: str = "minilm-l6"
    """'tiny' (random 2-layer BERT, smoke), 'minilm-l6' (pretrained, offline) or a hub id (full)."""
    targets: tuple = ("MRPC", "RTE")
    """few-shot target tasks (the paper's MNLI is not available offline)."""
    sources: tuple = ("MRPC", "STS-B", "RTE", "QNLI", "SST-2", "CoLA")
    """source tasks with a pretrained adapter; a target's own adapter is never one of its sources. WNLI is left
    out by default (adversarial: its adapters learn the majority class at best)."""
    tracks: tuple = DEFAULT_TRACKS
    """task families for 'same-track' MerA (the paper's definition is unverified): default sentence-pair vs
    single-sentence; e.g. (("MRPC", "STS-B"), ("RTE", "QNLI", "WNLI"), ("SST-2", "CoLA")) for sub-tracks."""
    n_train: int | None = 2000
    """training examples per task (seeded subset): source training set, and the target's k-shot pool. (500 gave
    source adapters near chance on STS-B, RTE and QNLI at quick: little to transfer.)"""
    n_eval: int | None = 250
    """evaluation (dev) examples per task; QNLI's come from its dev split, the rest of it is its training pool."""
    max_len: int = 64
    """tokens per example after truncation."""
    data_seed: int = 0
    """seed of the training and evaluation subsets."""
    adapt_layers: int | None = 1
    """top encoder layers with an adapter (the frozen bottom runs once and is cached); None = every layer. With 1,
    the last layer's frozen part is cached too (``cached.py``: same function, trains in milliseconds)."""

    # --- adapters and merging ---
    bottleneck: int = 16
    """adapter bottleneck r (the same for every source: the merge needs it)."""
    anchor: int = 0
    """MerA-OT anchor: index into the target's source list (the first in ``sources`` order)."""
    solver: str = "emd"
    """exact transport plan: 'emd' (POT ot.emd) or 'hungarian' (scipy; the same plan, tested)."""
    act_probe_tokens: int = 512
    """M probe tokens per layer for the activation-based cost (mera-ot-act): real tokens of the target's pool."""

    # --- source adapters ---
    source_seed: int = 100
    """init seed of the first source; source n gets source_seed + n (different inits). Shared-init ablation (F2):
    every source gets source_seed."""
    source_epochs: int = 5
    """epochs of source-adapter training on n_train examples."""
    source_lr: float = 1e-3
    """AdamW learning rate of source-adapter training."""

    # --- few-shot runs ---
    methods: tuple = METHODS[:-1]
    """few-shot methods to run (F1); full fine-tuning (it re-runs the real top layer) only at full by default."""
    shots: tuple = (8, 16, 32, 64)
    """k: training examples per class."""
    ablation_shots: tuple = (16,)
    """k of the F2 merge ablation with shared-init sources (the different-init arm reuses the F1 runs)."""
    seeds: int = 8
    """seeds per (target, k, method): seed .. seed + seeds - 1 (k-shot sample, head init, batch order)."""
    steps: int = 48
    """few-shot optimisation steps per run (epochs = ceil(steps / batches per epoch)); no early stopping."""
    batch_size: int = 16
    """batch size (source training and few-shot runs)."""
    lr: float = 1e-3
    """AdamW learning rate of adapters and fusion layers in the few-shot runs."""
    ft_lr: float = 1e-4
    """learning rate of full fine-tuning (spec: 2e-5 at BERT-base scale; used at full)."""
    head_lr: float = 1e-3
    """learning rate of the new classification head (every run trains a head)."""
    weight_decay: float = 0.01
    """AdamW weight decay."""
    precision: str = "auto"
    """'auto' (bf16 autocast on CUDA, fp32 on CPU), 'fp32' or 'bf16'."""

    # --- F5 permutation recovery ---
    noise_sigmas: tuple = (0.0, 0.5, 1.0, 2.0, 4.0, 8.0)
    """Gaussian noise (in units of each tensor's std) added to a permuted copy of each source adapter module."""
    recovery_draws: int = 5
    """random permutations (and noise draws) per module and sigma."""

    def validate(self) -> None:
        for name in ("targets", "sources"):
            bad = [t for t in getattr(self, name) if t not in TASKS]
            if bad:
                raise ValueError(f"{name}: unsupported GLUE task(s) {bad}; valid: {', '.join(TASKS)}")
        bad = [m for m in self.methods if m not in METHODS]
        if bad:
            raise ValueError(f"methods: unknown {bad}; valid: {', '.join(METHODS)}")
        if self.solver not in SOLVERS:
            raise ValueError(f"solver={self.solver!r}; valid: {', '.join(SOLVERS)}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision={self.precision!r}; valid: {', '.join(PRECISIONS)}")
        resolve_precision(self.precision, "cpu")
        for t in self.targets:
            n = len([s for s in self.sources if s != t])
            if n < 2:
                raise ValueError(f"sources={self.sources}: target {t} needs at least 2 sources other than itself")
            if not 0 <= self.anchor < n:
                raise ValueError(f"anchor={self.anchor}: target {t} has {n} sources (valid 0..{n - 1})")
        if any(not isinstance(t, tuple) or not set(t) <= set(TASKS) for t in self.tracks):
            raise ValueError(f"tracks must be tuples of tasks from {', '.join(TASKS)}, got {self.tracks}")
        if not self.shots or min(self.shots) < 1 or min(self.ablation_shots or (1,)) < 1:
            raise ValueError(f"shots and ablation_shots must be >= 1, got {self.shots}, {self.ablation_shots}")
        if self.adapt_layers is not None and self.adapt_layers < 1:
            raise ValueError(f"adapt_layers must be >= 1 or None (every layer), got {self.adapt_layers}")
        if min(self.seeds, self.steps, self.batch_size, self.bottleneck, self.source_epochs, self.recovery_draws,
               self.act_probe_tokens) < 1:
            raise ValueError("seeds, steps, batch_size, bottleneck, source_epochs, recovery_draws and "
                             "act_probe_tokens must be >= 1")
        if any(s < 0 for s in self.noise_sigmas) or 0.0 not in self.noise_sigmas:
            raise ValueError(f"noise_sigmas must be >= 0 and include 0 (the exact check), got {self.noise_sigmas}")
        if self.n_train is not None and self.n_train < 2 * max(self.shots):
            raise ValueError(f"n_train={self.n_train} is too small for k={max(self.shots)} per class")


PROFILES: dict[str, dict] = {
    "smoke": dict(encoder="tiny", targets=("MRPC",), sources=("MRPC", "STS-B", "SST-2"), n_train=64,
                  n_eval=32, max_len=32, adapt_layers=None, bottleneck=4, shots=(4,), ablation_shots=(4,), seeds=1,
                  steps=4, source_epochs=1, methods=METHODS, act_probe_tokens=64, noise_sigmas=(0.0, 0.5),
                  recovery_draws=2),
    "quick": dict(),
    "full": dict(encoder="bert-base-uncased", sources=("MRPC", "STS-B", "RTE", "QNLI", "WNLI", "SST-2", "CoLA"),
                 n_train=4000, n_eval=None, max_len=128, adapt_layers=None, bottleneck=64, seeds=5, steps=100,
                 source_epochs=3, source_lr=3e-4, lr=3e-4, ft_lr=2e-5, head_lr=1e-3, ablation_shots=(8, 32),
                 methods=METHODS),
}


def get_config(profile: str = "quick", **overrides) -> Config:
    """Config for ``profile`` with ``overrides``; unknown keys or profiles raise ValueError."""
    return build_config(Config, PROFILES, profile, overrides)


def required_assets(cfg: Config) -> tuple[str, ...]:
    """The models and datasets `cfg` loads (replib.assets names or hub ids), for ``replib.assets.require``."""
    from ..nn.glue import encoder_asset

    tasks = dict.fromkeys((*cfg.targets, *cfg.sources))
    return (encoder_asset(cfg.encoder), *(f"glue/{t}" for t in tasks))
