"""SparseAdapter: threshold rule and sparse-ratio semantics, the five pruners against literal references (SNIP
via the mask gradient, GraSP's Hg vs finite differences, SynFlow's probes), Large-Sparse counts, iterative
pruning, edge cases, bf16 autocast, and training with masks through replib.nn.glue.finetune
(papers/sparseadapter.md Sec. 7)."""
import math
from types import SimpleNamespace

import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from torch.testing import assert_close
from transformers import BertConfig, BertModel

from replib.nn.adapters import add_masks, insert_adapters, masks_of, stored_weights
from replib.nn.glue import PooledClassifier
from replib.sparseadapter import (
    PRUNERS,
    adapter_classifier,
    density,
    epoch_densities,
    large_sparse,
    mask_counts,
    parameter_counts,
    prune,
    prune_batch_size,
    prune_indices,
    prune_masks,
    round_densities,
)
from replib.sparseadapter.pruners import hessian_gradient, snip_scores, synflow_scores

D = 16


def tiny_bert(seed=0, layers=2):
    torch.manual_seed(seed)
    cfg = BertConfig(vocab_size=50, hidden_size=D, num_hidden_layers=layers, num_attention_heads=2,
                     intermediate_size=2 * D, max_position_embeddings=32)
    return BertModel(cfg).eval()


def classifier(family="houlsby", r=3, init="bert", seed=0, **kw):
    return adapter_classifier(tiny_bert(), 2, family=family, bottleneck=r, init=init, seed=seed, **kw).eval()


def batches(n=2, b=4, t=6, seed=1):
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n):
        mask = torch.ones(b, t, dtype=torch.long)
        mask[0, t - 2:] = 0
        out.append(({"input_ids": torch.randint(0, 50, (b, t), generator=g), "attention_mask": mask},
                    torch.randint(0, 2, (b,), generator=g)))
    return out


def n_kept(n, sparse_ratio):
    """The spec's formula: N - ceil((1 - density) N) with density = 1 - sparse_ratio."""
    return n - math.ceil(round((1 - (1 - sparse_ratio)) * n, 6))


def distinct_scores(shapes, seed=0):
    g = torch.Generator().manual_seed(seed)
    n = sum(math.prod(s) for s in shapes)
    flat = torch.randperm(n, generator=g).float()
    return dict(zip([f"t{i}" for i in range(len(shapes))], flat.split([math.prod(s) for s in shapes])))


# ----------------------------------------------------------------------------- threshold and semantics
def test_sparse_ratio_is_the_share_pruned_and_density_the_official_sparsity():
    assert density(0.4) == pytest.approx(0.6) and density(0.8) == pytest.approx(0.2) and density(0.0) == 1.0
    s = {"w": torch.randperm(1000).float()}
    assert int(prune_masks(s, 0.4)["w"].sum()) == 600                           # 40% sparse = 60% kept
    assert int(prune_masks(s, 0.8)["w"].sum()) == 200


@pytest.mark.parametrize("ratio", [0.1, 0.4, 0.5, 0.8, 0.95, 0.3333])
def test_global_threshold_keeps_exactly_the_formula_and_prunes_the_smallest(ratio):
    shapes = [(5, 7), (7, 5), (3, 11), (1,)]
    scores = distinct_scores(shapes)
    masks = prune_masks(scores, ratio)
    flat_s = torch.cat([s.flatten() for s in scores.values()])
    flat_m = torch.cat([m.flatten() for m in masks.values()])
    n = flat_s.numel()
    k = n - n_kept(n, ratio)
    literal = torch.ones(n, dtype=torch.bool)
    literal[flat_s.argsort()[:k]] = False                                      # the k smallest, pooled
    assert int(flat_m.sum()) == n_kept(n, ratio) and torch.equal(flat_m, literal)
    assert all(masks[k_].shape == s.shape and masks[k_].dtype == torch.bool for k_, s in scores.items())


def test_ties_at_the_threshold_prune_more():
    s = {"w": torch.tensor([1.0, 2.0, 2.0, 2.0, 3.0, 4.0])}
    m = prune_masks(s, 1 / 3)["w"]                                             # k = 2: threshold = 2
    assert m.tolist() == [False, False, False, False, True, True]               # 4 pruned, not 2
    assert int(prune_masks({"w": torch.zeros(10)}, 0.3)["w"].sum()) == 0       # all tied: all pruned


