"""MECE experiments: every method and seed as one SAC ensemble, co-evolving designs, held-out terrains (Sec. 6).

``run(cfg, device, seed)`` trains ``len(cfg.methods) x cfg.seeds`` runs together with ``replib.rl.train.
train_ensemble`` (one batched actor forward and one batched SAC update per step for all runs; one simulator copy
per run, ``mece.env.MorphEnvBatch``): the control policy pi is morphology- and terrain-conditioned through its
observation, one replay buffer slice per run. The design side of each run is a ``coevolve.RunDesign``, driven
from train_ensemble's ``on_step`` hook. Run r's randomness depends on its seed only (SAC's per-run generators,
its reset-noise seed, its terrain seeds, its pi_m / pi_e generators), never on its place in the ensemble.

Held-out evaluation (``evaluate_fn``, every ``cfg.eval_every`` steps and at the end): each run's **current**
morphology on every roughness of ``cfg.test_roughness`` x ``cfg.test_terrains`` unseen test terrain seeds, one
deterministic episode each (tanh of the mean action). pi_m and pi_e never see these returns.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..rl.sac import SACConfig
from ..rl.train import train_ensemble
from .coevolve import RunDesign
from .env import MorphEnv, MorphEnvBatch, evaluate
from .morphology import DEFAULT, FIELDS, terrain_seed


def _env_kwargs(cfg) -> dict:
    return {"frame_skip": cfg.frame_skip, "max_steps": cfg.max_steps, "n_ahead": cfg.n_ahead}


def test_grid(cfg) -> list[tuple[float, int]]:
    """(roughness, test terrain seed) pairs of the held-out evaluation."""
    return [(r, terrain_seed("test", j)) for r in cfg.test_roughness for j in range(cfg.test_terrains)]


def heldout_returns(agent, designs: list[RunDesign], cfg) -> np.ndarray:
    """(S, n_grid) returns of one deterministic episode per (run, held-out terrain), each run's current morphology."""
    grid = test_grid(cfg)
    envs = MorphEnvBatch([MorphEnv(d.morph, r, s, noise_seed=s, **_env_kwargs(cfg)) for d in designs for r, s in grid],
                         threads=cfg.threads)
    S, n = len(designs), len(grid)
    try:
        out = evaluate(lambda obs: agent.act(obs.reshape(S, n, -1), sample=False).reshape(S * n, -1), envs,
                       cfg.max_steps)
    finally:
        envs.close()
    return out.reshape(S, n)


def train(cfg, runs: list[tuple[str, int]], device, *, progress: bool = True, hooks: bool = True) -> dict:
    """Train ``runs`` = [(method, seed)] as one ensemble; -> {"designs", "out" (train_ensemble's dict)}.

    ``hooks=False`` trains without the design side at all (the reference of the reduction test)."""
    cfg.validate()
    designs = [RunDesign(m, s, cfg) for m, s in runs]
    seeds = [s for _, s in runs]
    envs = MorphEnvBatch.make([dict(DEFAULT)] * len(runs), [0.0] * len(runs), [d.terrain for d in designs],
                              noise_seeds=seeds, threads=cfg.threads, **_env_kwargs(cfg))

    def on_step(step: int, finished: dict) -> None:
        for i, ret in finished.items():
            designs[i].episode(step, ret)
        if step % cfg.check_every == 0:
            for i, d in enumerate(designs):
                change = d.check(step)
                if change is not None:
                    envs.set_design(i, **change)

    sac = SACConfig(hidden=cfg.hidden, batch_size=cfg.batch_size)
    try:
        out = train_ensemble("mece-hopper", seeds, steps=cfg.steps, start_steps=cfg.start_steps, sac=sac, utd=cfg.utd,
                             eval_every=cfg.eval_every, device=device, progress=progress, desc="MECE ensemble",
                             precision=cfg.precision, envs=envs, on_step=on_step if hooks else None,
                             evaluate_fn=lambda agent: {"returns": heldout_returns(agent, designs, cfg)})
    finally:
        envs.close()
    return {"designs": designs, "out": out}


def frames(cfg, runs: list[tuple[str, int]], trained: dict) -> dict[str, pd.DataFrame]:
    """Tidy frames of one ensemble: held-out returns, training episodes, check-point traces, events, timing."""
    designs, out = trained["designs"], trained["out"]
    grid = test_grid(cfg)
    ev = out["eval"]
    held = [{"method": m, "seed": s, "step": int(step), "roughness": grid[j][0], "terrain": grid[j][1],
             "return": float(ev["returns"][k, i, j])}
            for k, step in enumerate(ev["step"]) for i, (m, s) in enumerate(runs) for j in range(len(grid))]
    episodes = [{"method": runs[i][0], "seed": runs[i][1], "step": int(step), "return": float(ret)}
                for step, i, ret in out["episodes"]]
    trace = [{"method": d.method, "seed": d.seed, **row} for d in designs for row in d.trace]
    t = out["timing"]
    timing = pd.DataFrame([{k: float(v) for k, v in t.items()}])
    return {"heldout": pd.DataFrame(held), "episodes": pd.DataFrame(episodes),
            "trace": pd.DataFrame(trace, columns=["method", "seed", "step", "kind", "train_return", "slope",
                                                  "roughness", *FIELDS]),
            "timing": timing}


def run(cfg, device, seed: int = 0, progress: bool = True) -> dict[str, pd.DataFrame]:
    """Every method x seed in one ensemble (the claims' input)."""
    runs = [(m, s) for m in cfg.methods for s in range(seed, seed + cfg.seeds)]
    return frames(cfg, runs, train(cfg, runs, device, progress=progress))


def final_heldout(heldout: pd.DataFrame) -> pd.DataFrame:
    """Mean held-out return per (method, seed) at the last evaluation (F1's numbers)."""
    last = heldout[heldout.step == heldout.step.max()]
    return last.groupby(["method", "seed"], sort=False)["return"].mean().rename("heldout").reset_index()
