"""The AlpaGasus grading prompt (papers/alpagasus.md Sec. 2) and its two score parsers.

Layouts of :func:`grading_messages`:

* ``code`` (default): byte-exact gpt4life ``rating/chatgpt_rating.py`` (HEAD 95ad3e5). The system message is
  only the feedback request; the user message is the triplet
  ``"###Instruction:\\n{instruction}\\n\\n### Input:\\n{input}\\n\\n### Response:\\n{output}\\n\\n"`` followed by
  the dimension prompt. Quirks kept: the Input block is always present (empty input -> an empty block),
  "###Instruction" has no space, the prompt ends in a space and two newlines, and the helpfulness prompt
  (commented out in the script) says "an score".
* ``paper``: the paper's Fig. 3 as the spec describes it: the system message holds the request *and*
  Instruction / Input / Response; the user message asks for the rating. The figure's wording is not
  byte-verified here (it is the code's wording with the triplet moved into the system message; the
  Input line is kept when empty, as in the figure's template).

Parsers (:func:`parse_score`), unparsed -> None (the official -1, which ``filter.py`` then drops):

* ``faithful``: the official ``parse_score`` of ``chatgpt_rating.py``: ``float(first line)``; on failure,
  if "score:" occurs, ``float`` of the rest of that line after it; elif "Score:" occurs, ``float`` of the
  **first character** after it once newlines are stripped (the bug: "Score: 5.0" gives ``float(' ')``,
  which raises inside the except; the official script then crashes, we return None; "Score:4.5" gives 4.0).
  ``float`` accepts what Python accepts: surrounding blanks, "1e1", "4_5" (= 45), "nan", values outside
  [0, 5]; they are returned as is, except NaN (None). The scores actually used by gpt4life came from
  ``get_scores.py``, which is the first branch alone; the fallbacks only add parses.
* ``robust``: on the first non-empty line (markdown ``*`` / ``#`` removed), the first number in [0, 5],
  skipping a number that follows a word and precedes a colon (a label such as "Assistant 1:"); else the
  number after the first "score:" of any case anywhere in the reply, if it lies in [0, 5]; else None.
"""
from __future__ import annotations

import math
import re

LAYOUTS = ("code", "paper")
DIMENSIONS = ("accuracy", "helpfulness")
PARSERS = ("faithful", "robust")

SYSTEM = ("We would like to request your feedback on the performance of AI assistant in response to the "
          "instruction and the given input displayed following.")
TRIPLET = "###Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:\n{output}\n\n"
USER = {
    "accuracy": ("Please rate according to the accuracy of the response to the instruction and the input. Each "
                 "assistant receives a score on a scale of 0 to 5, where a higher score indicates higher level of "
                 "the accuracy. Please first output a single line containing value indicating the scores. In the "
                 "subsequent line, please provide a comprehensive explanation of your evaluation, avoiding any "
                 "potential bias. \n\n"),
    "helpfulness": ("Please rate according to the helpfulness of the response to the instruction and the input. "
                    "Each assistant receives an score on a scale of 0 to 5, where a higher score indicates higher "
                    "level of the helpfulness. Please first output a single line containing value indicating the "
                    "scores. In the subsequent line, please provide a comprehensive explanation of your "
                    "evaluation, avoiding any potential bias. \n\n"),
}
PAPER_TRIPLET = "\n\nInstruction: {instruction}\nInput: {input}\nResponse: {output}"


def _check(name: str, value: str, valid: tuple) -> str:
    if value not in valid:
        raise ValueError(f"{name}={value!r}; valid: {', '.join(valid)}")
    return value


def grading_messages(sample: dict, layout: str = "code", dimension: str = "accuracy") -> list[dict]:
    """Chat messages (``role`` / ``content``) asking a grader to rate `sample` on `dimension` (0-5)."""
    _check("layout", layout, LAYOUTS)
    _check("dimension", dimension, DIMENSIONS)
    fields = {"instruction": sample["instruction"], "input": sample.get("input", "") or "",
              "output": sample["output"]}
    if layout == "code":
        return [{"role": "system", "content": SYSTEM},
                {"role": "user", "content": TRIPLET.format_map(fields) + USER[dimension]}]
    return [{"role": "system", "content": SYSTEM + PAPER_TRIPLET.format_map(fields)},
            {"role": "user", "content": USER[dimension].rstrip()}]


def _faithful(review: str) -> float | None:
    try:
        return float(review.split("\n")[0])
    except ValueError:
        pass
    try:
        if "score:" in review:
            return float(review.split("score:")[1].split("\n")[0])
        if "Score:" in review:
            return float(review.split("Score:")[1].strip("\n")[0])   # one character: the official bug
    except (ValueError, IndexError):   # the official code raises here (inside its except clause)
        return None
    return None


_NUMBER = re.compile(r"(?<![\d.])\d+(?:\.\d+)?")
_LABEL_BEFORE = re.compile(r"[A-Za-z]\s*$")
_SCORE = re.compile(r"score\s*[:=]\s*\**\s*(\d+(?:\.\d+)?)", re.IGNORECASE)


def _robust(review: str) -> float | None:
    lines = [ln for ln in review.splitlines() if ln.strip()]
    if lines:
        first = lines[0].replace("*", "").replace("#", "")
        for m in _NUMBER.finditer(first):
            if _LABEL_BEFORE.search(first[:m.start()]) and first[m.end():].lstrip().startswith(":"):
                continue   # "Assistant 1: 8": a label, not a score
            v = float(m.group())
            if 0 <= v <= 5:
                return v
    m = _SCORE.search(review)
    if m and 0 <= float(m.group(1)) <= 5:
        return float(m.group(1))
    return None


def parse_score(text, mode: str = "faithful") -> float | None:
    """The score of one grader reply, or None when it cannot be read (see the module docstring)."""
    _check("mode", mode, PARSERS)
    if not isinstance(text, str):
        return None
    v = _faithful(text) if mode == "faithful" else _robust(text)
    return None if v is None or math.isnan(v) else v