def test_global_versus_local_scope():
    small, big = torch.rand(20) * 1e-3, 1.0 + torch.rand(20)
    g = prune_masks({"a": small, "b": big}, 0.5)
    assert int(g["a"].sum()) == 0 and bool(g["b"].all())                        # one pooled threshold
    loc = prune_masks({"a": small, "b": big}, 0.5, scope="local")
    assert int(loc["a"].sum()) == 10 and int(loc["b"].sum()) == 10             # per tensor
    odd = {"w": torch.randperm(7).float()}                                      # official quirk: local floors,
    assert int(prune_masks(odd, 0.5)["w"].sum()) == 3                          # global takes the ceiling
    assert int(prune_masks(odd, 0.5, scope="local")["w"].sum()) == 4


def test_edge_cases_and_errors():
    s = distinct_scores([(10, 10)])
    assert bool(prune_masks(s, 0.0)["t0"].all())                              # density 1: all kept
    assert int(prune_masks(s, 0.999)["t0"].sum()) == 0                         # k = ceil(99.9) = 100
    assert int(prune_masks({"w": torch.randperm(1000).float()}, 0.99)["w"].sum()) == 10
    assert int(prune_masks({"w": torch.randperm(30).float()}, 0.1)["w"].sum()) == 27   # 0.1*30 float noise
    for bad in (-0.1, 1.0, 1.5):
        with pytest.raises(ValueError, match=r"\[0, 1\)"):
            prune_masks(s, bad)
    with pytest.raises(ValueError, match="global, local"):
        prune_masks(s, 0.5, scope="layer")
    model = classifier()
    with pytest.raises(ValueError, match="rand, mag, snip, grasp, synflow"):
        prune(model, batches(), F.cross_entropy, pruner="l1", sparse_ratio=0.5)
    with pytest.raises(ValueError, match="faithful, input, onehot"):
        prune(model, batches(), F.cross_entropy, pruner="synflow", sparse_ratio=0.5, synflow_probe="zeros")
    with pytest.raises(ValueError, match="houlsby, pfeiffer, lora"):
        classifier(family="prefix")


def test_bottleneck_one_and_ratio_zero():
    model = classifier(r=1)
    before = {k: m.clone() for k, m in masks_of(model).items()}
    prune(model, batches(), F.cross_entropy, pruner="snip", sparse_ratio=0.0)
    assert all(torch.equal(before[k], m) for k, m in masks_of(model).items())  # official: no pruning
    prune(model, batches(), F.cross_entropy, pruner="snip", sparse_ratio=0.5)
    c = mask_counts(model)
    assert c["total"] == 4 * 2 * D and c["kept"] == n_kept(c["total"], 0.5)


# ----------------------------------------------------------------------------- pruners vs literal references
def test_rand_and_mag():
    a, b = classifier(), classifier()
    prune(a, [], F.cross_entropy, pruner="rand", sparse_ratio=0.6, seed=3)
    prune(b, [], F.cross_entropy, pruner="rand", sparse_ratio=0.6, seed=3)
    assert all(torch.equal(x, y) for x, y in zip(masks_of(a).values(), masks_of(b).values()))
    model = classifier()
    prune(model, [], F.cross_entropy, pruner="mag", sparse_ratio=0.5)
    w = torch.cat([v.detach().abs().flatten() for v in stored_weights(model).values()])
    m = torch.cat([v.flatten() for v in masks_of(model).values()]).bool()
    assert w[m].min() > w[~m].max()                                            # |theta| ranks


@pytest.mark.parametrize("family", ["houlsby", "lora"])
def test_snip_mask_gradient_equals_abs_sum_theta_times_grad(family):
    model = classifier(family, init="bert")
    data = batches(3)
    raw = snip_scores(model, data, F.cross_entropy, normalize=False)
    weights = stored_weights(model)
    total = {k: torch.zeros_like(w) for k, w in weights.items()}
    for x, y in data:                                                          # literal: g_b on theta, m = 1
        grads = torch.autograd.grad(F.cross_entropy(model(**x), y), list(weights.values()))
        for k, g in zip(weights, grads):
            total[k] += weights[k].detach() * g
    for k in weights:
        assert_close(raw[k], total[k].abs(), rtol=1e-5, atol=1e-9)
    normed = snip_scores(model, data, F.cross_entropy)
    flat = torch.cat([v.flatten() for v in raw.values()])
    norm = (flat / flat.max()).sum()
    assert all(torch.allclose(normed[k], raw[k] / norm) for k in raw)
    for ratio in (0.2, 0.5, 0.9):                                              # ranking unchanged
        assert all(torch.equal(prune_masks(raw, ratio)[k], prune_masks(normed, ratio)[k]) for k in raw)
    assert all(p.grad is None for p in model.parameters())


