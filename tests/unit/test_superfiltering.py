"""Superfiltering notebook library: config validation, rank/overlap helpers, D-variant and student plumbing
(with stand-ins for the models), (claims: test_superfiltering_claims.py). No model is loaded here."""
import math

import numpy as np
import pandas as pd
import pytest
import torch

from replib.lm import sft
from replib.superfiltering import experiment as ex
from replib.superfiltering.config import PROFILES, get_config
from replib.superfiltering.select import select_top_ifd


# ----------------------------------------------------------------------------- config
@pytest.mark.parametrize("profile", list(PROFILES))
def test_profiles_validate(profile):
    cfg = get_config(profile)
    assert cfg.weak and cfg.strong and cfg.student
    if profile == "full":
        assert cfg.data == "alpaca" and cfg.n_pool is None and "/" in cfg.weak and "/" in cfg.strong
        assert "strong IFD" in cfg.arms and cfg.n_strong is None


@pytest.mark.parametrize("field, value", [
    ("n_pool", 4), ("n_strong", 5000), ("n_strong", 3), ("rates", (0.1,)), ("rates", (0.15, 0.05)),
    ("rates", (0.0, 0.1)), ("d_rate", 0.3), ("d_pool_rate", 1.5), ("train_rate", 0.0), ("arms", ("bogus",)),
    ("arms", ("random", "random")), ("precision", "fp16"), ("timing_n", 0), ("timing_n", 10_000),
    ("data", "wizardlm"), ("sft_seeds", 0), ("student", ""), ("weak", None), ("k_base", 0),
    ("n_clusters", 1), ("n_clusters", 100_000), ("sft_lr", 0.0), ("max_length", 8), ("threshold", 0.0),
])
def test_bad_values_raise_naming_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        get_config("quick", **{field: value})


def test_strong_arm_needs_the_whole_pool_scored():
    with pytest.raises(ValueError, match="n_strong"):
        get_config("quick", arms=("weak IFD", "strong IFD"), n_strong=100)
    assert get_config("quick", arms=("weak IFD", "strong IFD"), n_strong=None).n_strong is None


def test_unknown_key_and_profile_raise():
    with pytest.raises(ValueError, match="unknown override"):
        get_config("quick", n_pol=10)
    with pytest.raises(ValueError, match="unknown profile"):
        get_config("fast")


def test_budgets_must_select_something():
    with pytest.raises(ValueError, match="rates"):
        get_config("quick", n_pool=20, n_strong=None, rates=(0.01, 0.02))
    with pytest.raises(ValueError, match="d_rate"):
        get_config("quick", n_pool=20, n_strong=None, d_rate=0.02, timing_n=4)


