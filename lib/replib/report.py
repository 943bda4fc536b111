"""What a notebook run leaves behind: figures, metrics.json, results.json and claims.json
(DESIGN.md, "Report and claims").

- `save_figure` and `save_metrics` write a run's figures and headline numbers into its folder.
- `save_claims(run, cfg, **results)` writes the raw results the paper's claims are computed from
  (results.json), reads them back and builds claims.json from them with the paper's
  `make_claims(cfg, **results)`, so `python -m replib.report --check` can rebuild every claim.
- `claims_table` shows the claims as a DataFrame at the end of a notebook.

Every file is written atomically (`replib.store`). `Check` and `Claim` live in `replib.claims`;
the report built from these files (figures/README.md, reports/index.html, `--check`) in
`replib.scorecard`, which is also what `python -m replib.report` runs.
"""
from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

from . import runtime, scorecard
from .claims import KINDS, VERDICTS, Check, Claim, claims_from_results, results_document, stamp
from .store import atomic_write, atomic_write_json, atomic_write_text, to_jsonable

__all__ = ["KINDS", "VERDICTS", "Check", "Claim", "atomic_write_json", "atomic_write_text", "build_report",
           "claims_table", "save_claims", "save_figure", "save_metrics", "to_jsonable", "write_claims"]
_NAME = re.compile(r"[a-z0-9][a-z0-9_]*")  # figure names
build_report = scorecard.build_report


# ----------------------------------------------------------------------------- figures, metrics
def save_figure(fig, name: str, run_or_dir) -> Path:
    """Write `<out_dir>/<name>.png` (150 dpi, tight bbox) atomically; the figure stays open for display.

    `run_or_dir` is a Run (its `out_dir` is used) or a folder.
    """
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError(f"figure name must be lowercase letters, digits, underscores, no extension: {name!r}")
    out_dir = Path(getattr(run_or_dir, "out_dir", run_or_dir))
    path = out_dir / f"{name}.png"
    return atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=150, bbox_inches="tight"))


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
def write_claims(out_dir, slug: str, profile: str, claims) -> Path:
    """Write `<out_dir>/claims.json` for claims already built (stamped with `profile`)."""
    claims = stamp(claims, profile)
    doc = {"slug": slug, "notebook": runtime.notebook_name(slug), "profile": profile,
           "claims": [c.to_dict() for c in claims]}
    return atomic_write_json(Path(out_dir) / "claims.json", doc)


def save_claims(run, cfg, **results) -> list[Claim]:
    """Write results.json (`cfg` and the raw `results`), then claims.json built from the file just written.

    `results` are the keyword arguments of `replib.<slug>.claims.make_claims(cfg, **results)`: frames,
    arrays and plain numbers (see `replib.store.encode_results`). Returns the claims, stamped with the
    run's profile, for `claims_table`.
    """
    out = Path(run.out_dir)
    path = atomic_write_json(out / "results.json", results_document(run.slug, run.profile, cfg, results))
    claims = claims_from_results(json.loads(path.read_text(encoding="utf-8")))
    write_claims(out, run.slug, run.profile, claims)
    return claims


def claims_table(claims):
    """The claims as a pandas DataFrame (one row per claim), for display at the end of a notebook."""
    import pandas as pd

    cols = ["id", "kind", "text", "paper", "ours", "criterion", "verdict", "note"]
    return pd.DataFrame([[getattr(c, k) for k in cols] for c in claims], columns=cols)


if __name__ == "__main__":
    raise SystemExit(scorecard.main())
