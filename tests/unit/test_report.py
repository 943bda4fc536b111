"""report: atomic outputs, JSON conversion, raw results -> claims, the scorecard builder and --check."""
import json
import sys
import types
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from replib import plotting, report, runtime, scorecard, stats, store  # noqa: E402
from replib.claims import VERDICTS, Check, Claim  # noqa: E402

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


# ----------------------------------------------------------------------------- raw results -> claims
@dataclass
class FakeConfig:
    threshold: float = 0.0
    ks: tuple = (1, 2)


def fake_make_claims(cfg, *, runs, formula):
    """A paper's make_claims in miniature: one measured, seed-paired claim and one exact claim."""
    assert isinstance(cfg.ks, tuple)  # lists come back as tuples
    gap = stats.paired(runs["a"], runs["b"])
    return [Claim("a_beats_b", "A beats B", "+1 point", [gap.check("A - B, seed-paired")], note=gap.describe()),
            Claim("formula", "2 + 2 = 4", "4", [Check("2 + 2", float(formula["sum"][0]), "~", 4.0)], kind="exact")]


@pytest.fixture
def fake_paper(monkeypatch):
    """replib.mece as a paper package whose make_claims is fake_make_claims (mece has no package yet)."""
    pkg, config, claims = (types.ModuleType(f"replib.mece{s}") for s in ("", ".config", ".claims"))
    pkg.__path__ = []
    config.Config, claims.make_claims = FakeConfig, fake_make_claims
    for m in (pkg, config, claims):
        monkeypatch.setitem(sys.modules, m.__name__, m)


def runs(effect):
    noise = np.array([0.1, -0.2, 0.15, -0.05])
    return pd.DataFrame({"seed": [0, 1, 2, 3], "a": 80 + effect + noise, "b": 80 - noise / 2})


def save(tmp_path, profile="quick", effect=3.0, total=4):
    run = make_run(tmp_path, "mece", profile)
    return run, report.save_claims(run, FakeConfig(), runs=runs(effect), formula={"sum": np.array([total])})


def test_save_claims_writes_results_and_claims_rebuilt_from_them(tmp_path, fake_paper):
    run, claims = save(tmp_path)
    assert [c.verdict for c in claims] == ["reproduced", "reproduced"] and {c.profile for c in claims} == {"quick"}
    res = json.loads((run.out_dir / "results.json").read_text())
    assert res["slug"] == "mece" and res["profile"] == "quick" and res["config"] == {"threshold": 0.0, "ks": [1, 2]}
    doc = json.loads((run.out_dir / "claims.json").read_text())
    assert doc["profile"] == "quick" and [c["kind"] for c in doc["claims"]] == ["measured", "exact"]
    assert doc["claims"][0]["checks"][0]["ci"][0] > 0 and no_temp_files(run.out_dir)
    assert scorecard.check_claims(tmp_path / "figures") == []


@pytest.mark.parametrize("effect, verdict", [(3.0, "reproduced"), (0.0, "inconclusive"), (-3.0, "not reproduced")])
def test_measured_verdict_follows_the_evidence(tmp_path, fake_paper, effect, verdict):
    assert save(tmp_path, effect=effect)[1][0].verdict == verdict


def test_smoke_run_judges_only_exact_claims(tmp_path, fake_paper):
    _, claims = save(tmp_path, profile="smoke")
    assert [c.verdict for c in claims] == ["not tested at this profile", "reproduced"]
    assert save(tmp_path, profile="smoke", total=5)[1][1].verdict == "not reproduced"


@pytest.mark.parametrize("edit, expect", [
    (lambda d: d["claims"][0]["checks"][0].update(ours=9.0), "mece/a_beats_b.checks[0].ours"),
    (lambda d: d["claims"][0].update(verdict="not reproduced"), "mece/a_beats_b.verdict"),
    (lambda d: d["claims"][1].update(note="hand-written"), "mece/formula.note"),
    (lambda d: d["claims"].pop(), "mece/formula: produced by make_claims but missing"),
    (lambda d: d.update(profile="full"), "profile 'full' in claims.json"),
])
def test_check_fails_on_a_hand_edited_claims_json(tmp_path, fake_paper, edit, expect, capsys):
    run, _ = save(tmp_path)
    path = run.out_dir / "claims.json"
    doc = json.loads(path.read_text())
    edit(doc)
    path.write_text(json.dumps(doc))
    problems = scorecard.check_claims(tmp_path / "figures")
    assert len(problems) == 1 and expect in problems[0], problems
    assert report.scorecard.main(["--check", "--figures", str(tmp_path / "figures")]) == 1
    assert "MISMATCH" in capsys.readouterr().out


