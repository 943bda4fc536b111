"""``python -m replib.filter score``: IFD / Superfiltering scores of a user's instruction data, batched,
resumable and sharded across processes.

The scorer is the workbook's :func:`replib.lm.ifd.score_ifd` (both official string logics, length-sorted
batches; equal to literal per-sample ports of the official scorers in the tests), so the numbers are the
library's. ``ifd`` = Cherry LLM's ``data_analysis.py`` logic with the Alpaca template; ``superfiltering`` =
the Superfiltering logic without a template. ``--template`` changes the prompt (and with it IFD, a known
complaint about these scores): ``alpaca`` | ``none`` | ``wiz`` put the fields into the papers' templates;
``chat`` renders the prompt with the tokenizer's chat template (``add_generation_prompt=True``). For
conversations with a non-chat template the current user turn is the instruction and the earlier turns,
rendered ``Role: text`` and separated by blank lines, are the input.

Resume: scores are cached per unit under ``cache_dir()/filter/<settings hash>/`` (the unit's content hash
x model x method settings) in append-only part files, one per finished chunk, so Ctrl-C loses at most the
chunk in flight and parallel processes never write the same file. Sharding: under ``accelerate launch``
each process takes a length-balanced share (units sorted by length, dealt out in a snake order), writes
its shard, and rank 0 merges the shards into one output in input order.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import numpy as np

from .. import runtime
from ..store import atomic_write, atomic_write_json
from .io import Unit

METHODS = {"ifd": ("cherry", "alpaca"), "superfiltering": ("superfiltering", "none")}
"""method -> (IFD style, default template). The grader method is in :mod:`replib.filter.grade`."""
TEMPLATES = ("alpaca", "none", "wiz", "chat")
VERSION = 1   # bump when the numbers a cached part holds would change


def check_choice(name: str, value, valid) -> None:
    if value not in valid:
        raise ValueError(f"unknown {name} {value!r}; valid: {', '.join(valid)}")


def model_tag(name: str) -> str:
    """What identifies the weights in the cache key: the name, or for a local folder its path + file stamps."""
    path = Path(name)
    if not path.is_dir():
        return name
    stamp = sorted((p.name, p.stat().st_size, int(p.stat().st_mtime)) for p in path.iterdir() if p.is_file())
    return f"{path.resolve()}@{hashlib.sha1(json.dumps(stamp).encode()).hexdigest()[:12]}"


def _render(messages: list[dict]) -> str:
    return "\n\n".join(f"{m['role'].capitalize()}: {m['content']}" for m in messages)


def sample_of(unit: Unit, template: str, tokenizer=None) -> dict:
    """The {instruction, input, output} the scorer sees for `unit` under `template` ('chat' -> 'raw' text)."""
    if template == "chat":
        msgs = unit.messages or [{"role": "user", "content": unit.instruction + (f"\n\n{unit.input}" if unit.input
                                                                                  else "")}]
        prompt = tokenizer.apply_chat_template(msgs, add_generation_prompt=True, tokenize=False)
        return {"instruction": prompt, "input": "", "output": unit.output}
    if unit.messages:
        last = max(i for i, m in enumerate(unit.messages) if m["role"] == "user") if any(
            m["role"] == "user" for m in unit.messages) else len(unit.messages) - 1
        return {"instruction": unit.messages[last]["content"], "input": _render(unit.messages[:last]),
                "output": unit.output}
    return {"instruction": unit.instruction, "input": unit.input, "output": unit.output}


def shard_indices(lengths, rank: int, world: int) -> np.ndarray:
    """Positions this rank scores: sorted by length (longest first), dealt 0,1,..,w-1,w-1,..,0 (snake)."""
    order = np.argsort(-np.asarray(lengths), kind="stable")
    lane = np.arange(len(order)) % (2 * world)
    lane = np.where(lane < world, lane, 2 * world - 1 - lane)
    return np.sort(order[lane == rank])


class RowCache:
    """Append-only per-unit score cache: one folder per settings, one parquet part per finished chunk."""

    def __init__(self, settings: dict, root: str | os.PathLike | None = None):
        from ..lm.cache import settings_key

        self.folder = Path(root or runtime.cache_dir() / "filter") / settings_key(settings)
        self.folder.mkdir(parents=True, exist_ok=True)
        if not (self.folder / "settings.json").exists():
            atomic_write_json(self.folder / "settings.json", settings)

    def load(self):
        import pandas as pd

        parts = []
        for p in sorted(self.folder.glob("part-*.parquet")):
            try:
                parts.append(pd.read_parquet(p))
            except (OSError, ValueError) as err:   # a torn part is not fatal: warn, rescore its rows
                print(f"warning: ignoring unreadable cache part {p} ({type(err).__name__})")
        if not parts:
            return None
        return pd.concat(parts, ignore_index=True).drop_duplicates("key", keep="last").set_index("key")

    def add(self, table) -> None:
        atomic_write(self.folder / f"part-{time.time_ns()}-{os.getpid()}.parquet",
                     lambda f: table.to_parquet(f, index=False))


def score_units(units: list[Unit], *, method: str, model: str, template: str | None = None,
                max_length: int = 512, precision: str = "auto", device="auto", batch_size: int | None = None,
                chunk: int = 512, use_cache: bool = True, cache_root=None, progress: bool = True, loader=None):
    """One row per unit: row, turn, key, every ``score_ifd`` column, failure ('' when scored).

    ``cache_root``: the row cache's folder (default ``cache_dir()/filter``).
    ``loader()`` -> (model, tokenizer) overrides how the model is loaded (tests); it is called once, only when
    something is not cached. ``attrs['scored']`` counts units computed now (0 on a fully cached rerun).
    """
    import pandas as pd
    from tqdm.auto import tqdm

    from ..lm.ifd import COLUMNS, score_ifd
    from ..lm.models import load_lm

    check_choice("method", method, tuple(METHODS))
    style, default_template = METHODS[method]
    template = template or default_template
    check_choice("template", template, TEMPLATES)
    dev = runtime.pick_device(device) if isinstance(device, str) else device
    prec = runtime.resolve_precision(precision, dev)
    settings = {"method": method, "style": style, "model": model_tag(model), "template": template,
                "max_length": max_length, "precision": prec, "device_type": dev.type, "version": VERSION}
    cache = RowCache(settings, cache_root) if use_cache else None
    have = cache.load() if cache else None
    keys = [u.key for u in units]
    todo = [i for i, u in enumerate(units) if not u.failure and (have is None or keys[i] not in have.index)]
    loaded: list = []

    def get_model():
        if not loaded:
            loaded.extend(loader() if loader else load_lm(model, device=dev, profile="full"))
        return loaded

    new = []
    bar = tqdm(total=len(todo), unit="sample", desc=f"{method} scores", disable=not progress or not todo)
    tokens, t0 = 0, time.perf_counter()
    for s in range(0, len(todo), chunk):
        idx = todo[s:s + chunk]
        lm, tok = get_model()
        samples = [sample_of(units[i], template, tok) for i in idx]
        table = score_ifd(lm, tok, samples, style=style, max_length=max_length,
                          template="raw" if template == "chat" else template, batch_size=batch_size,
                          device=dev, precision=prec, progress=False)
        table.insert(0, "key", [keys[i] for i in idx])
        if cache:
            cache.add(table)
        new.append(table)
        tokens += table.attrs["tokens"]
        bar.update(len(idx))
        dt = max(time.perf_counter() - t0, 1e-9)
        bar.set_postfix({"samples/s": f"{bar.n / dt:.1f}", "tokens/s": f"{tokens / dt:.0f}"})
    bar.close()
    parts = [have.reset_index()] if have is not None else []
    found = pd.concat(parts + new, ignore_index=True).drop_duplicates("key", keep="last").set_index("key") \
        if parts or new else pd.DataFrame(columns=list(COLUMNS)).rename_axis("key")
    out = pd.DataFrame({"row": [u.row for u in units], "turn": [u.turn for u in units], "key": keys})
    ok = np.array([not u.failure for u in units])
    scores = found.reindex([k if o else None for k, o in zip(keys, ok)])[list(COLUMNS)].reset_index(drop=True)
    out = pd.concat([out, scores], axis=1)
    # a unit that gave nothing to score, or one the scorer could not score (NaN): the reason, never a silent 0
    nan = out["ifd_loss"].isna().to_numpy()
    out["failure"] = [u.failure or (str(s) if bad else "") for u, s, bad in zip(units, out["skip"], nan)]
    out.attrs.update(scored=len(todo), seconds=time.perf_counter() - t0, tokens=tokens)
    return out
