"""ERC experiments: the tabular TD theory (F1, F2) and SAC vs SAC+ERC on dm_control (F3-F6).

``run(cfg, device, seed)`` returns plain data (arrays and DataFrames); the notebook plots them and
``claims.make_claims`` turns them into verdicts. Spec: papers/erc.md Sec. 6.

Deep part: for each task one ``replib.rl.train.train_ensemble`` call trains ``2 x n_seeds`` runs together:
runs ``0..n-1`` are SAC (beta = 0), runs ``n..2n-1`` ERC with the same seeds (common random numbers: the
same environment seeds, initial weights and exploration noise, so a pair differs only by the regulariser).
The ERC term enters the critic loss through the ensemble's ``regularizer`` hook with a per-run beta; with
beta = 0 it is exactly zero, so the SAC runs are plain SAC.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from .. import stats
from ..rl.sac import SACConfig
from ..rl.train import train_ensemble
from .paper import STEPS as PAPER_STEPS
from .paper import paper_scores
from .regularizer import erc_regularizer
from .tabular import run_tabular


def ensemble_regularizer(betas: torch.Tensor, form: str, clip: float | None):
    """TD errors (S, 2, B) -> ERC penalty (S, 2) with run s weighted by ``betas[s]``."""
    def reg(td: torch.Tensor) -> torch.Tensor:
        return erc_regularizer(td, beta=betas[:, None, None], form=form, clip=clip)
    return reg


def train_task(task: str, cfg, seeds: list[int], device, progress: bool = True) -> dict:
    """SAC and ERC runs of one task; returns tidy frames ``curves`` (eval), ``train`` (TD stats), timing."""
    methods = [m for m in cfg.methods for _ in seeds]
    run_seeds = [s for _ in cfg.methods for s in seeds]
    betas = torch.tensor([cfg.beta if m == "erc" else 0.0 for m in methods], device=device)
    sac = SACConfig(hidden=cfg.hidden, batch_size=cfg.batch_size)
    out = train_ensemble(task, run_seeds, steps=cfg.steps, start_steps=cfg.start_steps, sac=sac, utd=cfg.utd,
                         eval_every=cfg.eval_every, eval_episodes=cfg.eval_episodes, log_every=cfg.log_every,
                         regularizer=ensemble_regularizer(betas, cfg.erc_form, cfg.erc_clip),
                         action_repeat=cfg.action_repeat, device=device, progress=progress,
                         desc=f"{task} ({len(run_seeds)} runs)", precision=cfg.precision)
    ev, tr = out["eval"], out["train"]
    steps = ev["step"] * cfg.action_repeat                                   # environment steps
    curves = pd.DataFrame([
        {"task": task, "method": methods[s], "seed": run_seeds[s], "step": int(steps[i]),
         "return": float(ev["returns"][i, s].mean()), "return_std": float(ev["returns"][i, s].std()),
         "q_est": float(ev["q_est"][i, s]), "mc_return": float(ev["mc_return"][i, s]),
         "q_bias": float(ev["q_bias"][i, s])}
        for i in range(len(steps)) for s in range(len(run_seeds))])
    train = pd.DataFrame([
        {"task": task, "method": methods[s], "seed": run_seeds[s], "step": int(tr["step"][i]) * cfg.action_repeat,
         "td_var": float(tr["td_var"][i, s]), "q_mean": float(tr["q_mean"][i, s]), "reg": float(tr["reg"][i, s])}
        for i in range(len(tr["step"])) for s in range(len(run_seeds))])
    timing = {k: round(float(v), 3) for k, v in out["timing"].items()} | {"runs": len(run_seeds)}
    return {"curves": curves, "train": train, "timing": timing}


def last_fraction(df: pd.DataFrame, frac: float = 0.2) -> pd.DataFrame:
    """Rows whose step lies in the last ``frac`` of each task's logged steps (step > 0)."""
    hi = df.groupby("task")["step"].transform("max")
    return df[(df["step"] > 0) & (df["step"] >= (1 - frac) * hi)]


