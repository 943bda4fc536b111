"""Mixed precision (issue 11 item 1): the GLUE fine-tune step, the SFT step and one SAC update run under CPU
bf16 autocast through ``replib.runtime.autocast`` (forward and backward, close to fp32), and the IFD score
cache keys on device type and precision.

Tolerances: bf16 keeps 8 mantissa bits (relative rounding 2^-8 = 0.4 % per op); a loss of a few small layers
stays within 2 % of fp32, a gradient within 10 % in norm (gradients of near-cancelling sums lose more).
"""
import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from replib import runtime

BF16_LOSS_RTOL = 2e-2
BF16_GRAD_RTOL = 1e-1


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.float() - b.float()).norm() / b.float().norm().clamp_min(1e-12))


def grads(module) -> list[torch.Tensor]:
    return [p.grad.detach().clone() for p in module.parameters() if p.grad is not None]


def record_dtypes(module) -> list:
    """Output dtypes of every nn.Linear in `module`, appended as forwards run."""
    seen = []
    for m in module.modules():
        if isinstance(m, torch.nn.Linear):
            m.register_forward_hook(lambda _m, _i, out: seen.append(out.dtype))
    return seen


# ----------------------------------------------------------------------------- GLUE fine-tune step
@pytest.fixture(scope="module")
def glue_setup():
    from replib.nn.glue import PooledClassifier, TaskData, load_encoder

    torch.manual_seed(0)
    bert, _ = load_encoder("tiny")                     # the smoke profiles' random 2-layer BERT
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(1000, 2000, (64, 12), generator=g)
    mask = torch.ones_like(ids)
    mask[::3, 8:] = 0                                                     # some padded rows
    split = {"input_ids": ids, "attention_mask": mask, "token_type_ids": torch.zeros_like(ids),
             "labels": (ids[:, 0] < 1500).long()}
    data = TaskData("toy", 2, split, {k: v[:32] for k, v in split.items()})
    return PooledClassifier(bert, 2).eval(), data


def test_glue_step_under_cpu_bf16_autocast_matches_fp32(glue_setup):
    """One forward + backward of the tiny-BERT classifier: loss within 2 %, gradients within 10 % of fp32."""
    from replib.nn.glue import batch_inputs

    model, data = glue_setup
    idx = torch.arange(16)
    out = {}
    for precision in ("fp32", "bf16"):
        m = copy.deepcopy(model)
        seen = record_dtypes(m)
        with runtime.autocast("cpu", precision):
            loss = F.cross_entropy(m(**batch_inputs(data.train, idx, "cpu")).float(), data.train["labels"][idx])
        loss.backward()
        out[precision] = loss.detach(), grads(m), set(seen)
    (l32, g32, d32), (l16, g16, d16) = out["fp32"], out["bf16"]
    assert d32 == {torch.float32} and d16 == {torch.bfloat16}                  # autocast really engaged
    assert torch.isfinite(l16) and abs(float(l16 - l32)) <= BF16_LOSS_RTOL * float(l32)
    assert len(g16) == len(g32) and all(g.dtype == torch.float32 for g in g16)   # fp32 parameters and grads
    assert rel(torch.cat([g.flatten() for g in g16]), torch.cat([g.flatten() for g in g32])) < BF16_GRAD_RTOL


def test_glue_finetune_precision_keyword(glue_setup):
    """nn.glue.finetune(precision='bf16') trains and evaluates under bf16 autocast on CPU; its loss stays
    finite and close to the fp32 run; 'auto' on CPU is exactly fp32; a bad precision raises ValueError."""
    from types import SimpleNamespace

    from replib.nn.glue import finetune

    model, data = glue_setup
    cfg = SimpleNamespace(epochs=1, batch_size=16, lr=1e-3, head_lr=1e-3, weight_decay=0.0)
    runs = {}
    for precision in ("fp32", "auto", "bf16"):
        m = copy.deepcopy(model)
        seen = record_dtypes(m)
        torch.manual_seed(0)                                                   # the same dropout masks
        runs[precision] = finetune(m, data, cfg, seed=0, device="cpu", precision=precision), set(seen)
    assert runs["fp32"] == runs["auto"]                                         # CPU 'auto' = fp32, bit for bit
    out16, seen16 = runs["bf16"]
    assert seen16 == {torch.bfloat16} and np.isfinite([out16["loss_first"], out16["loss_last"]]).all()
    assert abs(out16["loss_first"] - runs["fp32"][0]["loss_first"]) <= BF16_LOSS_RTOL * runs["fp32"][0]["loss_first"]
    assert 0.0 <= out16["acc"] <= 1.0 and out16["steps"] == runs["fp32"][0]["steps"]
    with pytest.raises(ValueError, match="precision='fp16'"):
        finetune(copy.deepcopy(model), data, cfg, seed=0, device="cpu", precision="fp16")


# ----------------------------------------------------------------------------- SFT step
SAMPLES = [
    {"instruction": "Name a colour.", "input": "", "output": "Blue is a colour of the sky."},
    {"instruction": "Add the numbers.", "input": "2 and 3", "output": "The sum is 5."},
    {"instruction": "Write a haiku about rain.", "input": "", "output": "Soft rain on the roof\nthe garden drinks"},
    {"instruction": "Say yes.", "input": "", "output": "Yes, certainly."},
]


