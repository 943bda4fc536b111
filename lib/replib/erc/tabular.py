"""Exact tabular TD dynamics and the 1-eigensubspace (He et al., ECML-PKDD 2023, Sec. 4; papers/erc.md).

Policy evaluation over state-action pairs with the row-stochastic kernel
    P^pi[(s, a), (s', a')] = P(s' | s, a) pi(a' | s'),        P^pi 1 = 1.
Expected TD with step alpha moves the error e_k = Q_k - Q^pi linearly:
    e_{k+1} = (I - alpha (I - gamma P^pi)) e_k,
with eigenvalues 1 - alpha (1 - gamma lambda_i). lambda = 1 (eigenvector 1) is the slowest mode,
1 - alpha (1 - gamma) = 0.995 at alpha 0.5, gamma 0.99; the rest decay faster, so e_k turns towards
span{1} and then shrinks along it. An error in span{1} is a constant and leaves argmax_a Q unchanged.

ERC (semi-gradient, full batch): delta = Q - (R + gamma P^pi Q) = (I - gamma P^pi) e, and the update
    Q <- Q - lr (delta + beta (delta - mean(delta)))
adds a push that removes the part of delta not shared by all pairs (the gradient of
beta/2 ||delta - mean delta||^2 with the mean and the target held fixed). Along 1 the term vanishes, so
the slow mode is untouched while the policy-relevant component decays faster.

Float64 numpy; one matrix-vector product per iteration, no loops over states.
"""
from __future__ import annotations

import numpy as np


