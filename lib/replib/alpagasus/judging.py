"""Pairwise judging of the AlpaGasus students on the instruction test sets (papers/alpagasus.md Sec. 2, Evaluation).

The paper judges AlpaGasus-9k against Alpaca-52k with GPT-4 and the Vicuna pairwise prompt, **in both orders**,
on Vicuna (80), Koala (180), WizardLM (218) and Self-Instruct (252), and reports W/T/L and the winning score
(W - L) / (W + T + L) + 1 per set (Fig. 5). Here:

1. :func:`generate_answers`: each student answers greedily with the Alpaca prompt it was tuned with
   (``lm.prompts.format_prompt``, the no-input form when a test item has no input), batched with left padding
   and a KV cache (:func:`.backends.greedy_batch`, the grader's loop without the newline stop), up to
   ``max_new_tokens`` tokens or EOS; the answer is the decoded new tokens, stripped.
2. :func:`judge_messages`: the Vicuna pairwise prompt (FastChat's ``reviewer``/``prompt`` "general" entry as
   Cherry LLM's ``evaluation/eval.py`` sends it; gpt4life's ``evaluation/eval.py`` is the same prompt per the
   spec). **Reconstructed**: no copy of gpt4life's eval.py is available here; the text below is written from the
   spec's description and the widely copied FastChat wording, not byte-verified against gpt4life. System:
   :data:`JUDGE_SYSTEM`; user: :data:`JUDGE_TEMPLATE` with :data:`JUDGE_CRITERIA` in the ``[System]`` block.
3. :func:`judge_pairs`: every item is sent in both orders (forward = the filtered student's answer as
   Assistant 1, reverse = as Assistant 2) through any grader backend (``openai``, ``hf``, ``replay`` or the
   :class:`SyntheticJudgeBackend`), in one ``complete`` call so a served judge sees all requests at once. Replies
   go through ``lm.judge.parse_scores`` (first line, exactly two numbers, else [-1, -1] = a tie in that order, as
   eval.py stores it); a call that failed after the backend's retries gives NaN and counts nowhere (reported).
4. :func:`judge_students` / :func:`judge_table`: per item the two-order verdict of ``lm.judge.outcomes``
   (+1 / 0 / -1 for the filtered student), then W/T/L and the winning score per set and over all sets.
"""
from __future__ import annotations

import re

import numpy as np
import pandas as pd

from ..lm.judge import outcomes, parse_scores, winning_score
from .backends import Reply, greedy_batch

JUDGE_BACKENDS = ("none", "synthetic", "hf", "openai")
EVAL_SETS = ("vicuna", "koala", "wizardlm", "sinstruct")
"""The paper's four test sets (no LIMA); 'sinstruct' is Self-Instruct."""
OPPONENTS = ("full", "random")
"""The arms the filtered student is judged against: the whole pool (Fig. 5) and random same size (Fig. 8)."""

JUDGE_SYSTEM = "You are a helpful and precise assistant for checking the quality of the answer."
JUDGE_CRITERIA = (
    "We would like to request your feedback on the performance of two AI assistants in response to the user "
    "question displayed above.\nPlease rate the helpfulness, relevance, accuracy, level of details of their "
    "responses. Each assistant receives an overall score on a scale of 1 to 10, where a higher score indicates "
    "better overall performance.\nPlease first output a single line containing only two values indicating the "
    "scores for Assistant 1 and 2, respectively. The two scores are separated by a space. In the subsequent line, "
    "please provide a comprehensive explanation of your evaluation, avoiding any potential bias and ensuring that "
    "the order in which the responses were presented does not affect your judgment.")
JUDGE_TEMPLATE = ("[Question]\n{question}\n\n[The Start of Assistant 1's Answer]\n{answer_1}\n\n"
                  "[The End of Assistant 1's Answer]\n\n[The Start of Assistant 2's Answer]\n{answer_2}\n\n"
                  "[The End of Assistant 2's Answer]\n\n[System]\n{criteria}\n\n")
