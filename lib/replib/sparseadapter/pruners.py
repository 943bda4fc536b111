"""Importance scores of adapter weights, as the official pruners compute them (SparseAdapter Sec. 3;
papers/sparseadapter.md Sec. 2; official ``src/transformers/pruning/pruners.py``).

theta is an adapter weight matrix (W_down, W_up, LoRA A or B), m its mask, g_b = dL_b/dtheta on prune batch b:
  rand     s ~ N(0, 1)                                                   (Rand)
  mag      s = |theta|                                                   (Mag)
  snip     s = |sum_b dL_b/dm| = |sum_b theta * g_b| at m = 1, then s / sum(s / max s)      (SNIP)
  grasp    g_stop = sum_b g_b (no graph); Hg = sum_b d(g_stop . g_b)/dtheta by double backprop;
           s = theta * Hg / (|sum s| + 1e-10); the LOWEST scores are pruned, like GraSP's "remove the top
           of -theta*Hg". The official temperature (200) is stored but never used, so there is none here.
  synflow  every parameter and buffer replaced by |.|, a probe fed forward, R = the mean of the output,
           s = |theta * dR/dtheta|, signs restored; one shot (original SynFlow iterates 100 times).
Every score is taken with the model in eval mode (official ``prune_train_mode=False``) and returned as
float32 tensors keyed like ``replib.nn.adapters.masked_modules``. Gradients are taken with
``torch.autograd.grad``, so no ``.grad`` is left behind (the official SNIP/GraSP leave the accumulated
gradients of adapter biases and LayerNorms in ``.grad``, which leak into the first training step).

SynFlow probes (``probe``):
  faithful  as the official code: an all-ones tensor [1, T, d] (T = the first prune batch's length) fed to
            EACH adapter module separately, R = sum over adapters of mean(output) (= the official mean of the
            summed outputs when all adapters have width d). The official code reads ``n_embd`` (a GPT-2
            field) and crashes on BERT/RoBERTa; we use the adapter's input width. With LN-in adapters
            LN(ones) = its bias = 0 at init, so every score is exactly 0 and the threshold rule "prune
            s <= k-th smallest" then prunes every adapter weight (papers Sec. 5).
  input     deviation (the spec's example): the all-ones probe enters at the model's input (inputs_embeds of
            ones [1, T, d], attention mask of ones) and runs through the whole |.|-model; R = mean(logits).
            Adapters then see non-constant inputs, but with |W_down| >= 0 and a zero-mean LN output a ReLU unit
            is active only if its row correlates with the (nearly token-independent) LN output: about half the
            units are dead for every token and their weights score exactly 0 (measured: 46-52% on MiniLM),
            so ties prune more than asked below that share.
  onehot    deviation: each adapter separately receives the d one-hot vectors e_1..e_d as d tokens (the
            identity, [1, d, d]); LN(e_t) is non-constant and every ReLU unit is active for the tokens where
            its |W_down| entry exceeds its row mean, so every score is non-zero and the kept share is the
            requested one. Data-free like SynFlow, same R as 'faithful'.
"""
from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable

import torch
from torch import nn

from ..nn.adapters import adapter_modules, masked_modules, masks_of, stored_weights

PRUNERS = ("rand", "mag", "snip", "grasp", "synflow")
SYNFLOW_PROBES = ("faithful", "input", "onehot")


def _forward(model: nn.Module, x):
    out = model(**x) if isinstance(x, dict) else model(x)               # dict: encoder keyword inputs
    return getattr(out, "logits", out)


