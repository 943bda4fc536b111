"""MEO: equivalence with vanilla MoE, upcycling, gates, load, FLOPs, token attention, training."""
import copy
import math

import pytest
import torch
from torch.testing import assert_close
from torch.utils.flop_counter import FlopCounterMode

from replib.meo import (
    BertDims,
    MoEClassifier,
    MoELinear,
    NoisyTopKGate,
    RoutingState,
    cv_squared,
    flops,
    meo_merge,
    prob_in_top_k,
    split_encoder,
    upcycle_bert,
)
from replib.meo.config import get_config


def slow_moe(x, gates, weight, bias=None):
    """Literal reference: for every sequence b, sum_i G_bi (W_i x_b + b_i)."""
    out = torch.zeros(x.shape[0], x.shape[1], weight.shape[1], dtype=x.dtype)
    for b in range(x.shape[0]):
        for i in range(weight.shape[0]):
            if gates[b, i] != 0:
                y = x[b] @ weight[i].T + (0 if bias is None else bias[i])
                out[b] += gates[b, i] * y
    return out


def pair(n, k, level="sequence", bias=False, d_in=12, d_out=20):
    torch.manual_seed(0)
    state = RoutingState()
    moe = MoELinear(d_in, d_out, n, k, mode="moe", level=level, bias=bias, state=state)
    meo = MoELinear(d_in, d_out, n, k, mode="meo", level=level, bias=bias, state=state)
    with torch.no_grad():
        for p in moe.parameters():
            p.normal_()
    # MoE and MEO differ in the task projection width (8 vs 2); share everything else
    sd = {k_: v for k_, v in moe.state_dict().items() if not k_.startswith(("task_proj", "gate"))}
    meo.load_state_dict(sd, strict=False)
    if level != "task":
        meo.gate.load_state_dict(moe.gate.state_dict())
    return moe.eval(), meo.eval(), state


