"""AlpaGasus grader: golden prompt bytes, the parser corpus, histogram arithmetic, stop-at-newline == the first
line of full greedy generation, cassette determinism, the per-row cache, corruptions, oracle, experiment smoke."""
import json

import numpy as np
import pytest
import torch

from replib.alpagasus import experiment as ex
from replib.alpagasus.backends import HFBackend, Reply, chat_ids, expected_score, first_line
from replib.alpagasus.config import get_config
from replib.alpagasus.grader import grade, histogram, keep, parse_failure_rate
from replib.alpagasus.paper import ALPACA_N, CHATGPT_HIST, FIG5_SCORES, fig5_derived, hist_kept
from replib.alpagasus.prompts import grading_messages, parse_score
from replib.alpagasus.replay import Cassette, ReplayBackend, message_key
from replib.alpagasus.synthetic import OracleBackend, corrupt

WITH = {"instruction": "Add the numbers.", "input": "2, 3", "output": "5"}
WITHOUT = {"instruction": "Name a colour.", "input": "", "output": "Blue."}
SYSTEM = ("We would like to request your feedback on the performance of AI assistant in response to the "
          "instruction and the given input displayed following.")
ACC = ("Please rate according to the accuracy of the response to the instruction and the input. Each assistant "
       "receives a score on a scale of 0 to 5, where a higher score indicates higher level of the accuracy. Please "
       "first output a single line containing value indicating the scores. In the subsequent line, please provide a "
       "comprehensive explanation of your evaluation, avoiding any potential bias. \n\n")


def test_golden_prompt_code_layout():
    m = grading_messages(WITH)
    assert m == [{"role": "system", "content": SYSTEM},
                 {"role": "user", "content": "###Instruction:\nAdd the numbers.\n\n### Input:\n2, 3\n\n### Response:\n5"
                                             "\n\n" + ACC}]
    m = grading_messages(WITHOUT)   # the Input block stays, empty
    assert m[1]["content"].encode() == ("###Instruction:\nName a colour.\n\n### Input:\n\n\n### Response:\nBlue.\n\n"
                                        + ACC).encode()
    assert "an score" in grading_messages(WITH, dimension="helpfulness")[1]["content"]


def test_golden_prompt_paper_layout():
    m = grading_messages(WITH, layout="paper")
    assert m[0]["content"].encode() == (SYSTEM + "\n\nInstruction: Add the numbers.\nInput: 2, 3\nResponse: 5").encode()
    assert m[1]["content"] == ACC.rstrip()
    assert grading_messages(WITHOUT, layout="paper")[0]["content"].endswith("Input: \nResponse: Blue.")
    with pytest.raises(ValueError, match="layout"):
        grading_messages(WITH, layout="fig3")


CORPUS = [  # text, faithful, robust (None = the official -1)
    ("4.5\n\nThe response is accurate.", 4.5, 4.5),
    ("Score: 5.0 The response is perfect.", None, 5.0),      # official: float(' ') raises inside the except
    ("Score:4.5\nfine", 4.0, 4.5),                            # official: one character after "Score:"
    ("score: 4.5\nfine", 4.5, 4.5),                           # lowercase branch reads the rest of the line
    ("2.0: The response partially answers.", None, 2.0),
    ("8 9", None, None), ("8, 9", None, None), ("Assistant 1: 8", None, None), ("", None, None),
    ("8\nout of range", 8.0, None), ("**Score: 4**", None, 4.0), ("nan", None, None), (" 3 \n", 3.0, 3.0),
    ("\n4\nleading blank line", None, 4.0),
]


@pytest.mark.parametrize("text, faithful, robust", CORPUS)
def test_parser_corpus(text, faithful, robust):
    assert parse_score(text, "faithful") == faithful
    assert parse_score(text, "robust") == robust


