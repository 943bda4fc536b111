"""Offline-first registry of the models and datasets the ten replications use (DESIGN.md, "Assets").

A short name resolves to files on disk, the files are checked (sha256 from MANIFEST.md or a built-in
table), and slow conversions (dequantised GGUF, decoded images) are cached once under
``runtime.cache_dir()`` (``~/.cache/replib`` or ``$REPLIB_CACHE``). A missing or corrupt asset raises
:class:`AssetError` naming the file, every place searched, and the command that provides it.

Public API::

    load_causal_lm(name, *, device="cpu", dtype="float32", profile="quick") -> (model, tokenizer)
    load_lm_tokenizer(name) -> tokenizer            # a GGUF LM's tokenizer without its weights
    load_encoder(name="minilm-l6", device="cpu") -> (model, tokenizer)
    encoder_path(name="minilm-l6") -> Path
    load_dataset(name, *, split=None, profile="quick") -> list[dict] | dict | pandas.DataFrame
    available(verify=False) -> list[dict]          # also: python -m replib.assets [--verify] [--json]
    status(name) -> dict                           # a registered asset or a hub model id: present?, fetch command
    require(names, profile="full") -> list[dict]   # one AssetError naming every missing asset and its command
    GLUE_TASKS, ASSETS, AssetError, data_roots(), is_online()

Names: ``python -m replib.assets`` prints the table; ``python -m replib.assets --profile full`` lists what
every paper's config needs at that profile, with its status and fetch command. Importing this package does
no I/O and imports neither torch nor transformers; they load on first use.
"""
from __future__ import annotations

from .data import GLUE_TASKS, GlueTask, glue_task, load_dataset
from .inventory import available, require, status
from .locate import data_roots, find_file, is_online, sha256_file
from .models import encoder_path, load_causal_lm, load_encoder, load_lm_tokenizer
from .registry import ASSETS, AssetError, names

__all__ = [
    "ASSETS", "AssetError", "GLUE_TASKS", "GlueTask", "available", "data_roots", "encoder_path",
    "find_file", "glue_task", "is_online", "load_causal_lm", "load_dataset", "load_encoder",
    "load_lm_tokenizer", "names", "require", "sha256_file", "status",
]
