"""MECE robots, terrain and environment (papers/mece.md Sec. 6-7): MJCF over the bounds box, heightfield terrain,
disjoint train/test seeds, observation layout, reward and termination, lockstep batch == envs alone, evaluate."""
import time

import mujoco
import numpy as np
import pytest

from replib.mece import morphology as mo
from replib.mece.env import MorphEnv, MorphEnvBatch, evaluate
from replib.rl.envs import EnvBatch

LO = np.array([mo.BOUNDS[f][0] for f in mo.FIELDS])
HI = np.array([mo.BOUNDS[f][1] for f in mo.FIELDS])


def _morphs(n_corners=64, n_interior=64, seed=0):
    rng = np.random.default_rng(seed)
    corners = [LO, HI] + [np.where(rng.random(len(LO)) < 0.5, LO, HI) for _ in range(n_corners - 2)]
    interior = [rng.uniform(LO, HI) for _ in range(n_interior)]
    return [mo.from_vector(v) for v in corners + interior], rng


def test_default_is_gym_hopper_inside_bounds():
    """DEFAULT compiles to gym Hopper-v5's bodies: same masses, inertias, geom and joint positions, ranges, gears."""
    gym = pytest.importorskip("gymnasium")
    from pathlib import Path
    ref = mujoco.MjModel.from_xml_path(str(Path(gym.__file__).parent / "envs/mujoco/assets/hopper.xml"))
    ours = mo.build_model(mo.DEFAULT, 0.0, 0)
    assert mo.check(mo.DEFAULT) == mo.DEFAULT and np.all((LO <= mo.to_vector(mo.DEFAULT)) &
                                                         (mo.to_vector(mo.DEFAULT) <= HI))
    np.testing.assert_allclose(ours.body_mass, ref.body_mass, rtol=1e-9)
    np.testing.assert_allclose(ours.body_inertia, ref.body_inertia, rtol=1e-9)
    np.testing.assert_allclose(ours.qpos0, ref.qpos0)
    np.testing.assert_allclose(ours.jnt_range, ref.jnt_range)
    np.testing.assert_allclose(ours.actuator_gear, ref.actuator_gear)
    np.testing.assert_allclose(ours.actuator_ctrlrange, ref.actuator_ctrlrange)
    d_ours, d_ref = mujoco.MjData(ours), mujoco.MjData(ref)
    mujoco.mj_forward(ours, d_ours), mujoco.mj_forward(ref, d_ref)
    np.testing.assert_allclose(d_ours.geom_xpos[1:], d_ref.geom_xpos[1:], atol=1e-12)   # geom 0: floor
    np.testing.assert_allclose(d_ours.xanchor[2:], d_ref.xanchor[2:], atol=1e-12)   # hinges (a slide's anchor is moot)
    assert ours.opt.timestep == ref.opt.timestep and ours.opt.integrator == ref.opt.integrator
    assert mo.start_height(mo.DEFAULT) == pytest.approx(1.25)


def test_flat_default_tracks_gym_hopper():
    """On flat ground the DEFAULT robot follows gym Hopper-v5 (plane floor) from the same state and actions; the
    heightfield's contacts differ a little from the plane's (measured: <= 2 cm apart over 100 steps)."""
    gym = pytest.importorskip("gymnasium")
    from pathlib import Path
    ref = mujoco.MjModel.from_xml_path(str(Path(gym.__file__).parent / "envs/mujoco/assets/hopper.xml"))
    d = mujoco.MjData(ref)
    env = MorphEnv(mo.DEFAULT, 0.0, 0)
    env.reset()
    d.qpos[:], d.qvel[:] = env.data.qpos, env.data.qvel
    rng = np.random.default_rng(0)
    for _ in range(100):
        a = 0.5 * rng.uniform(-1, 1, 3)
        d.ctrl[:] = a
        mujoco.mj_step(ref, d, 4)
        assert not env.step(a)[3]
    assert np.abs(d.qpos - env.data.qpos).max() < 0.05


