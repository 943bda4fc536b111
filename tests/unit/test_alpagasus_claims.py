"""AlpaGasus claims from synthetic raw results through the results.json round trip: each measured claim comes out
reproduced, inconclusive and not reproduced in turn; exact claims reproduced; nothing measured is judged at smoke."""
import numpy as np
import pandas as pd

from replib.alpagasus import experiment as ex
from replib.alpagasus.config import get_config
from replib.claims import rebuild

CFG = get_config("quick", n_boot=300)


def _pool(effect, n=400, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.random(n) < 0.1
    signal = {"good": 2.0, "null": 0.0, "bad": -2.0}[effect]
    lp = np.clip(3 + signal * y + rng.normal(0, 0.5, n), 0, 5)
    gen = np.round(lp * 2) / 2
    parsed = rng.random(n) < {"good": 0.99, "null": 0.9, "bad": 0.5}[effect]
    gen[~parsed] = np.nan
    return pd.DataFrame({"score": gen, "gen_score": gen, "lp_score": lp, "faithful_score": gen, "parsed": parsed,
                         "digit_mass": np.ones(n), "in_claude": y})


def _corruption(effect, n=120, seed=0):
    rng = np.random.default_rng(seed)
    bad = np.arange(n) % 2 == 1
    signal = {"good": -3.0, "null": 0.0, "bad": 3.0}[effect]
    lp = np.clip(4 + signal * bad + rng.normal(0, 0.6, n), 0, 5)
    oracle = np.where(bad, 2.0, 5.0) if effect != "bad" else np.where(bad, 5.0, 2.0)
    return pd.DataFrame({"kind": np.where(bad, "wrong", ""), "corrupted": bad, "score": lp, "gen_score": lp,
                         "lp_score": lp, "parsed": True, "oracle_score": oracle})


def _students(effect, seeds=(0, 1, 2)):
    rng = np.random.default_rng(0)
    delta = {"good": 0.1, "null": 0.0, "bad": -0.1}[effect]
    noise = 0.002 if effect != "null" else 0.05
    ratio = {"good": 5.3, "null": 5.3, "bad": 2.0}[effect]
    rows = []
    for s in seeds:
        for arm, loss, n, sec in (("filtered", 1.8, 17, 10.0), ("random", 1.8 + delta, 17, 10.0),
                                  ("full", 1.8 + delta, 96, 10.0 * ratio * 17 / 96 * 96 / 17 / 5.3 * 5.647)):
            rows.append({"arm": arm, "seed": s, "n_train": n, "heldout_loss": loss + rng.normal(0, noise),
                         "train_seconds": sec, "steps": n // 4, "train_tokens": 100 * n, "final_train_loss": 1.0})
    return pd.DataFrame(rows)


def _results(effect):
    return dict(pool=_pool(effect), corruption=_corruption(effect), students=_students(effect),
                bias=ex.position_bias(CFG), fig5=ex.fig5_frame())


def _verdicts(effect, profile="quick"):
    return {c.id: c.verdict for c in rebuild("alpagasus", profile, CFG, _results(effect))}


MEASURED = ("parse_rate", "agrees_with_claude", "detects_corruption", "filtered_beats_random", "filtered_beats_full",
            "training_time_ratio")


def test_exact_claims_reproduced():
    v = _verdicts("good")
    assert v["histogram_arithmetic"] == v["fig5_winning_scores"] == v["two_order_cancels_bias"] == "reproduced"


def test_good_results_reproduce():
    v = _verdicts("good")
    assert all(v[k] == "reproduced" for k in MEASURED), v


def test_null_results_are_inconclusive():
    v = _verdicts("null")
    for k in ("agrees_with_claude", "filtered_beats_random", "filtered_beats_full"):
        assert v[k] == "inconclusive", (k, v[k])
    assert v["parse_rate"] == "not reproduced"     # 10 % failures


def test_bad_results_not_reproduced():
    v = _verdicts("bad")
    for k in MEASURED:
        assert v[k] == "not reproduced", (k, v[k])


def test_smoke_never_judges_measured_claims():
    v = _verdicts("good", "smoke")
    assert all(v[k] == "not tested at this profile" for k in MEASURED)
    assert v["histogram_arithmetic"] == "reproduced"


def test_fig5_off_by_one_is_not_reproduced():
    r = _results("good")
    r["fig5"].loc[0, "W"] += 1
    r["fig5"]["derived"] = (r["fig5"]["W"] - r["fig5"]["L"]) / r["fig5"][["W", "T", "L"]].sum(1) + 1
    claims = {c.id: c for c in rebuild("alpagasus", "quick", CFG, r)}
    assert claims["fig5_winning_scores"].verdict == "partly"


def test_missing_results_are_not_measured():
    claims = rebuild("alpagasus", "quick", CFG, {})
    assert {c.id for c in claims} >= set(MEASURED)
    assert all(c.verdict == "not tested at this profile" for c in claims if c.kind == "measured")
