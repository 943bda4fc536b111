"""PAD-Net: partially dynamic conv against per-sample references, mode partition, parameter counts."""
import copy
import math

import pytest
import torch
import torch.nn.functional as F

from replib.padnet import (
    PADConv2d,
    ResNet,
    kappa_schedule,
    mode_partition,
    pad_layers,
    param_count,
    set_temperature,
    temperature,
)
from replib.padnet.partition import apply_threshold, snip_scores


def dy_conv_reference(layer: PADConv2d, x: torch.Tensor) -> torch.Tensor:
    """DY-Conv written per sample: alpha from GAP -> FC1 -> ReLU -> FC2 -> softmax(/tau), then
    W^ = lambda_d M . sum_k alpha_k W_k + lambda_s (1 - M) . W_bar and an ordinary conv."""
    lam_d, lam_s = layer.scales()
    outs = []
    for xi in x:
        g = xi.mean((1, 2))                                                  # GAP
        h = F.relu(layer.fc1.weight.flatten(1) @ g)
        a = torch.softmax((layer.fc2.weight.flatten(1) @ h + layer.fc2.bias) / layer.tau, 0)
        w = sum(a[k] * layer.weight[k] for k in range(layer.K))
        w = lam_d * layer.mask * w + lam_s * (1 - layer.mask) * layer.static_weight
        b = (a @ layer.bias) if layer.bias is not None else None
        outs.append(F.conv2d(xi[None], w, b, layer.stride, layer.padding))
    return torch.cat(outs)


@pytest.mark.parametrize("path", ["grouped", "expand"])
@pytest.mark.parametrize("shape", [(3, 8, 3, 1, 1), (20, 6, 3, 2, 1), (8, 8, 1, 1, 0)])
def test_batched_equals_per_sample(path, shape):
    torch.manual_seed(0)
    cin, cout, k, stride, pad = shape
    layer = PADConv2d(cin, cout, k, stride, pad, bias=True, path=path)
    with torch.no_grad():
        layer.mask.copy_((torch.rand_like(layer.mask) < 0.4).float())
        layer.phi.fill_(0.3)
        layer.bias.normal_()
    layer.tau = 7.0
    x = torch.randn(5, cin, 9, 9)
    torch.testing.assert_close(layer(x), dy_conv_reference(layer, x), rtol=1e-5, atol=1e-5)
    assert layer(x[:1]).shape == (1, cout, *dy_conv_reference(layer, x[:1]).shape[2:])   # batch 1


def test_ratio_one_is_fully_dynamic_and_ratio_zero_is_static():
    torch.manual_seed(1)
    pad = PADConv2d(6, 4, 3, 1, 1)                          # phi = 0: lambda_d = lambda_s = 1
    dyn = PADConv2d(6, 4, 3, 1, 1, lambda_mode="none")
    dyn.load_state_dict(pad.state_dict())
    x = torch.randn(3, 6, 8, 8)
    torch.testing.assert_close(pad(x), dyn(x))               # M = 1 == DY-Conv with the same W_k
    with torch.no_grad():
        pad.mask.zero_()
        pad.phi.fill_(-0.7)
        pad.fc2.bias.normal_()                               # attention changes, output must not
    lam_s = 2 - 2 * torch.sigmoid(torch.tensor(-0.7))
    torch.testing.assert_close(pad(x), F.conv2d(x, lam_s * pad.static_weight, padding=1))


def test_scale_factors_sum_to_two_and_modes():
    layer = PADConv2d(4, 4, 3)
    for phi in (-5.0, -0.2, 0.0, 1.3, 9.0):
        layer.phi.data.fill_(phi)
        lam_d, lam_s = layer.scales()
        assert (lam_d + lam_s).item() == pytest.approx(2.0)
    layer.phi.data.fill_(1.0)
    assert PADConv2d(4, 4, 3, lambda_mode="none").scales()[0].item() == 1.0
    d = PADConv2d(4, 4, 3, lambda_mode="d")
    d.phi.data.fill_(1.0)
    lam_d, lam_s = d.scales()[0].item(), d.scales()[1].item()
    assert lam_s == 1.0 and lam_d == pytest.approx(2 * torch.sigmoid(torch.tensor(1.0)).item())
    with pytest.raises(ValueError, match="valid"):
        PADConv2d(4, 4, 3, lambda_mode="sd")


def test_mask_entry_is_shared_by_all_kernels():
    torch.manual_seed(2)
    layer = PADConv2d(3, 2, 3, 1, 1)
    alpha = torch.softmax(torch.randn(2, layer.K), 1)
    before = layer.kernels(alpha)
    layer.mask[1, 2, 0, 1] = 0.0
    after = layer.kernels(alpha)
    changed = (before != after).any(0)
    assert changed.sum() == 1 and changed[1, 2, 0, 1]
    # with M_j = 0 the entry no longer depends on any of the K dynamic kernels
    layer.weight.data[:, 1, 2, 0, 1] += 5.0
    assert torch.equal(layer.kernels(alpha)[:, 1, 2, 0, 1], after[:, 1, 2, 0, 1])


