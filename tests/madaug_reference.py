"""Literal per-image PIL ports of MADAug's ``operation.py`` ops: the reference of the batched
``replib.madaug.ops`` (tests/unit/test_madaug_ops.py) and the slow side of benchmarks/bench_madaug.py."""
from __future__ import annotations

import PIL.Image
import PIL.ImageDraw
import PIL.ImageEnhance
import PIL.ImageOps

SIMPLE = {"AutoContrast": PIL.ImageOps.autocontrast, "Invert": PIL.ImageOps.invert,
          "Equalize": PIL.ImageOps.equalize, "Flip": PIL.ImageOps.mirror, "Identity": lambda i: i}


def pil_cutout(img, size: float, centre):
    """CutoutAbs at a given centre: ImageDraw.rectangle((x0, y0, x1, y1), (125, 123, 114)) on a copy."""
    if size <= 0:
        return img
    w, h = img.size
    cx, cy = centre
    x0, y0 = int(max(0, cx - size / 2)), int(max(0, cy - size / 2))
    img = img.copy()
    PIL.ImageDraw.Draw(img).rectangle((x0, y0, min(w, x0 + size), min(h, y0 + size)), (125, 123, 114))
    return img


def pil_op(name: str, img, v: float, centre=None):
    """operation.py's op on a PIL image at value v (random sign already applied to v); Cutout needs ``centre``."""
    w, h = img.size
    affine = {"ShearX": (1, v, 0, 0, 1, 0), "ShearY": (1, 0, 0, v, 1, 0), "TranslateX": (1, 0, v * w, 0, 1, 0),
              "TranslateY": (1, 0, 0, 0, 1, v * h)}
    if name in affine:
        return img.transform(img.size, PIL.Image.AFFINE, affine[name])
    if name == "Rotate":
        return img.rotate(v)
    if name == "Cutout":
        return pil_cutout(img, v * w, centre)
    if name in SIMPLE:
        return SIMPLE[name](img)
    if name == "Solarize":
        return PIL.ImageOps.solarize(img, v)
    if name == "Posterize":
        return PIL.ImageOps.posterize(img, int(v))
    return getattr(PIL.ImageEnhance, name)(img).enhance(v)
