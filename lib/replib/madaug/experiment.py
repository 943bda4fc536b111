"""MADAug experiments: every method on every reduced set and seed (papers/madaug.md Sec. 6, figures F1-F5).

``train_run(data, cfg, method, seed, device)`` trains one WRN as ``main_higher.py`` does with ``bi_epochs = 0``
(the author's setting; the shipped 300 never trains the policy, Sec. 5 defect 1):

- per step: base crop + flip on the un-normalised batch; for the MADAug methods, every ``search_freq``-th step
  an explore step (``policy.explore``: the first ``explore_batch`` training images, ``search_batch`` clean
  search images, the SGD state of the task optimiser, an Adam step on h) and a frozen copy of the task model for
  the exploit features until the next one; exploit on the first ``int(split * B)`` images; then normalisation,
  Cutout(16) (not for no-aug) and one SGD step on label-smoothed CE under ``runtime.autocast``;
- learning rate: GradualWarmup (x ``warmup_mult`` over ``warmup_epochs``) then cosine to ``min_lr``, per step;
- per epoch (one host sync each): the split rate, the batch-mean policy strength ``sum_k p_k strength_k(m_k)``
  over the exploit images at temperature T (F2), the training loss and the wall time;
- at the end: test accuracy per class (F1, F3) and, for the policy methods, the mean op probabilities of h
  (T = 1) per test class (F4).
"""
from __future__ import annotations

import copy
import math
import time

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from .. import runtime
from .baselines import POLICY_METHODS, check_method, randaugment, trivialaugment
from .data import crop_flip, cutout16, load_reduced, normaliser, to_unit
from .model import WideResNet
from .ops import OP_NAMES, strength
from .policy import Policy, exploit, explore, policy_features, split_rate


def lr_at(epoch: float, cfg) -> float:
    """GradualWarmupScheduler(multiplier, total_epoch) then CosineAnnealing to min_lr, at a fractional epoch."""
    peak = cfg.lr * cfg.warmup_mult
    if epoch < cfg.warmup_epochs:
        return cfg.lr + (peak - cfg.lr) * epoch / cfg.warmup_epochs
    span = max(cfg.epochs - cfg.warmup_epochs, 1e-9)
    return cfg.min_lr + 0.5 * (peak - cfg.min_lr) * (1 + math.cos(math.pi * (epoch - cfg.warmup_epochs) / span))


def policy_strength(mag: torch.Tensor, probs: torch.Tensor) -> torch.Tensor:
    """(B,) ``sum_k p_k strength_k(m_k)``: the expected strength of one op drawn from the policy (Sec. 2)."""
    s = torch.stack([strength(name, mag[:, k]) for k, name in enumerate(OP_NAMES[:mag.shape[1]])], dim=1)
    return (probs * s).sum(1)


def _augment(method: str, x: torch.Tensor, cfg, gen: torch.Generator) -> torch.Tensor:
    if method == "randaugment":
        return randaugment(x, n=cfg.ra_n, magnitude=cfg.ra_magnitude, generator=gen)
    if method == "trivialaugment":
        return trivialaugment(x, generator=gen)
    return x


@torch.no_grad()
def evaluate(model, x8, y, norm, device, n_classes: int, precision: str, policy=None, batch: int = 500) -> dict:
    """Test accuracy, per-class accuracy and, with ``policy``, the per-class mean op probabilities (T = 1)."""
    model.eval()
    correct = torch.zeros(n_classes, device=device)
    probs_sum = torch.zeros(n_classes, len(OP_NAMES), device=device)
    yd = y.to(device)
    for i in range(0, len(y), batch):
        x, yb = to_unit(x8[i:i + batch].to(device)), yd[i:i + batch]
        with runtime.autocast(device, precision):
            pred = model(norm(x)).argmax(1)
            if policy is not None:
                probs_sum.index_add_(0, yb, policy(model.f(x).float(), 1.0)[1].float())
        correct.index_add_(0, yb, (pred == yb).float())
    counts = torch.bincount(yd, minlength=n_classes).clamp(min=1).float()
    return {"acc": float(correct.sum()) / len(y), "class_acc": (correct / counts).cpu().numpy(),
            "class_probs": (probs_sum / counts[:, None]).cpu().numpy()}