def test_histogram_arithmetic_and_fig5():
    assert sum(CHATGPT_HIST.values()) == ALPACA_N == 52002
    assert hist_kept(CHATGPT_HIST, 4.5) == 9229 and hist_kept(CHATGPT_HIST, 4.0) == 39469
    assert fig5_derived()[("7B", "Vicuna")] == pytest.approx(1.2125)
    assert all(abs(fig5_derived()[k] - v) <= 5e-4 + 1e-12 for k, v in FIG5_SCORES.items())
    h = histogram([2.5, 3.0, 3.7, 4.0, 4.5, 5.0, np.nan])
    assert h == {"<3": 1, "3": 1, "3.5": 1, "4": 1, "4.5": 1, "5": 1, "unparsed": 1}
    assert keep([4.5, 4.49, np.nan, 5]).tolist() == [True, False, False, True]


def test_expected_score():
    assert expected_score([0, 0, 0, 0, 1, 1]) == (4.5, 2.0)
    assert np.isnan(expected_score(None)[0])


@pytest.fixture(scope="module")
def smollm():
    from replib.lm.models import load_lm

    return load_lm("smollm2-135m-instruct")


def _reference(model, tok, convs, max_new):
    out = []
    for x in chat_ids(tok, convs):   # one at a time, no padding, model.generate
        g = model.generate(torch.tensor([x]), attention_mask=torch.ones(1, len(x), dtype=torch.long), do_sample=False,
                           max_new_tokens=max_new, pad_token_id=tok.pad_token_id)
        out.append(tok.decode(g[0, len(x):], skip_special_tokens=True))
    return out


def test_stop_at_newline_equals_first_line_of_full_generation(smollm):
    from replib.lm.data import instruction_pool

    model, tok = smollm
    pool, _ = instruction_pool(n_pool=5, n_heldout=0, seed=3)
    convs = [grading_messages(s) for s in pool] + [[{"role": "user", "content": "Write two lines: 3, then 4."}]]
    full = _reference(model, tok, convs, 20)
    got = HFBackend(model, tok, name="smollm2", batch_size=3, max_new_tokens=20).complete(convs)
    assert [r.text for r in got] == [first_line(t) for t in full]
    assert any(r.meta["stop"] == "newline" for r in got)
    nostop = HFBackend(model, tok, name="smollm2", batch_size=4, max_new_tokens=20, stop_at_newline=False)
    assert [r.text for r in nostop.complete(convs)] == full          # batched KV loop == generate, to EOS/length
    for r in got:
        assert r.digits.shape == (6,) and 0 < r.digits.sum() <= 1


def test_first_line():
    assert first_line("4.5\nwhy") == "4.5" and first_line("\n\n4\nx") == "\n\n4" and first_line("") == ""


class Canned:
    """A deterministic fake backend that counts its calls."""
    def __init__(self):
        self.calls = 0

    def settings(self):
        return {"backend": "canned", "model": "m"}

    def complete(self, convs):
        self.calls += len(convs)
        return [Reply(f"{len(c[1]['content']) % 6}\nbecause", np.full(6, 1 / 6), {"n": 1}) for c in convs]


def test_cassette_records_and_replays_deterministically(tmp_path):
    convs = [grading_messages(WITH), grading_messages(WITHOUT)]
    inner = Canned()
    rec = ReplayBackend(tmp_path / "c.json", inner=inner)
    a = rec.complete(convs)
    b = ReplayBackend(tmp_path / "c.json").complete(convs)           # no model: from the file
    c = ReplayBackend(tmp_path / "c.json").complete(list(reversed(convs)))
    assert [r.text for r in a] == [r.text for r in b] == [r.text for r in reversed(c)]
    assert inner.calls == 2 and len(Cassette(tmp_path / "c.json")) == 2
    assert message_key(convs[0], {"model": "m"}) != message_key(convs[0], {"model": "n"})
    with pytest.raises(KeyError, match="not in cassette"):
        ReplayBackend(tmp_path / "c.json").complete([grading_messages({**WITH, "output": "6"})])


