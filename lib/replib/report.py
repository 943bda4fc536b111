"""What a notebook run leaves behind: figures, metrics.json and claims.json (DESIGN.md, "Report and claims").

- `save_figure`, `save_metrics`, `save_claims` write a run's outputs into its figures folder. Every
  file is written atomically (temp file in the same folder, then os.replace), so a crashed run never
  leaves half a file behind.
- `Check` is one number measured here against a target; `Claim` is one claim of a paper with the
  checks that test it. A claim's verdict is a property computed from its checks' numbers, never a
  field, so it cannot be typed by hand.
- `claims_table` shows the claims as a DataFrame at the end of a notebook.

The report built from these files (figures/README.md and reports/index.html) lives in
`replib.scorecard`; `build_report` is re-exported here and `python -m replib.report` still builds it.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
import operator
import os
import re
import tempfile
from pathlib import Path

import numpy as np

from . import runtime

VERDICTS = ("reproduced", "partly", "not reproduced", "not tested at this profile")
OPS = ("~", ">=", "<=", ">", "<")
_SYMBOL = {">=": "≥", "<=": "≤", ">": ">", "<": "<"}
_COMPARE = {">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt}
_NAME = re.compile(r"[a-z0-9][a-z0-9_]*")  # figure names
_ID = re.compile(r"[a-z0-9][a-z0-9_-]*")  # claim ids


# ----------------------------------------------------------------------------- atomic files, JSON
def _atomic(path, write) -> Path:
    """Call write(binary file) on a temp file next to `path`, then rename it over `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; these files are shared
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):  # only when writing failed
            os.unlink(tmp)
    return path


def atomic_write_text(path, text: str) -> Path:
    """Write `text` as UTF-8 to `path` atomically."""
    return _atomic(path, lambda f: f.write(text.encode("utf-8")))


def to_jsonable(obj, nonfinite: list[str] | None = None, where: str = ""):
    """Plain-python copy of `obj` for JSON.

    numpy and torch values become scalars and lists, dataclasses become dicts, paths, dtypes and
    devices become str. NaN and inf become None, and their path (e.g. "metrics.acc[2]") is appended
    to `nonfinite` when a list is given.
    """
    if obj is None or isinstance(obj, (bool, int, str)):
        return obj
    if isinstance(obj, float):
        if not math.isfinite(obj):
            if nonfinite is not None:
                nonfinite.append(where or "<root>")
            return None
        return float(obj)  # np.float64 is a float subclass: store a plain float
    if isinstance(obj, (np.generic, np.ndarray)):
        return to_jsonable(obj.tolist(), nonfinite, where)
    if hasattr(obj, "detach") and hasattr(obj, "tolist"):  # torch.Tensor, without importing torch
        return to_jsonable(obj.detach().cpu().tolist(), nonfinite, where)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return to_jsonable(dataclasses.asdict(obj), nonfinite, where)
    if isinstance(obj, dict):
        out = {}
        for key, value in obj.items():
            path = f"{where}.{key}" if where else str(key)
            out[str(key)] = to_jsonable(value, nonfinite, path)
        return out
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(value, nonfinite, f"{where}[{i}]") for i, value in enumerate(obj)]
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if type(obj).__module__.split(".")[0] == "torch":  # torch.dtype, torch.device
        return str(obj)
    raise TypeError(f"cannot store {type(obj).__name__} at {where or '<root>'!r} in JSON")


def atomic_write_json(path, obj) -> Path:
    """JSON with indent=2, keys in insertion order, NaN/inf stored as null (see `to_jsonable`)."""
    text = json.dumps(to_jsonable(obj), indent=2, sort_keys=False, allow_nan=False, ensure_ascii=False)
    return atomic_write_text(path, text + "\n")


# ----------------------------------------------------------------------------- figures, metrics
def save_figure(fig, name: str, run_or_dir) -> Path:
    """Write `<out_dir>/<name>.png` (150 dpi, tight bbox) atomically; the figure stays open for display.

    `run_or_dir` is a Run (its `out_dir` is used) or a folder.
    """
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError(f"figure name must be lowercase letters, digits, underscores, no extension: {name!r}")
    out_dir = Path(getattr(run_or_dir, "out_dir", run_or_dir))
    path = out_dir / f"{name}.png"
    return _atomic(path, lambda f: fig.savefig(f, format="png", dpi=150, bbox_inches="tight"))


def save_metrics(run, config, metrics: dict, *, seeds=None) -> Path:
    """Write `<out_dir>/metrics.json`: run header, config and headline numbers.

    NaN/inf are stored as null and their paths listed under "nonfinite".
    """
    if not isinstance(metrics, dict):
        raise TypeError(f"metrics must be a dict of headline numbers, got {type(metrics).__name__}")
    seeds = [run.seed] if seeds is None else [int(s) for s in seeds]
    if not seeds:
        raise ValueError("seeds must be a non-empty list of ints")
    doc = {
        "slug": run.slug,
        "notebook": runtime.notebook_name(run.slug),
        "profile": run.profile,
        "seeds": seeds,
        "device": str(run.device),
        "device_name": runtime.device_name(run.device),
        "versions": runtime.versions(),
        "git_sha": runtime.git_sha(),
        "wall_time_s": round(float(run.wall_s), 2),
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "config": config,
        "metrics": metrics,
    }
    nonfinite: list[str] = []
    doc = to_jsonable(doc, nonfinite)
    doc["nonfinite"] = nonfinite
    return atomic_write_json(Path(run.out_dir) / "metrics.json", doc)


# ----------------------------------------------------------------------------- claims
def _fmt(v) -> str:
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


@dataclasses.dataclass
class Check:
    """One number measured here against a target: `ours <op> target`.

    For "~" the test is |ours - target| <= tol * |target| + atol (atol for targets near 0).
    `ours` None or NaN means not measured: `passed()` is then None.
    """
    what: str
    ours: float | None
    op: str
    target: float
    tol: float = 0.0
    paper: float | str | None = None
    atol: float = 0.0

    def __post_init__(self):
        if self.op not in OPS:
            raise ValueError(f"unknown op {self.op!r} in check {self.what!r}; valid ops: {', '.join(OPS)}")
        if self.ours is not None:
            self.ours = float(self.ours)
        self.target = float(self.target)
        self.tol = float(self.tol)
        self.atol = float(self.atol)
        target_ok = math.isfinite(self.target)
        tol_ok = 0 <= self.tol < math.inf and 0 <= self.atol < math.inf
        if not (target_ok and tol_ok):
            raise ValueError(f"check {self.what!r}: target must be finite, tol and atol finite and >= 0")
        if self.op != "~" and (self.tol or self.atol):
            raise ValueError(f"check {self.what!r}: tol/atol only apply to op '~', not {self.op!r}")

    def passed(self) -> bool | None:
        if self.ours is None or not math.isfinite(self.ours):
            return None
        x, t = self.ours, self.target
        if self.op == "~":
            slack = 1e-12 * max(abs(x), abs(t))  # keeps the boundary inclusive despite float rounding
            return abs(x - t) <= self.tol * abs(t) + self.atol + slack
        return _COMPARE[self.op](x, t)

    def criterion(self) -> str:
        if self.op != "~":
            return f"{_SYMBOL[self.op]} {_fmt(self.target)}"
        band = []
        if self.tol:
            band.append(f"±{self.tol * 100:g}%")
        if self.atol:
            band.append(f"±{_fmt(self.atol)}")
        if not band:
            return f"= {_fmt(self.target)}"
        return f"≈ {_fmt(self.target)} ({' '.join(band)})"


@dataclasses.dataclass
class Claim:
    """One claim of a paper and the checks that test it here. `verdict` is computed, never given."""
    id: str
    text: str
    paper: str
    checks: list[Check]
    note: str = ""
    tested: bool = True

    def __post_init__(self):
        if not isinstance(self.id, str) or not _ID.fullmatch(self.id):
            raise ValueError(f"claim id must be short lowercase slug-like text, got {self.id!r}")
        self.checks = list(self.checks)
        for check in self.checks:
            if not isinstance(check, Check):
                raise TypeError(f"claim {self.id!r}: each check must be a Check, got {type(check).__name__}")
        if self.tested and not self.checks:
            raise ValueError(f"claim {self.id!r} has no checks; give one, or tested=False")

    @property
    def verdict(self) -> str:
        results = [c.passed() for c in self.checks]
        if not self.tested or not results or None in results:
            return VERDICTS[3]  # not tested at this profile
        if all(results):
            return VERDICTS[0]  # reproduced
        if any(results):
            return VERDICTS[1]  # partly
        return VERDICTS[2]  # not reproduced

    @property
    def ours(self) -> str:
        return "; ".join(_fmt(c.ours) for c in self.checks) or "n/a"

    @property
    def criterion(self) -> str:
        return "; ".join(c.criterion() for c in self.checks)

    def to_dict(self) -> dict:
        checks = []
        for c in self.checks:
            checks.append({**dataclasses.asdict(c), "criterion": c.criterion(), "passed": c.passed()})
        return {
            "id": self.id,
            "text": self.text,
            "paper": self.paper,
            "ours": self.ours,
            "criterion": self.criterion,
            "verdict": self.verdict,
            "note": self.note,
            "tested": self.tested,
            "checks": checks,
        }

    @classmethod
    def from_dict(cls, d: dict) -> Claim:
        """Rebuild from claims.json; the stored verdict, criterion and ours are recomputed, not read."""
        names = {f.name for f in dataclasses.fields(Check)}
        checks = [Check(**{k: v for k, v in c.items() if k in names}) for c in d.get("checks", [])]
        return cls(
            d["id"],
            d.get("text", ""),
            d.get("paper", ""),
            checks,
            d.get("note", ""),
            d.get("tested", True),
        )


def save_claims(run, claims) -> Path:
    """Write `<out_dir>/claims.json`; ids must be unique within the paper."""
    claims = list(claims)
    ids = [c.id for c in claims]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise ValueError(f"duplicate claim id(s) {duplicates} for paper {run.slug!r}")
    doc = {
        "slug": run.slug,
        "notebook": runtime.notebook_name(run.slug),
        "profile": run.profile,
        "claims": [c.to_dict() for c in claims],
    }
    return atomic_write_json(Path(run.out_dir) / "claims.json", doc)


def claims_table(claims):
    """The claims as a pandas DataFrame (one row per claim), for display at the end of a notebook."""
    import pandas as pd

    cols = ["id", "text", "paper", "ours", "criterion", "verdict", "note"]
    return pd.DataFrame([[getattr(c, k) for k in cols] for c in claims], columns=cols)


# ----------------------------------------------------------------------------- report (replib.scorecard)
# Imported lazily: scorecard imports Claim from this module, so a top-level import would be circular.
def build_report(root=None, figures_dir=None, reports_dir=None) -> dict:
    """Write figures/README.md and reports/index.html; see `replib.scorecard.build_report`."""
    from .scorecard import build_report as build

    return build(root, figures_dir, reports_dir)


def main(argv=None) -> int:
    """Command line of `python -m replib.report`; see `replib.scorecard.main`."""
    from .scorecard import main as scorecard_main

    return scorecard_main(argv)


if __name__ == "__main__":
    raise SystemExit(main())
