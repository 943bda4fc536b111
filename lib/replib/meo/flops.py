"""Forward FLOPs of BERT with MoE or MEO FFNs: the paper's headline "72.0G -> 28.6G".

The official FLOPs tooling was deleted, so this is the analytic reconstruction of the spec
(papers/meo.md Sec. 4): one sequence of n tokens, FLOPs = 2 x multiply-adds, BERT with L layers,
width d, FFN width f and a V-way masked-LM head:

    attention = L (8 n d^2 + 4 n^2 d)          Q, K, V, O projections + scores + weighted values
    ffn       = 4 L n d f                      two linears per layer (one expert's worth)
    head      = 2 n d V
    MoE(k)    = attention + head + k * ffn      every selected expert runs on every token
    MEO(k)    = attention + head + ffn + 4 k L d f     one merged matmul + merging k experts

BERT-base, k=4, n=128 gives MoE 71.8G and MEO 28.8G: the paper's 72.0G -> 28.6G within 1%.
`flops_breakdown(..., exact=True)` adds what the real modules also compute (the MLM head's d x d
transform, the routers) so that it matches torch.utils.flop_counter on the module itself.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BertDims:
    """Sizes that determine forward FLOPs."""

    layers: int
    hidden: int
    ffn: int
    vocab: int = 30522


BERT_SIZES = {
    "bert-small": BertDims(4, 512, 2048),
    "bert-base": BertDims(12, 768, 3072),
    "bert-large": BertDims(24, 1024, 4096),
}
MODES = ("moe", "meo", "dense")


def _dims(model: str | BertDims) -> BertDims:
    if isinstance(model, BertDims):
        return model
    if model not in BERT_SIZES:
        raise ValueError(f"unknown model {model!r}; valid: {', '.join(BERT_SIZES)} or a BertDims")
    return BERT_SIZES[model]


def flops_breakdown(model: str | BertDims, k: int, seq_len: int = 128, mode: str = "moe", *,
                    n_experts: int | None = None, exact: bool = False) -> dict[str, float]:
    """Per-part forward FLOPs of one sequence; see the module docstring for the formulas.

    exact=True models our implementation on HF BertForMaskedLM in eval mode: the MLM head transform
    (2 n d^2), each router's u W_g (2 d_in n_experts per linear), and MEO's merge over all n experts
    when 2k > n (`meo_merge` then merges densely) instead of the k selected ones.
    """
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; valid: {MODES}")
    if k < 1 or seq_len < 1:
        raise ValueError(f"need k >= 1 and seq_len >= 1, got k={k}, seq_len={seq_len}")
    D = _dims(model)
    L, d, f, V, n = D.layers, D.hidden, D.ffn, D.vocab, seq_len
    one_ffn = 4 * L * n * d * f
    parts = {"attention": float(L * (8 * n * d * d + 4 * n * n * d)), "head": float(2 * n * d * V)}
    if mode == "dense":
        parts["ffn"] = float(one_ffn)
    elif mode == "moe":
        parts["ffn"] = float(k * one_ffn)
    else:
        merged = k
        if exact and n_experts is not None and 2 * k > n_experts:
            merged = n_experts
        parts["ffn"] = float(one_ffn)
        parts["merge"] = float(4 * merged * L * d * f)
    if exact:
        parts["head"] += 2 * n * d * d
        if mode != "dense":
            if n_experts is None:
                raise ValueError("exact=True needs n_experts for the router cost")
            parts["router"] = float(L * 2 * (d + f) * n_experts)
    return parts


def flops(model: str | BertDims, k: int, seq_len: int = 128, mode: str = "moe", **kw) -> float:
    """Forward FLOPs of one sequence (2 per multiply-add, vocabulary head included)."""
    return sum(flops_breakdown(model, k, seq_len, mode, **kw).values())


def token_att_flops(model: str | BertDims, seq_len: int = 128, reduction: int = 64) -> float:
    """FLOPs of MEO's TokenAtt blocks: per FFN linear with input width m, 2 n (2 m * max(1, m // r))."""
    D = _dims(model)
    per_layer = sum(4 * seq_len * m * max(1, m // reduction) for m in (D.hidden, D.ffn))
    return float(D.layers * per_layer)
