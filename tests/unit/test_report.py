"""report: atomic outputs, JSON conversion, claim verdicts computed from numbers, the scorecard builder."""
import json
import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from replib import plotting, report, runtime  # noqa: E402
from replib.report import VERDICTS, Check, Claim  # noqa: E402

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def fake_header(monkeypatch):
    """Pin the run header so metrics.json is the same on every machine."""
    monkeypatch.setattr(runtime, "git_sha", lambda short=True: "abc1234")
    monkeypatch.setattr(runtime, "versions", lambda: {"python": "3.11.0", "torch": "2.13.0"})
    monkeypatch.setattr(runtime, "device_name", lambda device: "cpu (test)")


def make_run(tmp_path, slug="meo", profile="smoke", seed=0):
    out = tmp_path / "figures" / runtime.notebook_name(slug)
    return runtime.Run(slug=slug, profile=profile, device="cpu", seed=seed, out_dir=out)


def no_temp_files(folder):
    return not [p for p in folder.iterdir() if p.name.endswith(".tmp")]


# ----------------------------------------------------------------------------- checks and verdicts
@pytest.mark.parametrize("op, ours, target, expect", [
    (">=", 4.0, 4.0, True), (">=", 3.999, 4.0, False),
    ("<=", 4.0, 4.0, True), ("<=", 4.001, 4.0, False),
    (">", 4.0, 4.0, False), (">", 4.001, 4.0, True),
    ("<", 4.0, 4.0, False), ("<", 3.999, 4.0, True),
])
def test_inequality_ops(op, ours, target, expect):
    assert Check("x", ours, op, target).passed() is expect


@pytest.mark.parametrize("ours, target, tol, atol, expect", [
    (72.72, 72.0, 0.01, 0.0, True),      # exactly on the +1% edge
    (71.28, 72.0, 0.01, 0.0, True),      # exactly on the -1% edge
    (1.1, 1.0, 0.1, 0.0, True),          # edge with float rounding (1.1 - 1.0 = 0.10000000000000009)
    (72.73, 72.0, 0.01, 0.0, False),
    (72.0, 72.0, 0.0, 0.0, True),        # tol 0: exact equality
    (72.0001, 72.0, 0.0, 0.0, False),
    (0.4, 0.0, 0.05, 0.5, True),         # target 0 needs atol
    (0.6, 0.0, 0.05, 0.5, False),
    (-5.0, -4.0, 0.25, 0.0, True),       # relative to |target|
])
def test_approx_op_tolerance_edges(ours, target, tol, atol, expect):
    assert Check("x", ours, "~", target, tol=tol, atol=atol).passed() is expect


@pytest.mark.parametrize("ours", [None, float("nan"), float("inf"), np.float32("nan")])
def test_unmeasured_check_is_untested(ours):
    assert Check("x", ours, ">=", 1.0).passed() is None


def test_check_accepts_numpy_and_torch_scalars():
    assert Check("x", np.float64(2.0), ">", 1).passed() is True
    assert Check("x", torch.tensor(0.5), "<", 1).passed() is True
    assert isinstance(Check("x", torch.tensor(0.5), "<", 1).ours, float)


def test_check_validation():
    with pytest.raises(ValueError, match="valid ops"):
        Check("x", 1.0, "==", 1.0)
    with pytest.raises(ValueError, match="only apply"):
        Check("x", 1.0, ">=", 1.0, tol=0.1)
    with pytest.raises(ValueError, match="finite"):
        Check("x", 1.0, "<", float("nan"))
    with pytest.raises(ValueError):
        Check("x", 1.0, "~", 1.0, tol=-0.1)


def test_criterion_text():
    assert Check("x", 1, "~", 72.0, tol=0.01).criterion() == "≈ 72 (±1%)"
    assert Check("x", 1, "~", 0.0, atol=0.5).criterion() == "≈ 0 (±0.5)"
    assert Check("x", 1, ">=", 4).criterion() == "≥ 4"
    assert Check("x", 1, "<", 0.25).criterion() == "< 0.25"
    assert Check("x", 1, "~", 3.0).criterion() == "= 3"


def claim(*checks, tested=True):
    return Claim("c", "text", "paper says", list(checks), tested=tested)


