"""MECE curriculum pieces (papers/mece.md Sec. 2 "Reconstructed", Sec. 6, Sec. 7): r_m and r_e on hand-computed
return logs, missing data, r_m == a literal per-episode loop, the plateau scheduler (fires on a plateau, never on
rising curves, morph at its period, env beats morph on a tie, min_gap), fixed alternation, pi_m inside the bounds box,
REINFORCE moves log-probabilities the advantage's way (pi_m, pi_e), roughness inside [0, max], seeding, no global RNG
use, no-op / random / uniform stand-ins, the learning-signals inputs contract, float32 under bf16 autocast."""
import dataclasses
import inspect
import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from replib.mece.curriculum import (
    ENV_REWARDS,
    FORBIDDEN,
    MISSING,
    MORPH_REWARDS,
    LearningSignals,
    ReturnLog,
    RewardHistory,
    env_key,
    environment_level_reward,
    environment_reward,
    morphology_reward,
    pick,
)
from replib.mece.design import (
    ENV_ACTIONS,
    EnvironmentPolicy,
    MorphologyPolicy,
    NoOpEnvironment,
    NoOpMorphology,
    RandomEnvironment,
    RandomMorphology,
    UniformRoughness,
    make_env_policy,
    make_morph_policy,
)
from replib.mece.scheduler import (
    FixedAlternation,
    PlateauScheduler,
    ls_slope,
    make_scheduler,
    normalised_slope,
)

LOWS, HIGHS = np.array([0.1, -0.5, 20.0]), np.array([0.4, 0.5, 400.0])


def signals(design=(0.2, 0.0, 100.0), roughness=0.1, slope=0.0, r_m=0.0, step=0):
    return LearningSignals(step=step, design=np.array(design), roughness=roughness, train_return=5.0,
                           return_slope=slope, last_r_m=r_m)


def hand_log():
    log = ReturnLog()
    # (step at episode end, env id, training return), in step order
    rows = [(40, 0, 1000.0), (60, 0, 10.0), (80, 0, 14.0), (90, 1, 5.0), (100, 0, 16.0),
            (110, 1, 9.0), (120, 0, 20.0), (140, 2, 50.0), (150, 0, 22.0), (151, 1, -1000.0)]
    log.append(*[np.array(c) for c in zip(*rows[:4])])         # a batch, then single episodes
    for r in rows[4:]:
        log.append(*r)
    return log


def test_morphology_reward_hand_computed():
    log = hand_log()
    # change at t = 100, window 50: before = (50, 100], after = (100, 150]; step 40 and 151 fall outside.
    # env 0: before (10 + 14 + 16) / 3 = 40/3 (the episode ending at t = 100 is the old design's), after (20 + 22) / 2
    # env 1: before 5, after 9; env 2 only after -> not used
    r = morphology_reward(log, 100, window=50, n_envs=2)
    assert r.valid and r.n == 2 and r.value == pytest.approx(((21 - 40 / 3) + (9 - 5)) / 2)
    # n_envs = 1: the most recent env in the after window is env 0 (last seen at 150 vs 110)
    r1 = morphology_reward(log, 100, window=50, n_envs=1)
    assert r1.n == 1 and r1.value == pytest.approx(21 - 40 / 3)
    assert morphology_reward(log, 100, window=50, n_envs=9) == r
    assert MORPH_REWARDS["progress"] is morphology_reward


def test_morphology_reward_missing_data_is_flagged_not_raised():
    log = hand_log()
    assert morphology_reward(ReturnLog(), 100, window=50) == MISSING == (0.0, False, 0)
    assert morphology_reward(log, 151, window=100) == MISSING                 # nothing after 151
    assert morphology_reward(log, 30, window=10) == MISSING                   # nothing before
    only = ReturnLog()
    only.append([10, 20], [0, 1], [1.0, 2.0])                                 # env 0 before, env 1 after only
    assert morphology_reward(only, 15, window=10) == MISSING
    with pytest.raises(ValueError, match="window"):
        morphology_reward(log, 100, window=0)


def slow_r_m(rows, t, window, n_envs):
    """Literal reference: a loop over episodes per side and env."""
    before, after = {}, {}
    for s, e, r in rows:
        if t - window < s <= t:
            before.setdefault(e, []).append(r)
        elif t < s <= t + window:
            after.setdefault(e, []).append((s, r))
    common = [e for e in after if e in before]
    if not common:
        return 0.0, False, 0
    common.sort(key=lambda e: (-max(s for s, _ in after[e]), e))
    chosen = common[:n_envs]
    diffs = [sum(r for _, r in after[e]) / len(after[e]) - sum(before[e]) / len(before[e]) for e in chosen]
    return sum(diffs) / len(diffs), True, len(chosen)


