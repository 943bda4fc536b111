"""Superfiltering.D pieces: do_fla.py text, MiniLM pooling, the euclidean FL kernel and greedy FL."""
import math

import numpy as np
import pytest
import torch

from replib.superfiltering.diversity import (
    cluster_coverage,
    embed_texts,
    facility_location,
    fl_objective,
    fl_similarity,
    fla_text,
    lazy_greedy,
)

LOW = math.exp(-2 / 384)  # 0.99481: smallest similarity of two unit vectors in 384-d


def unit_vectors(n, d=384, seed=0):
    x = np.random.default_rng(seed).standard_normal((n, d))
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def reference_greedy(K, budget):
    """Literal greedy: for every candidate j, F(S + {j}) - F(S) from scratch; first strict maximum wins."""
    K = np.asarray(K, dtype=np.float32)
    n = K.shape[0]

    def F(S):
        if not S:
            return 0.0
        return float(np.maximum(K[:, S].max(axis=1), 0).sum(dtype=np.float64))

    S = []
    for _ in range(budget):
        base, best, best_gain = F(S), None, -math.inf
        for j in range(n):
            if j in S:
                continue
            gain = F(S + [j]) - base
            if gain > best_gain:
                best, best_gain = j, gain
        S.append(best)
    return S


@pytest.fixture(scope="module")
def pool():
    X = unit_vectors(500)
    return X, fl_similarity(X)


def test_fla_text():
    assert fla_text({"instruction": "Do it", "input": "now", "output": "ok"}) == "Do it\nnow\nok"
    assert fla_text({"instruction": "Do it", "input": "", "output": "ok"}) == "Do it\n\nok"
    assert fla_text({"instruction": "Do it", "output": "ok"}) == "Do it\nok"
    assert fla_text({"instruction": "Do it", "input": "", "output": "ok"}, "instruction") == "Do it\n\n"
    assert fla_text({"instruction": "Do it", "output": "ok"}, "response") == "ok"
    with pytest.raises(ValueError):
        fla_text({"instruction": "a", "output": "b"}, "all")


def test_kernel_values(pool):
    X, K = pool
    assert K.dtype == torch.float32 and K.shape == (500, 500)
    Kn = K.numpy()
    assert np.all(np.diag(Kn) == 1.0)
    assert Kn.min() >= np.float32(LOW) and Kn.max() <= 1.0
    assert abs(LOW - 0.99481) < 5e-6
    D = np.sqrt(((X[:60, None, :] - X[None, :, :]) ** 2).sum(-1))  # direct float64 distances, 60 rows
    assert np.abs(Kn[:60] - np.exp(-D / 384)).max() < 1e-7          # float32 rounding only
    assert np.array_equal(Kn, fl_similarity(X, block_rows=37).numpy())
    # d is the feature dimension: two 2-d points at distance 5 -> exp(-5/2)
    K2 = fl_similarity(np.array([[0.0, 0.0], [3.0, 4.0]]), dtype=torch.float64)
    assert torch.allclose(K2, torch.tensor([[1.0, math.exp(-2.5)], [math.exp(-2.5), 1.0]], dtype=torch.float64))
    # a near-duplicate keeps s < 1 and the diagonal is exactly 1 even through the matrix-product path
    Y = np.stack([X[0], X[0] + 1e-4 * X[1]])
    Ky = fl_similarity(Y, dtype=torch.float64)
    assert Ky[0, 0] == 1 and abs(Ky[0, 1].item() - math.exp(-1e-4 * np.linalg.norm(X[1]) / 384)) < 1e-12


def test_greedy_equals_literal_reference(pool):
    _, K = pool
    want = reference_greedy(K, 25)
    assert facility_location(K, 25) == want
    assert lazy_greedy(K, 25) == want


def test_vectorised_equals_lazy_long_run(pool):
    X, K = pool
    picks = facility_location(K, 150)
    assert len(set(picks)) == 150
    assert lazy_greedy(K, 150) == picks
    assert facility_location(X, 150) == picks                            # embeddings in, kernel inside
    assert facility_location(K, 150, chunk_bytes=8 * 500 * 7) == picks   # 7-column chunks
    assert facility_location(K.numpy(), 40, chunk_bytes=1) == picks[:40]  # 1-column chunks


def test_full_order_small():
    K = fl_similarity(unit_vectors(60, seed=7))
    full = facility_location(K, 60)
    assert sorted(full) == list(range(60))
    assert lazy_greedy(K, 60) == full == reference_greedy(K, 60)


def test_objective_monotone_gains_diminishing(pool):
    _, K = pool
    picks = facility_location(K, 120)
    F = np.array([fl_objective(K, picks[:t]) for t in range(121)])
    gains = np.diff(F)
    assert F[0] == 0.0 and F[-1] <= 500
    assert np.all(gains >= 0)
    assert np.all(np.diff(gains) <= 0)
    assert F[1] >= 500 * LOW  # one pick already covers everything at >= exp(-2/d)
    rng = np.random.default_rng(1)
    for _ in range(5):
        assert fl_objective(K, rng.choice(500, 120, replace=False)) < F[-1]
    assert fl_objective(K, range(500)) == 500.0