_SPLIT = re.compile(r"\A\[Question\]\n(?P<q>.*)\n\n\[The Start of Assistant 1's Answer\]\n(?P<a1>.*)\n\n"
                    r"\[The End of Assistant 1's Answer\]\n\n\[The Start of Assistant 2's Answer\]\n(?P<a2>.*)\n\n"
                    r"\[The End of Assistant 2's Answer\]\n\n\[System\]\n", re.S)


def judge_messages(question: str, answer_1: str, answer_2: str) -> list[dict]:
    """Chat messages asking the judge to score Assistant 1 (`answer_1`) and Assistant 2 (`answer_2`)."""
    user = JUDGE_TEMPLATE.format(question=question, answer_1=answer_1, answer_2=answer_2, criteria=JUDGE_CRITERIA)
    return [{"role": "system", "content": JUDGE_SYSTEM}, {"role": "user", "content": user}]


def split_judge_messages(messages) -> tuple[str, str, str]:
    """(question, answer_1, answer_2) back from :func:`judge_messages` (answers holding the markers may not split)."""
    m = _SPLIT.match(messages[-1]["content"])
    if m is None:
        raise ValueError("not a judge prompt of judge_messages()")
    return m["q"], m["a1"], m["a2"]


class SyntheticJudgeBackend:
    """A judge backend (same interface as the grader's) answering with ``SyntheticJudge.compare`` on the
    question and answers recovered from the prompt: its replies take the full prompt-and-parse path."""

    def __init__(self, judge):
        self.judge = judge

    def settings(self) -> dict:
        return {"backend": "synthetic-judge", "bias": self.judge.bias, "seed": self.judge.seed}

    def complete(self, conversations) -> list[Reply]:
        return [Reply(self.judge.compare(*split_judge_messages(m)), None, {"synthetic": True}) for m in conversations]


def load_eval_sets(sets=EVAL_SETS, max_items: int | None = None, profile: str = "quick") -> dict[str, list[dict]]:
    """The first `max_items` items (all if None) of each instruction test set: instruction, input, prompt."""
    from ..assets import load_dataset

    return {s: [{k: r[k] for k in ("instruction", "input", "prompt")}
                for r in load_dataset(f"instruct-eval/{s}", profile=profile)[:max_items]] for s in sets}


def generate_answers(model, tokenizer, samples, *, template: str = "alpaca", max_new_tokens: int = 512,
                     batch_size: int = 16, precision: str = "auto") -> list[str]:
    """Greedy answers of `model` to `samples` under the training prompt `template` (module doc, step 1).

    Prompts are tokenised as in ``lm.sft.sft_sequences`` (special tokens added), sorted by length so a
    batch pads little, decoded until EOS or `max_new_tokens` (EOS and padding are not part of the answer).
    """
    import torch

    from ..lm.prompts import format_prompt
    from ..runtime import autocast

    if max_new_tokens < 1 or batch_size < 1:
        raise ValueError(f"max_new_tokens={max_new_tokens} and batch_size={batch_size} must be >= 1")
    device = next(model.parameters()).device
    ids = tokenizer([format_prompt(s, template) for s in samples], add_special_tokens=True)["input_ids"]
    eos_ids = [i for i in {tokenizer.eos_token_id, getattr(model.generation_config, "eos_token_id", None)}
               if isinstance(i, int)]
    eos = torch.tensor(eos_ids or [-1], device=device)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos_ids[0]
    order = np.argsort([-len(x) for x in ids], kind="stable")
    answers: list[str] = [""] * len(ids)
    model.eval()
    with torch.inference_mode(), autocast(device, precision):
        for b in range(0, len(order), batch_size):
            idx = order[b:b + batch_size]
            new, stopped, _ = greedy_batch(model, [ids[i] for i in idx], pad_id=pad, stop=None, eos=eos,
                                           digit_ids=None, max_new_tokens=max_new_tokens)
            for j, i in enumerate(idx):
                s = int(stopped[j])
                toks = new[j, :s if s >= 0 else new.shape[1]].tolist()   # the EOS at step s is dropped
                answers[i] = tokenizer.decode(toks, skip_special_tokens=True).strip()
    return answers


