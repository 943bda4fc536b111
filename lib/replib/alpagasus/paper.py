"""Numbers of the AlpaGasus paper that the exact claims re-derive (papers/alpagasus.md Sec. 4)."""
from __future__ import annotations

from ..lm.judge import winning_score

CHATGPT_HIST = {"<3": 172, "3": 1550, "3.5": 10811, "4": 30240, "4.5": 9218, "5": 11}
"""ChatGPT accuracy scores of Alpaca-52k in the paper's bins (project-page scores.svg)."""
ALPACA_N = 52002
KEPT_45, KEPT_40 = 9229, 39469
"""AlpaGasus-9k (tau = 4.5) and the "39k" set of tau = 4.0."""

FIG5_WTL = {  # AlpaGasus-9k vs Alpaca-52k, GPT-4 judge, both orders: (W, T, L)
    ("7B", "Vicuna"): (41, 15, 24), ("7B", "Koala"): (70, 44, 66), ("7B", "WizardLM"): (83, 65, 70),
    ("7B", "Self-Instruct"): (90, 86, 76),
    ("13B", "Vicuna"): (42, 13, 25), ("13B", "Koala"): (67, 49, 64), ("13B", "WizardLM"): (96, 55, 67),
    ("13B", "Self-Instruct"): (88, 81, 83),
}
FIG5_SCORES = {("7B", "Vicuna"): 1.213, ("7B", "Koala"): 1.022, ("7B", "WizardLM"): 1.060,
               ("7B", "Self-Instruct"): 1.056, ("13B", "Vicuna"): 1.213, ("13B", "Koala"): 1.017,
               ("13B", "WizardLM"): 1.133, ("13B", "Self-Instruct"): 1.020}
"""The winning scores printed in Fig. 5 (three decimals)."""
TRAIN_MINUTES = {"7B": (80.0, 14.0), "13B": (330.0, 60.0)}
"""Table 5: training time on Alpaca-52k vs AlpaGasus-9k (minutes)."""


def hist_kept(hist: dict, tau: float) -> int:
    """Samples of a histogram in the paper's bins at or above tau (a bin counts when its half point >= tau)."""
    lows = {"<3": 0.0, "3": 3.0, "3.5": 3.5, "4": 4.0, "4.5": 4.5, "5": 5.0}
    return int(sum(v for b, v in hist.items() if lows[b] >= tau))


def fig5_derived() -> dict:
    """Winning score (W - L) / (W + T + L) + 1 of each Fig. 5 cell, from its W/T/L."""
    return {k: winning_score(*wtl) for k, wtl in FIG5_WTL.items()}
