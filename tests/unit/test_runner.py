"""runner: staging folders swapped in only on success, per-notebook timeout that kills the kernel,
reports/status.json, failures listed; HTML export with a local MathJax. Runs tiny notebooks in a
temporary workbook root (REPLIB_ROOT), never the real ones."""
import json
import os
import re
import time
from pathlib import Path

import nbformat
import psutil
import pytest

from replib import runner
from replib.offline_html import MATHJAX_CONFIG, MATHJAX_DIR, export_html

PARAMS = 'profile: str = "quick"\ndevice: str = "auto"\nseed: int = 0\nout_dir: str = ""\noverrides: dict = {}'


def _notebook(path: Path, *cells: str, markdown: str = "") -> Path:
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell(PARAMS)
    params.metadata["tags"] = ["parameters"]
    nb.cells = ([nbformat.v4.new_markdown_cell(markdown)] if markdown else []) + [params] + [
        nbformat.v4.new_code_cell(c) for c in cells]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def _snapshot(folder: Path) -> dict:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _ours(root: Path) -> list:
    """Live processes (other than this one) started for `root`: papermill and its kernels carry REPLIB_ROOT."""
    out = []
    for p in psutil.process_iter():
        try:
            if p.pid != os.getpid() and p.status() != psutil.STATUS_ZOMBIE \
                    and p.environ().get("REPLIB_ROOT") == str(root):
                out.append(p)
        except psutil.Error:
            pass
    return out


@pytest.fixture
def workbook(tmp_path, monkeypatch):
    """A fake workbook root: run_all.sh, lib/replib, three notebooks, and last good smoke figures."""
    root = tmp_path / "wb"
    (root / "lib" / "replib").mkdir(parents=True)
    (root / "run_all.sh").write_text("")
    nbs = root / "notebooks"
    _notebook(nbs / "01_meo.ipynb", "import pathlib\n(pathlib.Path(out_dir) / 'new.txt').write_text('fresh')",
              markdown="# good\n$$\\sum_i x_i$$")
    _notebook(nbs / "02_padnet.ipynb", "import pathlib\n(pathlib.Path(out_dir) / 'half.txt').write_text('x')\n"
                                       "raise RuntimeError('boom')")
    _notebook(nbs / "05_ifd.ipynb", "import os, pathlib, subprocess, time\n"
                                    "child = subprocess.Popen(['sleep', '600'])\n"
                                    "pathlib.Path(os.environ['REPLIB_ROOT'], 'pids')"
                                    ".write_text(f'{os.getpid()} {child.pid}')\n"
                                    "time.sleep(600)")
    figs = root / "reports" / "smoke" / "figures"   # smoke never writes figures/
    for name in ("01_meo", "02_padnet", "05_ifd"):
        (figs / name).mkdir(parents=True)
        (figs / name / "sentinel.txt").write_text(f"last good {name}")
    (root / "reports" / "status.json").write_text(json.dumps({"09_erc": {"status": "ok", "wall_s": 1.0}}))
    monkeypatch.setenv("REPLIB_ROOT", str(root))
    return root


def test_run_all_swaps_only_good_runs_times_out_and_records_status(workbook, capsys):
    root, figs = workbook, workbook / "reports" / "smoke" / "figures"
    before = {n: _snapshot(figs / n) for n in ("02_padnet", "05_ifd")}

    t = time.time()
    assert runner.main(["--profile", "smoke", "--device", "cpu", "--only", "meo,padnet", "--jobs", "2"]) == 1
    out = capsys.readouterr().out
    assert "FAILED: 02_padnet (failed, log: reports/logs/02_padnet.log)" in out and "01_meo" in out
    assert _snapshot(figs / "01_meo") == {"new.txt": b"fresh"}          # replaced, not merged
    assert _snapshot(figs / "02_padnet") == before["02_padnet"]          # last good kept as it was
    assert "boom" in (root / "reports" / "logs" / "02_padnet.log").read_text()

    t_hang = time.time()
    assert runner.main(["--profile", "smoke", "--device", "cpu", "--only", "ifd", "--timeout", "5"],
                       root=root) == 1
    assert time.time() - t_hang < 40                                      # 5 s + kill grace + report
    out = capsys.readouterr().out
    assert "FAILED: 05_ifd (timeout, log: reports/logs/05_ifd.log)" in out
    assert _snapshot(figs / "05_ifd") == before["05_ifd"]
    assert "[runner] timeout" in (root / "reports" / "logs" / "05_ifd.log").read_text()
    if (root / "pids").exists():  # the cell started: the kernel and its child must be gone
        for pid in map(int, (root / "pids").read_text().split()):
            assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert _ours(root) == []                                              # no papermill, no kernel left

    assert [p.name for p in figs.iterdir() if p.name.startswith(".")] == []   # no staging / .old left
    assert not (root / "figures").exists()
    status = json.loads((root / "reports" / "status.json").read_text())
    assert {k: v["status"] for k, v in status.items()} == {
        "09_erc": "ok", "01_meo": "ok", "02_padnet": "failed", "05_ifd": "timeout"}   # older entry kept
    for name in ("01_meo", "02_padnet", "05_ifd"):
        rec = status[name]
        assert rec["log"] == f"reports/logs/{name}.log" and (root / rec["log"]).is_file()
        assert rec["profile"] == "smoke" and rec["wall_s"] >= 0
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d", rec["finished"])
    assert status["05_ifd"]["wall_s"] >= 5
    assert not list((root / "reports").glob(".status.json.*"))          # atomic write left no temp file

    html = (root / "reports" / "01_meo.html").read_text()                 # exported with the local MathJax
    assert f'src="{MATHJAX_DIR}/MathJax.js?config=' in html
    assert (root / "reports" / MATHJAX_DIR / "MathJax.js").is_file()
    assert (root / "reports" / "index.html").exists()
    assert time.time() - t < 90


