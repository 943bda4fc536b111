"""PAD MoE on GLUE (PAD-Net Sec. 4.2; papers/padnet.md F5): an upcycled encoder whose FFNs become MoEs.

The top layers of all-MiniLM-L6-v2 (the rest frozen and cached, ``replib.nn.glue``) have their two FFN
linears (intermediate.dense, output.dense) replaced by ``PadMoELinear`` (n = 8 experts, top-2 token routing),
every expert and the shared static matrix W_s copied from the pretrained linear, so the step-0 model is the
pretrained one. Arms:
  dense      the encoder as it is,
  dynamic    the fully dynamic MoE (M = 1, no scale factors),
  pad        PAD MoE at dynamic ratio kappa (0.5): mode partition once before training, scale factors on.
The partition uses the official GLUE default scorer, ``rand`` (``PruneArguments``): with every expert and
W_s equal to the pretrained matrix at step 0, a SNIP score (lambda_d W_i - lambda_s W_s) dL/dW^ is exactly
zero, so importance scoring has nothing to rank at upcycling time.
"""
from __future__ import annotations

import copy
import time

import pandas as pd
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from ..nn.glue import (
    PooledClassifier,
    batch_inputs,
    finetune,
    load_encoder,
    prepare_task,
    split_encoder,
)
from ..runtime import seed_everything
from .conv import counted_parameters, kernel_stats, pad_layers
from .moe import PadMoELinear
from .partition import mode_partition

ARMS = ("dense", "dynamic", "pad")


def upcycle_encoder(top, n_experts: int, top_k: int, lambda_mode: str) -> list[PadMoELinear]:
    """Replace every FFN linear of ``top`` in place by an upcycled PAD MoE linear (``PadMoELinear.upcycle``)."""
    layers = []
    for block in top.encoder.layer:
        for parent in (block.intermediate, block.output):
            parent.dense = PadMoELinear.upcycle(parent.dense, n_experts, top_k, lambda_mode=lambda_mode)
            layers.append(parent.dense)
    return layers


def build(top, num_labels: int, arm: str, cfg, data, seed: int, device) -> PooledClassifier:
    """A fresh classifier for one arm; the PAD arm gets its masks before training."""
    seed_everything(seed)
    enc = copy.deepcopy(top)
    if arm != "dense":
        upcycle_encoder(enc, cfg.moe_experts, cfg.moe_k, "none" if arm == "dynamic" else cfg.lambda_mode)
    model = PooledClassifier(enc, num_labels).to(device)
    if arm == "pad":
        n = data.train["labels"].shape[0]
        idx = torch.randperm(n, generator=torch.Generator().manual_seed(seed))[:cfg.glue_imp_examples]
        batches = [(batch_inputs(data.train, i, device), data.train["labels"][i].to(device))
                   for i in idx.split(cfg.glue_batch_size)]
        mode_partition(model, batches, F.cross_entropy, cfg.moe_kappa, rounds=1, scorer="random", seed=seed)
    return model


def run(cfg, device, seed: int = 0, progress: bool = True) -> pd.DataFrame:
    """Dev accuracy of every arm and seed on ``cfg.glue_task``."""
    encoder, tok = load_encoder(cfg.glue_encoder)
    bottom, top = split_encoder(encoder, len(encoder.encoder.layer) - cfg.glue_layers)
    data = prepare_task(cfg.glue_task, tok, bottom, _GlueView(cfg), device)
    # |W|: the pretrained FFN matrices that get upcycled, counted before any MoE exists
    ffn_numel = sum(b.intermediate.dense.weight.numel() + b.output.dense.weight.numel() for b in top.encoder.layer)
    rows = []
    jobs = [(s, a) for s in range(seed, seed + cfg.seeds) for a in ARMS]
    for s, arm in tqdm(jobs, desc=f"PAD MoE on {cfg.glue_task}", disable=not progress):
        t = time.perf_counter()
        model = build(top, data.num_labels, arm, cfg, data, s, device)
        layers = pad_layers(model)
        out = finetune(model, data, _GlueView(cfg), seed=s, device=device, precision=cfg.precision,
                       aux_loss=(lambda layers=layers: sum(m.aux_loss for m in layers)) if layers else None)
        stats = kernel_stats(model)
        rows.append({"task": cfg.glue_task, "arm": arm, "seed": s, "acc": out["acc"],
                     "train_s": time.perf_counter() - t,
                     "dynamic_share": stats["dynamic_share"], "intrinsic_params": stats["intrinsic_params"],
                     "ffn_numel": ffn_numel, "counted_params": counted_parameters(model)})
    return pd.DataFrame(rows)


class _GlueView:
    """The GLUE fields of the PAD-Net config under the names ``replib.nn.glue`` reads."""

    def __init__(self, cfg):
        self.n_train, self.n_eval, self.max_len, self.data_seed = cfg.glue_train, cfg.glue_eval, cfg.glue_max_len, \
            cfg.data_seed
        self.epochs, self.batch_size, self.lr, self.head_lr = cfg.glue_epochs, cfg.glue_batch_size, cfg.glue_lr, \
            cfg.glue_head_lr
        self.weight_decay = 0.01
