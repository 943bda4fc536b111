"""Configuration of the Superfiltering notebook: one dataclass, three profiles (smoke, quick, full).

Quick is sized so that the whole notebook, first-time scoring included, fits in about 11 minutes on 2
idle CPU cores. Measured on those cores (superfiltering style, max_length 512, fp32, batched, ~150
tokens per sample over both passes): SmolLM2-135M scores ~2.5-2.9 samples/s, Gemma-3-270M ~1.05
samples/s (its 262k-token head); a Gemma fine-tuning step at batch 4 / ~470 tokens takes ~6.4 s plus
~15 s once for the optimiser state; the held-out evaluation of 48 samples ~18 s; MiniLM embeds ~27
texts/s. Estimated quick budget: start-up ~10 s, weak scorer (load, timing, 400 samples) ~165 s,
strong scorer (load, timing, 200 samples) ~220 s, Superfiltering.D ~20 s, untuned evaluation ~18 s,
two Gemma students on 20 samples x 2 epochs ~100 s each.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..runtime import build_config, resolve_precision

POOLS = ("alpaca-random-9k", "alpaca")   # offline uniform 9k of Alpaca-52k; the hub's 52k (full, online)
ARMS = ("weak IFD", "strong IFD", "random", "perplexity")
"""student training subsets: top by weak IFD, top by strong IFD, uniform random, top by weak perplexity."""


@dataclass
class Config:
    """Superfiltering replication settings; defaults are the quick profile."""

    # --- scorers and data ---
    weak: str = "smollm2-135m-instruct"
    """the weak scorer (paper: GPT-2 124M). SmolLM2-135M is the smallest LM available offline."""
    strong: str = "gemma-3-270m"
    """the strong scorer (paper: LLaMA2-7B). Gemma-3-270M base: 2x the parameters, the largest LM that
    scores a few hundred samples within the CPU budget."""
    data: str = "alpaca-random-9k"
    """instruction pool: 'alpaca-random-9k' (offline uniform 9k of Alpaca) or 'alpaca' (hub 52k, full)."""
    n_pool: int | None = 400
    """samples the weak scorer scores and selects from (None = whole dataset minus the held-out set).
    400 keeps weak scoring under ~2.5 min and gives a 5 % subset of 20 samples to train on (each
    further 100 samples cost ~40 s of scoring and ~25 s per student)."""
    n_strong: int | None = 200
    """the first n_strong pool samples (a random subset: the pool is a seeded permutation) are also
    scored by the strong scorer for the rank comparison (None = the whole pool). 200 costs ~3 min
    with Gemma and leaves 10/20/30 samples in the top 5/10/15 %."""
    n_heldout: int = 48
    """held-out Alpaca samples whose reference answers evaluate the students."""
    data_seed: int = 0
    """seed of the pool / held-out draw (replib.lm.data.instruction_pool)."""
    max_length: int = 512
    """scoring window (official: 1024; Alpaca samples rarely exceed 512 tokens, and the window only
    truncates the few long ones)."""
    precision: str = "auto"
    """precision of IFD scoring and student fine-tuning (replib.runtime.autocast; part of the IFD cache key):
    'auto' = bf16 autocast on CUDA, fp32 on CPU (the official scorer is fp32; every committed figure is
    fp32), 'fp32' or 'bf16' (the full profile's 7B-class scorer on a GPU)."""

    # --- selection ---
    rates: tuple = (0.05, 0.10, 0.15)
    """selection budgets of the overlap table (the paper's 5/10/15 %)."""
    k_base: int | None = None
    """k = int(k_base * rate); None = the scored pool's size; 52002 reproduces the official hard-coded
    constant (only meaningful on Alpaca-52k)."""
    threshold: float = 1.0
    """candidates have ifd_ppl strictly below this (official --filter_threash 1)."""

    # --- F4: filter time ---
    timing_n: int = 8
    """pool samples scored batched and one sample per forward by both scorers, for the time figure
    (~35 s for both scorers and both modes at quick)."""

    # --- F5: Superfiltering.D ---
    d_pool_rate: float = 0.20
    """IFD pre-filter of the D variant: the top 20 % by weak IFD (official --ifd_num 10400 of 52,002)."""
    d_rate: float = 0.02
    """facility-location budget: 2 % of the pool (official --fla_num 1040); 8 samples at quick."""
    n_clusters: int | None = None
    """K-means clusters of the pool's MiniLM embeddings for the coverage count (None = the FL budget,
    so that a perfect spread hits one cluster per pick)."""
    random_draws: int = 20
    """random subsets of the candidates, of the FL budget's size, drawn as a coverage baseline."""
    embed_batch: int = 64
    """MiniLM batch size (official: 64)."""

    # --- F3: students ---
    student: str = "gemma-3-270m"
    """the strong student fine-tuned on the selected subsets (paper: LLaMA2-7B)."""
    train_rate: float = 0.05
    """size of every training subset as a share of the pool (the paper's headline 5 %)."""
    arms: tuple = ("weak IFD", "random")
    """training subsets compared; quick affords two Gemma students (~100 s each)."""
    sft_epochs: int = 2
    """student epochs (paper: 3); 2 x 20 samples = 10 steps at batch 4."""
    sft_lr: float = 1e-4
    """student learning rate (paper 2e-5 over thousands of steps; a 10-step run needs more)."""
    sft_batch: int = 4
    """student batch size (paper: 128)."""
    sft_max_length: int = 256
    """student sequence cap, prompt + answer + EOS (paper 512); 256 keeps Gemma's step time down."""
    sft_seeds: int = 1
    """student seeds per arm (seed .. seed + sft_seeds - 1); every arm uses the same seeds."""
    eval_untuned: bool = True
    """also report the held-out loss of the student before any tuning (~18 s at quick)."""

    def validate(self) -> None:
        for name in ("weak", "strong", "student"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value:
                raise ValueError(f"{name}={value!r} must be a registered LM name or a hub id 'org/name'")
        if self.data not in POOLS:
            raise ValueError(f"data={self.data!r}: valid pools are {POOLS}")
        resolve_precision(self.precision)
        for name in ("n_heldout", "timing_n", "random_draws", "embed_batch", "sft_epochs", "sft_batch",
                     "sft_seeds", "data_seed"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < (0 if name == "data_seed" else 1):
                raise ValueError(f"{name}={value!r} must be an int >= {0 if name == 'data_seed' else 1}")
        rates = tuple(self.rates)
        if len(rates) < 2 or any(not 0 < r <= 1 for r in rates) or list(rates) != sorted(set(rates)):
            raise ValueError(f"rates={self.rates}: need >= 2 increasing rates in (0, 1]")
        for name in ("d_pool_rate", "d_rate", "train_rate"):
            if not 0 < getattr(self, name) <= 1:
                raise ValueError(f"{name}={getattr(self, name)} must lie in (0, 1]")
        if self.d_rate >= self.d_pool_rate:
            raise ValueError(f"d_rate={self.d_rate} must be below d_pool_rate={self.d_pool_rate}")
        if self.k_base is not None and (not isinstance(self.k_base, int) or self.k_base < 1):
            raise ValueError(f"k_base={self.k_base!r} must be a positive int or None")
        if not self.threshold > 0:
            raise ValueError(f"threshold={self.threshold} must be > 0")
        bad = [a for a in self.arms if a not in ARMS]
        if bad or not self.arms or len(set(self.arms)) != len(self.arms):
            raise ValueError(f"arms={self.arms}: need distinct arms from {ARMS}")
        if self.max_length < 16 or self.sft_max_length < 16:
            raise ValueError("max_length and sft_max_length must be >= 16")
        if self.sft_lr <= 0:
            raise ValueError(f"sft_lr={self.sft_lr} must be > 0")
        if "strong IFD" in self.arms and self.n_strong is not None and self.n_strong != self.n_pool:
            raise ValueError(f"arms include 'strong IFD', which needs strong scores of the whole pool: "
                             f"n_strong={self.n_strong} must be None")
        if self.n_clusters is not None and (not isinstance(self.n_clusters, int) or self.n_clusters < 2):
            raise ValueError(f"n_clusters={self.n_clusters!r} must be an int >= 2 or None")
        self._validate_sizes()

    def _validate_sizes(self) -> None:
        """Every budget must select at least one sample (two for the overlap, F1) from the sizes given."""
        if self.n_pool is not None and (not isinstance(self.n_pool, int) or self.n_pool < 8):
            raise ValueError(f"n_pool={self.n_pool!r} must be an int >= 8 (or None for the whole dataset)")
        if self.n_strong is not None and (not isinstance(self.n_strong, int) or self.n_strong < 8):
            raise ValueError(f"n_strong={self.n_strong!r} must be an int >= 8 (or None for the whole pool)")
        if self.n_pool is None:
            return
        if self.n_strong is not None and self.n_strong > self.n_pool:
            raise ValueError(f"n_strong={self.n_strong} exceeds n_pool={self.n_pool}")
        if self.timing_n > self.n_pool:
            raise ValueError(f"timing_n={self.timing_n} exceeds n_pool={self.n_pool}")
        n_common = self.n_strong or self.n_pool
        if int(n_common * min(self.rates)) < 1 or int(n_common * 0.10) < 1:
            raise ValueError(f"rates={self.rates}: the smallest budget (and 10 %) must select >= 1 of "
                             f"n_strong={n_common} samples")
        base = self.k_base or self.n_pool
        if int(base * self.d_rate) < 1:
            raise ValueError(f"d_rate={self.d_rate}: the facility-location budget int({base} x d_rate) is 0")
        if int(self.n_pool * self.train_rate) < 1:
            raise ValueError(f"train_rate={self.train_rate}: int(n_pool x train_rate) is 0")
        if 2 * int(self.n_pool * self.train_rate) > self.n_pool:
            raise ValueError(f"train_rate={self.train_rate} is too large for n_pool={self.n_pool}")
        if self.n_clusters is not None and self.n_clusters > self.n_pool:
            raise ValueError(f"n_clusters={self.n_clusters} exceeds n_pool={self.n_pool}")


PROFILES: dict[str, dict] = {
    # smoke: both real scorers on a 16-sample pool with a 64-token window, so every code path runs in
    # under a minute; the student is the (already loaded) weak model, whose optimiser step is far cheaper
    # than Gemma's (262k x 640 tied embedding).
    "smoke": {"n_pool": 16, "n_strong": None, "n_heldout": 4, "max_length": 64, "rates": (0.10, 0.25),
              "timing_n": 2, "d_pool_rate": 0.5, "d_rate": 0.2, "random_draws": 3, "train_rate": 0.1,
              "student": "smollm2-135m-instruct", "sft_epochs": 1, "sft_batch": 2, "sft_max_length": 64,
              "eval_untuned": False},
    "quick": {},
    # full: the paper's setting on Alpaca-52k from the hub; GPU, online. LLaMA2-7B is gated on the hub
    # (needs an accepted licence); overrides={"strong": "Qwen/Qwen2.5-7B"} is an open 7B alternative.
    "full": {"weak": "openai-community/gpt2", "strong": "meta-llama/Llama-2-7b-hf", "data": "alpaca",
             "n_pool": None, "n_strong": None, "n_heldout": 1000, "max_length": 1024, "precision": "bf16",
             "timing_n": 256, "arms": ("weak IFD", "strong IFD", "random", "perplexity"), "sft_epochs": 3,
             "sft_lr": 2e-5, "sft_batch": 32, "sft_max_length": 512, "sft_seeds": 3, "random_draws": 100},
}


def get_config(profile: str = "quick", **overrides) -> Config:
    """Config for `profile` with `overrides`; unknown keys or profiles raise ValueError."""
    return build_config(Config, PROFILES, profile, overrides)


def required_assets(cfg: Config) -> tuple[str, ...]:
    """The models and datasets `cfg` loads (replib.assets names or hub ids), for ``replib.assets.require``:
    the weak and strong scorers, the student, the pool and the MiniLM encoder of Superfiltering.D."""
    from ..lm.models import TINY  # a tiny random LM uses a registered LM's tokenizer

    lms = (TINY.get(m, m) for m in (cfg.weak, cfg.strong, cfg.student))
    return tuple(dict.fromkeys((*lms, cfg.data, "minilm-l6")))