def test_interrupted_run_kills_the_kernel_and_keeps_the_figures(workbook, capsys):
    import signal
    import threading

    root, figs = workbook, workbook / "reports" / "smoke" / "figures"
    before, handler = _snapshot(figs / "05_ifd"), signal.getsignal(signal.SIGTERM)

    def term_when_the_cell_runs():  # as `kill -TERM` of run_all.sh, or Ctrl-C, would
        deadline = time.time() + 60
        while not (root / "pids").exists() and time.time() < deadline:
            time.sleep(0.1)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=term_when_the_cell_runs, daemon=True).start()
    assert runner.main(["--profile", "smoke", "--device", "cpu", "--only", "ifd"]) == 130
    assert "interrupted" in capsys.readouterr().out
    assert _ours(root) == [] and _snapshot(figs / "05_ifd") == before
    assert [p.name for p in figs.iterdir() if p.name.startswith(".")] == []
    assert json.loads((root / "reports" / "status.json").read_text())["05_ifd"]["status"] == "failed"
    assert "[runner] interrupted" in (root / "reports" / "logs" / "05_ifd.log").read_text()
    assert signal.getsignal(signal.SIGTERM) == handler and runner._RUNNING == {}   # handler restored


def test_recover_after_a_killed_swap(tmp_path):
    fig = tmp_path
    dead = 2 ** 22 + 12345                                                # above pid_max's default: never alive
    (fig / f".01_meo.old-{dead}").mkdir()
    (fig / f".01_meo.old-{dead}" / "a.txt").write_text("good")
    (fig / f".01_meo.staging-{dead}").mkdir()
    runner.recover(fig, "01_meo")
    assert _snapshot(fig / "01_meo") == {"a.txt": b"good"} and sorted(p.name for p in fig.iterdir()) == ["01_meo"]
    (fig / f".01_meo.old-{dead}").mkdir()
    runner.recover(fig, "01_meo")                                          # final exists: a stale .old goes
    assert sorted(p.name for p in fig.iterdir()) == ["01_meo"]


def test_timeout_option_defaults_per_profile():
    assert runner.TIMEOUT_S == {"smoke": 600, "quick": 2400, "full": 4 * 3600}
    with pytest.raises(SystemExit, match="--timeout"):
        runner.main(["--timeout", "0"])


def test_export_html_uses_the_local_mathjax(tmp_path):
    nb = _notebook(tmp_path / "nb.ipynb", "x = 1", markdown="$$\\sum_i x_i$$")
    html_path = export_html(nb, tmp_path / "out" / "nb.html")
    html = html_path.read_text()
    m = re.search(r'<script src="([^"?]*MathJax\.js)\?config=[^"]+">', html)
    assert m and m[1] == f"{MATHJAX_DIR}/MathJax.js"                       # relative: works from file://
    assert (html_path.parent / m[1]).is_file()
    assert f"?config={MATHJAX_CONFIG}" in html and "local/replib" in MATHJAX_CONFIG
    assert (html_path.parent / MATHJAX_DIR / "config" / "local" / "replib.js").is_file()   # selects STIX-Web
    assert list((html_path.parent / MATHJAX_DIR / "fonts" / "HTML-CSS" / "STIX-Web").rglob("*.woff"))
    assert not re.search(r"https?://[^\"'\s]*mathjax", html, re.I)
    assert "\\sum_i x_i" in html
    mj = tmp_path / "shared_mj"                                            # a MathJax folder elsewhere
    html = export_html(nb, tmp_path / "a" / "b.html", mathjax_dir=mj).read_text()
    assert 'src="../shared_mj/MathJax.js?config=' in html


def test_saved_widgets_become_static_html(tmp_path):
    import ipywidgets  # noqa: F401  (tqdm.auto draws widget bars, not "IProgress not found", only with it)

    from replib.offline_html import WIDGET_STATE, WIDGET_VIEW

    def model(name, **state):
        return {"model_name": name, "model_module": "@jupyter-widgets/controls", "state": state}

    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("for _ in tqdm(range(20)): pass")
    def view(mid):
        return nbformat.v4.new_output("display_data", {WIDGET_VIEW: {"model_id": mid, "version_major": 2},
                                                       "text/plain": "bar:   0%|  | 0/20"})

    cell.outputs = [view("box"), view("closed"), view("odd"), nbformat.v4.new_output("stream", text="hi\n")]
    nb.cells = [cell]
    nb.metadata["widgets"] = {WIDGET_STATE: {"version_major": 2, "version_minor": 0, "state": {
        "box": model("HBoxModel", children=["IPY_MODEL_l", "IPY_MODEL_p", "IPY_MODEL_r"]),
        "l": model("HTMLModel", value="bar: 100%"), "p": model("FloatProgressModel", min=0.0, max=20.0, value=20.0),
        "r": model("HTMLModel", value="20/20 [00:01&lt;00:00]"), "odd": model("DatePickerModel")}}}
    nbformat.write(nb, tmp_path / "w.ipynb")
    html = export_html(tmp_path / "w.ipynb", tmp_path / "w.html").read_text()
    assert re.search(r'<progress(?=[^>]*max="20")(?=[^>]*value="20")', html)   # the bar's final state
    assert "bar: 100%" in html and "20/20 [00:01&lt;00:00]" in html
    assert html.count("bar:   0%") == 1             # the unknown widget falls back to its text; closed: nothing
    assert WIDGET_VIEW not in html and "html-manager" not in html and "hi" in html
