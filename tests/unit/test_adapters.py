"""Shared adapters (replib.nn.adapters): the official adapter formula, Houlsby/Pfeiffer placement inside HF
BERT blocks against literal layer code, identity at step 0, LoRA via peft, masks (forward, gradients, storage)."""
import copy

import pytest
import torch
import torch.nn.functional as F
from torch.testing import assert_close
from transformers import BertConfig, BertModel

from replib.nn.adapters import (
    BottleneckAdapter,
    add_masks,
    insert_adapters,
    insert_lora,
    masked_modules,
    masks_of,
    set_masks,
    stored_weights,
)


def tiny_bert(seed=0, layers=2, d=16):
    torch.manual_seed(seed)
    cfg = BertConfig(vocab_size=50, hidden_size=d, num_hidden_layers=layers, num_attention_heads=2,
                     intermediate_size=2 * d, max_position_embeddings=32)
    return BertModel(cfg).eval()


def inputs(b=3, t=7, seed=1):
    g = torch.Generator().manual_seed(seed)
    mask = torch.ones(b, t, dtype=torch.long)
    mask[0, 5:] = 0                                                            # one padded row
    return {"input_ids": torch.randint(0, 50, (b, t), generator=g), "attention_mask": mask}


def randomise(adapters, std=0.3):
    with torch.no_grad():
        for a in adapters:
            for p in a.parameters():
                p.normal_(0.0, std) if p.ndim == 2 else p.uniform_(-0.2, 0.2)
            if a.ln is not None:
                a.ln.weight.add_(1.0)


def literal_adapter(a, h, residual=None):
    """The official Adapter_Layer.forward with layernorm option 'in', written out."""
    x = F.layer_norm(h, h.shape[-1:], a.ln.weight, a.ln.bias, a.ln.eps) if a.ln is not None else h
    down = torch.relu(x @ a.down.weight.T + a.down.bias)
    up = (down @ a.up.weight.T + a.up.bias) * a.scale
    return up + (h if residual is None else residual)


def test_adapter_forward_is_the_official_formula():
    torch.manual_seed(0)
    for ln in (True, False):
        a = BottleneckAdapter(12, 3, layer_norm=ln, scale=0.5).eval()
        randomise([a])
        h, r = torch.randn(2, 5, 12), torch.randn(2, 5, 12)
        assert_close(a(h), literal_adapter(a, h))
        assert_close(a(h, residual=r), literal_adapter(a, h, r))
    assert a.down.weight.shape == (3, 12) and a.up.weight.shape == (12, 3)


def test_inits():
    torch.manual_seed(0)
    a = BottleneckAdapter(256, 64, init="bert")
    for lin in (a.down, a.up):
        assert abs(lin.weight.std().item() - 0.02) < 1e-3 and torch.equal(lin.bias, torch.zeros_like(lin.bias))
    assert torch.equal(a.ln.weight, torch.ones(256)) and torch.equal(a.ln.bias, torch.zeros(256))
    b = BottleneckAdapter(256, 64, init="lora").eval()
    assert b.down.weight.abs().max() > 0.05                                     # kaiming, not N(0, 0.02)
    assert torch.equal(b.up.weight, torch.zeros(256, 64)) and torch.equal(b.up.bias, torch.zeros(256))
    h = torch.randn(4, 9, 256)
    assert torch.equal(b(h), h)                                                 # identity at step 0, exactly


def test_bad_parameters_name_the_valid_values():
    with pytest.raises(ValueError, match="bert, lora"):
        BottleneckAdapter(8, 2, init="xavier")
    with pytest.raises(ValueError, match="bottleneck >= 1"):
        BottleneckAdapter(8, 0)
    with pytest.raises(ValueError, match="houlsby, pfeiffer"):
        insert_adapters(tiny_bert(), bottleneck=2, placement="parallel")
    with pytest.raises(ValueError, match="out of range"):
        insert_adapters(tiny_bert(), bottleneck=2, layers=[5])
    with pytest.raises(ValueError, match="encoder.layer"):
        insert_adapters(torch.nn.Linear(3, 3), bottleneck=2)
    with pytest.raises(ValueError, match="no adapter"):
        add_masks(tiny_bert())