def test_morphology_reward_equals_a_literal_loop():
    rng = np.random.default_rng(0)
    for _ in range(200):
        n = int(rng.integers(0, 40))
        steps = np.sort(rng.integers(0, 300, n))
        envs, rets = rng.integers(0, 5, n), rng.normal(size=n).round(3)
        log = ReturnLog()
        log.append(steps, envs, rets)
        t, w, k = int(rng.integers(0, 300)), int(rng.integers(1, 150)), int(rng.integers(1, 4))
        v, ok, m = slow_r_m(list(zip(steps.tolist(), envs.tolist(), rets.tolist())), t, w, k)
        r = morphology_reward(log, t, window=w, n_envs=k)
        assert (r.valid, r.n) == (ok, m) and r.value == pytest.approx(v, abs=1e-12)


def test_return_log_is_append_only_and_checked():
    log = ReturnLog()
    for i in range(40):                                                        # grows past the first capacity
        log.append(i, i % 3, float(i))
    assert len(log) == 40 and log.returns[-1] == 39.0 and log.envs[5] == 2
    with pytest.raises(ValueError):
        log.returns[0] = 1.0                                                   # read-only view
    with pytest.raises(ValueError, match="non-decreasing"):
        log.append(10, 0, 1.0)
    with pytest.raises(ValueError, match="non-finite"):
        log.append(50, 0, math.nan)
    assert env_key([0.0, 0.049, 0.051, 0.3], rough_step=0.05).tolist() == [0, 1, 1, 6]
    with pytest.raises(ValueError, match="env_key"):
        log.append(60, 0.15, 1.0)                                              # a roughness passed as an env id
    h = RewardHistory()
    h.append([1, 2], MISSING)
    assert h.valid.tolist() == [False, False] and h.values.tolist() == [0.0, 0.0]


def test_environment_reward_hand_computed():
    h = RewardHistory()
    for step, value, valid in [(50, 2.0, True), (80, 4.0, True), (90, 100.0, False), (120, 7.0, True),
                               (150, 9.0, True), (200, 50.0, True)]:
        h.append(step, value, valid)
    # env change at 100, window 60: before (40, 100] valid r_m {2, 4} -> 3 (the invalid 100 is skipped);
    # after (100, 160] {7, 9} -> 8; r_e = 8 - 3 = 5; "level" = 8
    r = environment_reward(h, 100, window=60)
    assert r.valid and r.n == 2 and r.value == pytest.approx(5.0)
    assert environment_level_reward(h, 100, window=60).value == pytest.approx(8.0)
    assert environment_reward(h, 300, window=60) == MISSING                    # no r_m after
    assert environment_reward(h, 45, window=5) == MISSING                      # no r_m before
    assert environment_level_reward(h, 300, window=10) == MISSING
    assert set(ENV_REWARDS) == {"progress", "level"}


def test_pick_names_field_value_and_choices():
    assert pick(ENV_REWARDS, "env_reward", "level") is environment_level_reward
    with pytest.raises(ValueError, match=r"env_reward='eq2'.*\['level', 'progress'\]"):
        pick(ENV_REWARDS, "env_reward", "eq2")


def test_slope_is_least_squares():
    y = np.array([1.0, 3.0, 2.0, 5.0, 4.0])
    assert ls_slope(y) == pytest.approx(np.polyfit(np.arange(5), y, 1)[0])
    assert normalised_slope(y) == pytest.approx(ls_slope(y) / 3.0)
    assert normalised_slope([0.1, 0.2], scale_floor=1.0) == pytest.approx(0.1)   # floor, not |mean| = 0.15
    assert ls_slope([3.0]) == 0.0


