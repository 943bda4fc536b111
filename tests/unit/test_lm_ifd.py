"""The batched IFD scorer against literal one-sample-at-a-time ports of the official scorers."""
import math

import numpy as np
import pytest
import torch

from ifd_reference import cherry_reference, superfiltering_reference
from replib.lm.ifd import build_records, score_ifd
from replib.lm.nll import plan_batches, token_nll
from replib.lm.prompts import format_prompt

# ----------------------------------------------------------------------------- fixtures
EDGE = [
    {"instruction": "Say hi.", "input": "", "output": ""},                                   # empty answer
    {"instruction": "Repeat: hello there", "input": "", "output": "hello there"},            # answer inside prompt
    {"instruction": "Give a word.", "input": "", "output": "\n Foo bar"},                    # leading whitespace
    {"instruction": "Give a word.", "input": "", "output": " spaced answer"},
    {"instruction": "Translate.", "input": "Grüße aus Köln — 東京", "output": "Greetings from Cologne — Tokyo ✓"},
    {"instruction": "Write a long story. " * 40, "input": "", "output": "Once upon a time."},  # prompt fills window
    {"instruction": "Count.", "input": "", "output": " ".join(str(i) for i in range(300))},   # truncated answer
    {"instruction": "Answer.", "input": "", "output": "A"},                                   # one-token answer
]


@pytest.fixture(scope="module")
def smollm():
    from replib.assets import load_causal_lm

    model, tok = load_causal_lm("smollm2-135m-instruct")
    return model.eval(), tok


