"""PAD DY-Conv speed: the batched paths against a per-sample loop, and the dynamic layer against a static conv.

For one 3x3 layer (C_in = C_out = 32 by default, K = 4, 30% dynamic, 16x16 maps) and several batch sizes:
  loop      the literal reference: one conv per sample with that sample's kernel W^(x)
  grouped   the whole batch as one grouped convolution (groups = batch), our default
  expand    one dense conv with (K + 1) C_out filters, then the alpha-weighted sum (exact; spec Sec. 8)
  dynamic   the fully dynamic layer (M = 1, no scale factors: DY-Conv), grouped like ours
  static    nn.Conv2d of the same shape (the cost floor)
Forward + backward, median of several repetitions after a warm-up, one process. Ratios: loop / grouped
(what batching buys), grouped / dynamic (what partial dynamism costs over DY-Conv; target <= 1.1 at
batch 256), grouped / static and expand / static (what dynamism costs). --json PATH writes the figures
(replib.gpucheck.save_figures), as scripts/gpu_check.sh reads them.

    python benchmarks/bench_padnet.py                 # CPU, 2 threads
    python benchmarks/bench_padnet.py --device cuda --batch 64 256 1024
"""
from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F

from replib.gpucheck import save_figures
from replib.padnet import PADConv2d
from replib.runtime import time_call


def per_sample(layer: PADConv2d, x: torch.Tensor) -> torch.Tensor:
    """The literal loop: each sample convolved with its own computational kernel."""
    w = layer.kernels(layer.attention(x))
    return torch.cat([F.conv2d(x[i:i + 1], w[i], None, layer.stride, layer.padding) for i in range(len(x))])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--channels", type=int, default=32)
    ap.add_argument("--size", type=int, default=16)
    ap.add_argument("--batch", type=int, nargs="+", default=[8, 32, 128])
    ap.add_argument("--kappa", type=float, default=0.3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--json", default="", help="also write the figures to this JSON file")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    dev, c = torch.device(args.device), args.channels
    torch.manual_seed(0)
    layers = {p: PADConv2d(c, c, 3, 1, 1, reduction=4, path=p).to(dev) for p in ("grouped", "expand")}
    layers["expand"].load_state_dict(layers["grouped"].state_dict())
    mask = (torch.rand_like(layers["grouped"].mask) < args.kappa).float()
    for m in layers.values():
        m.mask.copy_(mask)
    dynamic = PADConv2d(c, c, 3, 1, 1, reduction=4, lambda_mode="none", path="grouped").to(dev)   # M = 1
    static = torch.nn.Conv2d(c, c, 3, 1, 1, bias=False).to(dev)
    print(f"PAD DY-Conv {c}->{c} 3x3, K=4, kappa={args.kappa}, {args.size}x{args.size} maps, device {dev}, "
          f"{args.threads} threads; forward+backward, ms (median of {args.reps})")
    print(f"{'batch':>6} {'loop':>9} {'grouped':>9} {'expand':>9} {'dynamic':>9} {'static':>9} {'loop/grp':>9} "
          f"{'grp/dyn':>8} {'grp/static':>11} {'exp/static':>11} {'max|diff|':>10}")
    figures = {}
    for b in args.batch:
        x = torch.randn(b, c, args.size, args.size, device=dev)

        def fb(fn, x=x):
            def step():
                fn(x).square().mean().backward()
            return step
        t = {"loop": time_call(fb(lambda z: per_sample(layers["grouped"], z)), dev, args.reps),
             "grouped": time_call(fb(layers["grouped"]), dev, args.reps),
             "expand": time_call(fb(layers["expand"]), dev, args.reps),
             "dynamic": time_call(fb(dynamic), dev, args.reps),
             "static": time_call(fb(static), dev, args.reps)}
        with torch.no_grad():
            ref = per_sample(layers["grouped"], x)
            diff = max(float((layers[p](x) - ref).abs().max()) for p in ("grouped", "expand"))
        ms = {k: 1000 * v for k, v in t.items()}
        print(f"{b:>6} {ms['loop']:>9.2f} {ms['grouped']:>9.2f} {ms['expand']:>9.2f} {ms['dynamic']:>9.2f} "
              f"{ms['static']:>9.2f} {t['loop'] / t['grouped']:>8.1f}x {t['grouped'] / t['dynamic']:>7.2f}x "
              f"{t['grouped'] / t['static']:>10.1f}x {t['expand'] / t['static']:>10.1f}x {diff:>10.1e}")
        figures[str(b)] = {**{f"{k}_ms": v for k, v in ms.items()}, "loop_over_grouped": t["loop"] / t["grouped"],
                           "grouped_over_dynamic": t["grouped"] / t["dynamic"],
                           "grouped_over_static": t["grouped"] / t["static"],
                           "expand_over_static": t["expand"] / t["static"], "max_abs_diff": diff}
    if args.json:
        save_figures(args.json, "padnet", dev, {"batch": figures}, vars(args))


if __name__ == "__main__":
    main()