def test_grasp_hg_equals_finite_difference_hessian_vector_product():
    model = classifier().double()
    data = [(x, y) for x, y in batches(2)]
    weights = stored_weights(model)
    ps = list(weights.values())

    def grad_sum():
        out = [torch.zeros_like(p) for p in ps]
        for x, y in data:
            for o, g in zip(out, torch.autograd.grad(F.cross_entropy(model(**x), y), ps)):
                o += g
        return out
    v = grad_sum()                                                             # g_stop
    hg = hessian_gradient(model, data, F.cross_entropy)
    eps = 1e-5
    with torch.no_grad():
        for p, d in zip(ps, v):
            p.add_(eps * d)
    plus = grad_sum()
    with torch.no_grad():
        for p, d in zip(ps, v):
            p.sub_(2 * eps * d)
    minus = grad_sum()
    with torch.no_grad():
        for p, d in zip(ps, v):
            p.add_(eps * d)
    fd = torch.cat([((a - b) / (2 * eps)).flatten() for a, b in zip(plus, minus)])
    ours = torch.cat([hg[k].flatten() for k in weights])
    assert (ours - fd).norm() / fd.norm() < 1e-3 and fd.norm() > 0
    # score theta * Hg / |sum|, and the LOWEST are pruned (not the lowest |score|)
    s = torch.cat([(weights[k].detach() * hg[k]).flatten() for k in weights])
    prune(model, data, F.cross_entropy, pruner="grasp", sparse_ratio=0.5)
    m = torch.cat([x.flatten() for x in masks_of(model).values()]).bool()
    assert s[m].min() > s[~m].max() and (s < 0).any()


def test_synflow_faithful_probe_zeroes_every_score_on_ln_in_adapters():
    model = classifier()
    scores = synflow_scores(model, seq_len=6, probe="faithful")
    assert all(torch.equal(s, torch.zeros_like(s)) for s in scores.values())    # LN(ones) = bias = 0
    prune(model, batches(), F.cross_entropy, pruner="synflow", sparse_ratio=0.4)
    assert mask_counts(model)["kept"] == 0                                     # "s <= threshold" prunes all
    enc = tiny_bert()                                                          # control: adapters without LN
    insert_adapters(enc, bottleneck=3, layer_norm=False)
    add_masks(enc)
    bare = PooledClassifier(enc, 2).eval()
    assert all((s > 0).all() for s in synflow_scores(bare, seq_len=6, probe="faithful").values())


def literal_synflow(model, probe, seq_len=6):
    """|theta dR/dtheta| on a separate model whose tensors were replaced by |.| (no in-place restore)."""
    import copy

    from replib.nn.adapters import adapter_modules
    m = copy.deepcopy(model)
    with torch.no_grad():
        for t in (*m.parameters(), *m.buffers()):
            if t.is_floating_point():
                t.copy_(t.abs())
    ws = stored_weights(m)
    if probe == "input":
        R = m(inputs_embeds=torch.ones(1, seq_len, D), attention_mask=torch.ones(1, seq_len)).mean()
    else:
        R = sum(a(torch.eye(D)[None]).mean() for a in adapter_modules(m))
    grads = torch.autograd.grad(R, list(ws.values()))
    return {k: (w.detach() * g).abs() for (k, w), g in zip(ws.items(), grads)}


@pytest.mark.parametrize("probe", ["input", "onehot"])
def test_synflow_deviating_probes_match_a_literal_reference_and_restore_the_model(probe):
    model = classifier()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    scores = synflow_scores(model, seq_len=6, probe=probe, hidden_size=D)
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) and torch.equal(before[k].signbit(), after[k].signbit())
               for k in before if before[k].is_floating_point())                # signs restored exactly
    ref = literal_synflow(model, probe)
    for k in ref:
        assert_close(scores[k], ref[k], rtol=1e-5, atol=1e-12)
    flat = torch.cat([s.flatten() for s in scores.values()])
    assert (flat > 0).any()
    if probe == "onehot":                                                      # every score non-zero: the
        assert (flat > 0).all()                                                # requested ratio is met
        prune(model, batches(), F.cross_entropy, pruner="synflow", sparse_ratio=0.4, synflow_probe="onehot")
        assert mask_counts(model)["kept"] == n_kept(flat.numel(), 0.4)