@pytest.mark.parametrize("kind", ["houlsby", "pfeiffer", "lora"])
def test_zero_init_up_projection_leaves_the_encoder_exactly_unchanged(kind):
    bert = tiny_bert()
    x = inputs()
    ref = bert(**x).last_hidden_state
    enc = copy.deepcopy(bert)
    if kind == "lora":
        found = insert_lora(enc, r=4)                                           # peft: B = 0
        assert len(found) == 4
    else:
        found = insert_adapters(enc, bottleneck=4, placement=kind, init="lora")
        assert len(found) == (4 if kind == "houlsby" else 2)
    add_masks(enc)
    assert torch.equal(enc(**x).last_hidden_state, ref)
    trainable = [n for n, p in enc.named_parameters() if p.requires_grad]
    assert trainable and all(("adapter" in n or "lora_" in n) for n in trainable)   # backbone frozen


def test_zero_init_adapters_on_minilm_equal_the_frozen_encoder():
    from replib.assets import load_encoder
    bert, tok = load_encoder("minilm-l6")
    bert.eval()
    x = tok(["a sentence to encode", "and another, longer one with more tokens"], padding=True, return_tensors="pt")
    ref = bert(**x).last_hidden_state
    insert_adapters(bert, bottleneck=8, init="lora")
    add_masks(bert)
    assert len(masked_modules(bert)) == 6 * 2 * 2
    assert torch.equal(bert(**x).last_hidden_state, ref)


class Half(torch.nn.Module):
    """Deterministic stand-in for a dropout module, so that the adapter's side of the dropout shows in eval."""

    def forward(self, x):
        return 0.5 * x


def literal_block(block, h, adapters, placement):
    """One BERT layer with the official adapter positions written out (modeling_roberta.py of the repo); the
    hidden dropouts are Half()."""
    att = block.attention
    ctx = att.self(h)[0]
    dense = att.output.dense.inner if placement == "houlsby" else att.output.dense
    o = ctx @ dense.weight.T + dense.bias
    if placement == "houlsby":
        o = literal_adapter(adapters[0], o)                                    # after dense, before dropout
    h1 = att.output.LayerNorm(0.5 * o + h)
    inter = F.gelu(block.intermediate.dense(h1))
    f = 0.5 * (inter @ block.output.dense.weight.T + block.output.dense.bias)  # dense, then dropout
    if placement == "houlsby":
        return block.output.LayerNorm(literal_adapter(adapters[1], f) + h1)    # then adapter, then LN
    ln2 = block.output.LayerNorm.norm
    hs = ln2(f + h1)                                                           # official 'pfeiffer' branch
    hs = literal_adapter(adapters[0], hs, residual=f)
    return ln2(hs + h1)


@pytest.mark.parametrize("placement", ["houlsby", "pfeiffer"])
def test_placement_matches_the_official_layer_code(placement):
    bert = tiny_bert(layers=1)
    block = bert.encoder.layer[0]
    block.attention.output.dropout, block.output.dropout = Half(), Half()
    adapters = insert_adapters(bert, bottleneck=3, placement=placement)
    randomise(adapters)
    bert.eval()                                                                 # new modules start in train mode
    h = torch.randn(2, 6, 16)
    assert_close(block(h), literal_block(block, h, adapters, placement))


def test_adapters_only_in_chosen_layers_and_dropout_default():
    bert = tiny_bert(layers=3)
    adapters = insert_adapters(bert, bottleneck=2, layers=[2])
    assert len(adapters) == 2 and adapters[0].dropout.p == bert.config.hidden_dropout_prob
    assert all(".layer.2." in k for k in add_masks(bert))


