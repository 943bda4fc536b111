"""Statistics behind measured verdicts: is a difference larger than the noise, is a count above chance?

- `paired(a, b)`: seed-paired (or example-paired) differences a - b: mean, 95% interval (Student t over
  the pairs, or a percentile bootstrap), and an exact two-sided sign test. `Paired.check()` turns it
  into a `Check` whose verdict is reproduced only when the interval excludes zero in the claimed
  direction. With fewer than two pairs the interval is unbounded: one seed can never decide.
- `hypergeom_band(population, positives, draws)`: expected hits and the central 95% range of hits when
  `draws` items are picked at random (e.g. the overlap of two subsets, or picks that land in a release).
- `subset_band(values, k)`: the central 95% range of a statistic over random size-k subsets (permutation).
- `spearman_ci(rho, n)`: Fisher-z interval of a Spearman correlation (Fieller, Hartley & Pearson 1957).
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np

from .claims import Check, fmt

LEVEL = 0.95


@dataclasses.dataclass(frozen=True)
class Paired:
    """Summary of paired differences a - b."""
    mean: float
    lo: float | None
    hi: float | None
    n: int
    wins: int
    losses: int
    ties: int
    p_sign: float
    method: str

    def check(self, what: str, op: str = ">", paper=None, target: float = 0.0) -> Check:
        """Check that the difference is `op` target (0 by default), decided by its interval."""
        return Check(what, self.mean, op, target, paper=paper, ci=(self.lo, self.hi))

    def describe(self, unit: str = "") -> str:
        """"+0.11 [-1.2, +1.4] pts, 2 pairs (t), sign 1-1 (p = 1)"."""
        ci = "no interval" if self.lo is None or self.hi is None else f"[{self.lo:+.3g}, {self.hi:+.3g}]"
        return (f"{self.mean:+.3g} {ci}{' ' + unit if unit else ''}, {self.n} pair(s) ({self.method}), "
                f"sign {self.wins}-{self.losses} (p = {self.p_sign:.2g})")


def check(p: Paired | None, what: str, op: str = ">", paper=None, target: float = 0.0) -> Check:
    """`p.check(...)`, or a not-measured Check when the profile produced no pair (p is None)."""
    return Check(what, None, op, target, paper=paper) if p is None else p.check(what, op, paper, target)


def describe(p: Paired | None, unit: str = "points") -> str:
    """`p.describe(unit)`, or "not measured at this profile" when p is None."""
    return "not measured at this profile" if p is None else p.describe(unit)


def sign_test(diffs) -> tuple[int, int, int, float]:
    """(wins, losses, ties, exact two-sided binomial p over the non-tied pairs)."""
    from scipy.stats import binomtest

    d = np.asarray(diffs, dtype=float)
    wins, losses = int((d > 0).sum()), int((d < 0).sum())
    n = wins + losses
    p = float(binomtest(wins, n, 0.5).pvalue) if n else 1.0
    return wins, losses, len(d) - n, p


def paired(a, b=None, *, method: str = "t", level: float = LEVEL, n_boot: int = 10_000, seed: int = 0) -> Paired:
    """Mean of a - b (or of a when b is None) with a `level` interval and a sign test.

    - method="t": mean +- t_{(1+level)/2, n-1} * sd / sqrt(n), for seeds (few pairs, roughly normal);
    - method="bootstrap": percentile interval of the mean over `n_boot` resamples of the pairs, for
      many evaluation examples (skewed or binary differences).
    NaN pairs are dropped. Fewer than two pairs give no interval (None ends, which never clear zero),
    and so do differences with zero spread: a sample whose differences are all equal (ties of a
    discrete metric such as accuracy on a fixed test set) cannot estimate the noise, and a t interval
    of width zero would decide on two pairs.
    """
    from scipy.stats import t as student_t

    if method not in ("t", "bootstrap"):
        raise ValueError(f"method must be 't' or 'bootstrap', got {method!r}")
    d = np.asarray(a, dtype=float).ravel()
    if b is not None:
        b = np.asarray(b, dtype=float).ravel()
        if b.shape != d.shape:
            raise ValueError(f"paired samples need equal lengths, got {d.shape[0]} and {b.shape[0]}")
        d = d - b
    d = d[np.isfinite(d)]
    n = len(d)
    wins, losses, ties, p = sign_test(d)
    mean = float(d.mean()) if n else math.nan
    lo = hi = None
    if n >= 2 and np.ptp(d) == 0:
        method += ", zero spread: no interval"
    elif n >= 2 and method == "t":
        half = float(student_t.ppf((1 + level) / 2, n - 1) * d.std(ddof=1) / math.sqrt(n))
        lo, hi = mean - half, mean + half
    elif n >= 2:
        rng = np.random.default_rng(seed)
        means = d[rng.integers(0, n, size=(n_boot, n))].mean(axis=1)  # (n_boot,)
        lo, hi = (float(q) for q in np.quantile(means, [(1 - level) / 2, (1 + level) / 2]))
    return Paired(mean, lo, hi, n, wins, losses, ties, p, method)


def paired_on(a, b, keys, column: str = "acc", scale: float = 1.0, **kw) -> Paired | None:
    """`scale` * (a - b) of `column` for the rows of frames a and b that share `keys` (e.g. task and seed);
    None when no row pairs. Keyword arguments go to `paired`."""
    pairs = a.merge(b, on=list(keys), suffixes=("_a", "_b"))
    if pairs.empty:
        return None
    return paired(scale * pairs[f"{column}_a"].to_numpy(float), scale * pairs[f"{column}_b"].to_numpy(float), **kw)


def t_interval(x, level: float = LEVEL) -> tuple[float, float | None, float | None]:
    """(mean, lo, hi) of a sample; no interval (None) with fewer than two values."""
    r = paired(x, method="t", level=level)
    return r.mean, r.lo, r.hi


def hypergeom_band(population: int, positives: int, draws: int, level: float = LEVEL) -> dict:
    """Hits among `draws` random picks from `population` items of which `positives` count.

    Returns {"expected", "lo", "hi", "p_above"(hits)}: the mean, the central `level` range of hits, and
    `p_above(h)`, the one-sided probability of h or more hits by chance.
    """
    from scipy.stats import hypergeom

    if not 0 <= positives <= population or not 0 <= draws <= population:
        raise ValueError(f"need 0 <= positives, draws <= population, got {positives}, {draws}, {population}")
    dist = hypergeom(population, positives, draws)
    q = (1 - level) / 2
    return {"expected": float(dist.mean()), "lo": float(dist.ppf(q)), "hi": float(dist.ppf(1 - q)),
            "p_above": lambda h: float(dist.sf(h - 1))}


def subset_band(values, k: int, stat=np.mean, *, n_draws: int = 4000, level: float = LEVEL, seed: int = 0):
    """(mean, lo, hi) of `stat` over `n_draws` random size-k subsets of `values` (rows, without replacement).

    `stat` takes an (n_draws, k, ...) array and reduces axis 1, e.g. np.mean or a cluster count.
    """
    values = np.asarray(values)
    n = len(values)
    if not 0 < k <= n:
        raise ValueError(f"subset size k must be in 1..{n}, got {k}")
    rng = np.random.default_rng(seed)
    idx = np.argsort(rng.random((n_draws, n)), axis=1)[:, :k]  # (n_draws, k) random subsets
    s = np.asarray(stat(values[idx], axis=1), dtype=float)
    lo, hi = np.quantile(s, [(1 - level) / 2, (1 + level) / 2])
    return float(s.mean()), float(lo), float(hi)


def spearman_ci(rho: float, n: int, level: float = LEVEL) -> tuple[float | None, float | None]:
    """Fisher-z interval of a Spearman rho over n pairs, se = sqrt(1.06 / (n - 3)); None with n < 4."""
    from scipy.stats import norm

    if n < 4 or not math.isfinite(rho):
        return None, None
    z = math.atanh(max(min(rho, 1 - 1e-12), -1 + 1e-12))
    half = norm.ppf((1 + level) / 2) * math.sqrt(1.06 / (n - 3))
    return math.tanh(z - half), math.tanh(z + half)


def describe_band(hits: float, band: dict, k: int) -> str:
    """"12 of 29 hits; chance 2.1 (95% range 0-5), p = 9e-08"."""
    return (f"{fmt(hits)} of {k} hits; chance {band['expected']:.3g} (95% range {band['lo']:g}-{band['hi']:g}), "
            f"one-sided p = {band['p_above'](hits):.2g}")