def make_judge(cfg, *, device="cpu", profile: str = "quick"):
    """The judge backend of `cfg.judge_backend`: synthetic (slot-2 bias ``judge_bias``), hf (a local LM,
    line 1 only) or openai (``judge_base_url`` / ``base_url``, key from ``api_key_env``); None for 'none'."""
    if cfg.judge_backend == "none":
        return None
    if cfg.judge_backend == "synthetic":
        from .synthetic import SyntheticJudge

        return SyntheticJudgeBackend(SyntheticJudge(bias=cfg.judge_bias, seed=cfg.data_seed))
    name = cfg.judge_model or cfg.grader
    if cfg.judge_backend == "openai":
        from .api import OpenAIBackend

        return OpenAIBackend(name, base_url=cfg.judge_base_url or cfg.base_url or None, api_key_env=cfg.api_key_env,
                             concurrency=cfg.concurrency, max_tokens=cfg.judge_max_tokens)
    from ..lm.models import load_lm
    from .backends import HFBackend

    model, tok = load_lm(name, device=device, profile=profile)
    return HFBackend(model, tok, name=name, batch_size=cfg.batch_size, max_new_tokens=cfg.judge_max_tokens,
                     stop_at_newline=True, precision=cfg.precision)


def judge_pairs(backend, questions, answers_1, answers_2) -> tuple[np.ndarray, np.ndarray, int, int]:
    """(fwd, rev, unparsed, failed): score arrays (N, 2) with model 1 shown first in fwd and second in rev
    (the first number always scores the answer shown first), the count of unparsed replies ([-1, -1]) and of
    failed calls (NaN)."""
    q, a, b = list(questions), list(answers_1), list(answers_2)
    convs = [judge_messages(*t) for t in zip(q, a, b)] + [judge_messages(*t) for t in zip(q, b, a)]
    replies = backend.complete(convs)
    scores = np.array([(np.nan, np.nan) if r.text is None else parse_scores(r.text) for r in replies],
                      dtype=np.float64).reshape(-1, 2)
    unparsed = int(sum(r.text is not None and parse_scores(r.text) == (-1.0, -1.0) for r in replies))
    failed = int(sum(r.text is None for r in replies))
    return scores[:len(q)], scores[len(q):], unparsed, failed


def judge_students(answers: pd.DataFrame, backend, eval_sets: dict[str, list[dict]],
                   opponents=OPPONENTS) -> pd.DataFrame:
    """One row per (seed, opponent, set, item): both orders' scores and the filtered student's verdict.

    `answers` has columns arm, seed, set, item, answer (``experiment.student_runs(..., answer_sets=)``).
    Frame attrs: ``unparsed`` and ``failed`` reply counts, ``judge`` (the backend's settings).
    """
    a = answers.set_index(["arm", "seed", "set", "item"])["answer"]
    keys, q, first, second = [], [], [], []
    for seed in sorted(answers["seed"].unique()):
        for opp in opponents:
            for s, items in eval_sets.items():
                for i, it in enumerate(items):
                    keys.append((int(seed), opp, s, i))
                    q.append(it["prompt"])
                    first.append(a[("filtered", seed, s, i)])
                    second.append(a[(opp, seed, s, i)])
    fwd, rev, unparsed, failed = judge_pairs(backend, q, first, second)
    out = pd.DataFrame(keys, columns=["seed", "opponent", "set", "item"])
    out["fwd_1"], out["fwd_2"], out["rev_1"], out["rev_2"] = fwd[:, 0], fwd[:, 1], rev[:, 0], rev[:, 1]
    out["outcome"] = outcomes(fwd, rev)
    out.attrs.update(unparsed=unparsed, failed=failed, judge=backend.settings())
    return out


def judge_table(judged: pd.DataFrame) -> pd.DataFrame:
    """W/T/L (summed over seeds) and winning score per opponent and set, plus an 'all' row per opponent."""
    rows = []
    for opp, g in judged.groupby("opponent", sort=False):
        for s, h in [*g.groupby("set", sort=False), ("all", g)]:
            o = h["outcome"].to_numpy(float)
            w, t, lo = int((o == 1).sum()), int((o == 0).sum()), int((o == -1).sum())
            rows.append({"opponent": opp, "set": s, "W": w, "T": t, "L": lo,
                         "winning_score": winning_score(w, t, lo) if w + t + lo else np.nan})
    return pd.DataFrame(rows)
