"""The MEO notebook's experiments; each returns plain data (a pandas DataFrame), never plots.

F1 `flops_frame`     analytic GFLOPs vs k, BERT small/base/large, MoE vs MEO (the headline figure)
F2 `timing_frame`    measured forward time per token of the MoE and MEO FFN vs k on the run's device
F3 `glue_frame`      GLUE dev accuracy of dense / MoE / MEO vs k, experts upcycled from a pretrained encoder
F4 `token_frame`     token level: vanilla token MoE vs MEO (sequence) vs MEO + TokenAtt at one k
"""
from __future__ import annotations

import time

import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from .finetune import load_encoder, prepare_task, train_one
from .flops import BERT_SIZES, flops
from .layers import MoELinear
from .model import split_encoder


def flops_frame(cfg) -> pd.DataFrame:
    """F1: rows (model, mode, k, gflops) for every BERT size, mode and k of cfg.flops_ks."""
    rows = [{"model": m, "mode": mode, "k": k, "gflops": flops(m, k, cfg.flops_seq_len, mode) / 1e9}
            for m in BERT_SIZES for mode in ("moe", "meo") for k in cfg.flops_ks]
    return pd.DataFrame(rows)


class _FFN(nn.Module):
    """d -> f -> d FFN made of two MoE linears (sequence level), GELU between, as in BERT."""

    def __init__(self, d: int, f: int, n: int, k: int, mode: str):
        super().__init__()
        self.up = MoELinear(d, f, n, k, mode=mode)
        self.down = MoELinear(f, d, n, k, mode=mode)
        self.down.weight.data.mul_(0.1)   # keep activations tame; timing does not depend on values

    def forward(self, x):
        return self.down(nn.functional.gelu(self.up(x)))


def _time(fn, device, reps: int) -> float:
    fn()                                              # warm-up (allocations, kernels)
    times = []
    for _ in range(reps):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append(time.perf_counter() - t)
    return sorted(times)[len(times) // 2]


@torch.no_grad()
def timing_frame(cfg, device, seed: int = 0) -> pd.DataFrame:
    """F2: median forward time of the MoE and MEO FFN per token, for each k of cfg.timing_ks.

    Both modes share the expert weights and the router, so they compute the same function; gates are
    made non-uniform by a random router so that different sequences pick different experts.
    """
    d, f = cfg.timing_dims
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(cfg.timing_batch, cfg.timing_seq_len, d, generator=gen).to(device)
    n_tok = cfg.timing_batch * cfg.timing_seq_len
    rows = []
    for k in tqdm(cfg.timing_ks, desc="F2 timing", leave=False):
        moe = _FFN(d, f, cfg.timing_experts, k, "moe")
        for lin in (moe.up, moe.down):   # a random router: sequences pick different experts
            lin.gate.w_gate.data = torch.randn(lin.gate.w_gate.shape, generator=gen)
        meo = _FFN(d, f, cfg.timing_experts, k, "meo")
        meo.load_state_dict(moe.state_dict())
        ffn = {"moe": moe.to(device).eval(), "meo": meo.to(device).eval()}
        for mode, mod in ffn.items():
            t = _time(lambda: mod(x), device, cfg.timing_reps)
            rows.append({"k": k, "mode": mode, "seconds": t, "us_per_token": 1e6 * t / n_tok})
    return pd.DataFrame(rows)


def _sweep(cfg, device, seed: int, runs: list[tuple], desc: str) -> pd.DataFrame:
    """Train every (task, mode, level, k) of `runs` for cfg.seeds seeds; one tokenisation per task."""
    encoder, tok = load_encoder(cfg.encoder)
    bottom, top = split_encoder(encoder, cfg.n_frozen)
    rows = []
    tasks = list(dict.fromkeys(r[0] for r in runs))
    total = len(runs) * cfg.seeds
    with tqdm(total=total, desc=desc) as bar:
        for task in tasks:
            data = prepare_task(task, tok, bottom, cfg, device)
            for _, mode, level, k in (r for r in runs if r[0] == task):
                for s in range(seed, seed + cfg.seeds):
                    t = time.perf_counter()
                    row = train_one(top, data, cfg, mode=mode, k=k, seed=s, device=device, level=level)
                    row["train_s"] = time.perf_counter() - t
                    rows.append(row)
                    bar.set_postfix(task=task, mode=mode, k=k, acc=f"{row['acc']:.3f}")
                    bar.update()
    return pd.DataFrame(rows)


def glue_frame(cfg, device, seed: int = 0) -> pd.DataFrame:
    """F3: dense (k = 0 in the table), MEO at every k of cfg.ks, vanilla MoE at cfg.moe_ks (same seeds)."""
    runs = []
    for task in cfg.tasks:
        runs.append((task, "dense", "sequence", 0))
        runs += [(task, "meo", "sequence", k) for k in cfg.ks]
        runs += [(task, "moe", "sequence", k) for k in cfg.moe_ks]
    return _sweep(cfg, device, seed, runs, "F3 GLUE sweep")


def token_frame(cfg, device, seed: int = 0) -> pd.DataFrame:
    """F4: (a) vanilla token-level MoE, (c) MEO + TokenAtt, both at cfg.token_k; (b) comes from F3."""
    runs = [(task, mode, "token", cfg.token_k) for task in cfg.tasks for mode in ("moe", "meo")]
    return _sweep(cfg, device, seed, runs, "F4 token level")


def summarise(frame: pd.DataFrame, by=("task", "mode", "level", "k")) -> pd.DataFrame:
    """Mean, std and count of dev accuracy over seeds."""
    return (frame.groupby(list(by))["acc"].agg(["mean", "std", "count"]).reset_index()
            .fillna({"std": 0.0}))
