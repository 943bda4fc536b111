"""On-disk cache of IFD scores, per sample, keyed by model, scorer settings and the sample's text.

``cached_score_ifd("smollm2-135m-instruct", loader, samples, style=..., max_length=...)`` returns the same
table as :func:`replib.lm.ifd.score_ifd`, scoring only the samples the cache has not seen under those
settings, so a smoke run warms the quick run, the IFD and Superfiltering notebooks share work and a
rerun costs nothing. The model is loaded (``loader()``) only when something is missing.

The settings are the model tag, style, max_length, template, the device type the scores were computed
on and the resolved precision ('fp32' / 'bf16'): a bf16 or GPU score never answers an fp32 CPU request.

Layout: ``cache_dir()/ifd_scores/<settings hash>.parquet`` (one row per sample key) beside a
``.json`` with the settings in clear. Files are written to a temporary name and renamed.
"""
from __future__ import annotations

import hashlib
import json
import os
import uuid
from pathlib import Path

import numpy as np

from .. import runtime
from .ifd import COLUMNS, score_ifd

VERSION = 1   # bump when the scorer's numbers change


def sample_key(sample: dict) -> str:
    """A stable key for one instruction sample (instruction, input, output)."""
    text = json.dumps([sample.get("instruction", ""), sample.get("input", "") or "", sample.get("output", "")])
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def settings_key(settings: dict) -> str:
    return hashlib.sha1(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]


def score_settings(model_tag: str, *, style: str, max_length: int, template: str | None, precision: str,
                   device) -> dict:
    """What a cached score depends on: the weights, the scorer settings, the device type and the precision
    resolved on it (``runtime.resolve_precision``: 'auto' is stored as the 'fp32' or 'bf16' it means)."""
    kind = runtime.device_type(device)
    return {"model": model_tag, "style": style, "max_length": max_length, "template": template, "device": kind,
            "precision": runtime.resolve_precision(precision, kind), "version": VERSION}


def _path(settings: dict) -> Path:
    folder = runtime.cache_dir() / "ifd_scores"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{settings_key(settings)}.parquet"


def _write(table, path: Path, settings: dict) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        table.to_parquet(tmp, index=False)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    meta = path.with_suffix(".json")
    tmp = meta.with_name(f".{meta.name}.{uuid.uuid4().hex[:8]}.tmp")
    tmp.write_text(json.dumps(settings, indent=1, sort_keys=True))
    os.replace(tmp, meta)


def _read(path: Path):
    import pandas as pd

    if not path.exists():
        return None
    try:
        table = pd.read_parquet(path)
    except (OSError, ValueError) as err:   # a corrupt cache file is not fatal: warn, rescore
        print(f"warning: ignoring unreadable IFD score cache {path} ({type(err).__name__}: {err})")
        return None
    return table if {"key", *COLUMNS} <= set(table.columns) else None


def cached_score_ifd(model_tag: str, loader, samples, *, style: str = "cherry", max_length: int = 512,
                     template: str | None = None, precision: str = "fp32", use_cache: bool = True,
                     device=None, **score_kwargs):
    """:func:`score_ifd` through the disk cache.

    `model_tag` names the weights exactly (e.g. ``"smollm2-135m-instruct"``, or a tag that includes the
    hash of a fine-tuning configuration); `loader()` returns ``(model, tokenizer)`` and is called only
    when samples are missing. `device` is where the model is (default: where ``runtime.pick_device('auto')``
    puts it, i.e. CUDA when available); its type and `precision` ('fp32', 'bf16' or 'auto', resolved on
    `device` by ``runtime.resolve_precision``; it picks the autocast) are part of the key. A loaded model
    on another device type than `device` raises ValueError (its scores would be filed under the wrong key).
    ``table.attrs``: ``scored`` (how many were computed now) and ``seconds`` (their scoring time).
    """
    import pandas as pd
    import torch

    device = torch.device(device) if device is not None else runtime.pick_device("auto")
    settings = score_settings(model_tag, style=style, max_length=max_length, template=template,
                              precision=precision, device=device)
    resolved = settings["precision"]
    samples = list(samples)
    keys = [sample_key(s) for s in samples]
    path = _path(settings)
    have = _read(path) if use_cache else None
    known = set(have.key) if have is not None else set()
    todo = [i for i, k in enumerate(keys) if k not in known]
    seconds = 0.0
    if todo:
        model, tokenizer = loader()
        where = next(model.parameters()).device
        if where.type != device.type:
            raise ValueError(f"cached_score_ifd: the model is on {where} but device={device}; pass the model's "
                             f"device (device={str(where)!r}) so that its scores are filed under it")
        new = score_ifd(model, tokenizer, [samples[i] for i in todo], style=style, max_length=max_length,
                        template=template, precision=resolved, device=device, **score_kwargs)
        seconds = new.attrs["seconds"]
        new.insert(0, "key", [keys[i] for i in todo])
        have = new if have is None else pd.concat([have, new], ignore_index=True)
        have = have.drop_duplicates("key", keep="last")
        if use_cache:
            _write(have, path, settings)
    table = have.set_index("key").loc[keys, list(COLUMNS)].reset_index(drop=True)
    for col in ("n_prompt", "n_cond", "n_dir"):
        table[col] = table[col].astype(np.int64)
    table.attrs.update(scored=len(todo), seconds=seconds)
    return table
