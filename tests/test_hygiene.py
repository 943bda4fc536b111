"""Hygiene: stripped notebooks, the parameters contract, .py/.ipynb pairs in sync, one slug everywhere, no import
cycles inside replib, ruff clean."""
import ast
import json
import re
import shutil
import subprocess
import sys

import jupytext
import pytest

from conftest import ROOT, notebook_paths
from replib.runtime import PAPERS, notebook_name

NOTEBOOKS = notebook_paths()
PARAMS = {"profile": ("str", "quick"), "device": ("str", "auto"), "seed": ("int", 0),
          "out_dir": ("str", ""), "overrides": ("dict", {})}
SHARED = ("nn", "lm", "rl", "assets")
COMMANDS = ("filter",)   # command layers over the papers (like scorecard.py): may import papers; none imports them


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
            if pkg.name in COMMANDS:
                bad = set()
            assert not bad, f"{py.relative_to(ROOT)} imports paper package(s) {bad}"
            cmd = {m for m in _imports(py) if m in COMMANDS and m != pkg.name}
            assert not cmd, f"{py.relative_to(ROOT)} imports the command layer {cmd}: only the command line may"


def _module_name(py) -> str:
    parts = py.relative_to(ROOT / "lib").with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """replib module -> the replib modules it imports anywhere in its body (function-level imports included).
    ``from pkg import name`` is an edge to ``pkg.name`` when that is a module, else to ``pkg`` itself."""
    modules = {_module_name(p): p for p in (ROOT / "lib" / "replib").rglob("*.py")}
    graph = {}
    for mod, py in modules.items():
        package = mod.split(".") if py.name == "__init__.py" else mod.split(".")[:-1]
        deps = set()
        for node in ast.walk(ast.parse(py.read_text())):
            if isinstance(node, ast.ImportFrom):
                base = ".".join(package[:len(package) - node.level + 1] + [node.module or ""]).strip(".") \
                    if node.level else (node.module or "")
                deps |= {f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names}
            elif isinstance(node, ast.Import):
                deps |= {a.name for a in node.names}
        graph[mod] = {d for d in deps if d in modules and d != mod}
    return graph


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index, low, stack, on_stack, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while not comp or comp[-1] != v:
                comp.append(stack.pop())
                on_stack.discard(comp[-1])
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_import_cycle_finder_sees_function_level_imports():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert import_cycles(graph) == [["a", "b", "c"]] and import_cycles({"a": {"b"}, "b": set()}) == []
    g = import_graph()
    assert "replib.assets.models" in g["replib.assets.inventory"]        # `from . import models`
    assert "replib.runtime" in g["replib.assets.locate"]                  # `from .. import runtime`


def test_no_import_cycles_inside_replib():
    cycles = import_cycles(import_graph())
    assert not cycles, "import cycles (each a set of modules that import each other, function-level imports " \
                       "included): " + "; ".join(" <-> ".join(c) for c in cycles)


def test_ruff_is_clean():
    """`ruff check lib tests benchmarks scripts` with the settings in pyproject.toml finds nothing."""
    try:
        import ruff  # noqa: F401
    except ImportError:
        pytest.fail("ruff is not installed: pip install -c constraints.txt -e .[dev]")
    out = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "lib", "tests", "benchmarks",
                          "scripts"], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_readme_layout_matches_the_tree():
    """Every path README's layout block lists exists; every top-level module and script is listed."""
    readme = (ROOT / "README.md").read_text()
    block = readme.split("## Layout\n\n```\n", 1)[1].split("```", 1)[0]
    listed = [line.split()[0] for line in block.splitlines() if line and not line[0].isspace()]
    ignored = set((ROOT / ".gitignore").read_text().split())        # reports/: made by the runs, not committed
    missing = []
    for entry in [e for e in listed if e not in ignored]:
        entry = entry.replace("<slug>", "meo").replace("<name>", "meo").replace("NN_slug", "01_meo")
        if "{" in entry:
            head, rest = entry.split("{", 1)
            names, tail = rest.split("}", 1)
            paths = [head + n + tail for n in names.split(",")]
        else:
            paths = [entry]
        missing += [p for p in paths if not (ROOT / p).exists()]
    assert not missing, f"README's layout block lists paths that do not exist: {missing}"
    for path in [*(ROOT / "lib" / "replib").glob("*.py"), *(ROOT / "scripts").glob("*.sh")]:
        rel = path.relative_to(ROOT).as_posix()
        assert path.name == "__init__.py" or rel in listed, f"README's layout block does not list {rel}"


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
