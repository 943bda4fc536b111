"""Datasets by short name: instruction data, GLUE, instruction test sets, judge reviews (images in ``images``).

Every loader resolves its files through ``locate.find_file`` (search order, sha256 check) and checks the
row count against MANIFEST.md, so a truncated copy fails loudly instead of shifting a result.

* ``alpaca-random-9k``, ``alpagasus-*``, ``cherry-alpaca-5pct``: list of dicts with instruction/input/output
  (Dolly keeps its ``category``). ``alpaca`` (52k) comes only from the hub, with profile 'full' online.
* ``glue/<task>`` with ``split`` in train/dev/test: a DataFrame with uniform columns sentence1, sentence2
  (None for single-sentence tasks), label, idx. Labels follow the Hugging Face ``glue`` order
  (RTE/QNLI entailment=0, not_entailment=1; others as in the file; STS-B a float score); unlabeled
  test rows get -1. GLUE tsvs contain stray quotes, so they are read with ``csv.QUOTE_NONE``.
* ``instruct-eval/<set>``: list of dicts, the original fields plus ``prompt`` (the whole user turn),
  ``instruction`` and ``input`` (only Self-Instruct has a separate input).
* ``cherry-reviews/<set>-<judge>``: the parsed JSON ``{Meta_Info, data}``.
"""
from __future__ import annotations

import csv
import gzip
import json
from dataclasses import dataclass

from .. import runtime
from .locate import expected_rows, find_file, hub_allowed, hub_snapshot
from .registry import ASSETS, GLUE_SPLIT_FILES, AssetError, names


@dataclass(frozen=True)
class GlueTask:
    """Metadata of one GLUE task as ``load_dataset('glue/<task>')`` returns it."""

    num_labels: int
    """1 for the STS-B regression, else the number of classes."""
    text_columns: tuple[str, ...]
    """Uniform text columns that hold text for this task (sentence2 is None for single-sentence tasks)."""
    metric: str
    """The paper-table metric: 'acc', 'f1/acc', 'mcc' or 'pearson/spearman'."""
    label_names: tuple[str, ...]
    """Class names by label id (HF glue order); empty for STS-B."""
    hub_config: str
    """Config of the hub dataset nyu-mll/glue (used only with profile 'full' online)."""
    rows: dict
    """Expected rows per split, as in MANIFEST.md."""

    @property
    def metrics(self) -> tuple[str, ...]:
        return tuple(self.metric.split("/"))

    @property
    def is_regression(self) -> bool:
        return self.num_labels == 1


_PAIR, _SINGLE = ("sentence1", "sentence2"), ("sentence1",)
GLUE_TASKS: dict[str, GlueTask] = {
    "RTE": GlueTask(2, _PAIR, "acc", ("entailment", "not_entailment"), "rte", {"train": 2490, "dev": 277, "test": 3000}),  # noqa: E501
    "MRPC": GlueTask(2, _PAIR, "f1/acc", ("not_equivalent", "equivalent"), "mrpc", {"train": 3668, "dev": 408, "test": 1725}),  # noqa: E501
    "CoLA": GlueTask(2, _SINGLE, "mcc", ("unacceptable", "acceptable"), "cola", {"train": 8551, "dev": 1043, "test": 1063}),  # noqa: E501
    "SST-2": GlueTask(2, _SINGLE, "acc", ("negative", "positive"), "sst2", {"train": 67349, "dev": 872, "test": 1821}),
    "STS-B": GlueTask(1, _PAIR, "pearson/spearman", (), "stsb", {"train": 5749, "dev": 1500, "test": 1379}),
    "QNLI": GlueTask(2, _PAIR, "acc", ("entailment", "not_entailment"), "qnli", {"train": 104743, "dev": 5463, "test": 5463}),  # noqa: E501
    "WNLI": GlueTask(2, _PAIR, "acc", ("not_entailment", "entailment"), "wnli", {"train": 635, "dev": 71, "test": 146}),
}
# task -> (header?, sentence1 column, sentence2 column, label column, idx column) in the labelled files
_GLUE_COLUMNS = {
    "RTE": (True, "sentence1", "sentence2", "label", "index"),
    "QNLI": (True, "question", "sentence", "label", "index"),
    "WNLI": (True, "sentence1", "sentence2", "label", "index"),
    "MRPC": (True, "#1 String", "#2 String", "Quality", None),
    "CoLA": (False, "sentence", None, "label", None),
    "SST-2": (True, "sentence", None, "label", None),
    "STS-B": (True, "sentence1", "sentence2", "score", "index"),
}
_COLA_NAMES = ["source", "label", "orig_label", "sentence"]  # CoLA train/dev have no header
_HUB_SPLIT = {"train": "train", "dev": "validation", "test": "test"}