def test_zero_init_up_projection_gives_snip_nothing_to_rank():
    """Derived: with init 'lora' (W_up = 0) theta * g is 0 for W_up (theta = 0) and for W_down (g has a W_up
    factor), so SNIP scores tie at 0 and any ratio > 0 prunes every weight. 'bert' init avoids it."""
    model = classifier(init="lora")
    assert all(torch.equal(s, torch.zeros_like(s)) for s in snip_scores(model, batches(), F.cross_entropy).values())
    prune(model, batches(), F.cross_entropy, pruner="snip", sparse_ratio=0.2)
    assert mask_counts(model)["kept"] == 0


# ----------------------------------------------------------------------------- schedule, prune set, Large-Sparse
def test_prune_set_and_batch():
    idx = prune_indices(1000, seed=0)
    assert idx.numel() == 320 == len(set(idx.tolist())) and int(idx.max()) < 1000
    assert torch.equal(idx, prune_indices(1000, seed=0)) and not torch.equal(idx, prune_indices(1000, seed=1))
    assert prune_indices(100, length=2).numel() == 64
    with pytest.raises(ValueError, match="prune_length"):
        prune_indices(100)
    assert prune_batch_size("grasp", 48) == 24 and prune_batch_size("snip", 48) == 48


def test_iterative_pruning_follows_the_official_schedule():
    ds = epoch_densities(0.8, 3)
    assert ds == pytest.approx([0.2 ** (1 / 3), 0.2 ** (2 / 3), 0.2])
    assert round_densities(0.8, 4, "linear") == pytest.approx([0.8, 0.6, 0.4, 0.2])
    assert round_densities(0.8, 2) == pytest.approx([0.2 ** 0.5, 0.2])
    with pytest.raises(ValueError, match="exponential, linear"):
        round_densities(0.5, 2, "cosine")
    model = classifier()
    n = mask_counts(model)["total"]
    for d in ds:                                                               # re-pruned at each epoch start
        prune(model, batches(), F.cross_entropy, pruner="snip", sparse_ratio=1 - d)
        assert mask_counts(model)["kept"] == n_kept(n, 1 - d)
    other = classifier()
    prune(other, batches(), F.cross_entropy, pruner="snip", sparse_ratio=0.8, rounds=3)
    assert mask_counts(other)["kept"] == n_kept(n, 0.8)


@pytest.mark.parametrize("scope", ["global", "local"])
@pytest.mark.parametrize("c", [1, 2, 3, 4])
def test_large_sparse_keeps_the_dense_weight_count(c, scope):
    r = 2
    dense = parameter_counts(classifier(r=r))["mask_weights"]
    wide_r, ratio = large_sparse(r, c)
    assert wide_r == c * r and ratio == pytest.approx(1 - 1 / c)
    wide = classifier(r=wide_r)
    prune(wide, [], F.cross_entropy, pruner="rand", sparse_ratio=ratio, scope=scope)
    counts = parameter_counts(wide)
    assert counts["mask_weights"] == c * dense and counts["kept_weights"] == dense
    assert dense == 4 * 2 * D * r                                              # 4 adapters x (down + up)


# ----------------------------------------------------------------------------- autocast, state, training
@pytest.mark.parametrize("pruner", PRUNERS)
def test_pruners_under_cpu_bf16_autocast(pruner):
    model = classifier()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        prune(model, batches(), F.cross_entropy, pruner=pruner, sparse_ratio=0.5, synflow_probe="onehot")
    c = mask_counts(model)
    assert 0 < c["kept"] <= n_kept(c["total"], 0.5)                           # bf16 may tie: prunes more
    assert model.training is False and all(p.grad is None for p in model.parameters())
    assert not any(m.requires_grad for m in masks_of(model).values())


def test_prune_restores_train_mode():
    model = classifier().train()
    impl = model.encoder.config._attn_implementation
    prune(model, batches(), F.cross_entropy, pruner="grasp", sparse_ratio=0.5)
    assert model.training and model.encoder.config._attn_implementation == impl    # eager only meanwhile


