"""PAD-Net experiments on images: the dynamic-ratio sweep (F1) and the ablations (F2-F4).

``run(cfg, device, seed)`` returns a tidy DataFrame (one row per trained network) and the scale-factor
trajectories; the notebook plots them and ``claims.make_claims`` turns them into verdicts.
Training recipe (papers/padnet.md Sec. 3, shortened): SGD with Nesterov momentum 0.9, cosine decay per
step, weight decay, label smoothing 0.1, horizontal flips, attention temperature annealed from 30 to 1
over the first third of the epochs; IMP (SNIP, T rounds, global threshold) once before training on a few
training batches.
"""
from __future__ import annotations

import math
import time

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from .. import assets, runtime
from ..runtime import seed_everything
from .conv import ResNet, counted_parameters, kernel_stats, pad_layers, set_temperature, temperature
from .partition import mode_partition


def load_images(name: str, n_train: int | None, n_test: int | None, size: int, seed: int = 0) -> dict:
    """Seeded subsets as float tensors (N, C, size, size), normalised with the training mean and std."""
    d = assets.load_dataset(name)
    g = torch.Generator().manual_seed(seed)

    def prep(x, y, n):
        idx = torch.randperm(len(y), generator=g)[:n] if n else torch.arange(len(y))
        x = x[idx].float() / 255.0
        x = x.permute(0, 3, 1, 2) if x.dim() == 4 else x[:, None]                 # (N, C, H, W)
        if x.shape[-1] != size:
            x = F.interpolate(x, size=(size, size), mode="area")
        return x.contiguous(), torch.as_tensor(y)[idx].long()

    xtr, ytr = prep(d["x_train"], d["y_train"], n_train)
    xte, yte = prep(d["x_test"], d["y_test"], n_test)
    mean, std = xtr.mean((0, 2, 3), keepdim=True), xtr.std((0, 2, 3), keepdim=True)
    return {"x_train": (xtr - mean) / std, "y_train": ytr, "x_test": (xte - mean) / std, "y_test": yte,
            "name": name, "classes": len(d["classes"])}


def build(data: dict, cfg, kind: str, kappa: float | None, seed: int, device, *, rounds: int | None = None,
          scorer: str = "snip", lambda_mode: str | None = None) -> ResNet:
    """A seeded network; PAD networks get their masks from IMP on ``cfg.imp_batches`` training batches."""
    seed_everything(seed)
    net = ResNet(data["x_train"].shape[1], data["classes"], cfg.width, cfg.blocks, kind, cfg.num_kernels,
                 cfg.reduction, lambda_mode or cfg.lambda_mode, cfg.path).to(device)
    if kind == "pad":
        g = torch.Generator().manual_seed(seed)
        idx = torch.randperm(len(data["y_train"]), generator=g)[:cfg.imp_batches * cfg.batch_size]
        batches = [(data["x_train"][i].to(device), data["y_train"][i].to(device))
                   for i in idx.split(cfg.batch_size)]
        set_temperature(net, cfg.tau0)                       # the network as training will start it
        mode_partition(net, batches, F.cross_entropy, kappa, rounds=rounds or cfg.rounds, scorer=scorer, seed=seed)
    return net


@torch.no_grad()
def accuracy(net, x, y, device, batch_size: int = 512, *, precision: str = "auto") -> float:
    """Share of correct predictions, forwards under ``runtime.autocast(device, precision)``."""
    net.eval()
    x, y = x.to(device), y.to(device)
    with runtime.autocast(device, precision):
        correct = sum((net(x[i:i + batch_size]).argmax(1) == y[i:i + batch_size]).sum()    # stays on the device
                      for i in range(0, len(y), batch_size))
    return int(correct) / len(y)


