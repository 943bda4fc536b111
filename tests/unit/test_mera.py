"""MerA: bottleneck-permutation invariance, exact recovery and merge(A, perm(A)) == A, the transport plan (r T a
permutation, marginals 1/r, Hungarian == ot.emd), sum / avg of identical adapters, d-dimensional tensors never
permuted, N = 1 and r = 1, anchor choice for N = 2, AdapterFusion (batched == a loop, N = 1, parameter count),
the k-shot sampler, source caching, bf16 autocast, and a smoke run of every experiment
(papers/mera.md Sec. 7)."""
import itertools

import pytest
import torch
from torch.testing import assert_close
from transformers import BertConfig, BertModel

from replib.mera import (
    adapter_model,
    adapter_parameters,
    align,
    apply_plan,
    cost_matrix,
    fewshot_indices,
    fusion_model,
    fusion_parameters,
    merge,
    merge_modules,
    noisy_permuted,
    permute,
    recovered_share,
    sources_for,
    transport_plan,
)
from replib.mera.fusion import Fusion, StackedAdapters
from replib.nn.adapters import BottleneckAdapter

D = 12


def module(r=5, seed=0, d=D, ln=True):
    """A BottleneckAdapter with every parameter random (LN and biases too), and its state."""
    torch.manual_seed(seed)
    a = BottleneckAdapter(d, r, layer_norm=ln).eval()
    with torch.no_grad():
        for p in a.parameters():
            p.normal_(0.0, 0.5)
    return a, {k: v.detach().clone() for k, v in a.state_dict().items()}


def run(state, x, d=D):
    a = BottleneckAdapter(d, state["down.weight"].shape[0], layer_norm="ln.weight" in state).eval()
    a.load_state_dict(state)
    return a(x)


def x_in(n=7, d=D, seed=1):
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed))


def tiny_top(seed=0, layers=2):
    torch.manual_seed(seed)
    cfg = BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=layers, num_attention_heads=2,
                     intermediate_size=32, max_position_embeddings=32)
    return BertModel(cfg).eval().requires_grad_(False)


def ids(b=3, t=6, seed=2):
    g = torch.Generator().manual_seed(seed)
    return {"input_ids": torch.randint(0, 50, (b, t), generator=g),
            "attention_mask": torch.ones(b, t, dtype=torch.long)}


# ----------------------------------------------------------------------------- permutation and alignment
def test_bottleneck_permutation_leaves_the_function_unchanged():
    _, A = module()
    x = x_in()
    for seed in range(3):
        perm = torch.randperm(5, generator=torch.Generator().manual_seed(seed))
        assert (run(permute(A, perm), x) - run(A, x)).abs().max() < 1e-6


@pytest.mark.parametrize("cost", ["weight", "activation"])
@pytest.mark.parametrize("solver", ["emd", "hungarian"])
def test_permuted_copy_is_recovered_exactly_and_merges_back_to_itself(cost, solver):
    _, A = module(r=8)
    perm = torch.randperm(8, generator=torch.Generator().manual_seed(3))
    B = permute(A, perm)
    probe = x_in(64)
    aligned, T = align(A, B, cost=cost, probe=probe, solver=solver)
    for k in A:
        assert torch.equal(aligned[k], A[k]), k
    assert recovered_share(T, perm) == 1.0
    out = merge([[A], [B]], "ot", cost=cost, probes=[probe], solver=solver)[0]
    for k in A:
        assert_close(out[k], A[k], rtol=0, atol=1e-7)


def test_plan_is_a_permutation_with_uniform_marginals_and_hungarian_equals_emd():
    for seed, r in itertools.product(range(4), (1, 3, 16)):
        _, A = module(r=r, seed=seed)
        _, B = module(r=r, seed=seed + 10)
        C = cost_matrix(A, B)
        assert C.shape == (r, r) and (C >= 0).all()
        assert_close(C[0, 0], torch.cat([B["down.weight"][0], B["down.bias"][:1]]).double().sub(
            torch.cat([A["down.weight"][0], A["down.bias"][:1]]).double()).norm())    # Euclidean, not squared
        T = transport_plan(C, "emd")
        P = r * T
        assert_close(T.sum(0), torch.full((r,), 1 / r, dtype=torch.float64))
        assert_close(T.sum(1), torch.full((r,), 1 / r, dtype=torch.float64))
        assert set(P.unique().tolist()) <= {0.0, 1.0} and torch.equal(P.sum(0), torch.ones(r, dtype=P.dtype))
        assert torch.equal(T, transport_plan(C, "hungarian"))


