#!/usr/bin/env bash
# Check that an exported notebook reads with no network (replib/offline_html.py): execute a tiny
# notebook with $$\sum_i x_i$$ and a tqdm.auto bar, export it as run_all.sh does, open it in headless
# Chromium with every host unresolvable (and no network namespace when possible), and require
# MathJax's output in the DOM with the raw $$...$$ gone, and the bar drawn from its saved state.
# Leaves page.html, dom.html and page.png in OUT_DIR (default: a new temp folder) to look at.
#   scripts/check_html_offline.sh [OUT_DIR]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${1:-$(mktemp -d)}"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
if [ -z "${VIRTUAL_ENV:-}" ] && [ -z "${CONDA_PREFIX:-}" ] && [ -x "$ROOT/.venv/bin/python" ]; then
  # shellcheck disable=SC1091
  . "$ROOT/.venv/bin/activate"
fi

CHROME="$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)"
if [ -z "$CHROME" ]; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
    echo "[check] installing chromium (Debian package)"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null
    CHROME="$(command -v chromium)"
  else
    echo "[check] chromium not found: sudo apt-get install chromium" >&2
    exit 2
  fi
fi

# 1. a tiny notebook, executed with papermill and exported with the runner's function
python - "$OUT" <<'EOF'
import subprocess, sys
from pathlib import Path

import nbformat

from replib.offline_html import export_html

out = Path(sys.argv[1])
nb = nbformat.v4.new_notebook()
nb.cells = [nbformat.v4.new_markdown_cell("# Offline math\n\nDisplay: $$\\sum_i x_i$$\n\nInline: $a^2 + b^2$"),
            nbformat.v4.new_code_cell("print(1 + 1)"),
            nbformat.v4.new_code_cell("from tqdm.auto import tqdm\nfor _ in tqdm(range(20), desc='bar'):\n    pass")]
nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
nbformat.write(nb, out / "tiny.ipynb")
subprocess.run([sys.executable, "-m", "papermill", str(out / "tiny.ipynb"), str(out / "executed.ipynb"),
                "--no-progress-bar"], check=True, stderr=subprocess.DEVNULL)
export_html(out / "executed.ipynb", out / "page.html")
print(f"[check] exported {out / 'page.html'}")
EOF

# 2. headless Chromium with the network unreachable
NONET=()
if [ "$(id -u)" = "0" ] && unshare -n true 2>/dev/null; then
  NONET=(unshare -n)   # no network namespace at all: only the file system is there
fi
FLAGS=(--headless --no-sandbox --disable-gpu --disable-dev-shm-usage --host-resolver-rules="MAP * ~NOTFOUND"
       --virtual-time-budget=5000 --window-size=1200,800)
URL="file://$OUT/page.html"
"${NONET[@]}" "$CHROME" "${FLAGS[@]}" --dump-dom "$URL" > "$OUT/dom.html" 2>/dev/null
"${NONET[@]}" "$CHROME" "${FLAGS[@]}" --screenshot="$OUT/page.png" "$URL" >/dev/null 2>&1

# 3. MathJax must have typeset the math: its output elements there, no raw $$\sum left, no error
python - "$OUT/dom.html" <<'EOF'
import re, sys

dom = open(sys.argv[1], encoding="utf-8").read()
checks = {
    "MathJax output elements": bool(re.search(r'class="(MathJax|MathJax_Display|mjx-)', dom)),
    "display math typeset": 'type="math/tex; mode=display"' in dom,
    "raw $$\\sum gone": "$$\\sum" not in dom,
    "raw $a^2 gone": "$a^2" not in dom,
    "STIX web fonts shipped with it used": "STIXMathJax_" in dom,
    "no Math Processing Error": "Math Processing Error" not in dom,
    "no font warning": "web-based fonts" not in dom and "MathJax_FontWarning" not in dom,
    "no MathJax URL over http": not re.search(r"https?://[^\"'\s]*mathjax", dom, re.I),
    "tqdm bar drawn from its saved widget state": bool(re.search(r'<progress(?=[^>]*max="20")(?=[^>]*value="20")', dom)),
    "no IProgress warning (ipywidgets installed)": "IProgress not found" not in dom,
}
for name, ok in checks.items():
    print(f"[check] {'ok  ' if ok else 'FAIL'} {name}")
sys.exit(0 if all(checks.values()) else 1)
EOF
echo "[check] offline HTML renders its math and progress bar; screenshot: $OUT/page.png"