def rand_scores(model: nn.Module, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
    """s ~ N(0, 1) (official ``torch.randn_like``), drawn on the CPU from ``generator``."""
    return {k: torch.randn(w.shape, generator=generator).to(w.device) for k, w in stored_weights(model).items()}


def mag_scores(model: nn.Module) -> dict[str, torch.Tensor]:
    """s = |theta| of the stored weights."""
    return {k: w.detach().abs().float() for k, w in stored_weights(model).items()}


def snip_scores(model: nn.Module, batches: Iterable, loss_fn: Callable, *,
                normalize: bool = True) -> dict[str, torch.Tensor]:
    """|sum over batches of dL/dm| at the current masks; ``normalize`` divides by sum(s / max s) as the
    official code (monotone: the ranking is unchanged)."""
    masks = masks_of(model)
    keys, ms = list(masks), list(masks.values())
    acc = [torch.zeros_like(m, dtype=torch.float32) for m in ms]
    for m in ms:
        m.requires_grad_(True)
    try:
        for x, y in batches:
            grads = torch.autograd.grad(loss_fn(_forward(model, x), y), ms, allow_unused=True)
            acc = [a if g is None else a + g.float() for a, g in zip(acc, grads)]
    finally:
        for m in ms:
            m.requires_grad_(False)
    scores = {k: a.abs() for k, a in zip(keys, acc)}
    if normalize:
        flat = torch.cat([s.flatten() for s in scores.values()])
        flat = torch.where(torch.isinf(flat), torch.ones_like(flat), flat)
        top = flat.max()
        norm = torch.where(top > 0, (flat / top).sum(), torch.ones_like(top))   # all-zero scores: left as 0
        scores = {k: s / norm for k, s in scores.items()}
    return scores


@contextlib.contextmanager
def eager_attention(model: nn.Module):
    """Hugging Face attention switched to the eager path meanwhile: the fused SDPA kernels have no double
    backward (GraSP needs one). The attention maths is the same."""
    configs = {id(c): c for m in model.modules() if (c := getattr(m, "config", None)) is not None
               and hasattr(c, "_attn_implementation")}
    saved = {k: c._attn_implementation for k, c in configs.items()}
    try:
        for c in configs.values():
            c._attn_implementation = "eager"
        yield
    finally:
        for k, c in configs.items():
            c._attn_implementation = saved[k]


def hessian_gradient(model: nn.Module, batches: list, loss_fn: Callable) -> dict[str, torch.Tensor]:
    """Hg = sum_b H_b g_stop, g_stop = sum_b g_b, by double backprop (official GraSP's two loops)."""
    with eager_attention(model):
        return _hessian_gradient(model, batches, loss_fn)


def _hessian_gradient(model, batches, loss_fn):
    weights = stored_weights(model)
    keys, ps = list(weights), list(weights.values())
    stop = [torch.zeros_like(p) for p in ps]
    for x, y in batches:                                               # first loop: no graph
        grads = torch.autograd.grad(loss_fn(_forward(model, x), y), ps, allow_unused=True)
        stop = [s if g is None else s + g for s, g in zip(stop, grads)]
    hg = [torch.zeros_like(p) for p in ps]
    for x, y in batches:                                               # second loop: graph kept
        grads = torch.autograd.grad(loss_fn(_forward(model, x), y), ps, create_graph=True, allow_unused=True)
        z = sum((s * g).sum() for s, g in zip(stop, grads) if g is not None)
        if not torch.is_tensor(z) or not z.requires_grad:
            continue
        second = torch.autograd.grad(z, ps, allow_unused=True)
        hg = [h if g is None else h + g.detach() for h, g in zip(hg, second)]
    return dict(zip(keys, hg))


def grasp_scores(model: nn.Module, batches: list, loss_fn: Callable, *,
                 normalize: bool = True) -> dict[str, torch.Tensor]:
    """theta * Hg (lowest pruned), divided by |sum of all scores| + 1e-10 as the official code."""
    weights = stored_weights(model)
    hg = hessian_gradient(model, batches, loss_fn)
    scores = {k: (weights[k].detach() * hg[k]).float() for k in weights}
    if normalize:
        norm = torch.cat([s.flatten() for s in scores.values()]).sum().abs() + 1e-10
        scores = {k: s / norm for k, s in scores.items()}
    return scores


def synflow_scores(model: nn.Module, seq_len: int, *, probe: str = "faithful",
                   hidden_size: int | None = None) -> dict[str, torch.Tensor]:
    """|theta * dR/dtheta| on the |.|-linearised model (see the module docstring for the two probes).

    Every floating parameter and buffer is made non-negative in place and restored exactly afterwards
    (sign bits kept), as the official ``linearize``/``nonlinearize``.
    """
    if probe not in SYNFLOW_PROBES:
        raise ValueError(f"unknown synflow probe {probe!r}; valid: {', '.join(SYNFLOW_PROBES)}")
    tensors = [t for t in (*model.parameters(), *model.buffers()) if t.is_floating_point()]
    weights = stored_weights(model)
    keys, ps = list(weights), list(weights.values())
    with torch.no_grad():
        signs = [torch.signbit(t) for t in tensors]
        for t in tensors:
            t.abs_()
    try:
        dev = ps[0].device
        if probe in ("faithful", "onehot"):
            R = 0
            for a in adapter_modules(model):                                     # each adapter on its own
                d_in = a.down.in_features if hasattr(a, "down") else a.in_features
                x = (torch.ones(1, seq_len, d_in, device=dev) if probe == "faithful" else
                     torch.eye(d_in, device=dev).unsqueeze(0))                  # (1, T, d) or (1, d, d)
                R = R + a(x).mean()
        else:
            if hidden_size is None:
                raise ValueError("the 'input' synflow probe needs hidden_size (the model's input width)")
            ones = torch.ones(1, seq_len, hidden_size, device=dev)
            R = _forward(model, {"inputs_embeds": ones, "attention_mask": torch.ones(1, seq_len, device=dev,
                                                                                    dtype=torch.long)}).mean()
        grads = torch.autograd.grad(R, ps, allow_unused=True)
        return {k: (p.detach() * g).abs().float() if g is not None else torch.zeros_like(p, dtype=torch.float32)
                for k, p, g in zip(keys, ps, grads)}
    finally:
        with torch.no_grad():
            for t, s in zip(tensors, signs):
                t.copy_(torch.where(s, -t, t))


def compute_scores(pruner: str, model: nn.Module, batches: list, loss_fn: Callable, *,
                   generator: torch.Generator | None = None, synflow_probe: str = "faithful",
                   hidden_size: int | None = None) -> dict[str, torch.Tensor]:
    """Scores of ``pruner`` (one of PRUNERS) for every masked adapter weight of ``model``."""
    if pruner not in PRUNERS:
        raise ValueError(f"unknown pruner {pruner!r}; valid: {', '.join(PRUNERS)}")
    if not masked_modules(model):
        raise ValueError("the model has no masked adapter weight: call replib.nn.adapters.add_masks first")
    if pruner == "rand":
        return rand_scores(model, generator)
    if pruner == "mag":
        return mag_scores(model)
    if not batches:
        raise ValueError(f"pruner {pruner!r} needs at least one prune batch")
    if pruner == "snip":
        return snip_scores(model, batches, loss_fn)
    if pruner == "grasp":
        return grasp_scores(model, batches, loss_fn)
    x = batches[0][0]
    seq_len = x["attention_mask"].shape[1] if isinstance(x, dict) else x.shape[1]
    return synflow_scores(model, seq_len, probe=synflow_probe, hidden_size=hidden_size)
