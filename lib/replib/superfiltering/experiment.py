"""The Superfiltering notebook's experiments; each returns plain data (dicts, DataFrames), never plots.

Scoring     `score_and_time`   superfiltering-style IFD of a pool through the disk cache, and the time of
                               the same scorer batched vs one sample per forward on a small subset (F4)
F1/F2       `rank_stats`, `overlap_frame`   weak vs strong rankings: Spearman rho and top-k overlaps
F5          `superfiltering_d` top 20 % by weak IFD -> MiniLM -> facility location 2 %, with coverage
F3          `training_subsets`, `student_runs`   the strong student tuned on equal-size subsets
"""
from __future__ import annotations

import copy
import time

import numpy as np
import pandas as pd

from ..lm.cache import cached_score_ifd
from ..lm.data import instruction_pool, kmeans_labels
from ..lm.ifd import forward_flops, param_counts, score_ifd
from ..lm.sft import compare_students
from .diversity import (
    embed_texts,
    facility_location,
    fl_objective,
    fl_similarity,
    fla_text,
)
from .select import ifd_prefilter, select_top_ifd

STYLE = "superfiltering"


# ----------------------------------------------------------------------------- data, models
def load_pool(cfg, profile: str):
    """(pool, heldout): the seeded pool to score and select from and the disjoint held-out answers."""
    return instruction_pool(cfg.data, n_pool=cfg.n_pool, n_heldout=cfg.n_heldout, seed=cfg.data_seed,
                            profile=profile)


def copying_loader(model, tokenizer):
    """A loader for `train_and_eval` that hands out fresh copies of an already loaded model."""
    return lambda: (copy.deepcopy(model), tokenizer)


# ----------------------------------------------------------------------------- scoring and time (F4)
def scored_tokens(table: pd.DataFrame) -> int:
    """Answer positions the two passes score (the head runs only on these)."""
    ok = table["skip"] != "empty answer"
    return int((table.loc[ok, "n_cond"].clip(lower=0) + table.loc[ok, "n_dir"].clip(lower=0)).sum())


def time_scorer(cfg, model, tokenizer, samples) -> dict:
    """Wall time of scoring `samples` batched and one sample per forward (``batch_size=1``, same code).

    One warm-up sample first. Both runs give the same numbers (``max_abs_diff`` of ifd_ppl)."""
    kw = {"style": STYLE, "max_length": cfg.max_length, "precision": cfg.precision, "progress": False}
    score_ifd(model, tokenizer, samples[:1], **kw)
    batched = score_ifd(model, tokenizer, samples, **kw)
    single = score_ifd(model, tokenizer, samples, batch_size=1, **kw)
    params = param_counts(model)
    tokens, scored = batched.attrs["tokens"], scored_tokens(batched)
    n = len(samples)
    return {"n": n, "batched_s": batched.attrs["seconds"], "per_sample_s": single.attrs["seconds"],
            "batched_s_per_sample": batched.attrs["seconds"] / n,
            "per_sample_s_per_sample": single.attrs["seconds"] / n,
            "tokens": tokens, "scored_tokens": scored, "params_body": params["body"], "params_head": params["head"],
            "gflops_per_sample": forward_flops(params, tokens, scored) / n / 1e9,
            "max_abs_diff": float(np.nanmax(np.abs(batched["ifd_ppl"] - single["ifd_ppl"])))
            if batched["ifd_ppl"].notna().any() else 0.0}


def score_and_time(cfg, name: str, model, tokenizer, samples, timing_samples, role: str):
    """(IFD table of `samples` through the cache, timing dict of `timing_samples`) under one scorer."""
    timing = {"scorer": role, "model": name, **time_scorer(cfg, model, tokenizer, timing_samples)}
    table = cached_score_ifd(name, lambda: (model, tokenizer), samples, style=STYLE, max_length=cfg.max_length,
                             precision=cfg.precision, device=next(model.parameters()).device,
                             progress=f"IFD {role}")
    timing["pool_scored"] = table.attrs["scored"]
    timing["pool_seconds"] = table.attrs["seconds"] if table.attrs["scored"] else float("nan")
    return table, timing


