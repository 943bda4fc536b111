"""Hygiene: stripped notebooks, the parameters contract, .py/.ipynb pairs in sync, one slug everywhere."""
import ast
import json
import re
import shutil

import jupytext
import pytest

from conftest import ROOT, notebook_paths
from replib.runtime import PAPERS, notebook_name

NOTEBOOKS = notebook_paths()
PARAMS = {"profile": ("str", "quick"), "device": ("str", "auto"), "seed": ("int", 0),
          "out_dir": ("str", ""), "overrides": ("dict", {})}
SHARED = ("nn", "lm", "rl", "assets")


def test_there_are_notebooks():
    assert NOTEBOOKS, "no notebooks found under notebooks/"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_outputs_stripped(path):
    nb = json.loads(path.read_text())
    dirty = [i for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code"
             and (c.get("outputs") or c.get("execution_count") is not None)]
    assert not dirty, f"{path.name}: cells {dirty} keep outputs; run nbstripout {path}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_parameters_cell_contract(path):
    nb = json.loads(path.read_text())
    cells = [c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(cells) == 1, f"{path.name}: expected one cell tagged 'parameters', found {len(cells)}"
    tree = ast.parse("".join(cells[0]["source"]))
    found = {}
    for node in tree.body:
        assert isinstance(node, ast.AnnAssign), f"{path.name}: parameters cell must hold annotated literals only"
        found[node.target.id] = (ast.unparse(node.annotation), ast.literal_eval(node.value))
    assert found == PARAMS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_pair_in_sync(path):
    py = path.with_suffix(".py")
    assert py.exists(), f"{path.name} has no paired {py.name}; run jupytext --sync {path}"
    a, b = jupytext.read(path), jupytext.read(py)
    sa = [(c.cell_type, c.source.strip()) for c in a.cells]
    sb = [(c.cell_type, c.source.strip()) for c in b.cells]
    assert sa == sb, f"{path.name} and {py.name} differ; run jupytext --sync {py}"


def test_one_slug_everywhere():
    names = {p.stem for p in NOTEBOOKS}
    for stem in names:
        m = re.fullmatch(r"(\d\d)_([a-z]+)", stem)
        assert m and m.group(2) in PAPERS and notebook_name(m.group(2)) == stem, f"bad notebook name {stem}"
        slug = m.group(2)
        assert (ROOT / "lib" / "replib" / slug / "__init__.py").exists(), f"no package lib/replib/{slug}"
        assert (ROOT / "tests" / "unit" / f"test_{slug}.py").exists(), f"no tests/unit/test_{slug}.py"
    for fig in (ROOT / "figures").glob("[0-9][0-9]_*"):
        assert fig.name in names, f"figures/{fig.name} has no notebook"


def _imports(py):
    tree = ast.parse(py.read_text())
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            mod = node.module or ""
            if node.level >= 2:                    # from ..x import y, inside lib/replib/<pkg>/
                out.add(mod.split(".")[0])
            elif mod.startswith("replib."):
                out.add(mod.split(".")[1])
        elif isinstance(node, ast.Import):
            out |= {a.name.split(".")[1] for a in node.names if a.name.startswith("replib.")}
    return out


def test_paper_packages_do_not_import_each_other():
    lib = ROOT / "lib" / "replib"
    for pkg in [p for p in lib.iterdir() if p.is_dir() and (p / "__init__.py").exists()]:
        for py in pkg.rglob("*.py"):
            bad = {m for m in _imports(py) if m in PAPERS and m != pkg.name}
            if pkg.name in SHARED:
                bad = {m for m in _imports(py) if m in PAPERS}
            assert not bad, f"{py.relative_to(ROOT)} imports paper package(s) {bad}"


def test_module_sizes():
    for py in (ROOT / "lib" / "replib").rglob("*.py"):
        n = len(py.read_text().splitlines())
        assert n <= 350, f"{py.relative_to(ROOT)} has {n} lines (> 350): split it"


def test_figures_readme_is_regenerated(tmp_path):
    """figures/README.md must equal what build_report makes from the committed figures (nbdev-ci style)."""
    from replib.report import build_report
    figs = ROOT / "figures"
    if not (figs / "README.md").exists():
        pytest.skip("no figures/README.md yet")
    shutil.copytree(figs, tmp_path / "figures")
    build_report(root=ROOT, figures_dir=tmp_path / "figures", reports_dir=tmp_path / "reports")
    assert (tmp_path / "figures" / "README.md").read_text() == (figs / "README.md").read_text(), \
        "figures/README.md is stale: run python -m replib.report"


def test_committed_claims_rebuild_from_their_raw_results(tmp_path):
    """`python -m replib.report --check` on the committed figures: every claims.json is what make_claims
    gives from its results.json; a hand edit of a stored number is caught and named."""
    import subprocess
    import sys

    figs = ROOT / "figures"
    folders = [p.parent.name for p in figs.glob("[0-9][0-9]_*/claims.json")]
    if not folders:
        pytest.skip("no committed claims yet")
    cmd = [sys.executable, "-m", "replib.report", "--check", "--figures"]
    ok = subprocess.run(cmd + [str(figs)], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    shutil.copytree(figs, tmp_path / "figures")
    path = tmp_path / "figures" / folders[0] / "claims.json"
    doc = json.loads(path.read_text())
    target = next(c for c in doc["claims"] if c["checks"] and c["checks"][0]["ours"] is not None)
    target["checks"][0]["ours"] = target["checks"][0]["ours"] + 1.0  # typed by hand
    path.write_text(json.dumps(doc))
    bad = subprocess.run(cmd + [str(tmp_path / "figures")], capture_output=True, text=True)
    assert bad.returncode == 1 and f"{folders[0]}/{target['id']}" in bad.stdout, bad.stdout