def test_snip_score_equals_analytic_form():
    """dL/dM_j = sum over samples of (lambda_d W~_j - lambda_s W_bar_j) dL/dW^_j."""
    torch.manual_seed(3)
    layer = PADConv2d(4, 3, 3, 1, 1)
    layer.phi.data.fill_(0.4)
    x, y = torch.randn(6, 4, 7, 7), torch.randn(6, 3, 7, 7)
    loss_fn = F.mse_loss
    auto = snip_scores(layer, [(x, y)], loss_fn)[0]
    lam_d, lam_s = layer.scales()
    analytic = torch.zeros_like(layer.mask)
    alpha = layer.attention(x).detach()
    for i in range(len(x)):                                      # per sample: kernel as a leaf
        agg = (alpha[i] @ layer.weight.flatten(1)).view_as(layer.mask).detach()
        w = (lam_d * layer.mask * agg + lam_s * (1 - layer.mask) * layer.static_weight).detach().requires_grad_()
        out = F.conv2d(x[i:i + 1], w, padding=1)
        full = torch.zeros(6, 3, 7, 7)                            # the sample's share of the batch loss
        full[i] = out[0]
        target = y.clone()
        target[torch.arange(6) != i] = 0
        g, = torch.autograd.grad(F.mse_loss(full, target, reduction="sum") / y.numel(), w)
        analytic += (lam_d * agg - lam_s * layer.static_weight).detach() * g
    torch.testing.assert_close(auto, analytic.abs(), rtol=1e-4, atol=1e-7)
    assert not layer.mask.requires_grad and layer.mask.grad is None


def test_kappa_schedule_matches_spec():
    assert kappa_schedule(0.3, 5) == pytest.approx([0.786, 0.618, 0.486, 0.382, 0.300], abs=1e-3)
    assert kappa_schedule(0.5, 4, "linear") == pytest.approx([0.875, 0.75, 0.625, 0.5])
    assert temperature(0, 10) == 30 and temperature(10, 10) == 1 and temperature(25, 10) == 1
    assert temperature(5, 10) == pytest.approx(15.5)


def test_global_threshold_pools_layers_and_hits_the_target():
    a, b = torch.arange(10.0).view(2, 5), torch.arange(10.0, 40.0)
    ma, mb = apply_threshold([a, b], 0.5)
    assert ma.sum() == 0 and mb.sum() == 20                     # the small layer goes fully static
    la, lb = apply_threshold([a, b], 0.5, scope="local")
    assert la.sum() == 5 and lb.sum() == 15
    assert apply_threshold([a], 1.0)[0].sum() == 10 and apply_threshold([a], 0.0)[0].sum() == 0


@pytest.mark.parametrize("scorer", ["snip", "random"])
def test_mode_partition_density_and_param_count(scorer):
    torch.manual_seed(4)
    net = ResNet(in_ch=1, width=8, kind="pad")
    batches = [(torch.randn(8, 1, 12, 12), torch.randint(0, 10, (8,))) for _ in range(2)]
    kappas = mode_partition(net, batches, F.cross_entropy, 0.3, rounds=3, scorer=scorer)
    assert kappas[-1] == pytest.approx(0.3)
    layers = pad_layers(net)
    n = sum(m.mask.numel() for m in layers)
    dyn = sum(m.mask.sum().item() for m in layers)
    assert abs(dyn / n - 0.3) <= 1 / n + 1e-9
    counted = sum(m.intrinsic_parameters() for m in layers)
    assert counted == pytest.approx(param_count(n, 4, dyn / n))
    # "counting the module's real parameters": K kernels where the mask is 1, the static one elsewhere
    real = sum(int((m.weight * m.mask).ne(0).sum()) + int((m.static_weight * (1 - m.mask)).ne(0).sum())
               for m in layers)
    assert real == pytest.approx(param_count(n, 4, dyn / n))
    from replib.padnet.conv import counted_parameters
    assert counted_parameters(net) == real                     # what the experiment stores as counted_params
    static = ResNet(in_ch=1, width=8, kind="static")
    w = sum(p.numel() for name, p in static.named_parameters() if name.startswith("layers") and p.dim() == 4)
    assert w == n and abs(counted_parameters(net) - param_count(w, 4, 0.3)) <= 3   # one entry of rounding
    assert counted_parameters(ResNet(in_ch=1, width=8, kind="dynamic")) == 4 * w


def test_param_count_examples():
    assert param_count(100, 4, 0.3) == pytest.approx(190.0)        # 1.9 |W|, 47.5% of fully dynamic
    assert param_count(100, 4, 1.0) == 400 and param_count(100, 4, 0.0) == 100
    assert param_count(100, 8, 0.5) == pytest.approx(450.0)        # MoE example, n = 8
    with pytest.raises(ValueError):
        param_count(10, 4, 1.5)


