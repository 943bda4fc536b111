"""Training and evaluation loops for an ensemble of SAC runs on one dm_control task.

One process trains S runs (seeds, and methods that differ only in the critic regulariser) in
lockstep: every environment step is one batched actor forward for all runs plus S simulator steps,
and every gradient step is one ``SACEnsemble.update`` on (S, B) batches. The official ERC script
(``DMControl/main.py``) trains one run per process and never evaluates; its loop is otherwise the
same: ``start_steps`` uniform-random actions without updates, then ``utd`` updates per step from
step ``start_steps`` on; transitions store ``terminal`` (never true at the DMC time limit).

``evaluate`` runs ``episodes`` deterministic (tanh of the mean) episodes per run, all S x episodes
environments in lockstep, and compares the critic's 0.5 (Q1 + Q2) on the visited (s, a) with the
Monte-Carlo discounted return from that state (first half of each episode, where the truncated tail
weighs gamma^(T/2) < 1% for gamma = 0.99 and T = 1000). SAC's critic is a soft Q, so it includes
the entropy bonus the deterministic rollout does not collect; both methods share that offset.
"""
from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import torch
from tqdm.auto import tqdm

from replib.rl.buffer import ReplayBuffer
from replib.rl.envs import EnvBatch
from replib.rl.sac import SACConfig, SACEnsemble

EVAL_SEED_OFFSET = 10_000   # evaluation environments never share a seed with a training environment


def discounted_returns(rewards: np.ndarray, gamma: float) -> np.ndarray:
    """rewards (..., T) -> G_t = sum_{k>=t} gamma^(k-t) r_k, same shape (backward recursion over T)."""
    out = np.zeros_like(rewards, dtype=np.float64)
    acc = np.zeros(rewards.shape[:-1])
    for t in range(rewards.shape[-1] - 1, -1, -1):
        acc = rewards[..., t] + gamma * acc
        out[..., t] = acc
    return out