def test_alignment_applies_the_plan_to_rows_of_w_down_b_down_and_columns_of_w_up_only():
    _, A = module(r=6)
    _, B = module(r=6, seed=4)
    aligned, T = align(A, B)
    P = (6 * T).float()
    assert_close(aligned["down.weight"], P.T @ B["down.weight"])
    assert_close(aligned["down.bias"], P.T @ B["down.bias"])
    assert_close(aligned["up.weight"], B["up.weight"] @ P)
    for k in ("up.bias", "ln.weight", "ln.bias"):                 # d-dimensional: never permuted
        assert aligned[k].shape == (D,) and torch.equal(aligned[k], B[k])
    assert (run(aligned, x_in()) - run(B, x_in())).abs().max() < 1e-5    # alignment keeps B's function


def test_average_of_identical_adapters_is_the_adapter_and_sum_is_n_times():
    _, A = module()
    for n in (1, 2, 4):
        avg = merge_modules([A] * n, "avg")
        tot = merge_modules([A] * n, "sum")
        ot = merge_modules([A] * n, "ot")
        for k in A:
            assert_close(avg[k], A[k]) and assert_close(ot[k], A[k])
            assert_close(tot[k], n * A[k])


def test_n_equals_one_is_the_identity_and_r_equals_one_works():
    _, A = module(r=1)
    _, B = module(r=1, seed=5)
    for method in ("sum", "avg", "ot"):
        out = merge([[A]], method)[0]
        assert all(torch.equal(out[k], A[k]) for k in A)
    out = merge([[A], [B]], "ot")[0]                             # r = 1: the plan is [[1]], OT == avg
    avg = merge([[A], [B]], "avg")[0]
    assert all(torch.equal(out[k], avg[k]) for k in A)


def test_anchor_choice_for_two_adapters_gives_the_same_function_up_to_a_permutation():
    _, A = module(r=7, seed=1)
    _, B = module(r=7, seed=2)
    m0 = merge_modules([A, B], "ot", anchor=0)
    m1 = merge_modules([A, B], "ot", anchor=1)
    x = x_in(20)
    assert (run(m0, x) - run(m1, x)).abs().max() < 1e-6
    T = transport_plan(cost_matrix(m1, m0))                       # and m1 is m0 with its units reordered
    assert all(torch.allclose(apply_plan(m0, T)[k], m1[k], atol=1e-6) for k in A)


def test_every_position_is_aligned_on_its_own():
    _, A1 = module(r=6, seed=1)
    _, A2 = module(r=6, seed=2)
    p1, p2 = torch.tensor([1, 0, 2, 3, 5, 4]), torch.tensor([5, 4, 3, 2, 1, 0])
    out = merge([[A1, A2], [permute(A1, p1), permute(A2, p2)]], "ot")
    for got, want in zip(out, (A1, A2)):
        assert all(torch.allclose(got[k], want[k], atol=1e-7) for k in want)


def test_noisy_recovery_is_exact_at_zero_noise_and_degrades_with_noise():
    _, A = module(r=16)
    gen = torch.Generator().manual_seed(0)
    share = {}
    for sigma in (0.0, 3.0):
        vals = []
        for _ in range(5):
            B, perm = noisy_permuted(A, sigma, gen)
            vals.append(recovered_share(transport_plan(cost_matrix(A, B)), perm))
        share[sigma] = sum(vals) / len(vals)
    assert share[0.0] == 1.0 and share[3.0] < 1.0


