"""AlpaGasus pairwise judging of the students: the judge prompt bytes, both orders through the backend interface give
the expected W/T/L, a slot-biased judge ties identical answers, unparsed / failed replies, batched greedy answers ==
one-at-a-time model.generate, the OpenAI judge path against a loopback stub, the end-to-end path at smoke, and the
claim on synthetic judged items (reproduced / inconclusive / not reproduced; not tested without a judge)."""
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pandas as pd
import pytest
import torch

from replib.alpagasus import experiment as ex
from replib.alpagasus import judging as jd
from replib.alpagasus.backends import Reply
from replib.alpagasus.config import get_config, required_assets
from replib.alpagasus.synthetic import SyntheticJudge
from replib.claims import rebuild
from replib.lm.judge import tally, tally_single

CRITERIA = (
    "We would like to request your feedback on the performance of two AI assistants in response to the user question "
    "displayed above.\nPlease rate the helpfulness, relevance, accuracy, level of details of their responses. Each "
    "assistant receives an overall score on a scale of 1 to 10, where a higher score indicates better overall "
    "performance.\nPlease first output a single line containing only two values indicating the scores for Assistant "
    "1 and 2, respectively. The two scores are separated by a space. In the subsequent line, please provide a "
    "comprehensive explanation of your evaluation, avoiding any potential bias and ensuring that the order in which "
    "the responses were presented does not affect your judgment.")


def test_judge_prompt_bytes_and_split():
    m = jd.judge_messages("Q?", "A one.", "A two.")
    assert m[0] == {"role": "system",
                    "content": "You are a helpful and precise assistant for checking the quality of the answer."}
    assert m[1]["content"] == ("[Question]\nQ?\n\n[The Start of Assistant 1's Answer]\nA one.\n\n[The End of Assistant "
                               "1's Answer]\n\n[The Start of Assistant 2's Answer]\nA two.\n\n[The End of Assistant "
                               f"2's Answer]\n\n[System]\n{CRITERIA}\n\n")
    assert jd.split_judge_messages(jd.judge_messages("Q\n\nlines", "a\n\nb", "")) == ("Q\n\nlines", "a\n\nb", "")


class Prefers(SyntheticJudge):
    """Quality 8 for answers starting 'good', 4 otherwise, plus the slot-2 bias of SyntheticJudge."""

    def quality(self, answer):
        return 8.0 if answer.startswith("good") else 4.0


def _answers(filtered, other, opp="full", seed=0, name="vicuna"):
    rows = [{"arm": "filtered", "seed": seed, "set": name, "item": i, "answer": a} for i, a in enumerate(filtered)]
    rows += [{"arm": opp, "seed": seed, "set": name, "item": i, "answer": a} for i, a in enumerate(other)]
    return pd.DataFrame(rows)


def test_both_orders_with_a_judge_that_prefers_one_answer():
    # per item: filtered better (W), equal quality (T: the slot bias of 1 < the quality gap cancels), worse (L)
    filt = ["good a", "good b", "bad c", "good d", "bad e"]
    other = ["bad a", "good x", "bad y", "bad f", "good g"]
    sets = {"vicuna": [{"prompt": f"q{i}"} for i in range(5)]}
    backend = jd.SyntheticJudgeBackend(Prefers(bias=1.0))
    judged = jd.judge_students(_answers(filt, other), backend, sets, opponents=("full",))
    assert judged["outcome"].tolist() == [1, 0, 0, 1, -1]
    assert judged.attrs["unparsed"] == judged.attrs["failed"] == 0
    assert (judged["fwd_1"] == judged["rev_2"] - 1.0).all()      # the same answer gains 1 point in slot 2
    t = jd.judge_table(judged).set_index("set").loc["all"]
    assert (t["W"], t["T"], t["L"]) == (2, 2, 1) and t["winning_score"] == pytest.approx(1 + 1 / 5)


def test_slot_biased_judge_ties_identical_answers_only_in_both_orders():
    answers = [f"answer {i}" for i in range(12)]
    fwd, rev, unparsed, failed = jd.judge_pairs(jd.SyntheticJudgeBackend(SyntheticJudge(bias=1.0)),
                                                [f"q{i}" for i in range(12)], answers, answers)
    assert tally(fwd, rev) == {"W": 0, "T": 12, "L": 0} and tally_single(fwd) == {"W": 0, "T": 0, "L": 12}
    assert unparsed == failed == 0


