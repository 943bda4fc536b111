"""GLUE data for MerA: source tasks, targets, tracks and the k-shot sampler (papers/mera.md Sec. 2, 6).

Offline GLUE (``replib.assets.load_dataset('glue/X')``) has train and dev for RTE, MRPC, CoLA, SST-2, STS-B and
WNLI; QNLI has only dev, so its dev set is split (seeded) into a training part and an evaluation part. STS-B
is a regression (similarity 0-5): it is binarised, label = score >= STSB_THRESHOLD (3.0: "roughly
equivalent" on the STS annotation scale). Every task is then a two-class classification.

Tracks (spec Sec. 2.5 leaves "track" open): the default splits the tasks by input format, sentence-pair
{MRPC, STS-B, RTE, QNLI, WNLI} against single-sentence {SST-2, CoLA}; ``Config.tracks`` can set others
(e.g. paraphrase {MRPC, STS-B} and NLI {RTE, QNLI, WNLI}). A target's own adapter is never a source.

``fewshot_indices``: exactly k examples of each class from the target's training pool, drawn from the run's
seed; the evaluation set is the dev split (or QNLI's held-out part), so the two never overlap.
"""
from __future__ import annotations

import pandas as pd
import torch

from ..nn.glue import TaskData, tokenise

TASKS = ("MRPC", "STS-B", "RTE", "QNLI", "WNLI", "SST-2", "CoLA")
STSB_THRESHOLD = 3.0
"""STS-B similarity at or above which a pair counts as a paraphrase (label 1)."""
DEFAULT_TRACKS = (("MRPC", "STS-B", "RTE", "QNLI", "WNLI"), ("SST-2", "CoLA"))


def sources_for(target: str, sources, tracks=DEFAULT_TRACKS, same_track: bool = False) -> list[str]:
    """The source tasks of ``target`` (never the target itself), only those of its track with same_track."""
    out = [s for s in sources if s != target]
    if same_track:
        track = next((set(t) for t in tracks if target in t), set())
        out = [s for s in out if s in track]
    return out


def load_frames(task: str, n_train: int | None, n_eval: int | None, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train, eval) frames of a task with binary labels; seeded subsets of n_train / n_eval rows."""
    from .. import assets

    if task == "QNLI":                                           # dev only: split it (eval first, train the rest)
        dev = assets.load_dataset("glue/QNLI", split="dev").sample(frac=1.0, random_state=seed)
        n = n_eval or len(dev) // 2
        ev, tr = dev.iloc[:n], dev.iloc[n:]
    else:
        tr = assets.load_dataset(f"glue/{task}", split="train")
        ev = assets.load_dataset(f"glue/{task}", split="dev")
    out = []
    for df, size in ((tr, n_train), (ev, n_eval)):
        if size is not None and size < len(df):
            df = df.sample(n=size, random_state=seed)
        df = df.reset_index(drop=True)
        if task == "STS-B":
            df = df.assign(label=(df["label"] >= STSB_THRESHOLD).astype(int))
        out.append(df)
    return out[0], out[1]


@torch.no_grad()
def encode_trimmed(module, d: dict, device, batch_size: int = 64, key: str | None = None) -> torch.Tensor:
    """(N, T, d) float32 on the CPU: ``module`` (a frozen BertModel part) over a tokenised split in batches of
    similar length, each trimmed to its longest example (padding rows left at 0; attention masks them anyway).
    ``key``: feed d[key] as inputs_embeds (cached states) instead of token ids."""
    lengths = d["attention_mask"].sum(1)
    out = None
    for idx in lengths.argsort().split(batch_size):
        t = int(lengths[idx].max())
        kw = {"attention_mask": d["attention_mask"][idx, :t].to(device)}
        if key is not None:
            kw["inputs_embeds"] = d[key][idx, :t].to(device)
        else:
            kw["input_ids"] = d["input_ids"][idx, :t].to(device)
            if "token_type_ids" in d:
                kw["token_type_ids"] = d["token_type_ids"][idx, :t].to(device)
        h = module(**kw).float().cpu()                                        # (b, t, d)
        if out is None:
            out = torch.zeros(len(lengths), d["attention_mask"].shape[1], h.shape[-1])
        out[idx, :t] = h
    return out


def prepare_task(task: str, tok, bottom, cfg, device) -> TaskData:
    """Read, subsample (cfg.n_train, cfg.n_eval, cfg.data_seed), tokenise (cfg.max_len) and cache the frozen
    bottom's hidden states of one task."""
    frames = load_frames(task, cfg.n_train, cfg.n_eval, cfg.data_seed)
    data = []
    for df in frames:
        d = tokenise(tok, df, cfg.max_len)
        if bottom is not None:
            bottom.to(device).eval()
            d["hidden"] = encode_trimmed(lambda **kw: bottom(**kw).last_hidden_state, d, device)
        data.append(d)
    return TaskData(task, 2, data[0], data[1])


def fewshot_indices(labels: torch.Tensor, k: int, seed: int) -> torch.Tensor:
    """Indices of exactly k examples of every class in ``labels`` (sorted), reproducible from ``seed``."""
    if k < 1:
        raise ValueError(f"k (shots per class) must be >= 1, got {k}")
    gen = torch.Generator().manual_seed(seed)
    out = []
    for c in torch.unique(labels):
        pool = (labels == c).nonzero().flatten()                 # once per run, not on a hot path
        if len(pool) < k:
            raise ValueError(f"class {int(c)} has only {len(pool)} training examples, fewer than k={k}")
        out.append(pool[torch.randperm(len(pool), generator=gen)[:k]])
    return torch.cat(out).sort().values


def subset(d: dict, idx: torch.Tensor) -> dict:
    """Rows ``idx`` of a tokenised split."""
    return {k: v[idx] for k, v in d.items()}


def fewshot_task(data: TaskData, k: int, seed: int) -> TaskData:
    """The k-shot training set (k per class, from the seed) with the full evaluation split."""
    return TaskData(data.name, data.num_labels, subset(data.train, fewshot_indices(data.train["labels"], k, seed)),
                    data.dev)