def test_plateau_fires_on_a_plateau():
    s = PlateauScheduler(window=5, epsilon=0.01, morph_period=10**9)
    kinds = [s.decide(10 * k, min(k, 19)) for k in range(40)]
    # last 5 = (18, 19, 19, 19, 19) at k = 22: slope 6*1*4/(5*24) * 1 = 0.2, / mean 18.8 = 0.0106 >= 0.01; k = 23: 0;
    # then the curve restarts, so the next plateau needs 5 new points: k = 28, 33, 38
    assert kinds.index("env") == 23 and s.schedule.steps_of("env").tolist() == [230, 280, 330, 380]
    assert s.schedule.check_slopes[22] == pytest.approx(0.2 / 18.8) and s.schedule.check_slopes[23] == 0.0
    r = PlateauScheduler(window=3, epsilon=0.01, morph_period=10**9)
    assert [r.decide(k, v) for k, v in enumerate([5.0, 5.0, 5.0, 1.0, 3.0])] == ["none"] * 2 + ["env"] + ["none"] * 2
    assert r.schedule.check_slopes[3:] == [0.0, pytest.approx(2.0 / 2.0)]     # the new environment's curve only
    gap = PlateauScheduler(window=5, epsilon=0.01, morph_period=10**9, min_gap=300)
    for k in range(40):
        gap.decide(10 * k, min(k, 19))
    assert gap.schedule.steps_of("env").tolist() == [300]                     # >= 300 from the start and apart


def test_plateau_never_fires_on_rising_curves():
    rng = np.random.default_rng(1)
    for _ in range(200):
        w = int(rng.integers(2, 12))
        inc = 10.0 ** rng.uniform(-3, 2, 80)                   # strictly rising, any magnitudes
        y = rng.normal(0, 50) + np.cumsum(inc)
        s = PlateauScheduler(window=w, epsilon=0.0, morph_period=10**9)
        assert all(s.decide(k, v) == "none" for k, v in enumerate(y))
        # epsilon > 0: fires never while every increment exceeds epsilon * max(|y|, floor) (module docstring)
        z = rng.uniform(0, 5) + np.cumsum(rng.uniform(1, 3, 60))
        eps = 0.99 * 1.0 / np.abs(z).max()
        s = PlateauScheduler(window=w, epsilon=eps, morph_period=10**9)
        assert all(s.decide(k, v) == "none" for k, v in enumerate(z))


def test_morph_fires_at_its_period_and_env_wins_a_tie():
    s = PlateauScheduler(window=3, epsilon=-1e9, morph_period=50)
    kinds = [s.decide(7 * k, float(k)) for k in range(1, 30)]
    # measured from the last morph event: 56 (>= 50), 112 (>= 106), 168, ...
    assert s.schedule.steps_of("morph").tolist() == list(range(56, 204, 56)) and "env" not in kinds
    t = PlateauScheduler(window=2, epsilon=0.5, morph_period=20)
    assert [t.decide(k, 1.0) for k in (10, 20, 30)] == ["none", "env", "morph"]


def test_fixed_alternation_alternates():
    s = make_scheduler("fixed_alternation", window=4, epsilon=0.0, morph_period=100)
    kinds = [s.decide(10 * k, 1.0) for k in range(1, 41)]
    events = [(10 * (i + 1), k) for i, k in enumerate(kinds) if k != "none"]
    assert events == [(50 * j, "env" if j % 2 else "morph") for j in range(1, 9)]
    assert s.schedule.steps_of("morph").tolist() == [100, 200, 300, 400]      # pi_m at morph_period
    assert isinstance(make_scheduler("plateau", window=4, epsilon=0.0, morph_period=100), PlateauScheduler)
    with pytest.raises(ValueError, match="scheduler='poet'"):
        make_scheduler("poet", window=4, epsilon=0.0, morph_period=100)
    arr = s.schedule.as_arrays()
    assert arr["check_steps"].shape == (40,) and arr["event_kinds"].tolist()[:2] == ["env", "morph"]
    with pytest.raises(ValueError, match="step=5 is before"):
        s.decide(5, 0.0)
    with pytest.raises(ValueError, match="first='none'"):
        FixedAlternation(period=10, first="none")