class Scripted:
    def __init__(self, texts):
        self.texts = texts

    def settings(self):
        return {"backend": "scripted"}

    def complete(self, conversations):
        assert len(conversations) == len(self.texts)
        return [Reply(t) for t in self.texts]


def test_unparsed_is_a_tie_in_that_order_and_failed_counts_nowhere():
    # forward replies of 3 items, then reverse replies
    be = Scripted(["8 6", "Assistant 1: 8", "7 7", "6 8", "9 9", None])
    fwd, rev, unparsed, failed = jd.judge_pairs(be, ["a", "b", "c"], ["x", "y", "z"], ["u", "v", "w"])
    assert (unparsed, failed) == (1, 1)
    assert tuple(fwd[1]) == (-1.0, -1.0) and np.isnan(rev[2]).all()
    assert tally(fwd, rev) == {"W": 1, "T": 1, "L": 0}           # item 3 (failed reverse call) counts nowhere


def test_batched_answers_equal_one_at_a_time_generate_and_run_in_bf16():
    from replib.lm.models import load_lm
    from replib.lm.prompts import format_prompt

    model, tok = load_lm("tiny-smollm2")
    items = [{"instruction": "Name a colour.", "input": ""}, {"instruction": "Add the numbers.", "input": "2, 3"},
             {"instruction": "Write a long story about a dragon and a knight who become friends.", "input": ""}]
    fast = jd.generate_answers(model, tok, items, max_new_tokens=6, batch_size=2, precision="fp32")
    for it, got in zip(items, fast):                            # the slow literal reference
        ids = tok(format_prompt(it), add_special_tokens=True, return_tensors="pt")["input_ids"]
        out = model.generate(ids, attention_mask=torch.ones_like(ids), do_sample=False, max_new_tokens=6,
                             pad_token_id=tok.eos_token_id)
        assert got == tok.decode(out[0, ids.shape[1]:], skip_special_tokens=True).strip()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        bf = jd.generate_answers(model, tok, items, max_new_tokens=6, batch_size=3, precision="bf16")
    assert len(bf) == 3 and all(isinstance(a, str) for a in bf)


class JudgeStub(BaseHTTPRequestHandler):
    """Chat completions scoring an answer 9 if it says GOOD, else 5; the first reply is a 429."""
    calls: list = []

    def log_message(self, *a):
        pass

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.calls.append(body)
        if len(self.calls) == 1:
            return self._send(429, {"error": {"message": "slow down"}})
        _, a1, a2 = jd.split_judge_messages(body["messages"])
        s1, s2 = (9 if "GOOD" in a else 5 for a in (a1, a2))
        self._send(200, {"id": "x", "object": "chat.completion", "created": 0, "model": body["model"],
                         "choices": [{"index": 0, "finish_reason": "stop",
                                      "message": {"role": "assistant", "content": f"{s1} {s2}\nreason"}}]})

    def _send(self, code, obj):
        data = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def test_openai_judge_against_a_loopback_stub(monkeypatch):
    pytest.importorskip("openai")
    JudgeStub.calls = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), JudgeStub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/v1"
        monkeypatch.delenv("OPENAI_API_KEY", raising=False)
        cfg = get_config("quick", judge_backend="openai", judge_model="stub-judge", judge_base_url=url)
        be = jd.make_judge(cfg)
        be.backoff, be.backoff_cap = 0.01, 0.02
        judged = jd.judge_students(_answers(["GOOD 1", "meh", "GOOD 3"], ["meh", "meh", "GOOD"]), be,
                                   {"vicuna": [{"prompt": f"q{i}"} for i in range(3)]}, opponents=("full",))
    finally:
        server.shutdown()
        server.server_close()
    assert judged["outcome"].tolist() == [1, 0, 0] and judged.attrs["failed"] == 0
    assert len(JudgeStub.calls) == 7 and {c["model"] for c in JudgeStub.calls} == {"stub-judge"}
    assert all(c["max_tokens"] == 256 and c["temperature"] == 0 for c in JudgeStub.calls)