def test_check_fails_on_edited_or_missing_raw_results(tmp_path, fake_paper):
    run, _ = save(tmp_path)
    res = json.loads((run.out_dir / "results.json").read_text())
    res["results"]["runs"]["__frame__"]["data"]["a"][0] = 0.0  # a raw number changed after the fact
    (run.out_dir / "results.json").write_text(json.dumps(res))
    assert any("a_beats_b" in p for p in scorecard.check_claims(tmp_path / "figures"))
    (run.out_dir / "results.json").unlink()
    assert scorecard.check_claims(tmp_path / "figures") == [
        "10_mece: claims.json has no results.json to rebuild it from"]
    assert scorecard.main(["--check", "--figures", str(tmp_path / "nothing")]) == 0


def test_results_round_trip_keeps_dtypes_and_nan():
    frame = pd.DataFrame({"i": [1, 2], "f": [0.5, np.nan], "s": ["a", "b"], "b": [True, False],
                          "h": np.array([1.5, 2.5], dtype="float32")})
    doc = json.loads(json.dumps(store.encode_results({"f": frame, "a": np.arange(6.0).reshape(2, 3), "k": [1, None]})))
    back = store.decode_results(doc)
    pd.testing.assert_frame_equal(back["f"], frame)
    np.testing.assert_array_equal(back["a"], np.arange(6.0).reshape(2, 3))
    assert back["k"] == [1, None]
    with pytest.raises(TypeError, match="columns must be strings"):
        store.encode_results(pd.DataFrame({0: [1]}))
    with pytest.raises(ValueError, match="does not know"):
        store.config_from_dict(FakeConfig, {"nope": 1})


# ----------------------------------------------------------------------------- report builder
def fake_workbook(tmp_path):
    runs_ = {"meo": make_run(tmp_path, "meo", "quick"), "erc": make_run(tmp_path, "erc", "quick")}
    for slug, run in runs_.items():
        fig, ax = plotting.new_figure()
        ax.bar(["a", "b"], [1, 2])
        report.save_figure(fig, f"{slug}_bars", run)
        report.save_figure(fig, "a_first", run)
        plt.close(fig)
        report.save_metrics(run, {"slug": slug}, {"score": 1.0})
    report.write_claims(runs_["meo"].out_dir, "meo", "quick", [
        Claim("flops_headline", "MEO <b>cuts</b> FLOPs | a lot", "72.0 GFLOPs",
              [Check("GFLOPs", 71.8, "~", 72.0, tol=0.01)], note="smaller model", kind="exact"),
        Claim("accuracy", "matches MoE", "+0.1 pt", [Check("gap", -3.0, ">=", -0.5), Check("acc", 80, ">", 70)]),
        Claim("gap", "beats MoE", "+0.7 pt", [Check("gap", 0.2, ">", 0, ci=(-0.5, 0.9))]),
    ])
    report.write_claims(runs_["erc"].out_dir, "erc", "quick",
                        [Claim("return", "beats SAC", "1.2x", [Check("ratio", 0.9, ">=", 1.0)]),
                         Claim("big_env", "humanoid", "n/a", [], tested=False)])
    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / "01_meo.html").write_text("<html></html>")
    (reports / "status.json").write_text(json.dumps({
        "01_meo": {"status": "ok", "wall_s": 12.0, "profile": "quick"},
        "09_erc": {"status": "timeout", "wall_s": 3.0, "profile": "smoke", "log": "reports/logs/09_erc.log"}}))
    return tmp_path


