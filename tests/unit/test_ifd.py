"""IFD notebook library: config, pre-experience features, release precision/recall, subsets (claims:
test_ifd_claims.py)."""
import numpy as np
import pandas as pd
import pytest
import torch

from replib.ifd import experiment as ex
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


def test_pool_frame_and_ifd_before_after():
    samples = [{"instruction": "a", "input": "", "output": "xyz"}, {"instruction": "b", "input": "q", "output": "hi"}]
    f = ex.pool_frame(samples, [True, False])
    assert f["output_chars"].tolist() == [3, 2] and f["has_input"].tolist() == [False, True]
    assert f["in_release"].tolist() == [True, False] and f["has_input"].dtype == bool
    base = pd.DataFrame({"ifd_loss": [1.2, 0.8, 0.5], "skip": ["", "", "prompt too long"]}, index=[5, 6, 7])
    pre = pd.DataFrame({"ifd_loss": [0.9, 1.1, 0.4], "skip": ["", "", "prompt too long"]})
    ba = ex.ifd_before_after(base, pre)
    assert ba["before"].tolist()[:2] == [1.2, 0.8] and ba["after"].tolist()[:2] == [0.9, 1.1]
    assert ba.iloc[2].isna().all()
