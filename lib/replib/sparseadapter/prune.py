"""Masks from scores, pruning at initialisation, iterative pruning and Large-Sparse (SparseAdapter Sec. 3;
papers/sparseadapter.md Sec. 2; official ``pruners.py::_global_mask/_local_mask``, ``prune.py::prune_loop``,
``trainer_sparse.py``).

Semantics. ``sparse_ratio`` is the paper's: the share of adapter weights PRUNED. The official ``--sparsity``
is the density (share kept): paper 40% = ``--sparsity 0.6``. Internally density = 1 - sparse_ratio.
Threshold rule (official, global scope): pool every adapter score (N of them),
    k = ceil((1 - density) N),  threshold = the k-th smallest score,  m = 0 where s <= threshold,
so with distinct scores exactly N - k weights are kept, and ties at the threshold prune more. k < 1 leaves
the masks as they are. ``scope='local'`` applies the rule per tensor with k = int((1 - density) numel) (the
official local rule floors where the global one takes the ceiling). (1 - density) N is rounded to 6 decimals
first, so float noise (0.1 * 30 = 3.0000000000000004) does not prune one more than the formula says.

When. Once, at the start of epoch ``begin`` (0), before any update, on length x 32 random training examples
(official ``TrainingArguments.length`` = 10 -> 320), batch = the training batch (halved for GraSP). With
``prune_iterations`` P > 1 the official trainer re-prunes at the start of epochs e = 0..P-1 to density
density^((e+1)/P) (``epoch_densities``); every weight is re-scored each time (pruned ones included, the
"-inf for masked" line is commented out), so a pruned weight can come back. Inside one call ``rounds``
(official ``prune_epochs``, default 1) repeats score -> mask with an exponential or linear schedule.

Large-Sparse: bottleneck c * r at sparse ratio 1 - 1/c keeps the weight count of a dense bottleneck r.
"""
from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

from ..nn.adapters import masks_of, set_masks
from .pruners import PRUNERS, compute_scores

SCOPES = ("global", "local")
SCHEDULES = ("exponential", "linear")
PRUNE_BATCH = 32
"""examples per unit of the official ``length`` argument: the prune set has length * 32 examples."""


def check_sparse_ratio(sparse_ratio: float) -> float:
    if not 0.0 <= sparse_ratio < 1.0:
        raise ValueError(f"sparse_ratio must lie in [0, 1) (the share of adapter weights pruned; the official "
                         f"--sparsity is the density 1 - sparse_ratio), got {sparse_ratio}")
    return float(sparse_ratio)


def density(sparse_ratio: float) -> float:
    """The official ``--sparsity`` (share kept) of the paper's sparse ratio (share pruned)."""
    return 1.0 - check_sparse_ratio(sparse_ratio)


def n_pruned(n: int, dens: float, scope: str = "global") -> int:
    """How many of n scores the official rule puts at or below the threshold (k)."""
    x = round((1.0 - dens) * n, 6)                   # float noise: 0.1 * 30 = 3.0000000000000004
    return math.ceil(x) if scope == "global" else int(x)


def prune_masks(scores: dict[str, torch.Tensor], sparse_ratio: float,
                scope: str = "global") -> dict[str, torch.Tensor]:
    """Boolean keep-masks: False where the score is <= the k-th smallest (pooled, or per tensor)."""
    dens = density(sparse_ratio)
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}; valid: {', '.join(SCOPES)}")
    if not scores:
        raise ValueError("no scores to prune")

    def keep(s: torch.Tensor) -> torch.Tensor:
        k = n_pruned(s.numel(), dens, scope)
        if k < 1:
            return torch.ones(s.shape, dtype=torch.bool, device=s.device)
        thr = s.flatten().float().kthvalue(k).values
        return s.float() > thr
    if scope == "local":
        return {name: keep(s) for name, s in scores.items()}
    flat = keep(torch.cat([s.flatten() for s in scores.values()]))          # (N,) one threshold for all
    parts = torch.split(flat, [s.numel() for s in scores.values()])
    return {name: part.view(s.shape) for (name, s), part in zip(scores.items(), parts)}


