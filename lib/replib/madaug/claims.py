"""The paper's claims, checked against what the MADAug experiments measured (papers/madaug.md Sec. 4, 6).

``make_claims(cfg, runs, classes, curves, heatmap)`` is pure: it reads the tidy frames of ``experiment.run``
(stored in results.json). Every measured comparison pairs methods by (set, seed): they share the model init,
the batch order and the search images, so ``replib.stats.paired`` puts a 95% t interval on the differences and
a check passes only when it clears its target. Criteria, and why each would fail if MADAug did nothing:

- F1 ``beats_noaug``: MADAug - no-aug > 0 pp; ``on_par_with_ta``: MADAug - TrivialAugment > -1 std of TA (the
  spec's "MADAug >= TA - 1 std", on paired differences).
- F2 ``easy_to_hard``: the Spearman rho of (epoch, batch-mean policy strength) per run, mean > 0.5, and larger
  than the same rho of the never-trained policy (w/o bi-level): a policy that learned nothing drifts only with
  the task model's features, and the control measures that drift.
- F3 ``fairness``: per class, the gain over no-aug against the class's no-aug accuracy **cross-fitted**
  (difficulty from the other seeds' no-aug runs): with the same runs on both axes, noise alone makes the
  correlation negative (regression to the mean). Pearson r per run, mean < 0; and the number of (set, class)
  cells with a positive mean gain against the binomial 95% band of a method that changes nothing (p = 1/2).
- F5 ``ablations``: MADAug - w/o curriculum > 0 and MADAug - w/o bi-level > 0.
- ``curriculum_schedule`` (exact): the official split rate 0.01 at epoch 0, tanh(1) + 0.01 at 40, 1.0 first at
  epoch 106 (the formula evaluated here, no training).
F4 (the class x op heatmap) has no claim: its criterion needs a mirror-sensitive data set, not part of this run.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy.stats import binom, pearsonr, spearmanr

from .. import stats
from ..claims import Check, Claim
from .baselines import LABELS
from .policy import split_rate

KEYS = ("dataset", "seed")
PAPER = "Table 1 / figures of the paper (unverified: check the PDF)"


def _method(runs: pd.DataFrame, name: str) -> pd.DataFrame:
    return runs[runs.method == name]


def _pair(runs: pd.DataFrame, a: str, b: str):
    """Paired differences a - b of test accuracy, in points, over (set, seed)."""
    if runs.empty or not {a, b} <= set(runs.method):
        return None
    return stats.paired_on(_method(runs, a), _method(runs, b), KEYS, scale=100.0)


def _rhos(curves: pd.DataFrame, method: str) -> pd.DataFrame:
    """Spearman rho(epoch, strength) per (set, seed) run of ``method``."""
    rows = []
    for (d, s), c in curves[curves.method == method].groupby(list(KEYS)):
        c = c.dropna(subset=["strength"])
        rho = spearmanr(c.epoch, c.strength).statistic if len(c) > 2 and c.strength.nunique() > 1 else math.nan
        rows.append({"dataset": d, "seed": s, "rho": float(rho)})
    return pd.DataFrame(rows, columns=["dataset", "seed", "rho"])


def fairness_table(classes: pd.DataFrame) -> pd.DataFrame:
    """Per (set, seed, class): gain = MADAug - no-aug (points) and the cross-fitted difficulty (no-aug accuracy of
    that class averaged over the **other** seeds; NaN with one seed)."""
    base = classes[classes.method == "noaug"].set_index(["dataset", "seed", "class"]).acc
    mad = classes[classes.method == "madaug"].set_index(["dataset", "seed", "class"]).acc
    t = pd.DataFrame({"gain": (mad - base) * 100, "base": base * 100}).dropna().reset_index()
    total = t.groupby(["dataset", "class"]).base.transform("sum")
    count = t.groupby(["dataset", "class"]).base.transform("count")
    t["difficulty"] = ((total - t.base) / (count - 1)).where(count > 1)
    return t


def curriculum_claim() -> Claim:
    first_one = next(e for e in range(1000) if split_rate(e) >= 1.0)
    return Claim("curriculum_schedule", "The curriculum applies the policy to a share of each batch that rises from "
                 "1% to 100%: min(tanh(e / 40) + 0.01, 1)", "Sec. 3 / main_higher.py (spec Sec. 2)",
                 [Check("split rate at epoch 0", split_rate(0), "~", 0.01, tol=1e-9),
                  Check("split rate at epoch 40", split_rate(40), "~", math.tanh(1) + 0.01, tol=1e-9),
                  Check("first epoch at split rate 1", first_one, "~", 106, tol=0)],
                 note="the official formula evaluated here; whether the policy itself grows stronger is F2",
                 kind="exact")


def make_claims(cfg, runs: pd.DataFrame, classes: pd.DataFrame, curves: pd.DataFrame,
                heatmap: pd.DataFrame | None = None) -> list[Claim]:
    claims = [curriculum_claim()]
    if runs is None or runs.empty or "madaug" not in set(runs.method):
        return claims
    n_runs = int((runs.method == "madaug").sum())
    sizes = "/".join(str(cfg.train_size(d)) for d in cfg.datasets)
    budget = f"{cfg.epochs} epochs of WRN-{cfg.depth}-{cfg.widen} on {sizes} images, {n_runs} (set, seed) pairs"

    # F1
    noaug, ta = _pair(runs, "madaug", "noaug"), _pair(runs, "madaug", "trivialaugment")
    ta_sd = float(_method(runs, "trivialaugment").groupby("dataset").acc.std().mean() * 100) \
        if "trivialaugment" in set(runs.method) else math.nan
    claims.append(Claim("beats_noaug", "MADAug improves test accuracy over training without augmentation",
                        PAPER, [stats.check(noaug, "MADAug - no-aug (points)")],
                        note=f"{stats.describe(noaug)}; {budget}"))
    claims.append(Claim("on_par_with_ta", "MADAug is on par with or better than TrivialAugment", PAPER,
                        [stats.check(ta, "MADAug - TrivialAugment (points) vs -1 std of TA", target=-ta_sd)
                         if math.isfinite(ta_sd) else Check("MADAug - TrivialAugment", None, ">", 0.0)],
                        note=f"{stats.describe(ta)}; target -{ta_sd:.2f} = minus TA's std over seeds"))

    # F2
    rho, rho0 = _rhos(curves, "madaug"), _rhos(curves, "madaug_nobilevel")
    r = stats.paired(rho.rho.to_numpy())
    checks = [r.check("mean Spearman rho(epoch, policy strength) per run", target=0.5)]
    ctrl = None
    if not rho0.empty:
        ctrl = stats.paired_on(rho, rho0, KEYS, column="rho")
        checks.append(stats.check(ctrl, "rho(MADAug) - rho(never-trained policy)"))
    claims.append(Claim("easy_to_hard", "The learned policy gradually increases the perturbation: an easy-to-hard "
                        "curriculum", "abstract; curriculum figure (unverified)", checks,
                        note=f"rho per run {np.round(rho.rho.to_numpy(), 2).tolist()}; control "
                             f"{np.round(rho0.rho.to_numpy(), 2).tolist()} ({stats.describe(ctrl, '')}); strength = "
                             f"sum_k p_k strength_k(m_k) at T = {cfg.temperature}, over {cfg.epochs} epochs"))

    # F3
    t = fairness_table(classes)
    rs = [pearsonr(g.difficulty, g.gain).statistic for _, g in t.dropna().groupby(list(KEYS))
          if len(g) > 2 and g.gain.nunique() > 1 and g.difficulty.nunique() > 1]
    r_f = stats.paired(np.asarray(rs, dtype=float))
    cells = t.groupby(["dataset", "class"]).gain.mean()
    n, k = len(cells), int((cells > 0).sum())
    lo, hi = (float(binom.ppf(q, n, 0.5)) for q in (0.025, 0.975)) if n else (math.nan, math.nan)
    claims.append(Claim("fairness", "MADAug improves every class, more for the difficult ones", "abstract; fairness "
                        "figure (unverified)",
                        [r_f.check("mean Pearson r(cross-fitted no-aug class accuracy, gain) per run", "<"),
                         Check("(set, class) cells with a positive mean gain", k if n else None, ">", n / 2,
                               band=(lo, hi) if n else None),
                         Check("share of cells with a positive mean gain", k / n if n else None, ">=", 0.8)],
                        note=f"r {r_f.describe()}; {k} of {n} cells gain (chance 95% range {lo:g}-{hi:g}); "
                             f"difficulty from the other seeds' no-aug runs"))

    # F5
    checks, notes = [], []
    for abl in ("madaug_nocurriculum", "madaug_nobilevel"):
        p = _pair(runs, "madaug", abl)
        checks.append(stats.check(p, f"MADAug - {LABELS[abl]} (points)"))
        notes.append(f"{LABELS[abl]}: {stats.describe(p)}")
    claims.append(Claim("ablations", "Both parts matter: full MADAug beats it without the curriculum and without the "
                        "bi-level policy training", "ablation table (unverified)", checks, note="; ".join(notes)))
    return claims
