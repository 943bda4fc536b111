"""MECE environment speed (papers/mece.md Sec. 8): MJCF rebuild + compile per morphology change, and env steps/s of
S lockstep copies against one copy (targets: rebuild + compile < 50 ms; S copies >= 0.8 x min(S, cores) x one
copy's steps/s, up to the core count).

  rebuild   MorphEnv.set_design with a random morphology inside BOUNDS and a random roughness / terrain seed:
            MJCF string, mujoco compile, heightfield fill, new MjData (ms per change; mean and p95)
  single    one MorphEnv, uniform random actions in [-1, 1]^3, automatic resets (steps/s)
  batch S   MorphEnvBatch of S copies (each its own random morphology and terrain), serial (threads 1) and with
            the physics in a thread pool (--threads); efficiency = batch steps/s / (min(S, threads) x single)
  episode   mean length and wall time of a random-action episode (single copy)
  update    share of SAC updates in the training loop's wall clock (target < 30%): the quick profile's ensemble
            (every method x seed, --update-steps agent steps) timed with updates from step 1 and without any
            (start_steps = steps, so the same acting, simulation and design bookkeeping); share = 1 - without / with
Actions are drawn before the timed loop. Sections are named in SECTIONS: each takes the parsed arguments and
returns its figures; --json PATH writes them all (replib.gpucheck.save_figures).

    python benchmarks/bench_mece.py                        # 2 threads, S = 2 and 8
    python benchmarks/bench_mece.py --copies 2,8,16 --threads 4 --json reports/bench_mece.json
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np

from replib.gpucheck import save_figures
from replib.mece.env import MorphEnv, MorphEnvBatch
from replib.mece.morphology import BOUNDS, DEFAULT, FIELDS, from_vector, terrain_seed


def random_morph(rng: np.random.Generator) -> dict[str, float]:
    return from_vector([rng.uniform(*BOUNDS[f]) for f in FIELDS])


def _rebuild(args, rng) -> dict:
    env = MorphEnv(DEFAULT, 0.0, terrain_seed("train", 0))
    designs = [(random_morph(rng), float(rng.uniform(0, args.roughness)), terrain_seed("train", i))
               for i in range(args.rebuilds)]
    times = []
    for m, r, s in designs:
        t0 = time.perf_counter()
        env.set_design(m, r, s)
        times.append(time.perf_counter() - t0)
    ms = 1000 * np.asarray(times)
    return {"rebuild_ms_mean": float(ms.mean()), "rebuild_ms_p95": float(np.percentile(ms, 95))}


def _steps_per_s(batch: MorphEnvBatch, steps: int, rng) -> float:
    actions = rng.uniform(-1, 1, (steps, len(batch), batch.act_dim))
    batch.step(actions[0])                                              # warm-up (pool threads start)
    t0 = time.perf_counter()
    for a in actions:
        batch.step(a)
    return len(batch) * steps / (time.perf_counter() - t0)


def _episode(args, rng) -> dict:
    env = MorphEnv(DEFAULT, args.roughness, terrain_seed("train", 1))
    lengths, t0 = [], time.perf_counter()
    for _ in range(args.episodes):
        env.reset()
        n, last = 0, False
        while not last:
            _, _, _, last = env.step(rng.uniform(-1, 1, 3))
            n += 1
        lengths.append(n)
    wall = time.perf_counter() - t0
    return {"episode_len_mean": float(np.mean(lengths)), "episode_ms_mean": 1000 * wall / args.episodes}


def bench_env(args) -> dict:
    """Rebuild + compile time, single / batched steps/s, the cost of a random-action episode."""
    rng = np.random.default_rng(0)
    fig = _rebuild(args, rng)
    print(f"rebuild + compile per morphology change: mean {fig['rebuild_ms_mean']:.2f} ms, "
          f"p95 {fig['rebuild_ms_p95']:.2f} ms over {args.rebuilds} changes (target < 50 ms)")

    def batch(S, threads):
        morphs = [DEFAULT] + [random_morph(rng) for _ in range(S - 1)]
        return MorphEnvBatch.make(morphs, [args.roughness] * S, [terrain_seed("train", i) for i in range(S)],
                                  threads=threads)

    one = batch(1, 1)
    fig["single_steps_per_s"] = single = _steps_per_s(one, args.steps, rng)
    print(f"{'copies':>6} {'threads':>7} {'steps/s':>9} {'x single':>9} {'efficiency':>10}")
    print(f"{1:>6} {1:>7} {single:>9.0f} {1.0:>9.2f} {1.0:>10.2f}")
    fig["batch"] = {}
    for S in args.copies:
        row = {}
        for threads in sorted({1, args.threads}):
            b = batch(S, threads)
            sps = _steps_per_s(b, max(args.steps // S, 50), rng)
            b.close()
            eff = sps / (min(S, threads) * single)
            row[f"threads{threads}_steps_per_s"], row[f"threads{threads}_efficiency"] = sps, eff
            print(f"{S:>6} {threads:>7} {sps:>9.0f} {sps / single:>9.2f} {eff:>10.2f}")
        fig["batch"][str(S)] = row
    fig.update(_episode(args, rng))
    print(f"random-action episode (roughness {args.roughness}): mean length {fig['episode_len_mean']:.1f} steps, "
          f"{fig['episode_ms_mean']:.2f} ms; obs_dim {one.obs_dim}, act_dim {one.act_dim}")
    fig["obs_dim"], fig["act_dim"] = one.obs_dim, one.act_dim
    return fig


def bench_update(args) -> dict:
    """Share of the SAC updates in the wall clock of the quick profile's ensemble (no evaluation inside)."""
    import torch

    from replib.mece import experiment
    from replib.mece.config import get_config

    torch.set_num_threads(args.threads)
    walls = {}
    for label, start in (("with", 1), ("without", args.update_steps)):
        cfg = get_config("quick", steps=args.update_steps + 1, start_steps=start, eval_every=10 ** 9,
                         threads=args.threads)
        runs = [(m, s) for m in cfg.methods for s in range(cfg.seeds)]
        out = experiment.train(cfg, runs, args.device, progress=False)["out"]
        walls[label] = out["timing"]["train_s"]                            # the loop minus its evaluations
    share = 1 - walls["without"] / walls["with"]
    print(f"SAC updates: {share:.0%} of the loop's wall clock ({len(runs)} runs, {args.update_steps} steps: "
          f"{walls['with']:.1f} s with updates, {walls['without']:.1f} s without; target < 30%)")
    return {"update_share": share, "loop_s_with_updates": walls["with"], "loop_s_without": walls["without"],
            "runs": len(runs)}