def test_sft_step_under_cpu_bf16_autocast_matches_fp32():
    """lm.sft.finetune on the tiny LM: the bf16 run's first-step loss (same weights, same batch) is within
    2 % of fp32, every step's loss is finite, the decoder ran in bf16 and the weights stayed fp32."""
    from replib.lm.models import load_lm
    from replib.lm.sft import finetune

    losses, seen = {}, {}
    for precision in ("fp32", "auto", "bf16"):
        model, tok = load_lm("tiny-smollm2")
        rec = record_dtypes(model.base_model)
        torch.manual_seed(0)
        losses[precision] = finetune(model, tok, SAMPLES, epochs=2, batch_size=2, lr=1e-3, max_length=64,
                                     progress=False, precision=precision)
        seen[precision] = set(rec)
        assert all(p.dtype == torch.float32 for p in model.parameters())
    assert losses["auto"] == losses["fp32"]
    assert seen["fp32"] == {torch.float32} and seen["bf16"] == {torch.bfloat16}
    assert np.isfinite(losses["bf16"]).all() and len(losses["bf16"]) == len(losses["fp32"]) == 4
    assert abs(losses["bf16"][0] - losses["fp32"][0]) <= BF16_LOSS_RTOL * losses["fp32"][0]


def test_token_nll_precision_keyword_and_the_older_autocast_keyword():
    """Scorers take precision='auto'|'fp32'|'bf16' (resolved on the device at call time) and still accept the
    older autocast=True/False: bf16 equals autocast=True exactly, CPU 'auto' equals fp32 exactly, and bf16
    NLL sums stay within 2 % of fp32."""
    from replib.lm.models import load_lm
    from replib.lm.nll import precision_of, token_nll

    assert precision_of("auto", None) == "auto" and precision_of(None, None) == "auto"   # CUDA resolves later
    assert precision_of(None, True) == "bf16" and precision_of(None, False) == "fp32"
    assert precision_of("fp32", True) == "fp32"                                         # precision wins
    with pytest.raises(ValueError, match="valid: auto, fp32, bf16"):
        precision_of("fp16", None)
    model, tok = load_lm("tiny-smollm2")
    ids = [x for x in tok([s["instruction"] + " " + s["output"] for s in SAMPLES])["input_ids"]]
    run = {name: token_nll(model, ids, [2] * len(ids), progress=False, **kw).total
           for name, kw in {"fp32": {"precision": "fp32"}, "auto": {}, "old_off": {"autocast": False},
                            "bf16": {"precision": "bf16"}, "old_on": {"autocast": True}}.items()}
    assert np.array_equal(run["fp32"], run["auto"]) and np.array_equal(run["fp32"], run["old_off"])
    assert np.array_equal(run["bf16"], run["old_on"]) and not np.array_equal(run["bf16"], run["fp32"])
    np.testing.assert_allclose(run["bf16"], run["fp32"], rtol=BF16_LOSS_RTOL)


# ----------------------------------------------------------------------------- SAC update
def sac_batch(S=2, B=32, o=5, a=2, seed=3):
    g = torch.Generator().manual_seed(seed)
    return {"obs": torch.randn(S, B, o, generator=g), "act": torch.rand(S, B, a, generator=g) * 2 - 1,
            "rew": torch.randn(S, B, generator=g), "next_obs": torch.randn(S, B, o, generator=g),
            "not_done": torch.ones(S, B)}


def test_sac_update_under_cpu_bf16_autocast_matches_fp32():
    """One rl.sac update (critic, then actor + alpha + targets on the second) with precision='bf16': forward
    and backward run, Q values come back fp32, statistics within 2 % and critic / actor gradients within
    10 % of the fp32 agent built from the same seeds; 'auto' on CPU reproduces fp32 exactly."""
    from replib.rl.sac import SACConfig, SACEnsemble

    cfg = SACConfig(hidden=32, batch_size=32)
    batch = sac_batch()
    agents, stats = {}, {}
    for precision in ("fp32", "auto", "bf16"):
        agent = SACEnsemble(5, 2, [0, 1], cfg, precision=precision)
        assert agent.q_values(batch["obs"], batch["act"]).dtype == torch.float32
        stats[precision] = [agent.update(batch), agent.update(batch)]      # second update also steps the actor
        agents[precision] = agent
    for a, b in zip(stats["auto"], stats["fp32"]):
        assert all(torch.equal(a[k], b[k]) for k in a)
    assert agents["bf16"].precision == "bf16" and agents["fp32"].precision == "fp32"
    for s16, s32 in zip(stats["bf16"], stats["fp32"]):
        assert all(torch.isfinite(v).all() for v in s16.values())
        assert rel(s16["q_mean"], s32["q_mean"]) < BF16_LOSS_RTOL and rel(s16["td_var"], s32["td_var"]) < BF16_LOSS_RTOL
    for net in ("critic", "actor"):
        g16 = torch.cat([g.flatten() for g in grads(getattr(agents["bf16"], net))])
        g32 = torch.cat([g.flatten() for g in grads(getattr(agents["fp32"], net))])
        assert rel(g16, g32) < BF16_GRAD_RTOL, net
    assert all(p.dtype == torch.float32 for p in agents["bf16"].critic.parameters())