def train_run(data: dict, cfg, method: str, seed: int, device) -> dict:
    """One network trained with ``method``; -> {acc, class_acc (C,), class_probs (C, K) | None, curve, epoch_s}."""
    check_method(method)
    device = torch.device(device)
    precision = runtime.resolve_precision(cfg.precision, device)
    runtime.seed_everything(seed)
    n_classes = len(data["classes"])
    model = WideResNet(depth=cfg.depth, widen=cfg.widen, num_classes=n_classes).to(device)
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    uses_policy, learns = method in POLICY_METHODS, method in ("madaug", "madaug_nocurriculum")
    policy = Policy(model.feature_dim).to(device) if uses_policy else None
    popt = torch.optim.Adam(policy.parameters(), lr=cfg.policy_lr, weight_decay=cfg.policy_wd) if learns else None
    frozen = copy.deepcopy(model) if uses_policy else None
    norm = normaliser(data["mean"], data["std"])
    gen = torch.Generator(device).manual_seed(seed)
    order = torch.Generator().manual_seed(seed)
    x8, y = data["x_train"].to(device), data["y_train"].to(device)
    xs8, ys = data["x_search"].to(device), data["y_search"].to(device)
    steps = len(y) // cfg.batch_size                                       # drop_last
    curve = []
    for epoch in range(cfg.epochs):
        model.train()
        t0 = time.perf_counter()
        split = 1.0 if method == "madaug_nocurriculum" else split_rate(epoch, threshold=cfg.threshold,
                                                                        scale=cfg.curriculum_scale)
        loss_sum = torch.zeros((), device=device)
        s_sum = torch.zeros((), device=device)
        perm = torch.randperm(len(y), generator=order)[:steps * cfg.batch_size].to(device)
        for step, idx in enumerate(perm.view(steps, cfg.batch_size)):
            for g in opt.param_groups:
                g["lr"] = lr_at(epoch + step / steps, cfg)
            x, yb = crop_flip(to_unit(x8[idx]), gen), y[idx]
            if uses_policy:
                if step % cfg.search_freq == 0:
                    if learns:                                             # the bi-level step on h
                        xe, ye = x[:cfg.explore_batch], yb[:cfg.explore_batch]
                        v = torch.randint(0, len(ys), (cfg.search_batch,), generator=gen, device=gen.device)
                        v = v.to(device)
                        with runtime.autocast(device, precision):
                            explore(xe, ye, norm(to_unit(xs8[v])), ys[v], model=model, policy=policy,
                                    task_optimizer=opt, policy_optimizer=popt, post=norm, smoothing=cfg.smoothing,
                                    bn=cfg.explore_bn, generator=gen)
                    frozen.load_state_dict(model.state_dict())             # exploit's features until the next one
                feats = policy_features(frozen, x).float()
                with torch.no_grad():
                    s_sum += policy_strength(*policy(feats, cfg.temperature)).mean()
                x = exploit(x, feats, policy, k_ops=cfg.k_ops, delta=cfg.delta, split=split,
                            temperature=cfg.temperature, generator=gen)
            else:
                x = _augment(method, x, cfg, gen)
            x = norm(x)
            if method != "noaug":
                x = cutout16(x, gen, cfg.cutout)
            with runtime.autocast(device, precision):
                loss = F.cross_entropy(model(x).float(), yb, label_smoothing=cfg.smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss_sum += loss.detach()
        curve.append({"epoch": epoch, "split": split, "strength": float(s_sum) / steps if uses_policy else np.nan,
                      "loss": float(loss_sum) / steps, "epoch_s": time.perf_counter() - t0})
    ev = evaluate(model, data["x_test"], data["y_test"], norm, device, n_classes, precision,
                  policy if uses_policy else None)
    return {"acc": ev["acc"], "class_acc": ev["class_acc"], "class_probs": ev["class_probs"] if uses_policy else None,
            "curve": pd.DataFrame(curve)}


def run(cfg, device, seed: int = 0, progress: bool = True) -> dict:
    """Every (set, method, seed); -> {"runs", "classes", "curves", "heatmap"} tidy DataFrames (claims' input)."""
    cfg.validate()
    runs, classes, curves, heat = [], [], [], []
    jobs = [(d, m, s) for d in cfg.datasets for s in range(seed, seed + cfg.seeds) for m in cfg.methods]
    data = {}
    for d, m, s in tqdm(jobs, desc="MADAug runs", disable=not progress):
        if d not in data:
            data[d] = load_reduced(d, n_train=cfg.train_size(d), n_search=cfg.n_search, n_test=cfg.n_test,
                                   seed=cfg.data_seed)
        out = train_run(data[d], cfg, m, s, device)
        key = {"dataset": d, "method": m, "seed": s}
        runs.append({**key, "acc": out["acc"], "epoch_s": float(out["curve"].epoch_s.mean())})
        classes += [{**key, "class": c, "acc": float(a)} for c, a in enumerate(out["class_acc"])]
        curves.append(out["curve"].assign(**key))
        if out["class_probs"] is not None:
            p = out["class_probs"]
            heat += [{**key, "class": c, "op": op, "p": float(p[c, k])}
                     for c in range(p.shape[0]) for k, op in enumerate(OP_NAMES)]
    return {"runs": pd.DataFrame(runs), "classes": pd.DataFrame(classes),
            "curves": pd.concat(curves, ignore_index=True), "heatmap": pd.DataFrame(heat)}


def summarise(runs: pd.DataFrame) -> pd.DataFrame:
    """Test accuracy (%) mean and std over seeds per (set, method)."""
    g = runs.groupby(["dataset", "method"], sort=False).acc
    return pd.DataFrame({"mean": g.mean() * 100, "std": g.std() * 100, "seeds": g.size()}).reset_index()
