"""Merging N pretrained adapters into one (MerA, He et al. 2023, arXiv 2308.15982; papers/mera.md Sec. 2).

An adapter module is its state dict (``replib.nn.adapters.BottleneckAdapter``): W_down (r, d), b_down (r),
W_up (d, r), b_up (d) and the input LayerNorm (d). An adapter *set* is the list of the modules of one
encoder (one per adapted layer with the Pfeiffer placement). The only permutation symmetry of a module is its
bottleneck: for a permutation matrix P, (P^T W_down, P^T b_down, W_up P) computes the same function.

Merge operators (spec Sec. 2, "Merge operators"), module by module:
  sum  W = sum_n W^n for every tensor                                                        (1)
  avg  W = (1/N) sum_n W^n                                                                   (2)
  ot   OTFusion (Singh & Jaggi 2020) per module: every n != anchor is aligned to the anchor, then averaged (3)
         cost  weight:     C_ij = || [W_down^n]_i (+) b_down,i^n - [W_down^a]_j (+) b_down,j^a ||_2
                             (rows with the bias appended; Euclidean, not squared, as OTFusion)
               activation: C_ij = || h_i^n - h_j^a ||_2 over M probe tokens x, h = ReLU(W_down LN(x) + b_down),
                             each adapter with its own LayerNorm
         plan  T = EMD(mu = 1/r, nu = 1/r, C) (exact, ``ot.emd``); with equal sizes r T is a permutation
               matrix, the same as the Hungarian assignment (``scipy.optimize.linear_sum_assignment``)
         align T~ = T diag(1/nu) = r T;  W_down <- T~^T W_down,  b_down <- T~^T b_down,  W_up <- W_up T~;
               b_up and the LayerNorm (d-dimensional) are never permuted
Rows of C and T index the units of the adapter being aligned (i), columns the anchor's units (j).
Merging runs in float64 on the CPU (r x r problems: negligible next to one fine-tuning run, see
benchmarks/bench_mera.py) and returns float32 tensors.
"""
from __future__ import annotations

import numpy as np
import ot
import torch
import torch.nn.functional as F

METHODS = ("sum", "avg", "ot")
COSTS = ("weight", "activation")
SOLVERS = ("emd", "hungarian")
PERMUTED = ("down.weight", "down.bias", "up.weight")
"""The tensors that carry the bottleneck dimension; every other tensor is d-dimensional and never permuted."""


def _f64(state: dict) -> dict:
    return {k: v.detach().to("cpu", torch.float64) for k, v in state.items()}


def bottleneck(state: dict) -> int:
    """r of one adapter module."""
    return int(state["down.weight"].shape[0])


def permute(state: dict, perm) -> dict:
    """The module with its bottleneck units reordered: unit i of the result is unit perm[i] of ``state``
    (rows of W_down, b_down; columns of W_up). Computes exactly the same function."""
    perm = torch.as_tensor(perm, dtype=torch.long)
    out = dict(state)
    out["down.weight"], out["down.bias"] = state["down.weight"][perm], state["down.bias"][perm]
    out["up.weight"] = state["up.weight"][:, perm]
    return out


def unit_features(state: dict) -> torch.Tensor:
    """(r, d + 1): the rows of W_down with b_down appended (what the weight-based cost compares)."""
    s = _f64(state)
    return torch.cat([s["down.weight"], s["down.bias"][:, None]], dim=1)


