"""Shared RL: dm_control wrapper, replay buffer, stacked SAC ensemble against the literal single run."""
import math

import numpy as np
import pytest
import torch

from replib.rl.buffer import ReplayBuffer
from replib.rl.envs import DMCEnv, EnvBatch, parse_task
from replib.rl.sac import SACConfig, SACEnsemble, squashed_sample
from replib.rl.train import discounted_returns, train_ensemble
from rl_reference import SquashedNormal, train_single

TINY = SACConfig(hidden=32, batch_size=16)


def test_mujoco_pinned_and_task_names():
    import mujoco
    assert mujoco.__version__ == "3.17.0"
    assert parse_task("ball_in_cup-catch") == ("ball_in_cup", "catch")
    with pytest.raises(ValueError, match="valid names"):
        parse_task("cartpole-flip")


def test_observation_flattening_follows_spec_key_order():
    env = DMCEnv("walker-walk", seed=0)
    spec = env._env.observation_spec()
    assert list(spec) == ["orientations", "height", "velocity"]
    ts = env._env.reset()
    flat = env._flat(ts.observation)
    expected = np.concatenate([np.ravel(ts.observation[k]) for k in spec]).astype(np.float32)
    np.testing.assert_array_equal(flat, expected)
    assert flat.shape == (env.obs_dim,) == (24,) and env.act_dim == 6


def test_time_limit_is_not_terminal_and_batch_resets():
    envs = EnvBatch("cartpole-swingup", [0, 1])
    buf = ReplayBuffer(2, 1000, envs.obs_dim, envs.act_dim, "cpu")
    finished = {}
    for _ in range(1000):
        obs, next_obs, rew, terminal, finished = envs.step(np.zeros((2, 1), np.float32))
        buf.add(obs, np.zeros((2, 1)), rew, next_obs, terminal)
    assert set(finished) == {0, 1}                      # both 1000-step episodes end on the last step
    assert torch.all(buf.not_done == 1.0)               # ERC's done_bool = 0 at the time limit
    assert not np.allclose(envs.obs, next_obs)          # the batch moved on to fresh episodes


def test_action_repeat_sums_rewards():
    a, b = DMCEnv("cartpole-balance", 3), DMCEnv("cartpole-balance", 3, action_repeat=2)
    a.reset(), b.reset()
    act = np.array([0.3])
    r1 = a.step(act)[1]
    obs_a, r2, _, _ = a.step(act)
    obs_b, rb, _, _ = b.step(act)
    assert rb == pytest.approx(r1 + r2)
    np.testing.assert_array_equal(obs_b, obs_a)


def test_buffer_indices_per_run_do_not_depend_on_the_ensemble():
    big, small = ReplayBuffer(3, 50, 2, 1, "cpu"), ReplayBuffer(1, 50, 2, 1, "cpu")
    for i in range(70):                                  # wraps around the capacity
        x = np.full((3, 2), float(i))
        big.add(x, np.ones((3, 1)), np.arange(3.0), x + 1, np.zeros(3))
        small.add(x[:1], np.ones((1, 1)), np.zeros(1), x[:1] + 1, np.zeros(1))
    assert len(big) == 50 and big.obs[:, :, 0].min() == 20
    idx_big = big.sample_indices(8, [torch.Generator().manual_seed(s) for s in (5, 6, 7)])
    idx_small = small.sample_indices(8, [torch.Generator().manual_seed(6)])
    torch.testing.assert_close(idx_big[1], idx_small[0])
    batch = big.gather(idx_big)
    assert batch["obs"].shape == (3, 8, 2) and batch["rew"].shape == (3, 8)
    torch.testing.assert_close(batch["next_obs"], batch["obs"] + 1)
    torch.testing.assert_close(batch["rew"], torch.arange(3.0)[:, None].expand(3, 8))


def test_squashed_sample_matches_torch_distributions():
    g = torch.Generator().manual_seed(0)
    mu, log_std = torch.randn(5, 3, generator=g), torch.rand(5, 3, generator=g) - 1
    eps = torch.randn(5, 3, generator=g)
    a, logp = squashed_sample(mu, log_std, eps)
    dist = SquashedNormal(mu, log_std.exp())
    ref = dist.transforms[0](mu + eps * log_std.exp())
    torch.testing.assert_close(a, ref)
    torch.testing.assert_close(logp, dist.log_prob(ref).sum(-1), rtol=1e-5, atol=1e-5)


def test_log_std_bounds_and_target_entropy():
    agent = SACEnsemble(4, 2, [0], SACConfig(hidden=8))
    with torch.no_grad():
        for w in agent.actor.W:
            w.mul_(1e4)
    _, log_std = agent.policy(torch.randn(1, 64, 4) * 10)
    assert log_std.min() >= -10.0 and log_std.max() <= 2.0
    assert agent.target_entropy == -2.0
    assert agent.log_alpha.exp().item() == pytest.approx(0.1)


