"""MECE: config, one run's co-evolution state, the ensemble at smoke (reduction to fixed-morphology training, the
design side blind to held-out returns, bf16), and the claims on synthetic results (reproduced, inconclusive and not
reproduced in turn, through claims.rebuild)."""
import numpy as np
import pandas as pd
import pytest

from replib.claims import rebuild
from replib.mece import experiment
from replib.mece.coevolve import SPECS, RunDesign
from replib.mece.config import METHODS, get_config
from replib.mece.morphology import BOUNDS, DEFAULT, FIELDS, TEST_SEED_BASE


@pytest.mark.parametrize("field,value", [("methods", ("poet",)), ("methods", ("mece",)), ("reward_window", 10 ** 6),
                                         ("roughness_max", 5.0), ("start_steps", 10 ** 6), ("morph_reward", "eq1"),
                                         ("precision", "fp8"), ("test_roughness", ()), ("check_every", 0),
                                         ("min_gap", 100)])
def test_config_rejects_bad_values(field, value):
    with pytest.raises(ValueError):
        get_config("smoke", **{field: value}).validate()


def test_every_method_has_a_spec():
    assert set(METHODS) == set(SPECS)


# --------------------------------------------------------------------------- one run's design side
def feed(design: RunDesign, cfg, steps: int, ret=lambda t: 10.0 + t / 100):
    """One episode per 50 steps with return ret(t); a check point every cfg.check_every; -> the changes."""
    changes = []
    for t in range(50, steps + 1, 50):
        design.episode(t, ret(t))
        if t % cfg.check_every == 0:
            c = design.check(t)
            if c is not None:
                changes.append((t, c))
    return changes


def test_fixed_never_changes_the_design():
    cfg = get_config("quick")
    d = RunDesign("fixed", 0, cfg)
    assert feed(d, cfg, 20_000, ret=lambda t: 50.0) == []               # plateaus and periods, but no-op policies
    assert d.morph == DEFAULT and d.roughness == 0.0
    assert {row["kind"] for row in d.trace} >= {"morph", "env"}


def test_mece_changes_morphology_at_its_period_and_roughness_on_plateaus():
    cfg = get_config("quick")
    d = RunDesign("mece", 0, cfg)
    changes = feed(d, cfg, 20_000, ret=lambda t: 50.0)                   # a flat curve: plateaus everywhere
    morphs = [t for t, c in changes if c["morph"] is not None]
    envs = [(t, c) for t, c in changes if c["roughness"] is not None]
    assert morphs and all(b - a >= cfg.morph_period for a, b in zip(morphs, morphs[1:]))
    assert envs and all(0 <= c["roughness"] <= cfg.roughness_max for _, c in envs)
    assert all(c["seed"] < TEST_SEED_BASE for _, c in envs)             # training terrains only
    for _, c in changes:
        if c["morph"] is not None:
            assert all(BOUNDS[f][0] <= c["morph"][f] <= BOUNDS[f][1] for f in FIELDS)
    assert len(d.history) >= 1 and d.pi_m.n_updates >= 1                 # r_m scored at the next change
    assert d.pi_e.n_updates >= 1                                         # r_e scored at the next environment change


def test_rising_curve_never_queries_pi_e():
    cfg = get_config("quick")
    d = RunDesign("mece", 0, cfg)
    feed(d, cfg, 20_000, ret=lambda t: 10.0 * 1.1 ** (t / cfg.check_every))
    assert "env" not in {row["kind"] for row in d.trace}


# --------------------------------------------------------------------------- the ensemble
@pytest.fixture(scope="module")
def smoke_results():
    cfg = get_config("smoke")
    return cfg, experiment.run(cfg, "cpu", progress=False)


def test_run_at_smoke_frames(smoke_results):
    cfg, res = smoke_results
    runs = len(cfg.methods) * cfg.seeds
    n_evals = 1 + cfg.steps // cfg.eval_every + (cfg.steps % cfg.eval_every != 0)
    assert len(res["heldout"]) == n_evals * runs * len(cfg.test_roughness) * cfg.test_terrains
    assert (res["heldout"].terrain >= TEST_SEED_BASE).all()
    assert set(res["trace"].kind) <= {"none", "morph", "env"} and len(res["episodes"]) > 0
    assert set(res["timing"].columns) >= {"total_s", "sim_s", "eval_s"}
    ids = [c.id for c in rebuild("mece", "quick", cfg, res)]
    assert ids == ["generalises", "roughness_rises"]                   # smoke has no ablation methods


