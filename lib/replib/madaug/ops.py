"""The 17 MADAug augmentation ops, batched in torch (papers/madaug.md Sec. 2 "Ops", Sec. 6 plan).

Images are float (B, 3, H, W) in [0, 1]; ``levels`` holds one level in [0, 1] per image (a (B,) tensor or a
float). The value of an op is ``v = level * (high - low) + low`` with the ranges of the official
JackHck/MADAug ``operation.py`` (``AUGMENT_LIST``, read at HEAD; they equal the spec's), kept in its order in
``OPS``. Each op does what ``operation.py`` does with PIL on a uint8 image (PIL is the reference; the tests
compare on CIFAR-10):

- ShearX/Y, TranslateX/Y, Rotate: PIL's AFFINE transform (an output->input map in pixel coordinates with
  pixel centres at +0.5) with NEAREST resampling and black fill (``Image.transform`` / ``Image.rotate``
  defaults), here one ``F.affine_grid`` + ``F.grid_sample(mode="nearest", padding_mode="zeros")`` with a
  per-image matrix. The official code flips the sign of v with p = 0.5 (``random_mirror``): ``signs`` (B,)
  in {-1, +1}, or drawn from ``generator``.
- AutoContrast, Invert, Equalize, Flip (mirror), Identity: the magnitude is ignored. Equalize is
  ``kornia.enhance.equalize`` (batched, PIL's LUT on the 8-bit levels).
- Solarize: pixels with 255 x >= v are inverted (PIL: ``i < v`` keeps i), v in [0, 256].
- Posterize: ``int(v)`` bits kept, v in [4, 8], on the 8-bit levels ``round(255 x)``.
- Contrast, Color, Brightness, Sharpness (``PIL.ImageEnhance``): ``clamp(b + v (x - b))`` with the degenerate
  image b = the rounded mean of PIL's 8-bit luma ``L = (19595 R + 38470 G + 7471 B) / 2**16``, the rounded
  luma itself, black, and PIL's SMOOTH filter ([[1,1,1],[1,5,1],[1,1,1]] / 13, rounded to 8 bits, the
  one-pixel frame left unchanged as PIL's 3x3 filter does). Our output is not truncated to 8 bits as
  PIL's blend is (the difference is < 1/255).
- Cutout: a square of side v * W (v in [0, 0.2]) filled with (125, 123, 114) / 255, placed as
  ``CutoutAbs`` does: centre ``np.random.uniform(w)`` (numpy reads w as ``low``, so the centre is uniform
  on [1, w), kept), ``x0 = int(max(0, c - v/2))``, ``x1 = min(w, x0 + v)``, PIL's rectangle covers
  ``x0 .. int(x1)`` inclusive; v = 0 leaves the image unchanged. Centres drawn from ``generator``.

Choices the spec leaves open: continuous (non-uint8) inputs are quantised to 8-bit levels by rounding
where an op needs levels (Equalize, Posterize); other ops act on the continuous values. All ops run in
fp32 with autocast disabled inside and return the input dtype. Levels are not range-checked (that would
sync the device); levels outside [0, 1] give values outside the official range.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

OPS: dict[str, tuple[float, float]] = {
    "ShearX": (-0.3, 0.3), "ShearY": (-0.3, 0.3), "TranslateX": (-0.45, 0.45), "TranslateY": (-0.45, 0.45),
    "Rotate": (-30.0, 30.0), "AutoContrast": (0.0, 1.0), "Invert": (0.0, 1.0), "Equalize": (0.0, 1.0),
    "Solarize": (0.0, 256.0), "Posterize": (4.0, 8.0), "Contrast": (0.1, 1.9), "Color": (0.1, 1.9),
    "Brightness": (0.1, 1.9), "Sharpness": (0.1, 1.9), "Cutout": (0.0, 0.2), "Flip": (0.0, 1.0),
    "Identity": (0.0, 1.0)}
OP_NAMES: tuple[str, ...] = tuple(OPS)
GEOMETRIC = ("ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate")
BLENDS = ("Contrast", "Color", "Brightness", "Sharpness")
MAGNITUDE_FREE = ("AutoContrast", "Invert", "Equalize", "Flip")
CUTOUT_FILL = (125 / 255, 123 / 255, 114 / 255)
_LUMA = (19595 / 65536, 38470 / 65536, 7471 / 65536)   # PIL's RGB -> L (ITU-R 601-2 in 16-bit fixed point)


def check_op(name: str) -> str:
    """``name`` if it is one of the 17 ops, else ValueError naming the valid ones."""
    if name not in OPS:
        raise ValueError(f"op={name!r} is not a MADAug op; valid: {', '.join(OP_NAMES)}")
    return name


def value(name: str, level):
    """The op's value ``v = level * (high - low) + low`` (operation.py ``apply_augment``)."""
    low, high = OPS[check_op(name)]
    return level * (high - low) + low


