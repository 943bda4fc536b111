"""MEO claims: verdicts from synthetic per-run frames, through the results.json round trip the notebook uses."""

import numpy as np
import pandas as pd
import pytest

from replib.claims import rebuild
from replib.meo import claims as meo_claims
from replib.meo.config import get_config

TASKS = ("RTE", "MRPC", "SST-2")
SEEDS = (0, 1, 2, 3)


def glue_frame(effect_k1=0.0, effect_all=0.0, noise=0.01, seed=0):
    """MEO rows at k in {1, 2, 4, 8} plus MoE rows at k=4; acc(k=4) = base + effect_k1 vs k=1 and
    base + effect_all vs k=8 (fractions), each with independent noise per (task, seed)."""
    rng = np.random.default_rng(seed)
    rows = []
    for t, task in enumerate(TASKS):
        for s in SEEDS:
            base = 0.6 + 0.05 * t + 0.01 * s                     # task and seed effects cancel in the pairs
            accs = {1: base - effect_k1, 2: base, 4: base, 8: base - effect_all}
            for k, a in accs.items():
                acc = a + rng.normal(0, noise)
                rows.append(dict(task=task, mode="meo", level="sequence", k=k, seed=s, acc=acc,
                                 loss_first=0.7, loss_last=0.5, steps=30, train_s=1.0))
            rows.append(dict(task=task, mode="moe", level="sequence", k=4, seed=s, acc=rows[-2]["acc"],
                             loss_first=0.7, loss_last=0.5, steps=30, train_s=1.0))
    return pd.DataFrame(rows)


def token_frame(effect=0.0, noise=0.01, seed=1):
    rng = np.random.default_rng(seed)
    rows = []
    for t, task in enumerate(TASKS):
        for s in SEEDS:
            base = 0.6 + 0.05 * t
            for mode, a in (("moe", base), ("meo", base + effect)):
                rows.append(dict(task=task, mode=mode, level="token", k=4, seed=s, acc=a + rng.normal(0, noise),
                                 loss_first=0.7, loss_last=0.5, steps=30, train_s=1.0))
    return pd.DataFrame(rows)


def timing_frame(meo_growth=0.0):
    rows = []
    for k in (1, 2, 4, 8):
        rows.append(dict(k=k, mode="moe", seconds=1e-3 * k, us_per_token=2.0 * k))
        rows.append(dict(k=k, mode="meo", seconds=1e-3, us_per_token=2.0 * (1 + meo_growth * (k - 1))))
    return pd.DataFrame(rows)


def claims_of(results, profile="quick", **overrides):
    cfg = get_config("quick", **overrides)
    return {c.id: c for c in rebuild("meo", profile, cfg, results)}


def results(glue=None, token=None, timing=None):
    return {"timing": timing_frame() if timing is None else timing, "glue": glue_frame() if glue is None else glue,
            "token": token_frame() if token is None else token}


def test_claim_ids_and_kinds():
    c = claims_of(results())
    assert list(c) == ["flops_headline", "flops_flat_in_k", "time_flat_in_k", "multi_expert_helps", "token_level",
                       "token_level_flops"]
    assert {i for i, x in c.items() if x.kind == "exact"} == {"flops_headline", "flops_flat_in_k", "token_level_flops"}
    assert "meo_matches_moe" not in c                 # an identity by construction: a unit test, not a claim


@pytest.mark.parametrize("effect, verdict", [(0.05, "reproduced"), (0.0, "inconclusive"), (-0.05, "not reproduced")])
def test_multi_expert_helps_verdicts(effect, verdict):
    c = claims_of(results(glue=glue_frame(effect_k1=effect, effect_all=effect, noise=0.01 if effect else 0.02)))
    claim = c["multi_expert_helps"]
    assert claim.verdict == verdict
    assert "12 pair(s)" in claim.note and "pre-registered k=4" in claim.note


def test_multi_expert_helps_uses_the_pre_registered_k_not_the_best():
    g = glue_frame(effect_k1=0.05, effect_all=0.05, noise=0.005)
    g.loc[(g["mode"] == "meo") & (g.k == 2), "acc"] += 0.2          # a better k=2 must not rescue k=4
    g.loc[(g["mode"] == "meo") & (g.k == 4), "acc"] -= 0.1          # k=4 now loses to both k=1 and k=8
    assert claims_of(results(glue=g))["multi_expert_helps"].verdict == "not reproduced"


def test_multi_expert_helps_partly_when_all_experts_is_as_good():
    c = claims_of(results(glue=glue_frame(effect_k1=0.05, effect_all=0.0, noise=0.01)))
    assert c["multi_expert_helps"].verdict == "partly"


@pytest.mark.parametrize("effect, verdict", [(0.04, "reproduced"), (0.0, "inconclusive"), (-0.04, "not reproduced")])
def test_token_level_verdicts(effect, verdict):
    c = claims_of(results(token=token_frame(effect=effect, noise=0.01 if effect else 0.03)))
    assert c["token_level"].verdict == verdict
    assert c["token_level"].checks[0].ci is not None


def test_time_flat_in_k():
    assert claims_of(results())["time_flat_in_k"].verdict == "reproduced"
    assert claims_of(results(timing=timing_frame(meo_growth=0.2)))["time_flat_in_k"].verdict == "partly"


def test_exact_claims_reproduced_and_fail_when_a_number_is_off(monkeypatch):
    c = claims_of(results())
    for cid in ("flops_headline", "flops_flat_in_k", "token_level_flops"):
        assert c[cid].verdict == "reproduced", cid
    real = meo_claims.flops
    monkeypatch.setattr(meo_claims, "flops", lambda m, k, s, mode: real(m, k, s, mode) * (1.1 if k == 4 else 1.0))
    assert claims_of(results())["flops_headline"].verdict == "not reproduced"
    monkeypatch.setattr(meo_claims, "flops", lambda m, k, s, mode: real(m, k, s, "moe" if mode == "meo" else mode))
    c = claims_of(results())
    assert c["flops_flat_in_k"].verdict == "partly"              # MEO would grow like MoE
    assert c["token_level_flops"].verdict == "not reproduced"


def test_smoke_profile_judges_only_exact_claims():
    c = claims_of(results(glue=glue_frame(effect_k1=0.05, effect_all=0.05)), profile="smoke")
    for claim in c.values():
        want = "reproduced" if claim.kind == "exact" else "not tested at this profile"
        assert claim.verdict == want, claim.id


def test_missing_k_is_not_tested():
    g = glue_frame(effect_k1=0.05)
    c = claims_of(results(glue=g[g.k != 8]))
    assert c["multi_expert_helps"].verdict == "not tested at this profile"
    c = claims_of({"timing": None, "glue": None, "token": None})
    assert all(c[i].verdict == "not tested at this profile" for i in ("time_flat_in_k", "multi_expert_helps",
                                                                       "token_level"))


def test_meo_moe_gap_diagnostic():
    gap = meo_claims.meo_moe_gap(glue_frame())
    assert gap["pairs"] == len(TASKS) * len(SEEDS) and gap["acc_points"] == 0.0 and gap["loss_last"] == 0.0
