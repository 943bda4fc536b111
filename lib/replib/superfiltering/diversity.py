"""Superfiltering.D: MiniLM sentence embeddings + facility-location selection (official ``do_fla.py``).

What ``code_diversity_fla/do_fla.py`` (tianyi-lab/Superfiltering, HEAD f0764af) does, and our version:

1. ``combine_sentences``, ``--emb_type whole``: ``instruction + "\\n" + input + "\\n" + output`` whenever the
   record *has* an ``input`` key (an empty input still gives ``"\\n\\n"``), else
   ``instruction + "\\n" + output`` -> :func:`fla_text`.
2. ``get_sentence_embeddings``: ``sentence-transformers/all-MiniLM-L6-v2`` through plain ``AutoModel`` /
   ``AutoTokenizer``, batches of 64, ``padding=True, truncation=True`` (so the tokenizer's
   ``model_max_length`` = 512 tokens, not sentence-transformers' 256), attention-masked mean of the
   last hidden state (mask sum clamped at 1e-9), ``F.normalize`` (L2) -> :func:`embed_texts`. We
   additionally sort the texts by length before batching (less padding; results equal within float
   noise because the pooling is mask-exact) and return the rows in input order.
3. ``do_fla``: ``submodlib.FacilityLocationFunction(n, mode="dense", data=X, metric="euclidean")`` and
   ``maximize(budget, optimizer="LazyGreedy", stopIfZeroGain=False, stopIfNegativeGain=False)``; the
   output is the pick order. submodlib's dense euclidean kernel (C++ ``create_square_kernel_dense``) is
   ``s_ij = exp(-||x_i - x_j||_2 / d)`` with ``d`` the feature dimension (384), computed and stored in
   float32 (the pybind entry point takes ``py::array_t<float>``); marginal gains are accumulated in
   double from a memo ``cur_i = max_{j in S} s_ij`` that starts at 0. For unit vectors
   ``s in [exp(-2/384), 1] = [0.99481, 1]``, so the objective is ``n - sum_i min_j dist_ij / 384`` up to
   O(1e-5): greedy k-medoids with unsquared Euclidean distance.
   -> :func:`fl_similarity`, :func:`facility_location` (all candidates' gains per step, vectorised,
   CUDA-capable), :func:`lazy_greedy` (the classic heap of stale upper bounds, as submodlib).

Objective and tie rule. ``F(S) = sum_i max(0, max_{j in S} s_ij)`` (the 0 floor is submodlib's memo
start; irrelevant for non-negative kernels). Both optimisers pick, at every step, the candidate with the
largest gain and, among exact ties, the **lowest index**. submodlib's ``std::priority_queue<pair<double,
ll>>`` instead prefers the higher index among equal stale bounds and accepts a re-evaluated element that
merely equals the next bound, so its tie winner depends on heap history; the pick sequences agree
whenever every step's maximiser is unique.

Exactness. As in submodlib the kernel is float32 and each term ``max(0, s_ij - cur_i)`` is one float32
subtraction (exact by Sterbenz' lemma when ``s_ij, cur_i`` lie in ``[0.5, 1]`` or ``cur_i = 0``). The
terms are summed in float64; with float32 entries in ``[2^-k, 1]`` that sum is exact (independent of
summation order) for ``n < 2^(29-k)``, so for the euclidean FL kernel (``k = 1``) the vectorised path,
the lazy heap and a literal loop produce bit-identical gains and hence identical pick sequences.
"""
from __future__ import annotations

import heapq
import numbers

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

__all__ = [
    "cluster_coverage",
    "embed_texts",
    "facility_location",
    "fl_objective",
    "fl_similarity",
    "fla_text",
    "lazy_greedy",
]


def fla_text(sample: dict, part: str = "whole") -> str:
    """The string ``do_fla.py`` embeds for one record (``--emb_type`` = ``part``: whole/instruction/response)."""
    if "input" in sample:
        prompt = sample["instruction"] + "\n" + sample["input"] + "\n"
    else:
        prompt = sample["instruction"] + "\n"
    if part == "whole":
        return prompt + sample["output"]
    if part == "instruction":
        return prompt
    if part == "response":
        return sample["output"]
    raise ValueError(f"part must be 'whole', 'instruction' or 'response', got {part!r}")


