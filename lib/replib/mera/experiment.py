"""The MerA notebook's experiments (papers/mera.md Sec. 6); each returns plain data (pandas DataFrames).

   ``prepare`` + ``train_sources``  the frozen encoder top, every task tokenised (bottom cached), and one source
                                   adapter set per source task (different inits; shared init for F2), from cache
F1 ``fewshot_frame``   accuracy of every method at every k, target and seed (merges done once per target)
F2 ``ablation_frame``  sum / avg / OT with shared-init sources (the different-init arm is F1's runs)
F3 ``zeroshot_frame``  function retention: each merged adapter read by each source's own head on that source's
                       task, against the source alone (no training)
F4 ``params_frame``    trainable parameters of MerA and AdapterFusion, counted and by formula (exact)
F5 ``recovery_frame``  share of a permuted (+ noise) copy's bottleneck that OT maps back (exact at sigma = 0)
Every training path runs under ``runtime.autocast(device, cfg.precision)``.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from types import SimpleNamespace

import pandas as pd
import torch
from tqdm.auto import tqdm

from .. import runtime
from ..nn.glue import TaskData, batch_inputs, finetune, load_encoder, split_encoder
from .cached import CachedTop, cached_top, encode_z
from .data import fewshot_task, prepare_task, sources_for
from .fusion import adapter_parameters, fusion_parameters
from .merge import COSTS, cost_matrix, merge, noisy_permuted, recovered_share, transport_plan
from .sources import (
    Source,
    adapter_model,
    full_model,
    fusion_model,
    get_source,
    n_layers,
    source_accuracy,
    trainable,
)

MERGES = {"mera-sum": ("sum", "weight", False), "mera-avg": ("avg", "weight", False),
          "mera-ot": ("ot", "weight", False), "mera-ot-act": ("ot", "activation", False),
          "mera-ot-track": ("ot", "weight", True)}
"""MerA method -> (merge operator, OT cost, same-track sources only)."""


@dataclass
class Context:
    """The frozen top, every task's prepared data, and the source adapters ({task: Source}) per init."""

    top: torch.nn.Module
    tasks: dict[str, TaskData]
    n_frozen: int
    sources: dict[str, dict[str, Source]] = field(default_factory=dict)
    probes: dict[str, list] = field(default_factory=dict)


def prepare(cfg, device) -> Context:
    """Load the encoder once (the random 'tiny' one from data_seed), cache the frozen bottom's outputs and
    tokenise every target and source task once."""
    runtime.seed_everything(cfg.data_seed)
    encoder, tok = load_encoder(cfg.encoder)
    n_layers = len(encoder.encoder.layer)
    n_frozen = 0 if cfg.adapt_layers is None else max(0, n_layers - cfg.adapt_layers)
    bottom, top = split_encoder(encoder, n_frozen)
    top = top.to(device).requires_grad_(False).eval()
    names = list(dict.fromkeys((*cfg.targets, *cfg.sources)))
    tasks = {}
    for t in tqdm(names, desc="tokenise + encode", leave=False):
        tasks[t] = data = prepare_task(t, tok, bottom, cfg, device)
        if cfg.adapt_layers == 1:                       # cached path: z of the last layer (cached.py)
            for d in (data.train, data.dev):
                z = encode_z(top, d, device)
                bottom_h = d.pop("hidden", None)
                if t in cfg.targets and bottom_h is not None:
                    d["bottom"] = bottom_h              # full fine-tuning reads the real layer's input
                d["hidden"] = z
    return Context(cached_top(top) if cfg.adapt_layers == 1 else top, tasks, n_frozen)


def train_sources(cfg, ctx: Context, device, inits=("different", "shared")) -> pd.DataFrame:
    """Source adapters for every source task (cache first); 'different': init seed source_seed + n for the n-th
    source, 'shared': source_seed for all. One row per adapter: accuracy on its own dev set, cache hit, time."""
    rows = []
    for init in inits:
        ctx.sources.setdefault(init, {})
        for n, task in enumerate(tqdm(cfg.sources, desc=f"sources ({init} init)", leave=False)):
            seed = cfg.source_seed + (n if init == "different" else 0)
            src = get_source(ctx.top, ctx.tasks[task], cfg, seed=seed, device=device)
            ctx.sources[init][task] = src
            rows.append({"task": task, "init": init, "seed": seed, "acc": src.acc, "cached": src.cached,
                         "train_s": src.train_s})
    return pd.DataFrame(rows)


