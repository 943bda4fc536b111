"""Shared LM plumbing: score cache, instruction pools, Alpaca-style fine-tuning, tiny models."""
import numpy as np
import pytest
import torch

from replib.lm.cache import cached_score_ifd, sample_key
from replib.lm.data import instruction_pool
from replib.lm.models import load_lm
from replib.lm.prompts import format_prompt
from replib.lm.sft import answer_loss, compare_students, finetune, paired_students, sft_sequences

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


def test_answer_loss_per_sample_sums(tiny):
    model, tok = tiny
    res = answer_loss(model, tok, SAMPLES)
    assert res["per_sample_nll"].sum() / res["per_sample_tokens"].sum() == pytest.approx(res["mean"], rel=1e-12)
    np.testing.assert_allclose(res["per_sample_nll"] / res["per_sample_tokens"], res["per_sample"])
    assert int(res["per_sample_tokens"].sum()) == res["tokens"]


def test_compare_students_per_example_rows(tiny):
    import copy

    loader = lambda: (copy.deepcopy(tiny[0]), tiny[1])  # noqa: E731
    kw = dict(epochs=1, lr=1e-3, batch_size=2, max_length=64)
    plain = compare_students(loader, SAMPLES, SAMPLES[:3], lambda s: {"a": [0, 1], "b": [2, 3]}, [0], **kw)
    frame, ex = compare_students(loader, SAMPLES, SAMPLES[:3], lambda s: {"a": [0, 1], "b": [2, 3]}, [0],
                                 per_example=True, **kw)
    assert frame["heldout_loss"].tolist() == plain["heldout_loss"].tolist()
    assert list(ex.columns) == ["arm", "seed", "example", "nll", "tokens"] and len(ex) == 3 * 3
    for arm, g in ex.groupby("arm"):                  # the frame's loss is the token-weighted mean
        assert g["nll"].sum() / g["tokens"].sum() == pytest.approx(
            frame.loc[frame.arm == arm, "heldout_loss"].item(), rel=1e-12)
    assert ex.groupby("example")["tokens"].nunique().eq(1).all()  # same held-out tokens for every arm


def test_paired_students_chooses_its_interval():
    import pandas as pd

    runs = pd.DataFrame({"arm": ["a", "b"], "seed": [0, 0], "heldout_loss": [2.0, 1.5]})
    ex = pd.DataFrame({"arm": ["a"] * 3 + ["b"] * 3, "seed": 0, "example": [0, 1, 2] * 2,
                       "nll": [20.0, 40.0, 60.0, 15.0, 30.0, 45.0], "tokens": [10, 20, 30] * 2})
    p = paired_students(runs, ex, "a", "b")
    assert p.method == "bootstrap" and p.n == 3 and p.mean == pytest.approx(0.5) and p.lo is not None
    assert paired_students(runs, None, "a", "b").lo is None                 # one seed, no rows: no interval
    bad = ex.assign(tokens=[10, 20, 30, 11, 20, 30])                       # different held-out tokens: not paired
    assert paired_students(runs, bad, "a", "b").n == 1
    assert paired_students(runs, ex, "a", "c") is None
    seeds = pd.DataFrame({"arm": ["a", "b"] * 3, "seed": [0, 0, 1, 1, 2, 2],
                          "heldout_loss": [2, 1.5, 2.1, 1.5, 2, 1.6]})
    p = paired_students(seeds, ex, "a", "b")
    assert p.method == "t" and p.n == 3 and p.mean == pytest.approx(0.5)
