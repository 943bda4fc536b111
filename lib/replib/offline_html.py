"""HTML of an executed notebook that reads offline: MathJax from a local copy instead of a CDN.

nbconvert's HTML loads MathJax from a CDN, so equations show as raw `$$...$$` without a network.
`export_html` copies MathJax 2.7 from the `jupyter-server-mathjax` wheel (its static/ folder) beside
the HTML (reports/mathjax/, once per installed version) and points nbconvert's `mathjax_url` at it
with a relative URL, so the page renders its math from the file system alone.

Widgets (tqdm.auto progress bars, with ipywidgets installed) would need a widget manager from a CDN
too; `static_widgets` replaces each saved widget view by plain HTML of its final state instead.
"""
from __future__ import annotations

import hashlib
import html
import os
import shutil
import threading
from pathlib import Path

MATHJAX_DIR = "mathjax"   # beside the HTML: reports/mathjax/ (git-ignored with reports/)
# The wheel's MathJax is Jupyter's trimmed copy: one combined config (TeX input, HTML-CSS output) and
# the STIX-Web fonts only, so the default TeX web fonts would 404 and the math fall back to whatever
# system fonts exist. config/local/replib.js (written into the copy) selects STIX-Web, as Jupyter does;
# Safe is what nbconvert's own CDN URL adds too.
MATHJAX_CONFIG = "TeX-AMS-MML_HTMLorMML-full,Safe,local/replib"
LOCAL_CONFIG = """\
/* replib: use the STIX-Web fonts shipped here (see replib/offline_html.py). */
MathJax.Hub.Config({"HTML-CSS": {availableFonts: [], preferredFont: null, webFont: "STIX-Web", imageFont: null}});
MathJax.Ajax.loadComplete("[MathJax]/config/local/replib.js");
"""


def mathjax_source() -> Path:
    """The static folder of the installed `jupyter-server-mathjax` (found without importing it)."""
    from importlib.util import find_spec

    spec = find_spec("jupyter_server_mathjax")
    src = Path(spec.origin).parent / "static" if spec and spec.origin else None
    if src is None or not (src / "MathJax.js").exists():
        raise RuntimeError("MathJax for the offline HTML is missing: pip install -c constraints.txt "
                           "jupyter-server-mathjax (part of the `notebooks` extra; scripts/setup_env.sh installs it)")
    return src


def install_mathjax(dest: Path, lock=threading.Lock()) -> Path:
    """Copy MathJax and the local config into `dest` once (again when either changes); returns dest/MathJax.js."""
    from importlib.metadata import version

    digest = hashlib.sha256(LOCAL_CONFIG.encode()).hexdigest()[:12]
    stamp = f"jupyter-server-mathjax {version('jupyter-server-mathjax')}, local config {digest}\n"
    with lock:  # --jobs N exports from several threads
        source = dest / ".source"
        if (dest / "MathJax.js").exists() and source.exists() and source.read_text() == stamp:
            return dest / "MathJax.js"
        tmp, old = (dest.with_name(f".{dest.name}.{kind}-{os.getpid()}") for kind in ("tmp", "old"))
        for p in (tmp, old):
            shutil.rmtree(p, ignore_errors=True)
        shutil.copytree(mathjax_source(), tmp)
        (tmp / "config" / "local").mkdir(parents=True, exist_ok=True)
        (tmp / "config" / "local" / "replib.js").write_text(LOCAL_CONFIG)
        (tmp / ".source").write_text(stamp)
        if dest.exists():
            dest.rename(old)
        tmp.rename(dest)
        shutil.rmtree(old, ignore_errors=True)
    return dest / "MathJax.js"


WIDGET_VIEW, WIDGET_STATE = "application/vnd.jupyter.widget-view+json", "application/vnd.jupyter.widget-state+json"


def _widget_html(model_id: str, models: dict) -> str | None:
    """Final state of a saved widget as static HTML: boxes, HTML/Label text and progress bars (what
    tqdm.notebook draws); None for any other kind of widget."""
    model = models.get(model_id)
    if model is None:
        return None
    kind, st = model.get("model_name"), model.get("state", {})
    if kind in ("HBoxModel", "VBoxModel", "BoxModel"):
        parts = [_widget_html(str(c).removeprefix("IPY_MODEL_"), models) for c in st.get("children", [])]
        if None in parts:
            return None
        flow = "column" if kind == "VBoxModel" else "row"
        return f'<div style="display:flex;flex-direction:{flow};gap:0.5em;align-items:center">{"".join(parts)}</div>'
    if kind == "HTMLModel":  # its value is HTML by definition (tqdm escapes its own text)
        return f"<span>{st.get('value', '')}</span>"
    if kind == "LabelModel":
        return f"<span>{html.escape(str(st.get('value', '')))}</span>"
    if kind in ("FloatProgressModel", "IntProgressModel"):
        lo, hi, v = (float(st.get(k, d)) for k, d in (("min", 0), ("max", 100), ("value", 0)))
        return f'<progress value="{v - lo:g}" max="{max(hi - lo, 1e-12):g}" style="width:20em"></progress>'
    return None


def static_widgets(nb) -> None:
    """In place: each widget view becomes static HTML of its saved final state (or its text/plain when
    that state is not one `_widget_html` draws; nothing when the widget was closed, as in Jupyter), and
    the saved state goes, so the HTML loads no widget manager."""
    models = nb.metadata.pop("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    for cell in nb.cells:
        outputs = []
        for out in cell.get("outputs", []):
            view = out.get("data", {}).get(WIDGET_VIEW)
            if view is None:
                outputs.append(out)
                continue
            if view.get("model_id") not in models:
                continue  # closed (tqdm's leave=False): Jupyter shows nothing either
            del out["data"][WIDGET_VIEW]
            drawn = _widget_html(view["model_id"], models)
            if drawn is not None:
                out["data"] = {"text/html": drawn}
            if out["data"]:
                outputs.append(out)
        if "outputs" in cell:
            cell["outputs"] = outputs


def export_html(nb_path, html_path, mathjax_dir=None) -> Path:
    """Executed notebook -> HTML whose MathJax is a local copy (default: mathjax/ beside the HTML),
    linked by a relative URL so the page renders math from the file system with no network."""
    import nbformat
    from nbconvert import HTMLExporter

    html_path = Path(html_path)
    html_path.parent.mkdir(parents=True, exist_ok=True)
    mathjax_js = install_mathjax(Path(mathjax_dir) if mathjax_dir else html_path.parent / MATHJAX_DIR)
    url = Path(os.path.relpath(mathjax_js, html_path.parent)).as_posix() + f"?config={MATHJAX_CONFIG}"
    nb = nbformat.read(str(nb_path), as_version=4)
    static_widgets(nb)
    body, _ = HTMLExporter(mathjax_url=url).from_notebook_node(nb)
    html_path.write_text(body, encoding="utf-8")
    return html_path
