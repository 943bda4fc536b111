"""IFD notebook library: config, pre-experience features, release precision/recall, subsets, claims."""
import numpy as np
import pandas as pd
import pytest
import torch

from replib.ifd import experiment as ex
from replib.ifd.claims import make_claims
from replib.ifd.config import get_config
from replib.lm.models import load_lm
from replib.lm.prompts import format_prompt


@pytest.fixture(scope="module")
def tiny():
    return load_lm("tiny-smollm2")


def test_config_profiles_and_validation():
    assert get_config("quick").rate == 0.06 and get_config("full").n_clusters == 100
    assert get_config("smoke").model.startswith("tiny")
    for bad, field in (({"rate": 0}, "rate"), ({"data": "dolly"}, "data"), ({"band": (80, 20)}, "band"),
                       ({"n_train": 300}, "n_train"), ({"sft_seeds": 0}, "sft_seeds")):
        with pytest.raises(ValueError, match=field):
            get_config("quick", **bad)
    with pytest.raises(ValueError, match="valid keys"):
        get_config("quick", n_pools=3)


def test_prompt_features_are_hf_perplexity_and_mean_hidden(tiny):
    model, tok = tiny
    samples = [{"instruction": "Name a colour.", "input": ""}, {"instruction": "Sum.", "input": "2 and 3"}]
    ppl, emb = ex.prompt_features(model, tok, [{**s, "output": ""} for s in samples], max_length=512, progress=False)
    for i, s in enumerate(samples):
        ids = torch.tensor([tok(format_prompt(s))["input_ids"]])
        with torch.no_grad():
            out = model(ids, labels=ids, output_hidden_states=True)
        assert ppl[i] == pytest.approx(float(torch.exp(out.loss)), rel=1e-5)
        np.testing.assert_allclose(emb[i], out.hidden_states[-1][0].mean(0).numpy(), rtol=1e-4, atol=1e-6)


def test_pre_experience_set_uses_the_cluster_rule():
    rng = np.random.default_rng(0)
    emb = np.concatenate([rng.normal(c, 0.05, size=(30, 4)) for c in (0, 5, 10)])
    ppl = rng.uniform(1, 10, size=90)
    cfg = get_config("quick", n_clusters=3, per_cluster=4)
    idx = ex.pre_experience_set(ppl, emb, cfg)
    assert len(idx) == 12 and len(set(idx)) == 12
    assert sorted(np.bincount(idx // 30).tolist()) == [4, 4, 4]        # four per blob
    for blob in range(3):                                             # inside each blob's 25-75 % band
        members = ppl[blob * 30:(blob + 1) * 30]
        lo, hi = np.percentile(members, [25, 75])
        picked = ppl[idx[idx // 30 == blob]]
        assert ((picked >= lo) & (picked <= hi)).all()


def test_precision_recall_against_hand_counts():
    positives = np.zeros(100, dtype=bool)
    positives[:10] = True
    pr = ex.precision_recall([0, 1, 2, 50, 60], positives)
    assert (pr["hits"], pr["k"], pr["positives"]) == (3, 5, 10)
    assert pr["precision"] == pytest.approx(0.6) and pr["recall"] == pytest.approx(0.3)
    assert pr["random_precision"] == pytest.approx(0.1) and pr["random_recall"] == pytest.approx(0.05)
    assert 0 < pr["p_value"] < 0.02                                   # 3 of 5 from a 10 % base rate is rare
    assert ex.precision_recall([50, 60, 70], positives)["p_value"] == pytest.approx(1.0)


def test_composition_and_share_above_one():
    rows = [{"instruction": "a", "input": "x", "output": "12345"}, {"instruction": "b", "input": "", "output": "1"}]
    c = ex.composition(rows)
    assert c == {"n": 2, "output_chars": 3.0, "input_share": 0.5}
    assert ex.composition(rows, [1])["output_chars"] == 1.0
    t = pd.DataFrame({"ifd_loss": [0.5, 1.0, 1.5, np.nan, 2.0], "skip": ["", "", "", "", "answer truncated"]})
    assert ex.share_above_one(t) == pytest.approx(1 / 3)


def test_training_subsets_are_disjoint_extremes():
    t = pd.DataFrame({"ifd_loss": np.linspace(0.1, 1.2, 60), "skip": [""] * 59 + ["no answer tokens"]})
    subs = ex.training_subsets(t, 5, seed=0)
    assert list(subs["low IFD"]) == [0, 1, 2, 3, 4]
    assert t.ifd_loss[subs["top IFD"]].max() <= 1 and len(subs["random"]) == 5
    assert set(subs["top IFD"]) == set(np.flatnonzero(t.ifd_loss <= 1)[-5:])


def _claims(students, share_pre=0.1):
    comp = {"n": 30, "output_chars": 700.0, "input_share": 0.2}
    pool = {"n": 500, "output_chars": 280.0, "input_share": 0.4}
    judge = pd.DataFrame({"set": ["overall"], "W": [507], "T": [225], "L": [298], "N": [1030],
                          "winning_score": [1.2029]})
    pr = {"precision": 0.3, "recall": 0.3, "random_precision_band": (0.0, 0.2), "hits": 9, "k": 30,
          "positives": 30, "random_precision": 0.06, "p_value": 1e-4}
    return {c.id: c.verdict for c in make_claims(get_config("quick"), comp_selected=comp, comp_pool=pool,
                                                  comp_release={"output_chars": 719, "input_share": 0.186},
                                                  comp_random9k={"output_chars": 273, "input_share": 0.397},
                                                  share_base=0.3, share_pre=share_pre, pr=pr,
                                                  students=students, judge=judge)}


def test_claim_verdicts_follow_the_numbers():
    good = pd.DataFrame({"arm": ["top IFD", "random", "low IFD"], "heldout_loss": [1.0, 1.1, 1.2]})
    bad = pd.DataFrame({"arm": ["top IFD", "random", "low IFD"], "heldout_loss": [1.3, 1.1, 1.0]})
    v = _claims(good)
    assert v["ifd_beats_random"] == "reproduced" and v["judge_rederived"] == "reproduced"
    assert v["ifd_prefers_long_answers"] == "reproduced" and v["pre_experience_aligns"] == "reproduced"
    assert v["matches_official_selection"] == "reproduced"
    assert _claims(bad)["ifd_beats_random"] == "not reproduced"
    assert _claims(good, share_pre=0.5)["pre_experience_aligns"] == "not reproduced"
    assert _claims(None)["ifd_beats_random"] == "not tested at this profile"
