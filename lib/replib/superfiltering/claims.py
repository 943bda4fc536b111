"""The paper's claims, checked against what the Superfiltering experiments measured (papers/superfiltering.md
Sec. 6, criteria F1-F5).

Every verdict comes from `replib.report.Claim` comparing these numbers with the criteria; nothing here
decides a verdict by hand. A number a profile did not measure is None, and its claim then reads
"not tested at this profile".
"""
from __future__ import annotations

import math
from itertools import pairwise

import numpy as np
import pandas as pd

from ..report import Check, Claim

PAPER_OVERLAP = {0.05: 0.28, 0.10: 0.41, 0.15: 0.49}
"""Overlap of the GPT-2 and LLaMA2-7B subsets on Alpaca (Table 1)."""
PAPER_RHO = {"ppl": 0.726, "ifd": 0.679}
"""Spearman rho of GPT-2 vs LLaMA2-7B on Alpaca (Table 1: perplexity / IFD)."""
PAPER_TIME_MIN = {"strong": 161.3, "weak": 8.6}
"""Filter time on Alpaca in minutes, LLaMA2-7B vs GPT-2 (Fig. 1(e))."""


def _num(x) -> float | None:
    """A finite float, or None (not measured)."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def overlap_at(overlaps: pd.DataFrame | None, rate: float) -> float | None:
    """The measured overlap at budget `rate`, or None if that budget was not run."""
    if overlaps is None or overlaps.empty:
        return None
    row = overlaps[np.isclose(overlaps["rate"], rate)]
    return _num(row["overlap"].iloc[0]) if len(row) else None


def budget_steps(overlaps: pd.DataFrame | None, rates) -> tuple[float | None, float | None]:
    """(overlap at the largest minus at the smallest budget, smallest step between consecutive budgets)."""
    vals = [overlap_at(overlaps, r) for r in sorted(rates)]
    if len(vals) < 2 or any(v is None for v in vals):
        return None, None
    return vals[-1] - vals[0], min(b - a for a, b in pairwise(vals))


def arm_losses(students: pd.DataFrame | None) -> pd.Series:
    """Mean held-out loss per arm over seeds."""
    if students is None or students.empty:
        return pd.Series(dtype=float)
    return students.groupby("arm")["heldout_loss"].mean()


def _diff(losses: pd.Series, a: str, b: str) -> float | None:
    """losses[a] - losses[b], or None if either arm was not trained."""
    return _num(losses[a] - losses[b]) if a in losses.index and b in losses.index else None


def time_ratios(timing: pd.DataFrame | None) -> dict:
    """strong / weak ratios of batched scoring time and of forward FLOPs on the timing subset, and the
    per-sample / batched time of each scorer."""
    if timing is None or timing.empty or not {"weak", "strong"} <= set(timing["scorer"]):
        return {"time": None, "flops": None, "per_sample_weak": None, "per_sample_strong": None}
    t = timing.set_index("scorer")
    return {"time": _num(t.at["strong", "batched_s"] / t.at["weak", "batched_s"]),
            "flops": _num(t.at["strong", "gflops_per_sample"] / t.at["weak", "gflops_per_sample"]),
            "per_sample_weak": _num(t.at["weak", "per_sample_s"] / t.at["weak", "batched_s"]),
            "per_sample_strong": _num(t.at["strong", "per_sample_s"] / t.at["strong", "batched_s"])}


def coverage_gains(coverage: pd.DataFrame | None) -> tuple[float | None, float | None]:
    """(FL objective of the FL picks minus the top-IFD picks, clusters hit by FL minus by top-IFD)."""
    if coverage is None or coverage.empty:
        return None, None
    c = coverage.groupby("subset")[["objective", "clusters"]].mean()
    if not {"facility location", "top IFD"} <= set(c.index):
        return None, None
    fl, top = c.loc["facility location"], c.loc["top IFD"]
    return _num(fl["objective"] - top["objective"]), _num(fl["clusters"] - top["clusters"])


def make_claims(cfg, ranks: dict | None = None, overlaps: pd.DataFrame | None = None,
                timing: pd.DataFrame | None = None, coverage: pd.DataFrame | None = None,
                students: pd.DataFrame | None = None) -> list[Claim]:
    """Claims of the paper with the numbers measured here."""
    ranks = ranks or {}
    scorers = f"weak {cfg.weak} vs strong {cfg.strong}"
    claims = [Claim(
        "rank_consistency", "A weak LM ranks instruction data by IFD much like a strong one (F1)",
        "Alpaca, GPT-2 vs LLaMA2-7B: Spearman rho 0.679 (IFD); top-10 % overlap 0.41",
        [Check("Spearman rho of ifd_ppl, weak vs strong", _num(ranks.get("rho_ifd")), ">", 0.5,
               paper=PAPER_RHO["ifd"]),
         Check("overlap of the top-10 % subsets (random: 0.10)", overlap_at(overlaps, 0.10), ">", 0.25,
               paper=PAPER_OVERLAP[0.10])],
        note=f"{scorers}, {ranks.get('n_valid', 'n/a')} samples scored by both")]

    grow, step = budget_steps(overlaps, cfg.rates)
    claims.append(Claim(
        "overlap_grows_with_budget", "The weak and strong subsets agree more as the budget grows (F2)",
        "overlap at 5/10/15 %: Alpaca 0.28/0.41/0.49",
        [Check(f"overlap at {max(cfg.rates):g} minus at {min(cfg.rates):g}", grow, ">", 0.0),
         Check("smallest step between consecutive budgets", step, ">=", 0.0)],
        note="two random subsets also overlap more with the budget (expected overlap = rate)"))

    losses = arm_losses(students)
    size = int(students.loc[students["arm"] != "untuned", "n_train"].iloc[0]) \
        if students is not None and (students["arm"] != "untuned").any() else "n/a"
    how = (f"held-out answer loss of {cfg.student} (nats/token), mean over {cfg.sft_seeds} seed(s), "
           f"{size} training samples per arm; stand-in for the GPT-4 pairwise winning score")
    claims.append(Claim(
        "weak_ifd_beats_random", "Data selected by the weak scorer's IFD trains the strong student better "
                                 "than random data of the same size (F3)",
        "Table 3, 5 %: GPT-2 IFD 1.133 vs random 0.936 (winning score vs full data)",
        [Check("loss(random) - loss(weak IFD)", _diff(losses, "random", "weak IFD"), ">=", 0.0)], note=how))
    claims.append(Claim(
        "perplexity_below_random", "Selecting by the weak scorer's perplexity alone is worse than random (F3)",
        "Table 3, 5 %: GPT-2 perplexity 0.261 vs random 0.936",
        [Check("loss(perplexity) - loss(random)", _diff(losses, "perplexity", "random"), ">", 0.0)],
        note=how if "perplexity" in cfg.arms else "perplexity arm not trained at this profile",
        tested="perplexity" in cfg.arms))

    r = time_ratios(timing)
    paper_ratio = PAPER_TIME_MIN["strong"] / PAPER_TIME_MIN["weak"]
    flops = "n/a" if r["flops"] is None else f"{r['flops']:.2f}"
    claims.append(Claim(
        "weak_filter_cheaper", "Filtering with the weak scorer is much faster than with the strong one (F4)",
        "Alpaca: LLaMA2-7B 161.3 min vs GPT-2 8.6 min (18.8x)",
        [Check("batched time strong / weak, same samples and scorer", r["time"], ">=", 5.0, paper=paper_ratio)],
        note=f"{scorers}; forward FLOPs ratio strong / weak = {flops} "
             "(the paper's pair differs ~54x in parameters)"))

    gain_obj, gain_clu = coverage_gains(coverage)
    claims.append(Claim(
        "diversity_coverage", "Superfiltering.D: facility location on the top 20 % covers the data better "
                              "than the top 2 % by IFD (F5)",
        "README: 2 % (Superfiltering.D) comparable to full data (preliminary, not in the paper)",
        [Check("FL objective F(S), FL picks minus top-IFD picks", gain_obj, ">", 0.0),
         Check("K-means clusters of the pool hit, FL minus top-IFD", gain_clu, ">", 0.0)],
        note=f"MiniLM embeddings, s_ij = exp(-|x_i - x_j| / 384), budget {cfg.d_rate:g} of the pool"))
    return claims


def headline_metrics(cfg, ranks=None, overlaps=None, timing=None, dvar=None, students=None) -> dict:
    """Numbers for metrics.json."""
    out: dict = {"ranks": ranks or {}}
    if overlaps is not None:
        out["overlap"] = {f"{r.rate:g}": {"overlap": r.overlap, "random": r.random, "k": r.k, "shared": r.shared}
                          for r in overlaps.itertuples()}
    if timing is not None:
        # pool_seconds is None (not NaN) when the pool came from the score cache: nothing was timed
        out["timing"] = {r["scorer"]: {**{k: v for k, v in r.items() if k != "scorer"},
                                       "pool_seconds": _num(r.get("pool_seconds"))}
                         for r in timing.to_dict("records")}
        out["timing"]["ratios"] = time_ratios(timing)
    if dvar is not None:
        cov = dvar["coverage"]
        summary = cov.groupby("subset")[["objective", "clusters", "mean_nn_dist"]].mean()
        out["diversity"] = {"ifd_num": dvar["ifd_num"], "fla_num": dvar["fla_num"], "n_clusters": dvar["n_clusters"],
                            "n_candidates": len(dvar["candidates"]), "embed_s": dvar["embed_s"], "fl_s": dvar["fl_s"],
                            "by_subset": {k: dict(v) for k, v in summary.to_dict("index").items()}}
    if students is not None and not students.empty:
        out["students"] = {"mean_loss": {k: float(v) for k, v in arm_losses(students).items()},
                           "runs": students.to_dict("records")}
    return out


def findings(metrics: dict) -> str:
    """The measured numbers behind the closing discussion, as plain sentences."""
    lines = []
    ranks = metrics.get("ranks", {})
    if ranks:
        lines.append(f"Rank agreement on {ranks.get('n_valid')} samples: Spearman rho IFD {ranks.get('rho_ifd', float('nan')):.3f} "
                     f"(paper 0.679), perplexity {ranks.get('rho_ppl', float('nan')):.3f} (paper 0.726); IFD < 1 for "
                     f"{100 * ranks.get('below_1_weak', float('nan')):.0f} % (weak) and "
                     f"{100 * ranks.get('below_1_strong', float('nan')):.0f} % (strong) of the samples.")
    for rate, o in metrics.get("overlap", {}).items():
        paper = PAPER_OVERLAP.get(round(float(rate), 2))
        lines.append(f"Overlap at {float(rate):.0%}: {o['overlap']:.2f} ({o['shared']} of {o['k']}; random {o['random']:.2f}"
                     + (f", paper {paper:.2f})" if paper else ")"))
    ratios = metrics.get("timing", {}).get("ratios", {})
    if ratios.get("time") is not None:
        lines.append(f"Time strong / weak (batched): {ratios['time']:.2f}x; FLOPs {ratios['flops']:.2f}x (paper 18.8x). "
                     f"Per-sample / batched: weak {ratios['per_sample_weak']:.2f}x, strong {ratios['per_sample_strong']:.2f}x.")
    div = metrics.get("diversity")
    if div:
        s = div["by_subset"]
        lines.append(f"Superfiltering.D, {div['fla_num']} of {div['n_candidates']} candidates, {div['n_clusters']} clusters: "
                     + "; ".join(f"{k}: F={v['objective']:.4f}, clusters {v['clusters']:.1f}, mean NN dist "
                                 f"{v['mean_nn_dist']:.3f}" for k, v in s.items()))
    st = metrics.get("students")
    if st:
        lines.append("Student held-out loss: " + ", ".join(f"{k} {v:.4f}" for k, v in st["mean_loss"].items()))
    return "\n".join(lines)
