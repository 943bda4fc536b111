"""MEO vs vanilla MoE FFN time across k, in one process, plus our fast paths against literal references.

    python benchmarks/bench_meo.py [--device auto] [--batch 32] [--seq 128] [--experts 32] [--ks 1,2,4,8,16,32]
                                   [--json PATH]

Columns (all times in ms per batch, median of --reps after a warm-up):
  moe      our vanilla MoE (tokens grouped by expert: one matmul per used expert)
  meo      our MEO (merge the k selected experts, then one bmm)
  moe/meo  speed-up of MEO over vanilla MoE at the same k (the paper's claim: grows with k)
  meo/k1   MEO time relative to its own k=1 (flat means the paper's "cost of one expert")
  loop     literal reference: Python loop over sequences and their selected experts (only at --loop-ks)
  loop/moe speed-up of our grouped MoE over the literal loop
Same weights and router in every column, so all compute the same function (asserted on the first k).

Then one training step (forward + backward) of a single MEO linear, our hand-written backward
(`_MergedLinear`) against autograd through the literal merge-then-bmm (--train-* options set its size).
--json PATH writes the figures (replib.gpucheck.save_figures), as scripts/gpu_check.sh reads them.
"""
from __future__ import annotations

import argparse
from functools import partial

import torch

from replib.gpucheck import save_figures
from replib.meo import MoEFFN, MoELinear, meo_merge
from replib.meo.layers import ffn_pair
from replib.runtime import device_name, pick_device, time_call


def literal_moe_ffn(ffn: MoEFFN, x: torch.Tensor) -> torch.Tensor:
    """Per-sequence loop: y_b = sum_i G_bi W_i x_b for each linear (the slow, obvious reference)."""
    def linear(lin, h):
        g = lin.gate(h.mean(1)).gates
        out = h.new_zeros(h.shape[0], h.shape[1], lin.out_features)
        for b in range(h.shape[0]):
            for i in g[b].nonzero().flatten().tolist():
                out[b] += g[b, i] * (h[b] @ lin.weight[i].T)
        return out
    return linear(ffn.down, torch.nn.functional.gelu(linear(ffn.up, x)))


def train_step_ratio(device, batch: int, seq: int, d: int, f: int, n: int, k: int, reps: int) -> tuple:
    """(ms ours, ms autograd) for forward + backward of one MEO linear d -> f."""
    lin = MoELinear(d, f, n, k, mode="meo").to(device).train()
    lin.gate.noisy = False                                  # identical gates in both paths
    x = torch.randn(batch, seq, d, device=device, requires_grad=True)

    def ours():
        lin(x).sum().backward()

    def literal():
        r = lin.gate(x.mean(1))
        torch.bmm(x, meo_merge(r.gates, r.indices, lin.weight).transpose(1, 2)).sum().backward()

    return tuple(1e3 * time_call(fn, device, reps) for fn in (ours, literal))


@torch.no_grad()
def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--dims", default="768,3072", help="d,f of the FFN (BERT-base)")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--experts", type=int, default=32)
    ap.add_argument("--ks", default="1,2,4,8,16,32")
    ap.add_argument("--loop-ks", default="1,4", help="k values at which the literal loop also runs")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    ap.add_argument("--train-shape", default="32,30,384,1536,8,4", help="batch,seq,d,f,n,k of the train step")
    ap.add_argument("--json", default="", help="also write the figures to this JSON file")
    args = ap.parse_args(argv)
    device = pick_device(args.device)
    dtype = getattr(torch, args.dtype)
    d, f = map(int, args.dims.split(","))
    ks = [int(k) for k in args.ks.split(",")]
    loop_ks = {int(k) for k in args.loop_ks.split(",") if k}
    torch.manual_seed(0)
    x = torch.randn(args.batch, args.seq, d, device=device, dtype=dtype)
    print(f"device {device} ({device_name(device)}), FFN {d}->{f}->{d}, {args.experts} experts, "
          f"batch {args.batch}x{args.seq}, {args.dtype}")
    print(f"{'k':>4} {'moe ms':>9} {'meo ms':>9} {'moe/meo':>8} {'meo/k1':>7} {'loop ms':>9} {'loop/moe':>9}")
    base, per_k = None, {}
    for k in ks:
        moe, meo = ffn_pair(d, f, args.experts, k)
        moe, meo = (m.to(device=device, dtype=dtype).eval() for m in (moe, meo))
        if k == ks[0]:
            tol = 1e-3 if dtype == torch.float32 else 5e-2
            torch.testing.assert_close(meo(x), moe(x), atol=tol, rtol=tol)
        t_moe = time_call(partial(moe, x), device, args.reps)
        t_meo = time_call(partial(meo, x), device, args.reps)
        base = base or t_meo
        loop = ""
        per_k[str(k)] = {"moe_ms": 1e3 * t_moe, "meo_ms": 1e3 * t_meo, "moe_over_meo": t_moe / t_meo,
                         "meo_over_k1": t_meo / base}
        if k in loop_ks:
            t_loop = time_call(partial(literal_moe_ffn, moe, x), device, 1)
            loop = f"{1e3 * t_loop:>9.1f} {t_loop / t_moe:>9.2f}"
            per_k[str(k)].update(loop_ms=1e3 * t_loop, loop_over_moe=t_loop / t_moe)
        print(f"{k:>4} {1e3 * t_moe:>9.1f} {1e3 * t_meo:>9.1f} {t_moe / t_meo:>8.2f} {t_meo / base:>7.2f} {loop}",
              flush=True)

    B, T, td, tf, tn, tk = map(int, args.train_shape.split(","))
    with torch.enable_grad():
        ours, literal = train_step_ratio(device, B, T, td, tf, tn, tk, args.reps)
    print(f"\ntrain step of one MEO linear {td}->{tf}, n={tn}, k={tk}, batch {B}x{T}: "
          f"hand-written backward {ours:.1f} ms, autograd literal {literal:.1f} ms, ratio {literal / ours:.2f}x")
    if args.json:
        save_figures(args.json, "meo", device, {"k": per_k, "train_step": {
            "ours_ms": ours, "autograd_ms": literal, "autograd_over_ours": literal / ours}}, vars(args))


if __name__ == "__main__":
    main()

