"""lm.judge: the shared two-order W/T/L rule (all nine order combinations), one-order counts, both-order judging."""
import numpy as np
import pytest

from replib.lm.judge import (
    UNPARSED,
    judge_both_orders,
    outcome,
    parse_scores,
    single_order_outcomes,
    tally,
    tally_single,
    winning_score,
)

# Answer1's verdict in each order -> (fwd pair, rev pair); in the reverse run Answer1 is shown second
PAIR = {"win": ((9, 7), (7, 9)), "tie": ((8, 8), (8, 8)), "loss": ((6, 8), (8, 6))}
EXPECT = {("win", "win"): 1, ("win", "tie"): 1, ("tie", "win"): 1,
          ("win", "loss"): 0, ("loss", "win"): 0, ("tie", "tie"): 0,
          ("loss", "loss"): -1, ("loss", "tie"): -1, ("tie", "loss"): -1}


@pytest.mark.parametrize("f, r", list(EXPECT))
def test_nine_order_combinations(f, r):
    assert outcome(PAIR[f][0], PAIR[r][1]) == EXPECT[(f, r)]


def test_tally_of_all_nine_and_single_order():
    fwd = np.array([PAIR[f][0] for f, _ in EXPECT], dtype=float)
    rev = np.array([PAIR[r][1] for _, r in EXPECT], dtype=float)
    assert tally(fwd, rev) == {"W": 3, "T": 3, "L": 3}
    assert tally_single(fwd) == {"W": 3, "T": 3, "L": 3}
    assert single_order_outcomes(fwd).tolist() == [1, 1, 0, 1, -1, 0, -1, -1, 0]


@pytest.mark.parametrize("text, want", [("8 9", (8.0, 9.0)), ("8, 9", (8.0, 9.0)), ("Assistant 1: 8", UNPARSED),
                                        ("", UNPARSED), ("8 9 10", UNPARSED), ("[9.0, 8.5]", (9.0, 8.5))])
def test_parse_scores_corpus(text, want):
    assert parse_scores(text) == want


def test_unparsed_counts_as_tie_in_that_order():
    assert outcome("garbage", (7, 9)) == 1      # tie forward (both -1), win reverse -> win
    assert outcome("garbage", "garbage") == 0


def test_judge_both_orders_cancels_slot_bias():
    def biased(q, first, second):               # equal answers, +1 for the second slot
        return f"7 {8 if first == second else 7}"
    fwd, rev = judge_both_orders(biased, ["q"] * 5, ["a"] * 5, ["a"] * 5)
    assert tally(fwd, rev) == {"W": 0, "T": 5, "L": 0} and winning_score(0, 5, 0) == 1.0
    assert tally_single(fwd) == {"W": 0, "T": 0, "L": 5}


def test_winning_score_and_ifd_reexports():
    from replib.ifd import judge as ifd_judge

    assert winning_score(41, 15, 24) == pytest.approx(1 + 17 / 80)
    assert ifd_judge.winning_score is winning_score and ifd_judge.outcomes is not None
    with pytest.raises(ValueError):
        winning_score(0, 0, 0)