def test_morphology_samples_stay_in_the_box():
    corners = np.array(np.meshgrid(*zip(LOWS, HIGHS))).reshape(3, -1).T
    pi = MorphologyPolicy(lows=LOWS, highs=HIGHS, seed=0, max_step=2.0, init_std=3.0)
    for start in [*corners, LOWS - 1.0, HIGHS + 1.0]:                       # corners, and designs outside the box
        for _ in range(50):
            m = pi.act(signals(start))
            assert m.shape == (3,) and np.all(m >= LOWS) and np.all(m <= HIGHS)
    m = (LOWS + HIGHS) / 2
    for _ in range(500):                                                    # a long random walk
        m = pi.act(signals(m))
        assert np.all(m >= LOWS) and np.all(m <= HIGHS)
    pi = MorphologyPolicy(lows=LOWS, highs=HIGHS, max_step=0.1)
    m0 = np.array([0.2, 0.0, 100.0])
    step = 2 * (pi.act(signals(m0)) - m0) / (HIGHS - LOWS)                  # Delta u is max_step * tanh(a)
    assert np.all(np.abs(step) < 0.1)
    with pytest.raises(ValueError, match="bounds"):
        MorphologyPolicy(lows=[0.0, 1.0], highs=[1.0, 1.0])


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_reinforce_moves_log_prob_with_the_advantage(sign):
    pi = MorphologyPolicy(lows=LOWS, highs=HIGHS, seed=3, lr=1e-3)
    pi.act(signals())
    u, a = pi.pending
    before = pi.log_prob(u, a).item()
    out = pi.update(sign * 2.0)                                               # baseline 0: advantage = reward
    assert out["updated"] and out["advantage"] == sign * 2.0 and out["loss"] == pytest.approx(-sign * 2.0 * before)
    assert (pi.log_prob(u, a).item() - before) * sign > 0
    pe = EnvironmentPolicy(roughness_max=0.3, rough_step=0.05, seed=3, lr=1e-3)
    pe.act(signals(slope=0.003, r_m=-2.0))
    x, k = pe.pending
    before = pe.log_prob(x, k).item()
    pe.update(sign * 1.0)
    assert (pe.log_prob(x, k).item() - before) * sign > 0
    with pytest.raises(RuntimeError, match="pending"):
        pe.update(1.0)


def test_baseline_is_a_running_mean_and_invalid_rewards_skip():
    pi = MorphologyPolicy(lows=LOWS, highs=HIGHS, baseline_rate=0.1)
    for r in (1.0, 3.0):
        pi.act(signals())
        pi.update(r)
    assert pi.baseline == pytest.approx(2.0)                                  # 1, then 1 + max(1/2, 0.1) * (3 - 1)
    pi.act(signals())
    w = pi.weight.detach().clone()
    assert pi.update(MISSING) == {"updated": False} and pi.pending is None and torch.equal(pi.weight, w)
    assert pi.baseline == pytest.approx(2.0) and pi.n_updates == 2
    ema = MorphologyPolicy(lows=LOWS, highs=HIGHS, baseline_rate=0.6)
    for r in (1.0, 3.0):
        ema.act(signals())
        ema.update(r)
    assert ema.baseline == pytest.approx(1.0 + 0.6 * 2.0)


def test_environment_policy_keeps_roughness_in_range():
    pe = EnvironmentPolicy(roughness_max=0.3, rough_step=0.07, seed=0)
    rho, seen = 0.0, set()
    for i in range(400):
        rho = pe.act(signals(roughness=rho, slope=float(np.sin(i)), r_m=float(np.cos(i))))
        seen.add(pe.last_action)
        assert 0.0 <= rho <= 0.3
        pe.update(float(np.sin(3 * i)))
    assert seen == set(ENV_ACTIONS)
    assert (pe.apply(0.0, 0), pe.apply(0.3, 2), pe.apply(0.1, 1)) == (0.0, 0.3, 0.1)
    assert pe.apply(0.1, 2) == pytest.approx(0.17) and pe.apply(0.1, 0) == pytest.approx(0.03)


def test_seeded_reproducible_and_no_global_rng_use():
    def trace(seed):
        pi = MorphologyPolicy(lows=LOWS, highs=HIGHS, seed=seed)
        pe = EnvironmentPolicy(roughness_max=0.3, rough_step=0.05, seed=seed)
        out, m, rho = [], np.array([0.2, 0.0, 100.0]), 0.1
        for i in range(20):
            m, rho = pi.act(signals(m, rho)), pe.act(signals(m, rho))
            pi.update(float(i % 3))
            pe.update(float(i % 2))
            out.append(np.r_[m, rho])
        return np.array(out), UniformRoughness(roughness_max=0.3, seed=seed).sample(5)
    torch.manual_seed(123)
    np.random.seed(123)
    t_state, n_state = torch.get_rng_state(), np.random.get_state()[1].copy()
    a, b, c = trace(7), trace(7), trace(8)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not np.allclose(a[0], c[0]) and not np.allclose(a[1], c[1])
    assert torch.equal(torch.get_rng_state(), t_state) and np.array_equal(np.random.get_state()[1], n_state)


