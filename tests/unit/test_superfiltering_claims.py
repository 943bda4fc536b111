"""Superfiltering claims from synthetic raw results, through the same results.json round trip as the notebook.

Each measured comparative claim comes out reproduced (a big effect, little noise), inconclusive (no
effect, noise) and not reproduced (a big effect the other way); at profile smoke measured claims are
never judged. No model is loaded here.
"""
import json

import numpy as np
import pandas as pd
import pytest

from replib import report
from replib.claims import rebuild
from replib.superfiltering import experiment as ex
from replib.superfiltering.claims import findings, growth_interval, headline_metrics, overlap_excess, time_ratios
from replib.superfiltering.config import get_config

N, N_HELD, RATES = 400, 48, (0.05, 0.10, 0.15)
ARMS3 = ("weak IFD", "random", "perplexity")


def _pair_scores(effect: str, seed=0) -> pd.DataFrame:
    """Weak and strong IFD of N samples (all < 1). good: the two agree on the top 15 % as a set and on
    the order below it, but not on the order inside it, so the overlap beyond chance grows with the
    budget; null: independent; bad: opposite rankings."""
    rng = np.random.default_rng(seed)
    weak = rng.uniform(0.05, 0.95, N)
    order = np.argsort(-weak)
    if effect == "good":
        strong = weak.copy()
        top = order[:int(N * 0.15)]
        strong[top] = rng.permutation(weak[top])
    elif effect == "null":
        strong = rng.uniform(0.05, 0.95, N)
    else:
        strong = 1.0 - weak
    return pd.DataFrame({"weak": weak, "strong": strong})


def _ranks(rho, n_valid=194):
    return {"n": N, "n_valid": n_valid, "rho_ifd": rho, "rho_ppl": 0.8, "rho_ifd_loss": rho,
            "below_1_weak": 0.96, "below_1_strong": 0.99}