def embed_texts(texts, model, tokenizer, *, batch_size: int = 64, device=None, progress: bool = True,
                sort_by_length: bool = True) -> torch.Tensor:
    """(N, d) float32 CPU tensor of L2-normalised, attention-masked mean-pooled ``last_hidden_state``.

    ``model``/``tokenizer``: e.g. ``replib.assets.load_encoder("minilm-l6")``. ``device``: where to run
    (the model is moved there); ``None`` keeps the model's own device.
    """
    texts = [str(t) for t in texts]
    if device is not None:
        model = model.to(device)
    dev = next(model.parameters()).device
    n = len(texts)
    out = torch.empty(n, model.config.hidden_size, dtype=torch.float32)
    if n == 0:
        return out
    lengths = np.fromiter(map(len, texts), dtype=np.int64, count=n)
    order = np.argsort(-lengths, kind="stable") if sort_by_length else np.arange(n)
    with torch.inference_mode():
        for start in tqdm(range(0, n, batch_size), disable=not progress, desc="embed", unit="batch"):
            idx = order[start:start + batch_size]
            enc = tokenizer([texts[i] for i in idx], padding=True, truncation=True, return_tensors="pt")
            enc = {k: v.to(dev) for k, v in enc.items()}
            hidden = model(**enc).last_hidden_state.float()
            mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp_min(1e-9)
            out[torch.as_tensor(idx)] = F.normalize(pooled, p=2, dim=1).cpu()
    return out


def fl_similarity(X, *, device=None, dtype=torch.float32, block_rows: int = 2048,
                  compute_mode: str = "use_mm_for_euclid_dist") -> torch.Tensor:
    """submodlib's dense euclidean kernel ``s_ij = exp(-||x_i - x_j||_2 / d)``, ``d = X.shape[1]``.

    Distances are computed in float64 by ``torch.cdist`` in row blocks (memory ~ ``block_rows * n``
    doubles). The default matrix-product mode (``|x|^2 + |y|^2 - 2 x.y``) loses at most ~3e-8 in
    distance for near-duplicates of unit vectors (square root of a float64 cancellation), i.e. ~1e-10
    in ``s``, far below float32's resolution of ``s`` near 1 (6e-8); it does *not* give an exact 0 on the
    diagonal, so the diagonal is set to exactly 1 afterwards. ``compute_mode=
    "donot_use_mm_for_euclid_dist"`` is the slow direct form. Returned as ``dtype``
    (float32, like submodlib) on ``device`` (default: X's device for a tensor, else CPU).
    """
    Xt = torch.as_tensor(X)
    if Xt.ndim != 2:
        raise ValueError(f"X must be (n, d), got shape {tuple(Xt.shape)}")
    if device is None:
        device = Xt.device
    Xt = Xt.to(device=device, dtype=torch.float64)
    n, d = Xt.shape
    K = torch.empty(n, n, dtype=dtype, device=device)
    for start in range(0, n, block_rows):
        D = torch.cdist(Xt[start:start + block_rows], Xt, compute_mode=compute_mode)
        K[start:start + block_rows] = torch.exp(D.neg_().div_(d)).to(dtype)
    K.fill_diagonal_(1.0)
    return K


def _check_budget(budget, n: int) -> int:
    if isinstance(budget, bool) or not isinstance(budget, numbers.Integral) or not 0 <= budget <= n:
        raise ValueError(f"budget must be an int in [0, {n}], got {budget!r}")
    return int(budget)


def _as_kernel(X_or_K, kernel: bool | None, device) -> torch.Tensor:
    """float32 (n, n) kernel tensor on ``device``; embeddings (n, d) go through :func:`fl_similarity`."""
    t = torch.as_tensor(X_or_K)
    if device is None:
        device = t.device
    if t.ndim != 2:
        raise ValueError(f"expected a 2-D array, got shape {tuple(t.shape)}")
    if kernel is None:  # a square matrix with a unit diagonal is taken for a kernel
        kernel = t.shape[0] == t.shape[1] and bool((t.diagonal() == 1).all())
    if not kernel:
        return fl_similarity(t, device=device)
    if t.shape[0] != t.shape[1]:
        raise ValueError(f"a kernel must be square, got shape {tuple(t.shape)}")
    return t.to(device=device, dtype=torch.float32)  # submodlib stores the dense kernel as float32


