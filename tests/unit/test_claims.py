"""claims: checks against targets, intervals and chance bands, the five verdicts, exact vs measured kinds."""
import json

import numpy as np
import pytest
import torch

from replib import report
from replib.claims import KINDS, VERDICTS, Check, Claim, stamp


# ----------------------------------------------------------------------------- plain checks
@pytest.mark.parametrize("op, ours, target, expect", [
    (">=", 4.0, 4.0, True), (">=", 3.999, 4.0, False),
    ("<=", 4.0, 4.0, True), ("<=", 4.001, 4.0, False),
    (">", 4.0, 4.0, False), (">", 4.001, 4.0, True),
    ("<", 4.0, 4.0, False), ("<", 3.999, 4.0, True),
])
def test_inequality_ops(op, ours, target, expect):
    assert Check("x", ours, op, target).passed() is expect
    assert Check("x", ours, op, target).outcome() == ("pass" if expect else "fail")


@pytest.mark.parametrize("ours, target, tol, atol, expect", [
    (72.72, 72.0, 0.01, 0.0, True),      # exactly on the +1% edge
    (71.28, 72.0, 0.01, 0.0, True),      # exactly on the -1% edge
    (1.1, 1.0, 0.1, 0.0, True),          # edge with float rounding (1.1 - 1.0 = 0.10000000000000009)
    (72.73, 72.0, 0.01, 0.0, False),
    (72.0, 72.0, 0.0, 0.0, True),        # tol 0: exact equality
    (72.0001, 72.0, 0.0, 0.0, False),
    (0.4, 0.0, 0.05, 0.5, True),         # target 0 needs atol
    (0.6, 0.0, 0.05, 0.5, False),
    (-5.0, -4.0, 0.25, 0.0, True),       # relative to |target|
])
def test_approx_op_tolerance_edges(ours, target, tol, atol, expect):
    assert Check("x", ours, "~", target, tol=tol, atol=atol).passed() is expect


@pytest.mark.parametrize("ours", [None, float("nan"), float("inf"), np.float32("nan")])
def test_unmeasured_check_is_untested(ours):
    assert Check("x", ours, ">=", 1.0).outcome() is None
    assert Check("x", ours, ">", 0.0, ci=(0.1, 0.2)).outcome() is None


def test_check_accepts_numpy_and_torch_scalars():
    assert Check("x", np.float64(2.0), ">", 1).passed() is True
    assert Check("x", torch.tensor(0.5), "<", 1).passed() is True
    assert isinstance(Check("x", torch.tensor(0.5), "<", 1).ours, float)


def test_check_validation():
    with pytest.raises(ValueError, match="valid ops"):
        Check("x", 1.0, "==", 1.0)
    with pytest.raises(ValueError, match="only apply"):
        Check("x", 1.0, ">=", 1.0, tol=0.1)
    with pytest.raises(ValueError, match="finite"):
        Check("x", 1.0, "<", float("nan"))
    with pytest.raises(ValueError):
        Check("x", 1.0, "~", 1.0, tol=-0.1)
    with pytest.raises(ValueError, match="direction"):
        Check("x", 1.0, "~", 1.0, ci=(0.0, 2.0))
    with pytest.raises(ValueError, match="lo <= hi"):
        Check("x", 1.0, ">", 0.0, ci=(2.0, 0.0))


# ----------------------------------------------------------------------------- intervals and chance bands
@pytest.mark.parametrize("op, ci, expect", [
    (">", (0.1, 0.9), "pass"),          # the interval excludes zero in the claimed direction
    (">", (-0.1, 0.9), "inconclusive"),  # it spans zero
    (">", (-0.9, -0.1), "fail"),        # it excludes zero the other way
    (">", (None, None), "inconclusive"),  # no interval (one seed): never decides
    (">", (0.1, None), "pass"),
    ("<", (-0.9, -0.1), "pass"),
    ("<", (-0.1, 0.9), "inconclusive"),
    ("<", (0.1, 0.9), "fail"),
    (">=", (0.0, 0.9), "inconclusive"),  # an interval touching zero does not exclude it
])
def test_interval_checks(op, ci, expect):
    mean = 0.5 if ci[0] is None or ci[1] is None else sum(ci) / 2
    assert Check("gap", mean, op, 0.0, ci=ci).outcome() == expect


@pytest.mark.parametrize("ours, band, expect", [
    (12, (0, 5), "pass"), (4, (0, 5), "inconclusive"), (5, (0, 5), "inconclusive"), (0, (1, 5), "fail"),
])
def test_chance_band_checks(ours, band, expect):
    assert Check("hits", ours, ">", 2.1, band=band).outcome() == expect
    mirrored = {"pass": "fail", "fail": "pass"}.get(expect, expect)
    assert Check("hits", ours, "<", 2.1, band=band).outcome() == mirrored


def test_interval_and_band_together_and_display():
    c = Check("overlap", 0.5, ">", 0.1, ci=(0.3, 0.7), band=(0.0, 0.25))
    assert c.outcome() == "pass"
    assert Check("o", 0.5, ">", 0.1, ci=(0.2, 0.7), band=(0.0, 0.25)).outcome() == "inconclusive"
    assert c.shown() == "0.5 [0.3, 0.7]" and Check("g", 1.0, ">", 0, ci=(None, None)).shown() == "1 [-inf, inf]"
    assert Check("g", 1, ">", 0, ci=(0.5, 1.5)).criterion() == "95% CI > 0"
    assert Check("h", 12, ">", 2.146, band=(0, 5)).criterion() == "> chance 2.146 (95% band 0-5: must clear 5)"


