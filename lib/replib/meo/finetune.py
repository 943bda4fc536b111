"""GLUE fine-tuning of a dense, MoE or MEO encoder (the recipe of papers/meo.md Sec. 6).

Noisy top-k routers start at zero, the per-layer auxiliary loss 0.01 (cv^2 + cv^2) is added to the
cross-entropy, AdamW with a linear decay as the HF Trainer default. The data loading, the frozen-bottom
cache and the training loop are the shared ``replib.nn.glue``; this module builds MEO's models.
"""
from __future__ import annotations

import copy

from torch import nn

from ..nn.glue import TaskData, finetune, load_encoder, prepare_task
from ..runtime import seed_everything
from .model import MoEClassifier, upcycle_bert

__all__ = ["TaskData", "build_model", "load_encoder", "prepare_task", "train_one"]


def build_model(top: nn.Module, num_labels: int, mode: str, k: int, cfg, level: str = "sequence"):
    """A fresh copy of the encoder top, upcycled unless mode == 'dense', with a new head."""
    enc = copy.deepcopy(top)
    state = None
    if mode != "dense":
        state = upcycle_bert(enc, cfg.n_experts, k, mode=mode, level=level, drop_ffn_bias=cfg.drop_ffn_bias,
                             pad_in_mean=cfg.pad_in_mean, att_reduction=cfg.att_reduction)
    return MoEClassifier(enc, num_labels, state)


def train_one(top: nn.Module, data: TaskData, cfg, *, mode: str, k: int, seed: int, device,
              level: str = "sequence") -> dict:
    """Fine-tune one configuration from `seed`; returns dev accuracy and the loss curve."""
    seed_everything(seed)
    model = build_model(top, data.num_labels, mode, k, cfg, level).to(device)
    out = finetune(model, data, cfg, seed=seed, device=device, aux_loss=model.aux_loss)
    return {"task": data.name, "mode": mode, "level": level, "k": k, "seed": seed, **out}