def test_no_op_design_policies_reduce_to_fixed_morphology_training():
    cfg = get_config("smoke", steps=500)
    with_hooks = experiment.train(cfg, [("fixed", 0)], "cpu", progress=False)["out"]
    plain = experiment.train(cfg, [("fixed", 0)], "cpu", progress=False, hooks=False)["out"]
    assert with_hooks["episodes"] == plain["episodes"] and len(plain["episodes"]) > 0
    np.testing.assert_array_equal(with_hooks["eval"]["returns"], plain["eval"]["returns"])


def test_ensemble_member_equals_the_run_alone():
    cfg = get_config("smoke", steps=400)
    together = experiment.train(cfg, [("mece", 0), ("dr", 1)], "cpu", progress=False)
    alone = experiment.train(cfg, [("dr", 1)], "cpu", progress=False)
    mine = [(t, r) for t, i, r in together["out"]["episodes"] if i == 1]
    assert mine == [(t, r) for t, _, r in alone["out"]["episodes"]]


def test_design_side_never_sees_heldout_returns(monkeypatch):
    """pi_m and pi_e observe LearningSignals built from training episodes only: replacing every held-out return by
    a sentinel leaves every design decision, signal and reward unchanged."""
    cfg = get_config("smoke", steps=500)

    def run_with(value):
        monkeypatch.setattr(experiment, "heldout_returns",
                            lambda agent, designs, cfg: np.full((len(designs), len(experiment.test_grid(cfg))), value))
        d = experiment.train(cfg, [("mece", 0)], "cpu", progress=False)["designs"][0]
        return pd.DataFrame(d.trace), d.history.values.copy()

    (a, ra), (b, rb) = run_with(0.0), run_with(1e9)
    pd.testing.assert_frame_equal(a, b)
    np.testing.assert_array_equal(ra, rb)
    assert not np.isin(1e9, a.train_return.to_numpy())


def test_training_under_bf16_autocast():
    cfg = get_config("smoke", steps=400, precision="bf16")
    out = experiment.train(cfg, [("mece", 0)], "cpu", progress=False)["out"]
    assert np.isfinite(out["eval"]["returns"]).all() and out["episodes"]


# --------------------------------------------------------------------------- claims
def synthetic(effect=50.0, noise=5.0, seeds=range(4), rising=True):
    rng = np.random.default_rng(0)
    gain = {"mece": effect, "fixed": 0.0, "morph_flat": 0.0, "dr": 0.0, "no_pi_e": 0.0, "no_pi_m": 0.0,
            "alternation": 0.0}
    held, trace = [], []
    for m, g in gain.items():
        for s in seeds:
            for step in (0, 1000):
                for r in (0.0, 0.1):
                    held.append({"method": m, "seed": s, "step": step, "roughness": r, "terrain": TEST_SEED_BASE,
                                 "return": 100.0 + s + (g if step else 0.0) + noise * rng.standard_normal()})
            for k in range(12):
                trend = 0.01 * k if (rising and m == "mece") else 0.0          # the controls wander without a trend
                rough = 0.05 + trend + 0.02 * rng.standard_normal()
                trace.append({"method": m, "seed": s, "step": 500 * (k + 1), "kind": "none", "train_return": 1.0,
                              "slope": 0.0, "roughness": rough, **DEFAULT})
    return {"heldout": pd.DataFrame(held), "episodes": pd.DataFrame(columns=["method", "seed", "step", "return"]),
            "trace": pd.DataFrame(trace), "timing": pd.DataFrame([{"total_s": 1.0}])}


def verdicts(**kw):
    return {c.id: c.verdict for c in rebuild("mece", "quick", get_config("quick"), synthetic(**kw))}


def test_claims_reproduced_when_mece_helps():
    assert set(verdicts().values()) == {"reproduced"}


def test_claims_not_reproduced_when_mece_hurts():
    v = verdicts(effect=-50.0)
    assert v["generalises"] == "not reproduced" and v["ablations"] == "not reproduced"


def test_claims_inconclusive_when_noise_decides():
    v = verdicts(effect=2.0, noise=30.0, seeds=range(2), rising=False)
    assert v["generalises"] == "inconclusive" and v["roughness_rises"] != "reproduced"
