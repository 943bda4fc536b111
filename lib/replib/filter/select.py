"""``python -m replib.filter select``: the papers' selection rules on a scores file, the subset written in the
input's own schema, plus a summary (counts, histogram PNG).

Rules (each the official code's, see the functions they call):

* ``cherry``: :func:`replib.ifd.select.select_cherry` on ``ifd_loss`` (``data_by_IFD.py``: rows the scorer
  skipped and IFD > 1 out, the top ``int(#valid * rate)`` or ``--number``).
* ``superfiltering``: :func:`replib.superfiltering.select.select_top_ifd` on ``ifd_ppl`` (strictly < 1,
  descending, ``k = int(N * rate)`` over the whole pool) or the first ``--number`` of that order.
* ``alpagasus``: every row with grader ``score >= --threshold`` (default 4.5, Eq. 1); unparsed (NaN) rows out.

Conversations (several scored turns per row) are kept or dropped whole: a row's score is the mean of its
turns' scores, and a row with any failed turn has no score.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..store import atomic_write, atomic_write_json
from .io import write_rows

RULES = {"cherry": "ifd_loss", "superfiltering": "ifd_ppl", "alpagasus": "score"}


def read_scores(path: str):
    import pandas as pd

    p = Path(path)
    if not p.is_file():
        raise ValueError(f"scores file {path} does not exist (write it with `python -m replib.filter score`)")
    if p.suffix == ".parquet":
        return pd.read_parquet(p)
    if p.suffix == ".csv":
        return pd.read_csv(p, keep_default_na=False, na_values=[""])
    return pd.read_json(p, lines=p.suffix == ".jsonl")


def row_scores(scores, column: str, n_rows: int):
    """One row per input row: the mean of its units' `column` (NaN if any unit failed), skip/failure joined."""
    import pandas as pd

    if column not in scores.columns:
        raise ValueError(f"the scores file has no column {column!r} (columns: {list(scores.columns)}); "
                         f"score it with the matching --method")
    s = scores.assign(_v=scores[column].astype(float).where(scores["failure"].fillna("").astype(str) == ""))
    by = s.groupby("row")
    frame = pd.DataFrame({column: by["_v"].agg(lambda v: v.mean() if v.notna().all() else np.nan)})
    if "skip" in s.columns:
        frame["skip"] = by["skip"].agg(lambda v: ";".join(sorted({str(x) for x in v if isinstance(x, str) and x})))
    frame = frame.reindex(range(n_rows))
    if "skip" in frame.columns:
        frame["skip"] = frame["skip"].fillna("no scores for this row")
    return frame.reset_index(drop=True)


def choose(frame, rule: str, *, rate: float | None = None, number: int | None = None,
           threshold: float | None = None) -> np.ndarray:
    """Positions (input rows) the rule keeps, in the order the official script writes them."""
    if rule not in RULES:
        raise ValueError(f"unknown rule {rule!r}; valid: {', '.join(RULES)}")
    col = RULES[rule]
    if rule == "alpagasus":
        t = 4.5 if threshold is None else float(threshold)
        with np.errstate(invalid="ignore"):
            return np.flatnonzero(frame[col].to_numpy(dtype=float) >= t).astype(np.int64)
    if (rate is None) == (number is None):
        raise ValueError(f"rule {rule!r} needs exactly one of --rate and --number")
    if rule == "cherry":
        from ..ifd.select import select_cherry

        return select_cherry(frame, rate or 0.0, number=number, key=col)
    from ..superfiltering.select import select_top_ifd

    if number is not None:
        return select_top_ifd(frame[col], 1.0)[:number]
    return select_top_ifd(frame[col], rate)


def summary_figure(values: np.ndarray, kept: np.ndarray, column: str, path: Path, threshold=None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    ok = values[np.isfinite(values)]
    bins = np.histogram_bin_edges(ok, bins=40) if ok.size else 10
    ax.hist(ok, bins=bins, color="0.7", label=f"all ({ok.size})")
    ax.hist(values[kept][np.isfinite(values[kept])], bins=bins, color="C0", label=f"kept ({kept.size})")
    if threshold is not None:
        ax.axvline(threshold, color="C3", ls="--", lw=1)
    ax.set_xlabel(column)
    ax.set_ylabel("rows")
    ax.legend(frameon=False)
    fig.tight_layout()
    atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=120))
    plt.close(fig)


def run_select(*, scores: str, input: str, rule: str, output: str, rate=None, number=None, threshold=None,
               fields: str | None = None) -> dict:
    """Write the subset and its summary (``<output>.summary.json``, ``<output>.hist.png``); return the summary."""
    from .io import load_units

    rows, _, fmt, schema = load_units(input, fields)
    table = read_scores(scores)
    if table["row"].max() >= len(rows):
        raise ValueError(f"{scores} refers to row {int(table['row'].max())} but {input} has {len(rows)} rows: "
                         f"is it the scores file of this input?")
    frame = row_scores(table, RULES[rule], len(rows))
    kept = choose(frame, rule, rate=rate, number=number, threshold=threshold)
    out = Path(output)
    write_rows([rows[i] for i in kept], out, fmt if out.suffix.lstrip(".") not in ("json", "jsonl", "parquet")
               else None)
    values = frame[RULES[rule]].to_numpy(dtype=float)
    summary = {"input": str(input), "scores": str(scores), "schema": schema, "rule": rule, "column": RULES[rule],
               "rate": rate, "number": number, "threshold": threshold if rule != "alpagasus" else (threshold or 4.5),
               "rows": len(rows), "units": int(len(table)),
               "unscored_rows": int(np.isnan(values).sum()), "kept": int(kept.size),
               "kept_share": float(kept.size / len(rows)), "output": str(out)}
    summary_figure(values, kept, RULES[rule], out.with_name(out.name + ".hist.png"),
                   summary["threshold"] if rule == "alpagasus" else None)
    atomic_write_json(out.with_name(out.name + ".summary.json"), summary)
    return summary
