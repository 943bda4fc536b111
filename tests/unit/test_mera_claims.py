"""MerA claims on synthetic results that come out reproduced, inconclusive and not reproduced in turn, always
through the results.json round trip (replib.claims.rebuild)."""
import numpy as np
import pandas as pd
import pytest

from replib.claims import rebuild
from replib.mera.config import get_config

TARGETS = ("MRPC", "RTE")
SOURCES = ("S1", "S2", "S3", "S4")
SHOTS = (8, 16, 32, 64)


def fewshot(gain=1.0, noise=0.2, seeds=range(5), rng=None):
    """Per-run rows: effects in points (times ``gain``) + N(0, noise) points per run."""
    rng = rng or np.random.default_rng(0)
    effect = {"scratch": 0.0, "fusion": -2.0, "mera-sum": 0.0, "mera-avg": 2.0, "mera-ot": 5.0, "mera-ot-track": 7.0,
              "mera-ot-act": 5.0}
    out = []
    for t in TARGETS:
        for k in SHOTS:
            for s in seeds:
                base = 60.0 + s
                def add(method, e, source="", t=t, k=k, s=s, base=base):
                    out.append({"target": t, "k": k, "seed": s, "method": method, "source": source, "init": "different",
                                "acc": (base + gain * e + noise * rng.standard_normal()) / 100})
                for m, e in effect.items():
                    add(m, e)
                for i, src in enumerate(SOURCES):
                    add("single", 3.0 if i == 0 else 0.0, src)
                add("full-ft", 5.0 if k == 64 else 0.0)                 # the MerA - FT gap shrinks with k
    return pd.DataFrame(out)


def ablation(diff=0.0, noise=0.2, seeds=range(5), identical=False):
    rng = np.random.default_rng(1)
    out = []
    for t in TARGETS:
        for s in seeds:
            base = 0.6 + 0.01 * s
            avg = base + noise / 100 * rng.standard_normal()
            ot = avg if identical else base + diff / 100 + noise / 100 * rng.standard_normal()
            for m, a in (("mera-sum", base - 0.05), ("mera-avg", avg), ("mera-ot", ot)):
                out.append({"target": t, "k": 16, "seed": s, "method": m, "source": "", "init": "shared", "acc": a})
    return pd.DataFrame(out)


def zeroshot(gain=1.0, noise=0.1):
    rng = np.random.default_rng(2)
    order = {"alone": 20.0, "mera-ot": 10.0, "mera-avg": 5.0, "mera-sum": 0.0}
    return pd.DataFrame([{"target": t, "init": "different", "method": m, "source": s,
                          "acc": (60 + i + gain * e + noise * rng.standard_normal()) / 100}
                         for t in TARGETS for i, s in enumerate(SOURCES) for m, e in order.items()])


def params(off=0):
    return pd.DataFrame([
        {"method": "mera", "trainable": 13_666 + off, "formula": 13_666, "frozen_adapters": 0, "n_sources": 1,
         "d": 384, "layers": 1, "bottleneck": 16},
        {"method": "fusion", "trainable": 443_522, "formula": 443_522, "frozen_adapters": 5 * 13_664,
         "n_sources": 5, "d": 384, "layers": 1, "bottleneck": 16}])


def recovery(at_zero=1.0):
    return pd.DataFrame([{"source": "S1", "position": 0, "sigma": s, "draw": d, "cost": c,
                          "recovered": (at_zero if s == 0 else 0.5)} for s in (0.0, 1.0) for d in range(3)
                         for c in ("weight", "activation")])


def results(**kw):
    return {"fewshot": kw.get("fewshot", fewshot()), "ablation": kw.get("ablation", ablation()),
            "zeroshot": kw.get("zeroshot", zeroshot()), "params": kw.get("params", params()),
            "recovery": kw.get("recovery", recovery()), "sources": None}


def verdicts(res, profile="quick", **cfg_kw):
    from replib.mera.config import METHODS
    cfg = get_config("quick", shots=SHOTS, seeds=5, **({"methods": METHODS} | cfg_kw))
    return {c.id: c.verdict for c in rebuild("mera", profile, cfg, res)}


MEASURED = ("single_beats_fusion", "mera_beats_single_and_fusion", "same_track_beats_mixed",
            "ft_gap_shrinks_with_shots", "same_track_beats_adapter", "same_track_beats_ft",
            "ot_beats_avg_different_init", "zero_shot_retention")


def test_clear_effects_are_reproduced_and_exact_claims_pass():
    v = verdicts(results())
    assert all(v[c] == "reproduced" for c in MEASURED), v
    assert v["ot_matches_avg_shared_init"] == "reproduced"         # equal within noise 0.2: interval in (-1, 1)
    assert v["trainable_parameters"] == "reproduced" and v["permutation_recovery"] == "reproduced"


def test_no_effect_is_inconclusive_and_reversed_effects_are_not_reproduced():
    v = verdicts(results(fewshot=fewshot(gain=0.0, noise=2.0), zeroshot=zeroshot(gain=0.0, noise=2.0),
                         ablation=ablation(diff=0.0, noise=4.0)))
    assert all(v[c] == "inconclusive" for c in MEASURED), v
    assert v["ot_matches_avg_shared_init"] == "inconclusive"       # a wide interval cannot show equivalence
    v = verdicts(results(fewshot=fewshot(gain=-1.0), zeroshot=zeroshot(gain=-1.0), ablation=ablation(diff=5.0)))
    assert all(v[c] == "not reproduced" for c in MEASURED), v
    assert v["ot_matches_avg_shared_init"] == "not reproduced"     # 5 points apart, tightly


def test_identical_shared_init_runs_decide_equivalence_without_noise():
    assert verdicts(results(ablation=ablation(identical=True)))["ot_matches_avg_shared_init"] == "reproduced"


def test_exact_claims_fail_on_wrong_counts_and_recovery():
    v = verdicts(results(params=params(off=1), recovery=recovery(at_zero=0.9375)))
    assert v["trainable_parameters"] == "partly" and v["permutation_recovery"] == "not reproduced"


def test_smoke_and_missing_results():
    v = verdicts(results(), profile="smoke")
    assert all(v[c] == "not tested at this profile" for c in MEASURED)
    assert v["trainable_parameters"] == "reproduced"                # exact: judged at every profile
    empty = verdicts({})
    assert all(x == "not tested at this profile" for x in empty.values()), empty
    no_ft = verdicts(results(), methods=("scratch", "single", "fusion", "mera-avg", "mera-ot"))
    assert no_ft["ft_gap_shrinks_with_shots"] == no_ft["same_track_beats_mixed"] == "not tested at this profile"
    assert no_ft["same_track_beats_ft"] == "not tested at this profile"


@pytest.mark.parametrize("best_gain, verdict", [(3.0, "reproduced"), (-3.0, "not reproduced")])
def test_single_best_is_the_best_source_on_average(best_gain, verdict):
    f = fewshot()
    first = (f["method"] == "single") & (f["source"] == "S1")
    f.loc[first, "acc"] += (best_gain - 3.0) / 100                  # S1 no longer best when negative
    if best_gain < 0:                                               # every single below fusion
        f.loc[f["method"] == "single", "acc"] -= 0.05
    assert verdicts(results(fewshot=f))["single_beats_fusion"] == verdict
