"""Supervised instruction tuning as the Stanford-Alpaca trainer does it, and held-out answer loss.

Each example is ``prompt + output + EOS`` tokenised as one string, the first ``len(T(prompt))`` tokens
masked out of the loss (Alpaca's ``train.py``, which Cherry LLM and Superfiltering train with), truncated
to ``max_length``. The loss of a batch is the mean NLL over its unmasked tokens; AdamW with linear
warm-up (3 %) and cosine decay, weight decay 0, as in the papers' training recipe.
"""
from __future__ import annotations

import math

import numpy as np

from .nll import batch_nll, token_nll
from .prompts import check_samples, format_prompt


def sft_sequences(tokenizer, samples, *, template: str = "alpaca", max_length: int = 512):
    """(ids, first target position) per sample: prompt masked, target = output + EOS."""
    samples = check_samples(samples)
    if tokenizer.eos_token is None:
        raise ValueError(f"tokenizer {type(tokenizer).__name__} has no EOS token to end the targets with")
    prompts = [format_prompt(s, template) for s in samples]
    full = tokenizer([p + s["output"] + tokenizer.eos_token for p, s in zip(prompts, samples)],
                     add_special_tokens=True)["input_ids"]
    starts = [len(x) for x in tokenizer(prompts, add_special_tokens=True)["input_ids"]]
    return [x[:max_length] for x in full], np.array(starts, dtype=np.int64)


def _lr_factor(step: int, total: int, warmup: int) -> float:
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def finetune(model, tokenizer, samples, *, template: str = "alpaca", epochs: int = 1, lr: float = 2e-5,
             batch_size: int = 8, max_length: int = 512, warmup_ratio: float = 0.03,
             weight_decay: float = 0.0, seed: int = 0, device=None, progress: bool | str = True,
             precision: str = "auto") -> list[float]:
    """Fine-tune `model` in place on `samples`; returns the training loss of every step.

    Batches are drawn in a seeded random order each epoch and right-padded to their longest member.
    The forward and the loss run under ``runtime.autocast(device, precision)`` ('auto': bf16 on CUDA,
    fp32 elsewhere), the backward, clipping and AdamW outside it (parameters stay in their dtype).
    """
    import torch
    from tqdm.auto import tqdm

    from .. import runtime

    if epochs < 1 or batch_size < 1 or lr <= 0:
        raise ValueError(f"need epochs >= 1, batch_size >= 1, lr > 0; got {epochs}, {batch_size}, {lr}")
    ids, starts = sft_sequences(tokenizer, samples, template=template, max_length=max_length)
    keep = [i for i in range(len(ids)) if len(ids[i]) > max(starts[i], 1)]   # something left to learn
    if not keep:
        raise ValueError("no training example has a target token inside max_length")
    device = torch.device(device) if device is not None else next(model.parameters()).device
    runtime.resolve_precision(precision, device)
    rng = np.random.default_rng(seed)
    per_epoch = math.ceil(len(keep) / batch_size)
    total = per_epoch * epochs
    warmup = max(1, round(warmup_ratio * total))
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, betas=(0.9, 0.999),
                            fused=device.type in ("cpu", "cuda"))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: _lr_factor(s, total, warmup))
    model.train()
    losses = []
    bar = tqdm(total=total, desc=progress if isinstance(progress, str) else "fine-tune", leave=False,
               disable=progress is False)
    try:
        for _ in range(epochs):
            order = rng.permutation(keep)
            for b in range(0, len(order), batch_size):
                idx = order[b:b + batch_size]
                with runtime.autocast(device, precision):
                    nll, _, _ = batch_nll(model, [ids[i] for i in idx], starts[idx], device)
                    loss = nll.mean()
                opt.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(params, 1.0)
                opt.step()
                sched.step()
                losses.append(loss.detach())  # on the device: the bar reads it every 10 steps, not every step
                bar.update(1)
                if len(losses) % 10 == 0 or len(losses) == total:
                    bar.set_postfix(loss=f"{float(losses[-1]):.3f}")
    finally:
        bar.close()
        model.eval()
    return torch.stack(losses).float().tolist() if losses else []


def answer_loss(model, tokenizer, samples, *, template: str = "alpaca", max_length: int = 512,
                device=None, progress: bool | str = False, precision: str = "auto") -> dict:
    """Held-out NLL of the reference answers (+ EOS) given the prompts: per-sample means and the
    token-weighted mean over the set (``mean``), in nats per token; ``per_sample_nll`` /
    ``per_sample_tokens`` are each sample's summed NLL and scored-token count (``mean`` = their ratio
    of sums), for example-paired comparisons of models on the same held-out set. Forwards run under
    ``runtime.autocast(device, precision)``."""
    ids, starts = sft_sequences(tokenizer, samples, template=template, max_length=max_length)
    out = token_nll(model, ids, starts, device=device, progress=progress, precision=precision)
    return {"per_sample": out.mean, "mean": float(out.total.sum() / max(1, out.count.sum())),
            "tokens": int(out.count.sum()), "per_sample_nll": out.total, "per_sample_tokens": out.count}