@torch.no_grad()
def probe_inputs(ctx: Context, target: str, m: int, device) -> list[torch.Tensor]:
    """(M, d) per adapted layer: the adapter inputs LN(z) of the plain frozen top over the first M real tokens of
    the target's training pool (the probe of the activation-based cost)."""
    if target in ctx.probes:
        return ctx.probes[target]
    d = ctx.tasks[target].train
    idx = torch.arange(min(len(d["labels"]), max(1, m // 8)))
    if isinstance(ctx.top, CachedTop):
        x = batch_inputs(d, idx, "cpu")
        ctx.probes[target] = [ctx.top.norm(x["inputs_embeds"])[x["attention_mask"].bool()][:m].float()]
        return ctx.probes[target]
    layers = ctx.top.encoder.layer
    got: list[list] = [[] for _ in layers]
    hooks = [blk.output.LayerNorm.register_forward_hook(lambda mod, inp, out, i=i: got[i].append(out))
             for i, blk in enumerate(layers)]
    try:
        x = batch_inputs(d, idx, device)
        ctx.top(**{k: v for k, v in x.items()})
    finally:
        for h in hooks:
            h.remove()
    mask = x["attention_mask"].bool()
    ctx.probes[target] = [g[0][mask][:m].float().cpu() for g in got]        # (M, d) real tokens only
    return ctx.probes[target]


def merged(cfg, ctx: Context, target: str, method: str, device, init: str = "different") -> tuple[list, float]:
    """(merged adapter set, merge seconds) of a MerA method for ``target``."""
    op, cost, track = MERGES[method]
    names = sources_for(target, cfg.sources, cfg.tracks, same_track=track)
    if not names:
        raise ValueError(f"target {target} has no source in its track; tracks={cfg.tracks}")
    probes = probe_inputs(ctx, target, cfg.act_probe_tokens, device) if cost == "activation" else None
    t0 = time.perf_counter()
    out = merge([ctx.sources[init][s].adapters for s in names], op, min(cfg.anchor, len(names) - 1), cost=cost,
                  probes=probes, solver=cfg.solver)
    return out, time.perf_counter() - t0


def run_config(cfg, k: int, lr: float):
    """finetune() settings of one k-shot run: the same number of steps at every k."""
    epochs = math.ceil(cfg.steps / math.ceil(2 * k / cfg.batch_size))
    return SimpleNamespace(epochs=epochs, batch_size=cfg.batch_size, lr=lr, head_lr=cfg.head_lr,
                           weight_decay=cfg.weight_decay)


def run_one(cfg, ctx: Context, *, target: str, k: int, seed: int, method: str, device, states=None,
            sources=None) -> dict:
    """One k-shot fine-tuning run: build the model of ``method`` (``states``: the init adapter set for single /
    MerA; ``sources``: the frozen sets for fusion), train it with a new head, evaluate on the target's dev."""
    data = fewshot_task(ctx.tasks[target], k, seed)
    if method == "full-ft" and "bottom" in data.dev:              # cached path: the real layer reads its input
        data = TaskData(data.name, data.num_labels, *({**d, "hidden": d["bottom"]} for d in (data.train, data.dev)))
    if method == "fusion":
        model = fusion_model(ctx.top, data.num_labels, sources, seed=seed)
    elif method == "full-ft":
        model = full_model(ctx.top, data.num_labels, seed=seed)
    else:
        model = adapter_model(ctx.top, data.num_labels, bottleneck=cfg.bottleneck, seed=seed, states=states)
    model.to(device)
    t0 = time.perf_counter()
    with runtime.autocast(device, cfg.precision):
        out = finetune(model, data, run_config(cfg, k, cfg.ft_lr if method == "full-ft" else cfg.lr), seed=seed,
                       device=device)
    return {"target": target, "k": k, "seed": seed, "method": method, "acc": out["acc"],
            "loss_first": out["loss_first"], "loss_last": out["loss_last"], "steps": out["steps"],
            "trainable": trainable(model), "train_s": time.perf_counter() - t0}


def _inits(cfg, ctx, target, methods, device, init="different") -> list[tuple[str, str, list | None, float]]:
    """(method, source, init states, merge seconds) for every run of one target and seed."""
    names = sources_for(target, cfg.sources)
    jobs = []
    for method in methods:
        if method == "single":
            jobs += [("single", s, ctx.sources[init][s].adapters, 0.0) for s in names]
        elif method in MERGES:
            states, sec = merged(cfg, ctx, target, method, device, init)
            jobs.append((method, "+".join(sources_for(target, cfg.sources, cfg.tracks, MERGES[method][2])), states,
                         sec))
        else:
            jobs.append((method, "+".join(names) if method == "fusion" else "", None, 0.0))
    return jobs


def _runs(cfg, ctx, device, seed, shots, methods, init, desc) -> pd.DataFrame:
    rows = []
    plan = {t: _inits(cfg, ctx, t, methods, device, init) for t in cfg.targets}
    total = sum(len(j) for j in plan.values()) * len(shots) * cfg.seeds
    with tqdm(total=total, desc=desc) as bar:
        for target, jobs in plan.items():
            fused = [ctx.sources[init][s].adapters for s in sources_for(target, cfg.sources)]
            for k in shots:
                for s in range(seed, seed + cfg.seeds):
                    for method, source, states, sec in jobs:
                        row = run_one(cfg, ctx, target=target, k=k, seed=s, method=method, device=device,
                                      states=states, sources=fused)
                        rows.append(row | {"source": source, "init": init, "merge_s": sec})
                        bar.set_postfix(target=target, k=k, method=method, acc=f"{row['acc']:.3f}")
                        bar.update()
    return pd.DataFrame(rows)


def fewshot_frame(cfg, ctx: Context, device, seed: int = 0) -> pd.DataFrame:
    """F1: every method of cfg.methods at every k of cfg.shots, target and seed (different-init sources)."""
    return _runs(cfg, ctx, device, seed, cfg.shots, cfg.methods, "different", "F1 few-shot")


def ablation_frame(cfg, ctx: Context, device, seed: int = 0) -> pd.DataFrame:
    """F2: MerA sum / avg / OT from shared-init sources at cfg.ablation_shots (different init: F1's runs)."""
    return _runs(cfg, ctx, device, seed, cfg.ablation_shots, ("mera-sum", "mera-avg", "mera-ot"), "shared",
                 "F2 shared init")


def zeroshot_frame(cfg, ctx: Context, device) -> pd.DataFrame:
    """F3: for each target's mixed sources, each init and each merge: the merged set read by every source's own
    head on that source's dev set ('alone': the source itself). No training."""
    rows = []
    for init in ctx.sources:
        alone = {}
        for target in cfg.targets:
            names = sources_for(target, cfg.sources)
            sets = {"alone": None} | {m: merged(cfg, ctx, target, m, device, init)[0]
                                      for m in ("mera-sum", "mera-avg", "mera-ot")}
            for method, states in sets.items():
                for s in names:
                    src = ctx.sources[init][s]
                    if method == "alone":
                        acc = alone.setdefault(s, source_accuracy(ctx.top, ctx.tasks[s], cfg, src.adapters,
                                                                  src.head, device))
                    else:
                        acc = source_accuracy(ctx.top, ctx.tasks[s], cfg, states, src.head, device)
                    rows.append({"target": target, "init": init, "method": method, "source": s, "acc": acc})
    return pd.DataFrame(rows)


def params_frame(cfg, ctx: Context) -> pd.DataFrame:
    """F4: trainable parameters counted on the built models against the formulas (head included)."""
    target = cfg.targets[0]
    names = sources_for(target, cfg.sources)
    d, L, r = ctx.top.config.hidden_size, n_layers(ctx.top), cfg.bottleneck
    head = d * 2 + 2
    src = [ctx.sources["different"][s].adapters for s in names]
    models = {"mera": adapter_model(ctx.top, 2, bottleneck=r, seed=0),
              "fusion": fusion_model(ctx.top, 2, src, seed=0)}
    formula = {"mera": adapter_parameters(d, r, L) + head, "fusion": fusion_parameters(d, L) + head}
    frozen = {"mera": 0, "fusion": len(names) * adapter_parameters(d, r, L)}
    return pd.DataFrame([{"method": m, "trainable": trainable(models[m]), "formula": formula[m],
                          "frozen_adapters": frozen[m], "n_sources": 1 if m == "mera" else len(names), "d": d,
                          "layers": L, "bottleneck": r} for m in models])


def recovery_frame(cfg, ctx: Context, device, seed: int = 0) -> pd.DataFrame:
    """F5: every module of every (different-init) source permuted at random, noise sigma added, aligned back
    with each cost; the share of units mapped to where they came from."""
    gen = torch.Generator().manual_seed(seed)
    probes = probe_inputs(ctx, cfg.targets[0], cfg.act_probe_tokens, device)
    rows = []
    for task, src in ctx.sources["different"].items():
        for pos, state in enumerate(src.adapters):
            for sigma in cfg.noise_sigmas:
                for draw in range(cfg.recovery_draws):
                    b, perm = noisy_permuted(state, sigma, gen)
                    for cost in COSTS:
                        T = transport_plan(cost_matrix(state, b, cost, probes[pos]), cfg.solver)
                        rows.append({"source": task, "position": pos, "sigma": float(sigma), "draw": draw,
                                     "cost": cost, "recovered": recovered_share(T, perm)})
    return pd.DataFrame(rows)


def by_method(fewshot: pd.DataFrame) -> pd.DataFrame:
    """(target, k, seed, method, acc) with the single-source runs as 'single-mean' and 'single-best' (the source
    best on average for that target) instead of one row per source."""
    from .claims import rows

    out = [rows(fewshot, m).assign(method=m) for m in ("single-mean", "single-best")]
    out.append(fewshot.loc[fewshot["method"] != "single", ["target", "k", "seed", "method", "acc"]])
    return pd.concat(out, ignore_index=True)


def summarise(frame: pd.DataFrame, by=("target", "k", "method")) -> pd.DataFrame:
    """Mean, std and count of accuracy over seeds (and sources, for 'single')."""
    by = [b for b in by if b in frame.columns]
    return frame.groupby(by)["acc"].agg(["mean", "std", "count"]).reset_index().fillna({"std": 0.0})


def headline_metrics(cfg, fewshot=None, ablation=None, zeroshot=None, params=None, recovery=None,
                     sources=None) -> dict:
    """Numbers for metrics.json: mean accuracies per (target, k, method), source accuracies, parameter ratio,
    recovery at each sigma, and merging time as a share of the few-shot training time."""
    out = {}
    if fewshot is not None and len(fewshot):
        out["fewshot_acc"] = {f"{r.target}/k{r.k}/{r.method}": r.mean for r in summarise(fewshot).itertuples()}
        merges = fewshot.drop_duplicates(["target", "method"])
        out["merge_share_of_train_time"] = float(merges["merge_s"].sum() / fewshot["train_s"].sum())
    if ablation is not None and len(ablation):
        out["shared_init_acc"] = {f"{r.target}/k{r.k}/{r.method}": r.mean for r in summarise(ablation).itertuples()}
    if zeroshot is not None and len(zeroshot):
        z = zeroshot.groupby(["init", "method"])["acc"].mean()
        out["zeroshot_source_acc"] = {f"{i}/{m}": float(v) for (i, m), v in z.items()}
    if params is not None and len(params):
        p = params.set_index("method")["trainable"]
        out["trainable"] = {m: int(v) for m, v in p.items()}
        out["fusion_over_mera_trainable"] = float(p["fusion"] / p["mera"])
    if recovery is not None and len(recovery):
        rec = recovery.groupby(["cost", "sigma"])["recovered"].mean()
        out["recovered"] = {f"{c}/{s:g}": float(v) for (c, s), v in rec.items()}
    if sources is not None and len(sources):
        out["source_acc"] = {f"{r.init}/{r.task}": r.acc for r in sources.itertuples()}
    return out
