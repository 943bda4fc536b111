"""Stacked MLPs: E independent networks of the same shape evaluated with one batched matmul per layer.

Layer weights are ``(E, in, out)`` and biases ``(E, 1, out)``; an input ``(E, B, in)`` goes through
``torch.baddbmm``. Adam is element-wise, so one optimizer over the stacked tensors updates every
member exactly as E separate optimizers would; summing the members' losses keeps their gradients
separate. This is how several seeds (and SAC and ERC side by side) train as one ensemble.

Initialisation follows pytorch_sac's ``weight_init`` (orthogonal weights, zero biases), drawing
member ``e``'s weights from its own generator in the order an ``nn.Linear`` stack would, so member
``e`` equals the single network built with that generator (the tests check this).
"""
from __future__ import annotations

import itertools

import torch
import torch.nn.functional as F
from torch import nn


def orthogonal(out_dim: int, in_dim: int, generator: torch.Generator) -> torch.Tensor:
    """An ``nn.Linear``-shaped (out, in) orthogonal matrix (gain 1) drawn from ``generator``."""
    w = torch.empty(out_dim, in_dim)
    nn.init.orthogonal_(w, generator=generator)
    return w


class EnsembleMLP(nn.Module):
    """E ReLU MLPs built from ``weights[e]``, member e's list of (out, in) layer weights (``draw_init``);
    biases start at zero."""

    def __init__(self, weights: list[list[torch.Tensor]]):
        super().__init__()
        n_layers = len(weights[0])
        self.W = nn.ParameterList(
            [nn.Parameter(torch.stack([m[i].T for m in weights]).contiguous()) for i in range(n_layers)])
        self.b = nn.ParameterList(
            [nn.Parameter(torch.zeros(len(weights), 1, w.shape[-1])) for w in self.W])

    @property
    def n_members(self) -> int:
        return self.W[0].shape[0]

    def forward(self, x: torch.Tensor, detach_params: bool = False) -> torch.Tensor:
        """x (E, B, in) -> (E, B, out). ``detach_params``: gradients flow to ``x`` only (the actor's
        pass through the critic needs no critic weight gradients)."""
        last = len(self.W) - 1
        for i, (w, b) in enumerate(zip(self.W, self.b)):
            if detach_params:
                w, b = w.detach(), b.detach()
            x = torch.baddbmm(b, x, w)
            if i < last:
                x = F.relu(x)
        return x


def draw_init(sizes: list[int], generator: torch.Generator, heads: list[int] | None = None) -> list[torch.Tensor]:
    """One member's (out, in) weights for ``sizes``; the last layer drawn head by head, then stacked."""
    weights = [orthogonal(o, i, generator) for i, o in itertools.pairwise(sizes[:-1])]
    heads = heads or [sizes[-1]]
    if sum(heads) != sizes[-1]:
        raise ValueError(f"heads {heads} do not add up to the output width {sizes[-1]}")
    weights.append(torch.cat([orthogonal(h, sizes[-2], generator) for h in heads]))
    return weights
