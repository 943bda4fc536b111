"""Pairwise LLM-judge bookkeeping shared by the instruction-data papers (Cherry LLM / IFD, AlpaGasus), vectorised.

Both papers judge two models' answers with GPT-4 and the Vicuna pairwise prompt (two 1-10 scores on the
reply's first line, the first number for the answer shown first), **in both orders**, and count per item
(Cherry LLM ``review_eval_score.py``; AlpaGasus Sec. 4, papers/alpagasus.md Sec. 2):

* Win  = won both orders, or won one and tied the other;
* Tie  = tied both, or won one and lost the other;
* Lose = lost both, or lost one and tied the other.

The official nine-branch if/elif chain is exactly ``sign(sign(d_fwd) + sign(d_rev))`` of the two score
differences (model 1 minus model 2 in each order), which is what :func:`outcomes` computes. The winning
score is ``(W - L) / (W + T + L) + 1`` (:func:`winning_score`). A reply whose first line is not exactly two
numbers is stored as ``[-1, -1]`` by the official ``eval.py``, i.e. a tie in that order (:data:`UNPARSED`).
Judging in both orders cancels a judge's position bias: a judge that always favours the second slot
makes every pair of identical answers a loss in one order and a win in the other, hence a tie
(:func:`single_order_outcomes` is the one-order count the two-order rule exists to replace).
"""
from __future__ import annotations

import math

import numpy as np

__all__ = [
    "UNPARSED",
    "judge_both_orders",
    "outcome",
    "outcomes",
    "parse_scores",
    "single_order_outcomes",
    "slot_means",
    "tally",
    "tally_single",
    "winning_score",
]

UNPARSED = (-1.0, -1.0)
"""What eval.py stores for a reply whose first line is not two numbers."""


def parse_scores(text) -> tuple[float, float]:
    """Two scores from a log value (``"[9.0, 8.5]"``, ``"[10, 9]"``, ``"[-1, -1]"``) or a raw reply.

    eval.py's rule on the first line, made tolerant of the log's list format: strip one pair of
    surrounding brackets, commas -> spaces, split on whitespace, exactly two floats. Anything else
    (``"Assistant 1: 8"``, ``"8/10 9/10"``, one number, three numbers) gives ``UNPARSED`` =
    ``(-1.0, -1.0)``, the value eval.py stores and the official counting treats as a tie in that
    order. Differs from eval.py only in accepting brackets, runs of blanks (``split(" ")`` would
    yield empty fields there) and leading blank lines (eval.py would read an empty first line). A pair of numbers
    (list, tuple, array) passes through as floats.
    """
    if isinstance(text, (list, tuple, np.ndarray)):
        if len(text) != 2:
            return UNPARSED
        return float(text[0]), float(text[1])
    if not isinstance(text, str):
        return UNPARSED
    lines = text.strip().splitlines()
    if not lines:
        return UNPARSED
    first = lines[0].strip()
    if first.startswith("[") and first.endswith("]"):
        first = first[1:-1]
    fields = first.replace(",", " ").split()
    if len(fields) != 2:
        return UNPARSED
    try:
        return float(fields[0]), float(fields[1])
    except ValueError:
        return UNPARSED


def outcomes(fwd, rev) -> np.ndarray:
    """Per-row verdict for model 1 (Answer1): +1 win, 0 tie, -1 loss; NaN where a score is NaN.

    ``fwd[:, 0]`` / ``rev[:, 1]`` are Answer1's scores (shown first / second), ``fwd[:, 1]`` /
    ``rev[:, 0]`` Answer2's. The official nine-branch chain equals ``sign(sign(d_fwd) + sign(d_rev))``.
    """
    f = np.asarray(fwd, dtype=np.float64).reshape(-1, 2)
    r = np.asarray(rev, dtype=np.float64).reshape(-1, 2)
    if f.shape != r.shape:
        raise ValueError(f"fwd {f.shape} and rev {r.shape} differ")
    return np.sign(np.sign(f[:, 0] - f[:, 1]) + np.sign(r[:, 1] - r[:, 0]))


def outcome(scores_fwd, scores_rev) -> int:
    """+1 / 0 / -1 for Answer1 from one forward and one reverse score pair (strings or pairs)."""
    o = outcomes([parse_scores(scores_fwd)], [parse_scores(scores_rev)])[0]
    if math.isnan(o):
        raise ValueError("NaN score: the official chain counts such a row nowhere")
    return int(o)


def tally(fwd, rev) -> dict[str, int]:
    """Counts ``{W, T, L}`` for model 1 over arrays of shape (N, 2); NaN rows count nowhere."""
    o = outcomes(fwd, rev)
    return {"W": int((o == 1).sum()), "T": int((o == 0).sum()), "L": int((o == -1).sum())}


def winning_score(W: int, T: int, L: int) -> float:
    """``(W - L) / (W + T + L) + 1``: 1 = parity, 2 = always wins, 0 = always loses."""
    n = W + T + L
    if n <= 0:
        raise ValueError("no comparisons")
    return (W - L) / n + 1.0


def slot_means(fwd, rev) -> tuple[float, float]:
    """Mean score of the answer shown first and of the one shown second, pooled over both orders.

    A judge without position bias gives equal means (each answer occupies each slot once).
    """
    f = np.asarray(fwd, dtype=np.float64).reshape(-1, 2)
    r = np.asarray(rev, dtype=np.float64).reshape(-1, 2)
    both = np.concatenate([f, r])
    both = both[~(both == UNPARSED).all(1)]
    return float(both[:, 0].mean()), float(both[:, 1].mean())


def single_order_outcomes(fwd) -> np.ndarray:
    """Per-row verdict for model 1 from the forward order alone: ``sign(s1 - s2)`` (+1 / 0 / -1)."""
    f = np.asarray(fwd, dtype=np.float64).reshape(-1, 2)
    return np.sign(f[:, 0] - f[:, 1])


def tally_single(fwd) -> dict[str, int]:
    """Counts ``{W, T, L}`` for model 1 from one order only (what the two-order rule corrects)."""
    o = single_order_outcomes(fwd)
    return {"W": int((o == 1).sum()), "T": int((o == 0).sum()), "L": int((o == -1).sum())}


def judge_both_orders(compare, questions, answers1, answers2) -> tuple[np.ndarray, np.ndarray]:
    """(fwd, rev) score arrays (N, 2) from ``compare(question, first, second) -> reply text or (s_first, s_second)``.

    Forward shows model 1's answer first, reverse shows it second (gpt4life runs ``eval.py`` twice with the
    keys exchanged; here one call does both). Each reply goes through :func:`parse_scores`, so the first
    number always scores the answer shown first, as in the logs.
    """
    fwd = [parse_scores(compare(q, a, b)) for q, a, b in zip(questions, answers1, answers2)]
    rev = [parse_scores(compare(q, b, a)) for q, a, b in zip(questions, answers1, answers2)]
    return np.array(fwd, dtype=np.float64).reshape(-1, 2), np.array(rev, dtype=np.float64).reshape(-1, 2)
