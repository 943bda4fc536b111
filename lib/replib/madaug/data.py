"""Reduced image sets and the fixed parts of MADAug's pipeline (papers/madaug.md Sec. 2-3).

- ``load_reduced(name, n_train, n_search, n_test)``: the official reduced split, ``StratifiedShuffleSplit(
  n_splits=1, test_size=N - n_train, random_state=0)`` over the training labels (official: n_train = 4,256 of
  CIFAR-10's 50,000), the search (validation) set a stratified seeded subset of the rest, the test set (the
  official split's test set, optionally a seeded stratified subset). Our CIFAR-10 is the YoongiKim JPEG copy in
  class order, so the same random_state does not select the official images (a different, equally stratified
  draw). Fashion-MNIST (28 x 28 grey) is replicated to 3 channels (Color is then the identity).
- Images stay uint8 on the host and become float [0, 1] per batch (``to_unit``); normalisation uses the
  reduced training set's per-channel mean and std (the official code uses the full CIFAR-10 constants).
- ``crop_flip``: RandomCrop(side, padding 4, zero fill) + RandomHorizontalFlip, batched (one offset and one
  coin per image, no per-image loop); ``cutout16``: the official post-normalisation ``Cutout(16)`` (a 16 x 16
  square of zeros in normalised space centred uniformly in the image, clipped at the borders).
"""
from __future__ import annotations

import numpy as np
import torch

from ..assets.images import CIFAR10_CLASSES, FASHION_CLASSES

DATASETS = ("cifar10", "fashion-mnist")
CLASSES = {"cifar10": CIFAR10_CLASSES, "fashion-mnist": FASHION_CLASSES}
"""Class names by label, for the figures."""


def _stratified(labels: np.ndarray, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(chosen, rest) index arrays: a stratified random n of ``labels`` (sklearn, ``random_state=seed``)."""
    from sklearn.model_selection import StratifiedShuffleSplit

    if n >= len(labels):
        return np.arange(len(labels)), np.arange(0)
    split = StratifiedShuffleSplit(n_splits=1, test_size=len(labels) - n, random_state=seed)
    chosen, rest = next(split.split(np.zeros(len(labels)), labels))
    return np.sort(chosen), np.sort(rest)


def load_reduced(name: str, *, n_train: int, n_search: int, n_test: int | None, seed: int = 0) -> dict:
    """{x_train, y_train, x_search, y_search, x_test, y_test (uint8 (N, 3, H, W) / int64), mean, std (3,), classes}."""
    from ..assets import load_dataset

    if name not in DATASETS:
        raise ValueError(f"dataset={name!r}; valid: {', '.join(DATASETS)}")
    d = load_dataset(name)
    x, y = d["x_train"], d["y_train"].long().numpy()
    if n_train < 10 or n_train + n_search > len(y):
        raise ValueError(f"n_train={n_train}, n_search={n_search}: need n_train >= 10 and n_train + n_search <= "
                         f"{len(y)} ({name} training images)")
    train, rest = _stratified(y, n_train, 0)                     # the official split: random_state 0
    pick, _ = _stratified(y[rest], n_search, seed + 1) if n_search else (np.arange(0), None)
    search = rest[pick]
    test = np.arange(len(d["y_test"]))
    if n_test is not None and n_test < len(test):
        test, _ = _stratified(d["y_test"].long().numpy(), n_test, seed + 2)

    def chw(a):                                                  # (N, H, W[, 3]) uint8 -> (N, 3, H, W)
        a = a.permute(0, 3, 1, 2) if a.dim() == 4 else a[:, None].expand(-1, 3, -1, -1)
        return a.contiguous()

    xtr = chw(x[torch.as_tensor(train)])
    unit = xtr.float() / 255
    return {"x_train": xtr, "y_train": torch.as_tensor(y[train]),
            "x_search": chw(x[torch.as_tensor(search)]), "y_search": torch.as_tensor(y[search]),
            "x_test": chw(d["x_test"][torch.as_tensor(test)]), "y_test": d["y_test"][torch.as_tensor(test)].long(),
            "mean": unit.mean((0, 2, 3)), "std": unit.std((0, 2, 3)).clamp(min=1e-3),
            "classes": list(d["classes"]), "name": name}


def to_unit(x8: torch.Tensor) -> torch.Tensor:
    """uint8 images -> float [0, 1]."""
    return x8.float().div_(255)


def normaliser(mean: torch.Tensor, std: torch.Tensor):
    """``x -> (x - mean) / std`` per channel, on x's device and dtype."""
    def norm(x: torch.Tensor) -> torch.Tensor:
        return (x - mean.to(x).reshape(1, -1, 1, 1)) / std.to(x).reshape(1, -1, 1, 1)
    return norm


def crop_flip(x: torch.Tensor, generator: torch.Generator, *, pad: int = 4, flip: bool = True) -> torch.Tensor:
    """RandomCrop(H, padding=pad) (zero fill) then a horizontal flip with p = 0.5, one draw per image."""
    B, _, H, W = x.shape
    dev = generator.device
    padded = torch.nn.functional.pad(x, (pad, pad, pad, pad))
    off = torch.randint(0, 2 * pad + 1, (B, 2), generator=generator, device=dev).to(x.device)
    rows = off[:, :1] + torch.arange(H, device=x.device)                       # (B, H)
    cols = off[:, 1:] + torch.arange(W, device=x.device)                       # (B, W)
    if flip:
        coin = (torch.rand(B, generator=generator, device=dev) < 0.5).to(x.device)
        cols = torch.where(coin[:, None], cols.flip(1), cols)
    b = torch.arange(B, device=x.device)[:, None, None]
    out = padded.permute(0, 2, 3, 1)[b, rows[:, :, None], cols[:, None, :]]    # (B, H, W, C)
    return out.permute(0, 3, 1, 2).contiguous()


def cutout16(x: torch.Tensor, generator: torch.Generator, length: int = 16) -> torch.Tensor:
    """Official ``Cutout(length)`` after normalisation: zeros on ``[y - L/2, y + L/2) x [x - L/2, x + L/2)``
    clipped to the image, centre (y, x) uniform on the pixel grid (``np.random.randint(h)``)."""
    if length <= 0:
        return x
    B, _, H, W = x.shape
    dev = generator.device
    cy = torch.randint(0, H, (B, 1), generator=generator, device=dev).to(x.device)
    cx = torch.randint(0, W, (B, 1), generator=generator, device=dev).to(x.device)
    r, c = torch.arange(H, device=x.device), torch.arange(W, device=x.device)
    inside_r = (r >= cy - length // 2) & (r < cy + length // 2)                # (B, H); clipping is implicit
    inside_c = (c >= cx - length // 2) & (c < cx + length // 2)                # (B, W)
    box = inside_r[:, None, :, None] & inside_c[:, None, None, :]              # (B, 1, H, W)
    return x.masked_fill(box, 0.0)