def test_bounds_box_compiles_and_steps_without_nan():
    morphs, rng = _morphs()
    for m in morphs:
        env = MorphEnv(m, float(rng.uniform(0, 0.3)), int(rng.integers(1000)))
        obs = env.reset()
        for _ in range(50):
            obs, r, _, last = env.step(rng.uniform(-1, 1, 3))
            assert np.isfinite(obs).all() and np.isfinite(r)
            if last:
                obs = env.reset()
        assert np.isfinite(env.data.qpos).all() and np.isfinite(env.data.qvel).all()


def test_out_of_bounds_missing_and_unknown_fields_raise():
    for f in mo.FIELDS:
        lo, hi = mo.BOUNDS[f]
        for bad in (lo - 1e-3, hi + 1e-3, float("nan")):
            with pytest.raises(ValueError, match=rf"{f} = .*bounds \[{lo}, {hi}\]"):
                mo.build_model({**mo.DEFAULT, f: bad}, 0.0, 0)
    with pytest.raises(ValueError, match="missing \\['leg_len'\\]"):
        mo.build_model({k: v for k, v in mo.DEFAULT.items() if k != "leg_len"}, 0.0, 0)
    with pytest.raises(ValueError, match="unknown \\['tail_len'\\]"):
        mo.build_model({**mo.DEFAULT, "tail_len": 0.3}, 0.0, 0)
    for bad in (-0.1, mo.MAX_ROUGHNESS + 0.1, float("inf"), None):
        with pytest.raises(ValueError, match="roughness"):
            mo.build_model(mo.DEFAULT, bad, 0)
    with pytest.raises(ValueError, match="frame_skip"):
        MorphEnv(mo.DEFAULT, 0.0, 0, frame_skip=0)


def test_clip_normalise_and_vectors():
    rng = np.random.default_rng(1)
    for _ in range(20):
        v = rng.uniform(LO - (HI - LO), HI + (HI - LO))
        c = mo.to_vector(mo.clip(mo.from_vector(v)))
        assert np.all((LO <= c) & (c <= HI))
        inside = (LO <= v) & (v <= HI)
        np.testing.assert_array_equal(c[inside], v[inside])
        np.testing.assert_array_equal(c[~inside], np.where(v < LO, LO, HI)[~inside])
        mo.check(mo.from_vector(c))                                    # clipped values always build
    np.testing.assert_allclose(mo.normalise(mo.from_vector(LO)), -1.0)
    np.testing.assert_allclose(mo.normalise(mo.from_vector(HI)), 1.0)
    np.testing.assert_allclose(mo.normalise(mo.from_vector((LO + HI) / 2)), 0.0, atol=1e-12)
    assert mo.from_vector(mo.to_vector(mo.DEFAULT)) == mo.DEFAULT
    with pytest.raises(ValueError, match="shape"):
        mo.from_vector(np.zeros(3))


def test_terrain_flat_deterministic_and_scaled():
    for seed in (0, 7, mo.terrain_seed("test", 3)):
        h0 = mo.terrain_heights(0.0, seed)
        assert h0.shape == mo.TERRAIN_X.shape and np.all(h0 == h0[0])
        model = mo.build_model(mo.DEFAULT, 0.0, seed)
        assert np.all(model.hfield_data == model.hfield_data[0])
    a, b, c = mo.terrain_heights(0.2, 5), mo.terrain_heights(0.2, 5), mo.terrain_heights(0.2, 6)
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - c).max() > 0.05
    assert np.abs(a).max() == pytest.approx(0.2)                         # roughness = peak |height| in metres
    np.testing.assert_allclose(mo.terrain_heights(0.1, 5), a / 2)
    assert np.all(a[mo.TERRAIN_X <= mo.FLAT_UNTIL] == 0.0)               # flat start zone under the torso
    assert np.abs(np.diff(a)).max() < 0.2 * 0.1 * 2 * np.pi              # smooth: slope bounded (dx = 0.1 m)


