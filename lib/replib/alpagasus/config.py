"""Configuration of the AlpaGasus notebook: one dataclass, three profiles (smoke, quick, full).

Quick (2 CPU cores, about 12 minutes): SmolLM2-135M-Instruct grades a seeded pool of the offline Alpaca
random 9k through the ``hf`` backend (one prefill gives both scoring ways; measured ~0.3-0.9 s per sample
on 2 shared cores, prompt-dominated), a disjoint set with injected corruptions, then SmolLM2 students on a
small sub-pool, no judge. Full: a served grader (``transformers serve`` or vLLM on a GPU box) through
``base_url``, and the same server as the pairwise judge of the students' answers on the four test sets in both
orders (``judge_backend='openai'``; ``judge_base_url`` / ``judge_model`` point elsewhere). Smoke judges with the
synthetic slot-biased judge behind the same prompt and parser (seconds, pipeline only).
"""
from __future__ import annotations

from dataclasses import dataclass

from ..assets.registry import INSTRUCT_SETS
from ..runtime import PRECISIONS, build_config
from .grader import WAYS
from .judging import EVAL_SETS, JUDGE_BACKENDS
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
    """F5 and judge_backend='synthetic': points the synthetic judge adds to the answer in slot 2."""

    # --- pairwise judging of the students on the instruction test sets (Fig. 5; judging.py) ---
    judge_backend: str = "none"
    """'none' (quick: no judge on 2 CPU cores), 'synthetic' (smoke: the slot-biased SyntheticJudge behind the
    judge prompt, pipeline only), 'hf' (a local LM judge, reply cut at line 1) or 'openai' (full: a served
    judge; GPT-4-0613 in gpt4life)."""
    judge_model: str = ""
    """judge model (served name for openai, replib LM name or hub id for hf); '' = the grader's name."""
    judge_base_url: str = ""
    """OpenAI-compatible endpoint of the judge; '' = base_url (the grader's server)."""
    judge_sets: tuple = EVAL_SETS
    """test sets judged (the paper's four; 'sinstruct' = Self-Instruct; 'lima' is provided but not in Fig. 5)."""
    judge_max_items: int | None = None
    """first items of each test set judged (None = all: 80 / 180 / 218 / 252)."""
    judge_max_tokens: int = 256
    """judge reply cap (gpt4life: max_tokens 256; only line 1 is parsed)."""
    answer_max_new_tokens: int = 512
    """students' greedy answer cap (paper: up to 1,024; 512 keeps full's generation in minutes, a stated
    deviation; answers cut there are judged as they are)."""
    answer_batch_size: int = 16
    """prompts per batch of the students' answer generation (left-padded, length-sorted)."""

    def validate(self) -> None:
        for name, valid in (("backend", BACKENDS), ("layout", LAYOUTS), ("dimension", DIMENSIONS),
                            ("parser", PARSERS), ("way", WAYS), ("select_way", WAYS), ("data", POOLS),
                            ("select", SELECTS), ("precision", PRECISIONS), ("judge_backend", JUDGE_BACKENDS)):
            if getattr(self, name) not in valid:
                raise ValueError(f"{name}={getattr(self, name)!r}; valid: {', '.join(valid)}")
        bad = [k for k in self.corrupt_kinds if k not in KINDS]
        if bad or not self.corrupt_kinds:
            raise ValueError(f"corrupt_kinds={self.corrupt_kinds}; valid kinds: {', '.join(KINDS)}")
        bad = [k for k in self.judge_sets if k not in INSTRUCT_SETS]
        if bad or not self.judge_sets:
            raise ValueError(f"judge_sets={self.judge_sets}; valid sets: {', '.join(INSTRUCT_SETS)}")
        if self.judge_max_items is not None and self.judge_max_items < 1:
            raise ValueError(f"judge_max_items={self.judge_max_items} must be >= 1 (or None)")
        if self.backend == "replay" and not self.cassette:
            raise ValueError("backend='replay' needs cassette=<path of a recorded cassette>")
        if not 0 <= self.tau <= 5:
            raise ValueError(f"tau={self.tau} must lie in [0, 5]")
        for name in ("keep_share", "corrupt_share"):
            if not 0 < getattr(self, name) < 1:
                raise ValueError(f"{name}={getattr(self, name)} must lie in (0, 1)")
        for name in ("concurrency", "max_new_tokens", "batch_size", "n_heldout", "n_corrupt", "sft_epochs",
                     "sft_batch", "sft_seeds", "n_judge", "n_boot", "judge_max_tokens", "answer_max_new_tokens",
                     "answer_batch_size"):
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
                  n_student_pool=16, sft_max_length=128, sft_seeds=1, n_judge=12, n_boot=200,
                  judge_backend="synthetic", judge_max_items=3, answer_max_new_tokens=8),
    "quick": dict(),
    "full": dict(grader="Qwen/Qwen2.5-1.5B-Instruct", backend="openai", base_url="http://127.0.0.1:8000/v1",
                 concurrency=16, data="alpaca-random-9k", n_pool=None, n_heldout=500, n_corrupt=600,
                 max_new_tokens=256, n_student_pool=None, sft_epochs=3, sft_lr=2e-5, sft_batch=32,
                 sft_max_length=512, sft_seeds=3, n_boot=5000, judge_backend="openai", answer_batch_size=64),
}


def get_config(profile: str = "quick", **overrides) -> Config:
    """Config for `profile` with `overrides`; unknown keys or profiles raise ValueError."""
    return build_config(Config, PROFILES, profile, overrides)


def required_assets(cfg: Config) -> tuple[str, ...]:
    """The models and datasets `cfg` loads, for ``replib.assets.require``: the hf grader and the student,
    the pool and the claude_t45 release (a served or replayed grader needs no local weights); with a judge, the
    test sets and an hf judge's model."""
    from ..lm.models import TINY

    grader = (TINY.get(cfg.grader, cfg.grader),) if cfg.backend == "hf" else ()
    judge = () if cfg.judge_backend == "none" else tuple(f"instruct-eval/{s}" for s in cfg.judge_sets)
    if cfg.judge_backend == "hf":
        judge += (TINY.get(cfg.judge_model or cfg.grader, cfg.judge_model or cfg.grader),)
    return tuple(dict.fromkeys((*grader, TINY.get(cfg.student, cfg.student), cfg.data, "alpagasus-claude-t45",
                                *judge)))