def _diversity(hit: int, seed=0):
    """80 candidates in 8 clusters of 10; the 8 FL picks hit `hit` clusters, the 8 top picks 5."""
    labels = np.repeat(np.arange(8), 10)
    fl = np.zeros(80, bool)
    picks = [10 * (i % hit) + i // hit for i in range(8)]
    fl[picks] = True
    top = np.zeros(80, bool)
    top[[0, 1, 10, 20, 30, 40, 41, 42]] = True
    perm = np.random.default_rng(seed).permutation(80)    # candidates in ranking order, clusters mixed
    return {"candidates": pd.DataFrame({"label": labels[perm].astype(np.int64), "fl": fl[perm], "top": top[perm]}),
            "n_clusters": 8}


def _students(losses: dict, seeds=(0,), noise=0.02, seed=0):
    rng = np.random.default_rng(seed)
    tokens = rng.integers(10, 120, N_HELD)
    difficulty = rng.normal(0, 0.5, N_HELD)
    runs, rows = [], []
    for s in seeds:
        for arm, loss in {"untuned": 2.2, **losses}.items():
            nll = (loss + difficulty + rng.normal(0, noise, N_HELD) + (rng.normal(0, noise) if len(seeds) > 1 else 0)) \
                * tokens
            runs.append({"arm": arm, "seed": s, "n_train": 0 if arm == "untuned" else 20,
                         "heldout_loss": nll.sum() / tokens.sum(), "seconds": 1.0, "final_train_loss": 1.0})
            rows += [{"arm": arm, "seed": s, "example": i, "nll": float(v), "tokens": int(t)}
                     for i, (v, t) in enumerate(zip(nll, tokens))]
    return pd.DataFrame(runs), pd.DataFrame(rows)


LOSSES = {"good": {"weak IFD": 2.0, "random": 2.1, "perplexity": 2.3},
          "null": {"weak IFD": 2.1, "random": 2.1, "perplexity": 2.1},
          "bad": {"weak IFD": 2.3, "random": 2.1, "perplexity": 2.0}}


def _results(effect="good", seeds=(0,), examples=True):
    pair = _pair_scores(effect)
    ov = ex.overlap_frame(pair["weak"], pair["strong"], sorted(set(RATES) | {0.10}))
    rho = {"good": 0.9, "null": 0.5, "bad": 0.2}[effect]
    runs, rows = _students(LOSSES[effect], seeds=seeds, noise=0.02 if effect != "null" else 0.3)
    timing = pd.DataFrame({"scorer": ["weak", "strong"], "batched_s": [1.0, 10.0 if effect == "good" else 2.0],
                           "per_sample_s": [2.0, 30.0], "pool_seconds": [np.nan, 5.0],
                           "gflops_per_sample": [1.0, 12.0]})
    cover = pd.DataFrame({"subset": ["facility location", "top IFD", "random"], "objective": [79.8, 79.7, 79.6],
                          "clusters": [8, 5, 5], "mean_nn_dist": [1.2, 1.3, 1.3]})
    return dict(ranks=_ranks(rho, n_valid=194 if effect != "null" else 60), overlaps=ov, pair_scores=pair,
                timing=timing, diversity=_diversity({"good": 8, "null": 5, "bad": 1}[effect]), coverage=cover,
                students=runs, heldout_examples=rows if examples else None)


def _claims(results, profile="quick", cfg=None):
    cfg = cfg or get_config("quick", arms=ARMS3)
    return {c.id: c for c in rebuild("superfiltering", profile, cfg, results)}


MEASURED = ("rank_consistency", "overlap_grows_with_budget", "weak_ifd_beats_random", "perplexity_below_random",
            "weak_filter_cheaper", "diversity_coverage")


@pytest.mark.parametrize("effect, verdict", [("good", "reproduced"), ("null", "inconclusive"),
                                             ("bad", "not reproduced")])
def test_measured_claims_follow_the_effect(effect, verdict):
    c = _claims(_results(effect))
    assert all(c[i].kind == "measured" for i in MEASURED)
    for i in ("rank_consistency", "overlap_grows_with_budget", "weak_ifd_beats_random", "perplexity_below_random",
              "diversity_coverage"):
        assert c[i].verdict == verdict, (i, c[i].ours, c[i].criterion, c[i].note)
    assert c["weak_filter_cheaper"].verdict == ("reproduced" if effect == "good" else "not reproduced")


def test_overlap_excess_matches_overlap_frame():
    pair = _pair_scores("good")
    pair.loc[:5, "weak"] = [1.2, np.nan, 0.99, 1.0, 0.5, 0.97]     # threshold and NaN handling
    pair.loc[:5, "strong"] = [1.5, np.nan, 1.0, 1.1, 0.3, 0.2]
    ov = ex.overlap_frame(pair["weak"], pair["strong"], RATES)
    got = overlap_excess(pair["weak"], pair["strong"], RATES)[0]
    m = max(N - 3, N - 4)                                            # eligible: below 1, not NaN
    want = ov["overlap"] - ov["n_weak"] * ov["n_strong"] / (m * np.maximum(ov["n_weak"], ov["n_strong"]))
    np.testing.assert_allclose(got, want.to_numpy(), atol=1e-12)
    g, lo, hi = growth_interval(pair, RATES, 1.0)
    assert g == pytest.approx(got[-1] - got[0]) and lo < g < hi
    assert growth_interval(pair, RATES, 1.0) == (g, lo, hi)        # fixed seed: the check can rebuild it


def test_overlap_growth_of_raw_overlap_is_not_enough():
    """Independent scorers: the raw overlap grows with the budget, the excess over chance does not."""
    c = _claims(_results("null"))["overlap_grows_with_budget"]
    raw = [ch.ours for ch in c.checks[:3]]
    assert c.verdict == "inconclusive" and c.checks[-1].ci[0] < 0 < c.checks[-1].ci[1]
    targets = [ch.target for ch in c.checks[:3]]
    assert targets == sorted(targets) and targets[-1] > targets[0]  # chance itself grows with the budget
    assert all(ch.band[0] <= r <= ch.band[1] for ch, r in zip(c.checks[:3], raw))


def test_rank_consistency_uses_the_fisher_interval():
    r = _results("good")
    r["ranks"] = _ranks(0.56, n_valid=194)        # above 0.5, but the interval's lower end is not
    ch = _claims(r)["rank_consistency"].checks[0]
    assert ch.ours == 0.56 and ch.ci[0] < 0.5 < ch.ci[1] and ch.outcome() == "inconclusive"
    assert _claims(r)["rank_consistency"].verdict == "partly"


def test_diversity_note_reports_top_ifd_and_objectives():
    note = _claims(_results("good"))["diversity_coverage"].note
    assert "top-IFD picks 5" in note and "FL hits 8 of 8 clusters" in note and "by design" in note


def test_students_with_seeds_use_the_t_interval():
    c = _claims(_results("good", seeds=(0, 1, 2), examples=False))
    assert c["weak_ifd_beats_random"].verdict == "reproduced" and "seed-paired t" in c["weak_ifd_beats_random"].note
    one = _claims(_results("good", examples=False))["weak_ifd_beats_random"]
    assert one.verdict == "inconclusive" and "no interval" in one.note
    note = _claims(_results("good"))["weak_ifd_beats_random"].note
    assert "not training-seed noise" in note and "sign 48-0" in note


def test_perplexity_arm_not_trained():
    r = _results("good")
    r["students"] = r["students"][r["students"]["arm"] != "perplexity"]
    c = _claims(r, cfg=get_config("quick"))["perplexity_below_random"]
    assert c.verdict == "not tested at this profile" and not c.tested


def test_smoke_profile_judges_nothing_here():
    """Superfiltering has no exact claim: at smoke every claim is 'not tested at this profile'."""
    for effect in ("good", "bad"):
        c = _claims(_results(effect), profile="smoke", cfg=get_config("smoke"))
        assert {v.verdict for v in c.values()} == {"not tested at this profile"}
        assert not any(v.kind == "exact" for v in c.values())


def test_missing_measurements_are_not_tested():
    c = _claims({})
    assert {v.verdict for v in c.values()} == {"not tested at this profile"}


def test_time_ratios_and_metrics_are_json_clean():
    inp = _results("good")
    r = time_ratios(inp["timing"])
    assert r == {"time": 10.0, "flops": 12.0, "per_sample_weak": 2.0, "per_sample_strong": 3.0}
    dvar = {"coverage": inp["coverage"], "ifd_num": 20, "fla_num": 2, "n_clusters": 2, "candidates": np.arange(20),
            "embed_s": 1.0, "fl_s": 0.1}
    m = headline_metrics(get_config("quick"), ranks=inp["ranks"], overlaps=inp["overlaps"], timing=inp["timing"],
                         dvar=dvar, students=inp["students"])
    nonfinite = []
    json.dumps(report.to_jsonable(m, nonfinite))
    assert not nonfinite
    assert m["timing"]["weak"]["pool_seconds"] is None and m["timing"]["strong"]["pool_seconds"] == 5.0
    assert m["students"]["mean_loss"]["weak IFD"] == pytest.approx(inp["students"].set_index("arm").loc[
        "weak IFD", "heldout_loss"])
    text = findings(m)
    assert "0.900" in text and "10.00x" in text and "weak IFD 2." in text


def test_candidates_frame():
    dvar = {"candidates": np.array([7, 3, 5, 1]), "labels": np.array([0, 1, 1, 2, 2, 0, 0, 1]),
            "fl": np.array([5, 1]), "top": np.array([7, 3])}
    f = ex.candidates_frame(dvar)
    assert f["label"].tolist() == [1, 2, 0, 1] and f["fl"].tolist() == [False, False, True, True]
    assert f["top"].tolist() == [True, True, False, False]