def test_hand_made_ties_lowest_index():
    # two pairs; every step has an exact tie (dyadic values) -> the lower index must win
    K = np.array([[1, .75, .5, .5],
                  [.75, 1, .5, .5],
                  [.5, .5, 1, .75],
                  [.5, .5, .75, 1]])
    assert facility_location(K, 4) == [0, 2, 1, 3]
    assert lazy_greedy(K, 4) == [0, 2, 1, 3]
    assert reference_greedy(K, 4) == [0, 2, 1, 3]
    assert [fl_objective(K, [0, 2, 1, 3][:t]) for t in range(5)] == [0.0, 2.75, 3.5, 3.75, 4.0]
    # relabel so that the best candidate has the highest index: no tie rule involved
    P = [3, 2, 1, 0]
    assert facility_location(K[np.ix_(P, P)], 4) == [0, 2, 1, 3]


def test_hand_made_points():
    # a 3-point line and a far outlier, 2-d: the middle point first, then the outlier
    X = np.array([[0.0, 0.0], [0.0, 1.0], [0.0, 2.0], [5.0, 5.0]])
    picks = facility_location(X, 4, kernel=False)
    assert picks[:2] == [1, 3]
    K = fl_similarity(X)
    assert lazy_greedy(K, 4) == picks == reference_greedy(K, 4)


def test_budget_validation(pool):
    _, K = pool
    assert facility_location(K, 0) == [] and lazy_greedy(K, 0) == []
    for bad in (501, -1, 2.0, True):
        with pytest.raises(ValueError, match="budget"):
            facility_location(K, bad)
        with pytest.raises(ValueError, match="budget"):
            lazy_greedy(K, bad)


def test_cluster_coverage():
    rng = np.random.default_rng(0)
    centres = np.array([[0, 0], [20, 0], [0, 20]], dtype=float)
    X = np.concatenate([c + rng.standard_normal((30, 2)) for c in centres])  # rows 0-29, 30-59, 60-89
    assert cluster_coverage(X, [0, 30, 60], 3) == 3
    assert cluster_coverage(X, [1, 2, 3, 4], 3) == 1
    assert cluster_coverage(torch.as_tensor(X), [5, 35], 3, seed=1) == 2
    assert cluster_coverage(X, facility_location(X, 3), 3) == 3  # FL spreads over the blobs


# --- MiniLM (all-MiniLM-L6-v2, offline) ---------------------------------------------------------------

TEXTS = ["A cat sits on the mat.",
         "A kitten is sitting on a rug.",
         "Stock markets fell sharply today after the central bank raised interest rates again.",
         "Write a Python function that returns the n-th Fibonacci number.\n\ndef fib(n): ...",
         "Hi",
         "Translate to French: good morning"]


@pytest.fixture(scope="module")
def minilm():
    from replib.assets import load_encoder
    return load_encoder("minilm-l6")


def test_embed_unit_norm_and_padding_invariant(minilm):
    model, tok = minilm
    E = embed_texts(TEXTS, model, tok, batch_size=4, progress=False)
    assert E.dtype == torch.float32 and E.device.type == "cpu" and E.shape == (len(TEXTS), 384)
    assert torch.allclose(E.norm(dim=1), torch.ones(len(TEXTS)), atol=1e-5)
    single = torch.cat([embed_texts([t], model, tok, progress=False) for t in TEXTS])
    assert (E - single).abs().max() < 1e-5
    unsorted = embed_texts(TEXTS, model, tok, batch_size=64, progress=False, sort_by_length=False)
    assert (E - unsorted).abs().max() < 1e-5
    sims = E @ E.T
    assert sims[0, 1] > 0.5 > sims[0, 2]  # paraphrase closer than an unrelated sentence
    assert embed_texts([], model, tok, progress=False).shape == (0, 384)


def test_embed_matches_manual_mean_pooling(minilm):
    model, tok = minilm
    enc = tok(TEXTS[2], return_tensors="pt")  # one text: no padding at all
    with torch.no_grad():
        h = model(**enc).last_hidden_state[0]
    want = torch.nn.functional.normalize(h.mean(0), dim=0)
    got = embed_texts([TEXTS[2]], model, tok, progress=False)[0]
    assert (got - want).abs().max() < 1e-6


@pytest.mark.gpu
def test_cuda_matches_cpu(pool):
    X, K = pool
    Kc = fl_similarity(torch.as_tensor(X, device="cuda"))
    assert Kc.device.type == "cuda" and (Kc.cpu() - K).abs().max() < 1e-7
    assert facility_location(K, 100, device="cuda") == facility_location(K, 100)
    assert facility_location(Kc, 100) == lazy_greedy(Kc, 100)