def test_the_four_verdicts():
    ok, bad, missing = Check("a", 5, ">=", 4), Check("b", 3, ">=", 4), Check("c", None, ">=", 4)
    assert claim(ok, ok).verdict == "reproduced"
    assert claim(ok, bad).verdict == "partly"
    assert claim(bad, bad).verdict == "not reproduced"
    assert claim(ok, missing).verdict == "not tested at this profile"
    assert claim(ok, Check("d", float("nan"), "~", 1, tol=0.1)).verdict == "not tested at this profile"
    assert claim(ok, tested=False).verdict == "not tested at this profile"
    assert Claim("c", "t", "p", [], tested=False).verdict == VERDICTS[3]
    assert {claim(ok).verdict, claim(ok, bad).verdict, claim(bad).verdict, claim(missing).verdict} == set(VERDICTS)


def test_verdict_cannot_be_set_by_hand():
    c = claim(Check("a", 3, ">=", 4))
    with pytest.raises(AttributeError):
        c.verdict = "reproduced"
    with pytest.raises(TypeError):
        Claim("c", "t", "p", [Check("a", 3, ">=", 4)], verdict="reproduced")
    assert c.verdict == "not reproduced"


def test_claim_validation_and_display():
    with pytest.raises(ValueError, match="no checks"):
        Claim("c", "t", "p", [])
    with pytest.raises(ValueError, match="claim id"):
        Claim("Bad Id", "t", "p", [Check("a", 1, ">", 0)])
    c = Claim("flops", "t", "72 GFLOPs", [Check("a", 71.8, "~", 72, tol=0.01), Check("b", 28.8, ">=", 4)])
    assert c.ours == "71.8; 28.8"
    assert c.criterion == "≈ 72 (±1%); ≥ 4"
    d = c.to_dict()
    assert d["verdict"] == "reproduced" and [k["passed"] for k in d["checks"]] == [True, True]
    assert Claim.from_dict(json.loads(json.dumps(d))) == c
    table = report.claims_table([c])
    assert list(table["verdict"]) == ["reproduced"] and list(table["id"]) == ["flops"]


def test_claim_checks_must_be_checks():
    as_dict = {"what": "a", "ours": 1.0, "op": ">", "target": 0.0}
    with pytest.raises(TypeError, match="must be a Check, got dict"):
        Claim("c", "t", "p", [as_dict])
    with pytest.raises(TypeError, match="must be a Check, got tuple"):
        Claim("c", "t", "p", [Check("a", 1, ">", 0), ("b", 1.0, ">", 0.0)])


# ----------------------------------------------------------------------------- files
def test_save_figure_writes_png_atomically(tmp_path):
    run = make_run(tmp_path)
    fig, ax = plotting.new_figure()
    ax.plot([0, 1], [0, 1])
    path = report.save_figure(fig, "loss_curve", run)
    assert path == run.out_dir / "loss_curve.png"
    assert path.read_bytes()[:8] == PNG_MAGIC
    assert no_temp_files(run.out_dir)
    assert plt.fignum_exists(fig.number)  # left open for the notebook to display
    assert report.save_figure(fig, "again", tmp_path / "plain_dir").read_bytes()[:8] == PNG_MAGIC
    plt.close(fig)


@pytest.mark.parametrize("name", ["Loss", "loss.png", "loss-curve", "a b", "", "../x", "_x", 3])
def test_save_figure_rejects_bad_names(tmp_path, name):
    fig, _ = plotting.new_figure()
    with pytest.raises(ValueError, match="figure name"):
        report.save_figure(fig, name, tmp_path)
    assert list(tmp_path.iterdir()) == []
    plt.close(fig)


def test_atomic_write_leaves_no_temp_file_on_failure(tmp_path):
    target = tmp_path / "x.json"
    report.atomic_write_text(target, "old")
    with pytest.raises(TypeError):
        report.atomic_write_json(target, {"bad": object()})
    assert target.read_text() == "old" and no_temp_files(tmp_path)


