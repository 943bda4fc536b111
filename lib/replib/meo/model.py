"""Upcycling a pretrained BERT encoder into MoE / MEO and the GLUE classifier around it.

MEO (He et al., EMNLP 2023) turns only the two FFN linears of each layer into mixtures of linear
experts, each with its own router, keeping the activation outside. Upcycling copies the pretrained
matrix into every expert, so the merged weight equals the pretrained one at step 0. The official
BERT path builds bias-free experts, i.e. it drops the pretrained FFN biases (`drop_ffn_bias=True`,
faithful); `drop_ffn_bias=False` keeps them and then the step-0 model equals the dense one exactly.

For CPU budgets the encoder can be split: the bottom `n_frozen` layers run once and their outputs are
cached; the top layers (upcycled) and the head are fine-tuned on the cached states.
"""
from __future__ import annotations

import copy

import torch
from torch import nn

from .layers import TASK_EMB_DIM, MoELinear, RoutingState


def upcycle_bert(bert: nn.Module, n_experts: int, k: int, *, mode: str = "meo", level: str = "sequence",
                 drop_ffn_bias: bool = True, pad_in_mean: bool = True, layers: list[int] | None = None,
                 att_reduction: int = 64) -> RoutingState:
    """Replace FFN linears (intermediate.dense, output.dense) of `bert` in place; returns the shared state."""
    state = RoutingState(pad_in_mean=pad_in_mean)
    blocks = bert.encoder.layer
    for i in range(len(blocks)) if layers is None else layers:
        for parent in (blocks[i].intermediate, blocks[i].output):
            parent.dense = MoELinear.upcycle(parent.dense, n_experts, k, drop_bias=drop_ffn_bias, mode=mode,
                                             level=level, state=state, att_reduction=att_reduction)
    return state


def moe_layers(model: nn.Module) -> list[MoELinear]:
    return [m for m in model.modules() if isinstance(m, MoELinear)]


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


class MoEClassifier(nn.Module):
    """Encoder (dense, MoE or MEO) + masked mean pooling + linear head.

    Mean pooling is how all-MiniLM-L6-v2 was trained (sentence-transformers); its BERT pooler is not.
    """

    def __init__(self, encoder: nn.Module, num_labels: int, state: RoutingState | None = None,
                 dropout: float = 0.1, task_ids: torch.Tensor | None = None, vocab_size: int = 30522):
        super().__init__()
        self.encoder, self.state = encoder, state
        hidden = encoder.config.hidden_size
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden, num_labels)
        # task level: a random-init embedding of the tokenised task description (official)
        self.task_emb = nn.Embedding(vocab_size, TASK_EMB_DIM) if task_ids is not None else None
        self.register_buffer("task_ids", task_ids, persistent=False)

    def forward(self, attention_mask, input_ids=None, inputs_embeds=None, token_type_ids=None):
        if self.state is not None:
            self.state.mask = attention_mask
            if self.task_emb is not None:
                u = self.task_emb(self.task_ids).mean(0)                       # (128,) token mean
                self.state.task_u = u.expand(attention_mask.shape[0], -1)      # one task: shared gate
        kw = {"token_type_ids": token_type_ids} if inputs_embeds is None else {}
        h = self.encoder(input_ids=input_ids, inputs_embeds=inputs_embeds, attention_mask=attention_mask,
                         **kw).last_hidden_state                               # (B, T, d)
        m = attention_mask.unsqueeze(-1).to(h.dtype)
        pooled = (h * m).sum(1) / m.sum(1).clamp_min(1.0)                      # (B, d)
        return self.head(self.dropout(pooled))

    def aux_loss(self) -> torch.Tensor:
        """Sum over MoE linears of 0.01 * (cv^2(importance) + cv^2(load)) from the latest forward."""
        terms = [m.aux_loss for m in moe_layers(self)]
        return torch.stack(terms).sum() if terms else torch.zeros((), device=self.head.weight.device)