def test_criterion_text():
    assert Check("x", 1, "~", 72.0, tol=0.01).criterion() == "≈ 72 (±1%)"
    assert Check("x", 1, "~", 0.0, atol=0.5).criterion() == "≈ 0 (±0.5)"
    assert Check("x", 1, ">=", 4).criterion() == "≥ 4"
    assert Check("x", 1, "<", 0.25).criterion() == "< 0.25"
    assert Check("x", 1, "~", 3.0).criterion() == "= 3"


# ----------------------------------------------------------------------------- claims and verdicts
def claim(*checks, tested=True, kind="measured", profile="quick"):
    c = Claim("c", "text", "paper says", list(checks), tested=tested, kind=kind)
    c.profile = profile
    return c


def test_the_five_verdicts():
    ok, bad, missing = Check("a", 5, ">=", 4), Check("b", 3, ">=", 4), Check("c", None, ">=", 4)
    unsure = Check("d", 0.2, ">", 0, ci=(-0.1, 0.5))
    assert claim(ok, ok).verdict == "reproduced"
    assert claim(ok, bad).verdict == "partly"
    assert claim(ok, unsure).verdict == "partly"
    assert claim(bad, bad).verdict == "not reproduced"
    assert claim(bad, unsure).verdict == "not reproduced"
    assert claim(unsure, unsure).verdict == "inconclusive"
    assert claim(ok, missing).verdict == "not tested at this profile"
    assert claim(ok, Check("d", float("nan"), "~", 1, tol=0.1)).verdict == "not tested at this profile"
    assert claim(ok, tested=False).verdict == "not tested at this profile"
    assert Claim("c", "t", "p", [], tested=False).verdict == VERDICTS[4]
    assert {claim(ok).verdict, claim(ok, bad).verdict, claim(bad).verdict, claim(unsure).verdict,
            claim(missing).verdict} == set(VERDICTS)


def test_smoke_gives_no_measured_verdicts_but_judges_exact_claims():
    ok, bad = Check("a", 5, ">=", 4), Check("b", 3, ">=", 4)
    assert claim(ok, profile="smoke").verdict == "not tested at this profile"
    assert claim(bad, profile="smoke").verdict == "not tested at this profile"
    assert claim(ok, kind="exact", profile="smoke").verdict == "reproduced"
    assert claim(bad, kind="exact", profile="smoke").verdict == "not reproduced"
    assert claim(ok, profile="quick").verdict == claim(ok, profile="full").verdict == "reproduced"
    stamped = stamp([Claim("a", "t", "p", [ok]), Claim("b", "t", "p", [ok], kind="exact")], "smoke")
    assert [c.verdict for c in stamped] == ["not tested at this profile", "reproduced"]
    with pytest.raises(ValueError, match="duplicate"):
        stamp([Claim("a", "t", "p", [ok]), Claim("a", "t", "p", [ok])], "quick")


def test_exact_claims_have_no_noise():
    assert KINDS == ("exact", "measured")
    with pytest.raises(ValueError, match="kind"):
        Claim("c", "t", "p", [Check("a", 1, ">", 0)], kind="estimated")
    with pytest.raises(ValueError, match="no ci/band"):
        Claim("c", "t", "p", [Check("a", 1, ">", 0, ci=(0.5, 1.5))], kind="exact")


def test_verdict_cannot_be_set_by_hand():
    c = claim(Check("a", 3, ">=", 4))
    with pytest.raises(AttributeError):
        c.verdict = "reproduced"
    with pytest.raises(TypeError):
        Claim("c", "t", "p", [Check("a", 3, ">=", 4)], verdict="reproduced")
    assert c.verdict == "not reproduced"


def test_claim_validation_round_trip_and_display():
    with pytest.raises(ValueError, match="no checks"):
        Claim("c", "t", "p", [])
    with pytest.raises(ValueError, match="claim id"):
        Claim("Bad Id", "t", "p", [Check("a", 1, ">", 0)])
    c = Claim("flops", "t", "72 GFLOPs", [Check("a", 71.8, "~", 72, tol=0.01), Check("b", 0.3, ">", 0, ci=(0.1, None))],
              profile="quick")
    assert c.ours == "71.8; 0.3 [0.1, inf]" and c.criterion == "≈ 72 (±1%); 95% CI > 0"
    d = c.to_dict()
    assert d["verdict"] == "reproduced" and d["kind"] == "measured"
    assert [k["outcome"] for k in d["checks"]] == ["pass", "pass"]
    back = Claim.from_dict(json.loads(json.dumps(d)), profile="quick")
    assert back.to_dict() == d and back.verdict == "reproduced"
    assert Claim.from_dict(json.loads(json.dumps(d)), profile="smoke").verdict == "not tested at this profile"
    table = report.claims_table([c])
    assert list(table["verdict"]) == ["reproduced"] and list(table["kind"]) == ["measured"]


def test_claim_checks_must_be_checks():
    as_dict = {"what": "a", "ours": 1.0, "op": ">", "target": 0.0}
    with pytest.raises(TypeError, match="must be a Check, got dict"):
        Claim("c", "t", "p", [as_dict])
    with pytest.raises(TypeError, match="must be a Check, got tuple"):
        Claim("c", "t", "p", [Check("a", 1, ">", 0), ("b", 1.0, ">", 0.0)])