def test_to_jsonable_converts_numpy_torch_nan():
    bad: list = []
    out = report.to_jsonable({"a": np.float32(1.5), "b": np.arange(3), "c": torch.tensor([1.0, float("inf")]),
                              "d": {4: float("nan")}, "e": (np.int64(2), True), "f": torch.float16}, bad)
    assert out == {"a": 1.5, "b": [0, 1, 2], "c": [1.0, None], "d": {"4": None}, "e": [2, True],
                   "f": "torch.float16"}
    assert bad == ["c[1]", "d.4"]


def test_save_metrics_round_trip(tmp_path, fake_header):
    from dataclasses import dataclass

    @dataclass
    class Cfg:
        lr: float = 1e-3
        steps: int = 10

    run = make_run(tmp_path, profile="quick", seed=3)
    metrics = {"acc": np.float64(0.75), "per_k": {"1": torch.tensor(2.5), "4": float("nan")},
               "curve": np.array([1.0, np.inf]), "n": np.int64(7)}
    path = report.save_metrics(run, Cfg(), metrics, seeds=[3, 4, np.int64(5)])
    assert path == run.out_dir / "metrics.json" and no_temp_files(run.out_dir)
    doc = json.loads(path.read_text())
    assert doc["slug"] == "meo" and doc["notebook"] == "01_meo" and doc["profile"] == "quick"
    assert doc["seeds"] == [3, 4, 5] and doc["device"] == "cpu" and doc["device_name"] == "cpu (test)"
    assert doc["git_sha"] == "abc1234" and doc["versions"]["torch"] == "2.13.0"
    assert doc["config"] == {"lr": 1e-3, "steps": 10}
    assert doc["metrics"] == {"acc": 0.75, "per_k": {"1": 2.5, "4": None}, "curve": [1.0, None], "n": 7}
    assert doc["nonfinite"] == ["metrics.per_k.4", "metrics.curve[1]"]
    assert isinstance(doc["wall_time_s"], float) and doc["created"].endswith("+00:00")
    assert "NaN" not in path.read_text() and "Infinity" not in path.read_text()
    assert report.save_metrics(run, None, {"x": 1}) and json.loads(path.read_text())["seeds"] == [3]
    with pytest.raises(ValueError):
        report.save_metrics(run, None, {}, seeds=[])


def test_save_claims_and_duplicate_ids(tmp_path):
    run = make_run(tmp_path)
    claims = [claim(Check("a", 5, ">=", 4)), Claim("other", "t", "p", [Check("b", math.nan, "<", 1)])]
    doc = json.loads(report.save_claims(run, claims).read_text())
    assert doc["slug"] == "meo" and doc["notebook"] == "01_meo" and doc["profile"] == "smoke"
    assert [c["verdict"] for c in doc["claims"]] == ["reproduced", "not tested at this profile"]
    assert doc["claims"][1]["checks"][0]["ours"] is None
    with pytest.raises(ValueError, match="duplicate"):
        report.save_claims(run, [claims[0], claims[0]])


# ----------------------------------------------------------------------------- report builder
def fake_workbook(tmp_path):
    runs = {"meo": make_run(tmp_path, "meo", "quick"), "erc": make_run(tmp_path, "erc", "smoke")}
    for slug, run in runs.items():
        fig, ax = plotting.new_figure()
        ax.bar(["a", "b"], [1, 2])
        report.save_figure(fig, f"{slug}_bars", run)
        report.save_figure(fig, "a_first", run)
        plt.close(fig)
        report.save_metrics(run, {"slug": slug}, {"score": 1.0})
    report.save_claims(runs["meo"], [
        Claim("flops_headline", "MEO <b>cuts</b> FLOPs | a lot", "72.0 GFLOPs",
              [Check("GFLOPs", 71.8, "~", 72.0, tol=0.01)], note="smaller model"),
        Claim("accuracy", "matches MoE", "+0.1 pt", [Check("gap", -3.0, ">=", -0.5), Check("acc", 80, ">", 70)]),
    ])
    report.save_claims(runs["erc"], [Claim("return", "beats SAC", "1.2x", [Check("ratio", 0.9, ">=", 1.0)]),
                                     Claim("big_env", "humanoid", "n/a", [], tested=False)])
    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / "01_meo.html").write_text("<html></html>")
    (reports / "status.json").write_text(json.dumps({"01_meo": {"status": "ok", "wall_s": 12.0, "profile": "quick"},
                                                     "09_erc": {"status": "failed", "wall_s": 3.0,
                                                                "profile": "smoke"}}))
    return tmp_path


