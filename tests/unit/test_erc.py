"""ERC: the regulariser against literal loops and hand-computed values; the tabular TD theory."""
import math

import numpy as np
import pytest
import torch

from replib.erc import (
    clip_radius,
    cos_to_ones,
    dist_to_ones,
    erc_regularizer,
    iteration_eigenvalues,
    policy_transition,
    q_pi,
    random_mdp,
    ring_mdp,
    run_tabular,
    td_errors,
)
from replib.erc.tabular import uniform_policy


def literal_code_form(delta, beta, clip):
    """ERC.train's two lines, one critic, one sample at a time (in-place clip: no gradient when clipped)."""
    sq = [d * d for d in delta]
    mean = sum(float(x.detach()) for x in sq) / len(sq)              # torch.no_grad() mean
    terms = []
    for x in sq:
        t = beta * (x - mean) ** 2
        terms.append(t if clip is None or float(t.detach()) <= clip else torch.tensor(clip))
    return sum(terms) / len(terms)


def test_hand_computed_value():
    # delta = [1, 2, 3]: l = [1, 4, 9], lbar = 14/3, (l - lbar)^2 = [121/9, 4/9, 169/9]
    td = torch.tensor([1.0, 2.0, 3.0])
    expected = 0.005 * (121 + 4 + 169) / 9 / 3
    assert erc_regularizer(td, clip=None).item() == pytest.approx(expected, rel=1e-6)
    # with the 1e-2 cap: 0.005 * 121/9 = 0.0672 and 0.005 * 169/9 = 0.0939 are clipped to 0.01
    assert erc_regularizer(td).item() == pytest.approx((0.01 + 0.005 * 4 / 9 + 0.01) / 3, rel=1e-6)
    # signed (paper's text): delta - mean = [-1, 0, 1]
    assert erc_regularizer(td, form="signed").item() == pytest.approx(0.005 * 2 / 3, rel=1e-6)


@pytest.mark.parametrize("clip", [1e-2, None])
def test_code_form_equals_literal_loop_value_and_gradient(clip):
    g = torch.Generator().manual_seed(0)
    base = torch.randn(2, 64, generator=g) * 2                 # two critics
    beta = 0.005
    x1 = base.clone().requires_grad_(True)
    erc_regularizer(x1, beta, clip=clip).sum().backward()
    x2 = base.clone().requires_grad_(True)
    ref = literal_code_form(list(x2[0]), beta, clip) + literal_code_form(list(x2[1]), beta, clip)
    ref.backward()
    assert erc_regularizer(base, beta, clip=clip).sum().item() == pytest.approx(ref.item(), rel=1e-5)
    torch.testing.assert_close(x1.grad, x2.grad, rtol=1e-5, atol=1e-7)


def test_gradient_formula_and_clip_boundary():
    beta, B = 0.005, 8
    td = torch.tensor([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 1.2, 2.5], requires_grad=True)
    R = erc_regularizer(td, beta)
    R.backward()
    l = td.detach() ** 2  # noqa: E741 (the paper's l, squared TD errors)
    lbar = l.mean()
    active = (beta * (l - lbar) ** 2 <= 1e-2)
    dR_dl = torch.where(active, 2 * beta * (l - lbar) / B, torch.zeros(()))
    torch.testing.assert_close(td.grad, dR_dl * 2 * td.detach())          # chain rule dl/d delta = 2 delta
    assert (~active).sum() >= 1 and (active.sum() >= 1)                   # both regimes exercised
    assert clip_radius() == pytest.approx(math.sqrt(2))
    assert ((l - lbar).abs() <= math.sqrt(2)).tolist() == active.tolist()