def masked_model(kind="houlsby", seed=0, masks=True):
    bert = tiny_bert()
    if kind == "lora":
        insert_lora(bert, r=3, init="bert")
    else:
        randomise(insert_adapters(bert, bottleneck=3, placement=kind))
    bert.eval()
    if not masks:
        return bert
    add_masks(bert)
    g = torch.Generator().manual_seed(seed)
    set_masks(bert, {k: torch.rand(m.shape, generator=g) < 0.5 for k, m in masks_of(bert).items()})
    return bert


@pytest.mark.parametrize("kind", ["houlsby", "pfeiffer", "lora"])
def test_masks_forward_gradient_and_storage(kind):
    model = masked_model(kind)
    x = inputs()
    masks, stored = masks_of(model), stored_weights(model)
    before = {k: w.detach().clone() for k, w in stored.items()}
    # forward == the same model built without masks, its weights explicitly zeroed
    plain = masked_model(kind, masks=False)
    sd = {k.replace(".parametrizations.weight.original", ".weight"): v for k, v in model.state_dict().items()
          if ".parametrizations.weight.0.mask" not in k}
    sd.update({k: stored[k].detach() * masks[k] for k in masks})
    plain.load_state_dict(sd)
    assert_close(model(**x).last_hidden_state, plain(**x).last_hidden_state, atol=1e-6, rtol=0)
    # masked entries: exactly zero gradient, stored value unchanged by AdamW (no weight decay)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2, weight_decay=0.0)
    for _ in range(3):
        opt.zero_grad()
        model(**x).last_hidden_state.pow(2).mean().backward()
        for k, w in stored.items():
            assert torch.equal(w.grad[masks[k] == 0], torch.zeros_like(w.grad[masks[k] == 0]))
        opt.step()
    for k, w in stored.items():
        off = masks[k] == 0
        assert torch.equal(w[off], before[k][off]) and not torch.equal(w[~off], before[k][~off])
    # weights only: no bias, no LayerNorm carries a mask
    assert all(k.endswith(("down.weight", "up.weight", "lora_A.default.weight", "lora_B.default.weight"))
               for k in masks)
    n_masked = sum(m.numel() for m in masks.values())
    n_adapter = sum(p.numel() for n, p in model.named_parameters() if p.requires_grad)
    assert n_adapter > n_masked if kind != "lora" else n_adapter == n_masked


def test_lora_forward_is_literal():
    model = masked_model("lora")
    q = model.encoder.layer[0].attention.self.query
    A = q.lora_A["default"].parametrizations.weight
    B = q.lora_B["default"].parametrizations.weight
    x = torch.randn(2, 5, 16)
    ref = q.base_layer(x) + x @ (A.original * A[0].mask).T @ (B.original * B[0].mask).T * (32.0 / 3)
    assert_close(q(x), ref)


@pytest.mark.parametrize("kind", ["houlsby", "pfeiffer", "lora"])
def test_training_step_under_cpu_bf16_autocast(kind):
    model = masked_model(kind).train()
    x = inputs()
    masks, stored = masks_of(model), stored_weights(model)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = model(**x).last_hidden_state.float().pow(2).mean()
    loss.backward()
    assert torch.isfinite(loss)
    for k, w in stored.items():
        assert w.grad is not None and w.grad.dtype == torch.float32
        assert torch.equal(w.grad[masks[k] == 0], torch.zeros_like(w.grad[masks[k] == 0]))
        assert w.grad[masks[k] == 1].abs().sum() > 0


def test_set_masks_checks_keys_and_shapes():
    model = masked_model()
    masks = {k: m.bool() for k, m in masks_of(model).items()}
    k0 = next(iter(masks))
    with pytest.raises(ValueError, match="missing"):
        set_masks(model, {k: v for k, v in masks.items() if k != k0})
    with pytest.raises(ValueError, match="shape"):
        set_masks(model, {**masks, k0: masks[k0].T})
    copy.deepcopy(model)                                                        # masked models can be copied
