"""Grading a dataset with an LLM grader: the scoring step of AlpaGasus, Eq. 1 (papers/alpagasus.md Sec. 2).

``grade(samples, backend) -> DataFrame``, one row per sample in the given order:

* ``score``: the score of the chosen ``way``: ``generate`` = the parsed reply (the paper's), ``logprob`` =
  the expected score sum_d d P(d) / sum_d P(d) over the next-token distribution of "0".."5" at the score
  position (DEITA-style; defined whenever the backend gives token probabilities, a ranking even for a
  weak grader that never writes a number);
* ``raw`` (the reply), ``parsed`` (the parser read a score), ``gen_score``, ``lp_score``, ``digit_mass``
  (P("0".."5") in total), ``meta`` (JSON of the backend's metadata), ``error`` (failed calls).

Replies are cached per row on disk (``cache_dir()/alpagasus_grades/<settings hash>.jsonl``, one JSON line
per sample key, flushed after every chunk): an interrupted run resumes where it stopped, and a changed
parser or way costs nothing (rows keep the raw reply and the digit probabilities; parsing happens here).
The key holds the backend's settings, the layout, the dimension and a version, never an API key.
Unparsed replies stay in the table (``parsed`` False, score NaN) and are counted, never dropped silently.
The filter itself, S = {x : G(x) >= tau}, is :func:`keep` (tau = 4.5), apart from scoring.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd

from .. import runtime
from ..lm.cache import sample_key
from .backends import expected_score
from .prompts import DIMENSIONS, LAYOUTS, PARSERS, _check, grading_messages, parse_score

WAYS = ("generate", "logprob")
VERSION = 1
COLUMNS = ("score", "raw", "parsed", "gen_score", "lp_score", "digit_mass", "meta", "error")
PAPER_BINS = ("<3", "3", "3.5", "4", "4.5", "5")
"""The bins of the paper's score histogram (project-page scores.svg)."""


def cache_path(settings: dict, folder=None) -> Path:
    folder = Path(folder) if folder is not None else runtime.cache_dir() / "alpagasus_grades"
    folder.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha1(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]
    return folder / f"{digest}.jsonl"


def _read_rows(path: Path) -> dict[str, dict]:
    rows = {}
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                r = json.loads(line)
                rows[r["key"]] = r
            except (ValueError, KeyError):   # a line cut short by Ctrl-C / a crash: regrade that sample
                continue
    return rows


def grade(samples, backend, *, layout: str = "code", dimension: str = "accuracy", parser: str = "robust",
          way: str = "generate", cache: bool | str | os.PathLike = True, chunk: int = 32,
          progress: bool | str = True) -> pd.DataFrame:
    """Grade every sample with `backend` (see the module docstring). ``cache``: True (default folder),
    a folder, or False. ``attrs``: graded (calls made now), seconds, failures, cache (path or None)."""
    from tqdm.auto import tqdm

    _check("layout", layout, LAYOUTS)
    _check("dimension", dimension, DIMENSIONS)
    _check("parser", parser, PARSERS)
    _check("way", way, WAYS)
    if chunk < 1:
        raise ValueError(f"chunk={chunk} must be >= 1")
    samples = list(samples)
    keys = [sample_key(s) for s in samples]
    settings = {**backend.settings(), "layout": layout, "dimension": dimension, "version": VERSION}
    path = cache_path(settings, None if cache is True else cache) if cache is not False else None
    rows = _read_rows(path) if path is not None else {}
    if path is not None and not path.with_suffix(".json").exists():
        path.with_suffix(".json").write_text(json.dumps(settings, indent=1, sort_keys=True))
    first = {k: i for i, k in reversed(list(enumerate(keys)))}
    todo = [first[k] for k in dict.fromkeys(keys) if k not in rows]
    failed: dict[str, dict] = {}
    t0 = time.perf_counter()
    bar = tqdm(total=len(todo), desc=progress if isinstance(progress, str) else "grading", leave=False,
               disable=progress is False or not todo)
    try:
        for b in range(0, len(todo), chunk):
            idx = todo[b:b + chunk]
            replies = backend.complete([grading_messages(samples[i], layout, dimension) for i in idx])
            new = []
            for i, r in zip(idx, replies):
                rec = {"key": keys[i], "text": r.text, "meta": r.meta,
                       "digits": None if r.digits is None else [float(x) for x in r.digits]}
                (failed if r.text is None else rows)[keys[i]] = rec
                if r.text is not None:
                    new.append(rec)
            if path is not None and new:
                with open(path, "a", encoding="utf-8") as f:
                    f.write("".join(json.dumps(rec) + "\n" for rec in new))
                    f.flush()
                    os.fsync(f.fileno())
            bar.update(len(idx))
    finally:
        bar.close()
    table = _frame([rows.get(k) or failed[k] for k in keys], parser, way)
    table.attrs.update(graded=len(todo), seconds=time.perf_counter() - t0, failures=int(table["error"].ne("").sum()),
                       cache=None if path is None else str(path))
    return table


def _frame(records, parser: str, way: str) -> pd.DataFrame:
    gen = np.array([np.nan if (v := parse_score(r["text"], parser)) is None else v for r in records], dtype=float)
    lp = np.array([expected_score(r["digits"]) for r in records], dtype=float).reshape(-1, 2)
    return pd.DataFrame({
        "score": gen if way == "generate" else lp[:, 0],
        "raw": [r["text"] if r["text"] is not None else "" for r in records],
        "parsed": ~np.isnan(gen), "gen_score": gen, "lp_score": lp[:, 0], "digit_mass": lp[:, 1],
        "meta": [json.dumps(r["meta"], sort_keys=True) for r in records],
        "error": [r["meta"].get("error", "") if r["text"] is None else "" for r in records]}, columns=list(COLUMNS))


def keep(scores, tau: float = 4.5) -> np.ndarray:
    """The filter of Eq. 1: S = {x : G(x) >= tau}. Unparsed (NaN) rows are dropped, as the official -1."""
    s = np.asarray(scores, dtype=float)
    return np.nan_to_num(s, nan=-np.inf) >= tau


def histogram(scores) -> dict[str, int]:
    """Counts in the paper's bins: a score falls in the bin of the half point at or below it (3.7 -> "3.5");
    ``unparsed`` counts NaN (the paper's histogram has no such bin: the official -1 rows were dropped)."""
    s = np.asarray(scores, dtype=float)
    ok = s[~np.isnan(s)]
    edges = [3.0, 3.5, 4.0, 4.5, 5.0]
    counts = np.bincount(np.searchsorted(edges, ok, side="right"), minlength=6)
    return {**{b: int(c) for b, c in zip(PAPER_BINS, counts)}, "unparsed": int(np.isnan(s).sum())}


def parse_failure_rate(table: pd.DataFrame) -> float:
    """Share of rows whose reply the parser could not read (failed calls included)."""
    return float((~table["parsed"]).mean()) if len(table) else float("nan")