def test_mean_is_detached():
    """No gradient path through the batch mean. Without the clip the two agree anyway (a centred sum of
    squares has the same gradient either way), so the check uses a batch where the clip is active."""
    td = torch.randn(32, generator=torch.Generator().manual_seed(3)) * 1.5
    def clipped(b, lbar):
        t = 0.005 * (b ** 2 - lbar) ** 2
        return torch.where(t <= 1e-2, t, t.new_tensor(1e-2)).mean()
    a = td.clone().requires_grad_(True)
    erc_regularizer(a, 0.005).backward()
    b = td.clone().requires_grad_(True)
    clipped(b, (td ** 2).mean()).backward()                                # lbar a constant
    torch.testing.assert_close(a.grad, b.grad)
    c = td.clone().requires_grad_(True)
    clipped(c, (c ** 2).mean()).backward()                                 # lbar with a gradient path
    assert (0.005 * ((td ** 2 - (td ** 2).mean()) ** 2) > 1e-2).any()
    assert not torch.allclose(a.grad, c.grad)


def test_beta_zero_batched_and_per_run_beta():
    td = torch.randn(3, 2, 16, generator=torch.Generator().manual_seed(1), requires_grad=True)
    zero = erc_regularizer(td, 0.0)
    zero.sum().backward()
    assert torch.all(zero == 0) and torch.all(td.grad == 0)
    betas = torch.tensor([0.0, 0.005, 0.05])[:, None, None]
    out = erc_regularizer(td.detach(), betas)
    assert out.shape == (3, 2)
    for s, b in enumerate((0.0, 0.005, 0.05)):
        for j in range(2):
            assert out[s, j].item() == pytest.approx(erc_regularizer(td.detach()[s, j], b).item(), abs=1e-9)


def test_bad_arguments():
    with pytest.raises(ValueError, match="valid forms"):
        erc_regularizer(torch.zeros(4), form="squared")
    with pytest.raises(ValueError, match="beta"):
        erc_regularizer(torch.zeros(4), beta=-1.0)
    with pytest.raises(ValueError, match="clip"):
        erc_regularizer(torch.zeros(4), clip=0.0)


# ---- tabular theory ---------------------------------------------------------------------------------
def test_policy_kernel_is_row_stochastic_and_eigenvalues():
    P, _ = random_mdp(6, 3, seed=2)
    P_pi = policy_transition(P, uniform_policy(6, 3))
    np.testing.assert_allclose(P_pi @ np.ones(18), np.ones(18))
    gamma, alpha = 0.99, 0.5
    M = np.eye(18) - alpha * (np.eye(18) - gamma * P_pi)
    ours = np.sort_complex(iteration_eigenvalues(P_pi, gamma, alpha))
    np.testing.assert_allclose(ours, np.sort_complex(np.linalg.eigvals(M)), atol=1e-10)
    assert abs(iteration_eigenvalues(P_pi, gamma, alpha)[0]) == pytest.approx(0.995)


def test_delta_in_span_one_iff_error_in_span_one():
    P, _ = random_mdp(5, 2, seed=4)
    P_pi = policy_transition(P, uniform_policy(5, 2))
    A = np.eye(10) - 0.99 * P_pi
    np.testing.assert_allclose(A @ (3.0 * np.ones(10)), 3.0 * 0.01 * np.ones(10))   # e = c 1 -> c(1-gamma) 1
    e = np.random.default_rng(0).normal(size=10)
    assert dist_to_ones(A @ e) > 1e-3 and dist_to_ones(e) > 1e-3


def test_td_converges_to_q_pi_and_literal_step():
    P, R = random_mdp(5, 2, seed=5)
    P_pi, gamma = policy_transition(P, uniform_policy(5, 2)), 0.9
    Q = q_pi(P_pi, R, gamma)
    np.testing.assert_allclose(Q, R.reshape(-1) + gamma * P_pi @ Q)
    E = td_errors(P_pi, gamma, 0.5, -Q, 400)
    assert np.linalg.norm(E[-1]) < 1e-6 * np.linalg.norm(E[0])
    # one ERC step written out per pair
    e = E[3]
    d = [e[i] - gamma * sum(P_pi[i, j] * e[j] for j in range(10)) for i in range(10)]
    dbar = sum(d) / 10
    nxt = [e[i] - 0.3 * (d[i] + 2.0 * (d[i] - dbar)) for i in range(10)]
    np.testing.assert_allclose(td_errors(P_pi, gamma, 0.3, e, 1, beta=2.0)[1], nxt)
    with pytest.raises(ValueError, match="diverge"):
        td_errors(P_pi, gamma, 0.8, e, 1, beta=2.0)