def strength(name: str, level):
    """How far the op moves an image from itself at ``level`` (0 = identity, 1 = the strongest), Sec. 2:

    |2 level - 1| for the geometric five and the four blends (identity at 0.5, the two signs alike);
    1 - level for Solarize and Posterize (identity at 1: v = 256 inverts nothing, 8 bits keep all);
    level for Cutout (identity at 0); 1 for the magnitude-free AutoContrast, Invert, Equalize, Flip (a
    fixed change whatever the level); 0 for Identity. Works on floats and tensors alike.
    """
    check_op(name)
    if name in GEOMETRIC or name in BLENDS:
        return abs(2 * level - 1)
    if name in ("Solarize", "Posterize"):
        return 1 - level
    if name == "Cutout":
        return level
    return level * 0 + (0.0 if name == "Identity" else 1.0)


def ste(augmented: torch.Tensor, magnitude: torch.Tensor) -> torch.Tensor:
    """Straight-through estimator (Sec. 2, from DADA): ``(t - m).detach() + m``; forward = t (up to rounding),
    d t / d m = 1 per pixel and channel. ``magnitude`` is (B,) or broadcastable to ``augmented``."""
    m = magnitude.reshape(-1, *([1] * (augmented.dim() - 1))) if magnitude.dim() == 1 else magnitude
    return (augmented - m).detach() + m


def draw_signs(batch: int, generator: torch.Generator | None = None, device=None) -> torch.Tensor:
    """(B,) signs in {-1, +1}, each -1 with p = 0.5 (operation.py ``random_mirror``)."""
    flip = torch.rand(batch, generator=generator, device=generator.device if generator is not None else device) < 0.5
    return (1.0 - 2.0 * flip.float()).to(device)


def _col(v: torch.Tensor) -> torch.Tensor:
    """(B,) -> (B, 1, 1, 1), one value per image."""
    return v.reshape(-1, 1, 1, 1)


def _levels8(x: torch.Tensor) -> torch.Tensor:
    return (x * 255).round()


def _luma8(x: torch.Tensor) -> torch.Tensor:
    """PIL's ``convert("L")`` in 8-bit levels, (B, 1, H, W)."""
    r, g, b = (x * 255).unbind(1)
    return (r * _LUMA[0] + g * _LUMA[1] + b * _LUMA[2] + 0.5).floor().unsqueeze(1)


def _smooth8(x: torch.Tensor) -> torch.Tensor:
    """PIL ``ImageFilter.SMOOTH`` in 8-bit levels: [[1,1,1],[1,5,1],[1,1,1]] / 13 (= the 3x3 box sum + 4 x the
    centre, over 13, as two separable shifted sums), rounded (on 8-bit inputs never a tie: k / 13 is never n + 1/2); the
    1-pixel frame unchanged, as PIL's 3x3 filter leaves it."""
    x255 = x * 255
    rows = x255[..., :-2, :] + x255[..., 1:-1, :] + x255[..., 2:, :]
    box = rows[..., :-2] + rows[..., 1:-1] + rows[..., 2:]
    inner = ((box + 4 * x255[..., 1:-1, 1:-1]) / 13).round()
    return F.pad(inner, (1, 1, 1, 1)) + F.pad(torch.zeros_like(inner), (1, 1, 1, 1), value=1.0) * x255.round()


