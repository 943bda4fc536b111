"""IFD claims from synthetic raw results, through the same results.json round trip as the notebook.

Each measured claim comes out reproduced (a big effect, little noise), inconclusive (no effect, noise)
and not reproduced (a big effect the other way); the exact claims reproduced on the provided files'
numbers and not reproduced when one is off; at profile smoke measured claims are never judged.
"""

import numpy as np
import pandas as pd
import pytest

from replib.claims import rebuild
from replib.ifd.config import get_config

N_POOL, K, N_BASE, N_HELD = 500, 30, 160, 48
RELEASE = {"n": 3111, "output_chars": 718.548, "input_share": 0.18611}
RANDOM9K = {"n": 9229, "output_chars": 272.837, "input_share": 0.39723}


def _judge(wins=507):
    return pd.DataFrame({"set": ["vicuna", "overall"], "W": [44, wins], "T": [15, 225], "L": [21, 298],
                         "N": [80, 1030], "winning_score": [1.2875, (wins - 298) / 1030 + 1]})


def _pool(effect: str, seed=0):
    """A pool whose first K rows are the selection: long answers / no inputs / release members ('good'),
    indistinguishable from the rest ('null'), or short answers / all inputs / no release members ('bad')."""
    rng = np.random.default_rng(seed)
    chars = rng.gamma(2.0, 137.0, N_POOL).round().astype(np.int64) + 1          # mean ~275, skewed
    has_input = rng.random(N_POOL) < 0.4
    in_release = rng.random(N_POOL) < (0.3 if effect == "bad" else 0.07)
    if effect == "good":
        chars[:K], has_input[:K], in_release[:K] = 800, np.arange(K) < 3, np.arange(K) < 12
    elif effect == "bad":
        chars[:K], has_input[:K], in_release[:K] = 100, True, False
    return pd.DataFrame({"output_chars": chars, "has_input": has_input, "in_release": in_release})


def _base_ifd(effect: str, seed=0):
    rng = np.random.default_rng(seed)
    before = rng.uniform(0.5, 0.95, N_BASE)
    after = before.copy()
    if effect == "good":
        before[:20] = 1.2                      # 20 samples leave IFD > 1, none enter it
    elif effect == "null":
        before[:10], after[10:20] = 1.2, 1.2   # 10 leave, 10 enter
    else:
        after[:20] = 1.2
    before[-3:] = np.nan                       # skipped by the scorer
    after[-3:] = np.nan
    return pd.DataFrame({"before": before, "after": after})


def _students(losses: dict, seeds=(0,), noise=0.02, seed=0):
    """(runs, per-example rows): example-level NLLs around each arm's loss, shared example difficulty."""
    rng = np.random.default_rng(seed)
    tokens = rng.integers(10, 120, N_HELD)
    difficulty = rng.normal(0, 0.5, N_HELD)
    runs, rows = [], []
    for s in seeds:
        for arm, loss in {"untuned": 2.1, **losses}.items():
            shift = 0.0 if len(seeds) == 1 else rng.normal(0, noise)     # seed-level training noise
            per = loss + difficulty + rng.normal(0, noise, N_HELD) + shift
            nll = per * tokens
            runs.append({"arm": arm, "seed": s, "n_train": 0 if arm == "untuned" else 25,
                         "heldout_loss": nll.sum() / tokens.sum(), "seconds": 1.0})
            rows += [{"arm": arm, "seed": s, "example": i, "nll": float(v), "tokens": int(t)}
                     for i, (v, t) in enumerate(zip(nll, tokens))]
    return pd.DataFrame(runs), pd.DataFrame(rows)


STUDENTS = {"good": {"top IFD": 1.70, "random": 1.80, "low IFD": 1.90},
            "null": {"top IFD": 1.80, "random": 1.80, "low IFD": 1.80},
            "bad": {"top IFD": 1.90, "random": 1.80, "low IFD": 1.70}}


def _results(effect="good", release=RELEASE, judge_wins=507, seeds=(0,), examples=True):
    runs, rows = _students(STUDENTS[effect], seeds=seeds, noise=0.02 if effect != "null" else 0.3)
    return dict(comp_release=dict(release), comp_random9k=dict(RANDOM9K), judge=_judge(judge_wins),
                pool=_pool(effect), selected=np.arange(K, dtype=np.int64), base_ifd=_base_ifd(effect),
                students=runs, heldout_examples=rows if examples else None)


def _claims(results, profile="quick", cfg=None):
    cfg = cfg or get_config("quick")
    return {c.id: c for c in rebuild("ifd", profile, cfg, results)}


MEASURED = ("ifd_prefers_long_answers", "pre_experience_aligns", "matches_official_selection", "ifd_beats_random")
EXACT = ("release_composition", "judge_rederived")


@pytest.mark.parametrize("effect, verdict", [("good", "reproduced"), ("null", "inconclusive"),
                                             ("bad", "not reproduced")])