def test_stand_ins():
    s = signals((0.3, 0.1, 300.0), roughness=0.2)
    noop = make_morph_policy("noop", lows=LOWS, highs=HIGHS)
    assert np.array_equal(noop.act(s), s.design) and noop.update(1.0) == {"updated": False}
    assert make_env_policy("noop", roughness_max=0.3, rough_step=0.05).act(s) == 0.2
    assert isinstance(make_env_policy("noop", roughness_max=0.3, rough_step=0.05), NoOpEnvironment)
    assert isinstance(noop, NoOpMorphology)
    rnd, learned = RandomMorphology(lows=LOWS, highs=HIGHS, seed=5), MorphologyPolicy(lows=LOWS, highs=HIGHS, seed=5)
    assert np.array_equal(rnd.act(s), learned.act(s))                        # pi_m's initial distribution
    before = [p.detach().clone() for p in rnd.parameters()]
    rnd.update(10.0)
    assert all(torch.equal(p, q) for p, q in zip(rnd.parameters(), before)) and rnd.pending is None
    re = make_env_policy("random", roughness_max=0.3, rough_step=0.05, seed=1)
    assert isinstance(re, RandomEnvironment) and torch.allclose(re.probs(re.features(s)), torch.full((3,), 1 / 3))
    re.act(s)
    assert re.update(5.0) == {"updated": False} and float(re.bias.detach().abs().sum()) == 0.0
    uni = make_env_policy("uniform", roughness_max=0.3, rough_step=0.05, seed=2)
    draws = uni.sample(2000)
    assert isinstance(uni, UniformRoughness) and draws.min() >= 0 and draws.max() <= 0.3 and draws.std() > 0.08
    assert UniformRoughness(roughness_max=0.3, seed=2).act(s) == UniformRoughness(roughness_max=0.3, seed=2).act()
    with pytest.raises(ValueError, match=r"morph_policy='cmaes'.*\['learned', 'noop', 'random'\]"):
        make_morph_policy("cmaes", lows=LOWS, highs=HIGHS)
    with pytest.raises(ValueError, match="env_policy='poet'"):
        make_env_policy("poet", roughness_max=0.3, rough_step=0.05)


def test_inputs_contract_training_only():
    names = [f.name for f in dataclasses.fields(LearningSignals)]
    assert names == ["step", "design", "roughness", "train_return", "return_slope", "last_r_m"]
    assert not [n for n in names if any(w in n.lower() for w in FORBIDDEN)]
    with pytest.raises(TypeError):
        LearningSignals(step=0, design=np.zeros(3), roughness=0.0, train_return=0.0, return_slope=0.0,
                        last_r_m=0.0, heldout_return=1.0)
    fake = SimpleNamespace(**{n: getattr(signals(), n) for n in names}, test_return=9.0)
    sub = type("Sub", (LearningSignals,), {})
    policies = [MorphologyPolicy(lows=LOWS, highs=HIGHS), EnvironmentPolicy(roughness_max=0.3, rough_step=0.05),
                NoOpMorphology(lows=LOWS, highs=HIGHS), NoOpEnvironment(roughness_max=0.3),
                RandomMorphology(lows=LOWS, highs=HIGHS), RandomEnvironment(roughness_max=0.3, rough_step=0.05),
                UniformRoughness(roughness_max=0.3)]
    for p in policies:
        assert inspect.signature(p.act).parameters["signals"].annotation.startswith("LearningSignals")
        for bad in (fake, dataclasses.asdict(signals()), {"eval_return": 1.0}, sub(**dataclasses.asdict(signals()))):
            with pytest.raises(TypeError, match="LearningSignals"):
                p.act(bad)
    with pytest.raises(ValueError, match="train_return"):
        LearningSignals(step=0, design=np.zeros(3), roughness=0.0, train_return=math.inf, return_slope=0.0,
                        last_r_m=0.0)
    d = np.array([0.2, 0.0, 100.0])
    s = signals(d)
    d[0] = 9.0                                                               # the signals hold a private copy
    assert s.design[0] == 0.2 and not s.design.flags.writeable


