"""The AlpaGasus notebook's experiments (papers/alpagasus.md Sec. 6): grade a pool, compare the grades with an
external label, detect injected corruptions, tune students on filtered / random / whole data, time them,
and show why pairwise judging needs both orders. Every function returns data; the notebook plots.
"""
from __future__ import annotations

import time

import numpy as np
import pandas as pd

from ..lm.cache import sample_key
from ..lm.data import instruction_pool
from ..lm.judge import judge_both_orders, tally, tally_single, winning_score
from .grader import grade, keep
from .paper import FIG5_SCORES, FIG5_WTL
from .synthetic import OracleBackend, SyntheticJudge, corrupt

SCORE_COLUMN = {"generate": "gen_score", "logprob": "lp_score"}
"""The grade-table column of each scoring way."""


# ----------------------------------------------------------------------------- data and grader
def load_data(cfg, profile: str) -> dict:
    """pool, heldout and corruption samples (disjoint, seeded) and in_claude[i]: pool[i] is in claude_t45."""
    from ..assets import load_dataset

    n_pool = None if cfg.n_pool is None else cfg.n_pool + cfg.n_corrupt
    rows, heldout = instruction_pool(cfg.data, n_pool=n_pool, n_heldout=cfg.n_heldout, seed=cfg.data_seed,
                                     profile=profile)
    pool, clean = rows[:len(rows) - cfg.n_corrupt], rows[len(rows) - cfg.n_corrupt:]
    release = {sample_key(s) for s in load_dataset("alpagasus-claude-t45")}
    return {"pool": pool, "heldout": heldout, "clean": clean,
            "in_claude": np.array([sample_key(s) in release for s in pool], dtype=bool)}


def make_backend(cfg, *, device="cpu", profile: str = "quick"):
    """The grader of `cfg`: hf (loads the model), openai (base_url, key from cfg.api_key_env) or replay;
    with a cassette set, a live backend records into it."""
    from .replay import ReplayBackend

    if cfg.backend == "replay":
        return ReplayBackend(cfg.cassette)   # the recorded settings come from the file
    if cfg.backend == "openai":
        from .api import OpenAIBackend

        live = OpenAIBackend(cfg.grader, base_url=cfg.base_url or None, api_key_env=cfg.api_key_env,
                             concurrency=cfg.concurrency, max_tokens=cfg.max_new_tokens, logprobs=True)
    else:
        from ..lm.models import load_lm
        from .backends import HFBackend

        model, tok = load_lm(cfg.grader, device=device, profile=profile)
        live = HFBackend(model, tok, name=cfg.grader, batch_size=cfg.batch_size, max_new_tokens=cfg.max_new_tokens,
                         stop_at_newline=cfg.stop_at_newline, precision=cfg.precision)
    return ReplayBackend(cfg.cassette, inner=live) if cfg.cassette else live


def grade_pool(cfg, backend, samples, *, progress=True) -> pd.DataFrame:
    """:func:`grader.grade` with the config's layout, dimension, parser and way, plus the faithful parse."""
    from .prompts import parse_score

    table = grade(samples, backend, layout=cfg.layout, dimension=cfg.dimension, parser=cfg.parser, way=cfg.way,
                  progress=progress)
    table["faithful_score"] = [np.nan if (v := parse_score(r, "faithful")) is None else v for r in table["raw"]]
    return table