def _blend(x: torch.Tensor, degenerate8: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """PIL ``Image.blend(degenerate, image, factor)`` = degenerate + factor (image - degenerate), clipped."""
    b = degenerate8 / 255
    return (b + _col(factor) * (x - b)).clamp(0.0, 1.0)


def affine_matrices(name: str, v: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """(B, 3, 3) PIL AFFINE data (output -> input, pixel coordinates, centres at +0.5) of the geometric op at
    signed value v (operation.py: shear (1, v, 0, 0, 1, 0); translate by v * size; ``Image.rotate(v)`` about
    (W/2, H/2), counter-clockwise in degrees)."""
    m = torch.eye(3, dtype=v.dtype, device=v.device).repeat(len(v), 1, 1)
    if name == "ShearX":
        m[:, 0, 1] = v
    elif name == "ShearY":
        m[:, 1, 0] = v
    elif name == "TranslateX":
        m[:, 0, 2] = v * width
    elif name == "TranslateY":
        m[:, 1, 2] = v * height
    elif name == "Rotate":
        a = -v * (math.pi / 180)
        cos, sin = torch.cos(a), torch.sin(a)
        cx, cy = width / 2, height / 2
        m[:, 0, 0], m[:, 0, 1], m[:, 1, 0], m[:, 1, 1] = cos, sin, -sin, cos
        m[:, 0, 2] = -cos * cx - sin * cy + cx
        m[:, 1, 2] = sin * cx - cos * cy + cy
    else:
        raise ValueError(f"op={name!r} is not geometric; valid: {', '.join(GEOMETRIC)}")
    return m


def _affine(x: torch.Tensor, name: str, v: torch.Tensor) -> torch.Tensor:
    _, _, h, w = x.shape
    pix = torch.tensor([[w / 2, 0, w / 2], [0, h / 2, h / 2], [0, 0, 1]], dtype=x.dtype, device=x.device)
    theta = torch.linalg.inv(pix) @ affine_matrices(name, v, h, w) @ pix      # normalised out -> normalised in
    grid = F.affine_grid(theta[:, :2], list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="nearest", padding_mode="zeros", align_corners=False)


def cutout(images: torch.Tensor, size: torch.Tensor, centres: torch.Tensor) -> torch.Tensor:
    """``CutoutAbs`` of operation.py with side ``size`` (B,) pixels and centres (B, 2) as (x, y) pixel positions;
    images with size <= 0 are unchanged (``Cutout`` returns them for v <= 0)."""
    _, _, h, w = images.shape
    half = size.reshape(-1, 1) / 2
    lo = (centres - half).clamp(min=0).floor()                       # x0, y0 = int(max(0, c - v / 2))
    hi = torch.minimum(lo + size.reshape(-1, 1), torch.tensor([w, h], dtype=lo.dtype, device=lo.device)).floor()
    cols = torch.arange(w, device=images.device, dtype=lo.dtype)
    rows = torch.arange(h, device=images.device, dtype=lo.dtype)
    in_x = (cols >= lo[:, :1]) & (cols <= hi[:, :1])                  # PIL's rectangle includes x1, y1
    in_y = (rows >= lo[:, 1:]) & (rows <= hi[:, 1:])
    box = (in_y[:, :, None] & in_x[:, None, :] & (size.reshape(-1, 1, 1) > 0)).unsqueeze(1)
    fill = torch.tensor(CUTOUT_FILL, dtype=images.dtype, device=images.device).reshape(1, 3, 1, 1)
    return torch.where(box, fill, images)


def draw_centres(batch: int, height: int, width: int, generator: torch.Generator | None = None,
                 device=None) -> torch.Tensor:
    """(B, 2) Cutout centres (x, y), each uniform on [1, size) as ``np.random.uniform(w)`` draws them."""
    u = torch.rand(batch, 2, generator=generator, device=generator.device if generator is not None else device)
    return (1 + u * torch.tensor([width - 1.0, height - 1.0], device=u.device)).to(device)


def _apply(name: str, x: torch.Tensor, level: torch.Tensor, signs, generator) -> torch.Tensor:
    v = value(name, level)
    if name in GEOMETRIC:
        if signs is None:
            signs = draw_signs(len(x), generator, x.device)
        return _affine(x, name, v * signs.to(v))
    if name == "AutoContrast":
        q = _levels8(x)
        lo, hi = q.amin(dim=(2, 3), keepdim=True) / 255, q.amax(dim=(2, 3), keepdim=True) / 255
        stretched = ((x - lo) / (hi - lo).clamp(min=1e-12)).clamp(0.0, 1.0)
        return torch.where(hi > lo, stretched, x)
    if name == "Invert":
        return 1.0 - x
    if name == "Equalize":
        import kornia

        return kornia.enhance.equalize(_levels8(x) / 255)
    if name == "Solarize":
        return torch.where(x * 255 < _col(v), x, 1.0 - x)
    if name == "Posterize":
        step = 2.0 ** (8 - v.floor())                                  # int(v) bits kept
        q = _levels8(x)
        return (q - torch.remainder(q, _col(step))) / 255
    if name == "Contrast":
        mean = _luma8(x).mean(dim=(1, 2, 3), keepdim=True)
        return _blend(x, (mean + 0.5).floor().expand_as(x), v)
    if name == "Color":
        return _blend(x, _luma8(x).expand_as(x), v)
    if name == "Brightness":
        return _blend(x, torch.zeros_like(x), v)
    if name == "Sharpness":
        return _blend(x, _smooth8(x), v)
    if name == "Cutout":
        _, _, h, w = x.shape
        return cutout(x, v * w, draw_centres(len(x), h, w, generator, x.device))
    if name == "Flip":
        return x.flip(-1)
    return x.clone()                                                   # Identity


def apply_op(name: str, images: torch.Tensor, levels, signs: torch.Tensor | None = None,
             generator: torch.Generator | None = None) -> torch.Tensor:
    """Op ``name`` on ``images`` (B, 3, H, W) in [0, 1] with one level per image (``levels``: (B,) or a float).

    ``signs`` (B,) in {-1, +1} fixes the sign flips of the geometric five (else drawn from ``generator``);
    Cutout draws its centres from ``generator``. Runs in fp32 with autocast off; returns the input dtype.
    """
    check_op(name)
    if images.dim() != 4 or images.shape[1] != 3:
        raise ValueError(f"images must be (B, 3, H, W), got shape {tuple(images.shape)}")
    with torch.autocast(images.device.type, enabled=False):
        x = images.float()
        level = torch.as_tensor(levels, dtype=torch.float32, device=x.device)
        level = level.expand(len(x)) if level.dim() == 0 else level.reshape(len(x))
        out = _apply(name, x, level, signs, generator)
    return out.to(images.dtype)


def apply_chosen(images: torch.Tensor, choice: torch.Tensor, levels: torch.Tensor, *, n_ops: int = len(OP_NAMES),
                 generator: torch.Generator | None = None) -> torch.Tensor:
    """Op ``OP_NAMES[choice[i]]`` at ``levels[i]`` on image i, without a host sync: every op runs on the whole
    batch and ``torch.where`` keeps the chosen one (n_ops x the cost of one op)."""
    out = images
    for k, name in enumerate(OP_NAMES[:n_ops]):
        pick = (choice == k).reshape(-1, 1, 1, 1)
        out = torch.where(pick, apply_op(name, images, levels, generator=generator), out)
    return out