SECTIONS = {"env": bench_env, "update": bench_update}    # name -> function(args) -> figures


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--copies", default="2,8", help="comma-separated S values")
    ap.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1))
    ap.add_argument("--steps", type=int, default=4000, help="env steps per measurement (split over the S copies)")
    ap.add_argument("--rebuilds", type=int, default=200)
    ap.add_argument("--episodes", type=int, default=50)
    ap.add_argument("--roughness", type=float, default=0.1)
    ap.add_argument("--update-steps", type=int, default=1000, help="agent steps of the update-share section")
    ap.add_argument("--device", default="cpu", help="SAC device of the update-share section")
    ap.add_argument("--only", default=",".join(SECTIONS), help=f"sections to run, of {','.join(SECTIONS)}")
    ap.add_argument("--json", default="", help="also write the figures to this JSON file")
    args = ap.parse_args(argv)
    args.copies = [int(s) for s in args.copies.split(",")]
    only = args.only.split(",")
    unknown = sorted(set(only) - set(SECTIONS))
    if unknown:
        ap.error(f"unknown sections {unknown}; valid: {sorted(SECTIONS)}")
    print(f"MECE hopper, roughness {args.roughness}, {os.cpu_count()} cores, {args.threads} threads")
    figures = {name: SECTIONS[name](args) for name in only}
    if args.json:
        save_figures(args.json, "mece", args.device, figures, {**vars(args), "copies": args.copies})


if __name__ == "__main__":
    main()