def test_finetune_with_masks_lowers_the_loss_and_keeps_pruned_weights():
    from replib.nn.glue import TaskData, finetune
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(1, 50, (96, 8), generator=g)
    labels = (ids[:, 0] < 25).long()                                           # learnable from token 0
    split = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": labels}
    data = TaskData("toy", 2, split, {k: v[:32] for k, v in split.items()})
    model = classifier(r=4)
    prune(model, [({"input_ids": ids[:32], "attention_mask": torch.ones_like(ids[:32])}, labels[:32])],
          F.cross_entropy, pruner="snip", sparse_ratio=0.5)
    masks, stored = masks_of(model), stored_weights(model)
    before = {k: w.detach().clone() for k, w in stored.items()}
    cfg = SimpleNamespace(epochs=4, batch_size=16, lr=1e-2, head_lr=1e-2, weight_decay=0.0)
    out = finetune(model, data, cfg, seed=0, device="cpu")
    assert out["loss_last"] < out["loss_first"]
    for k, w in stored.items():
        off = masks[k] == 0
        assert torch.equal(w[off], before[k][off]) and not torch.equal(w[~off], before[k][~off])


# ----------------------------------------------------------------------------- config and claims
def test_profiles_build_and_bad_values_name_the_valid_ones():
    from replib.sparseadapter.config import get_config
    for profile in ("smoke", "quick", "full"):
        get_config(profile)
    assert get_config("quick").encoder == "minilm-l6" and get_config("quick").prune_length * 32 == 320
    with pytest.raises(ValueError, match="rand, mag, snip, grasp, synflow"):
        get_config("smoke", pruners=("rand", "obd"))
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        get_config("smoke", sparse_ratios=(0.4, 1.0))
    with pytest.raises(ValueError, match="global, local"):
        get_config("smoke", scope="row")
    with pytest.raises(ValueError, match="prune set"):
        get_config("smoke", n_train=40, prune_length=2)


def synthetic_frames(gain_snip40=2.0, seeds=(0, 1, 2), noise=0.1):
    """Per-run frames as the experiment returns them: SNIP-40% +gain points over dense, others -0.5 at 80%."""
    import numpy as np
    rng = np.random.default_rng(0)
    sweep, large, lora = [], [], []
    for task in ("RTE", "MRPC"):
        for s in seeds:
            base = 0.6 + 0.01 * s
            def row(pruner, ratio, acc, r=16, task=task, s=s):
                return {"task": task, "family": "houlsby", "pruner": pruner, "sparse_ratio": ratio, "bottleneck": r,
                        "seed": s, "acc": acc + noise / 100 * rng.standard_normal(), "kept": 100, "total": 100}
            sweep.append(row("dense", 0.0, base))
            for p in PRUNERS:
                sweep.append(row(p, 0.4, base + (gain_snip40 if p == "snip" else 0.0) / 100))
                sweep.append(row(p, 0.8, base - 0.005))
                sweep.append(row(p, 0.95, base - 0.05))
            large.append({**row("snip", 0.5, base + 0.01, r=32), "kept": 100, "total": 200, "c": 2})
            large.append({**row("snip", 0.75, base + 0.01, r=64), "kept": 100, "total": 400, "c": 4})
            lora.append(row("dense", 0.0, base))
            lora.append(row("snip", 0.4, base - 0.03))
    probe = pd.DataFrame([{"task": "RTE", "probe": p, "sparse_ratio": r, "total": 1000,
                           "pruned_share": 1.0 if p == "faithful" else r + (0.001 if p == "onehot" else 0.1)}
                          for p in ("faithful", "input", "onehot") for r in (0.4, 0.8)])
    return {"sweep": pd.DataFrame(sweep), "large": pd.DataFrame(large), "lora": pd.DataFrame(lora), "probe": probe}


