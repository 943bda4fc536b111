"""Upcycling a pretrained BERT encoder into MoE / MEO and the GLUE classifier around it.

MEO (He et al., EMNLP 2023) turns only the two FFN linears of each layer into mixtures of linear
experts, each with its own router, keeping the activation outside. Upcycling copies the pretrained
matrix into every expert, so the merged weight equals the pretrained one at step 0. The official
BERT path builds bias-free experts, i.e. it drops the pretrained FFN biases (`drop_ffn_bias=True`,
faithful); `drop_ffn_bias=False` keeps them and then the step-0 model equals the dense one exactly.

Fine-tuning (papers/meo.md Sec. 6): routers start at zero, the per-layer auxiliary loss 0.01 (cv^2 + cv^2)
is added to the cross-entropy, AdamW with a linear decay (``replib.nn.glue.finetune``).
For CPU budgets the encoder can be split (``replib.nn.glue.split_encoder``): the bottom `n_frozen` layers
run once and their outputs are cached; the top layers (upcycled) and the head are fine-tuned on them.
"""
from __future__ import annotations

import copy

import torch
from torch import nn

from ..nn.glue import PooledClassifier, TaskData, finetune
from ..runtime import seed_everything
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


class MoEClassifier(PooledClassifier):
    """Encoder (dense, MoE or MEO) + masked mean pooling + linear head (``replib.nn.glue``).

    Mean pooling is how all-MiniLM-L6-v2 was trained (sentence-transformers); its BERT pooler is not.
    Before each forward the routing state gets the attention mask (and, at task level, the task input).
    """

    def __init__(self, encoder: nn.Module, num_labels: int, state: RoutingState | None = None,
                 dropout: float = 0.1, task_ids: torch.Tensor | None = None, vocab_size: int = 30522):
        super().__init__(encoder, num_labels, dropout)
        self.state = state
        # task level: a random-init embedding of the tokenised task description (official)
        self.task_emb = nn.Embedding(vocab_size, TASK_EMB_DIM) if task_ids is not None else None
        self.register_buffer("task_ids", task_ids, persistent=False)

    def forward(self, attention_mask, input_ids=None, inputs_embeds=None, token_type_ids=None):
        if self.state is not None:
            self.state.mask = attention_mask
            if self.task_emb is not None:
                u = self.task_emb(self.task_ids).mean(0)                       # (128,) token mean
                self.state.task_u = u.expand(attention_mask.shape[0], -1)      # one task: shared gate
        return super().forward(attention_mask, input_ids, inputs_embeds, token_type_ids)

    def aux_loss(self) -> torch.Tensor:
        """Sum over MoE linears of 0.01 * (cv^2(importance) + cv^2(load)) from the latest forward."""
        terms = [m.aux_loss for m in moe_layers(self)]
        return torch.stack(terms).sum() if terms else torch.zeros((), device=self.head.weight.device)


# ---- GLUE fine-tuning of one configuration (the loop itself is replib.nn.glue.finetune) -----------------
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
    out = finetune(model, data, cfg, seed=seed, device=device, aux_loss=model.aux_loss,
                   precision=getattr(cfg, "precision", "auto"))
    return {"task": data.name, "mode": mode, "level": level, "k": k, "seed": seed, **out}
