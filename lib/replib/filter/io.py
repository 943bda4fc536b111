"""Reading users' instruction data into scoring units, and writing a chosen subset back in its own schema.

Formats (by extension, or ``hf:NAME[:split]`` through ``datasets``):

* Alpaca: ``.json`` (a list of objects) or ``.jsonl`` with ``instruction``, optional ``input``, ``output``.
* Conversations: ``.jsonl`` / ``.json`` rows with ``messages`` (``[{"role": "user"|"assistant"|"system",
  "content": ...}]``) or ShareGPT ``conversations`` (``[{"from": "human"|"gpt"|"system", "value": ...}]``).
  Every assistant turn is one unit whose prompt is the history before it.
* ``.parquet`` with either schema.

``--fields instruction=question,input=context,output=answer`` maps other column names onto the Alpaca ones.
One row of the input gives one unit (Alpaca) or one unit per assistant turn (conversations); a row that
gives none (no assistant turn) still gets one output row with its ``failure`` reason; an empty answer is
passed to the scorer, whose own skip reason becomes the failure (as the library reports it).
Every problem with the file (missing fields, an empty file, a malformed line) raises :class:`InputError`
naming the file, the line and what was found, before any model loads.
"""
from __future__ import annotations

import gzip
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

ALPACA = ("instruction", "input", "output")
ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant", "model": "assistant",
         "system": "system", "chatgpt": "assistant", "bing": "assistant", "bard": "assistant"}


class InputError(ValueError):
    """The input file cannot be read as instruction data; the message says where and why."""


@dataclass
class Unit:
    """One scored answer: its prompt as messages (conversations) or Alpaca fields, and where it came from."""

    row: int
    turn: int
    messages: list = field(default_factory=list)     # history + the current user turn (conversations)
    instruction: str = ""
    input: str = ""
    output: str = ""
    failure: str = ""                                # why this row gives nothing to score ("" = fine)

    @property
    def key(self) -> str:
        """Content hash of what is scored (prompt and answer), independent of the row's position."""
        body = json.dumps([self.messages, self.instruction, self.input, self.output], ensure_ascii=False)
        return hashlib.sha1(body.encode("utf-8")).hexdigest()


def parse_fields(spec: str | None) -> dict[str, str]:
    """'instruction=q,input=ctx,output=a' -> {'q': 'instruction', 'ctx': 'input', 'a': 'output'}."""
    if not spec:
        return {}
    out = {}
    for part in spec.split(","):
        ours, _, theirs = part.partition("=")
        if ours.strip() not in ALPACA or not theirs.strip():
            raise InputError(f"--fields entry {part!r}: expected NAME=COLUMN with NAME one of {', '.join(ALPACA)}")
        out[theirs.strip()] = ours.strip()
    return out


def _open(path: Path):
    return gzip.open(path, "rt", encoding="utf-8") if path.suffix == ".gz" else open(path, encoding="utf-8")


def read_rows(source: str) -> tuple[list[dict], str]:
    """(rows as dicts, format name: 'json' | 'jsonl' | 'parquet' | 'hf') of a file or ``hf:NAME[:split]``."""
    if source.startswith("hf:"):
        import datasets

        name, _, split = source[3:].partition(":")
        try:
            ds = datasets.load_dataset(name, split=split or "train")
        except Exception as err:   # network, unknown name, ...: one clear message
            raise InputError(f"{source}: datasets.load_dataset({name!r}, split={split or 'train'!r}) failed: {err}") \
                from err
        rows = [dict(r) for r in ds]
        fmt = "hf"
    else:
        path = Path(source)
        if not path.is_file():
            raise InputError(f"input file {source} does not exist")
        suffixes = [s for s in path.suffixes if s != ".gz"]
        kind = suffixes[-1] if suffixes else ""
        if kind == ".parquet":
            import pandas as pd

            rows, fmt = pd.read_parquet(path).to_dict("records"), "parquet"
        elif kind == ".jsonl":
            rows, fmt = [], "jsonl"
            with _open(path) as fh:
                for n, line in enumerate(fh, 1):
                    if not line.strip():
                        continue
                    try:
                        rows.append(json.loads(line))
                    except json.JSONDecodeError as err:
                        raise InputError(f"{source}, line {n}: not valid JSON ({err.msg}): {line[:80]!r}") from err
        elif kind == ".json":
            with _open(path) as fh:
                try:
                    rows = json.load(fh)
                except json.JSONDecodeError as err:
                    raise InputError(f"{source}: not valid JSON at line {err.lineno} ({err.msg})") from err
            fmt = "json"
            if isinstance(rows, dict):    # {"data": [...]} or similar: one list inside
                lists = [v for v in rows.values() if isinstance(v, list)]
                if len(lists) != 1:
                    raise InputError(f"{source}: a JSON object; expected a list of rows (or one list inside)")
                rows = lists[0]
        else:
            raise InputError(f"{source}: unknown format {kind or '(no extension)'!r}; use .json, .jsonl, .parquet "
                             f"(optionally .gz) or hf:NAME[:split]")
    if not rows:
        raise InputError(f"{source}: no rows (empty file)")
    bad = next((i for i, r in enumerate(rows) if not isinstance(r, dict)), None)
    if bad is not None:
        raise InputError(f"{source}: row {bad + 1} is a {type(rows[bad]).__name__}, not an object")
    return rows, fmt


