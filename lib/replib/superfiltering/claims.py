"""The paper's claims, checked against what the Superfiltering experiments measured (papers/superfiltering.md
Sec. 6, criteria F1-F5).

`make_claims(cfg, **results)` is a pure function of the raw results in results.json; every verdict is
computed by `replib.claims.Claim`, never typed. Counts are judged against chance: the overlap of two
top-k subsets against the hypergeometric range of two random subsets of the same sizes, the clusters hit
by facility location against random subsets of the candidates (permutation band), and the growth of the
overlap with the budget as the growth of its excess over chance (bootstrap over the scored samples,
fixed seed). Students are paired differences (`replib.lm.sft.paired_students`). A number a profile did
not measure is None, and its claim then reads "not tested at this profile".
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .. import stats
from ..claims import Check, Claim
from ..lm.sft import paired_students

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


def arm_losses(students: pd.DataFrame | None) -> pd.Series:
    """Mean held-out loss per arm over seeds."""
    if students is None or students.empty:
        return pd.Series(dtype=float)
    return students.groupby("arm")["heldout_loss"].mean()


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


# ----------------------------------------------------------------------------- overlaps beyond chance
def _top_masks(scores: np.ndarray, k: int, threshold: float) -> np.ndarray:
    """(B, n) bool: `select_top_ifd` of each row (scores < threshold, top k descending, ties to the lower
    position), vectorised over rows."""
    ok = eligible(scores, threshold)
    key = np.where(ok, scores, -np.inf)
    order = np.argsort(-key, axis=1, kind="stable")[:, :k]          # (B, k)
    mask = np.zeros(scores.shape, dtype=bool)
    np.put_along_axis(mask, order, True, axis=1)
    return mask & ok


def eligible(scores, threshold: float = 1.0) -> np.ndarray:
    """Samples a scorer may select (finite and below the threshold), along the last axis."""
    scores = np.asarray(scores, dtype=float)
    return np.isfinite(scores) & (scores < threshold)


def chance_population(pair_scores: pd.DataFrame | None, threshold: float, n: int | None) -> int | None:
    """Population of the chance model for two top-k subsets: the larger of the two scorers' eligible sets.

    If each scorer picked uniformly from its own eligible set E, the expected overlap would be
    k_w k_s |E_w & E_s| / (|E_w| |E_s|) <= k_w k_s / max(|E_w|, |E_s|), the mean of hypergeom(max |E|, k_s, k_w):
    so this band never understates chance (it is exact when both scorers reject the same samples)."""
    if pair_scores is None or not len(pair_scores):
        return n
    return int(max(eligible(pair_scores["weak"], threshold).sum(), eligible(pair_scores["strong"], threshold).sum()))


def overlap_excess(weak, strong, rates, threshold: float = 1.0, idx=None) -> np.ndarray:
    """(B, len(rates)): overlap of the weak and strong top-k subsets minus the overlap two random subsets of
    the same sizes have in expectation (n_w n_s / (m max(n_w, n_s)), m = `chance_population`; about the
    rate when both select k of nearly all samples), for the resamples `idx` (B, n) of the sample positions
    (None: the samples as they are, B = 1)."""
    weak, strong = np.asarray(weak, dtype=float), np.asarray(strong, dtype=float)
    n = len(weak)
    idx = np.arange(n)[None] if idx is None else np.asarray(idx)
    w, s = weak[idx], strong[idx]
    m = np.maximum(np.maximum(eligible(w, threshold).sum(1), eligible(s, threshold).sum(1)), 1)
    out = np.empty((len(idx), len(rates)))
    for j, rate in enumerate(rates):
        k = int(n * rate)
        mw, ms = _top_masks(w, k, threshold), _top_masks(s, k, threshold)
        nw, ns = mw.sum(1), ms.sum(1)
        big = np.maximum(np.maximum(nw, ns), 1)
        out[:, j] = (mw & ms).sum(1) / big - nw * ns / (m * big)
    return out


def growth_interval(pair_scores: pd.DataFrame | None, rates, threshold: float, n_boot: int = 1000, seed: int = 0):
    """(excess at the largest minus at the smallest budget, bootstrap 2.5 %, 97.5 %) over resampled samples."""
    if pair_scores is None or len(pair_scores) < 4:
        return None, None, None
    w, s = pair_scores["weak"].to_numpy(dtype=float), pair_scores["strong"].to_numpy(dtype=float)
    n, lo_hi = len(w), [min(rates), max(rates)]
    point = overlap_excess(w, s, lo_hi, threshold)[0]
    n_boot = int(min(n_boot, max(200, 20_000_000 // n)))             # bounded memory on the full pool
    idx = np.random.default_rng(seed).integers(0, n, size=(n_boot, n))
    boot = overlap_excess(w, s, lo_hi, threshold, idx)
    lo, hi = np.quantile(boot[:, 1] - boot[:, 0], [0.025, 0.975])
    return float(point[1] - point[0]), float(lo), float(hi)


def overlap_band(row, n: int) -> dict:
    """Chance for one budget (a row of `experiment.overlap_frame`): the hypergeometric band of the shared
    count of two random subsets of the row's sizes drawn from `n` samples, and `k` to turn counts into rates."""
    k = max(int(row["n_weak"]), int(row["n_strong"]), 1)
    return {**stats.hypergeom_band(int(n), int(row["n_strong"]), int(row["n_weak"])), "k": k}