def test_mujoco_surface_equals_terrain_heights():
    """A ray cast down onto the compiled heightfield hits ground_height(x) (float32 hfield data)."""
    model = mo.build_model(mo.DEFAULT, 0.25, 11)
    data = mujoco.MjData(model)
    mujoco.mj_forward(model, data)
    h = mo.terrain_heights(0.25, 11)
    floor = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_GEOM, "floor")
    geom = np.zeros(1, np.int32)
    for x in np.random.default_rng(0).uniform(mo.TERRAIN_X[0] + 0.1, mo.TERRAIN_X[-1] - 0.1, 40):
        dist = mujoco.mj_ray(model, data, np.array([x, 0.0, 5.0]), np.array([0.0, 0.0, -1.0]), None, 1, 1, geom)
        assert geom[0] == floor
        assert 5.0 - dist == pytest.approx(float(mo.ground_height(h, x)), abs=1e-5)


def test_train_and_test_terrain_seeds_are_disjoint():
    idx = [0, 1, 2, 999, 12345, mo.SEEDS_PER_SPLIT - 1]
    train, test = {mo.terrain_seed("train", i) for i in idx}, {mo.terrain_seed("test", i) for i in idx}
    assert not train & test and len(train) == len(test) == len(idx)
    assert max(train) < mo.TEST_SEED_BASE <= min(test)
    for bad in (-1, mo.SEEDS_PER_SPLIT, 1.5):
        with pytest.raises(ValueError, match="terrain index"):
            mo.terrain_seed("train", bad)
    with pytest.raises(ValueError, match="split"):
        mo.terrain_seed("val", 0)


def test_observation_layout():
    morph = {**mo.DEFAULT, "leg_len": 0.6, "foot_gear": 120.0}
    flat, rough = MorphEnv(morph, 0.0, 3, n_ahead=7), MorphEnv(morph, 0.3, 3, n_ahead=7, ahead_dx=0.3)
    n_m = len(mo.FIELDS)
    assert flat.obs_dim == 11 + n_m + 7 and flat.act_dim == 3
    assert MorphEnv(mo.DEFAULT, 0.0, 0).obs_dim == 32
    rng = np.random.default_rng(0)
    for env in (flat, rough):
        obs = env.reset()
        for _ in range(60):                       # moves the torso over the bumps
            obs, _, _, last = env.step(rng.uniform(-1, 1, 3))
            if last:
                break
        assert obs.dtype == np.float32 and obs.shape == (env.obs_dim,)
        qpos, qvel = env.data.qpos, env.data.qvel
        g = mo.ground_height(env.heights, qpos[0])
        np.testing.assert_allclose(obs[0], qpos[1] - g, rtol=1e-6)
        np.testing.assert_allclose(obs[1:5], qpos[2:], rtol=1e-6)
        np.testing.assert_allclose(obs[5:11], np.clip(qvel, -10, 10), rtol=1e-6)
        np.testing.assert_array_equal(obs[11:11 + n_m], mo.normalise(morph).astype(np.float32))
        ahead = mo.ground_height(env.heights, qpos[0] + env.ahead) - g
        np.testing.assert_allclose(obs[11 + n_m:], ahead, atol=1e-6)
    flat.reset(), rough.reset()
    assert np.all(flat.observe()[11 + n_m:] == 0.0)              # flat ground: the terrain slice is constant 0
    assert np.abs(rough.observe()[11 + n_m:]).max() > 0.01       # 0.3 .. 2.1 m ahead reaches past the flat zone


def test_reward_is_forward_velocity_plus_alive_minus_ctrl_cost():
    env = MorphEnv(mo.DEFAULT, 0.1, 2)
    env.reset()
    for a in (np.array([0.5, -1.0, 0.25]), np.array([2.0, 0.0, -3.0])):        # the second is clipped
        x0 = env.data.qpos[0]
        _, r, _, _ = env.step(a)
        ac = np.clip(a, -1, 1)
        np.testing.assert_array_equal(env.data.ctrl, ac)
        assert env.dt == pytest.approx(0.008)
        assert r == pytest.approx((env.data.qpos[0] - x0) / env.dt + 1.0 - 1e-3 * ac @ ac, rel=1e-12)


