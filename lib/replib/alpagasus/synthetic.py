"""Labelled stand-ins of the AlpaGasus replication plan (papers/alpagasus.md Sec. 6): corrupted responses,
an oracle grader that knows which ones are corrupted, and a position-biased pairwise judge.

* :func:`corrupt`: a share of the samples gets a wrong response, each of one kind: ``wrong`` (the response
  of another sample, a derangement within the corrupted ones), ``truncate`` (the first 30 % of its words),
  ``shuffle`` (its words in a random order). Seeded; returns the new samples and the kind per row ("" = clean).
* :class:`OracleBackend`: a grader backend (same interface as ``hf`` / ``openai``) that answers 5 for a clean
  response and 2 for a corrupted one, plus Gaussian noise of sd ``noise``, quantised to half points and
  clipped to [0, 5] (ChatGPT's half points); ``length_bias`` adds that many points per 100 words of response.
* :class:`SyntheticJudge`: ``compare(q, a_first, a_second)`` replies "s1 s2" where both scores come from a
  hidden quality of the answer and the answer in the **second** slot gets ``bias`` extra points (the
  position bias Cherry LLM's logs show). Identical answers therefore tie only when judged in both orders.
"""
from __future__ import annotations

import hashlib

import numpy as np

from .backends import DIGITS, Reply
from .prompts import grading_messages

KINDS = ("wrong", "truncate", "shuffle")


def corrupt(samples, share: float = 0.5, *, kinds=KINDS, seed: int = 0) -> tuple[list[dict], np.ndarray]:
    """(samples with `share` of the responses corrupted, kind per row as a str array; "" = clean)."""
    if not 0 <= share <= 1:
        raise ValueError(f"share={share} must lie in [0, 1]")
    bad = [k for k in kinds if k not in KINDS]
    if bad or not kinds:
        raise ValueError(f"unknown corruption kind(s) {bad}; valid: {', '.join(KINDS)}")
    rng = np.random.default_rng(seed)
    out = [dict(s) for s in samples]
    n = len(out)
    pick = np.sort(rng.choice(n, int(round(share * n)), replace=False))
    kind = np.full(n, "", dtype=object)
    kind[pick] = [kinds[j % len(kinds)] for j in range(len(pick))]
    wrong = pick[kind[pick] == "wrong"]
    if len(wrong) == 1:            # nothing to swap with: take the next clean sample's response
        kind[wrong] = "truncate"
        wrong = wrong[:0]
    donors = np.roll(wrong, 1)     # a derangement: every wrong row gets another wrong row's response
    originals = {int(i): samples[int(i)]["output"] for i in wrong}
    for i, d in zip(wrong, donors):
        out[int(i)]["output"] = originals[int(d)]
    for i in pick[kind[pick] == "truncate"]:
        words = samples[int(i)]["output"].split()
        out[int(i)]["output"] = " ".join(words[:max(1, int(0.3 * len(words)))])
    for i in pick[kind[pick] == "shuffle"]:
        words = samples[int(i)]["output"].split()
        out[int(i)]["output"] = " ".join(words[j] for j in rng.permutation(len(words)))
    return out, kind.astype(str)


class OracleBackend:
    """A grader that knows the labels: 5 (clean) or 2 (corrupted) + noise, in half points (see module doc)."""

    def __init__(self, samples, corrupted, *, layout: str = "code", dimension: str = "accuracy", noise: float = 0.5,
                 length_bias: float = 0.0, seed: int = 0):
        corrupted = np.asarray(corrupted, dtype=bool)
        rng = np.random.default_rng(seed)
        base = np.where(corrupted, 2.0, 5.0) + rng.normal(0, noise, len(corrupted))
        base += length_bias * np.array([len(s["output"].split()) for s in samples]) / 100
        scores = np.clip(np.round(base * 2) / 2, 0, 5)
        self.noise, self.length_bias, self.seed = noise, length_bias, seed
        self._by_prompt = {self._key(grading_messages(s, layout, dimension)): float(v) for s, v in zip(samples, scores)}

    @staticmethod
    def _key(messages) -> str:
        return hashlib.sha1(repr(messages).encode("utf-8")).hexdigest()

    def settings(self) -> dict:
        return {"backend": "oracle", "model": "synthetic-oracle", "noise": self.noise,
                "length_bias": self.length_bias, "seed": self.seed}

    def complete(self, conversations) -> list[Reply]:
        out = []
        for m in conversations:
            v = self._by_prompt.get(self._key(m))
            if v is None:
                raise KeyError("OracleBackend was asked about a sample it was not built with")
            p = np.zeros(len(DIGITS))
            p[int(v)] += 1 - (v % 1)                 # 4.5 -> half the mass on "4", half on "5"
            p[min(int(v) + 1, 5)] += v % 1
            out.append(Reply(f"{v:g}\nSynthetic oracle: the response is {'clean' if v >= 3.5 else 'corrupted'}.",
                             p, {"oracle": True}))
        return out


class SyntheticJudge:
    """Pairwise judge with a hidden answer quality (1-10 scale) and +`bias` for the answer in slot 2."""

    def __init__(self, bias: float = 1.0, seed: int = 0):
        self.bias, self.seed = bias, seed

    def quality(self, answer: str) -> float:
        """A fixed pseudo-random quality in [4, 8] per answer text (same text -> same quality)."""
        h = int(hashlib.sha1(f"{self.seed}:{answer}".encode()).hexdigest()[:8], 16)
        return 4.0 + 4.0 * h / 0xFFFFFFFF

    def compare(self, question: str, first: str, second: str) -> str:
        """The reply in the Vicuna format: two scores on the first line, then a sentence."""
        s1, s2 = round(self.quality(first), 1), round(self.quality(second) + self.bias, 1)
        return f"{s1:g} {s2:g}\nAssistant 2 was marginally more convincing."
