"""Configuration of the AlpaGasus notebook: one dataclass, three profiles (smoke, quick, full).

Quick (2 CPU cores, about 12 minutes): SmolLM2-135M-Instruct grades a seeded pool of the offline Alpaca
random 9k through the ``hf`` backend (one prefill gives both scoring ways; measured ~0.3-0.9 s per sample
on 2 shared cores, prompt-dominated), a disjoint set with injected corruptions, then SmolLM2 students on a
small sub-pool. Full: a served grader (``transformers serve`` or vLLM on a GPU box) through ``base_url``.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..runtime import PRECISIONS, build_config
from .grader import WAYS
from .prompts import DIMENSIONS, LAYOUTS, PARSERS
from .synthetic import KINDS

BACKENDS = ("hf", "openai", "replay")
POOLS = ("alpaca-random-9k", "alpaca")
SELECTS = ("share", "tau")


@dataclass
class Config:
    """AlpaGasus replication settings; defaults are the quick profile."""

    # --- grader ---
    grader: str = "smollm2-135m-instruct"
    """grader model: a replib LM name or hub id (hf), the served model name (openai), the recorded one (replay)."""
    backend: str = "hf"
    """'hf' (local causal LM), 'openai' (any OpenAI-compatible server: OpenAI, vLLM, transformers serve), 'replay'."""
    base_url: str = ""
    """OpenAI-compatible endpoint, e.g. 'http://127.0.0.1:8000/v1'; '' = api.openai.com (needs the key)."""
    api_key_env: str = "OPENAI_API_KEY"
    """name of the environment variable holding the API key (the key itself is never stored)."""
    cassette: str = ""
    """replay cassette file: read by backend 'replay'; with 'hf' / 'openai' replies are recorded into it."""
    concurrency: int = 5
    """in-flight requests of the openai backend (gpt4life's batch of 5)."""
    layout: str = "code"
    """prompt layout: 'code' (byte-exact gpt4life) or 'paper' (Fig. 3)."""
    dimension: str = "accuracy"
    """rated dimension: 'accuracy' (main runs) or 'helpfulness' (ablation)."""
    parser: str = "robust"
    """score parser: 'robust' or 'faithful' (the official function with its quirks); both are reported."""
    way: str = "generate"
    """scoring way of the histogram and of tau: 'generate' (parsed reply, the paper's) or 'logprob'."""
    select_way: str = "logprob"
    """scoring way that picks the students' filtered set; 'logprob' because a weak grader often writes no
    number on line 1 (its parse-failure rate is reported) while the expected score always ranks."""
    tau: float = 4.5
    """threshold of Eq. 1 (S = {x : G(x) >= tau})."""
    select: str = "share"
    """students' filtered set: 'share' = the top keep_share by select_way (a weak grader's scale differs from
    ChatGPT's, so tau would keep an incomparable share) or 'tau' = score >= tau."""
    keep_share: float = 9229 / 52002
    """share kept with select='share': the paper's 9,229 / 52,002 = 17.75 %."""
    max_new_tokens: int = 24
    """generation cap of the hf grader (official max_tokens 256); with stop_at_newline only line 1 is decoded,
    so the cap matters only for a first line longer than this (then truncated: a stated deviation)."""
    stop_at_newline: bool = True
    """hf: stop each row at the end of its first non-blank line (exact for the first-line parsers; the
    'score:' fallbacks then see line 1 only)."""
    batch_size: int = 8
    """hf: prompts per batch (left-padded, length-sorted)."""
    precision: str = "auto"
    """'auto' (bf16 on CUDA, fp32 on CPU), 'fp32' or 'bf16' (runtime.resolve_precision) for grading and SFT."""

    # --- data ---
    data: str = "alpaca-random-9k"
    """graded pool: 'alpaca-random-9k' (offline) or 'alpaca' (hub, full)."""
    n_pool: int | None = 240
    """pool samples graded (None = all minus held-out and corruption sets); ~24 are in claude_t45."""
    n_heldout: int = 48
    """held-out samples whose reference answers evaluate the students."""
    n_corrupt: int = 64
    """F2: further samples, corrupt_share of them corrupted, graded by the LM and by the oracle."""
    corrupt_share: float = 0.5
    """F2: share of the corruption set that is corrupted (wrong answer / truncation / shuffled words)."""
    corrupt_kinds: tuple = KINDS
    """F2: corruption kinds, assigned in turn."""
    oracle_noise: float = 0.5
    """F2: sd of the synthetic oracle's noise (points) before half-point quantisation."""
    data_seed: int = 0
    """seed of the pool / held-out / corruption draw and of the corruptions."""
    n_boot: int = 2000
    """bootstrap resamples of the AUROC intervals."""

    # --- students (F3, F4) ---
    student: str = "smollm2-135m-instruct"
    """student model tuned on each subset ('tiny-smollm2' at smoke)."""
    n_student_pool: int | None = 96
    """the 'whole pool' arm: the first n_student_pool graded samples (None = the whole graded pool)."""
    template: str = "alpaca"
    """prompt template of SFT and held-out loss."""
    sft_epochs: int = 1
    """epochs of each student run (paper: 3)."""
    sft_lr: float = 5e-5
    """student learning rate (paper 2e-5 at batch 128)."""
    sft_batch: int = 4
    """student batch size."""
    sft_max_length: int = 320
    """student sequence cap."""
    sft_seeds: int = 2
    """student seeds (seed .. seed + sft_seeds - 1); the random arm is redrawn per seed."""

    # --- F5 position bias ---
    n_judge: int = 80
    """F5: identical answer pairs judged by the synthetic judge (Vicuna's 80)."""
    judge_bias: float = 1.0
    """F5: points the synthetic judge adds to the answer in slot 2."""

    def validate(self) -> None:
        for name, valid in (("backend", BACKENDS), ("layout", LAYOUTS), ("dimension", DIMENSIONS),
                            ("parser", PARSERS), ("way", WAYS), ("select_way", WAYS), ("data", POOLS),
                            ("select", SELECTS), ("precision", PRECISIONS)):
            if getattr(self, name) not in valid:
                raise ValueError(f"{name}={getattr(self, name)!r}; valid: {', '.join(valid)}")
        bad = [k for k in self.corrupt_kinds if k not in KINDS]
        if bad or not self.corrupt_kinds:
            raise ValueError(f"corrupt_kinds={self.corrupt_kinds}; valid kinds: {', '.join(KINDS)}")
        if self.backend == "replay" and not self.cassette:
            raise ValueError("backend='replay' needs cassette=<path of a recorded cassette>")
        if not 0 <= self.tau <= 5:
            raise ValueError(f"tau={self.tau} must lie in [0, 5]")
        for name in ("keep_share", "corrupt_share"):
            if not 0 < getattr(self, name) < 1:
                raise ValueError(f"{name}={getattr(self, name)} must lie in (0, 1)")
        for name in ("concurrency", "max_new_tokens", "batch_size", "n_heldout", "n_corrupt", "sft_epochs",
                     "sft_batch", "sft_seeds", "n_judge", "n_boot"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}={getattr(self, name)} must be >= 1")
        if self.n_pool is not None and self.n_pool < 8:
            raise ValueError(f"n_pool={self.n_pool} must be >= 8 (or None)")
        if self.n_student_pool is not None and (self.n_student_pool < 8 or
                                                (self.n_pool is not None and self.n_student_pool > self.n_pool)):
            raise ValueError(f"n_student_pool={self.n_student_pool} must be >= 8 and <= n_pool={self.n_pool}")
        if self.sft_lr <= 0 or self.sft_max_length < 16 or self.oracle_noise < 0 or self.judge_bias < 0:
            raise ValueError("need sft_lr > 0, sft_max_length >= 16, oracle_noise >= 0, judge_bias >= 0")


PROFILES: dict[str, dict] = {
    "smoke": dict(grader="tiny-smollm2", student="tiny-smollm2", n_pool=32, n_heldout=6, n_corrupt=12, max_new_tokens=8,
                  n_student_pool=16, sft_max_length=128, sft_seeds=1, n_judge=12, n_boot=200),
    "quick": dict(),
    "full": dict(grader="Qwen/Qwen2.5-1.5B-Instruct", backend="openai", base_url="http://127.0.0.1:8000/v1",
                 concurrency=16, data="alpaca-random-9k", n_pool=None, n_heldout=500, n_corrupt=600,
                 max_new_tokens=256, n_student_pool=None, sft_epochs=3, sft_lr=2e-5, sft_batch=32,
                 sft_max_length=512, sft_seeds=3, n_boot=5000),
}


def get_config(profile: str = "quick", **overrides) -> Config:
    """Config for `profile` with `overrides`; unknown keys or profiles raise ValueError."""
    return build_config(Config, PROFILES, profile, overrides)


def required_assets(cfg: Config) -> tuple[str, ...]:
    """The models and datasets `cfg` loads, for ``replib.assets.require``: the hf grader and the student,
    the pool and the claude_t45 release (a served or replayed grader needs no local weights)."""
    from ..lm.models import TINY

    grader = (TINY.get(cfg.grader, cfg.grader),) if cfg.backend == "hf" else ()
    return tuple(dict.fromkeys((*grader, TINY.get(cfg.student, cfg.student), cfg.data, "alpagasus-claude-t45")))