def test_termination_and_time_limit():
    env = MorphEnv(mo.DEFAULT, 0.0, 0)
    env.reset()
    last = False
    while not last:                                # with no torque the hopper topples
        _, _, terminal, last = env.step(np.zeros(3))
    assert terminal and env.steps < env.max_steps
    with pytest.raises(RuntimeError, match="reset"):
        env.step(np.zeros(3))
    env.reset()
    env.data.qpos[2] = np.radians(25.0)            # pushed past max_ang = 20 deg
    assert env.step(np.zeros(3))[2]
    env.reset()
    env.data.qpos[2] = np.radians(15.0)
    assert not env.step(np.zeros(3))[2]            # 15 deg is healthy (gym's 0.2 rad would not be)
    for arr, k in (("qpos", 0), ("qpos", 1), ("qvel", 4)):
        env.reset()
        getattr(env.data, arr)[k] = np.nan
        assert not env.healthy()                   # a NaN anywhere is unhealthy
    short = MorphEnv(mo.DEFAULT, 0.0, 0, max_steps=5)
    short.reset()
    out = [short.step(np.zeros(3)) for _ in range(5)]
    assert [o[3] for o in out] == [False] * 4 + [True] and not any(o[2] for o in out)
    # the healthy height range is relative to the ground under the torso and scales with the start height
    small = MorphEnv(mo.from_vector(LO), 0.0, 0)
    assert small.height_range == pytest.approx((0.7 * mo.start_height(small.morph) / 1.25,
                                                2.0 * mo.start_height(small.morph) / 1.25))
    small.reset()
    small.data.qpos[1] = 0.5 * (small.height_range[0] + small.height_range[1])
    assert small.healthy()


def _designs(S):
    morphs, rng = _morphs(2, S, seed=4)
    return morphs[2:2 + S], [0.0] + [0.15] * (S - 1), [mo.terrain_seed("train", i) for i in range(S)]


@pytest.mark.parametrize("threads", [1, 2])
def test_batch_equals_envs_stepped_alone(threads):
    morphs, rough, seeds = _designs(3)
    batch = MorphEnvBatch.make(morphs, rough, seeds, threads=threads, max_steps=40)
    alone = [MorphEnv(m, r, s, max_steps=40) for m, r, s in zip(morphs, rough, seeds)]
    obs_alone = np.stack([e.reset() for e in alone])
    np.testing.assert_array_equal(batch.obs, obs_alone)
    acts = np.random.default_rng(3).uniform(-1, 1, (120, 3, 3))
    n_done = 0
    for a in acts:
        obs, next_obs, rew, term, finished = batch.step(a)
        np.testing.assert_array_equal(obs, obs_alone)
        for i, e in enumerate(alone):
            o, r, t, last = e.step(a[i])
            assert np.array_equal(next_obs[i], o) and rew[i] == r and term[i] == t and (i in finished) == last
            obs_alone[i] = e.reset() if last else o
            n_done += last
    assert n_done >= 3                              # auto-resets happened (terminations and the 40-step limit)
    assert batch.sim_seconds > 0
    batch.close()


def test_set_design_rebuilds_the_model_and_keeps_obs_dim():
    env = MorphEnv(mo.DEFAULT, 0.0, 0)
    foot = mujoco.mj_name2id(env.model, mujoco.mjtObj.mjOBJ_BODY, "foot")
    leg_geom = mujoco.mj_name2id(env.model, mujoco.mjtObj.mjOBJ_GEOM, "leg_geom")
    old_model, dim = env.model, env.obs_dim
    env.set_design({**mo.DEFAULT, "leg_len": 0.7, "leg_r": 0.07})
    assert env.model is not old_model and env.obs_dim == dim
    assert env.model.body_pos[foot][2] == pytest.approx(-0.7) and old_model.body_pos[foot][2] == pytest.approx(-0.5)
    assert env.model.geom_size[leg_geom][:2] == pytest.approx([0.07, 0.35])
    with pytest.raises(RuntimeError, match="reset"):
        env.step(np.zeros(3))
    assert env.reset()[11 + mo.FIELDS.index("leg_len")] == pytest.approx(mo.normalise(env.morph)[2])
    env.set_design(roughness=0.2, seed=9)
    np.testing.assert_array_equal(env.heights, mo.terrain_heights(0.2, 9))
    batch = MorphEnvBatch.make([mo.DEFAULT] * 2, [0.0, 0.0], [0, 1])
    batch.step(np.zeros((2, 3)))
    batch.set_design(1, morph={**mo.DEFAULT, "thigh_len": 0.3})
    assert batch.envs[1].morph["thigh_len"] == 0.3 and batch.episode_steps[1] == 0 and batch.episode_steps[0] == 1
    np.testing.assert_array_equal(batch.obs[1][11:22], mo.normalise(batch.envs[1].morph).astype(np.float32))


