"""ERC experiments: the tabular TD theory (F1, F2) and SAC vs SAC+ERC on dm_control (F3-F6).

``run(cfg, device, seed)`` returns plain data (arrays and DataFrames); the notebook plots them and
``claims.make_claims`` turns them into verdicts. Spec: papers/erc.md Sec. 6.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from .deep import summarise, train_task
from .paper import STEPS as PAPER_STEPS
from .paper import paper_scores
from .tabular import run_tabular


def tabular(cfg) -> dict:
    """F1 (random MDP, expected TD) and F2 (ring MDP, semi-gradient TD with the ERC term)."""
    return run_tabular(n_states=cfg.tab_states, n_actions=cfg.tab_actions, gamma=cfg.tab_gamma,
                       alpha=cfg.tab_alpha, n_iters=cfg.tab_iters, ring_states=cfg.ring_states,
                       ring_actions=cfg.ring_actions, ring_lr=cfg.ring_lr, ring_betas=tuple(cfg.ring_betas),
                       ring_iters=cfg.ring_iters)


def deep(cfg, device, seed: int = 0, progress: bool = True) -> dict:
    """Every task of ``cfg.tasks``: SAC and ERC runs side by side (one batched ensemble per task)."""
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    seeds = [seed + i for i in range(cfg.seeds)]
    parts = [train_task(task, cfg, seeds, device, progress) for task in cfg.tasks]
    curves = pd.concat([p["curves"] for p in parts], ignore_index=True)
    train = pd.concat([p["train"] for p in parts], ignore_index=True)
    timing = {task: p["timing"] for task, p in zip(cfg.tasks, parts)}
    return {"curves": curves, "train": train, "timing": timing, "summary": summarise(curves, train)}


def paper_table(summary: pd.DataFrame, env_steps: int) -> pd.DataFrame:
    """The paper's ERC and SAC scores at 1e6 steps beside ours (mean +- 95% CI) for the tasks we ran."""
    paper = paper_scores()
    rows = []
    for task, g in summary.groupby("task", sort=False):
        row = {"task": task, "paper_ERC": np.nan, "paper_SAC": np.nan, "paper_steps": PAPER_STEPS,
               "our_steps": env_steps}
        if task in paper.index:
            row.update(paper_ERC=paper.loc[task, "ERC"], paper_SAC=paper.loc[task, "SAC"])
        for _, r in g.iterrows():
            row[f"our_{r['method'].upper()}"] = r["final_return"]
            row[f"our_{r['method'].upper()}_ci95"] = r["final_ci95"]
        rows.append(row)
    return pd.DataFrame(rows)


def headline_metrics(cfg, out: dict) -> dict:
    """The numbers metrics.json keeps: tabular alignment, final scores and timing per task."""
    rnd, ring = out["tabular"]["random"], out["tabular"]["ring"]
    m = {"tabular": {"cos_e0": float(rnd["cos"][0]), "cos_e10": float(rnd["cos"][min(10, len(rnd["cos"]) - 1)]),
                     "ring_betas": [float(b) for b in ring["betas"]],
                     "ring_dist_at_100": [float(x) for x in ring["dist"][:, min(100, ring["dist"].shape[1] - 1)]],
                     "ring_norm_at_end": [float(x) for x in ring["norm"][:, -1]]}}
    if "summary" in out:
        keys = {"final_return": "final_return", "ci95": "final_ci95", "abs_q_bias": "abs_q_bias",
                "q_std_seeds": "q_std_seeds", "td_var": "td_var"}
        m["deep"] = {f"{r['task']}/{r['method']}": {k: float(r[c]) for k, c in keys.items() if np.isfinite(r[c])}
                     for r in out["summary"].to_dict("records")}   # one seed has no std across seeds
        m["env_steps_per_run"] = cfg.steps * cfg.action_repeat
        m["timing"] = out["timing"]
    return m


def run(cfg, device, seed: int = 0, progress: bool = True) -> dict:
    """Both parts; ``deep`` is skipped when ``cfg.tasks`` is empty."""
    out = {"tabular": tabular(cfg)}
    if cfg.tasks:
        out.update(deep(cfg, device, seed, progress))
        out["paper_table"] = paper_table(out["summary"], cfg.steps * cfg.action_repeat)
    return out
