"""Every notebook executed end to end with profile="smoke" on the CPU, through papermill."""
import json
import math
import re

import papermill as pm
import pytest

from conftest import ROOT, notebook_paths
from replib.scorecard import check_claims

UNTESTED = "not tested at this profile"


def expected_figures(path):
    src = path.with_suffix(".py").read_text()
    return set(re.findall(r'save_figure\(\s*fig\s*,\s*"([a-z0-9_]+)"', src))


def finite(obj):
    if isinstance(obj, dict):
        return all(finite(v) for v in obj.values())
    if isinstance(obj, list):
        return all(finite(v) for v in obj)
    return not isinstance(obj, float) or math.isfinite(obj)


@pytest.mark.notebook
@pytest.mark.parametrize("path", notebook_paths(), ids=lambda p: p.stem)
def test_notebook_smoke(path, tmp_path):
    out_dir = tmp_path / "figures" / path.stem
    pm.execute_notebook(str(path), str(tmp_path / path.name), cwd=str(ROOT / "notebooks"),
                        parameters={"profile": "smoke", "device": "cpu", "out_dir": str(out_dir)},
                        kernel_name="python3", progress_bar=False)
    pngs = {p.stem for p in out_dir.glob("*.png")}
    assert expected_figures(path) <= pngs, f"missing figures {expected_figures(path) - pngs}"
    metrics = json.loads((out_dir / "metrics.json").read_text())
    assert metrics["profile"] == "smoke" and metrics["device"] == "cpu"
    assert not metrics.get("nonfinite"), f"non-finite metrics: {metrics['nonfinite']}"
    assert finite(metrics["metrics"])
    claims = json.loads((out_dir / "claims.json").read_text())["claims"]
    assert claims and (out_dir / "results.json").is_file()
    # smoke proves the pipeline: no measured verdicts; exact claims are judged at every profile
    judged = [(c["id"], c["verdict"]) for c in claims if c["kind"] == "measured" and c["verdict"] != UNTESTED]
    assert not judged, f"measured claims judged at smoke: {judged}"
    failed = [(c["id"], c["verdict"]) for c in claims if c["kind"] == "exact" and c["verdict"] != "reproduced"]
    assert not failed, f"exact claims not reproduced at smoke: {failed}"
    assert check_claims(out_dir.parent) == []  # claims.json is rebuilt identically from results.json
