"""Batched per-token negative log-likelihood of a causal LM over many sequences at once.

Every scorer in the workbook reduces to the same question: for sequence ``ids`` and a first scored
position ``s >= 1``, what is the sum (and count) of ``-log p(ids[p] | ids[:p])`` over ``p = s .. len-1``?
The official IFD scripts answer it one sequence per forward pass and take a log-softmax over the whole
vocabulary at every position in a Python loop. Here:

* sequences are sorted by length (longest first, so an out-of-memory batch fails at once) and grouped
  into right-padded batches under a sequence cap and a padded-token budget; padding stays small;
* one forward of the transformer body (``model.base_model``) per batch, with an attention mask;
* the vocabulary head runs **only on the hidden states that predict a scored token**, in row chunks,
  so a batch never materialises a (B, T, V) logits tensor (1.2 GB per batch for SmolLM2 at B=16);
* the cross-entropy is summed per sequence with ``index_add_`` (float64 accumulators).

With right padding and a causal mask the real tokens never see the pads, so the result equals the
per-sequence computation up to float rounding (tested against a literal one-at-a-time port).
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np


@dataclass
class NLL:
    """Per-sequence results, in the order the sequences were given."""

    total: np.ndarray
    """sum of token NLLs over the scored positions (float64; 0 where nothing is scored)."""
    count: np.ndarray
    """number of scored positions (int64; may be 0)."""
    hidden_mean: np.ndarray | None = None
    """(N, d) mean of the last hidden layer over all tokens of each sequence, when asked for."""

    @property
    def mean(self) -> np.ndarray:
        """Mean NLL per scored token; NaN where no token is scored (as Hugging Face's mean loss)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.count > 0, self.total / np.maximum(self.count, 1), np.nan)


def plan_batches(lengths, batch_size: int, token_budget: int) -> list[np.ndarray]:
    """Indices grouped into batches: longest first, <= batch_size sequences, <= token_budget padded tokens."""
    if batch_size < 1 or token_budget < 1:
        raise ValueError(f"batch_size ({batch_size}) and token_budget ({token_budget}) must be >= 1")
    lengths = np.asarray(lengths, dtype=np.int64)
    order = np.argsort(-lengths, kind="stable")
    batches, start = [], 0
    while start < len(order):
        longest = max(int(lengths[order[start]]), 1)
        size = max(1, min(batch_size, token_budget // longest))
        batches.append(order[start:start + size])
        start += size
    return batches


def default_batching(device) -> tuple[int, int]:
    """(batch_size, token_budget): small batches on CPU (matmuls are already near peak at batch 1-8;
    larger padded batches only add padding), large ones on a GPU."""
    if getattr(device, "type", str(device)).startswith("cuda"):
        return 128, 65536
    return 8, 2048


def _head(model):
    head = model.get_output_embeddings()
    cap = getattr(model.config.get_text_config(), "final_logit_softcapping", None)

    def logits(h):
        out = head(h).float()
        if cap:  # Gemma-2 style soft-capping, as the model's own forward applies it
            out = cap * (out / cap).tanh()
        return out
    return logits


def batch_nll(model, ids: list, starts, device, *, chunk: int = 2048, mean_hidden: bool = False):
    """One padded batch: (per-token NLL of the scored positions [rows], sequence index of each row,
    hidden means or None). Differentiable: used under no_grad by scorers and with grad by fine-tuning.
    """
    import torch
    import torch.nn.functional as F

    lengths = torch.as_tensor(np.fromiter(map(len, ids), dtype=np.int64, count=len(ids)))
    T = int(lengths.max())
    pos = torch.arange(T)
    mask = pos[None] < lengths[:, None]
    x = torch.zeros(len(ids), T, dtype=torch.long)
    x[mask] = torch.as_tensor(np.fromiter(itertools.chain.from_iterable(ids), dtype=np.int64,
                                          count=int(lengths.sum())))   # one scatter, row-major = sequence order
    scored = mask & (pos[None] >= torch.as_tensor(starts).clamp(min=1)[:, None])
    x, mask, scored = x.to(device), mask.to(device), scored.to(device)
    h = model.base_model(input_ids=x, attention_mask=mask.long()).last_hidden_state
    targets = x[scored]
    rows = h[:, :-1][scored[:, 1:]]                   # hidden state at p-1 predicts token p
    seq = torch.arange(len(ids), device=device)[:, None].expand(-1, T)[scored]
    logits = _head(model)
    nll = torch.cat([F.cross_entropy(logits(rows[i:i + chunk]), targets[i:i + chunk], reduction="none")
                     for i in range(0, len(rows), chunk)]) if len(rows) else h.new_zeros(0, dtype=torch.float32)
    hidden = None
    if mean_hidden:
        m = mask[..., None].to(h.dtype)
        hidden = (h * m).sum(1).float() / m.sum(1).float()
    return nll, seq, hidden


def precision_of(precision: str | None, autocast: bool | None) -> str:
    """The ``runtime`` precision of a scorer call: `precision` when given, else the older ``autocast``
    keyword (True = 'bf16', False = 'fp32'), else 'auto' (bf16 on CUDA, fp32 elsewhere)."""
    from .. import runtime

    if precision is not None:
        runtime.resolve_precision(precision)             # checks the value; 'auto' is resolved on the device later
        return precision
    if autocast is not None:
        return "bf16" if autocast else "fp32"
    return "auto"


def token_nll(model, ids: list, starts, *, device=None, batch_size: int | None = None,
              token_budget: int | None = None, mean_hidden: bool = False, autocast: bool | None = None,
              progress: bool | str = True, chunk: int = 2048, precision: str | None = None) -> NLL:
    """Sum and count of next-token NLL over positions ``starts[i] .. len(ids[i]) - 1`` of every sequence.

    ``starts`` below 1 are treated as 1 (position 0 has no context, as in Hugging Face's shifted loss).
    The forward runs under ``runtime.autocast(device, precision)`` ('auto', the default, is bf16 on CUDA
    and fp32 elsewhere; the older ``autocast=True/False`` means 'bf16' / 'fp32'); the cross-entropy is
    always float32. Empty sequences get count 0. ``progress``: a tqdm bar (a string sets its description).
    """
    import torch
    from tqdm.auto import tqdm

    from .. import runtime

    device = torch.device(device) if device is not None else next(model.parameters()).device
    bs, budget = default_batching(device)
    batch_size, token_budget = batch_size or bs, token_budget or budget
    starts = np.asarray(starts, dtype=np.int64)
    if len(starts) != len(ids):
        raise ValueError(f"{len(ids)} sequences but {len(starts)} start positions")
    n = len(ids)
    total, count = np.zeros(n), np.zeros(n, dtype=np.int64)
    hidden = None
    keep = [i for i in range(n) if len(ids[i]) > 0]
    lengths = np.array([len(ids[i]) for i in keep], dtype=np.int64)
    amp = runtime.autocast(device, precision_of(precision, autocast))
    bar = tqdm(total=int(lengths.sum()), unit="tok", unit_scale=True, disable=progress is False,
               desc=progress if isinstance(progress, str) else "scoring", leave=False)
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode(), amp:
            for batch in plan_batches(lengths, batch_size, token_budget):
                idx = [keep[j] for j in batch]
                nll, seq, hid = batch_nll(model, [ids[i] for i in idx], starts[idx], device,
                                          chunk=chunk, mean_hidden=mean_hidden)
                sums = torch.zeros(len(idx), dtype=torch.float64, device=device).index_add_(0, seq, nll.double())
                cnts = torch.bincount(seq, minlength=len(idx))
                total[idx], count[idx] = sums.cpu().numpy(), cnts.cpu().numpy()
                if hid is not None:
                    if hidden is None:
                        hidden = np.full((n, hid.shape[1]), np.nan, dtype=np.float32)
                    hidden[idx] = hid.cpu().numpy()
                bar.update(int(lengths[batch].sum()))
    finally:
        bar.close()
        model.train(was_training)
    return NLL(total, count, hidden)
