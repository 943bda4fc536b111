"""ifd.judge: the two-order W/T/L rule, parsing, winning score, and the paper's Fig. 2 from the review logs."""
import itertools

import numpy as np
import pytest

from replib.assets import load_dataset
from replib.ifd.judge import (
    REVIEW_SETS,
    UNPARSED,
    outcome,
    outcomes,
    parse_scores,
    review_arrays,
    slot_means,
    tally,
    tally_judge,
    tally_reviews,
    winning_score,
)


def official_chain(fwd, rev):
    """review_eval_score.py's get_scores_all for one row, written out: returns 'W', 'T', 'L' or None."""
    k1, k2 = fwd[0], fwd[1]
    k1r, k2r = rev[1], rev[0]
    if k1 > k2 and k1r > k2r:
        return "W"
    elif k1 < k2 and k1r > k2r:  # noqa: SIM114 (kept as the nine official branches)
        return "T"
    elif k1 > k2 and k1r < k2r:
        return "T"
    elif k1 == k2 and k1r > k2r:  # noqa: SIM114 (kept as the nine official branches)
        return "W"
    elif k1 > k2 and k1r == k2r:
        return "W"
    elif k1 == k2 and k1r < k2r:  # noqa: SIM114 (kept as the nine official branches)
        return "L"
    elif k1 < k2 and k1r == k2r:
        return "L"
    elif k1 == k2 and k1r == k2r:
        return "T"
    elif k1 < k2 and k1r < k2r:
        return "L"
    return None


# Answer1's verdict in each order -> (fwd pair, rev pair); in the reverse run Answer1 is shown second
PAIR = {"win": ((9, 7), (7, 9)), "tie": ((8, 8), (8, 8)), "loss": ((6, 8), (8, 6))}
EXPECT = {  # (forward, reverse) -> outcome for Answer1
    ("win", "win"): 1, ("win", "tie"): 1, ("tie", "win"): 1,
    ("win", "loss"): 0, ("loss", "win"): 0, ("tie", "tie"): 0,
    ("loss", "loss"): -1, ("loss", "tie"): -1, ("tie", "loss"): -1,
}


@pytest.mark.parametrize("f, r", list(EXPECT))
def test_nine_order_combinations(f, r):
    fwd, rev = PAIR[f][0], PAIR[r][1]
    assert outcome(fwd, rev) == EXPECT[(f, r)]
    assert outcome(str(list(map(float, fwd))), str(list(map(float, rev)))) == EXPECT[(f, r)]
    assert {"W": 1, "T": 0, "L": -1}[official_chain(fwd, rev)] == EXPECT[(f, r)]
    t = tally([fwd], [rev])
    assert t == {"W": int(EXPECT[(f, r)] == 1), "T": int(EXPECT[(f, r)] == 0), "L": int(EXPECT[(f, r)] == -1)}


def test_vectorised_rule_equals_official_chain_on_a_grid():
    vals = [1.0, 5.0, 7.5, 10.0, -1.0]
    rows = list(itertools.product(vals, repeat=4))
    fwd = np.array([r[:2] for r in rows])
    rev = np.array([r[2:] for r in rows])
    got = outcomes(fwd, rev)
    want = [{"W": 1, "T": 0, "L": -1}[official_chain(f, r)] for f, r in zip(fwd.tolist(), rev.tolist())]
    assert got.tolist() == want
    t = tally(fwd, rev)
    assert (t["W"], t["T"], t["L"]) == (want.count(1), want.count(0), want.count(-1))
    swapped = tally(fwd[:, ::-1], rev[:, ::-1])  # model 2's view: wins and losses trade places
    assert (swapped["W"], swapped["T"], swapped["L"]) == (t["L"], t["T"], t["W"])


def test_unparsed_reply_is_a_tie_in_that_order():
    assert parse_scores("The first answer is better.") == UNPARSED
    assert outcome("garbage", "[8.0, 9.0]") == 1    # tie + win -> win
    assert outcome("[9.0, 8.0]", "n/a") == 1        # win + tie -> win
    assert outcome("garbage", "[9.0, 8.0]") == -1   # tie + loss -> loss
    assert outcome("garbage", "garbage") == 0