@pytest.fixture(scope="module")
def tiny(smollm):
    """A random 2-layer Llama on SmolLM2's tokenizer: fast enough for hundreds of samples."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=len(smollm[1]), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512)
    return LlamaForCausalLM(cfg).eval(), smollm[1]


@pytest.fixture(scope="module")
def alpaca():
    from replib.assets import load_dataset

    return load_dataset("alpaca-random-9k")


def _check(table, refs, rel=1e-5):
    for i, (lc, ld, *_rest) in enumerate(refs):
        if lc is None or (isinstance(lc, float) and math.isnan(lc)):
            assert math.isnan(table.loss_cond[i]) or table.skip[i], i
            continue
        assert table.loss_cond[i] == pytest.approx(lc, rel=rel, nan_ok=True), i
        assert table.loss_dir[i] == pytest.approx(ld, rel=rel, nan_ok=True), i
        if math.isnan(lc) or math.isnan(ld):
            assert table.skip[i] and math.isnan(table.ifd_ppl[i]), i
            continue
        assert table.ifd_loss[i] == pytest.approx(lc / ld, rel=2 * rel), i
        assert table.ifd_ppl[i] == pytest.approx(math.exp(lc) / math.exp(ld), rel=2 * rel), i


# ----------------------------------------------------------------------------- equivalence
@pytest.mark.parametrize("style", ["cherry", "superfiltering"])
def test_batched_equals_reference_tiny_model_many_samples(tiny, alpaca, style):
    model, tok = tiny
    samples = alpaca[:200] + EDGE
    table = score_ifd(model, tok, samples, style=style, max_length=160, batch_size=16, token_budget=1500,
                      progress=False)
    ref = cherry_reference if style == "cherry" else superfiltering_reference
    refs = [ref(model, tok, s, 160) for s in samples]
    _check(table, refs)
    if style == "cherry":
        assert [r[4] for r in refs] == list(table.skip)
        valid = [i for i, r in enumerate(refs) if r[2] is not None]
        assert [refs[i][2] for i in valid] == list(table.n_cond[valid])
        assert [refs[i][3] for i in valid] == list(table.n_dir[valid])


@pytest.mark.parametrize("style", ["cherry", "superfiltering"])
def test_batched_equals_reference_smollm2(smollm, alpaca, style):
    model, tok = smollm
    samples = alpaca[:10] + EDGE
    table = score_ifd(model, tok, samples, style=style, max_length=128, batch_size=6, progress=False)
    ref = cherry_reference if style == "cherry" else superfiltering_reference
    _check(table, [ref(model, tok, s, 128) for s in samples])


def test_edge_case_records(smollm):
    tok = smollm[1]
    cherry = build_records(tok, EDGE, style="cherry", max_length=128)
    assert cherry.skip[0] == "no answer tokens"            # empty answer: rfind('') is the end of the text
    assert cherry.skip[5] == "prompt fills the window"
    assert cherry.skip[6] == "answer truncated"
    # the answer also appears in the prompt: rfind scores the last copy, i.e. the real answer
    text = format_prompt(EDGE[1]) + "hello there"
    assert tok.decode(cherry.cond_ids[1][cherry.cond_start[1]:]) == text[text.rfind("hello there"):]
    sf = build_records(tok, EDGE, style="superfiltering", max_length=128)
    assert sf.skip[0] == "empty answer" and sf.cond_ids[0] == [] and sf.dir_ids[0] == []
    # no BOS: the direct pass scores |A| - 1 tokens; the one-token answer has nothing to score
    assert sf.n_dir[1] == len(tok("hello there")["input_ids"]) - 1
    assert sf.skip[7] == "no answer tokens"
    assert sf.skip[6] == ""                                  # truncated answers are scored truncated
    # "\n" + " Foo": the prompt's trailing newline and the answer's whitespace may merge; the start index
    # follows the official prefix tokenisation, whatever it is
    full = tok(format_prompt(EDGE[2], "none") + EDGE[2]["output"])["input_ids"]
    assert sf.cond_start[2] == len(tok(format_prompt(EDGE[2], "none"))["input_ids"])
    assert len(sf.cond_ids[2]) == len(full)


def test_ifd_ppl_and_ratio_rank_differently():
    lc, ld = np.array([0.5, 2.0]), np.array([1.0, 3.0])
    assert np.allclose(lc / ld, [0.5, 2 / 3]) and np.allclose(lc - ld, [-0.5, -1.0])
    assert np.argmax(lc / ld) == 1 and np.argmax(np.exp(lc - ld)) == 0


def test_bad_inputs_fail_early(tiny):
    model, tok = tiny
    with pytest.raises(ValueError, match="style"):
        score_ifd(model, tok, [], style="alpagasus")
    with pytest.raises(ValueError, match="template"):
        build_records(tok, [], template="chatml")
    with pytest.raises(TypeError, match="sample 1"):
        build_records(tok, [{"instruction": "a", "output": "b"}, {"instruction": "a"}])
    with pytest.raises(ValueError, match="max_length"):
        build_records(tok, [], max_length=1)


# ----------------------------------------------------------------------------- the batched core
def test_plan_batches_respects_caps():
    lengths = np.array([5, 100, 7, 40, 40, 3, 90])
    batches = plan_batches(lengths, batch_size=3, token_budget=200)
    assert sorted(np.concatenate(batches).tolist()) == list(range(7))
    for b in batches:
        assert len(b) <= 3 and (len(b) == 1 or len(b) * lengths[b].max() <= 200)
    assert lengths[batches[0]].max() == 100                    # longest first


def test_token_nll_hidden_mean_matches_hf(tiny):
    model, tok = tiny
    ids = [tok(t)["input_ids"] for t in ["a short one", "a much longer sentence with several more words in it"]]
    out = token_nll(model, ids, [1, 1], mean_hidden=True, batch_size=2, progress=False)
    for i, x in enumerate(ids):
        with torch.no_grad():
            res = model(torch.tensor([x]), labels=torch.tensor([x]), output_hidden_states=True)
        assert out.mean[i] == pytest.approx(res.loss.item(), rel=1e-5)
        np.testing.assert_allclose(out.hidden_mean[i], res.hidden_states[-1][0].mean(0).numpy(), rtol=1e-4, atol=1e-5)


def test_token_nll_gradients_flow_only_in_training_helper(tiny):
    from replib.lm.nll import batch_nll

    model, tok = tiny
    ids = [tok("hello world again")["input_ids"]]
    nll, seq, _ = batch_nll(model, ids, [1], "cpu")
    nll.mean().backward()
    assert model.lm_head.weight.grad is not None and seq.tolist() == [0] * (len(ids[0]) - 1)
    model.zero_grad(set_to_none=True)


@pytest.mark.gpu
def test_bf16_ranks_match_fp32_on_gpu(smollm, alpaca):
    from scipy.stats import spearmanr

    model, tok = smollm
    model = model.to("cuda")
    try:
        fp32 = score_ifd(model, tok, alpaca[:300], style="superfiltering", autocast=False, progress=False)
        bf16 = score_ifd(model, tok, alpaca[:300], style="superfiltering", autocast=True, progress=False)
    finally:
        model.to("cpu")
    ok = fp32.ifd_ppl.notna()
    assert list(fp32.skip) == list(bf16.skip)
    assert spearmanr(fp32.ifd_ppl[ok], bf16.ifd_ppl[ok]).statistic > 0.99
    top = set(fp32.ifd_ppl.nlargest(30).index)
    assert len(top & set(bf16.ifd_ppl.nlargest(30).index)) >= 25
