"""Models of the MerA notebook and the pretrained source adapters, cached on disk (papers/mera.md Sec. 2, 6).

Every model is a copy of the frozen encoder top (``replib.nn.glue.split_encoder``) with one Pfeiffer adapter
per layer (``replib.nn.adapters``, the classic AdapterFusion setting) and a new pooled linear head:

- ``adapter_model``: one adapter set, random ('bert' init, N(0, 0.02)) or loaded from given states
  (a source adapter, or a MerA merge), then fine-tuned with its head.
- ``fusion_model``: AdapterFusion over N frozen source sets (``fusion.insert_fusion``).
- ``full_model``: every parameter of the top trainable (full fine-tuning of the part that is not cached).
The head is initialised from the run's seed after the encoder is built, so every method of one seed starts
from the same head.

Source adapters: one set per source task, each from its own random init (init seed = the source seed; the
shared-init ablation gives every task the same init seed), trained on the source's training data with its own
head. Each is saved as safetensors (adapter modules, head, dev accuracy) under
``runtime.cache_dir()/"mera"``, named by encoder, task, seed and a hash of every setting that changes the
result, and written atomically, so reruns load instead of retraining.
"""
from __future__ import annotations

import copy
import hashlib
import json
import re
import time
from dataclasses import dataclass

import torch
from torch import nn

from .. import runtime
from ..nn.adapters import adapter_states, insert_adapters, load_adapter_states
from ..nn.glue import PooledClassifier, evaluate, finetune
from ..runtime import seed_everything
from .cached import CachedTop, with_adapter
from .fusion import FusionNorm, insert_fusion

CACHE_VERSION = 1
"""Bumped when source training changes in a way the settings do not capture."""


def _head(encoder: nn.Module, num_labels: int, seed: int) -> PooledClassifier:
    seed_everything(seed)                          # the head draws the same numbers whatever the encoder holds
    return PooledClassifier(encoder, num_labels)


def adapter_model(top: nn.Module, num_labels: int, *, bottleneck: int, seed: int, states=None,
                  dropout: float | None = None, head_seed: int | None = None) -> PooledClassifier:
    """Frozen top + one Pfeiffer adapter per layer (random from ``seed``, or ``states``) + a new head."""
    seed_everything(seed)
    if isinstance(top, CachedTop):
        enc = with_adapter(top, bottleneck, dropout)
    else:
        enc = copy.deepcopy(top)
        insert_adapters(enc, bottleneck=bottleneck, placement="pfeiffer", init="bert", dropout=dropout)
    if states is not None:
        load_adapter_states(enc, states)
    return _head(enc, num_labels, seed if head_seed is None else head_seed)


def fusion_model(top: nn.Module, num_labels: int, sources: list[list[dict]], *, seed: int) -> PooledClassifier:
    """Frozen top + AdapterFusion over the frozen ``sources`` + a new head; trainable: fusion and head."""
    seed_everything(seed)
    if isinstance(top, CachedTop):
        norm = FusionNorm(copy.deepcopy(top.norm), [s[0] for s in sources], top.config.attention_probs_dropout_prob)
        enc = CachedTop(norm, top.config)
    else:
        enc = copy.deepcopy(top)
        insert_fusion(enc, sources)
    return _head(enc, num_labels, seed)


def full_model(top: nn.Module, num_labels: int, *, seed: int) -> PooledClassifier:
    """Every parameter of the top trainable, no adapter (full fine-tuning; of a CachedTop: its real layer, which
    reads the bottom's hidden states, not the cached z)."""
    enc = copy.deepcopy(top.layer if isinstance(top, CachedTop) else top).requires_grad_(True)
    if getattr(enc, "pooler", None) is not None:                 # unused: the classifier mean-pools
        enc.pooler.requires_grad_(False)
    return _head(enc, num_labels, seed)


def n_layers(top: nn.Module) -> int:
    """Adapted layers of a top (1 for a CachedTop)."""
    return 1 if isinstance(top, CachedTop) else len(top.encoder.layer)