def test_loss_goes_down_and_temperature_is_set():
    torch.manual_seed(5)
    net = ResNet(in_ch=1, width=8, kind="pad")
    set_temperature(net, 30.0)
    assert all(m.tau == 30.0 for m in pad_layers(net))
    x, y = torch.randn(32, 1, 12, 12), torch.randint(0, 10, (32,))
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    first = F.cross_entropy(net(x), y).item()
    for _ in range(40):
        loss = F.cross_entropy(net(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.3 * first
    assert math.isfinite(net.layers[0].c1.phi.item())


# ---- PAD MoE (SingleExpert_Pad) -------------------------------------------------------------------------
def moe_reference(layer, x, g, idx):
    """Token by token: y_t = sum over its top-k experts of G (W_i^eff x_t + b_i)."""
    w = layer.expert_weights()
    return torch.stack([sum(g[t, j] * (w[idx[t, j]] @ x[t] + layer.bias[idx[t, j]]) for j in range(layer.top_k))
                        for t in range(len(x))])


def test_moe_dispatch_equals_per_token_loop_and_upcycling():
    from replib.padnet import PadMoELinear
    torch.manual_seed(6)
    layer = PadMoELinear(6, 5, n_experts=4, top_k=2)
    with torch.no_grad():
        layer.w_gate.normal_()
        layer.mask.copy_((torch.rand_like(layer.mask) < 0.5).float())
        layer.phi.fill_(0.2)
        layer.bias.normal_()
    layer.eval()
    x = torch.randn(3, 7, 6)
    g, idx = layer.gates(x.reshape(-1, 6))
    torch.testing.assert_close(layer(x).reshape(-1, 5), moe_reference(layer, x.reshape(-1, 6), g, idx))
    assert torch.allclose(g.sum(-1), torch.ones(21)) and layer.aux_loss >= 0
    dense = torch.nn.Linear(6, 5)
    up = PadMoELinear.upcycle(dense, 8, 2).eval()
    with torch.no_grad():
        up.w_gate.normal_()
    torch.testing.assert_close(up(x), dense(x))                   # step 0 computes the dense layer


def test_moe_mask_limits():
    from replib.padnet import PadMoELinear
    torch.manual_seed(7)
    layer = PadMoELinear(4, 3, n_experts=3, top_k=1)
    torch.testing.assert_close(layer.expert_weights(), layer.weight)      # M = 1, lambda = 1: plain experts
    layer.mask.zero_()
    w = layer.expert_weights()
    assert torch.equal(w[0], w[1]) and torch.equal(w[1], w[2])           # M = 0: all share W_s
    released = PadMoELinear(4, 3, n_experts=3, top_k=1, variant="released")
    released.mask.zero_()
    torch.testing.assert_close(released.expert_weights(), released.weight + released.static_weight)
    layer.mask[0, :2] = 1.0
    assert layer.intrinsic_parameters() == pytest.approx(param_count(12, 3, 2 / 12))


def test_mode_partition_on_moe_layers():
    from replib.padnet import PadMoELinear
    torch.manual_seed(8)
    net = torch.nn.Sequential(PadMoELinear(6, 8, 4, 2), torch.nn.ReLU(), PadMoELinear(8, 3, 4, 2))
    batches = [(torch.randn(16, 6), torch.randint(0, 3, (16,)))]
    mode_partition(net, batches, F.cross_entropy, 0.5, rounds=2)
    n = sum(m.mask.numel() for m in pad_layers(net))
    assert abs(sum(m.mask.sum().item() for m in pad_layers(net)) / n - 0.5) <= 1 / n


@pytest.mark.parametrize("train", [False, True])
def test_moe_bf16_autocast_forward_backward_match_fp32(train):
    """PAD MoE under CPU bf16 autocast: forward and backward run (the expert outputs are cast to the
    accumulator's dtype), outputs within rtol = atol = 5e-2 of fp32, every gradient within 2% (L2)."""
    from replib.padnet import PadMoELinear
    torch.manual_seed(9)
    layer = PadMoELinear(16, 12, 8, 2).train(train)
    with torch.no_grad():
        layer.w_gate.normal_()
        layer.mask.copy_((torch.rand_like(layer.mask) < 0.5).float())
        layer.phi.fill_(0.2)
    x = torch.randn(4, 9, 16)
    runs = []
    for autocast in (False, True):
        m, inp = copy.deepcopy(layer), x.clone().requires_grad_()
        torch.manual_seed(1)                                          # same gate noise
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            y = m(inp)
        (y.float().pow(2).mean() + m.aux_loss).backward()
        runs.append((y, [inp.grad] + [p.grad for p in m.parameters() if p.grad is not None]))
    (ref, ref_grads), (y, grads) = runs
    assert y.dtype == torch.float32
    torch.testing.assert_close(y, ref, rtol=5e-2, atol=5e-2)
    assert len(grads) == len(ref_grads) == (7 if train else 6)        # x, W_i, b_i, W_s, phi, W_g (, W_noise)
    for g, r in zip(grads, ref_grads):
        assert (g - r).norm() <= 2e-2 * r.norm() + 1e-6