def test_policies_are_float32_under_bf16_autocast():
    def run(autocast):
        pi = MorphologyPolicy(lows=LOWS, highs=HIGHS, seed=4, lr=0.05)
        pe = EnvironmentPolicy(roughness_max=0.3, rough_step=0.05, seed=4, lr=0.05)
        out = []
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            for i in range(5):
                m, rho = pi.act(signals(slope=0.01 * i, r_m=0.3 * i)), pe.act(signals(slope=0.01 * i, r_m=0.3 * i))
                lp = pi.log_prob(*pi.pending), pe.log_prob(*pe.pending), pe.probs(pe.pending[0])
                assert all(t.dtype == torch.float32 for t in lp)
                u, a = (t.double() for t in pi.pending)                           # float64 reference
                std = pi.log_std.detach().double().clamp(min=pi.min_log_std).exp()
                mean = u @ pi.weight.detach().double().T + pi.bias.detach().double()
                ref = torch.distributions.Normal(mean, std).log_prob(a).sum()
                assert abs(lp[0].item() - ref.item()) < 1e-5
                pi.update(1.0 - i)
                pe.update(0.5 * i)
                out += [m, np.array([rho]), *[t.detach().numpy() for t in lp]]
        assert all(p.dtype == torch.float32 for p in [*pi.parameters(), *pe.parameters()])
        return out
    # float32 by design: the same numbers bit for bit with and without the caller's bf16 autocast
    for a, b in zip(run(False), run(True)):
        np.testing.assert_array_equal(a, b)


def toy_loop(pi_m, pi_e, *, seed=0, iters=240, curriculum=True):
    """A toy co-evolution loop showing the wiring: 4 training episodes of 25 steps per check point; the return
    grows with practice, falls with roughness and peaks at a design; r_m is scored at the next morphology change,
    r_e at the next environment change."""
    rng = np.random.default_rng(seed)
    log, hist = ReturnLog(), RewardHistory()
    sched = make_scheduler("plateau", window=5, epsilon=0.002, morph_period=500, min_gap=1000)
    m, rho, step, skill, last_r_m = (LOWS + HIGHS) / 2, 0.0, 0, 0.0, 0.0
    t_m = t_e = None
    rets, designs, rough = [], [], []
    for _ in range(iters):
        skill += 0.05 * (10.0 - skill)
        quality = 1.0 - np.mean(((m - LOWS) / (HIGHS - LOWS) - 0.7) ** 2)
        ret = skill * quality - 10.0 * rho + rng.normal(0, 0.1, 4)
        step += 100
        log.append(step - 75 + 25 * np.arange(4), np.full(4, env_key(rho, rough_step=0.05)), ret)
        rets.append(ret)
        if not curriculum:
            continue
        kind = sched.decide(step, float(ret.mean()))
        sig = LearningSignals(step=step, design=m, roughness=rho, train_return=float(ret.mean()),
                              return_slope=sched.slope, last_r_m=last_r_m)
        if kind == "morph":
            if t_m is not None:
                r_m = morphology_reward(log, t_m, window=300, n_envs=2)
                hist.append(t_m, r_m)
                pi_m.update(r_m)
                last_r_m = r_m.value if r_m.valid else last_r_m
            m, t_m = pi_m.act(sig), step
        elif kind == "env":
            if t_e is not None:
                pi_e.update(environment_reward(hist, t_e, window=1000))
            rho, t_e = pi_e.act(sig), step
        designs.append(m)
        rough.append(rho)
    return np.array(rets), np.array(designs), np.array(rough), hist, sched.schedule


def test_a_toy_co_evolution_loop_wires_together():
    pi_m = MorphologyPolicy(lows=LOWS, highs=HIGHS, seed=0)
    pi_e = EnvironmentPolicy(roughness_max=0.3, rough_step=0.05, seed=0, slope_scale=0.002)
    rets, designs, rough, hist, sched = toy_loop(pi_m, pi_e)
    assert np.all(designs >= LOWS) and np.all(designs <= HIGHS) and np.all((rough >= 0) & (rough <= 0.3))
    assert len(sched.steps_of("morph")) >= 10 and len(sched.steps_of("env")) >= 2
    assert hist.valid.mean() > 0.8 and pi_m.n_updates >= 10 and pi_e.n_updates >= 1
    # the reduction test in miniature: no-op policies == training without any curriculum, identical returns
    fixed = toy_loop(NoOpMorphology(lows=LOWS, highs=HIGHS), NoOpEnvironment(roughness_max=0.3))
    np.testing.assert_array_equal(fixed[0], toy_loop(None, None, curriculum=False)[0])
    assert np.all(fixed[1] == (LOWS + HIGHS) / 2) and np.all(fixed[2] == 0.0)