def _dataset_names() -> list[str]:
    return names("text", "glue", "instruct-eval", "reviews", "images")


def _check_split(name: str, split, allowed: tuple) -> None:
    if split not in allowed:
        shown = ", ".join("None" if s is None else repr(s) for s in allowed)
        raise ValueError(f"dataset {name!r} has no split {split!r}; available splits: {shown}")


def _check_rows(name: str, rel: str, path, n: int) -> None:
    want = expected_rows(rel, path)
    if want is not None and n != want:
        raise AssetError(f"asset {name!r}: {path} has {n} rows, MANIFEST.md says {want}: the file is truncated "
                         "or was changed; copy it again from ../shared/data")


# --------------------------------------------------------------------------- instruction data
def _json_list(name: str, rel: str, jsonl: bool = False) -> list:
    path = find_file(name, rel)
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh if line.strip()] if jsonl else json.load(fh)
    _check_rows(name, rel, path, len(rows))
    return rows


def _alpaca_hub(profile: str) -> list[dict]:
    """Alpaca-52k at profile 'full': the copy `hf download` left in the Hugging Face cache, else the hub."""
    asset = ASSETS["alpaca"]
    snapshot = hub_snapshot(asset.hub, "dataset") if runtime.check_profile(profile) == "full" else None
    if snapshot is None and not hub_allowed(profile):
        why = f"profile={profile!r}" if profile != "full" else "the hub is not reachable (offline)"
        raise AssetError(f"asset 'alpaca' (Stanford Alpaca 52k) has no offline copy and {why}.\n"
                         f"Searched: the Hugging Face cache and hub {asset.hub} (profile='full' only).\n"
                         f"Fix: {asset.fix} while online (profile='full' then reads that copy offline); "
                         f"offline stand-in: load_dataset('alpaca-random-9k')")
    import datasets

    table = datasets.load_dataset(str(snapshot) if snapshot else asset.hub, split="train")
    return [{k: r[k] for k in ("instruction", "input", "output")} for r in table]


def _prompt_fields(which: str, row: dict) -> dict:
    """Uniform `prompt`, `instruction`, `input` for the five test-set schemas."""
    if which == "sinstruct":
        instruction, inp = row["instruction"], (row.get("instances") or [{}])[0].get("input", "")
    else:
        key = {"vicuna": "text", "koala": "prompt", "wizardlm": "Instruction", "lima": "conversations"}[which]
        instruction, inp = row[key], ""
        if isinstance(instruction, list):  # LIMA's conversations may be a list of turns
            instruction = instruction[0]
    prompt = f"{instruction}\n\n{inp}" if inp else instruction
    return {**row, "prompt": prompt, "instruction": instruction, "input": inp}


# --------------------------------------------------------------------------- GLUE
def glue_task(name: str) -> str:
    """'glue/rte', 'RTE', 'sst2', 'glue/SST-2' -> the canonical task key of GLUE_TASKS."""
    key = name.split("/", 1)[1] if name.lower().startswith("glue/") else name
    for task in GLUE_TASKS:
        if key.replace("-", "").lower() == task.replace("-", "").lower():
            return task
    raise ValueError(f"unknown GLUE task {name!r}; valid: {', '.join('glue/' + t for t in GLUE_TASKS)}")


