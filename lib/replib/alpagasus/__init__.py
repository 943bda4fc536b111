"""AlpaGasus (Chen et al., ICLR 2024): filter instruction data with an LLM grader, S = {x : G(x) >= 4.5}.

The grader is a tool: ``grade(samples, backend) -> DataFrame`` (:mod:`.grader`) with backends ``hf``
(:class:`.backends.HFBackend`), ``openai`` (:class:`.api.OpenAIBackend`) and ``replay``
(:class:`.replay.ReplayBackend`), the official prompt and parsers (:mod:`.prompts`), and the filter
:func:`.grader.keep`. Pairwise W/T/L judging is shared in :mod:`replib.lm.judge`; :mod:`.judging` judges the
students' answers on the instruction test sets in both orders (Fig. 5) through the same backends.
"""
from .grader import grade, histogram, keep
from .prompts import grading_messages, parse_score

__all__ = ["grade", "grading_messages", "histogram", "keep", "parse_score"]