def test_bad_merge_arguments_raise():
    _, A = module(r=4)
    _, B = module(r=5)
    with pytest.raises(ValueError, match="sum, avg, ot"):
        merge([[A]], "mean")
    with pytest.raises(ValueError, match="bottleneck"):
        align(A, B)
    with pytest.raises(ValueError, match="anchor"):
        merge([[A], [A]], "ot", anchor=2)
    with pytest.raises(ValueError, match="probe"):
        cost_matrix(A, A, "activation")
    with pytest.raises(ValueError, match="weight, activation"):
        cost_matrix(A, A, "gram")


# ----------------------------------------------------------------------------- AdapterFusion
def fusion_reference(x, states, fusion):
    """Literal AdapterFusion: each adapter on its own, then the attention token by token over the N outputs."""
    deltas = torch.stack([run(s, x, d=x.shape[-1]) - x for s in states], dim=-2)          # (..., N, d)
    q = fusion.query(x)
    k, v = fusion.key(deltas), fusion.value(deltas)
    scores = (q.unsqueeze(-2) * k).sum(-1)                                                  # (..., N)
    return (scores.softmax(-1).unsqueeze(-1) * v).sum(-2)


def test_batched_fusion_equals_a_loop_over_adapters():
    states = [module(r=4, seed=s)[1] for s in range(3)]
    x = torch.randn(2, 5, D)
    stacked = StackedAdapters(states)
    for n, s in enumerate(states):                                         # one adapter's delta, batched
        assert_close(stacked(x)[..., n, :], run(s, x) - x, rtol=1e-5, atol=1e-5)
    fusion = Fusion(D).eval()
    with torch.no_grad():
        for p in fusion.parameters():
            p.normal_(0.0, 0.3)
    assert_close(fusion(x, stacked(x)), fusion_reference(x, states, fusion), rtol=1e-5, atol=1e-5)
    assert_close(fusion.literal(x, stacked(x)), fusion_reference(x, states, fusion), rtol=1e-5, atol=1e-5)


def test_fusion_over_one_adapter_returns_its_value_projected_output():
    _, A = module(r=4)
    x = torch.randn(2, 5, D)
    delta = run(A, x) - x
    fusion = Fusion(D).eval()
    assert_close(fusion(x, StackedAdapters([A])(x)), fusion.value(delta), rtol=1e-5, atol=1e-5)  # any q, k
    assert (fusion(x, StackedAdapters([A])(x)) - delta).abs().max() < 1e-6 * D * delta.abs().max() + 1e-6  # W_V ~ I
    assert torch.equal(fusion.value.weight.diagonal(), torch.ones(D))


def test_fusion_trainable_parameters_are_three_d_squared_plus_biases_per_layer():
    top = tiny_top(layers=2)
    sources = [[module(r=3, seed=s + i, d=16)[1] for i in range(2)] for s in range(3)]
    model = fusion_model(top, 2, sources, seed=0)
    head = 16 * 2 + 2
    assert sum(p.numel() for p in model.parameters() if p.requires_grad) == fusion_parameters(16, 2) + head
    assert fusion_parameters(16, 2) == 2 * (3 * 16 * 16 + 3 * 16) and fusion_parameters(16, 2, bias=False) == 1536
    mera = adapter_model(top, 2, bottleneck=3, seed=0)
    assert sum(p.numel() for p in mera.parameters() if p.requires_grad) == adapter_parameters(16, 3, 2) + head
    # N = 1 fusion at init: the block output is the single adapter's (identity value) up to 1e-6 W_V terms
    one = fusion_model(top, 2, sources[:1], seed=0).eval()
    ref = adapter_model(top, 2, bottleneck=3, seed=0, states=sources[0]).eval()
    assert_close(one.encoder(**ids()).last_hidden_state, ref.encoder(**ids()).last_hidden_state, rtol=1e-4, atol=1e-4)


def test_cached_top_computes_what_the_full_top_computes():
    from replib.mera.cached import cached_top, encode_z
    top = tiny_top(layers=1)
    ct = cached_top(top)
    x = ids()
    z = encode_z(top, x, "cpu")
    sources = [[module(r=3, seed=s, d=16)[1]] for s in range(2)]
    for build in (lambda t: adapter_model(t, 2, bottleneck=3, seed=1, states=sources[0]),
                  lambda t: fusion_model(t, 2, sources, seed=1)):
        full, fast = build(top).eval(), build(ct).eval()
        fast.head.load_state_dict(full.head.state_dict())
        assert_close(fast(attention_mask=x["attention_mask"], inputs_embeds=z), full(**x), rtol=1e-5, atol=1e-5)


