"""Configuration of the SparseAdapter notebook: one dataclass, three profiles (smoke, quick, full).

Defaults are the quick profile (2 CPU cores, 15 minutes): frozen all-MiniLM-L6-v2 whose bottom layers run
once and are cached (``replib.nn.glue.split_encoder``), Houlsby adapters in the top ``adapt_layers`` only.
Full adapts every layer of a hub encoder at the official bottleneck 64.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..nn.adapters import INITS
from ..runtime import build_config, resolve_precision
from .model import FAMILIES
from .prune import SCOPES, check_sparse_ratio
from .pruners import PRUNERS, SYNFLOW_PROBES

GLUE_TASKS = ("RTE", "MRPC", "SST-2", "CoLA", "WNLI")   # classification tasks with a train split


@dataclass
class Config:
    """SparseAdapter replication settings; defaults are the quick profile."""

    # --- encoder and data ---
    encoder: str = "minilm-l6"
    """'tiny' (random 2-layer BERT, smoke), 'minilm-l6' (pretrained, offline) or a hub id (full)."""
    tasks: tuple = ("RTE", "MRPC", "SST-2")
    """GLUE tasks (the dev split is the test set)."""
    n_train: int | None = 480
    """training examples per task (seeded random subset, the same for every run; >= the 320 prune examples)."""
    n_eval: int | None = 500
    """dev examples per task; None = the whole dev set."""
    max_len: int = 64
    """tokens per example after truncation."""
    data_seed: int = 0
    """seed of the training and dev subsets."""
    adapt_layers: int | None = 1
    """top encoder layers that get adapters; the frozen bottom runs once and is cached. None = every layer."""

    # --- adapters ---
    family: str = "houlsby"
    """adapter family of the sweeps: 'houlsby' (attention + FFN pair, official run_glue.sh), 'pfeiffer', 'lora'."""
    bottleneck: int = 16
    """adapter bottleneck r (official attn_bn = ffn_bn = 64)."""
    init: str = "bert"
    """adapter init: 'bert' N(0, 0.02) (official default) or 'lora' (W_up = 0: SNIP/GraSP/SynFlow then score 0)."""
    train_head: bool = False
    """train the classification head (a deviation). False = the official --unfreeze_params ef_: the random head
    stays frozen, so only the adapters learn (with a trained head the adapters add nothing measurable at quick)."""

    # --- pruning ---
    pruners: tuple = PRUNERS
    """pruners of the sweep (F1)."""
    sparse_ratios: tuple = (0.4, 0.8, 0.95)
    """paper's sparse ratios (share PRUNED) of the sweep; the dense run is ratio 0."""
    scope: str = "global"
    """threshold scope: 'global' (official default, one pooled threshold) or 'local' (per tensor)."""
    prune_length: int = 10
    """the prune set has prune_length x 32 training examples (official length 10 -> 320)."""
    synflow_probe: str = "faithful"
    """SynFlow probe of the sweep: 'faithful' (official, prunes everything on LN-in adapters), 'input', 'onehot'."""

    # --- Large-Sparse (F2) and LoRA ---
    large_cs: tuple = (2, 4)
    """Large-Sparse factors c: bottleneck c r at sparse ratio 1 - 1/c (c = 1 is the dense r run of F1)."""
    large_pruner: str = "snip"
    """pruner of the Large-Sparse runs."""
    large_dense_upper: bool = True
    """also train a dense 2r adapter (the upper bound at twice the weights)."""
    lora: bool = True
    """train LoRA (peft, query + value, rank = bottleneck) dense and pruned: the second adapter family."""
    lora_pruner: str = "snip"
    """pruner of the pruned LoRA runs."""
    lora_ratio: float = 0.4
    """sparse ratio of the pruned LoRA runs."""
    lora_init: str = "bert"
    """LoRA init: 'bert' (official option; A, B ~ N(0, 0.02)) or 'lora' (B = 0: SNIP scores 0, see the notebook)."""
    lora_alpha: float = 32.0
    """LoRA alpha (scaling alpha / r; official 32)."""
    probe_ratios: tuple = (0.2, 0.4, 0.6, 0.8, 0.95)
    """sparse ratios of the SynFlow probe diagnostic (F4; no training)."""

    # --- training ---
    seeds: int = 2
    """seeds per configuration: seed .. seed + seeds - 1 (adapter, head init and batch order)."""
    epochs: int = 3
    """fine-tuning epochs."""
    batch_size: int = 32
    """training batch size (the prune batch too; halved for GraSP)."""
    lr: float = 1e-3
    """AdamW learning rate of the adapters (official 1e-4 over 10 epochs of RoBERTa-base)."""
    head_lr: float = 3e-3
    """learning rate of the new classification head."""
    weight_decay: float = 0.1
    """AdamW weight decay (official 0.1)."""
    curve_every: int = 5
    """steps between dev evaluations of the F3 runs (dense and SNIP at 40%); 0 = no convergence curves."""

    precision: str = "auto"
    """precision of GLUE fine-tuning and evaluation (replib.runtime.autocast): 'auto' = bf16 autocast on CUDA,
    fp32 on CPU (every committed figure is fp32), 'fp32' or 'bf16'. Pruning scores are always fp32 (one pass per
    run; a mask's ranking should not move with bf16 rounding)."""

    def validate(self) -> None:
        resolve_precision(self.precision)
        bad = [t for t in self.tasks if t not in GLUE_TASKS]
        if bad:
            raise ValueError(f"unsupported GLUE task(s) {bad}; valid: {GLUE_TASKS}")
        if self.family not in FAMILIES:
            raise ValueError(f"unknown family {self.family!r}; valid: {', '.join(FAMILIES)}")
        for name in ("init", "lora_init"):
            if getattr(self, name) not in INITS:
                raise ValueError(f"{name}={getattr(self, name)!r}; valid: {', '.join(INITS)}")
        for p in (*self.pruners, self.large_pruner, self.lora_pruner):
            if p not in PRUNERS:
                raise ValueError(f"unknown pruner {p!r}; valid: {', '.join(PRUNERS)}")
        if self.scope not in SCOPES:
            raise ValueError(f"unknown scope {self.scope!r}; valid: {', '.join(SCOPES)}")
        if self.synflow_probe not in SYNFLOW_PROBES:
            raise ValueError(f"unknown synflow_probe {self.synflow_probe!r}; valid: {', '.join(SYNFLOW_PROBES)}")
        for r in (*self.sparse_ratios, *self.probe_ratios, self.lora_ratio):
            check_sparse_ratio(r)
        if any(c < 2 for c in self.large_cs):
            raise ValueError(f"large_cs must be >= 2 (c = 1 is the dense run), got {self.large_cs}")
        if self.adapt_layers is not None and self.adapt_layers < 1:
            raise ValueError(f"adapt_layers must be >= 1 or None (every layer), got {self.adapt_layers}")
        if self.curve_every < 0:
            raise ValueError(f"curve_every must be >= 0 (0 = no F3 curves), got {self.curve_every}")
        if min(self.seeds, self.epochs, self.batch_size, self.bottleneck, self.prune_length) < 1:
            raise ValueError("seeds, epochs, batch_size, bottleneck and prune_length must be >= 1")
        if self.n_train is not None and self.n_train < 32 * self.prune_length:
            raise ValueError(f"n_train={self.n_train} is smaller than the prune set "
                             f"(prune_length x 32 = {32 * self.prune_length}); lower prune_length")


