"""The SparseAdapter notebook's experiments (papers/sparseadapter.md Sec. 6); each returns plain data
(pandas DataFrames), never plots.

F1 ``sweep_frame``         dev accuracy vs sparse ratio for every pruner, plus the dense adapter (ratio 0);
F3                         with the dev-accuracy curves of its dense and SNIP-40% runs (every curve_every steps)
F2 ``large_sparse_frame``  Large-Sparse c r at sparse ratio 1 - 1/c (the dense-r count of non-zero weights)
                           and a dense 2r upper bound; the dense r runs are F1's
F4 ``probe_frame``         share of adapter weights SynFlow prunes with each probe at each ratio (no training)
   ``lora_frame``          LoRA (peft) dense and pruned: the second adapter family
Every run: a fresh copy of the frozen top with masked adapters (``model.adapter_classifier``), pruned once
before any update on prune_length x 32 training examples (``prune.prune``), then fine-tuned by the shared
GLUE harness (``replib.nn.glue.finetune``: AdamW, linear decay, head learning rate).
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import pandas as pd
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from ..nn.glue import TaskData, batch_inputs, finetune, load_encoder, prepare_task, split_encoder
from .model import adapter_classifier, parameter_counts
from .prune import large_sparse, prune, prune_batch_size, prune_indices
from .pruners import SYNFLOW_PROBES


@dataclass
class Context:
    """The frozen top of the encoder (the part that gets adapters) and every task's prepared data."""

    top: torch.nn.Module
    tasks: dict[str, TaskData]
    n_frozen: int


def prepare(cfg, device) -> Context:
    """Load the encoder once, cache the frozen bottom's outputs and tokenise every task once."""
    encoder, tok = load_encoder(cfg.encoder)
    n_layers = len(encoder.encoder.layer)
    n_frozen = 0 if cfg.adapt_layers is None else max(0, n_layers - cfg.adapt_layers)
    bottom, top = split_encoder(encoder, n_frozen)
    tasks = {t: prepare_task(t, tok, bottom, cfg, device) for t in tqdm(cfg.tasks, desc="tokenise", leave=False)}
    return Context(top.to(device).requires_grad_(False), tasks, n_frozen)


def prune_batches(data: TaskData, cfg, pruner: str, seed: int, device) -> list:
    """The (inputs, labels) batches of the prune set: prune_length x 32 random training examples."""
    idx = prune_indices(data.train["labels"].shape[0], length=cfg.prune_length, seed=seed)
    return [(batch_inputs(data.train, i, device), data.train["labels"][i].to(device))
            for i in idx.split(prune_batch_size(pruner, cfg.batch_size))]


def train_one(ctx: Context, task: str, cfg, *, pruner: str, sparse_ratio: float, seed: int, device,
              family: str | None = None, bottleneck: int | None = None, init: str | None = None,
              synflow_probe: str | None = None, eval_every: int = 0) -> dict:
    """Build, prune (unless ratio 0) and fine-tune one adapter model; one result row (with ``curve``, the dev
    accuracy every ``eval_every`` steps, when eval_every > 0)."""
    family = family or cfg.family
    data = ctx.tasks[task]
    model = adapter_classifier(ctx.top, data.num_labels, family=family, bottleneck=bottleneck or cfg.bottleneck,
                               init=init or cfg.init, lora_alpha=cfg.lora_alpha, train_head=cfg.train_head,
                               seed=seed).to(device)
    t0 = time.perf_counter()
    if sparse_ratio > 0:
        prune(model, prune_batches(data, cfg, pruner, seed, device), F.cross_entropy, pruner=pruner,
              sparse_ratio=sparse_ratio, scope=cfg.scope, seed=seed, synflow_probe=synflow_probe or cfg.synflow_probe,
              hidden_size=model.encoder.config.hidden_size)
    t1 = time.perf_counter()
    counts = parameter_counts(model)
    out = finetune(model, data, cfg, seed=seed, device=device, eval_every=eval_every,
                   precision=getattr(cfg, "precision", "auto"))
    row = {"task": task, "family": family, "pruner": pruner if sparse_ratio > 0 else "dense",
            "sparse_ratio": float(sparse_ratio), "bottleneck": bottleneck or cfg.bottleneck, "seed": seed,
            "acc": out["acc"], "loss_first": out["loss_first"], "loss_last": out["loss_last"], "steps": out["steps"],
            "kept": counts["kept_weights"], "total": counts["mask_weights"], "prune_s": t1 - t0,
            "train_s": time.perf_counter() - t1}
    return row | ({"curve": out["curve"]} if eval_every else {})


CURVE_KEYS = ["task", "pruner", "sparse_ratio", "seed"]


