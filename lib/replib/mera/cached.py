"""A faster, exact path when only the last encoder layer has an adapter (papers/mera.md Sec. 8, "Speed").

With the Pfeiffer placement the adapter (or AdapterFusion) of a layer sits inside that layer's output LayerNorm:
the block returns LN(z + delta(LN(z))) where z = dropout(W_2 FFN(.)) + x is the sum that enters the LayerNorm.
Everything that produces z is frozen. So when the last layer is the only adapted one, z can be computed once
per example (like the frozen bottom, ``replib.nn.glue.encode_bottom``) and every adapter, MerA and
AdapterFusion run trains only LN-block + pooling + head on the cached z: the same function, without
re-running attention and the FFN at every step. ``CachedTop`` stands in for the encoder top there; a test
holds it against the full top in eval mode. Difference in training mode: the frozen layer's own dropout
(attention and FFN output) is not applied to the cached z (the frozen bottom's is not either); the adapter's
own dropout is. Full fine-tuning needs the real layer and reads the bottom's hidden states instead.
"""
from __future__ import annotations

import copy
from types import SimpleNamespace

import torch
from torch import nn

from ..nn.adapters import BottleneckAdapter, PfeifferNorm


class CachedTop(nn.Module):
    """The last layer's output LayerNorm (plus whatever wraps it), fed with the cached z as ``inputs_embeds``."""

    def __init__(self, norm: nn.Module, config, layer: nn.Module | None = None):
        super().__init__()
        self.norm, self.config = norm, config
        self.layer = layer                   # the frozen top (BertModel) it was cut from, for full fine-tuning

    def forward(self, attention_mask=None, input_ids=None, inputs_embeds=None, **_):
        return SimpleNamespace(last_hidden_state=self.norm(inputs_embeds))          # (B, T, d)


def cached_top(top: nn.Module) -> CachedTop:
    """The CachedTop of a one-layer frozen top (a BertModel copy from ``split_encoder``)."""
    if len(top.encoder.layer) != 1:
        raise ValueError(f"the cached path needs exactly one adapted layer, the top has {len(top.encoder.layer)}")
    return CachedTop(copy.deepcopy(top.encoder.layer[0].output.LayerNorm), top.config, top)


def with_adapter(ct: CachedTop, bottleneck: int, dropout: float | None = None) -> CachedTop:
    """A copy of ``ct`` with a new Pfeiffer adapter ('bert' init from the current RNG) in its LayerNorm."""
    d = ct.config.hidden_size
    p = ct.config.hidden_dropout_prob if dropout is None else dropout
    ad = BottleneckAdapter(d, bottleneck, init="bert", dropout=p)
    return CachedTop(PfeifferNorm(copy.deepcopy(ct.norm).requires_grad_(False), ad), ct.config)


@torch.no_grad()
def encode_z(top: nn.Module, d: dict, device, batch_size: int = 64) -> torch.Tensor:
    """(N, T, d): z, the input of the last layer's output LayerNorm, for every example of a split (read from its
    ``hidden`` states or its token ids), by a forward pre-hook on the frozen top in eval mode."""
    from .data import encode_trimmed

    norm = top.encoder.layer[-1].output.LayerNorm
    got = []
    hook = norm.register_forward_pre_hook(lambda mod, args: got.append(args[0]))
    was = top.training
    top.eval()

    def run(**kw):
        got.clear()
        top(**kw)
        return got[0]
    try:
        return encode_trimmed(run, d, device, batch_size, key="hidden" if "hidden" in d else None)
    finally:
        hook.remove()
        top.train(was)