# ----------------------------------------------------------------------------- ranks and overlaps (F1, F2)
def spearman(a, b) -> float:
    """Spearman's rho (average ranks for ties) over the pairs where both values are finite; NaN if < 3
    pairs or a constant side."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"spearman needs equal lengths, got {a.shape} and {b.shape}")
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 3:
        return float("nan")
    ra, rb = pd.Series(a[ok]).rank().to_numpy(), pd.Series(b[ok]).rank().to_numpy()
    if ra.std() == 0 or rb.std() == 0:
        return float("nan")
    return float(np.corrcoef(ra, rb)[0, 1])


def overlap(a, b) -> float:
    """|A & B| / max(|A|, |B|): the share of one top-k subset that the other scorer also selects
    (equals |A & B| / k when both select k); NaN when both are empty."""
    a, b = {int(x) for x in a}, {int(x) for x in b}
    k = max(len(a), len(b))
    return len(a & b) / k if k else float("nan")


def overlap_frame(weak_ifd, strong_ifd, rates, *, threshold: float = 1.0) -> pd.DataFrame:
    """Per budget: each scorer's ``select_top_ifd`` subset of the same samples and their overlap, beside
    the overlap two independent uniform subsets of size k would have in expectation (k / n)."""
    n = len(weak_ifd)
    if len(strong_ifd) != n:
        raise ValueError(f"weak and strong scores must cover the same samples ({n} vs {len(strong_ifd)})")
    rows = []
    for rate in rates:
        a = select_top_ifd(weak_ifd, rate, threshold=threshold)
        b = select_top_ifd(strong_ifd, rate, threshold=threshold)
        k = int(n * rate)
        rows.append({"rate": float(rate), "k": k, "n_weak": len(a), "n_strong": len(b),
                     "shared": len(set(a.tolist()) & set(b.tolist())), "overlap": overlap(a, b),
                     "random": k / n if n else float("nan")})
    return pd.DataFrame(rows)


def rank_stats(weak: pd.DataFrame, strong: pd.DataFrame) -> dict:
    """Spearman rho of the two scorers' ifd_ppl, ifd_loss and conditioned perplexity on the same samples."""
    n = len(strong)
    w = weak.iloc[:n]
    both = w["ifd_ppl"].notna().to_numpy() & strong["ifd_ppl"].notna().to_numpy()
    return {"n": n, "n_valid": int(both.sum()),
            "rho_ifd": spearman(w["ifd_ppl"], strong["ifd_ppl"]),
            "rho_ifd_loss": spearman(w["ifd_loss"], strong["ifd_loss"]),
            "rho_ppl": spearman(w["ppl_cond"], strong["ppl_cond"]),
            "below_1_weak": float((w["ifd_ppl"] < 1).mean()), "below_1_strong": float((strong["ifd_ppl"] < 1).mean())}


# ----------------------------------------------------------------------------- Superfiltering.D (F5)
def clusters_hit(labels, picks) -> int:
    """Distinct clusters among the picked positions."""
    picks = np.asarray(list(picks), dtype=np.int64)
    return int(np.unique(np.asarray(labels)[picks]).size) if picks.size else 0


def mean_nearest_distance(X, picks, block: int = 4096) -> float:
    """Mean over all rows of X of the Euclidean distance to the nearest picked row (lower = better covered)."""
    import torch

    X = torch.as_tensor(np.asarray(X), dtype=torch.float64)
    S = X[torch.as_tensor(np.asarray(list(picks), dtype=np.int64))]
    d = torch.cat([torch.cdist(X[i:i + block], S).min(dim=1).values for i in range(0, len(X), block)])
    return float(d.mean())


def pca2(X) -> np.ndarray:
    """2-D principal-component coordinates of the rows of X (for plotting)."""
    X = np.asarray(X, dtype=np.float64)
    Xc = X - X.mean(axis=0)
    _, _, vt = np.linalg.svd(Xc, full_matrices=False)
    return Xc @ vt[:2].T