def test_measured_claims_follow_the_effect(effect, verdict):
    c = _claims(_results(effect))
    assert [c[i].kind for i in MEASURED] == ["measured"] * 4 and [c[i].kind for i in EXACT] == ["exact"] * 2
    for i in ("pre_experience_aligns", "matches_official_selection", "ifd_beats_random"):
        assert c[i].verdict == verdict, (i, c[i].ours, c[i].criterion, c[i].note)
    # the length check is the spec's plain 2x threshold: the null pool fails it (a ratio near 1)
    long = {"good": "reproduced", "null": "not reproduced", "bad": "not reproduced"}[effect]
    assert c["ifd_prefers_long_answers"].verdict == long, c["ifd_prefers_long_answers"].note
    assert [ch.outcome() for ch in c["ifd_prefers_long_answers"].checks][1] == \
        {"good": "pass", "null": "inconclusive", "bad": "fail"}[effect]
    for i in EXACT:
        assert c[i].verdict == "reproduced"


def test_notes_state_the_numbers():
    c = _claims(_results("good"))
    assert "95% range" in c["ifd_prefers_long_answers"].note and "beyond chance" in c["ifd_prefers_long_answers"].note
    assert "McNemar" in c["pre_experience_aligns"].note and "20 samples left IFD > 1, 0 entered" in \
        c["pre_experience_aligns"].note
    assert "12 of 30 hits" in c["matches_official_selection"].note
    note = c["ifd_beats_random"].note
    assert "bootstrap" in note and "not training-seed noise" in note and "sign" in note


def test_pre_experience_numbers():
    ch = _claims(_results("good"))["pre_experience_aligns"].checks[0]
    assert ch.ours == pytest.approx(20 / (N_BASE - 3)) and ch.ci[0] > 0


def test_student_difference_equals_the_token_weighted_losses():
    r = _results("good")
    ch = _claims(r)["ifd_beats_random"].checks[0]
    loss = r["students"].set_index("arm")["heldout_loss"]
    assert ch.ours == pytest.approx(loss["random"] - loss["top IFD"], rel=1e-9)


def test_students_with_seeds_use_the_t_interval():
    c = _claims(_results("good", seeds=(0, 1, 2), examples=False))["ifd_beats_random"]
    assert c.verdict == "reproduced" and "seed-paired t" in c.note and "3 pair(s) (t)" in c.note
    one = _claims(_results("good", examples=False))["ifd_beats_random"]     # one seed, no per-example rows
    assert one.verdict == "inconclusive" and "no interval" in one.note


def test_exact_claims_fail_when_a_number_is_off():
    one_off = _claims(_results(release={**RELEASE, "output_chars": 650.0}))["release_composition"]
    assert one_off.verdict == "partly" and [ch.outcome() for ch in one_off.checks].count("fail") == 2  # length, ratio
    r = _results(release={"n": 3000, "output_chars": 500.0, "input_share": 0.3})
    r["comp_random9k"] = {"n": 9000, "output_chars": 300.0, "input_share": 0.3}
    assert _claims(r)["release_composition"].verdict == "not reproduced"
    assert _claims(_results(judge_wins=500))["judge_rederived"].verdict == "partly"      # W and the score off
    r = _results()
    r["judge"] = pd.DataFrame({"set": ["overall"], "W": [400], "T": [300], "L": [330], "N": [1030],
                               "winning_score": [1.068]})
    assert _claims(r)["judge_rederived"].verdict == "not reproduced"


def test_smoke_profile_judges_only_the_exact_claims():
    for effect in ("good", "bad"):
        c = _claims(_results(effect), profile="smoke", cfg=get_config("smoke"))
        assert {c[i].verdict for i in MEASURED} == {"not tested at this profile"}
        assert {c[i].verdict for i in EXACT} == {"reproduced"}


def test_missing_measurements_are_not_tested():
    r = {k: v for k, v in _results().items() if k in ("comp_release", "comp_random9k", "judge")}
    c = _claims(r)
    assert {c[i].verdict for i in MEASURED} == {"not tested at this profile"}
    assert {c[i].verdict for i in EXACT} == {"reproduced"}


def test_exact_claims_on_the_provided_files():
    """The smoke notebook feeds the exact claims the real files: they must come out reproduced."""
    from replib.assets import load_dataset
    from replib.ifd import experiment as ex
    from replib.ifd.judge import tally_judge

    r = dict(comp_release=ex.composition(load_dataset("cherry-alpaca-5pct")),
             comp_random9k=ex.composition(load_dataset("alpaca-random-9k")), judge=tally_judge("gpt4").reset_index())
    c = _claims(r, profile="smoke", cfg=get_config("smoke"))
    assert c["release_composition"].verdict == "reproduced" and c["judge_rederived"].verdict == "reproduced"
