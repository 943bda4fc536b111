"""Iterative Mode Partition (IMP): which kernel positions stay dynamic (PAD-Net Sec. 3; papers/padnet.md).

IMP treats the mask M of every PAD layer like a pruning mask. Start from M = 1; in round t = 1..T
    score every mask entry (SNIP: s_j = |sum over batches of dL/dM_j|, M requiring grad),
    pool the scores of all layers (global) or keep them per tensor (local),
    kappa_t = kappa^(t/T) (exponential, default) or 1 - (1 - kappa) t / T (linear),
    set M_j = 0 where s_j <= the floor((1 - kappa_t) N)-th smallest score, else 1.
kappa is the dynamic ratio, the fraction of positions that stay dynamic. dL/dM_j equals
(lambda_d W~_j - lambda_s W_bar_j) dL/dW^_j summed over samples: the first-order change of the loss when
position j switches from dynamic to static, so the positions whose mode matters most stay dynamic.
Static entries are re-scored every round (the scores are not monotone). Run once before training on a
few batches, model in eval mode. ``scorer="random"`` draws scores uniformly: the random-partition ablation.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import torch
from torch import nn

from .conv import pad_layers

SCORERS = ("snip", "random")
SCHEDULES = ("exponential", "linear")


def kappa_schedule(kappa: float, rounds: int, schedule: str = "exponential") -> list[float]:
    """Dynamic ratio after each round; the last one is ``kappa``."""
    if not 0.0 <= kappa <= 1.0 or rounds < 1:
        raise ValueError(f"need 0 <= kappa <= 1 and rounds >= 1, got {kappa}, {rounds}")
    if schedule == "exponential":
        return [kappa ** (t / rounds) for t in range(1, rounds + 1)]
    if schedule == "linear":
        return [1.0 - (1.0 - kappa) * t / rounds for t in range(1, rounds + 1)]
    raise ValueError(f"unknown schedule {schedule!r}; valid: {', '.join(SCHEDULES)}")


def snip_scores(model: nn.Module, batches: Iterable, loss_fn: Callable) -> list[torch.Tensor]:
    """|sum over batches of dL/dM| for every PAD layer's mask (model left in eval mode, grads cleared)."""
    layers = pad_layers(model)
    model.eval()
    for m in layers:
        m.mask.requires_grad_(True)
        m.mask.grad = None
    try:
        for x, y in batches:
            out = model(**x) if isinstance(x, dict) else model(x)                # dict: encoder keyword inputs
            grads = torch.autograd.grad(loss_fn(out, y), [m.mask for m in layers], allow_unused=True)
            for m, g in zip(layers, grads):
                if g is not None:
                    m.mask.grad = g if m.mask.grad is None else m.mask.grad + g
        return [m.mask.grad.abs() if m.mask.grad is not None else torch.zeros_like(m.mask) for m in layers]
    finally:
        for m in layers:
            m.mask.requires_grad_(False)
            m.mask.grad = None


def apply_threshold(scores: list[torch.Tensor], kappa: float, scope: str = "global") -> list[torch.Tensor]:
    """Masks keeping the top kappa share dynamic: M = 0 where s <= the floor((1 - kappa) N)-th smallest."""
    def keep(s: torch.Tensor) -> torch.Tensor:
        n_static = math.floor((1.0 - kappa) * s.numel() + 1e-9)
        if n_static <= 0:
            return torch.ones_like(s)
        thr = s.flatten().kthvalue(n_static).values
        return (s > thr).to(s.dtype)
    if scope == "local":
        return [keep(s) for s in scores]
    if scope != "global":
        raise ValueError(f"unknown scope {scope!r}; valid: global, local")
    flat = keep(torch.cat([s.flatten() for s in scores]))                   # one threshold for all layers
    return [part.view_as(s) for part, s in zip(torch.split(flat, [s.numel() for s in scores]), scores)]


def mode_partition(model: nn.Module, batches: list, loss_fn: Callable, kappa: float, *, rounds: int = 1,
                   schedule: str = "exponential", scope: str = "global", scorer: str = "snip",
                   seed: int = 0) -> list[float]:
    """Run IMP in place on every PAD layer of ``model``; returns the kappa of each round.

    ``batches`` is a list of (inputs, targets) used in every round (the official prune loader).
    """
    if scorer not in SCORERS:
        raise ValueError(f"unknown scorer {scorer!r}; valid: {', '.join(SCORERS)}")
    layers = pad_layers(model)
    if not layers:
        raise ValueError("the model has no PAD layer (PADConv2d, PadMoELinear) to partition")
    gen = torch.Generator().manual_seed(seed)
    was_training = model.training
    kappas = kappa_schedule(kappa, rounds, schedule)
    for k in kappas:
        if scorer == "snip":
            scores = snip_scores(model, batches, loss_fn)
        else:
            scores = [torch.rand(m.mask.shape, generator=gen).to(m.mask.device) for m in layers]
        for m, new in zip(layers, apply_threshold(scores, k, scope)):
            m.mask.copy_(new)
    model.train(was_training)
    return kappas