def superfiltering_d(cfg, pool, ifd_ppl, encoder, enc_tokenizer, *, device=None, seed: int = 0) -> dict:
    """do_fla.py: top d_pool_rate by weak IFD -> MiniLM embeddings -> facility location to d_rate.

    Compared on the candidates' FL objective F(S) = sum_i max_{j in S} s_ij, the K-means clusters of the
    whole pool hit and the pool's mean distance to the nearest pick: the FL picks, the top d_rate by IFD
    (the first picks of the same ranking) and `random_draws` uniform draws of the candidates."""
    base = cfg.k_base or len(pool)
    ifd_num, fla_num = int(base * cfg.d_pool_rate), int(base * cfg.d_rate)
    cand = ifd_prefilter(ifd_ppl, ifd_num, upper=cfg.threshold)
    fla_num = min(fla_num, len(cand))
    if fla_num < 1:
        raise ValueError(f"no facility-location budget: {len(cand)} candidates below {cfg.threshold}, "
                         f"int({base} x d_rate={cfg.d_rate}) = {int(base * cfg.d_rate)}")
    t = time.perf_counter()
    X = embed_texts([fla_text(s) for s in pool], encoder, enc_tokenizer, batch_size=cfg.embed_batch,
                    device=device, progress=False).numpy()
    embed_s = time.perf_counter() - t
    t = time.perf_counter()
    K = fl_similarity(X[cand], device=device)
    fl_local = facility_location(K, fla_num, device=device, kernel=True)
    fl_s = time.perf_counter() - t
    K = K.cpu()
    n_clusters = cfg.n_clusters or max(2, fla_num)
    labels = kmeans_labels(X, n_clusters, seed=seed)
    rng = np.random.default_rng(seed)
    subsets = {"facility location": np.asarray(fl_local), "top IFD": np.arange(fla_num)}
    draws = [rng.choice(len(cand), fla_num, replace=False) for _ in range(cfg.random_draws)]
    rows = []
    for name, local in [*subsets.items(), *[("random", d) for d in draws]]:
        picks = cand[local]
        rows.append({"subset": name, "objective": fl_objective(K, local), "clusters": clusters_hit(labels, picks),
                     "mean_nn_dist": mean_nearest_distance(X, picks)})
    cover = pd.DataFrame(rows)
    return {"candidates": cand, "fl": cand[subsets["facility location"]], "top": cand[:fla_num], "X": X,
            "labels": labels, "coverage": cover, "ifd_num": ifd_num, "fla_num": fla_num, "n_clusters": n_clusters,
            "embed_s": embed_s, "fl_s": fl_s}


def candidates_frame(dvar: dict) -> pd.DataFrame:
    """The D variant's candidates in ranking order: K-means cluster of each, and whether facility location
    and the plain top-IFD rule picked it (what the coverage claim is judged on)."""
    cand = np.asarray(dvar["candidates"])
    return pd.DataFrame({"label": np.asarray(dvar["labels"])[cand].astype(np.int64),
                         "fl": np.isin(cand, dvar["fl"]), "top": np.isin(cand, dvar["top"])})


def coverage_summary(cover: pd.DataFrame) -> pd.DataFrame:
    """Mean and std of each coverage measure per subset kind (the random draws averaged)."""
    g = cover.groupby("subset", sort=False)
    return g.agg(["mean", "std"]).fillna(0.0)


# ----------------------------------------------------------------------------- students (F3)
def training_subsets(cfg, weak: pd.DataFrame, strong: pd.DataFrame | None = None, *, seed: int = 0) -> dict:
    """Equal-size training subsets (positions in the pool) for the arms of cfg.arms.

    'weak IFD' / 'strong IFD': ``select_top_ifd`` at train_rate (k = int(k_base or pool size x rate));
    'random': a uniform draw of the pool seeded by `seed`; 'perplexity': the highest conditioned-answer
    perplexities under the weak scorer. Every arm gets the size of the weak-IFD subset."""
    n = len(weak)
    top = select_top_ifd(weak["ifd_ppl"], cfg.train_rate, k_base=cfg.k_base, threshold=cfg.threshold)
    k = len(top)
    out = {}
    for arm in cfg.arms:
        if arm == "weak IFD":
            out[arm] = top
        elif arm == "strong IFD":
            if strong is None or len(strong) != n:
                raise ValueError("the 'strong IFD' arm needs strong scores of the whole pool (n_strong=None)")
            out[arm] = select_top_ifd(strong["ifd_ppl"], cfg.train_rate, k_base=cfg.k_base,
                                      threshold=cfg.threshold)[:k]
        elif arm == "random":
            out[arm] = np.sort(np.random.default_rng(seed).choice(n, size=k, replace=False))
        elif arm == "perplexity":
            ppl = weak["ppl_cond"].to_numpy(dtype=float)
            ok = np.flatnonzero(np.isfinite(ppl))
            out[arm] = ok[np.argsort(-ppl[ok], kind="stable")][:k]
        else:
            raise ValueError(f"unknown arm {arm!r}")
    return out


def student_runs(cfg, loader, pool, heldout, weak, strong=None, *, seed: int = 0, device=None,
                 per_example: bool = False):
    """Held-out answer loss of a fresh student tuned on every arm's subset, for seeds seed .. seed+sft_seeds-1
    (the same seeds for every arm; the random subset is redrawn per seed); plus 'untuned' if asked. With
    ``per_example`` also the per-held-out-example rows (see `replib.lm.sft.compare_students`)."""
    return compare_students(loader, pool, heldout, lambda s: training_subsets(cfg, weak, strong, seed=s),
                            range(seed, seed + cfg.sft_seeds), eval_untuned=cfg.eval_untuned, device=device,
                            per_example=per_example,
                            template="alpaca", epochs=cfg.sft_epochs, lr=cfg.sft_lr, batch_size=cfg.sft_batch,
                            max_length=cfg.sft_max_length, precision=cfg.precision)