# ----------------------------------------------------------------------------- spearman, overlap
def test_spearman_hand_computed():
    # ranks a = 1..5, b = 1, 2, 3.5, 5, 3.5 -> cov 8, var 10 and 9.5 -> 8 / sqrt(95)
    assert ex.spearman([1, 2, 3, 4, 5], [5, 6, 7, 8, 7]) == pytest.approx(8 / math.sqrt(95))
    assert ex.spearman([1, 2, 3], [10, 20, 30]) == pytest.approx(1.0)
    assert ex.spearman([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    # NaN pairs are dropped: the rest is perfectly monotone
    assert ex.spearman([1, np.nan, 3, 4], [1, 5, 3, 4]) == pytest.approx(1.0)
    assert math.isnan(ex.spearman([1, 2], [1, 2]))          # < 3 pairs
    assert math.isnan(ex.spearman([1, 1, 1], [1, 2, 3]))    # constant side
    with pytest.raises(ValueError):
        ex.spearman([1, 2, 3], [1, 2])


def test_spearman_matches_scipy():
    from scipy.stats import spearmanr

    rng = np.random.default_rng(0)
    a, b = rng.normal(size=50), rng.normal(size=50)
    b[:10] = a[:10]
    a[5] = a[6]   # a tie
    assert ex.spearman(a, b) == pytest.approx(spearmanr(a, b).statistic, abs=1e-12)


def test_overlap_hand_computed():
    assert ex.overlap([1, 2, 3, 4], [3, 4, 5, 6]) == 0.5
    assert ex.overlap(np.array([1, 2]), [2, 3, 4]) == pytest.approx(1 / 3)
    assert ex.overlap([7], [7]) == 1.0
    assert math.isnan(ex.overlap([], []))


def test_overlap_frame_hand_computed():
    weak = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05]
    strong = [0.9, 0.1, 0.8, 0.2, 0.7, 0.3, 0.6, 0.4, 0.5, 0.05]
    ov = ex.overlap_frame(weak, strong, [0.2, 0.3])
    # k=2: {0, 1} vs {0, 2}; k=3: {0, 1, 2} vs {0, 2, 4}
    assert ov["k"].tolist() == [2, 3] and ov["shared"].tolist() == [1, 2]
    assert ov["overlap"].tolist() == pytest.approx([0.5, 2 / 3])
    assert ov["random"].tolist() == pytest.approx([0.2, 0.3])
    # the threshold: scores >= 1 never qualify
    ov = ex.overlap_frame([1.5, 0.9, 0.8, 0.1], [0.95, 1.2, 0.8, 0.1], [0.5])
    assert ov["n_weak"].iloc[0] == 2 and ov["overlap"].iloc[0] == 0.5     # {1, 2} vs {0, 2}
    with pytest.raises(ValueError):
        ex.overlap_frame([0.1, 0.2], [0.1], [0.5])


def test_rank_stats_uses_the_common_prefix():
    weak = pd.DataFrame({"ifd_ppl": [0.5, 0.6, 0.7, 0.8, 9.0], "ifd_loss": [1, 2, 3, 4, 5.0],
                         "ppl_cond": [4, 3, 2, 1, 0.0]})
    strong = pd.DataFrame({"ifd_ppl": [0.1, 0.2, np.nan, 0.4], "ifd_loss": [1, 2, 3, 4.0], "ppl_cond": [1, 2, 3, 4.0]})
    r = ex.rank_stats(weak, strong)
    assert r["n"] == 4 and r["n_valid"] == 3
    assert r["rho_ifd"] == pytest.approx(1.0) and r["rho_ppl"] == pytest.approx(-1.0)
    assert r["below_1_weak"] == 1.0 and r["below_1_strong"] == 0.75


# ----------------------------------------------------------------------------- FLOPs
class _TinyLM(torch.nn.Module):
    def __init__(self, tied: bool):
        super().__init__()
        self.emb = torch.nn.Embedding(10, 4)
        self.body = torch.nn.Linear(4, 4)          # 20 parameters
        self.head = torch.nn.Linear(4, 10, bias=False)
        if tied:
            self.head.weight = self.emb.weight

    def get_input_embeddings(self):
        return self.emb

    def get_output_embeddings(self):
        return self.head


def test_param_counts_and_flops():
    assert ex.param_counts(_TinyLM(tied=True)) == {"body": 20, "head": 40, "total": 60}
    assert ex.param_counts(_TinyLM(tied=False)) == {"body": 20, "head": 40, "total": 100}
    assert ex.forward_flops({"body": 20, "head": 40}, tokens=7, scored=3) == 2 * 20 * 7 + 2 * 40 * 3
    table = pd.DataFrame({"n_cond": [3, 5, 2], "n_dir": [2, -1, 4], "skip": ["", "", "empty answer"]})
    assert ex.scored_tokens(table) == 3 + 2 + 5


# ----------------------------------------------------------------------------- Superfiltering.D
def test_clusters_and_distances_hand_computed():
    X = np.array([[0.0, 0], [1, 0], [0, 2], [10, 10]])
    assert ex.mean_nearest_distance(X, [0]) == pytest.approx((0 + 1 + 2 + math.sqrt(200)) / 4)
    assert ex.mean_nearest_distance(X, [0, 3]) == pytest.approx((0 + 1 + 2 + 0) / 4)
    assert ex.clusters_hit([0, 0, 1, 2, 2], [0, 1]) == 1
    assert ex.clusters_hit([0, 0, 1, 2, 2], [0, 1, 3]) == 2
    assert ex.clusters_hit([0, 0, 1, 2, 2], [0, 2, 4]) == 3
    xy = ex.pca2(np.random.default_rng(0).normal(size=(30, 5)) * [5, 1, 1, 1, 1])
    assert xy.shape == (30, 2) and xy[:, 0].var() > xy[:, 1].var()


def test_kmeans_labels_agree_with_cluster_coverage():
    from replib.superfiltering.diversity import cluster_coverage

    X = np.random.default_rng(1).normal(size=(40, 3))
    picks = [0, 5, 9, 17]
    assert ex.clusters_hit(ex.kmeans_labels(X, 6, seed=3), picks) == cluster_coverage(X, picks, 6, seed=3)


def _pool(n):
    return [{"instruction": f"task {i}", "input": "", "output": f"answer {i}"} for i in range(n)]


def test_superfiltering_d_with_stand_in_embeddings(monkeypatch):
    n = 50
    X = torch.nn.functional.normalize(torch.randn(n, 8, generator=torch.Generator().manual_seed(0)), dim=1)
    monkeypatch.setattr(ex, "embed_texts", lambda texts, *a, **k: X[:len(texts)])
    cfg = get_config("quick", n_pool=n, n_strong=None, timing_n=4, d_pool_rate=0.4, d_rate=0.1, random_draws=5)
    ifd = np.linspace(0.2, 1.2, n)       # 42 of 50 below 1
    d = ex.superfiltering_d(cfg, _pool(n), ifd, None, None)
    assert d["ifd_num"] == 20 and d["fla_num"] == 5 and d["n_clusters"] == 5
    assert d["candidates"].tolist() == select_top_ifd(ifd, 0.4).tolist()
    assert d["top"].tolist() == d["candidates"][:5].tolist()
    assert set(d["fl"].tolist()) <= set(d["candidates"].tolist()) and len(set(d["fl"].tolist())) == 5
    cov = d["coverage"]
    assert len(cov) == 2 + 5 and set(cov["subset"]) == {"facility location", "top IFD", "random"}
    by = cov.groupby("subset")["objective"].mean()
    assert by["facility location"] >= by["top IFD"] and by["facility location"] >= by["random"]


# ----------------------------------------------------------------------------- students
def _weak_table(n):
    rng = np.random.default_rng(0)
    return pd.DataFrame({"ifd_ppl": rng.uniform(0.3, 1.3, n), "ppl_cond": rng.uniform(1, 50, n)})


def test_training_subsets_equal_size_and_seeded():
    cfg = get_config("quick", n_pool=100, n_strong=None, arms=("weak IFD", "strong IFD", "random", "perplexity"))
    weak, strong = _weak_table(100), _weak_table(100).sample(frac=1, random_state=1).reset_index(drop=True)
    subs = ex.training_subsets(cfg, weak, strong, seed=0)
    assert {len(v) for v in subs.values()} == {5}
    assert subs["weak IFD"].tolist() == select_top_ifd(weak["ifd_ppl"], 0.05).tolist()
    assert subs["perplexity"].tolist() == np.argsort(-weak["ppl_cond"].to_numpy())[:5].tolist()
    again = ex.training_subsets(cfg, weak, strong, seed=0)["random"]
    other = ex.training_subsets(cfg, weak, strong, seed=1)["random"]
    assert subs["random"].tolist() == again.tolist() and subs["random"].tolist() != other.tolist()
    with pytest.raises(ValueError, match="strong"):
        ex.training_subsets(cfg, weak, strong.iloc[:50], seed=0)


def test_student_runs_plumbing(monkeypatch):
    calls = []

    def fake_train(loader, train, heldout, *, seed, **kw):
        calls.append((len(train), seed, kw["epochs"], kw["template"]))
        return {"heldout_loss": 2.0 + seed + 0.1 * len(calls), "train_losses": [3.0, 2.5, 2.0], "seconds": 0.1}

    monkeypatch.setattr(sft, "train_and_eval", fake_train)
    monkeypatch.setattr(sft, "answer_loss", lambda *a, **k: {"mean": 4.0})
    cfg = get_config("quick", n_pool=100, n_strong=50, sft_seeds=2)
    out = ex.student_runs(cfg, lambda: (object(), None), _pool(100), _pool(4), _weak_table(100), seed=3)
    assert out["arm"].tolist() == ["untuned", "weak IFD", "random", "weak IFD", "random"]
    assert out["seed"].tolist() == [3, 3, 3, 4, 4]
    assert [c[:3] for c in calls] == [(5, 3, 2), (5, 3, 2), (5, 4, 2), (5, 4, 2)] and calls[0][3] == "alpaca"
    loader = ex.copying_loader(torch.nn.Linear(2, 2), "tok")
    (a, _), (b, _) = loader(), loader()
    assert a is not b and torch.equal(a.weight, b.weight)
