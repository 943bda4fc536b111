"""Aggregate environment steps per second: S SAC runs trained as one batched ensemble vs one at a time.

Three ways to train the same S runs (same task, seeds 0..S-1, UTD 1, updates from the first steps on):
  literal   the official-style single run (tests/rl_reference.py: nn.Linear, torch.distributions,
            numpy buffer), the S runs one after another -- what running main.py S times costs;
  single    our ensemble code with S = 1, the S runs one after another;
  batched   our ensemble with all S runs in one process (stacked networks, one update per step).
Reports loop seconds, aggregate env steps/s (S * steps / seconds), the share of the loop spent in
MuJoCo, and the batched speed-up over literal and over single. Network widths: the paper's 256 and
the quick profile's 64. Evaluation and environment construction are outside the timed loop.
Efficiency = batched steps/s / (S x one run's steps/s, from `single`): 1 is perfect batching (target >= 0.8
at S = 10 on a GPU). --json PATH writes the figures (replib.gpucheck.save_figures), as scripts/gpu_check.sh
reads them.

    python benchmarks/bench_rl.py                       # CPU, 2 threads, cartpole-swingup, S = 6
    python benchmarks/bench_rl.py --device cuda --runs 10 --hidden 256
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from replib.gpucheck import save_figures
from replib.rl.sac import SACConfig
from replib.rl.train import train_ensemble
from rl_reference import train_single


def ours(task, seeds, cfg, steps, start, device):
    out = train_ensemble(task, seeds, steps=steps, start_steps=start, sac=cfg, eval_every=10**12,
                         eval_episodes=1, device=device, progress=False)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return out["timing"]["train_s"], out["timing"]["sim_s"]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--task", default="cartpole-swingup")
    ap.add_argument("--runs", type=int, default=6, help="S runs (seeds) trained together")
    ap.add_argument("--hidden", type=int, nargs="+", default=[256, 64])
    ap.add_argument("--steps", type=int, default=800, help="env steps per run")
    ap.add_argument("--start", type=int, default=300, help="random steps before updates (buffer warm-up)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--no-literal", action="store_true", help="skip the literal reference (CPU only)")
    ap.add_argument("--json", default="", help="also write the figures to this JSON file")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    seeds = list(range(args.runs))
    n = args.runs * args.steps
    print(f"task {args.task}, S = {args.runs} runs x {args.steps} steps ({args.steps - args.start} updates "
          f"each, batch 256), device {device}, {args.threads} threads, torch {torch.__version__}")
    print(f"{'hidden':>6} {'mode':>8} {'loop s':>8} {'steps/s':>9} {'sim %':>6} {'speed-up':>9}")
    figures = {}
    for h in args.hidden:
        cfg = SACConfig(hidden=h)
        rows = {}
        if not args.no_literal and device.type == "cpu":
            t = sim = 0.0
            for s in seeds:
                _, _, tm = train_single(args.task, s, cfg, args.steps, args.start)
                t, sim = t + tm["loop_s"], sim + tm["sim_s"]
            rows["literal"] = (t, sim)
        t = sim = 0.0
        for s in seeds:
            ts, ss = ours(args.task, [s], cfg, args.steps, args.start, device)
            t, sim = t + ts, sim + ss
        rows["single"] = (t, sim)
        rows["batched"] = ours(args.task, seeds, cfg, args.steps, args.start, device)
        for mode, (t, sim) in rows.items():
            ref = rows.get("literal", rows["single"])[0]
            print(f"{h:>6} {mode:>8} {t:>8.1f} {n / t:>9.0f} {100 * sim / t:>6.1f} {ref / t:>8.2f}x")
        if "literal" in rows:
            print(f"{h:>6} batched vs single (same code): {rows['single'][0] / rows['batched'][0]:.2f}x")
        efficiency = rows["single"][0] / (args.runs * rows["batched"][0])
        print(f"{h:>6} efficiency: batched steps/s = {efficiency:.2f} x S x one run's (target >= 0.8)")
        figures[str(h)] = {**{f"{m}_steps_per_s": n / t for m, (t, _) in rows.items()},
                           **{f"{m}_sim_share": sim / t for m, (t, sim) in rows.items()},
                           "batched_over_single": rows["single"][0] / rows["batched"][0], "efficiency": efficiency}
    if args.json:
        save_figures(args.json, "rl", device, {"runs": args.runs, "hidden": figures}, vars(args))


if __name__ == "__main__":
    main()
