"""Score and select anyone's instruction data with the workbook's scorers: ``python -m replib.filter``.

``score`` (:mod:`.score`) writes one row per sample (or conversation turn) with every score column, the
row's content hash and a failure reason; ``select`` (:mod:`.select`) applies a paper's rule and writes the
subset in the input's own schema. Inputs are read and checked by :mod:`.io` before any model loads. This is
a command layer over ``replib.lm`` and the papers' selection rules (like the scorecard), so it may import
paper packages; no paper package imports it.
"""
from .io import InputError, load_units
from .score import METHODS, TEMPLATES, score_units
from .select import RULES, run_select

__all__ = ["InputError", "METHODS", "RULES", "TEMPLATES", "load_units", "run_select", "score_units"]
