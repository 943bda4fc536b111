"""Fine-tuning a (partly frozen) BERT-style encoder on a GLUE task: shared by MEO and PAD-Net.

The data of one task is tokenised once; with a frozen bottom (``split_encoder``) the bottom layers also run
once and their hidden states are cached, so every configuration fine-tunes only the top layers and the
head. Batches are bucketed by length and trimmed to their longest example. The classifier mean-pools the
last hidden states over real tokens (how all-MiniLM-L6-v2 was trained) into a linear head. Training:
AdamW with a separate head learning rate and a linear decay to 0 (the HF Trainer default), plus an
optional auxiliary loss (MoE load balance).
"""
from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .. import runtime

TINY_TOKENIZER = "minilm-l6"
"""The registered encoder whose tokenizer the random 'tiny' BERT (smoke) uses."""


def encoder_asset(name: str) -> str:
    """The replib.assets name (or hub id) that loading encoder `name` needs."""
    return TINY_TOKENIZER if name == "tiny" else name


def load_encoder(name: str):
    """(BertModel, tokenizer): 'tiny' random 2-layer BERT, 'minilm-l6' offline, else a hub id."""
    from transformers import AutoModel, AutoTokenizer, BertConfig, BertModel

    from .. import assets

    if name == "minilm-l6":
        return assets.load_encoder("minilm-l6")
    if name == "tiny":   # random 2-layer BERT with MiniLM's tokenizer: the smoke profile
        tok = AutoTokenizer.from_pretrained(assets.encoder_path(TINY_TOKENIZER))
        cfg = BertConfig(vocab_size=tok.vocab_size, hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
                         intermediate_size=256, max_position_embeddings=512)
        return BertModel(cfg), tok
    try:
        return AutoModel.from_pretrained(name), AutoTokenizer.from_pretrained(name)
    except OSError as err:
        raise assets.AssetError(f"encoder {name!r} is a hub id: it needs network access or a populated "
                                f"Hugging Face cache; offline, use encoder='minilm-l6'. ({err})") from err


class Passthrough(nn.Module):
    """Stands in for BertEmbeddings when the encoder is fed cached hidden states."""

    def forward(self, input_ids=None, inputs_embeds=None, **_):
        return inputs_embeds


def split_encoder(bert: nn.Module, n_frozen: int) -> tuple[nn.Module | None, nn.Module]:
    """(bottom, top): bottom = embeddings + first n_frozen layers (frozen), top = the rest.

    Both are BertModel copies so HF's own attention masking is used. With n_frozen == 0 the bottom is
    None and the top is the whole model.
    """
    n_layers = len(bert.encoder.layer)
    if not 0 <= n_frozen < n_layers:
        raise ValueError(f"n_frozen must be in [0, {n_layers - 1}], got {n_frozen}")
    if n_frozen == 0:
        return None, bert
    bottom, top = copy.deepcopy(bert), copy.deepcopy(bert)
    bottom.encoder.layer = nn.ModuleList(bottom.encoder.layer[:n_frozen])
    bottom.requires_grad_(False).eval()
    top.encoder.layer = nn.ModuleList(top.encoder.layer[n_frozen:])
    top.embeddings = Passthrough()
    return bottom, top


@torch.no_grad()
def encode_bottom(bottom: nn.Module, input_ids, attention_mask, token_type_ids=None, batch_size: int = 64):
    """Run the frozen bottom once over a whole dataset: (N, T) ids -> (N, T, d) hidden states."""
    outs = []
    for s in range(0, input_ids.shape[0], batch_size):
        sl = slice(s, s + batch_size)
        tt = None if token_type_ids is None else token_type_ids[sl]
        outs.append(bottom(input_ids=input_ids[sl], attention_mask=attention_mask[sl],
                           token_type_ids=tt).last_hidden_state)
    return torch.cat(outs)


@dataclass
class TaskData:
    """One GLUE task, tokenised (and optionally encoded by the frozen bottom)."""

    name: str
    num_labels: int
    train: dict          # tensors: input_ids | hidden, attention_mask, token_type_ids, labels
    dev: dict


def tokenise(tok, frame, max_len: int) -> dict:
    """Token ids, attention mask (token types) and labels of a frame of sentence1 / sentence2 / label."""
    s2 = frame["sentence2"].tolist() if frame["sentence2"].notna().any() else None
    enc = tok(frame["sentence1"].tolist(), s2, truncation=True, max_length=max_len, padding="longest",
              return_tensors="pt")
    out = {k: enc[k] for k in ("input_ids", "attention_mask")}
    if "token_type_ids" in enc:
        out["token_type_ids"] = enc["token_type_ids"]
    out["labels"] = torch.tensor(frame["label"].to_numpy(), dtype=torch.long)
    return out