def test_rebuild_and_compile_is_fast():
    env = MorphEnv(mo.DEFAULT, 0.0, 0)
    morphs, rng = _morphs(2, 20, seed=8)
    times = []
    for m in morphs:
        t0 = time.perf_counter()
        env.set_design(m, float(rng.uniform(0, 0.3)), int(rng.integers(100)))
        times.append(time.perf_counter() - t0)
    assert np.median(times) < 0.2                  # loose bound (spec target 50 ms; ~1 ms measured)


def test_envbatch_of_prebuilt_envs():
    envs = [MorphEnv(mo.DEFAULT, 0.0, s) for s in (0, 1)]
    batch = EnvBatch.of(envs)
    assert type(batch) is EnvBatch and batch.envs == envs and batch.obs.shape == (2, envs[0].obs_dim)
    batch.step(np.zeros((2, 3)))
    morph_batch = MorphEnvBatch.of(envs, threads=2)
    assert morph_batch.threads == 2 and morph_batch.step(np.zeros((2, 3)))[1].shape == (2, envs[0].obs_dim)
    morph_batch.close()
    with pytest.raises(ValueError, match="share obs_dim"):
        EnvBatch.of([MorphEnv(mo.DEFAULT, 0.0, 0), MorphEnv(mo.DEFAULT, 0.0, 0, n_ahead=3)])


@pytest.mark.parametrize("threads", [1, 2])
def test_evaluate_equals_stepping_alone(threads):
    morphs, rough, seeds = _designs(2)
    w = np.random.default_rng(5).normal(0, 0.3, (32, 3))

    def act_fn(obs):                                # row by row (a BLAS matmul may round by batch size)
        return np.tanh((obs[:, :, None] * w[None]).sum(1))

    batch = MorphEnvBatch.make(morphs, rough, seeds, threads=threads, max_steps=300)
    returns = evaluate(act_fn, batch, max_steps=200)
    for i, (m, r, s) in enumerate(zip(morphs, rough, seeds)):
        env = MorphEnv(m, r, s, max_steps=300)
        env.reset()                                 # the batch's constructor drew its first episode's noise
        obs, total = env.reset(), 0.0
        for _ in range(200):
            obs, rew, _, last = env.step(act_fn(obs[None])[0])
            total += rew
            if last:
                break
        assert returns[i] == total
    assert batch.obs.shape == (2, 32) and np.all(batch.episode_steps == 0)   # the batch restarted afterwards
    with pytest.raises(ValueError, match="act_fn must return shape"):
        evaluate(lambda o: np.zeros((2, 2)), batch, 5)


def test_evaluate_masks_finished_copies():
    """Copies whose episodes end early (4 and 10 steps) collect nothing afterwards; the loop stops when all end."""
    envs = [MorphEnv(mo.DEFAULT, 0.0, 0, max_steps=4), MorphEnv(mo.DEFAULT, 0.0, 1, max_steps=10)]
    calls = []
    returns = evaluate(lambda o: calls.append(1) or np.zeros((2, 3)), MorphEnvBatch(envs), max_steps=100)
    assert len(calls) == 10
    for e, n, got in zip([MorphEnv(mo.DEFAULT, 0.0, s) for s in (0, 1)], (4, 10), returns):
        e.reset(), e.reset()
        assert got == sum(e.step(np.zeros(3))[1] for _ in range(n))