def ci95(x: np.ndarray) -> float:
    """Half-width of the 95% Student-t interval of the mean over seeds (``replib.stats``; 0 for one seed)."""
    mean, _, hi = stats.t_interval(x)
    return 0.0 if hi is None else float(hi - mean)


def final_rows(curves: pd.DataFrame) -> pd.DataFrame:
    """The rows of each task's last evaluation."""
    return curves[curves["step"] == curves.groupby("task")["step"].transform("max")]


def q_std_across_seeds(late: pd.DataFrame) -> float:
    """Std over seeds of the mean Q estimate at each evaluation, median over ``late``'s evaluations."""
    return float(late.groupby("step")["q_est"].std(ddof=1).median()) if late["seed"].nunique() > 1 else np.nan


CURVE_COLUMNS = ["task", "method", "seed", "step", "return", "q_est", "q_bias"]
"""The columns of ``curves`` that the claims read (results.json keeps only these)."""


def seed_td_var(train: pd.DataFrame) -> pd.DataFrame:
    """Per task, method and seed: median TD-error batch variance over the last 20% of training."""
    late = last_fraction(train)
    return (late.groupby(["task", "method", "seed"], sort=False)["td_var"].median().reset_index())


def per_seed(curves: pd.DataFrame, td_var: pd.DataFrame | None) -> pd.DataFrame:
    """Per task, method and seed: final return, mean |Q - MC| over the last 20% of evaluations and the
    TD-error batch variance of ``seed_td_var`` (the numbers the claims pair by seed)."""
    keys = ["task", "method", "seed"]
    final = final_rows(curves).groupby(keys, sort=False)["return"].mean().rename("final_return")
    late = last_fraction(curves)
    bias = late.assign(abs_q_bias=late["q_bias"].abs()).groupby(keys, sort=False)["abs_q_bias"].mean()
    out = pd.concat([final, bias], axis=1).reset_index()
    if td_var is None:
        return out.assign(td_var=np.nan)
    return out.merge(td_var[keys + ["td_var"]], on=keys, how="left")


def claim_results(out: dict) -> dict:
    """The raw results ``claims.make_claims(cfg, **results)`` reads: the tabular trajectories it checks,
    the evaluation curves over the last 20% of training, the window every deep claim reads (one row per
    task, method, seed and evaluation; ``CURVE_COLUMNS``; 840 rows at full), and the per-seed TD-error
    variance (the training log itself is too long to keep at full)."""
    rnd, ring = out["tabular"]["random"], out["tabular"]["ring"]
    res = {"tabular": {"random": {k: rnd[k] for k in ("cos", "dist", "norm", "shape")},
                       "ring": {k: ring[k] for k in ("betas", "dist", "norm", "shape", "lambda2")}}}
    if "curves" in out:
        res["curves"] = last_fraction(out["curves"])[CURVE_COLUMNS].reset_index(drop=True)
        res["td_var"] = seed_td_var(out["train"])
    return res


def summarise(curves: pd.DataFrame, train: pd.DataFrame) -> pd.DataFrame:
    """Per task and method: final return (mean, 95% CI), |Q bias| at the end, Q std across seeds and
    TD-error batch variance (medians over the last 20% of training)."""
    final = final_rows(curves)
    rows = []
    for (task, method), g in final.groupby(["task", "method"], sort=False):
        late = last_fraction(curves[(curves["task"] == task) & (curves["method"] == method)])
        q_std = q_std_across_seeds(late)
        td = last_fraction(train[(train["task"] == task) & (train["method"] == method)])
        rows.append({"task": task, "method": method, "seeds": int(g["seed"].nunique()),
                     "final_return": float(g["return"].mean()), "final_ci95": ci95(g["return"].to_numpy()),
                     "abs_q_bias": float(late["q_bias"].abs().mean()), "q_std_seeds": float(q_std),
                     "td_var": float(td["td_var"].median()) if len(td) else np.nan})
    return pd.DataFrame(rows)


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