def test_nan_rows_count_nowhere():
    t = tally([[np.nan, 8.0], [9.0, 8.0]], [[8.0, 9.0], [8.0, 9.0]])
    assert t == {"W": 1, "T": 0, "L": 0}
    assert official_chain((float("nan"), 8.0), (8.0, 9.0)) is None
    with pytest.raises(ValueError, match="NaN"):
        outcome((np.nan, 8.0), (8.0, 9.0))


@pytest.mark.parametrize("text, want", [
    ("[9.0, 8.5]", (9.0, 8.5)), ("[10.0, 9.0]", (10.0, 9.0)), ("[-1, -1]", (-1.0, -1.0)),
    ("[10, 7]", (10.0, 7.0)), ("8 9", (8.0, 9.0)), ("8,9", (8.0, 9.0)), ("8, 9\nAssistant 2 ...", (8.0, 9.0)),
    ("  7.5   6\n", (7.5, 6.0)), ([8, 9], (8.0, 9.0)), ((8.5, 9.5), (8.5, 9.5)),
    ("Assistant 1: 8", UNPARSED), ("8/10 9/10", UNPARSED), ("8 9 10", UNPARSED), ("9", UNPARSED),
    ("", UNPARSED), (None, UNPARSED), ("Scores:\n8 9", UNPARSED), ([1, 2, 3], UNPARSED),
])
def test_parse_scores(text, want):
    assert parse_scores(text) == want


def test_winning_score():
    assert round(winning_score(507, 225, 298), 3) == 1.203
    assert round(winning_score(198, 685, 147), 3) == 1.050
    assert winning_score(3, 0, 0) == 2.0 and winning_score(0, 0, 3) == 0.0 and winning_score(1, 5, 1) == 1.0
    with pytest.raises(ValueError):
        winning_score(0, 0, 0)


# ----------------------------------------------------------------------------- the paper's Fig. 2 from the logs
GPT4 = {"vicuna": (44, 15, 21), "koala": (85, 36, 59), "wizardlm": (102, 54, 62),
        "sinstruct": (111, 61, 80), "lima": (165, 59, 76)}


@pytest.fixture(scope="module")
def logs():
    return {j: {s: load_dataset(f"cherry-reviews/{s}-{j}") for s in REVIEW_SETS} for j in ("gpt4", "gpt3.5")}


def test_gpt4_per_set_and_overall(logs):
    overall = np.zeros(3, int)
    for s, wtl in GPT4.items():
        t = tally_reviews(logs["gpt4"][s])
        assert (t["W"], t["T"], t["L"]) == wtl, s
        assert t["N"] == sum(wtl) and t["unparsed"] == 0
        fwd, rev = review_arrays(logs["gpt4"][s])
        slow = [official_chain(f, r) for f, r in zip(fwd.tolist(), rev.tolist())]
        assert (slow.count("W"), slow.count("T"), slow.count("L")) == wtl, s
        overall += wtl
    df = tally_judge("gpt4", logs=logs["gpt4"])
    assert tuple(df.loc["overall", ["W", "T", "L"]]) == tuple(overall) == (507, 225, 298)
    assert round(df.loc["overall", "winning_score"], 3) == 1.203
    assert [tuple(df.loc[s, ["W", "T", "L"]]) for s in REVIEW_SETS] == [GPT4[s] for s in REVIEW_SETS]


def test_gpt35_overall(logs):
    df = tally_judge("gpt3.5", logs=logs["gpt3.5"])
    assert tuple(df.loc["overall", ["W", "T", "L", "N"]]) == (198, 685, 147, 1030)
    assert round(df.loc["overall", "winning_score"], 3) == 1.050


def test_position_bias_slot_two_scores_higher(logs):
    for judge, (m1, m2) in {"gpt4": (6.72, 6.93), "gpt3.5": (7.89, 8.36)}.items():
        fwd = np.concatenate([review_arrays(logs[judge][s])[0] for s in REVIEW_SETS])
        rev = np.concatenate([review_arrays(logs[judge][s])[1] for s in REVIEW_SETS])
        a, b = slot_means(fwd, rev)
        assert (round(a, 2), round(b, 2)) == (m1, m2), judge


def test_tally_judge_loads_assets_by_default():
    df = tally_judge("gpt4", sets=("vicuna",))
    assert tuple(df.loc["vicuna", ["W", "T", "L"]]) == GPT4["vicuna"]
    assert list(df.index) == ["vicuna", "overall"]