def round_densities(sparse_ratio: float, rounds: int = 1, schedule: str = "exponential") -> list[float]:
    """Densities of the ``rounds`` score -> mask rounds of one prune call (official prune_loop)."""
    dens = density(sparse_ratio)
    if rounds < 1:
        raise ValueError(f"rounds must be >= 1, got {rounds}")
    if schedule == "exponential":
        return [dens ** ((r + 1) / rounds) for r in range(rounds)]
    if schedule == "linear":
        return [1.0 - (1.0 - dens) * (r + 1) / rounds for r in range(rounds)]
    raise ValueError(f"unknown schedule {schedule!r}; valid: {', '.join(SCHEDULES)}")


def epoch_densities(sparse_ratio: float, iterations: int = 1) -> list[float]:
    """Density set at the start of epochs begin .. begin + P - 1: density^((e+1)/P) (trainer_sparse)."""
    if iterations < 1:
        raise ValueError(f"prune iterations must be >= 1, got {iterations}")
    return [density(sparse_ratio) ** ((e + 1) / iterations) for e in range(iterations)]


def prune_indices(n_train: int, *, length: int = 10, seed: int = 0) -> torch.Tensor:
    """The length * 32 random training examples pruning sees (official ``get_prune_dataloader``)."""
    size = length * PRUNE_BATCH
    if length < 1 or size > n_train:
        raise ValueError(f"the prune set needs length * {PRUNE_BATCH} = {size} examples, but the training set "
                         f"has {n_train}; lower prune_length (>= 1)")
    return torch.randperm(n_train, generator=torch.Generator().manual_seed(seed))[:size]


def prune_batch_size(pruner: str, batch_size: int) -> int:
    """The training batch size, halved for GraSP (double backprop)."""
    return max(1, batch_size // 2) if pruner == "grasp" else batch_size


def prune(model: nn.Module, batches: list, loss_fn: Callable, *, pruner: str, sparse_ratio: float,
          scope: str = "global", rounds: int = 1, schedule: str = "exponential", seed: int = 0,
          synflow_probe: str = "faithful", hidden_size: int | None = None) -> dict[str, torch.Tensor]:
    """Score and mask the adapters of ``model`` in place (model in eval mode meanwhile); returns the
    boolean keep-masks. ``batches``: (inputs, labels) pairs from prune_indices; unused by rand and mag."""
    if pruner not in PRUNERS:
        raise ValueError(f"unknown pruner {pruner!r}; valid: {', '.join(PRUNERS)}")
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}; valid: {', '.join(SCOPES)}")
    densities = round_densities(sparse_ratio, rounds, schedule)
    if sparse_ratio == 0.0:                         # official: no pruning at --sparsity 1
        return {k: m.bool() for k, m in masks_of(model).items()}
    gen = torch.Generator().manual_seed(seed)
    was_training = model.training
    model.eval()
    try:
        for dens in densities:
            scores = compute_scores(pruner, model, batches, loss_fn, generator=gen, synflow_probe=synflow_probe,
                                    hidden_size=hidden_size)
            set_masks(model, prune_masks(scores, 1.0 - dens, scope))
    finally:
        model.train(was_training)
    return {k: m.bool() for k, m in masks_of(model).items()}


def large_sparse(bottleneck: int, c: int) -> tuple[int, float]:
    """(c * r, 1 - 1/c): the Large-Sparse adapter with the dense-r count of non-zero weights."""
    if bottleneck < 1 or c < 1:
        raise ValueError(f"need bottleneck >= 1 and c >= 1, got {bottleneck}, {c}")
    return c * bottleneck, 1.0 - 1.0 / c


def mask_counts(model: nn.Module) -> dict[str, int]:
    """Kept and total masked weights (one host sync: for reporting, not for hot paths)."""
    ms = list(masks_of(model).values())
    kept = int(torch.stack([m.sum() for m in ms]).sum()) if ms else 0
    return {"kept": kept, "total": sum(m.numel() for m in ms)}
