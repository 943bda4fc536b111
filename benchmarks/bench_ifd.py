"""IFD scoring throughput: our batched scorer against the literal per-sample port of the official one.

    python benchmarks/bench_ifd.py [--model smollm2-135m-instruct] [--n 64] [--style cherry]
                                   [--device auto] [--all 52002] [--json PATH]

Same model, same Alpaca samples (the offline random 9k), in one process:
  reference  tests/ifd_reference.py: one sample per forward pass, two passes, full-vocabulary logits and a
             per-token log-softmax loop (Cherry), or Hugging Face's mean loss per pass (Superfiltering)
  batched    replib.lm.ifd.score_ifd: length-sorted padded batches, head only at answer positions
Reported: samples/s, tokens/s (tokens fed to the model), the speed-up, and achieved FLOP/s as a share of
this device's measured dense matmul peak (FLOPs counted as 2 x non-embedding params per token + the
vocabulary head per scored position). Both give the same numbers (max relative difference printed).
--all N also times the batched scorer on N samples (the offline 9k repeated as needed; 52002 = Alpaca).
--json PATH writes the figures (replib.gpucheck.save_figures), as scripts/gpu_check.sh reads them.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from ifd_reference import cherry_reference, superfiltering_reference
from replib.assets import load_causal_lm, load_dataset
from replib.gpucheck import save_figures
from replib.lm.ifd import build_records, forward_flops, param_counts, score_ifd
from replib.runtime import device_name, pick_device


def matmul_peak(device, dtype=torch.float32, n: int = 2048, reps: int = 5) -> float:
    """Measured FLOP/s of an n x n x n matmul (median of reps after a warm-up)."""
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    times = []
    for i in range(reps + 1):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        a @ b
        if device.type == "cuda":
            torch.cuda.synchronize()
        if i:
            times.append(time.perf_counter() - t)
    return 2 * n ** 3 / float(np.median(times))


def flops(model, records, head_all: bool) -> float:
    """Forward FLOPs of scoring `records`: 2 x body params per token + head per scored (or every) token."""
    tokens = sum(len(x) for x in records.cond_ids + records.dir_ids)
    scored = tokens if head_all else int(np.clip(records.n_cond, 0, None).sum() + np.clip(records.n_dir, 0, None).sum())
    return forward_flops(param_counts(model), tokens, scored)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="smollm2-135m-instruct")
    ap.add_argument("--n", type=int, default=64, help="samples scored by both")
    ap.add_argument("--style", default="cherry", choices=["cherry", "superfiltering"])
    ap.add_argument("--max-length", type=int, default=512)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--batch-size", type=int, default=None)
    ap.add_argument("--token-budget", type=int, default=None)
    ap.add_argument("--bf16", action="store_true", help="batched scorer in bf16 autocast (default: on CUDA)")
    ap.add_argument("--all", type=int, default=0, help="also score this many samples with the batched scorer")
    ap.add_argument("--json", default="", help="also write the figures to this JSON file")
    args = ap.parse_args(argv)

    device = pick_device(args.device)
    model, tok = load_causal_lm(args.model, device=device)
    model.eval()
    data = load_dataset("alpaca-random-9k")
    samples = data[:args.n]
    rec = build_records(tok, samples, style=args.style, max_length=args.max_length)
    tokens = sum(len(x) for x in rec.cond_ids + rec.dir_ids)
    peak = matmul_peak(device)
    print(f"device: {device_name(device)}; fp32 matmul peak {peak / 1e9:.0f} GFLOP/s; model {args.model}; "
          f"{args.n} samples, {tokens} tokens, style {args.style}, max_length {args.max_length}")

    ref_fn = cherry_reference if args.style == "cherry" else superfiltering_reference
    ref_fn(model, tok, samples[0], args.max_length)                              # warm-up
    t = time.perf_counter()
    with torch.inference_mode():
        ref = [ref_fn(model, tok, s, args.max_length) for s in samples]
    if device.type == "cuda":
        torch.cuda.synchronize()
    t_ref = time.perf_counter() - t

    autocast = True if args.bf16 else None
    kw = {"style": args.style, "max_length": args.max_length, "batch_size": args.batch_size,
              "token_budget": args.token_budget, "autocast": autocast, "progress": False}
    score_ifd(model, tok, samples[:8], **kw)                                      # warm-up
    table = score_ifd(model, tok, samples, **kw)
    t_fast = table.attrs["seconds"]
    lc = np.array([np.nan if r[0] is None else r[0] for r in ref], dtype=float)
    ok = np.isfinite(lc) & np.isfinite(table.loss_cond.to_numpy())
    diff = float(np.max(np.abs(table.loss_cond.to_numpy()[ok] - lc[ok]) / lc[ok])) if ok.any() else float("nan")

    rows = [("reference (bs 1)", t_ref, flops(model, rec, head_all=True)),
            ("batched", t_fast, flops(model, rec, head_all=False))]
    print(f"{'scorer':18s} {'s':>8s} {'samples/s':>10s} {'tokens/s':>10s} {'GFLOP/s':>9s} {'% peak':>7s}")
    for name, sec, fl in rows:
        print(f"{name:18s} {sec:8.2f} {args.n / sec:10.2f} {tokens / sec:10.0f} {fl / sec / 1e9:9.1f} "
              f"{100 * fl / sec / peak:7.1f}")
    print(f"speed-up batched / reference: {t_ref / t_fast:.2f}x; max relative difference of loss_cond: {diff:.2e}")
    figures = {"model": args.model, "n": args.n, "tokens": tokens, "peak_gflops": peak / 1e9,
               "reference_samples_per_s": args.n / t_ref, "batched_samples_per_s": args.n / t_fast,
               "speedup": t_ref / t_fast, "max_rel_diff": diff}

    if args.all:
        pool = (data * (args.all // len(data) + 1))[:args.all]
        table = score_ifd(model, tok, pool, **{**kw, "progress": True})
        sec = table.attrs["seconds"]
        print(f"batched on {args.all} samples: {sec:.1f} s ({args.all / sec:.0f} samples/s, "
              f"{table.attrs['tokens'] / sec:.0f} tokens/s)")
        figures.update(all_n=args.all, all_seconds=sec, all_samples_per_s=args.all / sec)
    if args.json:
        save_figures(args.json, "ifd", device, figures, vars(args))


if __name__ == "__main__":
    main()
