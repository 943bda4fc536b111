"""Image datasets as uint8 torch tensors, decoded once and cached: Fashion-MNIST (IDX) and CIFAR-10 (JPEG tar).

``load_dataset("fashion-mnist")`` -> ``{x_train (60000,28,28), y_train (60000,), x_test (10000,28,28),
y_test (10000,), classes}`` from the Debian package ``dataset-fashion-mnist`` (/usr/share/datasets/
fashion-mnist, gzipped IDX files) or a ``fashion-mnist/`` folder in a data root.

``load_dataset("cifar10")`` -> ``{x_train (50000,32,32,3), y_train, x_test (10000,32,32,3), y_test,
classes}``: the YoongiKim JPEG copy of CIFAR-10 (quality ~75, so pixels differ slightly from the
official pickles), streamed from its tar.gz and decoded with Pillow without extracting to disk.
Order is by class (sorted names = the standard airplane..truck order) then file number.

Images and labels are uint8 (labels: call ``.long()`` for a loss). With ``split="train"`` or
``"test"`` the result is ``{x, y, classes}`` for that split only. Decoded tensors are saved with
``torch.save`` under ``cache_dir()/data/<name>-<sha12>.pt`` (atomically; the key is the hash of the
source files, so a changed source is decoded again) and read back with ``torch.load(weights_only=True)``.
"""
from __future__ import annotations

import gzip
import hashlib
import io
import re
import struct
import tarfile
from pathlib import Path

from .locate import atomic_torch_save, cache_path, expected_rows, find_file, sha256_file
from .registry import ASSETS, AssetError

FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
_CIFAR_MEMBER = re.compile(r"(?:.*/)?(train|test)/([^/]+)/(\d+)\.(?:jpe?g|png)", re.IGNORECASE)


# --------------------------------------------------------------------------- decoders
def read_idx(path: str | Path):
    """An IDX file (gzipped or not) as a uint8 numpy array of its declared shape."""
    import numpy as np

    raw = Path(path).read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    zero, dtype_code, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or dtype_code != 0x08:  # 0x08 = unsigned byte, the only type MNIST-like files use
        raise ValueError(f"{path}: not a uint8 IDX file (magic {raw[:4].hex()})")
    dims = struct.unpack(f">{ndim}I", raw[4:4 + 4 * ndim])
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise ValueError(f"{path}: {data.size} bytes of data for shape {dims}")
    return data.reshape(dims)


def decode_image_tar(path: str | Path, *, progress: bool = True, total: int | None = None) -> dict:
    """Stream a tar(.gz) of <split>/<class>/<n>.jpg and decode every image with Pillow, in memory.

    Returns {x_<split>: uint8 (N,H,W,3), y_<split>: uint8 (N,), classes: sorted class names}.
    """
    import numpy as np
    import torch
    from PIL import Image
    from tqdm.auto import tqdm

    found: dict[str, list] = {}
    with tarfile.open(path, "r|*") as tar, tqdm(total=total, desc=f"decoding {Path(path).name}", unit="img",
                                                 disable=not progress, mininterval=1.0) as bar:
        for member in tar:
            match = _CIFAR_MEMBER.fullmatch(member.name)
            if not (member.isfile() and match):
                continue
            split, cls, num = match.group(1).lower(), match.group(2), int(match.group(3))
            with Image.open(io.BytesIO(tar.extractfile(member).read())) as img:
                found.setdefault(split, []).append((cls, num, np.asarray(img.convert("RGB"))))
            bar.update(1)
    classes = sorted({cls for items in found.values() for cls, _, _ in items})
    out: dict = {"classes": classes}
    for split, items in sorted(found.items()):
        items.sort(key=lambda t: (classes.index(t[0]), t[1]))
        out[f"x_{split}"] = torch.from_numpy(np.stack([a for _, _, a in items]))  # (N, H, W, 3)
        out[f"y_{split}"] = torch.tensor([classes.index(c) for c, _, _ in items], dtype=torch.uint8)
    return out


# --------------------------------------------------------------------------- cached loaders
def _cached(name: str, paths: list[Path], decode) -> dict:
    """torch.load the decoded tensors for these exact source files, decoding and saving them first if needed."""
    import torch

    key = hashlib.sha256("".join(sha256_file(p) for p in paths).encode()).hexdigest()[:12]
    target = cache_path("data", f"{name}-{key}.pt")
    if target.is_file():
        try:
            return torch.load(target, weights_only=True)
        except Exception:  # an unreadable cache (e.g. written by an incompatible torch) is rebuilt
            target.unlink(missing_ok=True)
    data = decode()
    atomic_torch_save(data, target)
    return data


def _fashion_mnist() -> dict:
    import torch

    asset = ASSETS["fashion-mnist"]
    paths = [find_file(asset, rel) for rel in asset.files]  # train-images, train-labels, t10k-images, t10k-labels

    def decode() -> dict:
        arrays = [torch.from_numpy(read_idx(p).copy()) for p in paths]
        for rel, path, arr in zip(asset.files, paths, arrays):
            if expected_rows(rel, path) not in (None, len(arr)):
                raise AssetError(f"asset 'fashion-mnist': {path} has {len(arr)} items, expected "
                                 f"{expected_rows(rel, path)}; Fix: apt-get install --reinstall dataset-fashion-mnist")
        return {"x_train": arrays[0], "y_train": arrays[1], "x_test": arrays[2], "y_test": arrays[3],
                "classes": list(FASHION_CLASSES)}

    return _cached("fashion-mnist", paths, decode)


def _cifar10() -> dict:
    asset = ASSETS["cifar10"]
    rel = asset.files[0]
    path = find_file(asset, rel)

    def decode() -> dict:
        data = decode_image_tar(path, total=expected_rows(rel, path))
        sizes = {s: len(data.get(f"y_{s}", ())) for s in ("train", "test")}
        if data["classes"] != CIFAR10_CLASSES or sizes != {"train": 50000, "test": 10000} \
                or tuple(data["x_train"].shape[1:]) != (32, 32, 3):
            raise AssetError(f"asset 'cifar10': {path} decoded to classes {data['classes']}, sizes {sizes}, "
                             f"expected the 10 CIFAR classes and 50000/10000 images of 32x32x3; "
                             f"copy it again from ../shared/data")
        return data

    return _cached("cifar10", [path], decode)


def load_images(name: str, split: str | None = None) -> dict:
    """The full dict (split=None) or {x, y, classes} of one split ('train' | 'test')."""
    data = {"fashion-mnist": _fashion_mnist, "cifar10": _cifar10}[name]()
    if split is None:
        return data
    return {"x": data[f"x_{split}"], "y": data[f"y_{split}"], "classes": data["classes"]}