def test_grade_cache_resumes_and_keeps_unparsed(tmp_path):
    samples = [WITH, WITHOUT, {**WITH, "output": "7"}]
    inner = Canned()
    t = grade(samples, inner, cache=tmp_path, progress=False)
    assert inner.calls == 3 and t.attrs["graded"] == 3 and len(t) == 3
    path = next(tmp_path.glob("*.jsonl"))
    path.write_text(path.read_text().splitlines()[0] + "\n" + '{"key": "cut sho')   # a run killed mid-write
    t2 = grade(samples + [WITH], inner, cache=tmp_path, progress=False, way="logprob")
    assert inner.calls == 5 and t2.attrs["graded"] == 2 and len(t2) == 4
    assert np.allclose(t2["score"], 2.5) and t2["gen_score"].tolist()[:3] == t["gen_score"].tolist()
    bad = grade([WITH], type("B", (Canned,), {"complete": lambda s, c: [Reply("no score")] * len(c)})(),
                cache=False, progress=False)
    assert not bad["parsed"][0] and parse_failure_rate(bad) == 1.0 and np.isnan(bad["score"][0])


def test_corrupt_and_oracle():
    from replib.lm.data import instruction_pool

    pool, _ = instruction_pool(n_pool=30, n_heldout=0, seed=0)
    out, kind = corrupt(pool, 0.5, seed=1)
    assert (kind != "").sum() == 15 and set(kind) == {"", "wrong", "truncate", "shuffle"}
    for s, o, k in zip(pool, out, kind):
        assert (s["output"] == o["output"]) == (k == "") or k == "shuffle"
        if k == "wrong":
            assert o["output"] in {p["output"] for p in pool}
    oracle = grade(out, OracleBackend(out, kind != "", noise=0.0), cache=False, progress=False)
    assert (oracle["score"].to_numpy() == np.where(kind != "", 2.0, 5.0)).all()
    assert (oracle["lp_score"] == oracle["score"]).all()


def test_config_validation():
    with pytest.raises(ValueError, match="backend"):
        get_config("quick", backend="vllm")
    with pytest.raises(ValueError, match="cassette"):
        get_config("quick", backend="replay")
    with pytest.raises(ValueError, match="precision"):
        get_config("quick", precision="fp16")
    assert get_config("full").base_url.startswith("http://127.0.0.1")


def test_experiment_functions_at_smoke(tmp_path, monkeypatch):
    from replib.claims import rebuild

    monkeypatch.setenv("REPLIB_CACHE", str(tmp_path))
    cfg = get_config("smoke", n_pool=16, n_corrupt=8, n_student_pool=8, n_heldout=4, n_boot=50)
    d = ex.load_data(cfg, "smoke")
    assert len(d["pool"]) == 16 and len(d["clean"]) == 8 and d["in_claude"].dtype == bool
    keys = {json.dumps(s, sort_keys=True) for s in d["pool"]}
    assert not keys & {json.dumps(s, sort_keys=True) for s in d["heldout"] + d["clean"]}
    be = ex.make_backend(cfg, profile="smoke")
    pool = ex.pool_frame(ex.grade_pool(cfg, be, d["pool"], progress=False), d["in_claude"])
    corr = ex.corruption_study(cfg, be, d["clean"], progress=False)
    st = ex.student_runs(cfg, d["pool"], d["heldout"], pool["lp_score"], profile="smoke", progress=False)
    bias, fig5 = ex.position_bias(cfg), ex.fig5_frame()
    assert set(st["arm"]) == {"filtered", "random", "full"} and (st["train_seconds"] > 0).all()
    assert bias.set_index("rule").loc["both orders", "winning_score"] == 1.0
    claims = rebuild("alpagasus", "smoke", cfg, dict(pool=pool, corruption=corr, students=st, bias=bias, fig5=fig5))
    verdicts = {c.id: c.verdict for c in claims}
    assert verdicts["histogram_arithmetic"] == verdicts["fig5_winning_scores"] == "reproduced"
    assert verdicts["two_order_cancels_bias"] == "reproduced"
    assert verdicts["filtered_beats_random"] == "not tested at this profile"


def test_auroc_matches_pairwise_definition():
    rng = np.random.default_rng(0)
    s, y = rng.integers(0, 4, 40).astype(float), rng.random(40) < 0.4
    s[3] = np.nan
    v = np.nan_to_num(s, nan=-np.inf)
    lit = np.mean([1.0 if a > b else 0.5 if a == b else 0.0 for a in v[y] for b in v[~y]])
    assert ex.auroc(s, y) == pytest.approx(lit)
    r = ex.auroc_ci(s, y, n_boot=200)
    assert r["lo"] <= r["auroc"] <= r["hi"]