# ----------------------------------------------------------------------------- data and sampler
def test_fewshot_sampler_draws_exactly_k_per_class_reproducibly():
    labels = torch.tensor([0] * 30 + [1] * 12)[torch.randperm(42, generator=torch.Generator().manual_seed(0))]
    a = fewshot_indices(labels, 8, seed=3)
    assert len(a) == 16 and len(set(a.tolist())) == 16
    assert (labels[a] == 0).sum() == 8 and (labels[a] == 1).sum() == 8
    assert torch.equal(a, fewshot_indices(labels, 8, seed=3)) and not torch.equal(a, fewshot_indices(labels, 8, 4))
    assert set(fewshot_indices(labels, 4, 3).tolist()) != set(a.tolist())
    with pytest.raises(ValueError, match="fewer than k=13"):
        fewshot_indices(labels, 13, seed=0)


def test_fewshot_training_set_is_disjoint_from_the_evaluation_split():
    from replib.mera.data import load_frames
    for task in ("QNLI", "STS-B"):
        tr, ev = load_frames(task, 300, 100, seed=0)
        assert set(tr["label"]) <= {0, 1} and set(ev["label"]) <= {0, 1}
        key = lambda f: set(zip(f["sentence1"], f["sentence2"]))           # noqa: E731
        assert not key(tr) & key(ev)
    raw = __import__("replib.assets", fromlist=["x"]).load_dataset("glue/STS-B", split="train")
    tr, _ = load_frames("STS-B", None, 10, seed=0)
    assert (tr["label"] == (raw["label"] >= 3.0).astype(int)).all()      # threshold 3.0, no shuffle at n=None


def test_sources_never_include_the_target_and_track_filter():
    src = ("MRPC", "STS-B", "RTE", "QNLI", "SST-2", "CoLA")
    assert sources_for("MRPC", src) == ["STS-B", "RTE", "QNLI", "SST-2", "CoLA"]
    assert sources_for("MRPC", src, same_track=True) == ["STS-B", "RTE", "QNLI"]
    nli = (("MRPC", "STS-B"), ("RTE", "QNLI", "WNLI"), ("SST-2", "CoLA"))
    assert sources_for("RTE", src, nli, same_track=True) == ["QNLI"]


# ----------------------------------------------------------------------------- training paths, config, experiments
def toy_task(n=48, t=6, seed=0):
    from replib.nn.glue import TaskData
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(1, 50, (n, t), generator=g)
    split = {"input_ids": x, "attention_mask": torch.ones_like(x), "labels": (x[:, 0] < 25).long()}
    return TaskData("toy", 2, split, {k: v[:16] for k, v in split.items()})


@pytest.mark.parametrize("method", ["adapter", "fusion", "full-ft"])
def test_training_paths_run_under_cpu_bf16_autocast_close_to_fp32(method):
    from replib.mera.sources import full_model
    from replib.nn.glue import batch_inputs
    top = tiny_top(layers=1)
    sources = [[module(r=3, seed=s, d=16)[1]] for s in range(2)]
    build = {"adapter": lambda: adapter_model(top, 2, bottleneck=3, seed=0, states=sources[0]),
             "fusion": lambda: fusion_model(top, 2, sources, seed=0),
             "full-ft": lambda: full_model(top, 2, seed=0)}[method]
    x = batch_inputs(toy_task().train, torch.arange(8), "cpu")
    y = toy_task().train["labels"][:8]
    grads = []
    for bf16 in (False, True):
        model = build().eval()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = torch.nn.functional.cross_entropy(model(**x), y)
        loss.backward()
        grads.append(torch.cat([p.grad.flatten() for p in model.parameters() if p.requires_grad]))
    assert torch.isfinite(grads[1]).all()
    assert (grads[1] - grads[0]).norm() <= 0.1 * grads[0].norm() + 1e-6      # bf16: within 10% of fp32