def trainable(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


@dataclass
class Source:
    """One pretrained source adapter set with its own head and its dev accuracy on its own task."""

    task: str
    seed: int
    adapters: list[dict]
    head: dict
    acc: float
    cached: bool
    train_s: float


def settings(cfg, task: str, seed: int) -> dict:
    """Everything that determines a source adapter (the cache key)."""
    keys = ("encoder", "adapt_layers", "bottleneck", "n_train", "max_len", "data_seed", "source_epochs",
            "batch_size", "source_lr", "head_lr", "weight_decay", "precision")
    return {"task": task, "seed": seed, "version": CACHE_VERSION, **{k: getattr(cfg, k) for k in keys}}


def cache_path(cfg, task: str, seed: int):
    s = settings(cfg, task, seed)
    digest = hashlib.sha256(json.dumps(s, sort_keys=True, default=str).encode()).hexdigest()[:12]
    name = re.sub(r"[^A-Za-z0-9.-]+", "-", f"{cfg.encoder}_{task}_s{seed}_{digest}")
    return runtime.cache_dir() / "mera" / f"{name}.safetensors"


def save_source(path, src: Source, meta: dict) -> None:
    from safetensors.torch import save

    from ..store import atomic_write

    tensors = {f"adapter.{i}.{k}": v.contiguous().cpu() for i, s in enumerate(src.adapters) for k, v in s.items()}
    tensors |= {f"head.{k}": v.contiguous().cpu() for k, v in src.head.items()}
    metadata = {"acc": repr(src.acc), "train_s": repr(src.train_s), "settings": json.dumps(meta, default=str)}
    atomic_write(path, lambda f: f.write(save(tensors, metadata=metadata)))


def load_source(path, task: str, seed: int) -> Source:
    from safetensors import safe_open

    adapters: dict[int, dict] = {}
    head = {}
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata()
        for key in f.keys():
            kind, rest = key.split(".", 1)
            if kind == "adapter":
                i, name = rest.split(".", 1)
                adapters.setdefault(int(i), {})[name] = f.get_tensor(key)
            else:
                head[rest] = f.get_tensor(key)
    return Source(task, seed, [adapters[i] for i in sorted(adapters)], head, float(meta["acc"]), True,
                  float(meta["train_s"]))


def source_config(cfg):
    """The finetune() settings of source training (source epochs and learning rate)."""
    from types import SimpleNamespace

    return SimpleNamespace(epochs=cfg.source_epochs, batch_size=cfg.batch_size, lr=cfg.source_lr,
                           head_lr=cfg.head_lr, weight_decay=cfg.weight_decay)


def train_source(top, data, cfg, *, seed: int, device) -> Source:
    """Train one source adapter set (random init from ``seed``) and its head on ``data`` (a TaskData)."""
    t0 = time.perf_counter()
    model = adapter_model(top, data.num_labels, bottleneck=cfg.bottleneck, seed=seed).to(device)
    with runtime.autocast(device, cfg.precision):
        out = finetune(model, data, source_config(cfg), seed=seed, device=device)
    head = {k: v.detach().float().cpu().clone() for k, v in model.head.state_dict().items()}
    states = [{k: v.float().cpu() for k, v in s.items()} for s in adapter_states(model)]
    return Source(data.name, seed, states, head, float(out["acc"]), False, time.perf_counter() - t0)


def get_source(top, data, cfg, *, seed: int, device) -> Source:
    """The cached source adapter of (task, seed, settings), trained and saved first when missing."""
    path = cache_path(cfg, data.name, seed)
    if path.is_file():
        return load_source(path, data.name, seed)
    src = train_source(top, data, cfg, seed=seed, device=device)
    save_source(path, src, settings(cfg, data.name, seed))
    return src


@torch.no_grad()
def source_accuracy(top, data, cfg, adapters: list[dict], head: dict, device) -> float:
    """Dev accuracy on ``data`` of the adapter set ``adapters`` read through a given (source) head."""
    model = adapter_model(top, data.num_labels, bottleneck=cfg.bottleneck, seed=0, states=adapters).to(device)
    model.head.load_state_dict(head)
    with runtime.autocast(device, cfg.precision):
        return evaluate(model, data.dev, device)