def train_and_eval(loader, train, heldout, *, seed: int = 0, device=None, eval_kwargs: dict | None = None,
                   **train_kwargs) -> dict:
    """Fresh model from `loader()` -> fine-tuned on `train` -> held-out answer loss on `heldout`.

    Returns ``{"heldout_loss", "train_losses", "seconds", "heldout"}`` (``heldout``: the full
    :func:`answer_loss` result, per-sample sums included); the model is discarded afterwards.
    """
    import time

    import torch

    torch.manual_seed(seed)
    t = time.perf_counter()
    model, tok = loader()
    if device is not None:
        model.to(device)
    losses = finetune(model, tok, train, seed=seed, device=device, **train_kwargs)
    kw = {"template": train_kwargs.get("template", "alpaca"), "max_length": train_kwargs.get("max_length", 512),
          "precision": train_kwargs.get("precision", "auto"), **(eval_kwargs or {})}
    res = answer_loss(model, tok, heldout, device=device, **kw)
    return {"heldout_loss": res["mean"], "train_losses": losses, "seconds": time.perf_counter() - t, "heldout": res}


def _example_rows(arm: str, seed: int, res: dict) -> list[dict]:
    """Per-example rows of one held-out evaluation (empty if `res` has no per-sample sums)."""
    if "per_sample_nll" not in res:
        return []
    return [{"arm": arm, "seed": seed, "example": i, "nll": float(t), "tokens": int(c)}
            for i, (t, c) in enumerate(zip(res["per_sample_nll"], res["per_sample_tokens"]))]


def compare_students(loader, pool, heldout, subsets_for_seed, seeds, *, eval_untuned: bool = True, device=None,
                     per_example: bool = False, **train_kwargs):
    """Held-out answer loss of a fresh student tuned on each subset of the pool, for every seed.

    ``subsets_for_seed(seed) -> {arm: positions in pool}`` (fixed subsets or redrawn per seed);
    ``train_kwargs`` go to :func:`finetune` (template, epochs, lr, batch_size, max_length, precision; the
    held-out evaluations use the same template, max_length and precision). With
    ``eval_untuned`` a first row 'untuned' holds the loss of the student before any tuning.
    Returns a DataFrame: arm, seed, n_train, heldout_loss, seconds, final_train_loss (mean of the last 3 steps).
    With ``per_example`` it returns ``(that frame, examples)``, ``examples`` one row per (arm, seed,
    held-out example): summed answer NLL ``nll`` and scored ``tokens`` (the same evaluation, no extra
    cost), so that arms can be compared example-paired on the shared held-out set.
    """
    import pandas as pd

    seeds = list(seeds)
    rows, examples = [], []
    if eval_untuned:
        model, tok = loader()
        res = answer_loss(model, tok, heldout, template=train_kwargs.get("template", "alpaca"),
                          max_length=train_kwargs.get("max_length", 512), device=device,
                          precision=train_kwargs.get("precision", "auto"))
        rows.append({"arm": "untuned", "seed": seeds[0], "n_train": 0, "heldout_loss": res["mean"], "seconds": 0.0})
        examples += _example_rows("untuned", seeds[0], res)
        del model
    for s in seeds:
        for arm, idx in subsets_for_seed(s).items():
            res = train_and_eval(loader, [pool[i] for i in idx], heldout, seed=s, device=device,
                                 progress=f"student {arm} seed {s}", **train_kwargs)
            rows.append({"arm": arm, "seed": s, "n_train": len(idx), "heldout_loss": res["heldout_loss"],
                         "seconds": res["seconds"], "final_train_loss": float(np.mean(res["train_losses"][-3:]))})
            examples += _example_rows(arm, s, res.get("heldout", {}))
    frame = pd.DataFrame(rows)
    if not per_example:
        return frame
    return frame, pd.DataFrame(examples, columns=["arm", "seed", "example", "nll", "tokens"])


def paired_students(students, examples, a: str, b: str):
    """Held-out loss of arm `a` minus arm `b` with its 95% interval (`replib.stats.Paired`), or None if
    either arm is missing.

    With >= 2 seeds shared by both arms: Student t over the seed-paired differences (training noise
    included). With one seed and the per-example rows of ``compare_students(..., per_example=True)``:
    a percentile bootstrap over the shared held-out examples, each example's difference of summed NLL
    divided by the mean token count, so the mean equals the difference of the token-weighted losses;
    that interval covers the choice of evaluation examples only, not training-seed noise. Otherwise the
    single pair, which has no interval.
    """
    from .. import stats

    if students is None or students.empty or not {a, b} <= set(students["arm"]):
        return None
    la = students[students["arm"] == a].set_index("seed")["heldout_loss"]
    lb = students[students["arm"] == b].set_index("seed")["heldout_loss"]
    seeds = sorted(set(la.index) & set(lb.index))
    if len(seeds) != 1 or examples is None or examples.empty:
        return stats.paired(la[seeds].to_numpy(), lb[seeds].to_numpy(), method="t")
    ea = examples[(examples["arm"] == a) & (examples["seed"] == seeds[0])].set_index("example")
    eb = examples[(examples["arm"] == b) & (examples["seed"] == seeds[0])].set_index("example")
    common = ea.index.intersection(eb.index)
    if len(common) < 2 or not np.array_equal(ea.loc[common, "tokens"], eb.loc[common, "tokens"]):
        return stats.paired(la[seeds].to_numpy(), lb[seeds].to_numpy(), method="t")
    scale = len(common) / max(1, int(ea.loc[common, "tokens"].sum()))
    return stats.paired(ea.loc[common, "nll"].to_numpy() * scale, eb.loc[common, "nll"].to_numpy() * scale,
                        method="bootstrap")