def evaluate(agent: SACEnsemble, envs: EnvBatch, episodes: int, gamma: float) -> dict[str, np.ndarray]:
    """Deterministic episodes; ``envs`` holds S * episodes environments ordered (run, episode)."""
    S = agent.n_runs
    obs_seq, act_seq, rew_seq = [], [], []
    obs = np.stack([e.reset() for e in envs.envs])                          # (S*E, o)
    while True:
        act = agent.act(obs.reshape(S, episodes, -1), sample=False).reshape(S * episodes, -1)
        out = [e.step(a) for e, a in zip(envs.envs, act)]
        obs_seq.append(obs)
        act_seq.append(act)
        rew_seq.append([o[1] for o in out])
        obs = np.stack([o[0] for o in out])
        if all(o[3] for o in out):                                            # fixed-length episodes
            break
        if any(o[3] for o in out):
            raise RuntimeError("evaluation episodes ended at different steps; expected fixed-length tasks")
    rew = np.asarray(rew_seq).T.reshape(S, episodes, -1)                     # (S, E, T)
    T = rew.shape[-1]
    half = max(1, T // 2)
    obs_t = torch.as_tensor(np.stack(obs_seq[:half], 1), device=agent.device)          # (S*E, half, o)
    act_t = torch.as_tensor(np.stack(act_seq[:half], 1), device=agent.device)
    q = agent.q_mean(obs_t.reshape(S, episodes * half, -1), act_t.reshape(S, episodes * half, -1))
    mc = discounted_returns(rew, gamma)[..., :half].reshape(S, -1)
    q = q.cpu().numpy().astype(np.float64)
    return {"returns": rew.sum(-1), "q_est": q.mean(1), "mc_return": mc.mean(1),
            "q_bias": (q - mc).mean(1)}


def train_ensemble(task: str, seeds: list[int], *, steps: int, start_steps: int, sac: SACConfig | None = None,
                   utd: int = 1, eval_every: int = 10_000, eval_episodes: int = 10, log_every: int = 1000,
                   regularizer: Callable[[torch.Tensor], torch.Tensor] | None = None, action_repeat: int = 1,
                   buffer_size: int | None = None, device: torch.device | str = "cpu",
                   progress: bool = True, desc: str = "", precision: str = "auto", envs: EnvBatch | None = None,
                   evaluate_fn: Callable[[SACEnsemble], dict] | None = None,
                   on_step: Callable[[int, dict], None] | None = None) -> dict:
    """Train ``len(seeds)`` SAC runs on ``task`` together; returns logs and the trained agent.

    ``seeds[s]`` seeds run s's environment, initial weights, exploration and replay sampling.
    Other environments (e.g. MECE's robots): ``envs``, a prebuilt ``EnvBatch`` with one copy per seed (``task`` is
    then only the progress label), ``evaluate_fn(agent) -> {name: (S, ...) array}`` in place of the DMC
    evaluation, and ``on_step(step, finished)`` called after every environment step and its updates (``finished``
    as ``EnvBatch.step`` returns it), where the caller may change the environments.
    ``precision`` is the networks' ``runtime.autocast`` in updates and acting ('auto': bf16 on CUDA).
    Returns ``{"eval": {"step", "returns" (n_eval, S, E), "q_est", "mc_return", "q_bias" (n_eval, S)},
    "train": {"step", "td_var", "q_mean", "reg" (n_log, S)}, "episodes": [(step, run, return)],
    "timing": {...}, "agent": SACEnsemble}``; evaluations at step 0 and every ``eval_every`` steps.
    Timing: ``setup_s`` (building environments and networks), ``total_s`` (the loop), ``eval_s``,
    ``train_s`` (loop minus evaluation), ``sim_s`` (MuJoCo time of the training environments).
    """
    if steps < 1 or not 0 <= start_steps <= steps or utd < 1 or eval_episodes < 1:
        raise ValueError(f"need steps >= 1, 0 <= start_steps <= steps, utd >= 1, eval_episodes >= 1; "
                         f"got steps={steps}, start_steps={start_steps}, utd={utd}, eval_episodes={eval_episodes}")
    sac = sac or SACConfig()
    t_start = time.perf_counter()
    if envs is None:
        envs = EnvBatch(task, list(seeds), action_repeat)
    elif len(envs) != len(seeds):
        raise ValueError(f"envs holds {len(envs)} environments for {len(seeds)} seeds; need one per seed")
    if evaluate_fn is None:
        eval_envs = EnvBatch(task, [EVAL_SEED_OFFSET + 100 * s + e for s in seeds for e in range(eval_episodes)],
                             action_repeat)

        def evaluate_fn(agent):
            return evaluate(agent, eval_envs, eval_episodes, sac.gamma)
    S, A = len(seeds), envs.act_dim
    agent = SACEnsemble(envs.obs_dim, A, list(seeds), sac, device, regularizer, precision=precision)
    buffer = ReplayBuffer(S, buffer_size or steps, envs.obs_dim, A, device)
    setup = time.perf_counter() - t_start
    t_start, sim0 = time.perf_counter(), envs.sim_seconds                    # the loop's clock starts here
    explore = [np.random.default_rng(int(s)) for s in seeds]
    evals, logs, episodes = [], {"step": [], "td_var": [], "q_mean": [], "reg": []}, []
    acc, n_acc, eval_seconds = None, 0, 0.0

    def run_eval(step):
        nonlocal eval_seconds
        t0 = time.perf_counter()
        evals.append({"step": step, **evaluate_fn(agent)})
        eval_seconds += time.perf_counter() - t0

    run_eval(0)
    bar = tqdm(total=steps, desc=desc or task, disable=not progress, mininterval=2.0)
    for t in range(steps):
        if t < start_steps:
            actions = np.stack([g.uniform(-1.0, 1.0, A) for g in explore]).astype(np.float32)
        else:
            actions = agent.act(envs.obs, sample=True)
        obs, next_obs, rew, terminal, finished = envs.step(actions)
        buffer.add(obs, actions, rew, next_obs, terminal)
        episodes += [(t + 1, i, r) for i, r in finished.items()]
        if t >= start_steps:
            for _ in range(utd):
                stats = agent.update(buffer.sample(sac.batch_size, agent.generators))
                acc = stats if acc is None else {k: acc[k] + v for k, v in stats.items()}
                n_acc += 1
        if on_step is not None:
            on_step(t + 1, finished)
        if (t + 1) % log_every == 0 and n_acc:
            logs["step"].append(t + 1)
            for k, v in acc.items():
                logs[k].append((v / n_acc).cpu().numpy())
            acc, n_acc = None, 0
        if (t + 1) % eval_every == 0:
            run_eval(t + 1)
        if (t + 1) % 1000 == 0 or t + 1 == steps:
            bar.update((t + 1) - bar.n)
            if episodes:
                bar.set_postfix(last_return=f"{np.mean([r for _, _, r in episodes[-S:]]):.0f}")
    bar.close()
    if evals[-1]["step"] != steps:
        run_eval(steps)
    total = time.perf_counter() - t_start
    sim = envs.sim_seconds - sim0
    return {
        "eval": {k: np.stack([e[k] for e in evals]) if k != "step" else np.array([e[k] for e in evals])
                 for k in evals[0]},
        "train": {k: np.asarray(v) for k, v in logs.items()},
        "episodes": episodes,
        "timing": {"setup_s": setup, "total_s": total, "sim_s": sim, "eval_s": eval_seconds,
                   "train_s": total - eval_seconds,
                   "sim_share_of_train": sim / max(total - eval_seconds, 1e-9),
                   "env_steps_per_s": S * steps / max(total - eval_seconds, 1e-9)},
        "agent": agent,
    }
