"""scripts/gpu_check.sh: the dry run (CPU, toy sizes) writes the JSON the GPU run writes; targets are judged."""
from __future__ import annotations

import json
import os
import subprocess

from conftest import ROOT
from replib import gpucheck


def test_dry_run_writes_the_report(tmp_path):
    out = tmp_path / "gpu_check.json"
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"} | {"OMP_NUM_THREADS": "1"}
    run = subprocess.run([str(ROOT / "scripts" / "gpu_check.sh"), "--dry-run", "--out", str(out)], cwd=ROOT,
                         env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    doc = json.loads(out.read_text())
    assert {"device", "device_name", "dry_run", "git", "started", "wall_s", "steps", "targets"} <= set(doc)
    assert doc["dry_run"] is True and doc["device"] == "cpu" and doc["device_name"].startswith("cpu")
    assert set(doc["steps"]) == {"gpu_tests", "notebooks", *(f"bench_{b}" for b in gpucheck.BENCHES)}
    assert doc["steps"]["gpu_tests"]["status"] == doc["steps"]["notebooks"]["status"] == "skipped"
    assert doc["steps"]["bench_ifd"]["status"] == "skipped"
    for name in ("meo", "padnet", "rl", "sparseadapter"):
        step = doc["steps"][f"bench_{name}"]
        assert step["status"] == "ok" and step["figures"], (name, step)
        assert (tmp_path / "gpu_check" / step["log"]).is_file()
    assert len(doc["targets"]) == len(gpucheck.TARGETS)
    for t in doc["targets"]:
        assert {"what", "bench", "figure", "op", "target", "value", "met"} <= set(t)
        assert t["met"] == gpucheck.NOT_MEASURED and t["what"] in run.stdout
        # every figure a target reads arrives from its benchmark (ifd is not run dry)
        assert (t["value"] is None) == (t["bench"] == "ifd"), t
    assert "DRY RUN" in run.stdout and "not measured" in run.stdout


def test_targets_are_judged_from_the_figures():
    steps = {"bench_meo": {"status": "ok", "figures": {"k": {"8": {"meo_over_k1": 1.2, "moe_over_meo": 3.0}}}},
             "bench_rl": {"status": "failed", "figures": {}}}
    got = {t["figure"]: t for t in gpucheck.judge(steps, dry_run=False)}
    assert got["k.8.meo_over_k1"]["met"] is True and got["k.8.moe_over_meo"]["met"] is False
    assert got["hidden.256.efficiency"]["met"] == gpucheck.NOT_MEASURED and got["speedup"]["value"] is None
    assert all(t["met"] == gpucheck.NOT_MEASURED for t in gpucheck.judge(steps, dry_run=True))
    assert gpucheck.lookup({"a": {"b": 2}}, "a.b") == 2 and gpucheck.lookup({"a": {}}, "a.b") is None


def test_notebook_statuses_come_from_this_runs_status_json(tmp_path, monkeypatch):
    (tmp_path / "reports").mkdir()

    def fake_run(cmd, log, timeout, root, ok_codes=(0,)):
        assert cmd[1:] == ["-m", "replib.runner", "--profile", "smoke", "--device", "cuda"]
        later, earlier = "2999-01-01T00:00:00+00:00", "2000-01-01T00:00:00+00:00"
        runs = {"01_meo": {"status": "ok", "wall_s": 20.0, "profile": "smoke", "finished": later},
                "05_ifd": {"status": "ok", "wall_s": 9.0, "profile": "quick", "finished": later},   # another profile
                "09_erc": {"status": "failed", "wall_s": 3.0, "profile": "smoke", "finished": earlier}}   # stale
        (root / "reports" / "status.json").write_text(json.dumps(runs))
        return "failed", 30.0

    monkeypatch.setattr(gpucheck, "_run", fake_run)
    got = gpucheck.run_notebooks(tmp_path, tmp_path, "cuda", 60)
    assert got["status"] == "failed" and got["notebooks"] == {"01_meo": {"status": "ok", "wall_s": 20.0}}
    doc = {"device": "cuda", "device_name": "Some GPU", "git": "abc", "wall_s": 31.0, "dry_run": False,
           "steps": {"gpu_tests": {"status": "ok", "wall_s": 5.0, "passed": 3, "failures": 0, "errors": 0,
                                   "skipped": 1}, "notebooks": got},
           "targets": gpucheck.judge({}, dry_run=False)}
    text = gpucheck.format_report(doc)
    assert "Some GPU" in text and "3 passed, 0 failed, 1 skipped" in text and "1/1 ok: 01_meo ok 20s" in text
