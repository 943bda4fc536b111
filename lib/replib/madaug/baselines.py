"""The baselines' augmentation on MADAug's 17 ops (papers/madaug.md Sec. 6 "Methods"), batched.

- no-aug: the base pipeline only (RandomCrop(pad 4) + flip), no Cutout;
- Cutout: base + Cutout(16);
- RandAugment (Cubuk et al. 2020): N = 2 ops per image drawn uniformly **with** replacement, each at one fixed
  strength M; base + RA + Cutout(16);
- TrivialAugment (Muller & Hutter 2021): one op per image drawn uniformly, strength ~ U(0, 1) per image;
  base + TA + Cutout(16);
- MADAug and its two ablations (w/o curriculum: split = 1; w/o bi-level: the initial random policy, never
  trained, with the curriculum) use ``policy.exploit``, then Cutout(16).

A strength s in [0, 1] becomes a level through the inverse of ``ops.strength`` (Sec. 2: strength is not monotone
in the level): ``0.5 +/- s / 2`` with a random sign for the geometric five and the four blends (so a blend
brightens or darkens, and the geometric ops keep their own random mirror on top), ``1 - s`` for Solarize and
Posterize, ``s`` for Cutout; the magnitude-free ops ignore it. RA and TA use the official 17-op list (Cutout,
Flip and Identity included), not their papers' own op lists: every method draws from the same ops.
"""
from __future__ import annotations

import torch

from .ops import BLENDS, GEOMETRIC, OP_NAMES, apply_chosen

METHODS = ("noaug", "cutout", "randaugment", "trivialaugment", "madaug", "madaug_nocurriculum", "madaug_nobilevel")
"""Every method, in figure order; the three madaug* train the same policy module (or keep it fixed)."""
POLICY_METHODS = ("madaug", "madaug_nocurriculum", "madaug_nobilevel")
LABELS = {"noaug": "no-aug", "cutout": "Cutout", "randaugment": "RandAugment", "trivialaugment": "TrivialAugment",
          "madaug": "MADAug", "madaug_nocurriculum": "w/o curriculum", "madaug_nobilevel": "w/o bi-level"}

_SYMMETRIC = torch.tensor([n in GEOMETRIC or n in BLENDS for n in OP_NAMES])
_FLIPPED = torch.tensor([n in ("Solarize", "Posterize") for n in OP_NAMES])


def check_method(name: str) -> str:
    if name not in METHODS:
        raise ValueError(f"method={name!r}; valid: {', '.join(METHODS)}")
    return name


def level_for_strength(choice: torch.Tensor, s: torch.Tensor, generator: torch.Generator | None = None):
    """Levels (B,) at which ops ``choice`` (B,) have strength ``s`` (B,) (``ops.strength`` inverted)."""
    dev = generator.device if generator is not None else choice.device
    sign = torch.where(torch.rand(len(choice), generator=generator, device=dev) < 0.5, -1.0, 1.0).to(s)
    sym, flipped = _SYMMETRIC.to(choice.device)[choice], _FLIPPED.to(choice.device)[choice]
    return torch.where(sym, 0.5 + 0.5 * s * sign, torch.where(flipped, 1.0 - s, s))


def randaugment(x: torch.Tensor, *, n: int = 2, magnitude: float = 0.5,
                generator: torch.Generator | None = None) -> torch.Tensor:
    """N ops per image, uniform with replacement, each at strength ``magnitude``."""
    if n < 1 or not 0 <= magnitude <= 1:
        raise ValueError(f"RandAugment needs n >= 1 and magnitude in [0, 1], got n={n}, magnitude={magnitude}")
    dev = generator.device if generator is not None else x.device
    s = torch.full((len(x),), float(magnitude), device=x.device)
    for _ in range(n):
        choice = torch.randint(0, len(OP_NAMES), (len(x),), generator=generator, device=dev).to(x.device)
        x = apply_chosen(x, choice, level_for_strength(choice, s, generator), generator=generator)
    return x


def trivialaugment(x: torch.Tensor, *, generator: torch.Generator | None = None) -> torch.Tensor:
    """One op per image, uniform, at a strength drawn from U(0, 1) per image."""
    dev = generator.device if generator is not None else x.device
    choice = torch.randint(0, len(OP_NAMES), (len(x),), generator=generator, device=dev).to(x.device)
    s = torch.rand(len(x), generator=generator, device=dev).to(x.device)
    return apply_chosen(x, choice, level_for_strength(choice, s, generator), generator=generator)
