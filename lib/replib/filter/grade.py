"""``python -m replib.filter score --method grader``: AlpaGasus grades (0-5, Eq. 1) of a user's data.

The grader is :func:`replib.alpagasus.grader.grade` with the gpt4life prompt (layout ``code``, dimension
accuracy) and the robust parser, behind one of two backends:

* a local causal LM (``--model`` a registry name, folder or hub id): chat template, batched greedy decoding
  that stops at the first newline (the score line), plus the expected score over "0".."5" at the score
  position (``lp_score``, defined even when the reply has no number);
* a served model (``--base-url http://host:port/v1 --model NAME``: vLLM, ``transformers serve``, OpenAI)
  through the OpenAI-compatible chat API with ``--concurrency`` requests in flight; the API key is read from
  ``OPENAI_API_KEY`` only and never written anywhere.

Conversation turns are graded with the earlier turns as the Input block. Replies are cached per row by the
grader (content hash x backend settings), so a rerun resumes; a failed call or an unparsed reply is a row
with ``failure`` set, never a score of 0.
"""
from __future__ import annotations

import numpy as np

from .io import Unit
from .score import model_tag, sample_of


def grade_units(units: list[Unit], *, model: str, base_url: str | None = None, concurrency: int = 8,
                device="auto", precision: str = "auto", batch_size: int | None = None, use_cache: bool = True,
                cache_root=None, way: str = "generate", progress: bool = True, backend=None):
    """One row per unit: row, turn, key, the grader's columns (score, raw, parsed, gen_score, lp_score,
    digit_mass, meta, error) and failure. ``way``: 'generate' (the parsed reply, the paper's) or 'logprob'
    (the expected score) fills ``score``. ``backend`` overrides the one built from the arguments (tests)."""
    import pandas as pd

    from .. import runtime
    from ..alpagasus.grader import grade

    if backend is None:
        if base_url:
            from ..alpagasus.api import OpenAIBackend

            backend = OpenAIBackend(model, base_url=base_url, concurrency=concurrency)
        else:
            from ..alpagasus.backends import HFBackend
            from ..lm.models import load_lm

            dev = runtime.pick_device(device) if isinstance(device, str) else device
            lm, tok = load_lm(model, device=dev, profile="full")
            backend = HFBackend(lm, tok, name=model_tag(model), batch_size=batch_size or 8, precision=precision)
    ok = [i for i, u in enumerate(units) if not u.failure]
    samples = [sample_of(units[i], "alpaca") for i in ok]
    cache = False if not use_cache else (True if cache_root is None else cache_root)
    table = grade(samples, backend, cache=cache, way=way, progress="grading" if progress else False)
    out = pd.DataFrame({"row": [u.row for u in units], "turn": [u.turn for u in units],
                        "key": [u.key for u in units]})
    full = pd.DataFrame(index=range(len(units)), columns=table.columns)
    full.loc[ok] = table.to_numpy()
    full["score"] = full["score"].astype(float)
    failure = np.array([u.failure for u in units], dtype=object)
    for j, i in enumerate(ok):
        err, parsed = table["error"].iat[j], bool(table["parsed"].iat[j])
        failure[i] = err or ("" if parsed or way == "logprob" else "reply has no score (unparsed)")
    out = pd.concat([out, full], axis=1)
    out["failure"] = failure.astype(str)
    out.attrs.update(table.attrs)
    return out
