"""Instruction-Following Difficulty (IFD) of instruction data, batched and faithful to the official scorers.

For a prompt Q and answer A of N tokens (Cherry LLM, Li et al. NAACL 2024, Sec. 3.2):

    s(A|Q) = -1/N sum_i log P(a_i | Q, a_<i)        (conditioned answer loss, ``loss_cond``)
    s(A)   = -1/N sum_i log P(a_i | a_<i)           (direct answer loss, ``loss_dir``)
    IFD    = s(A|Q) / s(A)                          (``ifd_loss``, Cherry's ratio of mean losses)

Superfiltering (Li et al. ACL 2024) ranks by the ratio of perplexities, ``ifd_ppl = exp(s(A|Q) - s(A))``
(the same > 1 set as ``ifd_loss``, a different order). Both are returned for both styles.

The token sequences are built with the official string logic, including its quirks:

``style="cherry"`` (``cherry_seletion/data_analysis.py`` + ``data_by_IFD.py``; template ``alpaca``):
  conditioned ids = T(prompt + A)[:M]; the answer starts at len(T(text[:text.rfind(A)])) (the prefix is
  tokenised on its own); direct ids = T("### Response:" + A)[:M - n_prompt + 4] with n_prompt =
  len(T(prompt)[:M]), scored from the same rfind rule. Skips (``skip`` column, selection excludes them):
  M - n_prompt <= 0, no answer token in either pass, n_prompt + n_dir > M (answer truncated).
``style="superfiltering"`` (``code_ifd/data_analysis.py``; template ``none``: "{instruction}\\n{input}\\n"):
  direct ids = T(A)[:M - n_prompt + 1] scored by the model's shifted loss, so a tokenizer without BOS
  (GPT-2, SmolLM2) never scores the first answer token; conditioned as Cherry, all answer tokens scored.
  An empty answer is skipped (NaN); truncated answers are scored truncated.

Tokenisation is batched (fast tokenizer) and truncation is a slice, which equals Hugging Face's
``truncation=True, max_length=k`` for tokenizers that add special tokens only in front (checked).
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from .nll import token_nll
from .prompts import check_samples, check_template, format_prompt

STYLES = {"cherry": ("alpaca", "### Response:", 4), "superfiltering": ("none", "", 1)}
"""style -> (default template, direct-pass prefix, window slack of the direct pass)."""

COLUMNS = ("loss_cond", "loss_dir", "ifd_loss", "ifd_ppl", "ppl_cond", "ppl_dir",
           "n_prompt", "n_cond", "n_dir", "skip")


@dataclass
class Records:
    """Token sequences of both passes, in sample order; a pass scores positions start .. len-1."""

    cond_ids: list
    cond_start: np.ndarray
    dir_ids: list
    dir_start: np.ndarray
    n_prompt: np.ndarray
    n_cond: np.ndarray
    n_dir: np.ndarray
    skip: list


def check_style(style: str) -> str:
    if style not in STYLES:
        raise ValueError(f"unknown IFD style {style!r}; valid: {', '.join(STYLES)}")
    return style


def _encode(tokenizer, texts: list[str]) -> list[list[int]]:
    return tokenizer(texts, add_special_tokens=True)["input_ids"] if texts else []


def _check_tokenizer(tokenizer) -> None:
    """Slicing equals HF truncation only if special tokens are added in front (BOS), never at the end."""
    plain = tokenizer("a b", add_special_tokens=False)["input_ids"]
    full = tokenizer("a b", add_special_tokens=True)["input_ids"]
    if full[len(full) - len(plain):] != plain:
        raise ValueError(f"tokenizer {type(tokenizer).__name__} appends special tokens after the text "
                         f"({full} vs {plain}); the IFD scorer's truncation assumes leading ones only")


def build_records(tokenizer, samples, *, style: str = "cherry", max_length: int = 512,
                  template: str | None = None) -> Records:
    """The two token sequences per sample and the official skip reasons (no model needed)."""
    check_style(style)
    if max_length < 2:
        raise ValueError(f"max_length must be >= 2, got {max_length}")
    samples = check_samples(samples)
    _check_tokenizer(tokenizer)
    default_template, prefix, slack = STYLES[style]
    template = check_template(template or default_template)
    M = max_length
    prompts = [format_prompt(s, template) for s in samples]
    answers = [s["output"] for s in samples]
    texts = [p + a for p, a in zip(prompts, answers)]
    directs = [prefix + a for a in answers]
    n_prompt = np.minimum([len(x) for x in _encode(tokenizer, prompts)], M)
    cond_full = _encode(tokenizer, texts)
    cond_start = np.array([len(x) for x in _encode(tokenizer, [t[:t.rfind(a)] for t, a in zip(texts, answers)])])
    dir_full = _encode(tokenizer, directs)
    if style == "cherry":
        dir_start = np.array([len(x) for x in _encode(tokenizer, [d[:d.rfind(a)] for d, a in zip(directs, answers)])])
    else:
        dir_start = np.ones(len(samples), dtype=np.int64)     # labels = input ids: position 0 unscored
    cond_ids = [x[:M] for x in cond_full]
    dir_ids = [x[:max(M - int(k) + slack, 0)] for x, k in zip(dir_full, n_prompt)]
    len_c = np.array([len(x) for x in cond_ids])
    len_d = np.array([len(x) for x in dir_ids])
    if style == "cherry":
        n_cond, n_dir = len_c - cond_start, len_d - dir_start                # data_by_IFD.py's end - start
    else:
        n_cond, n_dir = len_c - np.maximum(cond_start, 1), len_d - 1         # HF's shifted, masked loss
    skip = []
    for i, a in enumerate(answers):
        if style == "superfiltering" and a == "":
            skip.append("empty answer")
            cond_ids[i], dir_ids[i] = [], []
        elif style == "cherry" and M - n_prompt[i] <= 0:
            skip.append("prompt fills the window")
        elif n_cond[i] <= 0 or n_dir[i] <= 0:
            skip.append("no answer tokens")
        elif style == "cherry" and n_prompt[i] + n_dir[i] > M:
            skip.append("answer truncated")
        else:
            skip.append("")
    return Records(cond_ids, cond_start, dir_ids, dir_start, n_prompt, n_cond, n_dir, skip)


def score_ifd(model, tokenizer, samples, *, style: str = "cherry", max_length: int = 512,
              template: str | None = None, batch_size: int | None = None, token_budget: int | None = None,
              device=None, autocast: bool | None = None, progress: bool | str = True,
              precision: str | None = None):
    """IFD table (pandas DataFrame, one row per sample, columns ``COLUMNS``) of `samples` under `model`.

    Both passes of every sample go through one length-sorted, batched :func:`replib.lm.nll.token_nll`
    call. ``device`` defaults to the model's; ``precision`` ('auto' by default: bf16 autocast on CUDA,
    fp32 elsewhere; or the older ``autocast=True/False``) is the forwards' ``runtime.autocast``.
    The attribute ``table.attrs["seconds"]`` holds the wall time of tokenising plus scoring.
    """
    import pandas as pd

    t0 = time.perf_counter()
    rec = build_records(tokenizer, samples, style=style, max_length=max_length, template=template)
    n = len(rec.skip)
    out = token_nll(model, rec.cond_ids + rec.dir_ids, np.concatenate([rec.cond_start, rec.dir_start]),
                    device=device, batch_size=batch_size, token_budget=token_budget, autocast=autocast,
                    precision=precision, progress=progress if progress is not True else f"IFD ({style})")
    mean = out.mean
    loss_c, loss_d = mean[:n], mean[n:]
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        table = pd.DataFrame({
            "loss_cond": loss_c, "loss_dir": loss_d,
            "ifd_loss": loss_c / loss_d, "ifd_ppl": np.exp(loss_c - loss_d),
            "ppl_cond": np.exp(loss_c), "ppl_dir": np.exp(loss_d),
            "n_prompt": rec.n_prompt, "n_cond": rec.n_cond, "n_dir": rec.n_dir, "skip": rec.skip,
        })
    table.attrs["seconds"] = time.perf_counter() - t0
    table.attrs["tokens"] = int(sum(len(x) for x in rec.cond_ids + rec.dir_ids))
    return table


# ----------------------------------------------------------------------------- cost
def param_counts(model) -> dict:
    """Parameters of the transformer body and of the vocabulary head (tied or not)."""
    emb = model.get_input_embeddings().weight
    head = model.get_output_embeddings().weight
    tied = head.data_ptr() == emb.data_ptr()
    total = sum(p.numel() for p in model.parameters())
    body = total - emb.numel() - (0 if tied else head.numel())
    return {"body": int(body), "head": int(head.numel()), "total": int(total)}


def forward_flops(params: dict, tokens: int, scored: int) -> float:
    """2 x body params per token fed + 2 x head params per scored position (attention ignored)."""
    return 2.0 * params["body"] * tokens + 2.0 * params["head"] * scored
