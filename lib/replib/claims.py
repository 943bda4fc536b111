"""Claims of a paper and the checks that test them here (DESIGN.md, "Report and claims").

- `Check` is one number measured here against a target: `ours <op> target`. A noisy number carries
  its 95% interval (`ci`, e.g. seed-paired differences from `replib.stats`), and a target set by chance
  carries the band chance produces (`band`, e.g. the hypergeometric 95% range of an overlap). Then the
  check passes only when the interval clears the band in the claimed direction, fails when it clears
  it the other way, and is inconclusive otherwise.
- `Claim` is one claim of a paper with the checks that test it. Its `kind` is "exact" (needs no
  training: formulas, re-derived tallies, properties of the provided files; judged at every profile)
  or "measured" (trained or timed; never judged at `smoke`, whose tiny random models prove only the
  pipeline). Its verdict is a property computed from the checks' numbers, never a field, so it cannot
  be typed by hand. Invariants that hold by construction are asserted in tests, never used as checks.
"""
from __future__ import annotations

import dataclasses
import math
import operator
import re

VERDICTS = ("reproduced", "partly", "not reproduced", "inconclusive", "not tested at this profile")
KINDS = ("exact", "measured")
OUTCOMES = ("pass", "fail", "inconclusive")
OPS = ("~", ">=", "<=", ">", "<")
UNJUDGED_PROFILES = ("smoke",)
"""Profiles at which measured claims get no verdict (tiny random models)."""
_SYMBOL = {">=": "≥", "<=": "≤", ">": ">", "<": "<"}
_COMPARE = {">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt}
_ID = re.compile(r"[a-z0-9][a-z0-9_-]*")  # claim ids


def fmt(v) -> str:
    """A number for a table cell: n/a for None, thousands separators for big values, else 4 digits."""
    if v is None:
        return "n/a"
    if isinstance(v, str):
        return v
    v = float(v)
    if not math.isfinite(v):
        return str(v)
    if 1e4 <= abs(v) < 1e9:
        return f"{v:,.0f}"
    return f"{v:.4g}"


def _pair(x, name: str, what: str):
    """(lo, hi) as floats, None ends meaning unbounded; None stays None."""
    if x is None:
        return None
    lo, hi = x
    lo = -math.inf if lo is None or (isinstance(lo, float) and math.isnan(lo)) else float(lo)
    hi = math.inf if hi is None or (isinstance(hi, float) and math.isnan(hi)) else float(hi)
    if lo > hi:
        raise ValueError(f"check {what!r}: {name} must be (lo, hi) with lo <= hi, got {x}")
    return lo, hi


@dataclasses.dataclass
class Check:
    """One number measured here against a target: `ours <op> target`.

    For "~" the test is |ours - target| <= tol * |target| + atol (atol for targets near 0).
    `ci` = (lo, hi): the 95% interval of `ours`; `band` = (lo, hi): the 95% range chance gives around
    `target`. With either, ">" passes when lo(ours) > hi(target), fails when hi(ours) < lo(target) and
    is inconclusive in between ("<" mirrored); an unbounded end (None) can never clear.
    `ours` None or NaN means not measured: `outcome()` is then None.
    """
    what: str
    ours: float | None
    op: str
    target: float
    tol: float = 0.0
    paper: float | str | None = None
    atol: float = 0.0
    ci: tuple | None = None
    band: tuple | None = None

    def __post_init__(self):
        if self.op not in OPS:
            raise ValueError(f"unknown op {self.op!r} in check {self.what!r}; valid ops: {', '.join(OPS)}")
        if self.ours is not None:
            self.ours = float(self.ours)
        self.target, self.tol, self.atol = float(self.target), float(self.tol), float(self.atol)
        if not (math.isfinite(self.target) and 0 <= self.tol < math.inf and 0 <= self.atol < math.inf):
            raise ValueError(f"check {self.what!r}: target must be finite, tol and atol finite and >= 0")
        if self.op != "~" and (self.tol or self.atol):
            raise ValueError(f"check {self.what!r}: tol/atol only apply to op '~', not {self.op!r}")
        if self.op == "~" and (self.ci is not None or self.band is not None):
            raise ValueError(f"check {self.what!r}: ci/band need a direction ('>', '<', ...), not '~'")
        ci, band = _pair(self.ci, "ci", self.what), _pair(self.band, "band", self.what)
        # stored as given (None ends kept) so that JSON round-trips; the floats are used in outcome()
        self.ci = None if ci is None else tuple(None if math.isinf(v) else v for v in ci)
        self.band = None if band is None else tuple(None if math.isinf(v) else v for v in band)

    @property
    def statistical(self) -> bool:
        return self.ci is not None or self.band is not None

    def outcome(self) -> str | None:
        """'pass', 'fail', 'inconclusive' (only with ci/band), or None when not measured."""
        if self.ours is None or not math.isfinite(self.ours):
            return None
        x, t = self.ours, self.target
        if self.op == "~":
            slack = 1e-12 * max(abs(x), abs(t))  # keeps the boundary inclusive despite float rounding
            return "pass" if abs(x - t) <= self.tol * abs(t) + self.atol + slack else "fail"
        if not self.statistical:
            return "pass" if _COMPARE[self.op](x, t) else "fail"
        lo, hi = _pair(self.ci, "ci", self.what) or (x, x)
        t_lo, t_hi = _pair(self.band, "band", self.what) or (t, t)
        if self.op in (">", ">="):
            return "pass" if lo > t_hi else "fail" if hi < t_lo else "inconclusive"
        return "pass" if hi < t_lo else "fail" if lo > t_hi else "inconclusive"

    def passed(self) -> bool | None:
        """True / False for a decided check, None when not measured or inconclusive."""
        o = self.outcome()
        return None if o in (None, "inconclusive") else o == "pass"

    def shown(self) -> str:
        """`ours` for a table cell, with its interval: "0.41 [0.2, 0.6]"."""
        if self.ci is None:
            return fmt(self.ours)
        lo, hi = ("-inf" if self.ci[0] is None else fmt(self.ci[0])), ("inf" if self.ci[1] is None else fmt(self.ci[1]))
        return f"{fmt(self.ours)} [{lo}, {hi}]"

    def criterion(self) -> str:
        if self.op != "~":
            if self.band is not None:
                lo, hi = (fmt(v) if v is not None else "?" for v in self.band)
                side = hi if self.op in (">", ">=") else lo
                return f"{_SYMBOL[self.op]} chance {fmt(self.target)} (95% band {lo}-{hi}: must clear {side})"
            if self.ci is not None:
                return f"95% CI {_SYMBOL[self.op]} {fmt(self.target)}"
            return f"{_SYMBOL[self.op]} {fmt(self.target)}"
        band = []
        if self.tol:
            band.append(f"±{self.tol * 100:g}%")
        if self.atol:
            band.append(f"±{fmt(self.atol)}")
        if not band:
            return f"= {fmt(self.target)}"
        return f"≈ {fmt(self.target)} ({' '.join(band)})"


@dataclasses.dataclass
class Claim:
    """One claim of a paper and the checks that test it here. `verdict` is computed, never given.

    `profile` is stamped by `replib.report.save_claims`; at a profile in UNJUDGED_PROFILES a measured
    claim reads "not tested at this profile" whatever its numbers.
    """
    id: str
    text: str
    paper: str
    checks: list[Check]
    note: str = ""
    tested: bool = True
    kind: str = "measured"
    profile: str = ""

    def __post_init__(self):
        if not isinstance(self.id, str) or not _ID.fullmatch(self.id):
            raise ValueError(f"claim id must be short lowercase slug-like text, got {self.id!r}")
        if self.kind not in KINDS:
            raise ValueError(f"claim {self.id!r}: kind must be one of {KINDS}, got {self.kind!r}")
        self.checks = list(self.checks)
        for check in self.checks:
            if not isinstance(check, Check):
                raise TypeError(f"claim {self.id!r}: each check must be a Check, got {type(check).__name__}")
        if self.kind == "exact" and any(c.statistical for c in self.checks):
            raise ValueError(f"claim {self.id!r}: an exact claim has no noise, so no ci/band checks")
        if self.tested and not self.checks:
            raise ValueError(f"claim {self.id!r} has no checks; give one, or tested=False")

    @property
    def judged(self) -> bool:
        """Whether this claim gets a verdict at its profile."""
        return self.tested and bool(self.checks) and not (
            self.kind == "measured" and self.profile in UNJUDGED_PROFILES)

    @property
    def verdict(self) -> str:
        if not self.judged:
            return VERDICTS[4]  # not tested at this profile
        outcomes = [c.outcome() for c in self.checks]
        if None in outcomes:
            return VERDICTS[4]
        if all(o == "pass" for o in outcomes):
            return VERDICTS[0]  # reproduced
        if "pass" in outcomes:
            return VERDICTS[1]  # partly
        if "fail" in outcomes:
            return VERDICTS[2]  # not reproduced
        return VERDICTS[3]  # inconclusive

    @property
    def ours(self) -> str:
        return "; ".join(c.shown() for c in self.checks) or "n/a"

    @property
    def criterion(self) -> str:
        return "; ".join(c.criterion() for c in self.checks)

    def to_dict(self) -> dict:
        checks = [{**dataclasses.asdict(c), "criterion": c.criterion(), "outcome": c.outcome()} for c in self.checks]
        return {"id": self.id, "kind": self.kind, "text": self.text, "paper": self.paper, "ours": self.ours,
                "criterion": self.criterion, "verdict": self.verdict, "note": self.note, "tested": self.tested,
                "checks": checks}

    @classmethod
    def from_dict(cls, d: dict, profile: str = "") -> Claim:
        """Rebuild from claims.json; the stored verdict, criterion, outcomes and ours are recomputed, not read."""
        names = {f.name for f in dataclasses.fields(Check)}
        checks = [Check(**{k: v for k, v in c.items() if k in names}) for c in d.get("checks", [])]
        return cls(d["id"], d.get("text", ""), d.get("paper", ""), checks, d.get("note", ""), d.get("tested", True),
                   d.get("kind", "measured"), profile)


def stamp(claims, profile: str) -> list[Claim]:
    """The claims with `profile` set (see `Claim.profile`); ids must be unique."""
    claims = list(claims)
    ids = [c.id for c in claims]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise ValueError(f"duplicate claim id(s) {duplicates}")
    for c in claims:
        c.profile = profile
    return claims


def results_document(slug: str, profile: str, cfg, results: dict) -> dict:
    """What results.json holds: the paper, the profile, the config and the encoded raw results."""
    from .runtime import notebook_name
    from .store import encode_results, to_jsonable

    return {"slug": slug, "notebook": notebook_name(slug), "profile": profile, "config": to_jsonable(cfg),
            "results": encode_results(results)}


def rebuild(slug: str, profile: str, cfg, results: dict) -> list[Claim]:
    """The claims `report.save_claims` would store for these results: the same JSON round trip, in memory."""
    import json

    return claims_from_results(json.loads(json.dumps(results_document(slug, profile, cfg, results))))


def claims_from_results(doc: dict) -> list[Claim]:
    """The claims of a results.json document, rebuilt by its paper's `make_claims(cfg, **results)`.

    This is the one path from raw results to claims: the notebook writes results.json, reads it back
    and calls this; `python -m replib.report --check` calls it again and compares.
    """
    import importlib

    from .store import config_from_dict, decode_results

    slug = doc["slug"]
    config = importlib.import_module(f"replib.{slug}.config")
    make_claims = importlib.import_module(f"replib.{slug}.claims").make_claims
    cfg = config_from_dict(config.Config, doc["config"])
    return stamp(make_claims(cfg, **decode_results(doc["results"])), doc["profile"])