def _read_glue(task: str, split: str, path):
    import pandas as pd

    header, s1, s2, label, idx = _GLUE_COLUMNS[task]
    if split == "test":  # unlabeled files, all with a header and an `index` column
        header, label, idx = True, None, "index"
        s1, s2 = {"QNLI": ("question", "sentence")}.get(task, (s1, s2))
    df = pd.read_csv(path, sep="\t", quoting=csv.QUOTE_NONE, header=0 if header else None,
                     names=None if header else _COLA_NAMES, dtype=str, keep_default_na=False,
                     na_filter=False, encoding="utf-8-sig", compression="gzip")
    n = len(df)
    out = pd.DataFrame({"sentence1": df[s1], "sentence2": df[s2] if s2 else [None] * n})
    meta = GLUE_TASKS[task]
    if label is None:
        out["label"] = -1.0 if meta.is_regression else -1
    elif meta.is_regression:
        out["label"] = df[label].astype(float)
    elif task in ("RTE", "QNLI"):  # text labels -> HF glue ids
        mapped = df[label].map({name: i for i, name in enumerate(meta.label_names)})
        if mapped.isna().any():
            raise AssetError(f"asset 'glue/{task}': {path} has unknown labels "
                             f"{sorted(set(df[label][mapped.isna()]))[:5]}; copy it again from ../shared/data")
        out["label"] = mapped.astype(int)
    else:
        out["label"] = df[label].astype(int)
    out["idx"] = df[idx].astype(int).to_numpy() if idx else range(n)
    return out


def _glue_hub(task: str, split: str):
    import datasets

    df = datasets.load_dataset("nyu-mll/glue", GLUE_TASKS[task].hub_config, split=_HUB_SPLIT[split]).to_pandas()
    df = df.rename(columns={"sentence": "sentence1", "question": "sentence1"} if task != "QNLI"
                   else {"question": "sentence1", "sentence": "sentence2"})
    if "sentence2" not in df:
        df["sentence2"] = None
    return df[["sentence1", "sentence2", "label", "idx"]].reset_index(drop=True)


def _glue(task: str, split, profile: str):
    name = f"glue/{task}"
    if split == "validation":
        split = "dev"
    local = GLUE_SPLIT_FILES[task]
    if split not in ("train", "dev", "test"):
        raise ValueError(f"dataset {name!r} needs split= one of: {', '.join(local)}"
                         + (" (train only from the hub, profile='full' online)" if task == "QNLI" else "")
                         + f"; got {split!r}")
    if split not in local:
        if hub_allowed(profile):
            return _glue_hub(task, split)
        raise AssetError(f"asset {name!r}: split {split!r} has no offline file (available offline: "
                         f"{', '.join(local)}).\nSearched: ../shared/data/glue/{task}; the hub nyu-mll/glue is "
                         f"used only with profile='full' online (profile={profile!r}).\n"
                         f"Fix: run with profile='full' on a machine online, or use split='dev'")
    try:
        path = find_file(name, local[split])
    except AssetError:
        if hub_allowed(profile):
            return _glue_hub(task, split)
        raise
    df = _read_glue(task, split, path)
    _check_rows(name, local[split], path, len(df))
    return df


# --------------------------------------------------------------------------- entry point
def load_dataset(name: str, *, split: str | None = None, profile: str = "quick"):
    """Load a registered dataset by short name; see the module docstring for what each kind returns.

    Unknown names raise ValueError listing the valid ones; a missing or corrupt file raises AssetError
    naming the file, every place searched and the fix.
    """
    runtime.check_profile(profile)
    if name.lower().startswith("glue/"):
        return _glue(glue_task(name), split, profile)
    asset = ASSETS.get(name)
    if asset is None or asset.kind not in ("text", "instruct-eval", "reviews", "images"):
        raise ValueError(f"unknown dataset {name!r}; valid names: {', '.join(_dataset_names())}")
    if asset.kind == "text":
        _check_split(name, split, (None, "train"))
        if name == "alpaca":
            return _alpaca_hub(profile)
        return _json_list(name, asset.files[0])
    if asset.kind == "instruct-eval":
        _check_split(name, split, (None, "test"))
        which = name.split("/", 1)[1]
        return [_prompt_fields(which, r) for r in _json_list(name, asset.files[0], jsonl=True)]
    if asset.kind == "reviews":
        _check_split(name, split, (None,))
        with gzip.open(find_file(asset, asset.files[0]), "rt", encoding="utf-8") as fh:
            return json.load(fh)
    from . import images

    _check_split(name, split, (None, "train", "test"))
    return images.load_images(name, split)


__all__ = ["GLUE_TASKS", "GlueTask", "glue_task", "load_dataset"]
