"""The IFD notebook's experiments: pre-experience, scoring, selection, what IFD selects, students.

Pre-experience (Cherry LLM Sec. 3.1, ``data_analysis.py --mod pre`` + ``data_by_cluster.py``): each
prompt's embedding is the mean of the model's last hidden layer over all prompt tokens, its confidence
the prompt perplexity; K-means on the embeddings, a few middle-perplexity samples per cluster, one
brief fine-tuning epoch. Scoring (Sec. 3.2) uses :mod:`replib.lm.ifd` in the Cherry style through the
disk cache; selection (Sec. 3.3) is :func:`replib.ifd.select.select_cherry`.
"""
from __future__ import annotations

import copy
import hashlib
import json

import numpy as np
import pandas as pd

from ..lm.cache import cached_score_ifd, sample_key
from ..lm.data import instruction_pool
from ..lm.nll import token_nll
from ..lm.prompts import format_prompt
from ..lm.sft import compare_students, finetune
from .select import cluster_sample, kmeans_labels


# ----------------------------------------------------------------------------- data
def load_pool(cfg, profile: str):
    """(pool, heldout, in_cherry): in_cherry[i] is True when pool[i] is in the official Cherry 5% release."""
    from ..assets import load_dataset

    pool, heldout = instruction_pool(cfg.data, n_pool=cfg.n_pool, n_heldout=cfg.n_heldout,
                                     seed=cfg.data_seed, profile=profile)
    release = {sample_key(s) for s in load_dataset("cherry-alpaca-5pct")}
    in_cherry = np.array([sample_key(s) in release for s in pool])
    return pool, heldout, in_cherry


def composition(samples, idx=None) -> dict:
    """Mean output length (characters) and share of samples with a non-empty input (Table 4's bias)."""
    rows = samples if idx is None else [samples[i] for i in idx]
    if not rows:
        return {"n": 0, "output_chars": float("nan"), "input_share": float("nan")}
    return {"n": len(rows), "output_chars": float(np.mean([len(s["output"]) for s in rows])),
            "input_share": float(np.mean([bool(s.get("input")) for s in rows]))}


def pool_frame(samples, in_release) -> pd.DataFrame:
    """Per pool sample: answer length (characters), non-empty input, member of the official release."""
    return pd.DataFrame({"output_chars": np.array([len(s["output"]) for s in samples], dtype=np.int64),
                         "has_input": np.array([bool(s.get("input")) for s in samples], dtype=bool),
                         "in_release": np.asarray(in_release, dtype=bool)})


# ----------------------------------------------------------------------------- pre-experience
def prompt_features(model, tokenizer, samples, *, template: str = "alpaca", max_length: int = 512,
                    progress=True, precision: str = "auto"):
    """(prompt perplexity, prompt embedding) per sample: one forward of T(prompt)[:M], the perplexity of
    the model's own shifted loss, the embedding = mean of the last hidden layer over all prompt tokens."""
    ids = [x[:max_length] for x in tokenizer([format_prompt(s, template) for s in samples])["input_ids"]]
    out = token_nll(model, ids, np.ones(len(ids), dtype=np.int64), mean_hidden=True, precision=precision,
                    progress="prompt embeddings" if progress is True else progress)
    return np.exp(out.mean), out.hidden_mean


def pre_experience_set(ppl, emb, cfg, seed: int = 0) -> np.ndarray:
    """Positions of the pre-experience samples: K-means, then the middle-perplexity rule per cluster."""
    labels = kmeans_labels(emb, cfg.n_clusters, seed=seed)
    return cluster_sample(labels, ppl, n=cfg.per_cluster, low=cfg.band[0], up=cfg.band[1])


def pre_experience(cfg, model, tokenizer, pool, *, seed: int = 0, progress=True) -> dict:
    """The brief-experience model (a fine-tuned copy of `model`) and what went into it.

    ``tag`` names the resulting weights for the score cache: the base model, the chosen samples and the
    training settings, so a changed setting never reuses stale scores.
    """
    ppl, emb = prompt_features(model, tokenizer, pool, template=cfg.template, max_length=cfg.max_length,
                               progress=progress, precision=cfg.precision)
    idx = pre_experience_set(ppl, emb, cfg, seed=seed)
    recipe = {"base": cfg.model, "samples": [sample_key(pool[i]) for i in idx], "lr": cfg.pre_lr,
              "epochs": cfg.pre_epochs, "batch": cfg.pre_batch, "template": cfg.template, "seed": seed,
              "max_length": cfg.max_length}
    tag = f"{cfg.model}+pre-{hashlib.sha1(json.dumps(recipe).encode()).hexdigest()[:12]}"
    pre = copy.deepcopy(model)
    losses = finetune(pre, tokenizer, [pool[i] for i in idx], template=cfg.template, epochs=cfg.pre_epochs,
                      lr=cfg.pre_lr, batch_size=cfg.pre_batch, max_length=cfg.max_length, seed=seed,
                      progress="pre-experience" if progress else False, precision=cfg.precision)
    return {"model": pre, "idx": idx, "ppl": ppl, "emb": emb, "losses": losses, "tag": tag}