@pytest.mark.parametrize("k", [1, 2, 4, 8])
@pytest.mark.parametrize("bias", [False, True])
def test_meo_equals_moe_sequence_level(k, bias):
    moe, meo, _ = pair(8, k, bias=bias)
    x = torch.randn(5, 7, 12)
    y_moe, y_meo = moe(x), meo(x)
    assert_close(y_meo, y_moe, atol=1e-5, rtol=1e-5)
    gates = moe.gate(x.mean(1)).gates
    assert_close(y_moe, slow_moe(x, gates, moe.weight, moe.bias), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("k", [1, 2, 4, 8])
def test_meo_equals_moe_task_level_same_gates(k):
    moe, meo, state = pair(8, k, level="task")
    state.task_u = torch.randn(1, 128).expand(4, -1)
    x = torch.randn(4, 6, 12)
    routing = moe.gate(moe.route_input(x))
    # same gates fed to both computations (the routers' inputs differ in width by design)
    from replib.meo import meo_apply, moe_apply
    assert_close(meo_apply(x, routing, moe.weight), moe_apply(x, routing.gates, moe.weight), atol=1e-5, rtol=1e-5)
    assert (routing.gates == routing.gates[0]).all(), "one task -> one gate for every example"
    assert meo(x).shape == moe(x).shape == (4, 6, 20)


@pytest.mark.parametrize("n,k,batch", [(8, 1, 2), (8, 2, 9), (8, 4, 3), (16, 3, 2), (4, 4, 5)])
def test_merge_matches_literal_sum(n, k, batch):
    """Both branches (experts used by the batch, or all n) equal sum_i G_bi W_i."""
    torch.manual_seed(1)
    w = torch.randn(n, 5, 6)
    gate = NoisyTopKGate(6, n, k).eval()
    gate.w_gate.data.normal_()
    r = gate(torch.randn(batch, 6))
    reference = torch.stack([sum(r.gates[b, i] * w[i] for i in range(n)) for b in range(batch)])
    assert_close(meo_merge(r.gates, r.indices, w), reference)


@pytest.mark.parametrize("n,k", [(8, 2), (8, 6)])
def test_meo_backward_matches_autograd(n, k):
    """The hand-written backward of the merged linear equals autograd through the literal formula."""
    torch.manual_seed(4)
    lin = MoELinear(6, 5, n, k, mode="meo", bias=True).train()
    lin.gate.w_gate.data.normal_()
    x = torch.randn(3, 4, 6, requires_grad=True)
    params = (x, lin.weight, lin.bias, lin.gate.w_gate, lin.gate.w_noise)
    torch.manual_seed(5)
    lin(x).pow(2).sum().backward()
    fast = [t.grad.clone() for t in params]
    for t in params:
        t.grad = None
    torch.manual_seed(5)                                       # same gate noise
    r = lin.gate(x.mean(1))
    merged = torch.einsum("bn,noi->boi", r.gates, lin.weight)
    y = torch.einsum("bti,boi->bto", x, merged) + (r.gates @ lin.bias).unsqueeze(1)
    y.pow(2).sum().backward()
    for a, t in zip(fast, params):
        assert_close(a, t.grad, atol=1e-4, rtol=1e-4)


def test_gates_invariants_and_zero_init():
    gate = NoisyTopKGate(10, 8, 3)
    r = gate.train()(torch.randn(64, 10))
    assert ((r.gates > 0).sum(1) == 3).all() and (r.gates >= 0).all()
    assert_close(r.gates.sum(1), torch.ones(64))
    r = gate.eval()(torch.randn(64, 10))           # zero W_g, no noise: each selected gate is 1/k
    assert_close(r.gates.gather(1, r.indices), torch.full((64, 3), 1 / 3))
    with pytest.raises(ValueError, match="k <= n_experts"):
        NoisyTopKGate(4, 2, 3)


def test_cv_squared():
    assert float(cv_squared(torch.full((5,), 3.0))) == 0.0
    assert float(cv_squared(torch.tensor([2.0]))) == 0.0
    v = torch.tensor([1.0, 3.0])
    assert math.isclose(float(cv_squared(v)), 2.0 / 4.0, rel_tol=1e-6)   # var (unbiased) 2, mean 2


def test_load_matches_monte_carlo():
    """P(expert i in top-k) from the normal CDF against 10^4 re-draws of expert i's noise."""
    torch.manual_seed(3)
    R, n, k, draws = 6, 5, 2, 10_000
    clean = torch.randn(R, n)
    std = torch.rand(R, n) + 0.3
    noisy = clean + torch.randn(R, n) * std
    top = noisy.topk(k + 1, dim=1).values
    p = prob_in_top_k(clean, noisy, std, top, k)
    for i in range(n):
        resampled = noisy.unsqueeze(0).repeat(draws, 1, 1)
        resampled[:, :, i] = clean[:, i] + torch.randn(draws, R) * std[:, i]
        in_top = (resampled.topk(k, dim=2).indices == i).any(2).float().mean(0)
        assert (in_top - p[:, i]).abs().max() < 0.02


def test_upcycling_keeps_dense_function():
    from transformers import BertConfig, BertModel
    cfg = BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=32, max_position_embeddings=16)
    torch.manual_seed(0)
    dense = BertModel(cfg).eval()
    for layer in dense.encoder.layer:              # random init leaves biases at 0: make them matter
        layer.intermediate.dense.bias.data.normal_()
        layer.output.dense.bias.data.normal_()
    ids = torch.randint(0, 50, (3, 9))
    mask = torch.ones(3, 9, dtype=torch.long)
    mask[0, 6:] = 0
    ref = dense(input_ids=ids, attention_mask=mask).last_hidden_state
    for mode in ("moe", "meo"):
        for level in ("sequence", "token"):
            m = copy.deepcopy(dense)
            st = upcycle_bert(m, 4, 2, mode=mode, level=level, drop_ffn_bias=False)
            st.mask = mask
            m.encoder.layer[0].intermediate.dense.gate.w_gate.data.normal_()   # any gates summing to 1
            assert_close(m(input_ids=ids, attention_mask=mask).last_hidden_state, ref, atol=1e-5, rtol=1e-5)
    m = copy.deepcopy(dense)
    upcycle_bert(m, 4, 2, drop_ffn_bias=True)                            # faithful: biases dropped
    assert m.encoder.layer[0].intermediate.dense.bias is None
    assert not torch.allclose(m(input_ids=ids, attention_mask=mask).last_hidden_state, ref)