def prepare_task(task: str, tok, bottom: nn.Module | None, cfg, device) -> TaskData:
    """Read the task's train/dev files, subsample (cfg.n_train, cfg.n_eval, cfg.data_seed), tokenise
    (cfg.max_len), and cache the frozen bottom's states."""
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
        d = tokenise(tok, df, cfg.max_len)
        if bottom is not None:
            tt = d.get("token_type_ids")
            d["hidden"] = encode_bottom(bottom.to(device), d["input_ids"].to(device),
                                        d["attention_mask"].to(device), None if tt is None else tt.to(device)).cpu()
        data[split] = d
    return TaskData(task, num_labels, data["train"], data["dev"])


def batch_inputs(d: dict, idx: torch.Tensor, device) -> dict:
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


class PooledClassifier(nn.Module):
    """Encoder + masked mean pooling + dropout + linear head."""

    def __init__(self, encoder: nn.Module, num_labels: int, dropout: float = 0.1):
        super().__init__()
        self.encoder = encoder
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(encoder.config.hidden_size, num_labels)

    def forward(self, attention_mask, input_ids=None, inputs_embeds=None, token_type_ids=None):
        kw = {"token_type_ids": token_type_ids} if inputs_embeds is None else {}
        h = self.encoder(input_ids=input_ids, inputs_embeds=inputs_embeds, attention_mask=attention_mask,
                         **kw).last_hidden_state                               # (B, T, d)
        m = attention_mask.unsqueeze(-1).to(h.dtype)
        pooled = (h * m).sum(1) / m.sum(1).clamp_min(1.0)                      # (B, d)
        return self.head(self.dropout(pooled))


@torch.no_grad()
def evaluate(model: nn.Module, d: dict, device, batch_size: int = 128, *, precision: str = "auto") -> float:
    """Accuracy on a tokenised split, forwards under ``runtime.autocast(device, precision)``; correct
    predictions are counted on the device and read once."""
    model.eval()
    n = d["labels"].shape[0]
    labels = d["labels"].to(device)
    correct = torch.zeros((), dtype=torch.long, device=labels.device)
    for s in range(0, n, batch_size):
        idx = torch.arange(s, min(s + batch_size, n))
        with runtime.autocast(device, precision):
            logits = model(**batch_inputs(d, idx, device))
        correct += (logits.argmax(-1) == labels[s:s + len(idx)]).sum()
    return int(correct) / n


def finetune(model: nn.Module, data: TaskData, cfg, *, seed: int, device,
             aux_loss: Callable[[], torch.Tensor] | None = None, eval_every: int = 0,
             precision: str = "auto") -> dict:
    """Train ``model`` (a classifier with a ``head``) in place: AdamW (cfg.lr, cfg.head_lr for the head,
    cfg.weight_decay), linear decay over cfg.epochs of cfg.batch_size batches. Returns dev accuracy and
    the mean loss of the first and last five steps; with ``eval_every`` > 0 also ``curve``, the dev
    accuracy after every ``eval_every`` steps as [(step, acc), ...] (a convergence curve).

    Forwards, the loss and ``aux_loss`` run under ``runtime.autocast(device, precision)`` (bf16 autocast
    for 'bf16', or 'auto' on CUDA; nothing on CPU 'auto'), the backward and the optimiser step outside it;
    the parameters and the optimiser state stay fp32."""
    if not isinstance(eval_every, int) or eval_every < 0:
        raise ValueError(f"eval_every must be an int >= 0 (0 = no curve), got {eval_every!r}")
    runtime.resolve_precision(precision, device)
    head = set(model.head.parameters())
    groups = [{"params": [p for p in model.parameters() if p.requires_grad and p not in head]},
              {"params": list(head), "lr": cfg.head_lr}]
    opt = torch.optim.AdamW(groups, lr=cfg.lr, weight_decay=cfg.weight_decay, fused=True)
    n = data.train["labels"].shape[0]
    steps = cfg.epochs * max(1, -(-n // cfg.batch_size))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: max(0.0, 1 - s / steps))   # HF default: linear
    gen = torch.Generator().manual_seed(seed)
    lengths = data.train["attention_mask"].sum(1)
    losses, curve = [], []
    model.train()
    for _ in range(cfg.epochs):
        for idx in bucketed_batches(lengths, cfg.batch_size, gen):
            with runtime.autocast(device, precision):
                logits = model(**batch_inputs(data.train, idx, device))
                loss = F.cross_entropy(logits.float(), data.train["labels"][idx].to(device))
                if aux_loss is not None:
                    loss = loss + aux_loss()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            losses.append(loss.detach())  # kept on the device: one host sync at the end, not one per step
            if eval_every and len(losses) % eval_every == 0:
                curve.append((len(losses), evaluate(model, data.dev, device, precision=precision)))
                model.train()
    losses = torch.stack(losses).float().tolist()
    out = {"acc": evaluate(model, data.dev, device, precision=precision), "loss_first": float(np.mean(losses[:5])),
           "loss_last": float(np.mean(losses[-5:])), "steps": len(losses)}
    return out | ({"curve": curve} if eval_every else {})
