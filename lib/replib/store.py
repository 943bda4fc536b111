"""Files a run leaves behind, written so that nothing is ever half-written, and raw results that
round-trip exactly (DESIGN.md, "Report and claims").

- `atomic_write_text` / `atomic_write_json`: temp file in the same folder, fsync, then os.replace.
- `to_jsonable`: plain-python copy of numpy / torch / dataclass values, NaN and inf as null.
- `encode_results` / `decode_results`: the raw results a paper's claims are computed from (pandas
  frames, numpy arrays, nested dicts and lists of numbers), stored as JSON with their dtypes so that
  `python -m replib.report --check` rebuilds every claim from exactly the numbers the notebook used.
- `config_from_dict`: a paper's Config dataclass back from the dict stored in results.json.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import tempfile
from pathlib import Path

import numpy as np


def atomic_write(path, write) -> Path:
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
    return atomic_write(path, lambda f: f.write(text.encode("utf-8")))


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


# ----------------------------------------------------------------------------- raw results
_FRAME, _ARRAY = "__frame__", "__array__"


def encode_results(obj, where: str = "results"):
    """JSON-ready copy of raw results; frames and arrays keep their dtypes (see `decode_results`).

    Values must be finite or NaN (NaN is stored as null and comes back as NaN in float columns).
    """
    import pandas as pd

    if isinstance(obj, pd.DataFrame):
        if not all(isinstance(c, str) for c in obj.columns):
            raise TypeError(f"{where}: frame columns must be strings, got {list(obj.columns)}")
        frame = obj.reset_index(drop=True)
        data = {c: to_jsonable(frame[c].tolist()) for c in frame.columns}
        return {_FRAME: {"dtypes": {c: str(t) for c, t in frame.dtypes.items()}, "data": data}}
    if isinstance(obj, np.ndarray):
        return {_ARRAY: {"dtype": str(obj.dtype), "shape": list(obj.shape), "data": to_jsonable(obj.ravel().tolist())}}
    if isinstance(obj, dict):
        return {str(k): encode_results(v, f"{where}.{k}") for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [encode_results(v, f"{where}[{i}]") for i, v in enumerate(obj)]
    return to_jsonable(obj, where=where)


def decode_results(obj):
    """Inverse of `encode_results`: frames and arrays come back with their dtypes, null -> NaN in floats."""
    import pandas as pd

    if isinstance(obj, dict):
        if set(obj) == {_FRAME}:
            spec = obj[_FRAME]
            cols = {}
            for c, t in spec["dtypes"].items():
                v = spec["data"][c]
                # float columns: null -> NaN; other dtypes (int, bool, str, object) as stored
                cols[c] = pd.Series(v, dtype="float64").astype(t) if t.startswith("float") else pd.Series(v, dtype=t)
            return pd.DataFrame(cols)
        if set(obj) == {_ARRAY}:
            spec = obj[_ARRAY]
            data = [math.nan if v is None else v for v in spec["data"]]
            return np.asarray(data, dtype=spec["dtype"]).reshape(spec["shape"])
        return {k: decode_results(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [decode_results(v) for v in obj]
    return obj


def config_from_dict(cls: type, stored: dict):
    """`cls(**stored)` with JSON lists turned back into the tuples the dataclass defaults use."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(stored) - set(fields))
    if unknown:
        raise ValueError(f"stored config has fields {unknown} that {cls.__module__}.{cls.__name__} does not know")

    def tuples(v):
        return tuple(tuples(x) for x in v) if isinstance(v, list) else v

    return cls(**{k: tuples(v) for k, v in stored.items()})