def test_actor_alpha_and_targets_update_every_second_step():
    agent = SACEnsemble(3, 1, [0, 1], TINY)
    g = torch.Generator().manual_seed(1)
    batch = {"obs": torch.randn(2, 16, 3, generator=g), "act": torch.rand(2, 16, 1, generator=g) * 2 - 1,
             "rew": torch.randn(2, 16, generator=g), "next_obs": torch.randn(2, 16, 3, generator=g),
             "not_done": torch.ones(2, 16)}
    def snap(m):
        return [p.detach().clone() for p in m.parameters()]

    actor0, target0, alpha0 = snap(agent.actor), snap(agent.critic_target), agent.log_alpha.detach().clone()
    critic0 = snap(agent.critic)
    agent.update(batch)
    assert all(torch.equal(a, b) for a, b in zip(actor0, snap(agent.actor)))
    assert all(torch.equal(a, b) for a, b in zip(target0, snap(agent.critic_target)))
    assert torch.equal(alpha0, agent.log_alpha)
    assert not all(torch.equal(a, b) for a, b in zip(critic0, snap(agent.critic)))
    agent.update(batch)
    assert not any(torch.equal(a, b) for a, b in zip(actor0, snap(agent.actor)))
    assert not torch.equal(alpha0, agent.log_alpha)
    for t0, t1, c in zip(target0, snap(agent.critic_target), snap(agent.critic)):
        torch.testing.assert_close(t1, t0 + TINY.tau * (c - t0))


def test_critic_loss_goes_down_on_a_fixed_batch():
    agent = SACEnsemble(3, 1, [0], SACConfig(hidden=32, batch_size=16, lr=3e-3))
    g = torch.Generator().manual_seed(2)
    batch = {"obs": torch.randn(1, 16, 3, generator=g), "act": torch.rand(1, 16, 1, generator=g),
             "rew": torch.randn(1, 16, generator=g), "next_obs": torch.randn(1, 16, 3, generator=g),
             "not_done": torch.zeros(1, 16)}                 # terminal: y = r, a fixed regression target
    def mse():
        return (agent.q_values(batch["obs"], batch["act"]) - batch["rew"][:, None]).pow(2).mean().item()
    first = mse()
    for _ in range(300):
        agent.update(batch)
    assert mse() < 0.2 * first


def test_discounted_returns_literal():
    r = np.random.default_rng(0).random((2, 3, 7))
    ref = np.array([[[sum(0.9 ** (k - t) * r[i, j, k] for k in range(t, 7)) for t in range(7)]
                     for j in range(3)] for i in range(2)])
    np.testing.assert_allclose(discounted_returns(r, 0.9), ref)


def _params(module_list):
    return [torch.cat([p.detach().flatten() for p in m.parameters()]) for m in module_list]


def test_ensemble_reproduces_single_runs():
    """Batched fast path == the literal one-run-at-a-time loop: same seeds, same numbers."""
    seeds, steps, start = [0, 1], 300, 100
    out = train_ensemble("cartpole-swingup", seeds, steps=steps, start_steps=start, sac=TINY,
                         eval_every=10**9, eval_episodes=1, progress=False)
    agent = out["agent"]
    assert agent.total_it == steps - start
    for s, seed in enumerate(seeds):
        ref, _, _ = train_single("cartpole-swingup", seed, TINY, steps, start)
        # member s of the stacked actor, in the reference's parameter layout
        W, b = agent.actor.W, agent.actor.b
        ours = [W[0][s].T, b[0][s, 0], W[1][s].T, b[1][s, 0], W[2][s].T[:1], b[2][s, 0, :1],
                W[2][s].T[1:], b[2][s, 0, 1:]]
        for x, y in zip(ours, ref.actor.parameters()):
            torch.testing.assert_close(x, y, rtol=1e-4, atol=1e-5)
        Wc, bc = agent.critic.W, agent.critic.b
        critic = [t for j in (2 * s, 2 * s + 1) for i in range(3) for t in (Wc[i][j].T, bc[i][j, 0])]
        for x, y in zip(critic, ref.critic.parameters()):
            torch.testing.assert_close(x, y, rtol=1e-4, atol=1e-5)
        assert agent.log_alpha[s].item() == pytest.approx(ref.log_alpha.item(), abs=1e-6)


def test_train_ensemble_logs_and_validation():
    out = train_ensemble("pendulum-swingup", [3], steps=1000, start_steps=900, sac=TINY, eval_every=500,
                         eval_episodes=2, log_every=50, progress=False)
    ev = out["eval"]
    assert list(ev["step"]) == [0, 500, 1000] and ev["returns"].shape == (3, 1, 2)
    assert np.isfinite(ev["q_bias"]).all() and out["train"]["td_var"].shape == (2, 1)
    assert [e[0] for e in out["episodes"]] == [1000]
    assert 0 < out["timing"]["sim_share_of_train"] < 1
    with pytest.raises(ValueError, match="start_steps"):
        train_ensemble("pendulum-swingup", [0], steps=10, start_steps=20)
    assert math.isfinite(out["timing"]["env_steps_per_s"])


def test_buffer_add_stores_each_field_with_one_host_to_device_copy(monkeypatch):
    buf = ReplayBuffer(2, 4, 3, 2, "cpu")
    calls = []
    real = torch.as_tensor
    monkeypatch.setattr(torch, "as_tensor", lambda *a, **k: calls.append(1) or real(*a, **k))
    obs, act = np.arange(6.0).reshape(2, 3), np.array([[0.5, -0.5], [0.25, 1.0]])
    buf.add(obs, act, np.array([1.5, -2.0]), obs + 10, np.array([0.0, 1.0]))
    assert len(calls) == 1
    torch.testing.assert_close(buf.obs[:, 0], torch.tensor(obs, dtype=torch.float32))
    torch.testing.assert_close(buf.act[:, 0], torch.tensor(act, dtype=torch.float32))
    torch.testing.assert_close(buf.rew[:, 0], torch.tensor([1.5, -2.0]))
    torch.testing.assert_close(buf.next_obs[:, 0], torch.tensor(obs + 10, dtype=torch.float32))
    torch.testing.assert_close(buf.not_done[:, 0], torch.tensor([1.0, 0.0]))
    assert buf.ptr == 1 and len(buf) == 1
