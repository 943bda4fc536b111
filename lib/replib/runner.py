"""Batch execution of the notebooks with papermill (what `./run_all.sh` calls after set-up).

    python -m replib.runner --profile quick --only meo,ifd --device auto --jobs 2

Each notebook runs in its own process (`papermill`), so one failure never stops the others; the
executed copy goes to reports/NN_slug.ipynb and its HTML to reports/NN_slug.html. Figures go to
figures/NN_slug for the default profile (quick) and to reports/<profile>/figures/NN_slug otherwise,
so a smoke or full run never overwrites the committed quick figures. With --jobs N on a machine
with several GPUs, notebook i gets CUDA_VISIBLE_DEVICES = i mod (number of GPUs). Exits non-zero
listing the failed notebooks.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .runtime import PAPERS, PROFILES, notebook_name, repo_root

DEFAULT_PROFILE = "quick"


def notebooks(root: Path, only: list[str] | None = None) -> list[str]:
    """Slugs of the notebooks present, in paper order, restricted to `only` (validated)."""
    if only:
        bad = [s for s in only if s not in PAPERS]
        if bad:
            raise SystemExit(f"unknown paper(s) {bad}; valid: {', '.join(PAPERS)}")
    present = [s for s in PAPERS if (root / "notebooks" / f"{notebook_name(s)}.ipynb").exists()]
    if only:
        missing = [s for s in only if s not in present]
        if missing:
            raise SystemExit(f"no notebook yet for {missing}; present: {', '.join(present) or 'none'}")
        return [s for s in present if s in only]
    return present


def figures_root(root: Path, profile: str) -> Path:
    return root / "figures" if profile == DEFAULT_PROFILE else root / "reports" / profile / "figures"


def gpu_count() -> int:
    try:
        import torch
        return torch.cuda.device_count()
    except ImportError:
        return 0


def run_one(root: Path, slug: str, profile: str, device: str, gpu: int | None, log_dir: Path) -> dict:
    name = notebook_name(slug)
    out_nb = root / "reports" / f"{name}.ipynb"
    out_dir = figures_root(root, profile) / name
    env = dict(os.environ, REPLIB_ROOT=str(root), PYTHONUNBUFFERED="1")
    if gpu is not None:
        env["CUDA_VISIBLE_DEVICES"] = str(gpu)
    cmd = [sys.executable, "-m", "papermill", str(root / "notebooks" / f"{name}.ipynb"), str(out_nb),
           "-p", "profile", profile, "-p", "device", device, "-p", "out_dir", str(out_dir),
           "--cwd", str(root / "notebooks"), "--no-progress-bar", "--log-output"]
    t = time.time()
    with open(log_dir / f"{name}.log", "w") as log:
        rc = subprocess.run(cmd, env=env, stdout=log, stderr=subprocess.STDOUT).returncode
    wall = time.time() - t
    if out_nb.exists():
        subprocess.run([sys.executable, "-m", "nbconvert", "--to", "html", str(out_nb), "--log-level", "WARN"],
                       env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return {"status": "ok" if rc == 0 else "failed", "wall_s": round(wall, 1), "profile": profile,
            "log": str((log_dir / f"{name}.log").relative_to(root))}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", default=DEFAULT_PROFILE, choices=PROFILES)
    ap.add_argument("--only", default="", help="comma-separated slugs, e.g. meo,ifd")
    ap.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    ap.add_argument("--jobs", type=int, default=1, help="notebooks in parallel")
    args = ap.parse_args(argv)
    if args.jobs < 1:
        raise SystemExit("--jobs must be >= 1")
    root = repo_root()
    slugs = notebooks(root, [s.strip() for s in args.only.split(",") if s.strip()])
    if not slugs:
        raise SystemExit("no notebooks to run")
    log_dir = root / "reports" / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    n_gpu = gpu_count() if args.device in ("auto", "cuda") and args.jobs > 1 else 0
    print(f"running {len(slugs)} notebook(s) at profile={args.profile} device={args.device} jobs={args.jobs}",
          flush=True)

    def task(i_slug):
        i, slug = i_slug
        print(f"[{i + 1}/{len(slugs)}] {notebook_name(slug)} started", flush=True)
        res = run_one(root, slug, args.profile, args.device, i % n_gpu if n_gpu else None, log_dir)
        print(f"[{i + 1}/{len(slugs)}] {notebook_name(slug)} {res['status']} in {res['wall_s']:.0f}s"
              + ("" if res["status"] == "ok" else f" (log: {res['log']})"), flush=True)
        return slug, res

    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        results = dict(pool.map(task, enumerate(slugs)))

    status_path = root / "reports" / "status.json"
    status = json.loads(status_path.read_text()) if status_path.exists() else {}
    status.update({notebook_name(s): r for s, r in results.items()})
    status_path.write_text(json.dumps(status, indent=2))

    from .report import build_report
    build_report(root=root, figures_dir=figures_root(root, args.profile))

    print(f"\n{'notebook':<22}{'status':<10}{'wall':>8}")
    for s, r in results.items():
        print(f"{notebook_name(s):<22}{r['status']:<10}{r['wall_s']:>7.0f}s")
    failed = [notebook_name(s) for s, r in results.items() if r["status"] != "ok"]
    if failed:
        print(f"\nFAILED: {', '.join(failed)} (logs in reports/logs/)")
        return 1
    print(f"\nall {len(results)} notebook(s) ok; report: reports/index.html, {figures_root(root, args.profile)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