def test_build_report(tmp_path, fake_header):
    root = fake_workbook(tmp_path)
    out = report.build_report(root)
    readme, index = out["readme"].read_text(), out["index"].read_text()
    assert out["readme"] == root / "figures" / "README.md" and out["index"] == root / "reports" / "index.html"
    assert "python -m replib.report" in readme and "Do not edit by hand" in readme
    measured, exact = readme.split("## Exact checks")
    assert "| 01_meo | flops_headline | 72.0 GFLOPs | 71.8 | ≈ 72 (±1%) | reproduced | quick |" in exact
    assert "flops_headline" not in measured
    assert "| 01_meo | accuracy | +0.1 pt | -3; 80 | ≥ -0.5; > 70 | partly | quick |" in measured
    assert "| 01_meo | gap | +0.7 pt | 0.2 [-0.5, 0.9] | 95% CI > 0 | inconclusive | quick |" in measured
    assert "| 09_erc | return | 1.2x | 0.9 | ≥ 1 | not reproduced | quick |" in measured
    assert "| 09_erc | big_env | n/a | n/a |  | not tested at this profile | quick |" in measured
    assert "| 01_meo | quick | 0 | 1 | 0 | 1 | 0 | 1/1 | 2 |" in readme  # measured per verdict, exact passed
    assert "| 02_padnet | not run yet |" in readme
    assert readme.index("### 01_meo") < readme.index("### 02_padnet") < readme.index("### 09_erc") \
        < readme.index("### 10_mece")
    assert "![a_first](01_meo/a_first.png)" in readme and "![erc_bars](09_erc/erc_bars.png)" in readme
    assert "seeds 0" in readme and "git abc1234" in readme and "timeout" not in readme  # run status: index only
    assert "<b>" not in readme and "MEO &lt;b>cuts&lt;/b> FLOPs \\| a lot" in readme
    for verdict in VERDICTS:
        assert f">{verdict}</td>" in index
    assert 'src="../figures/01_meo/meo_bars.png"' in index
    assert '<a href="01_meo.html">01_meo</a>' in index
    assert 'class="timeout">timeout</span> (3 s) · log reports/logs/09_erc.log' in index
    assert "&lt;b&gt;cuts&lt;/b&gt;" in index and "<b>cuts</b>" not in index
    assert "http" not in index and "<script" not in index and "<link" not in index  # self-contained
    assert out["papers"]["01_meo"]["counts"]["partly"] == 1 and not out["papers"]["02_padnet"]["ran"]
    assert out["papers"]["01_meo"]["exact_passed"] == (1, 1)
    assert no_temp_files(root / "figures") and no_temp_files(root / "reports")


def test_build_report_summary_totals_row(tmp_path, fake_header):
    out = report.build_report(fake_workbook(tmp_path))
    readme, index = out["readme"].read_text(), out["index"].read_text()
    summary = readme[readme.index("## Summary"):readme.index("## Gallery")].strip().splitlines()
    assert summary[-1] == "| all |  | 0 | 1 | 1 | 1 | 1 | 1/1 | 4 |"  # measured claims per verdict, exact, figures
    assert ("<tr><td>all</td><td></td><td>0</td><td>1</td><td>1</td><td>1</td><td>1</td><td>1/1</td><td>4</td>"
            "<td></td></tr>") in index


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
    out = report.build_report(root)
    assert out["papers"]["09_erc"]["counts"]["reproduced"] == 0
    assert "| 09_erc | return | 1.2x | 0.9 | ≥ 1 | not reproduced | quick |" in out["readme"].read_text()


@pytest.mark.parametrize("bad", ["{not json", '{"claims": [{"text": "no id"}]}', '{"claims": 3}',
                                 '{"claims": [{"id": "x", "checks": [{"what": "a", "ours": 1, "op": "==", '
                                 '"target": 0}]}]}'])
def test_a_malformed_claims_json_marks_only_that_paper_broken(tmp_path, fake_header, bad):
    root = fake_workbook(tmp_path)
    (root / "figures" / "09_erc" / "claims.json").write_text(bad)
    out = report.build_report(root)
    readme = out["readme"].read_text()
    assert out["papers"]["09_erc"]["error"] and "09_erc/claims.json" in out["papers"]["09_erc"]["error"]
    assert "| 09_erc | broken: " in readme and "**broken:**" in readme
    assert "| 01_meo | quick | 0 | 1 | 0 | 1 | 0 | 1/1 | 2 |" in readme  # the others still build
    assert 'class="broken"' in out["index"].read_text()


def test_build_report_empty_root_and_cli(tmp_path, capsys):
    assert report.scorecard.main(["--root", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert "README.md" in printed and "index.html" in printed and "10_mece" in printed and "not run yet" in printed
    assert "None recorded yet" in (tmp_path / "figures" / "README.md").read_text()