PROFILES: dict[str, dict] = {
    "smoke": dict(encoder="tiny", tasks=("RTE", "SST-2"), n_train=64, n_eval=32, max_len=32, adapt_layers=None,
                  bottleneck=4, pruners=("rand", "snip", "grasp", "synflow"), sparse_ratios=(0.4, 0.8),
                  prune_length=1, large_cs=(2,), probe_ratios=(0.4, 0.8), seeds=1, epochs=1, batch_size=16,
                  curve_every=2),
    "quick": dict(),
    "full": dict(encoder="bert-base-uncased", tasks=("RTE", "MRPC", "SST-2", "CoLA"), n_train=None, n_eval=None,
                 max_len=128, adapt_layers=None, bottleneck=64, sparse_ratios=(0.2, 0.4, 0.6, 0.8, 0.9, 0.95),
                 large_cs=(2, 4), seeds=3, epochs=10, lr=1e-4, head_lr=1e-3, curve_every=50),
}


def get_config(profile: str = "quick", **overrides) -> Config:
    """Config for ``profile`` with ``overrides``; unknown keys or profiles raise ValueError."""
    return build_config(Config, PROFILES, profile, overrides)


def required_assets(cfg: Config) -> tuple[str, ...]:
    """The models and datasets `cfg` loads (replib.assets names or hub ids), for ``replib.assets.require``."""
    from ..nn.glue import encoder_asset

    return (encoder_asset(cfg.encoder), *(f"glue/{t}" for t in cfg.tasks))