def train(net, data: dict, cfg, seed: int, device) -> dict:
    """Train in place; returns test accuracy, wall time and the per-epoch mean (lambda_d, lambda_s).
    Forward and loss run under ``runtime.autocast(device, cfg.precision)``, backward and SGD outside it."""
    x, y = data["x_train"].to(device), data["y_train"].to(device)   # the training set moves to the device once
    steps_per_epoch = math.ceil(len(y) / cfg.batch_size)
    total = cfg.epochs * steps_per_epoch
    opt = torch.optim.SGD(net.parameters(), lr=cfg.lr, momentum=0.9, nesterov=True, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * s / total)))
    g = torch.Generator().manual_seed(seed)
    layers, lambdas, t0 = pad_layers(net), [], time.perf_counter()
    precision = getattr(cfg, "precision", "auto")
    for epoch in range(cfg.epochs):
        net.train()
        perm = torch.randperm(len(y), generator=g)
        for step, idx in enumerate(perm.split(cfg.batch_size)):
            set_temperature(net, temperature(epoch + step / steps_per_epoch, cfg.anneal_frac * cfg.epochs, cfg.tau0))
            idx = idx.to(device)
            xb, yb = x[idx], y[idx]
            flip = (torch.rand(len(idx), generator=g) < 0.5).to(device)             # horizontal flips
            xb = torch.where(flip[:, None, None, None], xb.flip(-1), xb)
            with runtime.autocast(device, precision):
                loss = F.cross_entropy(net(xb).float(), yb, label_smoothing=cfg.label_smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
        if layers:
            lambdas.append(np.mean([[v.item() for v in m.scales()] for m in layers], axis=0))
    set_temperature(net, 1.0)
    acc = accuracy(net, data["x_test"], data["y_test"], device, precision=precision)
    return {"acc": acc, "train_s": time.perf_counter() - t0, "lambdas": np.array(lambdas)}


def plan(cfg) -> list[dict]:
    """Every network to train: the sweep on each dataset, then the ablations on ``cfg.ablation_dataset``."""
    runs = []
    for ds in cfg.datasets:
        runs.append(dict(dataset=ds, group="sweep", kind="static", kappa=0.0))
        runs += [dict(dataset=ds, group="sweep", kind="pad", kappa=k) for k in cfg.kappas]
        runs.append(dict(dataset=ds, group="sweep", kind="dynamic", kappa=1.0))
    ab, k0 = cfg.ablation_dataset, cfg.ablation_kappa
    runs += [dict(dataset=ab, group="random", kind="pad", kappa=k, scorer="random") for k in cfg.random_kappas]
    runs.append(dict(dataset=ab, group="one_shot", kind="pad", kappa=k0, rounds=1))
    runs.append(dict(dataset=ab, group="no_lambda", kind="pad", kappa=k0, lambda_mode="none"))
    for ds in {r["dataset"] for r in runs} - set(cfg.datasets):     # ablations need their IMP reference
        runs.append(dict(dataset=ds, group="sweep", kind="pad", kappa=k0))
    return runs


def run(cfg, device, seed: int = 0, progress: bool = True) -> dict:
    """Train every planned network for every seed; -> {"results": DataFrame, "lambdas": {...}}."""
    data = {ds: load_images(ds, cfg.n_train, cfg.n_test, cfg.image_size, cfg.data_seed)
            for ds in {r["dataset"] for r in plan(cfg)}}
    rows, lambdas = [], {}
    jobs = [(s, r) for s in range(seed, seed + cfg.seeds) for r in plan(cfg)]
    for s, r in tqdm(jobs, desc="PAD-Net runs", disable=not progress):
        d = data[r["dataset"]]
        net = build(d, cfg, r["kind"], r["kappa"], s, device, rounds=r.get("rounds"), scorer=r.get("scorer", "snip"),
                    lambda_mode=r.get("lambda_mode"))
        out = train(net, d, cfg, s, device)
        stats = kernel_stats(net)
        stats["counted_params"] = counted_parameters(net)   # from the tensors, independent of the formula
        if not stats["kernel_numel"]:           # static network: its residual-layer kernels, one copy each
            stats["intrinsic_params"] = float(sum(p.numel() for name, p in net.named_parameters()
                                                  if name.startswith("layers") and p.dim() == 4))
            stats["counted_params"] = int(stats["intrinsic_params"])
        rows.append({**{k: r.get(k) for k in ("dataset", "group", "kind", "kappa")}, "seed": s, "acc": out["acc"],
                     "train_s": out["train_s"], **stats})
        if r["group"] == "sweep" and r["kind"] == "pad" and len(out["lambdas"]):
            lambdas[(r["dataset"], r["kappa"], s)] = out["lambdas"]
    return {"results": pd.DataFrame(rows), "lambdas": lambdas}


def summarise(results: pd.DataFrame) -> pd.DataFrame:
    """Mean and std of accuracy per dataset, group, kind and kappa (in percent), with parameter counts."""
    g = results.groupby(["dataset", "group", "kind", "kappa"], sort=False)
    out = g.agg(acc=("acc", "mean"), std=("acc", "std"), n=("acc", "size"), params=("intrinsic_params", "mean"),
                train_s=("train_s", "mean")).reset_index()
    out[["acc", "std"]] *= 100
    return out
