"""Instruction pools for the data-selection notebooks (a seeded subset to score and a disjoint held-out
set) and the K-means labels both selection papers cluster with."""
from __future__ import annotations

import numpy as np

from ..assets import load_dataset


def instruction_pool(name: str = "alpaca-random-9k", *, n_pool: int | None, n_heldout: int, seed: int = 0,
                     profile: str = "quick") -> tuple[list[dict], list[dict]]:
    """(pool, heldout): a seeded permutation of dataset `name`; the first `n_pool` rows (None = all but the
    held-out ones) are the pool to score and select from, the next `n_heldout` the held-out answers.

    Offline the pool comes from ``alpaca-random-9k`` (a uniform random 9,229 of Alpaca-52k); ``alpaca``
    (the hub's 52k, profile 'full' online) gives the paper's pool.
    """
    rows = load_dataset(name, profile=profile)
    if n_heldout < 0 or (n_pool is not None and n_pool < 1):
        raise ValueError(f"need n_pool >= 1 (or None) and n_heldout >= 0; got {n_pool}, {n_heldout}")
    n_pool = len(rows) - n_heldout if n_pool is None else n_pool
    if n_pool + n_heldout > len(rows):
        raise ValueError(f"{name} has {len(rows)} rows; n_pool={n_pool} + n_heldout={n_heldout} is too many")
    order = np.random.default_rng(seed).permutation(len(rows))
    pick = [{k: rows[i].get(k, "") or "" for k in ("instruction", "input", "output")} for i in order]
    return pick[:n_pool], pick[n_pool:n_pool + n_heldout]


def kmeans_labels(X, n_clusters: int, seed: int = 0, n_init: int = 10) -> np.ndarray:
    """``sklearn.cluster.KMeans(n_clusters, random_state=seed, n_init=10).fit(X).labels_`` (int64).

    Cherry LLM's ``data_by_cluster.py`` clusters prompt embeddings this way; Superfiltering's coverage
    check reuses it. ``n_init=10`` is the default of the scikit-learn the official code ran under
    (< 1.4; newer versions default to 'auto', one k-means++ run). Labels are exactly reproducible only
    on the same scikit-learn / BLAS / thread setting.
    """
    from sklearn.cluster import KMeans

    if hasattr(X, "detach"):
        X = X.detach().cpu().numpy()
    return KMeans(n_clusters=n_clusters, random_state=seed, n_init=n_init).fit(np.asarray(X)).labels_.astype(np.int64)