def test_token_att_zero_at_init_and_token_level_shapes():
    lin = MoELinear(128, 32, 4, 2, mode="meo", level="token")
    out = lin.token_att(torch.randn(2, 3, 128)).detach()
    assert lin.token_att.down.out_features == 2 and float(out.abs().max()) == 0
    moe = MoELinear(128, 32, 4, 2, mode="moe", level="token")
    x = torch.randn(2, 5, 128)
    assert moe(x).shape == lin(x).shape == (2, 5, 32)
    r = moe.gate(moe.route_input(x))
    assert r.gates.shape == (10, 4)                     # vanilla token MoE routes every token


def test_padding_in_mean_flag():
    """Faithful routing (pad_in_mean) depends on the pad length; the masked mean does not."""
    lin = MoELinear(8, 4, 4, 1, mode="meo").eval()
    lin.gate.w_gate.data.normal_()
    x = torch.randn(1, 4, 8) + 1.0
    padded = torch.cat([x, torch.zeros(1, 6, 8)], 1)
    mask = torch.cat([torch.ones(1, 4), torch.zeros(1, 6)], 1)
    lin.state.pad_in_mean = False
    lin.state.mask = mask
    u_masked = lin.route_input(padded)
    lin.state.mask = None
    assert_close(u_masked, lin.route_input(x))
    lin.state.pad_in_mean = True
    lin.state.mask = mask
    assert_close(lin.route_input(padded), x.mean(1) * 4 / 10)


def test_flops_paper_numbers():
    def g(*a):
        return flops(*a) / 1e9

    assert round(g("bert-base", 4, 128, "moe"), 2) == 71.83
    assert round(g("bert-base", 4, 128, "meo"), 2) == 28.80
    assert round(g("bert-small", 1, 128, "moe"), 2) == 7.36 and round(g("bert-small", 32, 128, "moe"), 2) == 73.93
    assert round(g("bert-large", 1, 128, "moe"), 2) == 86.92 and round(g("bert-large", 32, 128, "moe"), 2) == 1684.65
    assert round(g("bert-base", 32, 128, "meo"), 2) == 31.97
    assert abs(g("bert-base", 4, 128, "moe") / 72.0 - 1) < 0.01 and abs(g("bert-base", 4, 128, "meo") / 28.6 - 1) < 0.01
    with pytest.raises(ValueError, match="bert-base"):
        flops("bert-huge", 1)


@pytest.mark.parametrize("mode,k,n", [("moe", 2, 8), ("meo", 1, 8), ("meo", 2, 8), ("moe", 4, 8), ("meo", 4, 8),
                                      ("meo", 3, 4)])
def test_flops_match_flop_counter_on_real_modules(mode, k, n):
    from transformers import BertConfig, BertForMaskedLM
    cfg = BertConfig(vocab_size=1000, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                     intermediate_size=256, max_position_embeddings=64, attn_implementation="eager")
    torch.manual_seed(0)
    model = BertForMaskedLM(cfg)
    upcycle_bert(model.bert, n, k, mode=mode)
    model.eval()
    with FlopCounterMode(display=False) as counter:
        model(input_ids=torch.randint(0, 1000, (1, 32)))
    expected = flops(BertDims(2, 64, 256, 1000), k, 32, mode, n_experts=n, exact=True)
    assert counter.get_total_flops() == pytest.approx(expected, rel=1e-9)


def test_loss_goes_down_and_cache_split():
    from transformers import BertConfig, BertModel
    cfg = BertConfig(vocab_size=60, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=64, max_position_embeddings=16)
    torch.manual_seed(0)
    bert = BertModel(cfg)
    bottom, top = split_encoder(bert, 1)
    ids = torch.randint(0, 60, (32, 10))
    mask = torch.ones_like(ids)
    full_out = bert.eval()(input_ids=ids, attention_mask=mask).last_hidden_state
    h = bottom(input_ids=ids, attention_mask=mask).last_hidden_state
    assert_close(top.eval()(inputs_embeds=h, attention_mask=mask).last_hidden_state, full_out)
    labels = (ids[:, 0] % 2)
    state = upcycle_bert(top, 4, 2, mode="meo")
    model = MoEClassifier(top, 2, state)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    model.train()
    for _ in range(60):
        loss = torch.nn.functional.cross_entropy(model(attention_mask=mask, inputs_embeds=h), labels)
        loss = loss + model.aux_loss()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss))
    assert sum(losses[-5:]) / 5 < 0.5 * sum(losses[:5]) / 5
    assert len([m for m in model.modules() if isinstance(m, MoELinear)]) == 2
    assert float(model.aux_loss()) >= 0


