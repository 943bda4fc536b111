"""PAD-Net claims: verdicts from synthetic per-run frames, through the results.json round trip the notebook uses."""
import math

import numpy as np
import pandas as pd
import pytest

from replib.claims import rebuild
from replib.padnet import claims as pad_claims
from replib.padnet.config import get_config

CFG = get_config("quick")
SEEDS = (0, 1, 2, 3)
W = 1000                       # |W|: kernel entries of the static network
K = CFG.num_kernels


def counted(kappa, k=K, numel=W):
    """What the tensors of a network with global dynamic ratio kappa hold: K per dynamic entry, 1 per static."""
    n_dyn = numel - math.floor((1 - kappa) * numel + 1e-9)
    return k * n_dyn + (numel - n_dyn)


def image_frame(pad_vs_dyn=0.0, pad_vs_static=0.0, imp_vs_random=0.0, iterative=0.0, lambdas=0.0, noise=0.002,
                alt=0.0, seed=0):
    """Accuracies (fractions) with the given effects of PAD(kappa=0.3) and of the ablations, noise per run;
    `alt` moves the PAD kappa=0.3 runs up on odd seeds and down on even ones (a zero-mean seed effect)."""
    rng = np.random.default_rng(seed)
    rows = []

    def add(ds, group, kind, kappa, s, acc):
        rows.append(dict(dataset=ds, group=group, kind=kind, kappa=float(kappa), seed=s,
                         acc=acc + rng.normal(0, noise), train_s=1.0, dynamic_share=0.0 if kind == "static" else kappa,
                         intrinsic_params=float(counted(kappa) if kind != "static" else W),
                         kernel_numel=0 if kind == "static" else W,
                         counted_params=W if kind == "static" else counted(kappa)))
    for d, ds in enumerate(CFG.datasets):
        for s in SEEDS:
            base = 0.5 + 0.3 * d + 0.01 * s                       # dataset and seed effects cancel in the pairs
            add(ds, "sweep", "static", 0.0, s, base - pad_vs_static)
            for k in CFG.kappas:
                if math.isclose(k, 0.3):
                    acc = base + alt * (1 if s % 2 else -1)
                elif k in CFG.random_kappas:
                    acc = base - 0.01
                else:
                    acc = base + 0.2                              # a better kappa must not rescue kappa = 0.3
                add(ds, "sweep", "pad", k, s, acc)
            add(ds, "sweep", "dynamic", 1.0, s, base - pad_vs_dyn)
    ab = CFG.ablation_dataset
    for s in SEEDS:
        base = 0.5 + 0.3 * list(CFG.datasets).index(ab) + 0.01 * s
        for k in CFG.random_kappas:
            imp = base if math.isclose(k, 0.3) else base - 0.01
            add(ab, "random", "pad", k, s, imp - imp_vs_random)
        add(ab, "one_shot", "pad", CFG.ablation_kappa, s, base - iterative)
        add(ab, "no_lambda", "pad", CFG.ablation_kappa, s, base - lambdas)
    return pd.DataFrame(rows)


def glue_frame(effect=0.0, noise=0.002, alt=0.0, seed=1):
    rng = np.random.default_rng(seed)
    numel = 2 * 384 * 1536
    rows = []
    for s in SEEDS:
        pad = 0.77 + effect + alt * (1 if s % 2 else -1)
        for arm, acc, kappa in (("dense", 0.78, None), ("dynamic", 0.77, 1.0), ("pad", pad, CFG.moe_kappa)):
            c = 0 if kappa is None else counted(kappa, CFG.moe_experts, numel)
            rows.append(dict(task="SST-2", arm=arm, seed=s, acc=acc + rng.normal(0, noise), train_s=1.0,
                             dynamic_share=0.0 if kappa is None else kappa, intrinsic_params=float(c),
                             ffn_numel=numel, counted_params=c))
    return pd.DataFrame(rows)


def claims_of(results, glue="default", profile="quick"):
    res = {"results": results, "glue": glue_frame() if isinstance(glue, str) else glue}
    return {c.id: c for c in rebuild("padnet", profile, CFG, res)}


def test_claim_ids_and_kinds():
    c = claims_of(image_frame())
    assert list(c) == ["pad_matches_dynamic", "param_count_formula", "imp_beats_random", "iterative_beats_one_shot",
                       "scale_factors_help", "pad_moe_glue"]
    assert [i for i, x in c.items() if x.kind == "exact"] == ["param_count_formula"]
    assert all("lambda_d + lambda_s - 2" not in ch.what for x in c.values() for ch in x.checks)