def activations(state: dict, probe: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """(r, M): h = ReLU(W_down LN(x) + b_down) of every unit over the M probe tokens ``probe`` (M, d)."""
    s = _f64(state)
    x = probe.detach().to("cpu", torch.float64)
    if "ln.weight" in s:
        x = F.layer_norm(x, x.shape[-1:], s["ln.weight"], s["ln.bias"], eps)
    return F.relu(x @ s["down.weight"].T + s["down.bias"]).T


def cost_matrix(anchor: dict, other: dict, cost: str = "weight", probe: torch.Tensor | None = None) -> torch.Tensor:
    """C (r_other, r_anchor), float64: Euclidean distances between the units of ``other`` and the anchor's."""
    if cost not in COSTS:
        raise ValueError(f"unknown cost {cost!r}; valid: {', '.join(COSTS)}")
    if cost == "weight":
        return torch.cdist(unit_features(other), unit_features(anchor))
    if probe is None:
        raise ValueError("the activation-based cost needs probe tokens (M, d)")
    return torch.cdist(activations(other, probe), activations(anchor, probe))


def transport_plan(C: torch.Tensor, solver: str = "emd") -> torch.Tensor:
    """T (r, r), float64, rows and columns summing to 1/r: the exact optimal plan of cost C with uniform marginals.

    'emd': POT's network simplex (``ot.emd``); 'hungarian': the assignment of linear_sum_assignment, as a plan.
    """
    if solver not in SOLVERS:
        raise ValueError(f"unknown solver {solver!r}; valid: {', '.join(SOLVERS)}")
    n, m = C.shape
    if n != m:
        raise ValueError(f"MerA aligns adapters of one bottleneck size; got a {n} x {m} cost")
    c = C.detach().to("cpu", torch.float64).numpy()
    if solver == "emd":
        w = np.full(n, 1.0 / n)
        return torch.from_numpy(np.asarray(ot.emd(w, w, c), dtype=np.float64))
    from scipy.optimize import linear_sum_assignment

    rows, cols = linear_sum_assignment(c)
    T = torch.zeros(n, n, dtype=torch.float64)
    T[torch.as_tensor(rows), torch.as_tensor(cols)] = 1.0 / n
    return T


def apply_plan(other: dict, T: torch.Tensor) -> dict:
    """The module ``other`` moved onto the anchor's units by plan T: T~ = T diag(1/nu) = r T (uniform nu),
    W_down <- T~^T W_down, b_down <- T~^T b_down, W_up <- W_up T~; everything else is copied unchanged."""
    s = _f64(other)
    P = T.to(torch.float64) * T.shape[1]                  # T diag(1/nu), nu = 1/r: a permutation matrix (r, r)
    out = {k: v.detach().clone() for k, v in other.items()}
    dtype = other["down.weight"].dtype
    out["down.weight"] = (P.T @ s["down.weight"]).to(dtype)          # (r, d)
    out["down.bias"] = (P.T @ s["down.bias"]).to(dtype)              # (r,)
    out["up.weight"] = (s["up.weight"] @ P).to(dtype)                # (d, r)
    return out


def align(anchor: dict, other: dict, *, cost: str = "weight", probe: torch.Tensor | None = None,
          solver: str = "emd") -> tuple[dict, torch.Tensor]:
    """(``other`` with its bottleneck permuted onto the anchor's, the plan T) for one adapter module."""
    if bottleneck(anchor) != bottleneck(other):
        raise ValueError(f"bottleneck sizes differ: {bottleneck(anchor)} vs {bottleneck(other)}")
    T = transport_plan(cost_matrix(anchor, other, cost, probe), solver)
    return apply_plan(other, T), T


def _combine(modules: list[dict], method: str) -> dict:
    keys = modules[0].keys()
    total = {k: torch.stack([m[k].detach().to(torch.float64) for m in modules]).sum(0) for k in keys}
    scale = 1.0 if method == "sum" else 1.0 / len(modules)
    return {k: (v * scale).to(modules[0][k].dtype) for k, v in total.items()}


def merge_modules(modules: list[dict], method: str = "ot", anchor: int = 0, *, cost: str = "weight",
                  probe: torch.Tensor | None = None, solver: str = "emd") -> dict:
    """One merged adapter module from N modules of one layer (Eq. 1-3)."""
    if method not in METHODS:
        raise ValueError(f"unknown merge method {method!r}; valid: {', '.join(METHODS)}")
    if not modules:
        raise ValueError("merge needs at least one adapter")
    if not 0 <= anchor < len(modules):
        raise ValueError(f"anchor {anchor} out of range for {len(modules)} adapters")
    if method == "ot":
        modules = [m if n == anchor else align(modules[anchor], m, cost=cost, probe=probe, solver=solver)[0]
                   for n, m in enumerate(modules)]
        method = "avg"
    return _combine(modules, method)


def merge(adapters: list[list[dict]], method: str = "ot", anchor: int = 0, *, cost: str = "weight",
          probes: list[torch.Tensor] | None = None, solver: str = "emd") -> list[dict]:
    """Merge N adapter sets (each a list of modules, one per adapted position) into one set; with 'ot' every
    position is aligned independently (its own bottleneck permutation): OTFusion layer by layer.
    ``probes``: one (M, d) tensor of adapter inputs per position, for cost='activation'."""
    if not adapters:
        raise ValueError("merge needs at least one adapter set")
    n_pos = len(adapters[0])
    if any(len(a) != n_pos for a in adapters):
        raise ValueError(f"adapter sets differ in their number of modules: {[len(a) for a in adapters]}")
    if probes is not None and len(probes) != n_pos:
        raise ValueError(f"need one probe tensor per adapter position ({n_pos}), got {len(probes)}")
    return [merge_modules([a[p] for a in adapters], method, anchor, cost=cost, solver=solver,
                          probe=None if probes is None else probes[p]) for p in range(n_pos)]


def recovered_share(T: torch.Tensor, perm) -> float:
    """Share of units whose plan sends them back where a known permutation took them: for B = permute(A, perm)
    aligned onto A, unit i of B is unit perm[i] of A."""
    perm = torch.as_tensor(perm, dtype=torch.long)
    return float((T.argmax(dim=1) == perm).double().mean())


def noisy_permuted(state: dict, sigma: float, generator: torch.Generator) -> tuple[dict, torch.Tensor]:
    """(B, perm): B = A with a random bottleneck permutation plus Gaussian noise, std sigma x the tensor's own
    std, on W_down, b_down and W_up (spec F5). b_up and LN are copied."""
    perm = torch.randperm(bottleneck(state), generator=generator)
    out = permute(state, perm)
    for k in PERMUTED:
        w = out[k].detach().float()
        out[k] = (w + sigma * w.std() * torch.randn(w.shape, generator=generator)).to(state[k].dtype)
    return out, perm