def _turns(conv, where: str) -> list[dict]:
    """Normalise 'messages' / 'conversations' entries to [{'role', 'content'}]."""
    if not isinstance(conv, list):
        raise InputError(f"{where}: conversation is a {type(conv).__name__}, expected a list of turns")
    out = []
    for j, t in enumerate(conv):
        role = t.get("role", t.get("from")) if isinstance(t, dict) else None
        text = t.get("content", t.get("value")) if isinstance(t, dict) else None
        if role is None or not isinstance(text, str) or str(role).lower() not in ROLES:
            raise InputError(f"{where}, turn {j}: expected role/content (or from/value) with a known role "
                             f"({', '.join(sorted(ROLES))}); got {str(t)[:80]!r}")
        out.append({"role": ROLES[str(role).lower()], "content": text})
    return out


def to_units(rows: list[dict], source: str, fields: dict[str, str] | None = None) -> tuple[list[Unit], str]:
    """(units, schema 'alpaca' | 'messages' | 'conversations'). The schema is read from the first row and every
    row must follow it; a missing field is named together with the fields the row has."""
    fields = fields or {}
    first = {fields.get(k, k) for k in rows[0]}
    schema = ("messages" if "messages" in first else "conversations" if "conversations" in first else "alpaca")
    units = []
    for i, raw in enumerate(rows):
        where = f"{source}, row {i + 1}"
        r = {fields.get(k, k): v for k, v in raw.items()}
        if schema == "alpaca":
            missing = [k for k in ("instruction", "output") if k not in r]
            if missing:
                raise InputError(f"{where}: missing field(s) {missing}; the row has {sorted(raw)}. Map other names "
                                 f"with --fields instruction=...,input=...,output=...")
            vals = {k: "" if r.get(k) is None else r.get(k, "") for k in ALPACA}
            if not all(isinstance(v, str) for v in vals.values()):
                raise InputError(f"{where}: instruction/input/output must be strings, got "
                                 f"{ {k: type(v).__name__ for k, v in vals.items()} }")
            units.append(Unit(i, 0, instruction=vals["instruction"], input=vals["input"], output=vals["output"]))
            continue
        if schema not in r:
            raise InputError(f"{where}: missing field {schema!r} (the first row has it); the row has {sorted(raw)}")
        conv = _turns(r[schema], where)
        found = False
        for j, t in enumerate(conv):
            if t["role"] == "assistant" and j > 0:
                found = True
                units.append(Unit(i, j, messages=conv[:j], output=t["content"]))
        if not found:
            units.append(Unit(i, -1, messages=conv, failure="no assistant turn after a prompt"))
    return units, schema


def load_units(source: str, fields: str | None = None) -> tuple[list[dict], list[Unit], str, str]:
    """(rows, units, format, schema) of ``source``; every input check happens here, before any model."""
    rows, fmt = read_rows(source)
    units, schema = to_units(rows, source, parse_fields(fields))
    return rows, units, fmt, schema


def write_rows(rows: list[dict], path: str | os.PathLike, fmt: str | None = None) -> Path:
    """Write rows atomically as .json (list), .jsonl or .parquet (by ``fmt`` or the extension), unchanged."""
    import pandas as pd

    from ..store import atomic_write, atomic_write_text

    fmt = fmt or Path(path).suffix.lstrip(".")
    if fmt == "parquet":
        return atomic_write(path, lambda f: pd.DataFrame(rows).to_parquet(f, index=False))
    if fmt == "jsonl":
        return atomic_write_text(path, "".join(json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in rows))
    if fmt in ("json", "hf"):
        return atomic_write_text(path, json.dumps(rows, ensure_ascii=False, indent=1, default=str))
    raise InputError(f"cannot write {path}: unknown format {fmt!r} (use .json, .jsonl or .parquet)")


def write_table(table, path: str | os.PathLike) -> Path:
    """Write a scores table atomically as .parquet, .csv, .jsonl or .json (by the extension)."""
    from ..store import atomic_write

    suffix = Path(path).suffix
    if suffix == ".parquet":
        return atomic_write(path, lambda f: table.to_parquet(f, index=False))
    if suffix == ".csv":
        return atomic_write(path, lambda f: f.write(table.to_csv(index=False).encode("utf-8")))
    return write_rows(table.to_dict("records"), path)
