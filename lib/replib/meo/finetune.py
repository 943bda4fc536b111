"""GLUE fine-tuning of a dense, MoE or MEO encoder (the recipe of papers/meo.md Sec. 6).

Noisy top-k routers start at zero, the per-layer auxiliary loss 0.01 (cv^2 + cv^2) is added to the
cross-entropy, AdamW with a linear decay as the HF Trainer default. The data of one task is tokenised
once; with `n_frozen > 0` the frozen bottom of the encoder is also run once and cached, and every run
(each mode, k and seed) fine-tunes the upcycled top layers and the head on the cached states.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..runtime import seed_everything
from .model import MoEClassifier, encode_bottom, upcycle_bert


def load_encoder(name: str):
    """(BertModel, tokenizer): 'tiny' random 2-layer BERT, 'minilm-l6' offline, else a hub id."""
    from transformers import AutoModel, AutoTokenizer, BertConfig, BertModel

    from .. import assets

    if name == "minilm-l6":
        return assets.load_encoder("minilm-l6")
    if name == "tiny":   # random 2-layer BERT with MiniLM's tokenizer: the smoke profile
        tok = AutoTokenizer.from_pretrained(assets.encoder_path("minilm-l6"))
        cfg = BertConfig(vocab_size=tok.vocab_size, hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
                         intermediate_size=256, max_position_embeddings=512)
        return BertModel(cfg), tok
    try:
        return AutoModel.from_pretrained(name), AutoTokenizer.from_pretrained(name)
    except OSError as err:
        raise assets.AssetError(f"encoder {name!r} is a hub id: it needs network access or a populated "
                                f"Hugging Face cache; offline, use encoder='minilm-l6'. ({err})") from err


@dataclass
class TaskData:
    """One GLUE task, tokenised (and optionally encoded by the frozen bottom)."""

    name: str
    num_labels: int
    train: dict          # tensors: input_ids | hidden, attention_mask, token_type_ids, labels
    dev: dict


def _tokenise(tok, frame, max_len: int) -> dict:
    s2 = frame["sentence2"].tolist() if frame["sentence2"].notna().any() else None
    enc = tok(frame["sentence1"].tolist(), s2, truncation=True, max_length=max_len, padding="longest",
              return_tensors="pt")
    out = {k: enc[k] for k in ("input_ids", "attention_mask")}
    if "token_type_ids" in enc:
        out["token_type_ids"] = enc["token_type_ids"]
    out["labels"] = torch.tensor(frame["label"].to_numpy(), dtype=torch.long)
    return out


def prepare_task(task: str, tok, bottom: nn.Module | None, cfg, device) -> TaskData:
    """Read the task's train/dev files, subsample, tokenise, and cache the frozen bottom's states."""
    from .. import assets

    frames = {}
    for split, n in (("train", cfg.n_train), ("dev", cfg.n_eval)):
        df = assets.load_dataset(f"glue/{task}", split=split)
        if n is not None and n < len(df):
            df = df.sample(n=n, random_state=cfg.data_seed)
        frames[split] = df.reset_index(drop=True)
    num_labels = int(max(frames["train"]["label"].max(), frames["dev"]["label"].max())) + 1
    data = {}
    for split, df in frames.items():
        d = _tokenise(tok, df, cfg.max_len)
        if bottom is not None:
            tt = d.get("token_type_ids")
            d["hidden"] = encode_bottom(bottom.to(device), d["input_ids"].to(device),
                                        d["attention_mask"].to(device), None if tt is None else tt.to(device)).cpu()
        data[split] = d
    return TaskData(task, num_labels, data["train"], data["dev"])


def _batch(d: dict, idx: torch.Tensor, device) -> dict:
    """Slice rows and trim padding to the longest example of the batch."""
    mask = d["attention_mask"][idx]
    T = int(mask.sum(1).max())
    out = {"attention_mask": mask[:, :T].to(device)}
    if "hidden" in d:
        out["inputs_embeds"] = d["hidden"][idx, :T].to(device)
    else:
        out["input_ids"] = d["input_ids"][idx, :T].to(device)
        if "token_type_ids" in d:
            out["token_type_ids"] = d["token_type_ids"][idx, :T].to(device)
    return out


def bucketed_batches(lengths: torch.Tensor, batch_size: int, gen: torch.Generator, pool: int = 8) -> list:
    """Shuffled batches of similar length: shuffle, sort within pools of `pool` batches, shuffle batches.

    Padding then stays small (batches are trimmed to their longest example) while order stays random.
    """
    perm = torch.randperm(lengths.numel(), generator=gen)
    batches = []
    for chunk in perm.split(batch_size * pool):
        chunk = chunk[lengths[chunk].argsort(stable=True)]
        batches += list(chunk.split(batch_size))
    return [batches[i] for i in torch.randperm(len(batches), generator=gen)]


@torch.no_grad()
def evaluate(model: MoEClassifier, d: dict, device, batch_size: int = 128) -> float:
    """Accuracy on a tokenised split."""
    model.eval()
    correct = 0
    n = d["labels"].shape[0]
    for s in range(0, n, batch_size):
        idx = torch.arange(s, min(s + batch_size, n))
        pred = model(**_batch(d, idx, device)).argmax(-1).cpu()
        correct += int((pred == d["labels"][idx]).sum())
    return correct / n


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
    head = set(model.head.parameters())
    groups = [{"params": [p for p in model.parameters() if p.requires_grad and p not in head]},
              {"params": list(head), "lr": cfg.head_lr}]
    opt = torch.optim.AdamW(groups, lr=cfg.lr, weight_decay=cfg.weight_decay, fused=True)
    n = data.train["labels"].shape[0]
    steps = cfg.epochs * max(1, -(-n // cfg.batch_size))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: max(0.0, 1 - s / steps))   # HF default: linear
    gen = torch.Generator().manual_seed(seed)
    lengths = data.train["attention_mask"].sum(1)
    losses = []
    model.train()
    for _ in range(cfg.epochs):
        for idx in bucketed_batches(lengths, cfg.batch_size, gen):
            logits = model(**_batch(data.train, idx, device))
            loss = F.cross_entropy(logits, data.train["labels"][idx].to(device)) + model.aux_loss()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            losses.append(loss.item())
    return {"task": data.name, "mode": mode, "level": level, "k": k, "seed": seed,
            "acc": evaluate(model, data.dev, device), "loss_first": float(np.mean(losses[:5])),
            "loss_last": float(np.mean(losses[-5:])), "steps": len(losses)}
