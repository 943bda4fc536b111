"""`python -m replib.filter`: input formats and errors, CLI scores == the library's, batch-size invariance,
resume after an interrupt, two accelerate processes == one, and the selection rules on the written subset."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from replib.filter import io, score
from replib.filter.__main__ import main
from replib.filter.select import choose, row_scores, run_select

SAMPLES = [
    {"instruction": "Give three tips for staying healthy.", "input": "", "output": "Eat well, sleep, move."},
    {"instruction": "Translate to French.", "input": "Good morning", "output": "Bonjour"},
    {"instruction": "What is 2 + 2?", "input": "", "output": "4"},
    {"instruction": "Summarise the text.", "input": "The cat sat on the mat all day long.", "output": "A cat sat."},
    {"instruction": "Name a colour.", "input": "", "output": "Blue, like the sky on a clear day in summer."},
    {"instruction": "Write a haiku about rain.", "input": "", "output": "Soft rain on the roof\nthe garden drinks"},
    {"instruction": "Is water wet?", "input": "", "output": ""},
]


@pytest.fixture(scope="module")
def tiny():
    from replib.lm.models import load_lm

    return load_lm("tiny-smollm2", device="cpu")


@pytest.fixture()
def files(tmp_path):
    a = tmp_path / "a.json"
    a.write_text(json.dumps(SAMPLES))
    (tmp_path / "a.jsonl").write_text("".join(json.dumps(s) + "\n" for s in SAMPLES))
    pd.DataFrame(SAMPLES).to_parquet(tmp_path / "a.parquet")
    conv = [{"conversations": [{"from": "human", "value": s["instruction"]}, {"from": "gpt", "value": s["output"]},
                               {"from": "human", "value": "And why?"}, {"from": "gpt", "value": "Because."}]}
            for s in SAMPLES[:3]] + [{"conversations": [{"from": "human", "value": "hello?"}]}]
    (tmp_path / "c.jsonl").write_text("".join(json.dumps(c) + "\n" for c in conv))
    return tmp_path


def run_cli(*args) -> int:
    return main([str(a) for a in args])


# ----------------------------------------------------------------------------- input
@pytest.mark.parametrize("name", ["a.json", "a.jsonl", "a.parquet"])
def test_alpaca_formats_read_the_same_units(files, name):
    rows, units, fmt, schema = io.load_units(str(files / name))
    assert schema == "alpaca" and len(rows) == len(units) == len(SAMPLES)
    assert [u.output for u in units] == [s["output"] for s in SAMPLES]
    assert [u.failure for u in units] == [""] * 7


def test_sharegpt_gives_one_unit_per_assistant_turn_with_its_history(files):
    rows, units, _, schema = io.load_units(str(files / "c.jsonl"))
    assert schema == "conversations" and len(rows) == 4
    assert [(u.row, u.turn) for u in units] == [(0, 1), (0, 3), (1, 1), (1, 3), (2, 1), (2, 3), (3, -1)]
    assert [m["role"] for m in units[1].messages] == ["user", "assistant", "user"]
    assert units[-1].failure == "no assistant turn after a prompt"
    s = score.sample_of(units[1], "alpaca")
    assert s["instruction"] == "And why?" and s["input"].startswith("User: Give three tips")


def test_field_mapping(tmp_path):
    p = tmp_path / "q.jsonl"
    p.write_text(json.dumps({"q": "Say hi", "a": "hi"}) + "\n")
    msg = r"missing field\(s\) \['instruction', 'output'\]; the row has \['a', 'q'\]"
    with pytest.raises(io.InputError, match=msg):
        io.load_units(str(p))
    _, units, _, _ = io.load_units(str(p), "instruction=q,output=a")
    assert (units[0].instruction, units[0].output) == ("Say hi", "hi")


@pytest.mark.parametrize("content, match", [
    ("", "no rows"),
    ('{"instruction": "a", "output": "b"}\n{"instruction": oops}\n', r"line 2: not valid JSON"),
    ('[1, 2]', "row 1 is a int"),
])
def test_malformed_inputs_name_file_and_line(tmp_path, content, match):
    p = tmp_path / ("x.jsonl" if "\n" in content or not content else "x.json")
    p.write_text(content)
    with pytest.raises(io.InputError, match=match):
        io.load_units(str(p))


def test_cli_errors_exit_2_before_any_model_loads(files, tmp_path, monkeypatch, capsys):
    import replib.lm.models as models

    monkeypatch.setattr(models, "load_lm", lambda *a, **k: pytest.fail("a model was loaded"))
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"prompt": "x"}]))
    assert run_cli("score", "--method", "ifd", "--model", "tiny-smollm2", "--input", bad, "--output",
                   tmp_path / "s.parquet") == 2
    assert "missing field(s)" in capsys.readouterr().err
    assert run_cli("score", "--method", "nope", "--model", "m", "--input", files / "a.json", "--output",
                   tmp_path / "s.parquet") == 2
    assert "unknown method 'nope'" in capsys.readouterr().err
    assert run_cli("select", "--scores", tmp_path / "none.parquet", "--input", files / "a.json", "--rule", "x",
                   "--rate", "0.1", "--output", tmp_path / "o.json") == 2
    assert "does not exist" in capsys.readouterr().err


# ----------------------------------------------------------------------------- scores
@pytest.mark.parametrize("method, style", [("ifd", "cherry"), ("superfiltering", "superfiltering")])
def test_cli_scores_equal_the_library(files, tmp_path, tiny, method, style):
    from replib.lm.ifd import COLUMNS, score_ifd

    out = tmp_path / "s.parquet"
    assert run_cli("score", "--method", method, "--model", "tiny-smollm2", "--input", files / "a.json", "--output",
                   out, "--device", "cpu", "--cache-dir", tmp_path / "cache") == 0
    got = pd.read_parquet(out)
    ref = score_ifd(*tiny, SAMPLES, style=style, device="cpu", progress=False)
    assert list(got["row"]) == list(range(len(SAMPLES)))
    for col in COLUMNS:
        if col == "skip":
            assert list(got[col]) == list(ref[col])
        else:
            np.testing.assert_allclose(got[col].to_numpy(float), ref[col].to_numpy(float), rtol=1e-6, equal_nan=True)
    # a row the scorer could not score carries its reason; every scored row has none
    nan = ref["ifd_loss"].isna()
    assert nan.iloc[-1] and list(got["failure"]) == [r if bad else "" for r, bad in zip(ref["skip"], nan)]
    assert got["key"].iloc[0] == io.Unit(0, 0, instruction=SAMPLES[0]["instruction"],
                                         output=SAMPLES[0]["output"]).key


def test_batch_size_one_equals_batched(files, tmp_path, tiny):
    _, units, _, _ = io.load_units(str(files / "a.json"))
    kw = dict(method="ifd", model="tiny-smollm2", device="cpu", use_cache=False, progress=False,
              loader=lambda: tiny, precision="fp32")
    one = score.score_units(units, batch_size=1, **kw)
    many = score.score_units(units, batch_size=8, **kw)
    np.testing.assert_allclose(one["ifd_loss"], many["ifd_loss"], atol=1e-5, equal_nan=True)
    np.testing.assert_allclose(one["loss_cond"], many["loss_cond"], atol=1e-5, equal_nan=True)


def test_interrupted_run_resumes_without_rescoring(files, tmp_path, tiny, monkeypatch):
    import replib.lm.ifd as ifd

    _, units, _, _ = io.load_units(str(files / "a.json"))
    real, calls = ifd.score_ifd, []

    def flaky(model, tok, samples, **kw):
        calls.append(len(samples))
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(model, tok, samples, **kw)

    kw = dict(method="ifd", model="tiny-smollm2", device="cpu", chunk=2, cache_root=tmp_path / "cache",
              progress=False, loader=lambda: tiny)
    monkeypatch.setattr(ifd, "score_ifd", flaky)
    with pytest.raises(KeyboardInterrupt):
        score.score_units(units, **kw)
    monkeypatch.setattr(ifd, "score_ifd", real)
    resumed = score.score_units(units, **kw)
    assert resumed.attrs["scored"] == 7 - 2           # the first chunk of two came from the cache
    fresh = score.score_units(units, **{**kw, "cache_root": tmp_path / "other"})
    pd.testing.assert_frame_equal(resumed, fresh)
    assert score.score_units(units, **kw).attrs["scored"] == 0


def test_shards_partition_and_balance():
    lengths = np.random.default_rng(0).integers(1, 1000, 101)
    parts = [score.shard_indices(lengths, r, 4) for r in range(4)]
    assert sorted(np.concatenate(parts).tolist()) == list(range(101))
    loads = [lengths[p].sum() for p in parts]
    assert max(loads) - min(loads) < lengths.max()


def test_two_accelerate_processes_equal_one(files, tmp_path):
    if shutil.which("accelerate") is None and not os.path.exists(os.path.join(os.path.dirname(sys.executable),
                                                                              "accelerate")):
        pytest.skip("accelerate's launcher is not installed")
    launcher = os.path.join(os.path.dirname(sys.executable), "accelerate")
    common = ["-m", "replib.filter", "score", "--method", "ifd", "--model", "tiny-smollm2", "--input",
              str(files / "a.json"), "--device", "cpu", "--no-cache"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run([sys.executable, *common, "--output", str(tmp_path / "one.parquet")], check=True, env=env,
                   timeout=300)
    # accelerate's --cpu launcher starts one process (several need mpirun); its torch.distributed launcher
    # (--multi_gpu) starts two, which pick the gloo backend on a machine without CUDA
    two_run = subprocess.run([launcher, "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
                              "--mixed_precision", "no", "--dynamo_backend", "no", *common,
                              "--output", str(tmp_path / "two.parquet")], check=True, env=env, timeout=300,
                             capture_output=True, text=True)
    assert "2 processes" in two_run.stdout            # the sharded path ran, and rank 0 merged
    one, two = pd.read_parquet(tmp_path / "one.parquet"), pd.read_parquet(tmp_path / "two.parquet")
    pd.testing.assert_frame_equal(one, two, rtol=1e-6)
    assert not list(tmp_path.glob(".two.parquet.shard-*"))


# ----------------------------------------------------------------------------- select
def test_select_rules_and_subset_in_the_input_schema(files, tmp_path):
    scores = pd.DataFrame({"row": range(7), "turn": 0, "ifd_loss": [0.5, 0.9, 1.2, 0.7, np.nan, 0.8, 0.95],
                           "ifd_ppl": [0.5, 0.9, 1.2, 0.7, np.nan, 0.8, 0.95], "skip": ""})
    scores["failure"] = ["", "", "", "", "no answer tokens", "", ""]
    scores.to_parquet(tmp_path / "s.parquet")
    # superfiltering: strictly < 1, descending, k = int(7 * 0.5) = 3
    s = run_select(scores=str(tmp_path / "s.parquet"), input=str(files / "a.jsonl"), rule="superfiltering",
                   rate=0.5, output=str(tmp_path / "sub.jsonl"))
    kept = [json.loads(line) for line in (tmp_path / "sub.jsonl").read_text().splitlines()]
    assert kept == [SAMPLES[6], SAMPLES[1], SAMPLES[5]] and s["kept"] == 3 and s["unscored_rows"] == 1
    assert (tmp_path / "sub.jsonl.hist.png").stat().st_size > 0
    # cherry: valid = 5 rows (<= 1, scored), k = int(5 * 0.5) = 2, the two highest, in dataset order
    frame = row_scores(scores, "ifd_loss", 7)
    assert choose(frame, "cherry", rate=0.5).tolist() == [1, 6]
    # alpagasus: score >= 4.5
    graded = pd.DataFrame({"row": range(4), "score": [4.5, 5.0, np.nan, 4.0], "failure": ["", "", "unparsed", ""]})
    assert choose(row_scores(graded, "score", 4), "alpagasus").tolist() == [0, 1]
    with pytest.raises(ValueError, match="exactly one of --rate and --number"):
        choose(frame, "cherry")


def test_conversations_are_kept_whole(files, tmp_path):
    scores = pd.DataFrame({"row": [0, 0, 1, 1, 2, 2, 3], "turn": [1, 3, 1, 3, 1, 3, -1],
                           "ifd_ppl": [0.2, 0.4, 0.9, 0.95, 0.5, np.nan, np.nan],
                           "failure": ["", "", "", "", "", "no answer tokens", "no assistant turn after a prompt"]})
    frame = row_scores(scores, "ifd_ppl", 4)
    np.testing.assert_allclose(frame["ifd_ppl"], [0.3, 0.925, np.nan, np.nan])
    scores.to_csv(tmp_path / "s.csv", index=False)
    run_select(scores=str(tmp_path / "s.csv"), input=str(files / "c.jsonl"), rule="superfiltering", number=1,
               output=str(tmp_path / "sub.jsonl"))
    kept = [json.loads(line) for line in (tmp_path / "sub.jsonl").read_text().splitlines()]
    assert kept == [json.loads((files / "c.jsonl").read_text().splitlines()[1])]


# ----------------------------------------------------------------------------- grader
def test_grader_rows_keep_failures_and_match_the_grader(files, tmp_path):
    from replib.alpagasus.grader import grade
    from replib.alpagasus.synthetic import OracleBackend
    from replib.filter.grade import grade_units

    _, units, _, _ = io.load_units(str(files / "a.json"))
    corrupted = np.arange(len(SAMPLES)) % 2 == 1
    oracle = OracleBackend(SAMPLES, corrupted, noise=0.0)
    got = grade_units(units, model="oracle", backend=oracle, cache_root=tmp_path / "g", progress=False)
    ref = grade(SAMPLES, oracle, cache=False, progress=False)
    np.testing.assert_array_equal(got["score"].to_numpy(float), ref["score"].to_numpy(float))
    assert (got["score"].to_numpy(float) == np.where(corrupted, 2.0, 5.0)).all() and (got["failure"] == "").all()
    kept = choose(row_scores(got, "score", len(SAMPLES)), "alpagasus")
    assert kept.tolist() == np.flatnonzero(~corrupted).tolist()


def test_grader_cli_with_a_local_lm_reports_unparsed_rows(files, tmp_path):
    out = tmp_path / "g.jsonl"
    assert run_cli("score", "--method", "grader", "--model", "tiny-smollm2", "--input", files / "a.json",
                   "--output", out, "--device", "cpu", "--batch-size", "4", "--cache-dir", tmp_path / "gc") == 0
    got = pd.read_json(out, lines=True)
    assert len(got) == len(SAMPLES) and got["lp_score"].between(0, 5).all()   # defined for every row
    unparsed = got["score"].isna()
    assert (got.loc[unparsed, "failure"] == "reply has no score (unparsed)").all()
    assert (got.loc[~unparsed, "failure"] == "").all()
