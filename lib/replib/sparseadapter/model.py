"""A frozen encoder with (masked) adapters and a pooled classification head (SparseAdapter Sec. 4;
papers/sparseadapter.md Sec. 2-3).

Three adapter families plug into the same frozen encoder (``replib.nn.adapters``): Houlsby (a pair per
layer: attention and FFN, the official ``run_glue.sh`` setting attn_mode = ffn_mode = adapter, sequential),
Pfeiffer (FFN only) and LoRA (peft, on query and value). Every adapter weight matrix gets a mask, all ones
until ``prune`` sets it; the backbone is frozen and the adapters are trained; ``train_head=True`` (a
deviation) trains the classification head too. The notebook's default is the official
``--unfreeze_params ef_``, which leaves the randomly initialised head frozen.
"""
from __future__ import annotations

import copy

import torch
from torch import nn

from ..nn.adapters import adapter_modules, add_masks, insert_adapters, insert_lora, masks_of
from ..nn.glue import PooledClassifier
from ..runtime import seed_everything

FAMILIES = ("houlsby", "pfeiffer", "lora")


def adapter_encoder(encoder: nn.Module, *, family: str = "houlsby", bottleneck: int = 64, init: str = "bert",
                    layers=None, lora_alpha: float = 32.0, dropout: float | None = None) -> nn.Module:
    """A frozen copy of ``encoder`` with masked adapters of ``family`` (bottleneck = LoRA rank for 'lora')."""
    if family not in FAMILIES:
        raise ValueError(f"unknown adapter family {family!r}; valid: {', '.join(FAMILIES)}")
    enc = copy.deepcopy(encoder)
    if family == "lora":
        enc.requires_grad_(False)
        insert_lora(enc, r=bottleneck, alpha=lora_alpha, init=init, layers=layers)
    else:
        insert_adapters(enc, bottleneck=bottleneck, placement=family, layers=layers, init=init, dropout=dropout)
    add_masks(enc)
    return enc


def adapter_classifier(encoder: nn.Module, num_labels: int, *, family: str = "houlsby", bottleneck: int = 64,
                       init: str = "bert", layers=None, lora_alpha: float = 32.0, dropout: float | None = None,
                       train_head: bool = True, seed: int = 0) -> PooledClassifier:
    """PooledClassifier around ``adapter_encoder(encoder, ...)``; ``seed`` fixes the adapter and head init."""
    seed_everything(seed)
    enc = adapter_encoder(encoder, family=family, bottleneck=bottleneck, init=init, layers=layers,
                          lora_alpha=lora_alpha, dropout=dropout)
    model = PooledClassifier(enc, num_labels)
    model.head.requires_grad_(train_head)
    return model


def parameter_counts(model: nn.Module) -> dict[str, int]:
    """Adapter parameter tallies: masked weights (total, kept), other adapter parameters (biases, LN),
    and every trainable parameter (head included). One host sync; for reporting only."""
    masks = list(masks_of(model).values())
    weights = sum(m.numel() for m in masks)
    kept = int(torch.stack([m.sum() for m in masks]).sum()) if masks else 0
    adapter_total = sum(p.numel() for a in adapter_modules(model) for n, p in a.named_parameters()
                        if "lora_" in n or a.__class__.__name__ == "BottleneckAdapter")
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return {"mask_weights": weights, "kept_weights": kept, "adapter_other": adapter_total - weights,
            "trainable": trainable}