# ----------------------------------------------------------------------------- against labels
def auroc(scores, labels) -> float:
    """P(score of a positive > score of a negative), ties count half (Mann-Whitney U / (n+ n-)).
    NaN scores (unparsed) rank below every number, as the official -1."""
    from scipy.stats import rankdata

    s = np.nan_to_num(np.asarray(scores, dtype=float), nan=-np.inf)
    y = np.asarray(labels, dtype=bool)
    n1, n0 = int(y.sum()), int((~y).sum())
    if n1 == 0 or n0 == 0:
        return float("nan")
    r = rankdata(s)
    return float((r[y].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def auroc_ci(scores, labels, *, n_boot: int = 2000, seed: int = 0, level: float = 0.95) -> dict:
    """AUROC with a stratified percentile bootstrap interval (positives and negatives resampled apart)."""
    s, y = np.asarray(scores, dtype=float), np.asarray(labels, dtype=bool)
    pos, neg = np.flatnonzero(y), np.flatnonzero(~y)
    a = auroc(s, y)
    if len(pos) < 2 or len(neg) < 2:
        return {"auroc": a, "lo": None, "hi": None, "positives": len(pos), "n": len(y)}
    rng = np.random.default_rng(seed)
    boots = []
    for _ in range(n_boot):   # n_boot small rank computations on a few hundred rows: cheap
        idx = np.concatenate([rng.choice(pos, len(pos)), rng.choice(neg, len(neg))])
        boots.append(auroc(s[idx], y[idx]))
    lo, hi = np.quantile(boots, [(1 - level) / 2, (1 + level) / 2])
    return {"auroc": a, "lo": float(lo), "hi": float(hi), "positives": len(pos), "n": len(y)}


def pool_frame(table: pd.DataFrame, in_claude) -> pd.DataFrame:
    """What the claims need per pool sample: both scores, the parse flags and the claude_t45 label."""
    cols = ["score", "gen_score", "lp_score", "faithful_score", "parsed", "digit_mass"]
    out = table[cols].copy()
    out["in_claude"] = np.asarray(in_claude, dtype=bool)
    return out.reset_index(drop=True)


# ----------------------------------------------------------------------------- F2 corruptions
def corruption_study(cfg, backend, clean, *, progress=True) -> pd.DataFrame:
    """Per sample of the corruption set: its kind ("" clean), the LM grader's scores and the oracle's."""
    samples, kind = corrupt(clean, cfg.corrupt_share, kinds=tuple(cfg.corrupt_kinds), seed=cfg.data_seed)
    lm = grade_pool(cfg, backend, samples, progress=progress)
    oracle = grade(samples, OracleBackend(samples, kind != "", layout=cfg.layout, dimension=cfg.dimension,
                                          noise=cfg.oracle_noise, seed=cfg.data_seed),
                   layout=cfg.layout, dimension=cfg.dimension, parser=cfg.parser, cache=False, progress=False)
    return pd.DataFrame({"kind": kind, "corrupted": kind != "", "score": lm["score"].to_numpy(),
                         "gen_score": lm["gen_score"].to_numpy(), "lp_score": lm["lp_score"].to_numpy(),
                         "parsed": lm["parsed"].to_numpy(), "oracle_score": oracle["score"].to_numpy()})


# ----------------------------------------------------------------------------- F3 / F4 students
def student_subsets(scores, n_full: int, cfg, seed: int) -> dict[str, np.ndarray]:
    """Positions in the student pool (the first n_full graded samples): 'filtered' (top keep_share by score,
    stable order, or score >= tau), 'random' (same size, redrawn per seed) and 'full'."""
    s = np.nan_to_num(np.asarray(scores, dtype=float)[:n_full], nan=-np.inf)
    if cfg.select == "tau":
        filt = np.flatnonzero(keep(s, cfg.tau))
    else:
        k = max(1, int(round(cfg.keep_share * n_full)))
        filt = np.sort(np.argsort(-s, kind="stable")[:k])
    if len(filt) == 0:
        raise ValueError(f"the filter keeps no sample of the {n_full}-sample student pool (select={cfg.select!r})")
    rng = np.random.default_rng(10_000 + seed)
    return {"filtered": filt, "random": np.sort(rng.choice(n_full, len(filt), replace=False)),
            "full": np.arange(n_full)}


def student_runs(cfg, pool, heldout, scores, *, seed: int = 0, device="cpu", profile: str = "quick",
                 progress=True, answer_sets: dict | None = None):
    """Held-out answer loss of a fresh student tuned on each subset, per seed, with its training wall time
    (fine-tuning only: the F4 ratio) and the number of target tokens it trained on.

    With `answer_sets` ({set: items} of ``judging.load_eval_sets``) each tuned student also answers every
    test item greedily (``judging.generate_answers``, after the timing) and the result is ``(frame, answers)``,
    ``answers`` one row per (arm, seed, set, item) with the answer text."""
    import torch

    from .. import runtime
    from ..lm.models import load_lm
    from ..lm.sft import answer_loss, finetune, sft_sequences
    from .judging import generate_answers

    n_full = len(pool) if cfg.n_student_pool is None else min(cfg.n_student_pool, len(pool))
    rows, answers = [], []
    flat = [(k, i, it) for k, items in (answer_sets or {}).items() for i, it in enumerate(items)]
    kw = dict(template=cfg.template, max_length=cfg.sft_max_length)
    for s in range(seed, seed + cfg.sft_seeds):
        for arm, idx in student_subsets(scores, n_full, cfg, s).items():
            torch.manual_seed(s)
            model, tok = load_lm(cfg.student, device=device, profile=profile)
            train = [pool[i] for i in idx]
            ids, starts = sft_sequences(tok, train, **kw)
            with runtime.autocast(model.device, cfg.precision):
                t = time.perf_counter()
                losses = finetune(model, tok, train, epochs=cfg.sft_epochs, lr=cfg.sft_lr, batch_size=cfg.sft_batch,
                                  seed=s, progress=f"student {arm} seed {s}" if progress else False, **kw)
                seconds = time.perf_counter() - t
                res = answer_loss(model, tok, heldout, **kw)
            rows.append({"arm": arm, "seed": s, "n_train": len(idx), "heldout_loss": res["mean"],
                         "train_seconds": seconds, "steps": len(losses),
                         "train_tokens": int(sum(max(0, len(x) - st) for x, st in zip(ids, starts))),
                         "final_train_loss": float(np.mean(losses[-3:]))})
            if flat:
                texts = generate_answers(model, tok, [it for _, _, it in flat], template=cfg.template,
                                         max_new_tokens=cfg.answer_max_new_tokens, batch_size=cfg.answer_batch_size,
                                         precision=cfg.precision)
                answers += [{"arm": arm, "seed": s, "set": k, "item": i, "answer": t}
                            for (k, i, _), t in zip(flat, texts)]
            del model
    frame = pd.DataFrame(rows)
    if answer_sets is None:
        return frame
    return frame, pd.DataFrame(answers, columns=["arm", "seed", "set", "item", "answer"])


# ----------------------------------------------------------------------------- F5 and Fig. 5
def position_bias(cfg, seed: int = 0) -> pd.DataFrame:
    """F5: a model judged against itself (identical answers) by the slot-2-biased synthetic judge: W/T/L and
    winning score from the forward order alone and from both orders."""
    judge = SyntheticJudge(bias=cfg.judge_bias, seed=seed)
    answers = [f"Answer number {i}: a response of some quality." for i in range(cfg.n_judge)]
    questions = [f"Question {i}" for i in range(cfg.n_judge)]
    fwd, rev = judge_both_orders(judge.compare, questions, answers, answers)
    rows = []
    for rule, t in (("single order", tally_single(fwd)), ("both orders", tally(fwd, rev))):
        rows.append({"rule": rule, **t, "winning_score": winning_score(t["W"], t["T"], t["L"])})
    return pd.DataFrame(rows)


def fig5_frame() -> pd.DataFrame:
    """The paper's Fig. 5 W/T/L with the printed and the re-derived winning scores."""
    return pd.DataFrame([{"size": k[0], "set": k[1], "W": w, "T": t, "L": lo, "paper": FIG5_SCORES[k],
                          "derived": winning_score(w, t, lo)} for k, (w, t, lo) in FIG5_WTL.items()])
