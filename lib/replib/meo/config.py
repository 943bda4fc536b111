"""Configuration of the MEO notebook: one dataclass, three profiles (smoke, quick, full)."""
from __future__ import annotations

from dataclasses import dataclass

from ..runtime import build_config, resolve_precision

ENCODERS = ("tiny", "minilm-l6")   # or a hub id such as "bert-base-uncased" (full, online)
GLUE_TASKS = ("RTE", "MRPC", "SST-2", "CoLA", "WNLI")   # classification tasks with a train split


@dataclass
class Config:
    """MEO replication settings; defaults are the quick profile."""

    # --- F1: analytic FLOPs ---
    flops_ks: tuple = (1, 2, 4, 8, 16, 32)
    """k values of the GFLOPs figure (the paper's Figure)."""
    flops_seq_len: int = 128
    """tokens per sequence for FLOPs (the paper's setting)."""

    # --- F2: measured layer time ---
    timing_ks: tuple = (1, 2, 4, 8, 16, 32)
    """k values timed for the MoE and MEO FFN."""
    timing_experts: int = 32
    """experts per linear in the timing run (k <= this)."""
    timing_dims: tuple = (768, 3072)
    """FFN (d, f) timed; BERT-base by default."""
    timing_batch: int = 4
    """sequences per timed batch."""
    timing_seq_len: int = 128
    """tokens per timed sequence."""
    timing_reps: int = 5
    """timed repetitions per point (median reported), after one warm-up."""

    # --- F3/F4: GLUE fine-tuning of an upcycled encoder ---
    encoder: str = "minilm-l6"
    """'tiny' (random 2-layer BERT, smoke), 'minilm-l6' (pretrained, offline) or a hub id (full)."""
    tasks: tuple = ("RTE", "MRPC", "SST-2")
    """GLUE tasks (dev split is the test set)."""
    n_train: int | None = 320
    """training examples per task (random subset, same for every run); None = all."""
    n_eval: int | None = None
    """dev examples per task; None = the whole dev set."""
    max_len: int = 64
    """tokens per example after truncation."""
    n_experts: int = 8
    """experts per upcycled linear."""
    ks: tuple = (1, 2, 4, 8)
    """k values of the accuracy sweep (k = n_experts is 'all experts')."""
    moe_ks: tuple = (1, 4)
    """k values at which vanilla MoE is also trained beside MEO, as a witness of their equality."""
    moe_seeds: int = 1
    """seeds of those vanilla MoE runs (the first moe_seeds of MEO's seeds, compared pairwise)."""
    token_k: int = 4
    """k of the token-level comparison (F4)."""
    att_reduction: int = 64
    """TokenAtt bottleneck d -> d / reduction (keep the bottleneck >= 4)."""
    seeds: int = 3
    """seeds per configuration: seed .. seed + seeds - 1."""
    epochs: int = 3
    """fine-tuning epochs."""
    batch_size: int = 32
    """training batch size."""
    lr: float = 3e-4
    """AdamW learning rate of the encoder (linear decay to 0); the paper uses 1e-5 over 10 epochs."""
    head_lr: float = 3e-3
    """learning rate of the new, randomly initialised classification head (a short budget needs it)."""
    weight_decay: float = 0.01
    """AdamW weight decay."""
    n_frozen: int = 5
    """bottom encoder layers kept frozen and cached (0 = fine-tune everything, as the paper)."""
    drop_ffn_bias: bool = True
    """drop the pretrained FFN biases when upcycling (faithful to the official code)."""
    pad_in_mean: bool = True
    """route on the mean over all positions, padding included (faithful)."""
    data_seed: int = 0
    """seed of the training subset draw (fixed so that every run sees the same examples)."""

    precision: str = "auto"
    """precision of GLUE fine-tuning and evaluation (replib.runtime.autocast): 'auto' = bf16 autocast on CUDA,
    fp32 on CPU (every committed figure is fp32), 'fp32' or 'bf16'. F2 timing runs as the model is (fp32)."""

    def validate(self) -> None:
        resolve_precision(self.precision)
        bad = [t for t in self.tasks if t not in GLUE_TASKS]
        if bad:
            raise ValueError(f"unsupported GLUE task(s) {bad}; valid: {GLUE_TASKS}")
        for name in ("ks", "moe_ks"):
            if any(not 1 <= k <= self.n_experts for k in getattr(self, name)):
                raise ValueError(f"{name}={getattr(self, name)} must lie in [1, n_experts={self.n_experts}]")
        if not 1 <= self.token_k <= self.n_experts:
            raise ValueError(f"token_k={self.token_k} must lie in [1, n_experts={self.n_experts}]")
        if any(not 1 <= k <= self.timing_experts for k in self.timing_ks):
            raise ValueError(f"timing_ks must lie in [1, timing_experts={self.timing_experts}]")
        if not isinstance(self.encoder, str) or not self.encoder:
            raise ValueError(f"encoder must be one of {ENCODERS} or a hub id, got {self.encoder!r}")
        if self.seeds < 1 or self.epochs < 1 or self.batch_size < 1:
            raise ValueError("seeds, epochs and batch_size must be >= 1")
        if not 0 <= self.moe_seeds <= self.seeds:
            raise ValueError(f"moe_seeds={self.moe_seeds} must lie in [0, seeds={self.seeds}]")


PROFILES: dict[str, dict] = {
    "smoke": dict(flops_ks=(1, 4, 32), timing_ks=(1, 4), timing_experts=8, timing_dims=(64, 256),
                  timing_batch=2, timing_seq_len=16, timing_reps=1, encoder="tiny", tasks=("RTE", "SST-2"),
                  n_train=48, n_eval=32, max_len=32, ks=(1, 2), moe_ks=(2,), token_k=2, att_reduction=16,
                  seeds=1, epochs=1, batch_size=16, lr=1e-3, n_frozen=1),
    "quick": dict(),
    "full": dict(encoder="bert-base-uncased", tasks=("RTE", "MRPC", "SST-2", "CoLA"), n_train=None,
                 n_experts=8, ks=(1, 2, 4, 8), moe_ks=(1, 2, 4, 8), moe_seeds=3, seeds=3, epochs=3, batch_size=32,
                 max_len=128, lr=2e-5, head_lr=2e-5, n_frozen=0, timing_batch=32, timing_reps=10),
}


def get_config(profile: str = "quick", **overrides) -> Config:
    """Config for `profile` with `overrides`; unknown keys or profiles raise ValueError."""
    return build_config(Config, PROFILES, profile, overrides)


def required_assets(cfg: Config) -> tuple[str, ...]:
    """The models and datasets `cfg` loads (replib.assets names or hub ids), for ``replib.assets.require``."""
    from ..nn.glue import encoder_asset
    return (encoder_asset(cfg.encoder), *(f"glue/{t}" for t in cfg.tasks))