def test_claims_verdicts_follow_the_numbers():
    from replib.claims import stamp
    from replib.sparseadapter.claims import make_claims
    from replib.sparseadapter.config import get_config
    cfg = get_config("quick", sparse_ratios=(0.4, 0.8, 0.95), large_cs=(2, 4), probe_ratios=(0.4, 0.8))
    res = synthetic_frames()
    claims = {c.id: c for c in stamp(make_claims(cfg, **res), "quick")}
    assert claims["large_sparse_count"].verdict == "reproduced"
    assert claims["synflow_probe"].verdict == "reproduced"
    assert claims["match_dense_to_80"].verdict == "reproduced"                # -0.5 > -1 with a tight interval
    assert claims["snip_40_beats_dense"].verdict == "reproduced"
    assert claims["random_drops_at_95"].verdict == "reproduced"
    assert claims["large_sparse_beats_dense"].verdict == "reproduced"
    assert claims["lora_plug_in"].verdict == "not reproduced"                  # pruned LoRA 3 points worse
    assert claims["converges_faster"].verdict == "not tested at this profile"
    tie = {c.id: c for c in stamp(make_claims(cfg, **synthetic_frames(gain_snip40=0.0, noise=2.0)), "quick")}
    assert tie["snip_40_beats_dense"].verdict == "inconclusive"                # noise decides: not a win
    bad = synthetic_frames()
    bad["large"].loc[bad["large"]["c"] == 2, "kept"] = 101
    bad["probe"].loc[bad["probe"]["probe"] == "onehot", "pruned_share"] += 0.01
    wrong = {c.id: c for c in stamp(make_claims(cfg, **bad), "quick")}
    assert wrong["large_sparse_count"].verdict == "partly" and wrong["synflow_probe"].verdict == "partly"
    smoke = {c.id: c for c in stamp(make_claims(cfg, **res), "smoke")}
    assert smoke["snip_40_beats_dense"].verdict == "not tested at this profile"
    assert smoke["large_sparse_count"].verdict == "reproduced"                # exact: judged at every profile
    empty = {c.id: c for c in stamp(make_claims(cfg), "quick")}
    assert all(c.verdict == "not tested at this profile" for c in empty.values())


def synthetic_curves(snip_steps, dense_steps=(20, 25, 30, 20, 25, 30)):
    """Curves every 5 steps up to 40: each run jumps from 0.5 to its final accuracy at the given step."""
    rows = []
    for i, (ds, ss) in enumerate(zip(dense_steps, snip_steps)):
        key = {"task": ("RTE", "MRPC")[i % 2], "seed": i // 2}
        for pruner, ratio, at in (("dense", 0.0, ds), ("snip", 0.4, ss)):
            rows += [{**key, "pruner": pruner, "sparse_ratio": ratio, "step": step,
                      "acc": 0.8 if step >= at else 0.5} for step in range(5, 45, 5)]
    return pd.DataFrame(rows)


@pytest.mark.parametrize("snip_steps, verdict", [
    ((10, 10, 15, 10, 15, 20), "reproduced"),            # SNIP gets there 10 steps earlier every time
    ((20, 30, 25, 15, 25, 35), "inconclusive"),          # sometimes earlier, sometimes later
    ((35, 40, 40, 35, 40, 40), "not reproduced"),        # later every time
    ((200, 200, 200, 200, 200, 200), "not reproduced"),  # never reaches 95% of dense: censored at 45 steps
])
def test_convergence_claim_follows_the_curves(snip_steps, verdict):
    from replib.claims import rebuild
    from replib.sparseadapter.claims import steps_to_target
    from replib.sparseadapter.config import get_config
    curves = synthetic_curves(snip_steps)
    if snip_steps[0] == 200:
        assert set(steps_to_target(curves)["snip"]) == {45}
    cfg = get_config("quick")
    claims = {c.id: c for c in rebuild("sparseadapter", "quick", cfg, {**synthetic_frames(), "curves": curves})}
    assert claims["converges_faster"].verdict == verdict


def test_finetune_curve_does_not_perturb_training():
    """nn.glue.finetune(eval_every=N): dev accuracy every N steps (F3), same training as without it."""
    from replib.nn.glue import TaskData, finetune
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(1, 50, (64, 8), generator=g)
    split = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": (ids[:, 0] < 25).long()}
    data = TaskData("toy", 2, split, {k: v[:32] for k, v in split.items()})
    cfg = SimpleNamespace(epochs=3, batch_size=16, lr=1e-2, head_lr=1e-2, weight_decay=0.0)
    runs = []
    for every in (0, 2):
        torch.manual_seed(0)
        runs.append(finetune(classifier(r=4), data, cfg, seed=0, device="cpu", eval_every=every))
    plain, curved = runs
    assert "curve" not in plain and [s for s, _ in curved["curve"]] == [2, 4, 6, 8, 10, 12]
    assert curved["curve"][-1][1] == curved["acc"]
    assert {k: plain[k] for k in ("acc", "loss_first", "loss_last", "steps")} == \
        {k: curved[k] for k in ("acc", "loss_first", "loss_last", "steps")}
    with pytest.raises(ValueError, match="eval_every"):
        finetune(classifier(r=4), data, cfg, seed=0, device="cpu", eval_every=-1)