def random_mdp(n_states: int = 20, n_actions: int = 4, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Dense random MDP: P[s, a] ~ Dirichlet(1) over next states, R ~ U[0, 1]. -> P (S, A, S), R (S, A)."""
    rng = np.random.default_rng(seed)
    return rng.dirichlet(np.ones(n_states), size=(n_states, n_actions)), rng.random((n_states, n_actions))


def ring_mdp(n_states: int = 30, n_actions: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Slowly mixing ring: action a moves by a - (n_actions // 2) places (left, stay, right for 3 actions).

    Under the uniform policy the state chain is a lazy walk on a cycle; its second eigenvalue is
    1 - (2/3)(1 - cos(2 pi / n)) = 0.9854 for n = 30 and three actions. R ~ U[0, 1].
    """
    rng = np.random.default_rng(seed)
    P = np.zeros((n_states, n_actions, n_states))
    s = np.arange(n_states)
    for a in range(n_actions):                                   # one shift per action, all states at once
        P[s, a, (s + a - n_actions // 2) % n_states] = 1.0
    return P, rng.random((n_states, n_actions))


def uniform_policy(n_states: int, n_actions: int) -> np.ndarray:
    return np.full((n_states, n_actions), 1.0 / n_actions)


def policy_transition(P: np.ndarray, pi: np.ndarray) -> np.ndarray:
    """P^pi over state-action pairs, (S*A, S*A), rows sum to 1 (pairs ordered s-major)."""
    S, A, _ = P.shape
    return (P[:, :, :, None] * pi[None, None, :, :]).reshape(S * A, S * A)


def q_pi(P_pi: np.ndarray, R: np.ndarray, gamma: float) -> np.ndarray:
    """Exact Q^pi = (I - gamma P^pi)^-1 R, R flattened s-major."""
    return np.linalg.solve(np.eye(len(P_pi)) - gamma * P_pi, R.reshape(-1))


def iteration_eigenvalues(P_pi: np.ndarray, gamma: float, alpha: float) -> np.ndarray:
    """Eigenvalues 1 - alpha (1 - gamma lambda_i) of the expected-TD error map, largest modulus first."""
    ev = 1.0 - alpha * (1.0 - gamma * np.linalg.eigvals(P_pi))
    return ev[np.argsort(-np.abs(ev))]


def td_errors(P_pi: np.ndarray, gamma: float, step: float, e0: np.ndarray, n_iters: int,
              beta: float = 0.0) -> np.ndarray:
    """Error trajectory e_0..e_K (K+1, n) of expected TD (beta = 0) or TD with the ERC term.

    e_{k+1} = e_k - step (delta_k + beta (delta_k - mean delta_k)),  delta_k = (I - gamma P^pi) e_k,
    i.e. Q_k's update with the reward cancelling in Q_k - Q^pi.
    """
    if step * (1 + beta) >= 2:
        raise ValueError(f"step * (1 + beta) = {step * (1 + beta):.2f} >= 2 makes TD diverge; lower step or beta")
    A = np.eye(len(P_pi)) - gamma * P_pi
    out = np.empty((n_iters + 1, len(e0)))
    out[0] = e = e0
    for k in range(n_iters):
        d = A @ e
        e = e - step * (d + beta * (d - d.mean()))
        out[k + 1] = e
    return out


def cos_to_ones(E: np.ndarray) -> np.ndarray:
    """cos(e, 1) for each row e of E (..., n); 0 for a zero error."""
    norm = np.linalg.norm(E, axis=-1) * np.sqrt(E.shape[-1])
    return np.divide(E.sum(-1), norm, out=np.zeros(E.shape[:-1]), where=norm > 0)


def dist_to_ones(E: np.ndarray) -> np.ndarray:
    """Norm of the component of each row orthogonal to 1 (the policy-relevant error)."""
    return np.linalg.norm(E - E.mean(-1, keepdims=True), axis=-1)


def run_tabular(n_states: int = 20, n_actions: int = 4, gamma: float = 0.99, alpha: float = 0.5,
                n_iters: int = 200, ring_states: int = 30, ring_actions: int = 3, ring_lr: float = 0.3,
                ring_betas: tuple = (0.0, 0.5, 1.0, 2.0), ring_iters: int = 1000, seed: int = 0) -> dict:
    """F1 and F2 of the spec: uniform policy, rewards U[0, 1], Q_0 ~ U[0, 1/(1 - gamma)] per pair (a random
    start over the range of values, so that e_0 = Q_0 - Q^pi starts far from span{1}; Q_0 = 0 would start
    almost aligned, since Q^pi is about 50 everywhere).

    -> {"random": {k, cos, dist, norm, slowest_rate, shape}, "ring": {betas, k, dist (n_beta, K+1),
    norm, cos, lambda2}}
    """
    P, R = random_mdp(n_states, n_actions, seed)
    P_pi = policy_transition(P, uniform_policy(n_states, n_actions))
    rng = np.random.default_rng(seed + 1)
    E = td_errors(P_pi, gamma, alpha, rng.uniform(0, 1 / (1 - gamma), len(P_pi)) - q_pi(P_pi, R, gamma), n_iters)
    random = {"k": np.arange(n_iters + 1), "cos": cos_to_ones(E), "dist": dist_to_ones(E),
              "norm": np.linalg.norm(E, axis=-1), "shape": f"{n_states}x{n_actions}",
              "slowest_rate": float(np.abs(iteration_eigenvalues(P_pi, gamma, alpha)[0]))}
    Pr, Rr = ring_mdp(ring_states, ring_actions, seed)
    Pr_pi = policy_transition(Pr, uniform_policy(ring_states, ring_actions))
    e0 = rng.uniform(0, 1 / (1 - gamma), len(Pr_pi)) - q_pi(Pr_pi, Rr, gamma)
    traj = np.stack([td_errors(Pr_pi, gamma, ring_lr, e0, ring_iters, beta=b) for b in ring_betas])
    lam = np.sort(np.abs(np.linalg.eigvals(Pr_pi)))[::-1]
    ring = {"betas": np.asarray(ring_betas, dtype=float), "k": np.arange(ring_iters + 1),
            "dist": dist_to_ones(traj), "norm": np.linalg.norm(traj, axis=-1), "cos": cos_to_ones(traj),
            "lambda2": float(lam[1]), "shape": f"{ring_states}x{ring_actions}"}
    return {"random": random, "ring": ring}