@pytest.mark.parametrize("effect, verdict", [(0.03, "reproduced"), (0.0, "inconclusive"), (-0.03, "not reproduced")])
def test_pad_matches_dynamic_verdicts(effect, verdict):
    c = claims_of(image_frame(pad_vs_dyn=effect, pad_vs_static=effect, alt=0.0 if effect else 0.02))
    assert c["pad_matches_dynamic"].verdict == verdict
    assert "pre-registered kappa=0.3" in c["pad_matches_dynamic"].note


def test_pad_matches_dynamic_partly_when_static_is_as_good():
    """PAD above the fully dynamic network but equal to the static one: the dynamic part did nothing."""
    c = claims_of(image_frame(pad_vs_dyn=0.03, pad_vs_static=-0.03))
    assert c["pad_matches_dynamic"].verdict == "partly"
    assert [ch.outcome() for ch in c["pad_matches_dynamic"].checks] == ["pass", "fail"]


@pytest.mark.parametrize("claim, key", [("imp_beats_random", "imp_vs_random"),
                                        ("iterative_beats_one_shot", "iterative"), ("scale_factors_help", "lambdas")])
@pytest.mark.parametrize("effect, verdict", [(0.03, "reproduced"), (0.0, "inconclusive"), (-0.03, "not reproduced")])
def test_ablation_verdicts(claim, key, effect, verdict):
    c = claims_of(image_frame(**{key: effect}, alt=0.0 if effect else 0.02))
    assert c[claim].verdict == verdict
    assert c[claim].checks[0].ci is not None


def test_imp_vs_random_pairs_over_kappa_and_seed():
    c = claims_of(image_frame(imp_vs_random=0.03))
    n = len(CFG.random_kappas) * len(SEEDS)
    assert f"{n} pair(s)" in c["imp_beats_random"].note


@pytest.mark.parametrize("effect, verdict", [(0.03, "reproduced"), (0.0, "inconclusive"), (-0.03, "not reproduced")])
def test_pad_moe_glue_verdicts(effect, verdict):
    c = claims_of(image_frame(), glue=glue_frame(effect=effect, alt=0.0 if effect else 0.02))
    assert c["pad_moe_glue"].verdict == verdict


def test_param_count_exact_claim():
    c = claims_of(image_frame())
    assert c["param_count_formula"].verdict == "reproduced"
    assert len(c["param_count_formula"].checks) == 5               # three paper examples, image nets, MoE nets
    off = image_frame()
    off.loc[(off.kind == "pad") & (off.kappa == 0.5), "counted_params"] += 10     # a layer miscounted
    c = claims_of(off)
    assert c["param_count_formula"].checks[3].outcome() == "fail"
    assert c["param_count_formula"].verdict == "partly"
    g = glue_frame()
    g.loc[g.arm == "pad", "counted_params"] += 1000
    assert claims_of(image_frame(), glue=g)["param_count_formula"].checks[4].outcome() == "fail"
    c = claims_of(image_frame(), glue=None)
    assert len(c["param_count_formula"].checks) == 4 and c["param_count_formula"].verdict == "reproduced"
    assert c["pad_moe_glue"].verdict == "not tested at this profile"


def test_param_count_claim_fails_with_a_wrong_formula(monkeypatch):
    monkeypatch.setattr(pad_claims, "param_count", lambda n, k, kappa: n * (k * kappa + 1.1 - kappa))
    assert claims_of(image_frame())["param_count_formula"].verdict == "not reproduced"


def test_smoke_profile_judges_only_exact_claims():
    c = claims_of(image_frame(pad_vs_dyn=0.03, pad_vs_static=0.03), profile="smoke")
    for claim in c.values():
        want = "reproduced" if claim.kind == "exact" else "not tested at this profile"
        assert claim.verdict == want, claim.id


def test_few_seeds_are_inconclusive():
    c = claims_of(image_frame(pad_vs_dyn=0.01, pad_vs_static=0.01, alt=0.02).query("seed in (0, 1)"))
    assert c["pad_matches_dynamic"].verdict == "inconclusive"      # 2 seeds x 2 datasets: -1, +3, -1, +3 points
    c = claims_of(image_frame(iterative=0.03).query("seed == 0"))
    assert c["iterative_beats_one_shot"].verdict == "inconclusive"  # one pair: no interval
