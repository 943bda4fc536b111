"""Shared LM plumbing: score cache, instruction pools, Alpaca-style fine-tuning, tiny models."""
import numpy as np
import pytest
import torch

from replib.lm.cache import cached_score_ifd, sample_key
from replib.lm.data import instruction_pool
from replib.lm.models import load_lm
from replib.lm.prompts import format_prompt
from replib.lm.sft import answer_loss, finetune, sft_sequences

SAMPLES = [
    {"instruction": "Name a colour.", "input": "", "output": "Blue."},
    {"instruction": "Add the numbers.", "input": "2 and 3", "output": "The sum is 5."},
    {"instruction": "Write a haiku about rain.", "input": "", "output": "Soft rain on the roof\nthe garden drinks"},
    {"instruction": "Say yes.", "input": "", "output": "Yes"},
]


@pytest.fixture(scope="module")
def tiny():
    return load_lm("tiny-smollm2")


def test_tiny_model_is_seeded(tiny):
    other, _ = load_lm("tiny-smollm2")
    assert all(torch.equal(a, b) for a, b in zip(tiny[0].parameters(), other.parameters()))


def test_score_cache_scores_each_sample_once(tiny, tmp_path, monkeypatch):
    monkeypatch.setenv("REPLIB_CACHE", str(tmp_path))
    calls = []

    def loader():
        calls.append(1)
        return tiny

    first = cached_score_ifd("tiny", loader, SAMPLES[:3], style="superfiltering", max_length=64, progress=False)
    assert first.attrs["scored"] == 3 and len(calls) == 1
    again = cached_score_ifd("tiny", loader, SAMPLES[::-1], style="superfiltering", max_length=64, progress=False)
    assert again.attrs["scored"] == 1 and len(calls) == 2            # only the new sample
    np.testing.assert_allclose(again.loss_cond.to_numpy()[::-1][:3], first.loss_cond.to_numpy())
    cached_score_ifd("tiny", loader, SAMPLES, style="superfiltering", max_length=64, progress=False)
    assert len(calls) == 2                                            # nothing missing: model never loaded
    other = cached_score_ifd("tiny", loader, SAMPLES, style="superfiltering", max_length=32, progress=False)
    assert other.attrs["scored"] == 4                                 # settings are part of the key
    for f in (tmp_path / "ifd_scores").glob("*.parquet"):
        f.write_bytes(b"not parquet")                                 # a corrupt cache is rescored, not fatal
    assert cached_score_ifd("tiny", loader, SAMPLES, style="superfiltering", max_length=64,
                            progress=False).attrs["scored"] == 4


def test_sample_key_depends_on_every_field():
    base = {"instruction": "a", "input": "", "output": "b"}
    keys = {sample_key(base), sample_key({**base, "input": "x"}), sample_key({**base, "output": "c"}),
            sample_key({**base, "instruction": "z"})}
    assert len(keys) == 4 and sample_key(base) == sample_key({"instruction": "a", "output": "b"})


def test_instruction_pool_is_seeded_and_disjoint():
    pool, held = instruction_pool(n_pool=50, n_heldout=10, seed=3)
    again, _ = instruction_pool(n_pool=50, n_heldout=10, seed=3)
    assert pool == again and len(held) == 10
    assert not {sample_key(s) for s in pool} & {sample_key(s) for s in held}
    assert instruction_pool(n_pool=50, n_heldout=10, seed=4)[0] != pool
    with pytest.raises(ValueError, match="too many"):
        instruction_pool(n_pool=9000, n_heldout=1000)


def test_sft_sequences_mask_the_prompt(tiny):
    tok = tiny[1]
    ids, starts = sft_sequences(tok, SAMPLES, max_length=512)
    for s, x, st in zip(SAMPLES, ids, starts):
        assert x[:st] == tok(format_prompt(s))["input_ids"]
        assert tok.decode(x[st:]) == s["output"] + tok.eos_token
    ids, _ = sft_sequences(tok, SAMPLES, max_length=8)
    assert max(len(x) for x in ids) == 8


def test_finetune_lowers_the_training_loss(tiny):
    model, tok = load_lm("tiny-smollm2")
    before = answer_loss(model, tok, SAMPLES)["mean"]
    losses = finetune(model, tok, SAMPLES, epochs=8, lr=3e-3, batch_size=2, progress=False, seed=0)
    after = answer_loss(model, tok, SAMPLES)
    assert len(losses) == 16 and after["mean"] < before - 0.5
    assert after["tokens"] == sum(len(x) - s for x, s in zip(*sft_sequences(tok, SAMPLES)))


def test_answer_loss_equals_hf_loss(tiny):
    model, tok = tiny
    ids, starts = sft_sequences(tok, SAMPLES[:1])
    x = torch.tensor(ids)
    labels = x.clone()
    labels[0, :starts[0]] = -100
    with torch.no_grad():
        ref = model(x, labels=labels).loss.item()
    assert answer_loss(model, tok, SAMPLES[:1])["mean"] == pytest.approx(ref, rel=1e-5)


def test_finetune_rejects_bad_settings(tiny):
    with pytest.raises(ValueError, match="epochs"):
        finetune(tiny[0], tiny[1], SAMPLES, epochs=0)
    with pytest.raises(ValueError, match="target token"):
        finetune(tiny[0], tiny[1], SAMPLES, max_length=4)