def test_ring_mixes_slowly_and_metrics():
    P, _ = ring_mdp(30, 3)
    lam = np.sort(np.abs(np.linalg.eigvals(policy_transition(P, uniform_policy(30, 3)))))[::-1]
    assert lam[1] == pytest.approx(1 - (2 / 3) * (1 - math.cos(2 * math.pi / 30)), abs=1e-9)
    assert lam[1] == pytest.approx(0.985, abs=1e-3)
    E = np.array([[2.0, 2.0, 2.0], [1.0, -1.0, 0.0]])
    np.testing.assert_allclose(cos_to_ones(E), [1.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(dist_to_ones(E), [0.0, math.sqrt(2)])


def test_spec_pass_criteria_hold_at_default_settings():
    t = run_tabular()
    rnd, ring = t["random"], t["ring"]
    assert abs(rnd["cos"][0]) < 0.5 and abs(rnd["cos"][10]) > 0.99            # F1
    assert rnd["dist"][50] / rnd["norm"][50] < 0.01
    assert np.all(np.diff(ring["dist"][:, 100]) < 0)                          # F2
    assert np.all(np.diff(ring["norm"][:, 100]) < 0)
    # the ERC term is zero along 1 and the ring's kernel is doubly stochastic: the component along 1 is the
    # same for every beta, so at k=1000 (all that is left) the spec's norm test cannot tell the betas apart
    along = ring["norm"] ** 2 - ring["dist"] ** 2
    np.testing.assert_allclose(along, np.broadcast_to(along[:1], along.shape), rtol=1e-9, atol=1e-9)


# ---- deep: the batched SAC/ERC ensemble against the literal ERC.py agent -------------------------------
def test_ensemble_with_erc_reproduces_the_literal_agent():
    from replib.erc.experiment import ensemble_regularizer
    from replib.rl.sac import SACConfig
    from replib.rl.train import train_ensemble
    from rl_reference import train_single

    cfg = SACConfig(hidden=32, batch_size=16)
    betas = torch.tensor([0.0, 0.005, 0.5])
    out = train_ensemble("cartpole-swingup", [0, 0, 0], steps=250, start_steps=100, sac=cfg, eval_every=10**9,
                         eval_episodes=1, progress=False, regularizer=ensemble_regularizer(betas, "code", 1e-2))
    critic = out["agent"].critic
    flat = [torch.cat([t for j in (2 * s, 2 * s + 1) for i in range(3)
                       for t in (critic.W[i][j].T.flatten(), critic.b[i][j, 0])]) for s in range(3)]
    for s, beta in enumerate(betas.tolist()):
        ref, _, _ = train_single("cartpole-swingup", 0, cfg, 250, 100, beta=beta)
        torch.testing.assert_close(flat[s], torch.cat([p.detach().flatten() for p in ref.critic.parameters()]),
                                   rtol=1e-4, atol=1e-5)
    assert not torch.allclose(flat[0], flat[2])            # the ERC term changed the critic
    assert out["train"]["reg"].size == 0 or np.all(out["train"]["reg"][:, 0] == 0)


# the claims on synthetic logs: tests/unit/test_erc_claims.py


def test_paper_table_reproduces_the_spec_summary():
    from replib.erc.paper import PAPER_MEANS, paper_scores
    d = paper_scores()
    assert d.shape == (26, 5)
    for method, mean in PAPER_MEANS.items():
        assert d[method].mean() == pytest.approx(mean, abs=0.05)
    assert (d.idxmax(axis=1) == "ERC").sum() == 20                       # "best on 20 of 26"
    assert (d["ERC"] > d["SAC"]).sum() == 25 and (d["ERC"] > d["TQC"]).sum() == 22


def test_paper_task_names_are_valid_config_tasks():
    from replib.erc.config import get_config
    from replib.erc.paper import PAPER_TASKS
    assert len(PAPER_TASKS) == 26
    assert get_config("full", tasks=PAPER_TASKS).tasks == PAPER_TASKS       # every name is a dm_control task
    with pytest.raises(ValueError, match="valid"):
        get_config("quick", tasks=("cartpole-fly",))