# ----------------------------------------------------------------------------- IFD score cache key
def test_ifd_cache_key_includes_device_type_and_precision(tmp_path, monkeypatch):
    """A bf16 request does not reuse fp32 scores (and vice versa), 'auto' on CPU is the fp32 entry, and the
    key of the same request on another device type is another file."""
    from replib.lm import cache
    from replib.lm.models import load_lm

    tiny = load_lm("tiny-smollm2")                     # before the cache moves: its tokenizer conversion is cached
    monkeypatch.setenv("REPLIB_CACHE", str(tmp_path))
    kw = {"style": "superfiltering", "max_length": 64, "progress": False, "device": "cpu"}
    assert cache.cached_score_ifd("tiny", lambda: tiny, SAMPLES, precision="fp32", **kw).attrs["scored"] == 4
    assert cache.cached_score_ifd("tiny", lambda: tiny, SAMPLES, precision="auto", **kw).attrs["scored"] == 0
    bf16 = cache.cached_score_ifd("tiny", lambda: tiny, SAMPLES, precision="bf16", **kw)
    assert bf16.attrs["scored"] == 4 and np.isfinite(bf16["loss_cond"]).all()
    base = {"style": "superfiltering", "max_length": 64, "template": None}
    cpu = cache.score_settings("tiny", precision="fp32", device=torch.device("cpu"), **base)
    gpu = cache.score_settings("tiny", precision="fp32", device=torch.device("cuda:1"), **base)
    assert cpu["device"] == "cpu" and gpu["device"] == "cuda"
    assert cache.settings_key(cpu) != cache.settings_key(gpu)
    assert cache.score_settings("tiny", precision="auto", device="cuda", **base)["precision"] == "bf16"
    assert len(list((tmp_path / "ifd_scores").glob("*.parquet"))) == 2       # fp32 and bf16 on cpu
    with pytest.raises(ValueError, match="model is on cpu"):                   # filed under the wrong device
        cache.cached_score_ifd("tiny2", lambda: tiny, SAMPLES, precision="fp32", **{**kw, "device": "meta"})


# ----------------------------------------------------------------------------- on a GPU ('auto' = bf16 there)
@pytest.mark.gpu
def test_auto_precision_on_cuda_runs_bf16_glue_sft_and_sac(glue_setup):
    """On CUDA, 'auto' is bf16 autocast: the GLUE step agrees with CPU fp32 (loss 2 %, gradients 10 %; the
    model in eval mode, so no dropout), nn.glue.finetune, lm.sft.finetune and a SAC update run there with
    bf16 matmuls and fp32 parameters, and give finite losses."""
    from types import SimpleNamespace

    from replib.lm.models import load_lm
    from replib.lm.sft import finetune as sft_finetune
    from replib.nn.glue import batch_inputs, finetune
    from replib.rl.sac import SACConfig, SACEnsemble

    cuda = torch.device("cuda")
    assert runtime.resolve_precision("auto", cuda) == "bf16"
    model, data = glue_setup
    idx = torch.arange(16)
    res = {}
    for device in ("cpu", cuda):
        m = copy.deepcopy(model).to(device)
        with runtime.autocast(device, "auto"):
            loss = F.cross_entropy(m(**batch_inputs(data.train, idx, device)).float(),
                                   data.train["labels"][idx].to(device))
        loss.backward()
        res[str(device)] = loss.detach().cpu(), torch.cat([g.flatten().cpu() for g in grads(m)])
    (l32, g32), (l16, g16) = res["cpu"], res["cuda"]
    assert abs(float(l16 - l32)) <= BF16_LOSS_RTOL * float(l32) and rel(g16, g32) < BF16_GRAD_RTOL
    m = copy.deepcopy(model).to(cuda)
    seen = record_dtypes(m)
    cfg = SimpleNamespace(epochs=1, batch_size=16, lr=1e-3, head_lr=1e-3, weight_decay=0.0)
    out = finetune(m, data, cfg, seed=0, device=cuda)
    assert torch.bfloat16 in set(seen) and np.isfinite(out["loss_last"])
    lm, tok = load_lm("tiny-smollm2", device=cuda)
    losses = sft_finetune(lm, tok, SAMPLES, epochs=1, batch_size=2, lr=1e-3, max_length=64, progress=False)
    assert np.isfinite(losses).all() and all(p.dtype == torch.float32 for p in lm.parameters())
    agent = SACEnsemble(5, 2, [0, 1], SACConfig(hidden=32, batch_size=32), device=cuda)
    batch = {k: v.to(cuda) for k, v in sac_batch().items()}
    stats = [agent.update(batch), agent.update(batch)]
    assert agent.precision == "bf16" and all(torch.isfinite(v).all() for s in stats for v in s.values())