def _overlap_check(overlaps, rate: float, n: int | None, what: str, paper=None) -> tuple[Check, str]:
    """Overlap at `rate` against the hypergeometric band of two random subsets of the same sizes drawn from
    `n` samples (`chance_population`)."""
    row = None if overlaps is None or overlaps.empty or not n else overlaps[np.isclose(overlaps["rate"], rate)]
    if row is None or not len(row):
        return Check(what, None, ">", 0.0, paper=paper), "not measured"
    r = row.iloc[0]
    band = overlap_band(r, n)
    k = band["k"]
    check = Check(what, _num(r["overlap"]), ">", band["expected"] / k, paper=paper,
                  band=(band["lo"] / k, band["hi"] / k))
    return check, f"{stats.describe_band(int(r['shared']), band, k)}"


# ----------------------------------------------------------------------------- diversity
def _distinct(a, axis=1):
    """Distinct values along `axis` (number of clusters hit by each subset)."""
    s = np.sort(a, axis=axis)
    return 1 + (np.diff(s, axis=axis) != 0).sum(axis=axis)


def coverage_band(diversity: dict | None) -> dict | None:
    """Clusters hit by the FL picks and by the top-IFD picks, and the chance range of random subsets of the
    candidates of the same size (`stats.subset_band` over the candidates' cluster labels)."""
    if not diversity or diversity.get("candidates") is None or not len(diversity["candidates"]):
        return None
    c = diversity["candidates"]
    labels = c["label"].to_numpy()
    k = int(c["fl"].sum())
    if not 0 < k <= len(labels):
        return None
    draws = int(min(4000, max(200, 10_000_000 // len(labels))))     # bounded memory on the full pool
    mean, lo, hi = stats.subset_band(labels, k, stat=_distinct, n_draws=draws)
    return {"fl": int(np.unique(labels[c["fl"].to_numpy(bool)]).size),
            "top": int(np.unique(labels[c["top"].to_numpy(bool)]).size), "k": k, "n": len(labels),
            "expected": mean, "lo": lo, "hi": hi, "n_clusters": diversity.get("n_clusters")}


def _fl_objectives(coverage: pd.DataFrame | None) -> str:
    if coverage is None or coverage.empty:
        return ""
    c = coverage.groupby("subset")["objective"].mean()
    return "; FL objective F(S) (greedy FL maximises it by design: asserted in tests, not a check): " + ", ".join(
        f"{k} {v:.4f}" for k, v in c.items())


# ----------------------------------------------------------------------------- claims
def _ci_text(ci) -> str:
    return "n/a" if ci[0] is None else f"{ci[0]:.3f}-{ci[1]:.3f}"


def _vs_spec(overlap: float | None) -> str:
    return "overlap not measured" if overlap is None else \
        f"overlap {overlap:.2f} {'>' if overlap > 0.25 else '<='} 0.25 (spec)"


def make_claims(cfg, ranks: dict | None = None, overlaps: pd.DataFrame | None = None,
                pair_scores: pd.DataFrame | None = None, timing: pd.DataFrame | None = None,
                diversity: dict | None = None, coverage: pd.DataFrame | None = None,
                students: pd.DataFrame | None = None, heldout_examples: pd.DataFrame | None = None) -> list[Claim]:
    """Claims of the paper from the raw results.

    pair_scores: weak and strong ifd_ppl of the samples both scored (columns weak, strong);
    diversity: {"candidates": frame (label, fl, top) of the D variant's candidates, "n_clusters"};
    students / heldout_examples: `compare_students(per_example=True)`.
    """
    ranks = ranks or {}
    scorers = f"weak {cfg.weak} vs strong {cfg.strong}"
    n = chance_population(pair_scores, cfg.threshold, ranks.get("n"))
    rho, n_valid = _num(ranks.get("rho_ifd")), ranks.get("n_valid")
    ci = stats.spearman_ci(rho, int(n_valid)) if rho is not None and n_valid else (None, None)
    top10, top10_note = _overlap_check(overlaps, 0.10, n, "overlap of the top-10 % subsets vs chance",
                                       paper=PAPER_OVERLAP[0.10])
    claims = [Claim(
        "rank_consistency", "A weak LM ranks instruction data by IFD much like a strong one (F1)",
        "Alpaca, GPT-2 vs LLaMA2-7B: Spearman rho 0.679 (IFD); top-10 % overlap 0.41",
        [Check("Spearman rho of ifd_ppl, weak vs strong (Fisher-z 95% CI)", rho, ">", 0.5, paper=PAPER_RHO["ifd"],
               ci=ci),
         top10],
        note=f"{scorers}, {n_valid if n_valid is not None else 'n/a'} samples scored by both; rho "
             f"{'n/a' if rho is None else f'{rho:.3f}'} (Fisher-z 95% CI {_ci_text(ci)}); top-10 % picks shared: "
             f"{top10_note}; the chance range replaces the spec's fixed threshold: "
             f"{_vs_spec(overlap_at(overlaps, 0.10))}")]

    rates = sorted(cfg.rates)
    checks, notes = [], []
    for rate in rates:
        c, t = _overlap_check(overlaps, rate, n, f"overlap at {rate:.0%} vs chance",
                              paper=PAPER_OVERLAP.get(round(rate, 2)))
        checks.append(c)
        notes.append(f"{rate:.0%}: {t}")
    g, lo, hi = growth_interval(pair_scores, rates, cfg.threshold)
    checks.append(Check(f"excess over chance (overlap - rate), {max(rates):.0%} minus {min(rates):.0%}", g, ">", 0.0,
                        paper=(PAPER_OVERLAP[0.15] - 0.15) - (PAPER_OVERLAP[0.05] - 0.05), ci=(lo, hi)))
    claims.append(Claim(
        "overlap_grows_with_budget", "The weak and strong subsets agree more as the budget grows (F2)",
        "overlap at 5/10/15 %: Alpaca 0.28/0.41/0.49 (excess over chance 0.23/0.31/0.34)",
        checks, note="; ".join(notes) + (
            "" if g is None else f"; excess growth {g:+.3f} [{lo:+.3f}, {hi:+.3f}] (bootstrap over the "
                                 f"{len(pair_scores)} samples, seed 0). Two random subsets overlap by the rate in "
                                 "expectation, so only the excess over chance counts")))

    size = int(students.loc[students["arm"] != "untuned", "n_train"].iloc[0]) \
        if students is not None and (students["arm"] != "untuned").any() else "n/a"
    how = (f"held-out answer loss of {cfg.student} (nats/token), {cfg.sft_seeds} seed(s), {size} training samples "
           "per arm; stand-in for the GPT-4 pairwise winning score")
    for cid, text, paper, a, b, tested in (
            ("weak_ifd_beats_random", "Data selected by the weak scorer's IFD trains the strong student better "
             "than random data of the same size (F3)", "Table 3, 5 %: GPT-2 IFD 1.133 vs random 0.936 (winning "
             "score vs full data)", "random", "weak IFD", True),
            ("perplexity_below_random", "Selecting by the weak scorer's perplexity alone is worse than random (F3)",
             "Table 3, 5 %: GPT-2 perplexity 0.261 vs random 0.936", "perplexity", "random", "perplexity" in cfg.arms)):
        p = paired_students(students, heldout_examples, a, b)
        what = f"loss({a}) - loss({b})"
        detail = "not trained" if p is None else p.describe("nats/token") + (
            " [example-paired bootstrap over the held-out set: covers evaluation-example noise only, not "
            "training-seed noise]" if p.method.startswith("bootstrap") else " [seed-paired t]")
        claims.append(Claim(cid, text, paper, [Check(what, None, ">", 0.0) if p is None else p.check(what, ">")],
                            note=f"{what} = {detail}; {how}" if tested else f"{b if a == 'random' else a} arm not "
                                                                             "trained at this profile",
                            tested=tested))

    r = time_ratios(timing)
    paper_ratio = PAPER_TIME_MIN["strong"] / PAPER_TIME_MIN["weak"]
    flops = "n/a" if r["flops"] is None else f"{r['flops']:.2f}"
    claims.append(Claim(
        "weak_filter_cheaper", "Filtering with the weak scorer is much faster than with the strong one (F4)",
        "Alpaca: LLaMA2-7B 161.3 min vs GPT-2 8.6 min (18.8x)",
        [Check("batched time strong / weak, same samples and scorer", r["time"], ">=", 5.0, paper=paper_ratio)],
        note=f"{scorers}; forward FLOPs ratio strong / weak = {flops} "
             "(the paper's pair differs ~54x in parameters)"))

    cov = coverage_band(diversity)
    claims.append(Claim(
        "diversity_coverage", "Superfiltering.D: facility location on the top 20 % covers the data better "
                              "than picks of the same size without it (F5)",
        "README: 2 % (Superfiltering.D) comparable to full data (preliminary, not in the paper)",
        [Check("K-means clusters of the pool hit by the FL picks vs random candidate subsets", None if cov is None
               else cov["fl"], ">", 0.0 if cov is None else cov["expected"],
               band=None if cov is None else (cov["lo"], cov["hi"]))],
        note=("not measured" if cov is None else
              f"FL hits {cov['fl']} of {cov['n_clusters']} clusters with {cov['k']} picks from {cov['n']} candidates; "
              f"random subsets of the candidates {cov['expected']:.2f} (95% range {cov['lo']:g}-{cov['hi']:g}); "
              f"top-IFD picks {cov['top']}") + _fl_objectives(coverage)
             + f"; MiniLM embeddings, s_ij = exp(-|x_i - x_j| / 384), budget {cfg.d_rate:g} of the pool"))
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
        lines.append(f"Rank agreement on {ranks.get('n_valid')} samples: Spearman rho IFD "
                     f"{ranks.get('rho_ifd', float('nan')):.3f} (paper 0.679), perplexity "
                     f"{ranks.get('rho_ppl', float('nan')):.3f} (paper 0.726); IFD < 1 for "
                     f"{100 * ranks.get('below_1_weak', float('nan')):.0f} % (weak) and "
                     f"{100 * ranks.get('below_1_strong', float('nan')):.0f} % (strong) of the samples.")
    for rate, o in metrics.get("overlap", {}).items():
        paper = PAPER_OVERLAP.get(round(float(rate), 2))
        lines.append(f"Overlap at {float(rate):.0%}: {o['overlap']:.2f} ({o['shared']} of {o['k']}; "
                     f"random {o['random']:.2f}" + (f", paper {paper:.2f})" if paper else ")"))
    ratios = metrics.get("timing", {}).get("ratios", {})
    if ratios.get("time") is not None:
        lines.append(f"Time strong / weak (batched): {ratios['time']:.2f}x; FLOPs {ratios['flops']:.2f}x "
                     f"(paper 18.8x). Per-sample / batched: weak {ratios['per_sample_weak']:.2f}x, "
                     f"strong {ratios['per_sample_strong']:.2f}x.")
    div = metrics.get("diversity")
    if div:
        s = div["by_subset"]
        lines.append(f"Superfiltering.D, {div['fla_num']} of {div['n_candidates']} candidates, "
                     f"{div['n_clusters']} clusters: "
                     + "; ".join(f"{k}: F={v['objective']:.4f}, clusters {v['clusters']:.1f}, mean NN dist "
                                 f"{v['mean_nn_dist']:.3f}" for k, v in s.items()))
    st = metrics.get("students")
    if st:
        lines.append("Student held-out loss: " + ", ".join(f"{k} {v:.4f}" for k, v in st["mean_loss"].items()))
    return "\n".join(lines)
