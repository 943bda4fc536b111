"""The MEO notebook's experiments; each returns plain data (a pandas DataFrame), never plots.

F1 `flops_frame`     analytic GFLOPs vs k, BERT small/base/large, MoE vs MEO (the headline figure)
F2 `timing_frame`    measured forward time per token of the MoE and MEO FFN vs k on the run's device
F3 `glue_frame`      GLUE dev accuracy of dense / MoE / MEO vs k, experts upcycled from a pretrained encoder
F4 `token_frame`     token level: vanilla token MoE vs MEO (sequence) vs MEO + TokenAtt at one k
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import pandas as pd
import torch
from tqdm.auto import tqdm

from ..nn.glue import TaskData, load_encoder, prepare_task, split_encoder
from ..runtime import time_call
from .flops import BERT_SIZES, flops
from .layers import ffn_pair
from .model import train_one


def flops_frame(cfg) -> pd.DataFrame:
    """F1: rows (model, mode, k, gflops) for every BERT size, mode and k of cfg.flops_ks."""
    rows = [{"model": m, "mode": mode, "k": k, "gflops": flops(m, k, cfg.flops_seq_len, mode) / 1e9}
            for m in BERT_SIZES for mode in ("moe", "meo") for k in cfg.flops_ks]
    return pd.DataFrame(rows)


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
        moe, meo = ffn_pair(d, f, cfg.timing_experts, k, gen)
        ffn = {"moe": moe.to(device).eval(), "meo": meo.to(device).eval()}
        for mode, mod in ffn.items():
            t = time_call(lambda mod=mod: mod(x), device, cfg.timing_reps)
            rows.append({"k": k, "mode": mode, "seconds": t, "us_per_token": 1e6 * t / n_tok})
    return pd.DataFrame(rows)


@dataclass
class GlueContext:
    """The encoder split into frozen bottom / trainable top, and every task's prepared data."""

    top: torch.nn.Module
    tasks: dict[str, TaskData]


def prepare(cfg, device) -> GlueContext:
    """Load the encoder once and tokenise (and bottom-encode) every task once, for F3 and F4."""
    encoder, tok = load_encoder(cfg.encoder)
    bottom, top = split_encoder(encoder, cfg.n_frozen)
    tasks = {t: prepare_task(t, tok, bottom, cfg, device) for t in tqdm(cfg.tasks, desc="tokenise", leave=False)}
    return GlueContext(top, tasks)


def _sweep(cfg, ctx: GlueContext, device, seed: int, runs: list[tuple], desc: str) -> pd.DataFrame:
    """Train every (task, mode, level, k, n_seeds) of `runs` from seeds seed .. seed + n_seeds - 1."""
    rows = []
    with tqdm(total=sum(r[4] for r in runs), desc=desc) as bar:
        for task, mode, level, k, n_seeds in runs:
            for s in range(seed, seed + n_seeds):
                t = time.perf_counter()
                row = train_one(ctx.top, ctx.tasks[task], cfg, mode=mode, k=k, seed=s, device=device, level=level)
                row["train_s"] = time.perf_counter() - t
                rows.append(row)
                bar.set_postfix(task=task, mode=mode, k=k, acc=f"{row['acc']:.3f}")
                bar.update()
    return pd.DataFrame(rows)


def glue_frame(cfg, ctx: GlueContext, device, seed: int = 0) -> pd.DataFrame:
    """F3: dense (k = 0 in the table), MEO at every k of cfg.ks, vanilla MoE at cfg.moe_ks (first seeds)."""
    runs = []
    for task in cfg.tasks:
        runs.append((task, "dense", "sequence", 0, cfg.seeds))
        runs += [(task, "meo", "sequence", k, cfg.seeds) for k in cfg.ks]
        runs += [(task, "moe", "sequence", k, cfg.moe_seeds) for k in cfg.moe_ks]
    return _sweep(cfg, ctx, device, seed, runs, "F3 GLUE sweep")


def token_frame(cfg, ctx: GlueContext, device, seed: int = 0) -> pd.DataFrame:
    """F4: (a) vanilla token-level MoE, (c) MEO + TokenAtt, both at cfg.token_k; (b) comes from F3."""
    runs = [(task, mode, "token", cfg.token_k, cfg.seeds) for task in cfg.tasks for mode in ("moe", "meo")]
    return _sweep(cfg, ctx, device, seed, runs, "F4 token level")


def summarise(frame: pd.DataFrame, by=("task", "mode", "level", "k")) -> pd.DataFrame:
    """Mean, std and count of dev accuracy over seeds."""
    return (frame.groupby(list(by))["acc"].agg(["mean", "std", "count"]).reset_index()
            .fillna({"std": 0.0}))
