"""The ERC regulariser of the critic loss (He et al., ECML-PKDD 2023; papers/erc.md Sec. 2).

Theory: the TD residual delta = (I - gamma P^pi) e lies in span{1} exactly when the Q error e does,
so ERC pushes all TD errors of a batch towards a common value. Three forms:

``form="code"`` -- the official ``ERC.train`` (default). Per critic j with squared TD errors
    l_ij = delta_ij^2 and their batch mean lbar_j held constant (detached):
        R_j = mean_i clip(beta (l_ij - lbar_j)^2, 0, clip),      beta = 0.005, clip = 1e-2.
    The official ``torch.clip_`` is in place, so a clipped sample gets **no** gradient:
    dR_j/dl_ij = 2 beta (l_ij - lbar_j) / B where beta (l_ij - lbar_j)^2 < clip, else 0; the cap is
    reached at |l - lbar| = sqrt(clip / beta) (sqrt 2 for the defaults).
``form="signed"`` -- the paper's text: beta (delta_ij - mean_i delta_ij)^2 with the mean detached,
    averaged over the batch, clipped the same way.
``form="rebuttal"`` -- the rebuttal's DQN demo: beta mean_i (l_i - mean l)^2, mean NOT detached, no clip
    (the demo used beta = 5e-4).

The critic loss is sum_j mean_i l_ij + sum_j R_j; this module returns R per leading index.
"""
from __future__ import annotations

import math

import torch

FORMS = ("code", "signed", "rebuttal")


def clip_radius(beta: float = 0.005, clip: float = 1e-2) -> float:
    """|l - lbar| beyond which the code's ERC term is clipped (and gives no gradient): sqrt(clip / beta)."""
    if beta <= 0 or clip <= 0:
        raise ValueError(f"beta and clip must be > 0, got {beta}, {clip}")
    return math.sqrt(clip / beta)


def erc_regularizer(td_errors: torch.Tensor, beta: float | torch.Tensor = 0.005, *, form: str = "code",
                    clip: float | None = 1e-2) -> torch.Tensor:
    """ERC penalty of signed TD errors ``delta = Q(s, a) - y`` (y without gradient).

    ``td_errors`` is (..., B): the batch is the last axis; leading axes (runs, twin critics) are kept, so
    the result has shape ``td_errors.shape[:-1]`` (one R_j per critic; add their sum to the loss).
    ``beta`` is a float or a tensor broadcastable to ``td_errors.shape`` (e.g. (S, 1, 1): one per run).
    """
    if form not in FORMS:
        raise ValueError(f"unknown ERC form {form!r}; valid forms: {', '.join(FORMS)}")
    if torch.is_tensor(beta):
        if (beta < 0).any():
            raise ValueError("beta must be >= 0")
    elif beta < 0:
        raise ValueError(f"beta must be >= 0, got {beta}")
    if clip is not None and clip <= 0:
        raise ValueError(f"clip must be > 0 or None, got {clip}")
    if td_errors.dim() < 1 or td_errors.shape[-1] < 1:
        raise ValueError(f"td_errors needs a non-empty batch axis, got shape {tuple(td_errors.shape)}")
    sq = td_errors.pow(2)                                                      # l_ij
    if form == "rebuttal":
        return (beta * (sq - sq.mean(-1, keepdim=True)).pow(2)).mean(-1)
    x = sq if form == "code" else td_errors
    term = beta * (x - x.detach().mean(-1, keepdim=True)).pow(2)              # (..., B)
    if clip is not None:
        # clip_ in place: the clipped entries become constants, so their gradient is zero
        term = torch.where(term <= clip, term, term.new_tensor(clip))
    return term.mean(-1)