def _run(ctx, cfg, device, seed, jobs: list[dict], desc: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The jobs for every seed: (one row per run, one row per (run, evaluation step) of the curved runs)."""
    rows, curves = [], []
    with tqdm(total=len(jobs) * cfg.seeds, desc=desc) as bar:
        for job in jobs:
            for s in range(seed, seed + cfg.seeds):
                row = train_one(ctx, cfg=cfg, seed=s, device=device, **job)
                curves += [{**{k: row[k] for k in CURVE_KEYS}, "step": step, "acc": acc}
                           for step, acc in row.pop("curve", [])]
                rows.append(row)
                bar.set_postfix(task=row["task"], pruner=row["pruner"], ratio=row["sparse_ratio"],
                                acc=f"{row['acc']:.3f}")
                bar.update()
    return pd.DataFrame(rows), pd.DataFrame(curves, columns=[*CURVE_KEYS, "step", "acc"])


CURVED = (("dense", 0.0), ("snip", 0.4))
"""The F3 runs: dense against SNIP at 40% (the paper's convergence comparison)."""


def sweep_frame(cfg, ctx: Context, device, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """F1: the dense adapter and every (pruner, sparse ratio) of the config, on every task and seed; F3: the
    dev-accuracy curves of the CURVED runs among them (every cfg.curve_every steps; empty when 0)."""
    jobs = []
    for task in cfg.tasks:
        jobs.append(dict(task=task, pruner="dense", sparse_ratio=0.0))
        jobs += [dict(task=task, pruner=p, sparse_ratio=r) for p in cfg.pruners for r in cfg.sparse_ratios]
    for job in jobs:
        job["eval_every"] = cfg.curve_every if (job["pruner"], job["sparse_ratio"]) in CURVED else 0
    return _run(ctx, cfg, device, seed, jobs, "F1 pruner x ratio")


def large_sparse_frame(cfg, ctx: Context, device, seed: int = 0) -> pd.DataFrame:
    """F2: bottleneck c r pruned to 1 - 1/c for every c of cfg.large_cs, plus the dense 2r upper bound."""
    jobs = []
    for task in cfg.tasks:
        for c in cfg.large_cs:
            wide, ratio = large_sparse(cfg.bottleneck, c)
            jobs.append(dict(task=task, pruner=cfg.large_pruner, sparse_ratio=ratio, bottleneck=wide))
        if cfg.large_dense_upper:
            jobs.append(dict(task=task, pruner="dense", sparse_ratio=0.0, bottleneck=2 * cfg.bottleneck))
    frame, _ = _run(ctx, cfg, device, seed, jobs, "F2 Large-Sparse")
    frame["c"] = frame["bottleneck"] // cfg.bottleneck
    return frame


def lora_frame(cfg, ctx: Context, device, seed: int = 0) -> pd.DataFrame:
    """LoRA on query and value (rank = cfg.bottleneck): dense and pruned at cfg.lora_ratio."""
    jobs = []
    for task in cfg.tasks:
        for ratio in (0.0, cfg.lora_ratio):
            jobs.append(dict(task=task, pruner=cfg.lora_pruner, sparse_ratio=ratio, family="lora",
                             init=cfg.lora_init))
    return _run(ctx, cfg, device, seed, jobs, "LoRA")[0]


def probe_frame(cfg, ctx: Context, device, seed: int = 0) -> pd.DataFrame:
    """F4: the share of adapter weights SynFlow prunes with each probe, at each of cfg.probe_ratios."""
    task = cfg.tasks[0]
    data = ctx.tasks[task]
    batches = prune_batches(data, cfg, "synflow", seed, device)
    rows = []
    for probe in SYNFLOW_PROBES:
        for ratio in cfg.probe_ratios:
            model = adapter_classifier(ctx.top, data.num_labels, family=cfg.family, bottleneck=cfg.bottleneck,
                                       init=cfg.init, seed=seed).to(device)
            t0 = time.perf_counter()
            prune(model, batches, F.cross_entropy, pruner="synflow", sparse_ratio=ratio, scope=cfg.scope,
                  synflow_probe=probe, hidden_size=model.encoder.config.hidden_size)
            counts = parameter_counts(model)
            n = counts["mask_weights"]
            rows.append({"task": task, "probe": probe, "sparse_ratio": float(ratio), "total": n,
                         "pruned_share": 1.0 - counts["kept_weights"] / n, "prune_s": time.perf_counter() - t0})
    return pd.DataFrame(rows)


def summarise(frame: pd.DataFrame, by=("task", "family", "pruner", "sparse_ratio", "bottleneck")) -> pd.DataFrame:
    """Mean, std and count of dev accuracy over seeds."""
    by = [b for b in by if b in frame.columns]
    return frame.groupby(by)["acc"].agg(["mean", "std", "count"]).reset_index().fillna({"std": 0.0})


def headline_metrics(cfg, sweep=None, large=None, lora=None, probe=None, curves=None) -> dict:
    """Numbers for metrics.json: mean accuracies, kept shares, the probe diagnostic, pruning time share, and
    the mean steps to 95% of dense's final accuracy (F3)."""
    from .claims import steps_to_target

    out = {}
    steps = steps_to_target(curves)
    if len(steps):
        out["steps_to_95pct_of_dense"] = {"dense": float(steps["dense"].mean()), "snip40": float(steps["snip"].mean())}
    for name, frame in (("sweep", sweep), ("large_sparse", large), ("lora", lora)):
        if frame is None or frame.empty:
            continue
        out[f"{name}_acc"] = {f"{r.task}/{r.pruner}/{r.sparse_ratio:g}/r{r.bottleneck}": {
            "mean": r.mean, "std": r.std, "n": int(r.count)} for r in summarise(frame).itertuples()}
        out[f"{name}_prune_share_of_time"] = float(frame["prune_s"].sum() /
                                                   (frame["prune_s"].sum() + frame["train_s"].sum()))
    if probe is not None and not probe.empty:
        out["synflow_pruned_share"] = {f"{r.probe}/{r.sparse_ratio:g}": r.pruned_share for r in probe.itertuples()}
    return out