def test_finetune_of_a_merged_adapter_lowers_the_loss_and_keeps_the_backbone():
    from types import SimpleNamespace

    from replib.nn.glue import finetune
    top = tiny_top(layers=1)
    states = merge([[module(r=4, seed=s, d=16)[1]] for s in range(3)], "ot")
    model = adapter_model(top, 2, bottleneck=4, seed=0, states=states)
    before = {k: v.clone() for k, v in model.encoder.state_dict().items() if "adapter" not in k}
    out = finetune(model, toy_task(), SimpleNamespace(epochs=6, batch_size=16, lr=1e-2, head_lr=1e-2,
                                                       weight_decay=0.0), seed=0, device="cpu")
    assert out["loss_last"] < out["loss_first"]
    assert all(torch.equal(v, before[k]) for k, v in model.encoder.state_dict().items() if k in before)


def test_profiles_build_and_bad_values_name_the_valid_ones():
    from replib.mera.config import get_config, required_assets
    for profile in ("smoke", "quick", "full"):
        cfg = get_config(profile)
        assert all(a.startswith("glue/") for a in required_assets(cfg)[1:])
    with pytest.raises(ValueError, match="MRPC, STS-B"):
        get_config("smoke", targets=("MNLI",))
    with pytest.raises(ValueError, match="scratch, single"):
        get_config("smoke", methods=("lora",))
    with pytest.raises(ValueError, match="emd, hungarian"):
        get_config("smoke", solver="sinkhorn")
    with pytest.raises(ValueError, match="auto, fp32, bf16"):
        get_config("smoke", precision="fp16")
    with pytest.raises(ValueError, match="anchor"):
        get_config("smoke", anchor=9)
    with pytest.raises(ValueError, match="at least 2 sources"):
        get_config("smoke", sources=("MRPC", "RTE"))


def test_experiments_at_smoke_and_the_source_cache(tmp_path, monkeypatch):
    from replib.mera import experiment as E
    from replib.mera.config import get_config
    monkeypatch.setenv("REPLIB_CACHE", str(tmp_path))
    cfg = get_config("smoke")
    ctx = E.prepare(cfg, "cpu")
    src = E.train_sources(cfg, ctx, "cpu")
    assert src["cached"].sum() == 1 and len(src) == 2 * len(cfg.sources)      # shared init of source 0 = its own
    assert len(list((tmp_path / "mera").glob("*.safetensors"))) == 2 * len(cfg.sources) - 1   # shared == seed 100
    ctx2 = E.prepare(cfg, "cpu")
    again = E.train_sources(cfg, ctx2, "cpu")                                   # a rerun loads, never retrains
    assert again["cached"].all() and (again["acc"] == src["acc"]).all()
    for a, b in zip(ctx.sources["different"]["STS-B"].adapters, ctx2.sources["different"]["STS-B"].adapters):
        assert all(torch.equal(a[k], b[k]) for k in a)
    few = E.fewshot_frame(cfg, ctx, "cpu")
    n_src = len(sources_for("MRPC", cfg.sources))
    assert len(few) == len(cfg.shots) * cfg.seeds * (len(cfg.methods) - 1 + n_src)
    assert few["acc"].between(0, 1).all() and set(few["method"]) == set(cfg.methods)
    abl = E.ablation_frame(cfg, ctx, "cpu")
    assert set(abl["method"]) == {"mera-sum", "mera-avg", "mera-ot"} and (abl["init"] == "shared").all()
    zs = E.zeroshot_frame(cfg, ctx, "cpu")
    assert set(zs["method"]) == {"alone", "mera-sum", "mera-avg", "mera-ot"} and set(zs["init"]) == {"different",
                                                                                                       "shared"}
    pf = E.params_frame(cfg, ctx)
    assert (pf["trainable"] == pf["formula"]).all()
    rec = E.recovery_frame(cfg, ctx, "cpu")
    assert (rec.loc[rec["sigma"] == 0, "recovered"] == 1.0).all()
    assert set(E.headline_metrics(cfg, few, abl, zs, pf, rec, src)) >= {"fewshot_acc", "merge_share_of_train_time"}
