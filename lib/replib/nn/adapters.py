"""Bottleneck adapters and LoRA inserted into Hugging Face BERT-family encoders, with weight masks.

Shared by SparseAdapter (He et al., Findings EMNLP 2022; papers/sparseadapter.md Sec. 2) and MerA. The
adapter is the official ``petl/petl_factory.py::Adapter_Layer`` with its defaults (LayerNorm 'in', s = 1):

    A(h) = residual + s * (W_up dropout(ReLU(W_down LN(h) + b_down)) + b_up),     residual = h by default.

Init 'bert' (``init_bert_weights``): every weight N(0, 0.02), biases 0, LN (1, 0); init 'lora': W_down
kaiming-uniform (a = sqrt 5), W_up = b_up = b_down = 0, so A is the identity at step 0.

Placement follows the official ``modeling_roberta.py`` and is done by wrapping modules of the encoder
(never by forking transformers), so the layer's own forward is unchanged:
  houlsby   attention.output.dense -> AdapterAfter(dense): after the attention-output dense, before its
            dropout and residual LayerNorm; output.dropout -> AdapterAfter(dropout): after the FFN-output
            dense and dropout, before the residual LayerNorm (``ffn_option='sequential'``).
  pfeiffer  FFN only (``ffn_option='pfeiffer'``): z = h + x enters output.LayerNorm; the official code
            computes LN(A(LN(z), residual=h) + x) = LN(z + delta(LN(z))), with the same LayerNorm twice;
            PfeifferNorm wraps output.LayerNorm and does exactly that.
The official attention adapter always uses init 'bert' (only the FFN one reads ``ffn_adapter_init_option``);
here ``init`` applies to both. LoRA (the second adapter family) comes from ``peft`` (kaiming A, zero B,
scaling alpha / r; official default targets query and value, alpha 32).

Masks (``add_masks``) are a parametrisation W -> W * m of the adapter weight matrices only (W_down, W_up;
LoRA A, B); biases and LayerNorms are never masked. Stored weights stay as they are, the forward uses W * m,
so masked entries get exactly zero gradient (as the official float buffers ``down_mask``/``up_mask``). The
mask is a float buffer so that SNIP can differentiate through it. A masked model can be deep-copied, but
never call ``remove_parametrizations`` on a copy: torch's parametrised class is shared with the original,
which then loses its ``weight`` too.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize

INITS = ("bert", "lora")
PLACEMENTS = ("houlsby", "pfeiffer")


class BottleneckAdapter(nn.Module):
    """h -> residual + s * up(dropout(relu(down(ln(h))))) (official Adapter_Layer, LayerNorm option 'in')."""

    def __init__(self, d_model: int, bottleneck: int, *, layer_norm: bool = True, init: str = "bert",
                 dropout: float = 0.0, scale: float = 1.0):
        super().__init__()
        if d_model < 1 or bottleneck < 1:
            raise ValueError(f"need d_model >= 1 and bottleneck >= 1, got {d_model}, {bottleneck}")
        if init not in INITS:
            raise ValueError(f"unknown adapter init {init!r}; valid: {', '.join(INITS)}")
        self.ln = nn.LayerNorm(d_model) if layer_norm else None
        self.down = nn.Linear(d_model, bottleneck)
        self.up = nn.Linear(bottleneck, d_model)
        self.dropout = nn.Dropout(dropout)
        self.scale = scale
        self.reset_parameters(init)

    @torch.no_grad()
    def reset_parameters(self, init: str = "bert") -> None:
        if init == "bert":                                   # init_bert_weights
            for lin in (self.down, self.up):
                lin.weight.normal_(0.0, 0.02)
                lin.bias.zero_()
        else:                                                # 'lora': identity at step 0
            nn.init.kaiming_uniform_(self.down.weight, a=math.sqrt(5))
            for t in (self.up.weight, self.down.bias, self.up.bias):
                t.zero_()
        if self.ln is not None:
            self.ln.reset_parameters()

    def forward(self, h: torch.Tensor, residual: torch.Tensor | None = None) -> torch.Tensor:
        x = self.ln(h) if self.ln is not None else h
        delta = self.up(self.dropout(F.relu(self.down(x))))                   # (..., d_model)
        return (h if residual is None else residual) + self.scale * delta


class AdapterAfter(nn.Module):
    """``inner`` followed by an adapter: stands in for a dense or dropout module of a BERT layer."""

    def __init__(self, inner: nn.Module, adapter: BottleneckAdapter):
        super().__init__()
        self.inner, self.adapter = inner, adapter

    def forward(self, x):
        return self.adapter(self.inner(x))


class PfeifferNorm(nn.Module):
    """Wraps output.LayerNorm: z -> LN(z + delta(LN(z))), the official 'pfeiffer' FFN option."""

    def __init__(self, norm: nn.LayerNorm, adapter: BottleneckAdapter):
        super().__init__()
        self.norm, self.adapter = norm, adapter

    def forward(self, z):
        return self.norm(self.adapter(self.norm(z), residual=z))


def encoder_layers(model: nn.Module) -> nn.ModuleList:
    """The transformer blocks of a BERT-family model (BertModel, RobertaModel, or their ``.encoder``)."""
    for path in ("encoder.layer", "layer"):
        obj = model
        for attr in path.split("."):
            obj = getattr(obj, attr, None)
        if isinstance(obj, nn.ModuleList):
            return obj
    raise ValueError(f"{type(model).__name__} has no BERT-style 'encoder.layer' ModuleList; adapters can be "
                     f"inserted into BertModel, RobertaModel and other BERT-family encoders")


def _check_block(block: nn.Module, i: int) -> None:
    for path in ("attention.output.dense", "output.dropout", "output.LayerNorm"):
        obj = block
        for attr in path.split("."):
            obj = getattr(obj, attr, None)
        if obj is None:
            raise ValueError(f"layer {i} ({type(block).__name__}) has no {path}: not a BERT-family block")


def insert_adapters(model: nn.Module, *, bottleneck: int, placement: str = "houlsby", layers=None,
                    init: str = "bert", layer_norm: bool = True, dropout: float | None = None,
                    scale: float = 1.0, freeze: bool = True) -> list[BottleneckAdapter]:
    """Insert adapters into ``model`` in place and return them (in layer order, attention before FFN).

    ``layers``: block indices (default all); ``dropout`` defaults to the encoder's hidden_dropout_prob (as
    the official code); ``freeze`` turns off the gradients of every parameter that existed before.
    """
    if placement not in PLACEMENTS:
        raise ValueError(f"unknown adapter placement {placement!r}; valid: {', '.join(PLACEMENTS)}")
    blocks = encoder_layers(model)
    cfg = getattr(model, "config", None)
    d = cfg.hidden_size if cfg is not None else blocks[0].output.LayerNorm.normalized_shape[0]
    p = dropout if dropout is not None else getattr(cfg, "hidden_dropout_prob", 0.0)
    idx = range(len(blocks)) if layers is None else list(layers)
    if any(not 0 <= i < len(blocks) for i in idx):
        raise ValueError(f"layers {list(idx)} out of range: the encoder has {len(blocks)} layers")
    if freeze:
        model.requires_grad_(False)

    def new():
        return BottleneckAdapter(d, bottleneck, layer_norm=layer_norm, init=init, dropout=p, scale=scale)

    out = []
    for i in idx:
        block = blocks[i]
        _check_block(block, i)
        if placement == "houlsby":
            block.attention.output.dense = AdapterAfter(block.attention.output.dense, new())
            block.output.dropout = AdapterAfter(block.output.dropout, new())
            out += [block.attention.output.dense.adapter, block.output.dropout.adapter]
        else:
            block.output.LayerNorm = PfeifferNorm(block.output.LayerNorm, new())
            out.append(block.output.LayerNorm.adapter)
    return out


def insert_lora(model: nn.Module, *, r: int, alpha: float = 32.0, targets=("query", "value"), layers=None,
                init: str = "lora", dropout: float = 0.0) -> list[nn.Module]:
    """LoRA (peft) on the ``targets`` linears of the chosen blocks, in place; returns the LoRA layers.

    peft freezes every other parameter of ``model``. Init 'lora' is peft's (kaiming A, zero B); 'bert'
    draws A and B from N(0, 0.02), as the official ``Linear.reset_parameters``.
    """
    from peft import LoraConfig, inject_adapter_in_model
    from peft.tuners.lora import LoraLayer

    if init not in INITS:
        raise ValueError(f"unknown LoRA init {init!r}; valid: {', '.join(INITS)}")
    blocks = encoder_layers(model)
    idx = range(len(blocks)) if layers is None else list(layers)
    prefix = {id(b): n for n, b in model.named_modules() if any(b is blocks[i] for i in idx)}
    names = [f"{prefix[id(b)]}.{n}" for b in (blocks[i] for i in idx) for n, m in b.named_modules()
             if isinstance(m, nn.Linear) and n.split(".")[-1] in targets]
    if not names:
        raise ValueError(f"no linear named {targets} in the chosen layers")
    inject_adapter_in_model(LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=names), model)
    found = [m for m in model.modules() if isinstance(m, LoraLayer)]
    if init == "bert":
        with torch.no_grad():
            for m in found:
                m.lora_A["default"].weight.normal_(0.0, 0.02)
                m.lora_B["default"].weight.normal_(0.0, 0.02)
    return found


# ----------------------------------------------------------------------------- masks
class WeightMask(nn.Module):
    """Parametrisation W -> W * m with a float 0/1 buffer m (all ones at first)."""

    def __init__(self, weight: torch.Tensor):
        super().__init__()
        self.register_buffer("mask", torch.ones_like(weight, requires_grad=False))

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        return w * self.mask


def adapter_modules(model: nn.Module) -> list[nn.Module]:
    """Every BottleneckAdapter and peft LoRA layer of ``model``, in module order."""
    kinds: tuple = (BottleneckAdapter,)
    try:
        from peft.tuners.lora import LoraLayer
        kinds += (LoraLayer,)
    except ImportError:
        pass
    return [m for m in model.modules() if isinstance(m, kinds)]


def _maskable(adapter: nn.Module) -> list[nn.Linear]:
    if isinstance(adapter, BottleneckAdapter):
        return [adapter.down, adapter.up]
    return [adapter.lora_A["default"], adapter.lora_B["default"]]


def add_masks(model: nn.Module) -> dict[str, nn.Linear]:
    """Mask every adapter weight matrix of ``model`` (idempotent); returns masked_modules(model)."""
    for a in adapter_modules(model):
        for lin in _maskable(a):
            if not parametrize.is_parametrized(lin, "weight"):
                parametrize.register_parametrization(lin, "weight", WeightMask(lin.weight))
    found = masked_modules(model)
    if not found:
        raise ValueError("the model has no adapter (BottleneckAdapter or peft LoRA layer) to mask")
    return found


def masked_modules(model: nn.Module) -> dict[str, nn.Linear]:
    """{'<module path>.weight': linear} for every linear whose weight carries a WeightMask."""
    return {f"{n}.weight": m for n, m in model.named_modules()
            if parametrize.is_parametrized(m, "weight") and isinstance(m.parametrizations.weight[0], WeightMask)}


def masks_of(model: nn.Module) -> dict[str, torch.Tensor]:
    """The live mask buffers (float 0/1), keyed like masked_modules."""
    return {k: m.parametrizations.weight[0].mask for k, m in masked_modules(model).items()}


def stored_weights(model: nn.Module) -> dict[str, nn.Parameter]:
    """The stored (unmasked) weight parameters of the masked linears, keyed like masked_modules."""
    return {k: m.parametrizations.weight.original for k, m in masked_modules(model).items()}


@torch.no_grad()
def set_masks(model: nn.Module, masks: dict[str, torch.Tensor]) -> None:
    """Copy boolean/0-1 masks into the model's mask buffers; keys and shapes must match exactly."""
    live = masks_of(model)
    if set(masks) != set(live):
        raise ValueError(f"mask keys differ from the model's masked weights: missing "
                         f"{sorted(set(live) - set(masks))[:3]}, unknown {sorted(set(masks) - set(live))[:3]}")
    for k, m in masks.items():
        if m.shape != live[k].shape:
            raise ValueError(f"mask {k}: shape {tuple(m.shape)} != weight shape {tuple(live[k].shape)}")
        live[k].copy_(m)


# ----------------------------------------------------------------------------- adapter state (MerA)
def adapter_states(model: nn.Module) -> list[dict[str, torch.Tensor]]:
    """Detached copies of every BottleneckAdapter's state dict of ``model``, in module order (unmasked adapters:
    keys ln.weight, ln.bias, down.weight, down.bias, up.weight, up.bias)."""
    return [{k: v.detach().clone() for k, v in a.state_dict().items()}
            for a in model.modules() if isinstance(a, BottleneckAdapter)]


@torch.no_grad()
def load_adapter_states(model: nn.Module, states: list[dict[str, torch.Tensor]]) -> None:
    """Copy ``states`` (as from adapter_states) into the BottleneckAdapters of ``model``, in module order."""
    found = [a for a in model.modules() if isinstance(a, BottleneckAdapter)]
    if len(found) != len(states):
        raise ValueError(f"the model has {len(found)} adapters, {len(states)} states were given")
    for a, s in zip(found, states):
        a.load_state_dict(s)
