"""replib.nn.moe: the shared gate, balance loss, dispatch and upcycling (used by meo and padnet)."""
import pytest
import torch
import torch.nn.functional as F
from torch.testing import assert_close
from torch.utils._python_dispatch import TorchDispatchMode

from replib.nn.moe import NoisyTopKGate, cv_squared, expert_counts, mix_experts, mix_top_k, upcycle_weights

BF16 = dict(device_type="cpu", dtype=torch.bfloat16)


def routed(R=9, T=5, d=6, o=4, n=5, k=2, seed=0):
    """x (R, T, d), experts (n, o, d) and biases, a top-k routing (indices distinct per row) with its gates."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(R, T, d, generator=g)
    w, b = torch.randn(n, o, d, generator=g), torch.randn(n, o, generator=g)
    idx = torch.rand(R, n, generator=g).argsort(1)[:, :k]
    gate = torch.softmax(torch.randn(R, k, generator=g), 1)
    return x, w, b, idx, gate


def per_unit_loop(x, w, b, idx, gate):
    """Literal reference: for every unit r, sum over its slots j of G_rj (W_{idx_rj} x_r + b_{idx_rj})."""
    return torch.stack([sum(gate[r, j] * (x[r] @ w[idx[r, j]].T + b[idx[r, j]]) for j in range(idx.shape[1]))
                        for r in range(x.shape[0])])


def per_expert_nonzero_loop(x, w, b, idx, gate):
    """The dispatch both papers had before: one nonzero() and one index_add_ per expert."""
    y = x.new_zeros(*x.shape[:-1], w.shape[1])
    for e in range(w.shape[0]):
        rows, slot = (idx == e).nonzero(as_tuple=True)
        if len(rows):
            out = x.index_select(0, rows) @ w[e].T + b[e]
            y.index_add_(0, rows, out * gate[rows, slot].view(-1, *[1] * (out.dim() - 1)))
    return y


def fast(x, w, b, idx, gate):
    return mix_top_k(x, idx, gate, lambda e, xe: xe @ w[e].T + b[e], n_experts=w.shape[0], out_features=w.shape[1])


@pytest.mark.parametrize("k,tokens", [(1, False), (2, False), (5, False), (2, True)])
def test_mix_experts_equals_per_unit_loop(k, tokens):
    x, w, b, idx, gate = routed(k=k)
    if tokens:
        x = x[:, 0]                                                   # (R, d): one token per unit
    assert_close(fast(x, w, b, idx, gate), per_unit_loop(x, w, b, idx, gate), atol=1e-5, rtol=1e-5)
    # the same pairs given as (unit, expert) lists, e.g. the non-zeros of dense gates
    dense = torch.zeros(x.shape[0], w.shape[0]).scatter(1, idx, gate)
    units, experts = dense.nonzero(as_tuple=True)
    y = mix_experts(x, units, experts, dense[units, experts], lambda e, xe: xe @ w[e].T + b[e], n_experts=5,
                    out_features=4)
    assert_close(y, per_unit_loop(x, w, b, idx, gate), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("k", [1, 2, 3])
def test_mix_experts_bitwise_equals_the_per_expert_nonzero_dispatch(k):
    """Forward and every gradient equal the old dispatch to the bit (fp32, CPU): the figures cannot move."""
    results = []
    for fn in (per_expert_nonzero_loop, fast):
        x, w, b, idx, gate = routed(R=33, T=3, d=16, o=12, n=8, k=k, seed=k)
        leaves = [t.requires_grad_() for t in (x, w, b, gate)]
        y = fn(x, w, b, idx, gate)
        y.pow(2).sum().backward()
        results.append([y.detach()] + [t.grad for t in leaves])
    for old, new in zip(*results):
        assert torch.equal(old, new)


class OpCounter(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.ops = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.ops.append(func.overloadpacket.__name__)
        return func(*args, **(kwargs or {}))


def test_dispatch_is_one_sort_and_one_count_without_nonzero():
    x, w, b, idx, gate = routed(R=40, n=8, k=2)
    flat = idx.flatten()
    assert torch.equal(expert_counts(flat, 8), torch.bincount(flat, minlength=8))
    with OpCounter() as counter:
        fast(x, w, b, idx, gate)
    ops = counter.ops                     # the split sizes are read with one tolist(), not an aten op
    assert "nonzero" not in ops and "unique" not in " ".join(ops) and "_local_scalar_dense" not in ops
    assert ops.count("sort") == 1 and "bincount" not in ops       # the count is a device-side index_add_
    used = len(idx.unique())
    assert ops.count("mm") == used and ops.count("index_add_") == used + 1      # one matmul per used expert


def test_gate_zero_init_and_count_load():
    gate = NoisyTopKGate(6, 5, 2, load="count")
    assert not gate.w_gate.any() and not gate.w_noise.any()
    r = gate.eval()(torch.randn(7, 6))                                # zero W_g, no noise: every gate 1/k
    assert_close(r.weights, torch.full((7, 2), 0.5))
    gate.w_gate.data.normal_()
    r = gate.train()(torch.randn(50, 6))
    assert_close(r.gates.gather(1, r.indices), r.weights)
    importance = r.gates.sum(0)                                       # sum_batch G_i
    load = torch.stack([(r.indices == i).sum() for i in range(5)]).float()   # units routed to expert i
    assert_close(r.aux_loss, 0.01 * (cv_squared(importance) + cv_squared(load)))
    with pytest.raises(ValueError, match="smooth, count"):
        NoisyTopKGate(6, 5, 2, load="soft")


@pytest.mark.parametrize("load", ["smooth", "count"])
def test_gate_runs_in_fp32_under_autocast(load):
    """A bf16 router would pick other experts than the fp32 one; under autocast it computes the fp32 routing."""
    torch.manual_seed(0)
    gate = NoisyTopKGate(16, 8, 2, load=load)
    gate.w_gate.data.normal_()
    gate.w_noise.data.normal_()
    u = torch.randn(64, 16)
    for train in (False, True):
        gate.train(train)
        torch.manual_seed(1)                                          # same noise in both runs
        ref = gate(u)
        torch.manual_seed(1)
        with torch.autocast(**BF16):
            r = gate(u)
            assert gate(u.bfloat16()).gates.dtype == torch.float32
        assert torch.equal(r.gates, ref.gates) and torch.equal(r.aux_loss, ref.aux_loss)


def test_mix_experts_under_bf16_autocast_accumulates_in_the_input_dtype():
    x, w, b, idx, gate = routed(R=20, T=4, d=16, o=12, n=8, k=2)
    leaves = [t.requires_grad_() for t in (x, w)]
    with torch.autocast(**BF16):
        y = mix_top_k(x, idx, gate, lambda e, xe: F.linear(xe, w[e], b[e]), n_experts=8, out_features=12)
    assert y.dtype == torch.float32
    y.pow(2).sum().backward()
    grads = [t.grad.clone() for t in leaves]
    for t in leaves:
        t.grad = None
    ref = fast(x, w, b, idx, gate)
    ref.pow(2).sum().backward()
    assert_close(y, ref, rtol=5e-2, atol=5e-2)
    for g, t in zip(grads, leaves):
        assert (g - t.grad).norm() / t.grad.norm() < 2e-2


def test_upcycle_weights_copies_the_dense_linear_into_every_expert():
    dense = torch.nn.Linear(6, 4)
    w, b = torch.zeros(3, 4, 6), torch.zeros(3, 4)
    upcycle_weights(dense, w, b)
    assert all(torch.equal(w[i], dense.weight) and torch.equal(b[i], dense.bias) for i in range(3))
    no_bias = torch.nn.Linear(6, 4, bias=False)
    upcycle_weights(no_bias, w, b)                                    # bias left as it is
    assert torch.equal(w[2], no_bias.weight) and torch.equal(b[0], dense.bias)


@pytest.mark.gpu
def test_moe_paths_on_cuda_match_cpu_fp32_and_run_under_bf16_autocast():
    """MEO (sync-free merge basis), vanilla MoE and PAD MoE on CUDA equal the CPU fp32 numbers (eval: no
    router noise; tolerance allows TF32), and under bf16 autocast run forward and backward within 5e-2."""
    import copy

    from replib.meo.layers import ffn_pair
    from replib.padnet import PadMoELinear
    moe, meo = ffn_pair(32, 64, 8, 2, torch.Generator().manual_seed(0))
    pad = PadMoELinear(32, 16, 8, 2)
    pad.w_gate.data.normal_()
    x = torch.randn(6, 10, 32)
    for module in (moe, meo, pad):
        ref = module.eval()(x)
        cuda = copy.deepcopy(module).cuda()
        assert_close(cuda(x.cuda()).float().cpu(), ref, atol=5e-3, rtol=5e-3)
        with torch.autocast("cuda", dtype=torch.bfloat16):
            y = cuda(x.cuda())
        y.float().pow(2).mean().backward()
        assert_close(y.float().cpu(), ref, atol=5e-2, rtol=5e-2)
        assert all(p.grad is None or torch.isfinite(p.grad).all() for p in cuda.parameters())