def score(cfg, tag: str, model, tokenizer, samples, *, template: str | None = None):
    """Cherry-style IFD table of `samples` under the weights named `tag` (disk-cached)."""
    return cached_score_ifd(tag, lambda: (model, tokenizer), samples, style="cherry", max_length=cfg.max_length,
                            template=template or cfg.template, precision=cfg.precision,
                            device=next(model.parameters()).device)


def share_above_one(table: pd.DataFrame) -> float:
    """Share of scorer-valid samples with IFD > 1 (the ones Cherry drops as misaligned)."""
    ok = (table["skip"] == "") & table["ifd_loss"].notna()
    return float((table.loc[ok, "ifd_loss"] > 1).mean()) if ok.any() else float("nan")


def ifd_before_after(base: pd.DataFrame, pre: pd.DataFrame) -> pd.DataFrame:
    """IFD of the same samples under the base ('before') and pre-experienced ('after') scorer, NaN where
    that scorer skips the sample (the rows `share_above_one` leaves out)."""
    def valid(t):
        return t["ifd_loss"].where(t["skip"] == "").to_numpy(dtype=float)
    return pd.DataFrame({"before": valid(base.reset_index(drop=True)), "after": valid(pre.reset_index(drop=True))})


# ----------------------------------------------------------------------------- against the release
def precision_recall(selected, positives: np.ndarray) -> dict:
    """Precision/recall of `selected` positions against boolean `positives`, beside random picks of the
    same size: their hits follow a hypergeometric law (mean, 2.5-97.5 % band, and the exact one-sided
    p-value of doing at least this well by chance)."""
    from scipy.stats import hypergeom

    selected = np.asarray(selected, dtype=np.int64)
    n, k, pos = len(positives), len(selected), int(np.sum(positives))
    hit = int(positives[selected].sum()) if k else 0
    law = hypergeom(n, pos, k)
    lo, hi = law.ppf([0.025, 0.975])
    return {"k": k, "positives": pos, "hits": hit, "precision": hit / max(k, 1), "recall": hit / max(pos, 1),
            "random_precision": float(law.mean()) / max(k, 1), "random_recall": float(law.mean()) / max(pos, 1),
            "random_precision_band": (float(lo) / max(k, 1), float(hi) / max(k, 1)),
            "p_value": float(law.sf(hit - 1))}


# ----------------------------------------------------------------------------- students
def training_subsets(table: pd.DataFrame, n_train: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Equal-size subsets of scorer-valid, IFD <= 1 samples: highest IFD, random, lowest IFD.

    If fewer than 3 x n_train samples have IFD <= 1 (a random smoke model), all scorer-valid ones are used.
    """
    valid = ((table["skip"] == "") & table["ifd_loss"].notna()).to_numpy()
    ok = np.flatnonzero(valid & (table["ifd_loss"] <= 1).to_numpy())
    if len(ok) < 3 * n_train:
        print(f"warning: only {len(ok)} samples with IFD <= 1; drawing the subsets from all valid samples")
        ok = np.flatnonzero(valid)
    if len(ok) < 3 * n_train:
        raise ValueError(f"only {len(ok)} scorer-valid samples; need 3 x n_train = {3 * n_train}")
    order = ok[np.argsort(table["ifd_loss"].to_numpy()[ok], kind="stable")]
    rng = np.random.default_rng(seed)
    return {"top IFD": order[-n_train:], "random": np.sort(rng.choice(ok, n_train, replace=False)),
            "low IFD": order[:n_train]}


def student_runs(cfg, loader, pool, heldout, subsets: dict, *, seed: int = 0, device=None, per_example: bool = False):
    """Held-out answer loss of a fresh base model tuned on each (fixed) subset, for each seed; plus 'untuned'.
    With ``per_example`` also the per-held-out-example rows (see `compare_students`)."""
    return compare_students(loader, pool, heldout, lambda s: subsets, range(seed, seed + cfg.sft_seeds),
                            device=device, per_example=per_example, template=cfg.template, epochs=cfg.sft_epochs,
                            lr=cfg.sft_lr, batch_size=cfg.sft_batch, max_length=cfg.sft_max_length,
                            precision=cfg.precision)
