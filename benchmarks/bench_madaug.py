"""MADAug ops speed: the batched explore augmentation (every one of the 17 ops on every image of a batch,
papers/madaug.md Sec. 2 "Explore") against the official per-image PIL loop doing the same ops (Sec. 8;
targets: >= 5x on 2 CPU cores, >= 20x on a GPU).

  batched  replib.madaug.apply_op once per op on the whole (B, 3, 32, 32) float batch, one level per image,
           random signs; the 17 outputs stacked to (17, B, 3, H, W)
  pil      for each image and each op, operation.py's PIL call at the same level and sign, then ToTensor
           (np.asarray -> float / 255), as the official explore step does per image; the input PIL images
           are made once, outside the timing
Real CIFAR-10 test images (replib.assets 'cifar10'); median of --reps after a warm-up, one process.

--epoch-images N (> 0) also times one training epoch on N reduced-CIFAR-10 images (experiment.train_run, the
quick profile's settings, WRN --depth/--widen): no-aug, MADAug at its first epoch (split 0.01: explore only) and
MADAug without the curriculum (split 1: every image augmented); target MADAug / no-aug <= 2x on a GPU.
--json PATH writes the figures (replib.gpucheck.save_figures).

    python benchmarks/bench_madaug.py                  # CPU, 2 threads, 128 images
    python benchmarks/bench_madaug.py --device cuda --json reports/bench_madaug.json
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import PIL.Image
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from madaug_reference import pil_op
from replib.assets.images import load_images
from replib.gpucheck import save_figures
from replib.madaug import GEOMETRIC, OP_NAMES, apply_op, value
from replib.runtime import time_call


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--epoch-images", type=int, default=0, help="also time one epoch on this many images (0: skip)")
    ap.add_argument("--depth", type=int, default=10, help="WRN depth of the epoch timing")
    ap.add_argument("--widen", type=int, default=1, help="WRN width of the epoch timing")
    ap.add_argument("--json", default="", help="also write the figures to this JSON file")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    dev = torch.device(args.device)
    x8 = load_images("cifar10", "test")["x"][:args.batch]
    images = x8.permute(0, 3, 1, 2).float().div(255).to(dev)
    pils = [PIL.Image.fromarray(a.numpy()) for a in x8]
    g = torch.Generator().manual_seed(0)
    levels = torch.rand(len(OP_NAMES), args.batch, generator=g)
    signs = torch.where(torch.rand(len(OP_NAMES), args.batch, generator=g) < 0.5, -1.0, 1.0)
    values = [[float(v) for v in value(n, levels[k]) * (signs[k] if n in GEOMETRIC else 1)]
              for k, n in enumerate(OP_NAMES)]
    lv, sg, gen = levels.to(dev), signs.to(dev), torch.Generator(dev).manual_seed(0)
    rng = np.random.default_rng(0)

    def batched():
        return torch.stack([apply_op(n, images, lv[k], signs=sg[k], generator=gen) for k, n in enumerate(OP_NAMES)])

    def centre(n, img):   # CutoutAbs draws its centre per call, on [1, w) x [1, h) (np.random.uniform(w))
        return (rng.uniform(1, img.size[0]), rng.uniform(1, img.size[1])) if n == "Cutout" else None

    def pil_loop():
        out = [torch.from_numpy(np.array(pil_op(n, img, values[k][i], centre(n, img)))).permute(2, 0, 1).float()
               / 255 for i, img in enumerate(pils) for k, n in enumerate(OP_NAMES)]
        return torch.stack(out)

    t_batched, t_pil = time_call(batched, dev, args.reps), time_call(pil_loop, torch.device("cpu"), args.reps)
    calls = len(OP_NAMES) * args.batch
    print(f"17 ops x {args.batch} CIFAR-10 images (32x32), device {dev}, {args.threads} threads; "
          f"median of {args.reps}")
    print(f"  batched {1000 * t_batched:.1f} ms   PIL loop ({calls} calls) {1000 * t_pil:.1f} ms   "
          f"speed-up {t_pil / t_batched:.1f}x (target >= 5x on 2 CPU cores, >= 20x on a GPU)")
    figures = {"batched_ms": 1000 * t_batched, "pil_ms": 1000 * t_pil, "speedup": t_pil / t_batched}
    if args.epoch_images:
        figures["epoch"] = epoch_times(args, dev)
    if args.json:
        save_figures(args.json, "madaug", dev, figures, vars(args))


def epoch_times(args, dev) -> dict:
    """Seconds of one training epoch per method, and the ratios to no-aug."""
    from replib.madaug.config import get_config
    from replib.madaug.data import load_reduced
    from replib.madaug.experiment import train_run

    cfg = get_config("quick", epochs=1, depth=args.depth, widen=args.widen, n_train=args.epoch_images,
                     batch_size=min(128, args.epoch_images), n_test=200, n_search=200)
    data = load_reduced("cifar10", n_train=cfg.n_train, n_search=cfg.n_search, n_test=cfg.n_test)
    train_run(data, cfg, "noaug", 0, dev)                                           # warm-up
    secs = {m: float(train_run(data, cfg, m, 0, dev)["curve"].epoch_s.iloc[0])
            for m in ("noaug", "madaug", "madaug_nocurriculum")}
    out = {**{f"{m}_s": v for m, v in secs.items()},
           "madaug_over_noaug": secs["madaug"] / secs["noaug"],
           "nocurriculum_over_noaug": secs["madaug_nocurriculum"] / secs["noaug"]}
    print(f"one epoch on {cfg.n_train} images, WRN-{cfg.depth}-{cfg.widen}: no-aug {secs['noaug']:.2f} s, MADAug "
          f"{secs['madaug']:.2f} s ({out['madaug_over_noaug']:.2f}x), every image augmented "
          f"{secs['madaug_nocurriculum']:.2f} s ({out['nocurriculum_over_noaug']:.2f}x; target <= 2x on a GPU)")
    return out


if __name__ == "__main__":
    main()
