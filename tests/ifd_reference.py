"""Literal one-sample-at-a-time ports of the official IFD scorers (the references of the batched scorer).

Cherry LLM: ``cherry_seletion/data_analysis.py --mod cherry`` (full forward per pass, per-token
log-softmax loop) + ``data_by_IFD.py`` (answer slice, skip rules). Superfiltering:
``code_ifd/data_analysis.py`` (Hugging Face's mean loss of each pass). Used by tests/unit/test_lm_ifd.py
and benchmarks/bench_ifd.py; deliberately slow and plain.
"""
import math

import numpy as np
import torch

from replib.lm.prompts import format_prompt


def _ref_token_losses(model, tokenizer, text, target, max_length):
    """Cherry's get_perplexity_and_embedding_part_text: full forward, per-token log-softmax loop."""
    input_ids = tokenizer.encode(text, return_tensors="pt", truncation=True, max_length=max_length)
    with torch.no_grad():
        logits = model(input_ids).logits
    losses = []
    for i in range(1, input_ids.shape[1]):
        logp = torch.log_softmax(logits[0, i - 1], dim=-1)
        losses.append(-logp[input_ids[0, i]].item())
    return losses


def _ref_part(tokenizer, text, target, max_length, loss_list):
    """data_by_IFD.py's get_loss_part_text."""
    input_ids = tokenizer.encode(text, truncation=True, max_length=max_length)
    start = len(tokenizer.encode(text[:text.rfind(target)]))
    end = len(input_ids)
    return end - start, np.array(loss_list[start - 1:end - 1])


def cherry_reference(model, tokenizer, sample, max_length):
    """(L_cond, L_dir, n_cond, n_dir, skip) exactly as data_analysis.py --mod cherry + data_by_IFD.py."""
    prompt = format_prompt(sample, "alpaca")
    out = sample["output"]
    whole, direct = prompt + out, "### Response:" + out
    n_prompt = len(tokenizer.encode(prompt, truncation=True, max_length=max_length))
    if max_length - n_prompt <= 0:
        return None, None, None, None, "prompt fills the window"
    loss_dir = _ref_token_losses(model, tokenizer, direct, out, max_length - n_prompt + 4)
    loss_cond = _ref_token_losses(model, tokenizer, whole, out, max_length)
    n_dir, l_dir = _ref_part(tokenizer, direct, out, max_length - n_prompt + 4, loss_dir)
    n_cond, l_cond = _ref_part(tokenizer, whole, out, max_length, loss_cond)
    if n_dir <= 0 or n_cond <= 0:
        return None, None, n_cond, n_dir, "no answer tokens"
    skip = "answer truncated" if n_prompt + n_dir > max_length else ""
    return l_cond.mean(), l_dir.mean(), n_cond, n_dir, skip


def superfiltering_reference(model, tokenizer, sample, max_length):
    """(L_cond, L_dir) exactly as code_ifd/data_analysis.py: HF's mean loss of each pass."""
    inp = sample.get("input", "")
    prompt = f"{sample['instruction']}\n{inp}\n" if inp else f"{sample['instruction']}\n"
    out = sample["output"]
    if out == "":
        return math.nan, math.nan
    n_prompt = len(tokenizer.encode(prompt, return_tensors="pt", truncation=True, max_length=max_length)[0])
    ids = tokenizer.encode(out, return_tensors="pt", truncation=True, max_length=max_length - n_prompt + 1)
    with torch.no_grad():
        l_dir = model(ids, labels=ids.clone()).loss.item()
    whole = prompt + out
    ids = tokenizer.encode(whole, return_tensors="pt", truncation=True, max_length=max_length)
    labels = ids.clone()
    labels[0, :len(tokenizer.encode(whole[:whole.rfind(out)]))] = -100
    with torch.no_grad():
        l_cond = model(ids, labels=labels).loss.item()
    return l_cond, l_dir