def test_config_fields():
    with pytest.raises(ValueError, match="judge_backend"):
        get_config("quick", judge_backend="gpt4")
    with pytest.raises(ValueError, match="judge_sets"):
        get_config("quick", judge_sets=("mmlu",))
    with pytest.raises(ValueError, match="answer_max_new_tokens"):
        get_config("quick", answer_max_new_tokens=0)
    assert get_config("quick").judge_backend == "none" and get_config("full").judge_backend == "openai"
    assert get_config("smoke").judge_backend == "synthetic"
    assert "instruct-eval/sinstruct" in required_assets(get_config("smoke"))
    assert not any(a.startswith("instruct-eval") for a in required_assets(get_config("quick")))


def test_judging_end_to_end_at_smoke(tmp_path, monkeypatch):
    monkeypatch.setenv("REPLIB_CACHE", str(tmp_path))
    cfg = get_config("smoke", n_pool=16, n_corrupt=8, n_student_pool=8, n_heldout=4, judge_max_items=2)
    d = ex.load_data(cfg, "smoke")
    sets = jd.load_eval_sets(cfg.judge_sets, cfg.judge_max_items, "smoke")
    assert [len(v) for v in sets.values()] == [2, 2, 2, 2]
    scores = np.arange(16, dtype=float)
    st, answers = ex.student_runs(cfg, d["pool"], d["heldout"], scores, profile="smoke", progress=False,
                                  answer_sets=sets)
    assert len(answers) == 3 * 8 and set(answers["arm"]) == {"filtered", "random", "full"}
    judged = jd.judge_students(answers, jd.make_judge(cfg), sets)
    assert len(judged) == 2 * 8 and judged["outcome"].notna().all()
    table = jd.judge_table(judged)
    assert set(table["set"]) == {*cfg.judge_sets, "all"}
    claims = {c.id: c for c in rebuild("alpagasus", "smoke", cfg, dict(students=st, judged=judged))}
    assert claims["judge_prefers_filtered"].verdict == "not tested at this profile"
    assert "W/T/L" in claims["judge_prefers_filtered"].note


def _judged(effect, n=120, seeds=(0, 1)):
    rng = np.random.default_rng(1)
    p = {"good": (0.5, 0.3), "null": (0.3, 0.3), "bad": (0.2, 0.5)}[effect]   # P(win), P(loss) per order pair
    rows = []
    for s in seeds:
        for opp in ("full", "random"):
            for i in range(n):
                u = rng.random()
                o = 1.0 if u < p[0] else -1.0 if u > 1 - p[1] else 0.0
                if effect == "null":                                 # exactly balanced: W = L, per item too
                    o = (1.0, 0.0, -1.0)[(i + s) % 3]
                rows.append({"seed": s, "opponent": opp, "set": ("vicuna", "koala")[i % 2], "item": i,
                             "fwd_1": 7.0 + o, "fwd_2": 7.0, "rev_1": 7.0, "rev_2": 7.0 + o, "outcome": o})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("effect,verdict", [("good", "reproduced"), ("null", "inconclusive"),
                                            ("bad", "not reproduced")])
def test_judge_claim_on_synthetic_items(effect, verdict):
    cfg = get_config("quick", judge_backend="openai", n_boot=500)
    c = {c.id: c for c in rebuild("alpagasus", "full", cfg, dict(judged=_judged(effect)))}["judge_prefers_filtered"]
    assert c.verdict == verdict, c.note
    assert len(c.checks) == 2 and "0 failed calls" in c.note


def test_judge_claim_not_tested_without_a_judge():
    cfg = get_config("quick")
    c = {c.id: c for c in rebuild("alpagasus", "quick", cfg, dict(judged=_judged("good")))}["judge_prefers_filtered"]
    assert c.verdict == "not tested at this profile" and not c.tested
    cfg = get_config("quick", judge_backend="openai")
    c = {c.id: c for c in rebuild("alpagasus", "full", cfg, {})}["judge_prefers_filtered"]
    assert c.verdict == "not tested at this profile" and c.note == "not run"