def test_meo_and_moe_train_identically_from_the_same_seed():
    """Same seed -> same gates and weights: whole training runs agree up to float rounding (sequence level).

    This is why `meo_matches_moe` is not a claim: it holds by construction, so it is asserted here."""
    from types import SimpleNamespace

    from transformers import BertConfig, BertModel

    from replib.meo.model import train_one
    from replib.nn.glue import TaskData
    torch.manual_seed(0)
    bert = BertModel(BertConfig(vocab_size=60, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                intermediate_size=64, max_position_embeddings=16))
    bottom, top = split_encoder(bert, 1)

    def split(n, seed):
        g = torch.Generator().manual_seed(seed)
        ids = torch.randint(0, 60, (n, 10), generator=g)
        mask = torch.ones_like(ids)
        mask[: n // 2, 7:] = 0                                   # some padding: the routing mean sees it
        with torch.no_grad():
            h = bottom(input_ids=ids, attention_mask=mask).last_hidden_state
        return {"hidden": h, "attention_mask": mask, "labels": ids[:, 0] % 2}

    data = TaskData("toy", 2, split(48, 1), split(32, 2))
    cfg = SimpleNamespace(n_experts=4, drop_ffn_bias=True, pad_in_mean=True, att_reduction=8, lr=3e-3,
                          head_lr=3e-3, weight_decay=0.01, epochs=2, batch_size=16)
    for k in (1, 2, 4):                                          # gather (2k < n) and dense merge branches
        a = train_one(top, data, cfg, mode="meo", k=k, seed=3, device="cpu")
        b = train_one(top, data, cfg, mode="moe", k=k, seed=3, device="cpu")
        assert a["acc"] == b["acc"] and a["steps"] == b["steps"]
        assert a["loss_first"] == pytest.approx(b["loss_first"], rel=1e-5)
        assert a["loss_last"] == pytest.approx(b["loss_last"], rel=1e-5)


def test_config_validation():
    assert get_config("quick").encoder == "minilm-l6"
    full = get_config("full")
    assert full.encoder == "bert-base-uncased" and full.n_frozen == 0 and full.n_train is None
    with pytest.raises(ValueError, match="smoke, quick, full"):
        get_config("fast")
    with pytest.raises(ValueError, match="valid keys"):
        get_config("quick", stepz=3)
    with pytest.raises(ValueError, match="n_experts"):
        get_config("quick", ks=(16,))


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_meo_equals_moe_on_gpu(dtype):
    moe, meo, _ = pair(8, 4)
    moe, meo = moe.to("cuda", dtype), meo.to("cuda", dtype)
    x = torch.randn(6, 9, 12, device="cuda", dtype=dtype)
    tol = 1e-5 if dtype == torch.float32 else 3e-2
    assert_close(meo(x), moe(x), atol=tol, rtol=tol)
    assert_close(meo(x).float().cpu(), meo.float().cpu()(x.float().cpu()), atol=10 * tol, rtol=10 * tol)


def test_unavailable_hub_encoder_names_the_fix(monkeypatch):
    from replib.assets import AssetError
    from replib.nn.glue import load_encoder
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(AssetError, match="minilm-l6"):
        load_encoder("replib-test/no-such-encoder")


@pytest.mark.parametrize("n,k,batch", [(8, 1, 2), (8, 2, 2), (8, 2, 9), (16, 3, 2), (4, 4, 5)])
def test_sync_free_merge_basis_matches_literal_sum_and_autograd(n, k, batch):
    """The basis used off the CPU (no unique(): all n experts, or the B*k selected ones with block-diagonal
    gates) merges to sum_i G_bi W_i, and the hand-written backward through it equals autograd."""
    from replib.meo.layers import _merge, _merge_basis, _MergedLinear
    torch.manual_seed(2)
    w = torch.randn(n, 5, 6, requires_grad=True)
    gate = NoisyTopKGate(6, n, k).eval()
    gate.w_gate.data.normal_()
    u, x = torch.randn(batch, 6), torch.randn(batch, 3, 6, requires_grad=True)
    r = gate(u)
    g, basis = _merge_basis(r.gates, r.indices, w, sync_free=True)
    assert basis.shape[0] == (n if 2 * batch * k > n else batch * k)
    reference = torch.stack([sum(r.gates[b, i] * w[i] for i in range(n)) for b in range(batch)])
    assert_close(_merge(g, basis), reference)
    _MergedLinear.apply(x, g, basis).pow(2).sum().backward()
    fast = [x.grad.clone(), w.grad.clone(), gate.w_gate.grad.clone()]
    for t in (x, w, gate.w_gate):
        t.grad = None
    r = gate(u)
    torch.einsum("bti,boi->bto", x, torch.einsum("bn,noi->boi", r.gates, w)).pow(2).sum().backward()
    for a, t in zip(fast, (x, w, gate.w_gate)):
        assert_close(a, t.grad, atol=1e-4, rtol=1e-4)


def test_moe_apply_with_router_indices_equals_dense_gates():
    """MoELinear hands the router's indices to the dispatch; the same pairs from the gates' non-zeros
    give the same numbers to the bit."""
    from replib.meo import moe_apply
    moe, _, _ = pair(8, 3, bias=True)
    x = torch.randn(6, 4, 12)
    r = moe.gate(x.mean(1))
    assert torch.equal(moe_apply(x, r.gates, moe.weight, moe.bias, r.indices),
                       moe_apply(x, r.gates, moe.weight, moe.bias))


@pytest.mark.parametrize("mode,level", [("meo", "sequence"), ("moe", "sequence"), ("meo", "token"),
                                        ("moe", "token")])
def test_bf16_autocast_forward_backward_match_fp32(mode, level):
    """Under CPU bf16 autocast an MoE FFN (up, GELU, down) runs forward and backward, and agrees with fp32:
    outputs elementwise within rtol = atol = 5e-2 (unit-scale outputs); all gradients (input and every
    parameter, concatenated) within 2% in L2, each tensor's at cosine >= 0.95 to fp32 (TokenAtt's small
    bottleneck gradients pass ReLU sign flips, so a per-tensor relative bound would test bf16, not the code)."""
    torch.manual_seed(0)
    ffn = torch.nn.Sequential(MoELinear(16, 32, 8, 2, mode=mode, level=level), torch.nn.GELU(),
                              MoELinear(32, 16, 8, 2, mode=mode, level=level)).train()
    for lin in (ffn[0], ffn[2]):
        lin.gate.w_gate.data.normal_()
        if lin.token_att is not None:
            lin.token_att.up.weight.data.normal_(0, 0.1)             # make TokenAtt matter
    x = torch.randn(6, 10, 16)
    runs = []
    for autocast in (False, True):
        model, inp = copy.deepcopy(ffn), x.clone().requires_grad_()
        torch.manual_seed(1)                                          # same router noise
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            y = model(inp)
        (y.float().pow(2).mean() + model[0].aux_loss + model[2].aux_loss).backward()
        runs.append((y.float(), [inp.grad] + [p.grad for p in model.parameters() if p.grad is not None]))
    (ref, ref_grads), (y, grads) = runs
    assert_close(y, ref, rtol=5e-2, atol=5e-2)
    assert len(grads) == len(ref_grads)
    for g, r in zip(grads, ref_grads):
        assert g.dtype == r.dtype == torch.float32
        assert torch.nn.functional.cosine_similarity(g.flatten(), r.flatten(), dim=0) >= 0.95
    flat, ref_flat = torch.cat([g.flatten() for g in grads]), torch.cat([r.flatten() for r in ref_grads])
    assert (flat - ref_flat).norm() <= 2e-2 * ref_flat.norm()