def facility_location(X_or_K, budget: int, *, device=None, kernel: bool | None = None,
                      chunk_bytes: int = 256 << 20, progress: bool = False) -> list[int]:
    """Greedy facility-location picks (``budget`` of them, pick order, no early stop).

    ``X_or_K``: embeddings (n, d) or a precomputed (n, n) kernel ``K[i, j] = s_ij`` (``kernel=None``
    guesses: square with unit diagonal = kernel). Every step computes the gains of *all* candidates,
    ``g_j = sum_i max(0, K[i, j] - cur_i)``, in column chunks of at most ``chunk_bytes`` float64
    temporaries, masks the picked ones, and takes the first argmax (ties -> lowest index); one
    device sync per step. Runs on ``device`` (e.g. "cuda"); default: the input's device.
    """
    K = _as_kernel(X_or_K, kernel, device)
    n = K.shape[0]
    budget = _check_budget(budget, n)
    dev = K.device
    cur = torch.zeros(n, dtype=K.dtype, device=dev)
    gains = torch.empty(n, dtype=torch.float64, device=dev)
    taken = torch.zeros(n, dtype=torch.bool, device=dev)
    chunk = max(1, int(chunk_bytes) // (8 * max(n, 1)))
    picks: list[int] = []
    for _ in tqdm(range(budget), disable=not progress, desc="facility location"):
        for s in range(0, n, chunk):
            terms = (K[:, s:s + chunk] - cur[:, None]).clamp_min_(0)
            torch.sum(terms, dim=0, dtype=torch.float64, out=gains[s:s + chunk])
        gains.masked_fill_(taken, -torch.inf)
        j = int(torch.argmax(gains))  # first maximal index
        picks.append(j)
        taken[j] = True
        torch.maximum(cur, K[:, j], out=cur)
    return picks


def _as_numpy_kernel(K) -> np.ndarray:
    if isinstance(K, torch.Tensor):
        K = K.detach().cpu().numpy()
    K = np.asarray(K, dtype=np.float32)
    if K.ndim != 2 or K.shape[0] != K.shape[1]:
        raise ValueError(f"a kernel must be square, got shape {K.shape}")
    return K


def lazy_greedy(K, budget: int) -> list[int]:
    """Classic lazy greedy (Minoux) on a precomputed kernel; same objective and tie rule as
    :func:`facility_location` (CPU, numpy).

    A heap holds ``(-bound, index, step the bound was computed)``; stale bounds are upper bounds by
    submodularity. The top entry is accepted once its bound is fresh for the current step; otherwise its
    gain is recomputed (one O(n) vector op) and it is pushed back. Heap order on ``(-bound, index)``
    makes the lowest index win among equal gains.
    """
    K = _as_numpy_kernel(K)
    n = K.shape[0]
    budget = _check_budget(budget, n)
    cols = np.ascontiguousarray(K.T)  # cols[j] = K[:, j]
    cur = np.zeros(n, dtype=np.float32)
    first = np.maximum(K, 0).sum(axis=0, dtype=np.float64)  # gains against the empty set
    heap = [(-float(g), j, 0) for j, g in enumerate(first)]
    heapq.heapify(heap)
    picks: list[int] = []
    for step in range(budget):
        while heap[0][2] != step:
            j = heap[0][1]
            g = np.maximum(cols[j] - cur, 0).sum(dtype=np.float64)
            heapq.heapreplace(heap, (-float(g), j, step))
        j = heapq.heappop(heap)[1]
        picks.append(j)
        np.maximum(cur, cols[j], out=cur)
    return picks


def fl_objective(K, picks) -> float:
    """``F(S) = sum_i max(0, max_{j in S} K[i, j])`` in float64 (0 for an empty ``S``)."""
    K = _as_numpy_kernel(K)
    picks = np.asarray(list(picks), dtype=np.int64)
    if picks.size == 0:
        return 0.0
    return float(np.maximum(K[:, picks].max(axis=1), 0).sum(dtype=np.float64))


def cluster_coverage(X, picks, n_clusters: int, seed: int = 0, *, n_init: int = 10) -> int:
    """Number of distinct ``KMeans(n_clusters, random_state=seed, n_init=n_init)`` clusters of the pool
    ``X`` (n, d) that ``picks`` (positions) hit."""
    from ..lm.data import kmeans_labels

    labels = kmeans_labels(X, n_clusters, seed=seed, n_init=n_init)
    return int(np.unique(labels[np.asarray(list(picks), dtype=np.int64)]).size)