def test_build_report(tmp_path, fake_header):
    root = fake_workbook(tmp_path)
    out = report.build_report(root)
    readme, index = out["readme"].read_text(), out["index"].read_text()
    assert out["readme"] == root / "figures" / "README.md" and out["index"] == root / "reports" / "index.html"
    assert "python -m replib.report" in readme and "Do not edit by hand" in readme
    assert "| 01_meo | flops_headline | 72.0 GFLOPs | 71.8 | ≈ 72 (±1%) | reproduced | quick |" in readme
    assert "| 01_meo | accuracy | +0.1 pt | -3; 80 | ≥ -0.5; > 70 | partly | quick |" in readme
    assert "| 09_erc | return | 1.2x | 0.9 | ≥ 1 | not reproduced | smoke |" in readme
    assert "| 09_erc | big_env | n/a | n/a |  | not tested at this profile | smoke |" in readme
    assert "| 01_meo | quick | 1 | 1 | 0 | 0 | 2 |" in readme  # summary counts per verdict
    assert "| 02_padnet | not run yet |" in readme
    assert readme.index("### 01_meo") < readme.index("### 02_padnet") < readme.index("### 09_erc") \
        < readme.index("### 10_mece")
    assert "![a_first](01_meo/a_first.png)" in readme and "![erc_bars](09_erc/erc_bars.png)" in readme
    assert "seeds 0" in readme and "git abc1234" in readme
    assert "<b>" not in readme and "MEO &lt;b>cuts&lt;/b> FLOPs \\| a lot" in readme
    for verdict in VERDICTS:
        assert f">{verdict}</td>" in index
    assert 'src="../figures/01_meo/meo_bars.png"' in index
    assert '<a href="01_meo.html">01_meo</a>' in index and 'class="failed">failed<' in index
    assert "&lt;b&gt;cuts&lt;/b&gt;" in index and "<b>cuts</b>" not in index
    assert "http" not in index and "<script" not in index and "<link" not in index  # self-contained
    assert out["papers"]["01_meo"]["counts"]["partly"] == 1 and not out["papers"]["02_padnet"]["ran"]
    assert no_temp_files(root / "figures") and no_temp_files(root / "reports")


def test_build_report_summary_totals_row(tmp_path, fake_header):
    out = report.build_report(fake_workbook(tmp_path))
    readme, index = out["readme"].read_text(), out["index"].read_text()
    summary = readme[readme.index("## Summary"):readme.index("## Gallery")].strip().splitlines()
    assert summary[-1] == "| all |  | 1 | 1 | 1 | 1 | 4 |"  # claims per verdict and figures, all papers
    assert "<tr><td>all</td><td></td><td>1</td><td>1</td><td>1</td><td>1</td><td>4</td><td></td></tr>" in index


def test_build_report_is_deterministic(tmp_path, fake_header):
    root = fake_workbook(tmp_path)
    first = report.build_report(root)
    a, b = first["readme"].read_bytes(), first["index"].read_bytes()
    second = report.build_report(figures_dir=root / "figures", reports_dir=root / "reports")
    assert second["readme"].read_bytes() == a and second["index"].read_bytes() == b


def test_build_report_recomputes_hand_edited_verdicts(tmp_path, fake_header):
    root = fake_workbook(tmp_path)
    path = root / "figures" / "09_erc" / "claims.json"
    doc = json.loads(path.read_text())
    doc["claims"][0]["verdict"] = "reproduced"  # typed by hand: the numbers say otherwise
    path.write_text(json.dumps(doc))
    with pytest.warns(UserWarning, match="computed verdict"):
        out = report.build_report(root)
    assert out["papers"]["09_erc"]["counts"]["reproduced"] == 0
    assert "| 09_erc | return | 1.2x | 0.9 | ≥ 1 | not reproduced | smoke |" in out["readme"].read_text()


def test_build_report_empty_root_and_cli(tmp_path, capsys):
    assert report.main(["--root", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert "README.md" in printed and "index.html" in printed and "10_mece" in printed and "not run yet" in printed
    assert "No claims recorded yet" in (tmp_path / "figures" / "README.md").read_text()
