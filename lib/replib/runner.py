"""Batch execution of the notebooks with papermill (what `./run_all.sh` calls after set-up).

    python -m replib.runner --profile quick --only meo,ifd --device auto --jobs 2 --timeout 3600

Each notebook runs in its own process (`papermill`), so one failure never stops the others; the
executed copy goes to reports/NN_slug.ipynb and its HTML to reports/NN_slug.html (MathJax served
from reports/mathjax/, so the HTML reads offline). Figures go to figures/NN_slug for the default
profile (quick) and to reports/<profile>/figures/NN_slug otherwise, so a smoke or full run never
overwrites the committed quick figures.

A notebook writes into a fresh staging folder, `<figures>/.NN_slug.staging-<pid>`, that replaces
`<figures>/NN_slug` by renames only when it succeeds; a failed or timed-out run (`--timeout`, default
per profile in TIMEOUT_S) deletes its staging folder and leaves the last good figures untouched.
reports/status.json records each notebook's status, wall time, profile, log and finish time. With
--jobs N on a machine with several GPUs, notebook i gets CUDA_VISIBLE_DEVICES = i mod (number of
GPUs). Exits non-zero listing the failed notebooks and their logs.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .offline_html import export_html
from .runtime import PAPERS, PROFILES, notebook_name, repo_root

DEFAULT_PROFILE = "quick"

# Per-notebook wall-clock limit (seconds) before the runner kills papermill and its kernel. DESIGN.md's
# budgets are 60 s (smoke), 15 min on 2 CPU cores (quick) and about 2 h on one GPU (full); these leave
# room for slow or busy machines, so only a hung or runaway notebook reaches them.
TIMEOUT_S = {"smoke": 600, "quick": 2400, "full": 4 * 3600}

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


# ----------------------------------------------------------------------------- one notebook
# papermill runs in a session of its own (for the timeout), out of reach of the terminal's Ctrl-C:
# main() kills those still running when it is interrupted.
_RUNNING: dict[int, subprocess.Popen] = {}
_STOP = threading.Event()
_STAGING = re.compile(r"\.(?P<name>.+)\.(?P<kind>staging|old)-(?P<pid>\d+)$")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def recover(fig_root: Path, name: str) -> None:
    """Tidy what a runner killed mid-swap left: a dead run's staging folder is deleted; its .old
    folder is the last good one, put back when the final folder is missing, else deleted."""
    if not fig_root.is_dir():
        return
    for p in fig_root.glob(f".{name}.*-*"):
        m = _STAGING.match(p.name)
        if not m or m["name"] != name or int(m["pid"]) == os.getpid() or _pid_alive(int(m["pid"])):
            continue
        if m["kind"] == "old" and not (fig_root / name).exists():
            p.rename(fig_root / name)
        else:
            shutil.rmtree(p, ignore_errors=True)


def swap_in(staging: Path, final: Path) -> None:
    """Replace `final` by `staging` with renames: final -> .old, staging -> final, delete .old."""
    old = final.with_name(f".{final.name}.old-{os.getpid()}")
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        final.rename(old)
    try:
        staging.rename(final)
    except BaseException:
        if old.exists() and not final.exists():
            old.rename(final)  # put the last good folder back
        raise
    shutil.rmtree(old, ignore_errors=True)


def kill_tree(proc: subprocess.Popen, grace_s: float = 5.0) -> None:
    """SIGTERM, then SIGKILL after `grace_s`, to `proc`'s process group and every descendant: the
    kernel that papermill starts runs in a session of its own, so killing the group alone misses it."""
    try:
        import psutil
        kids = psutil.Process(proc.pid).children(recursive=True)
    except Exception:  # no psutil, or papermill already gone: the group is all we can reach
        psutil, kids = None, []

    def alive(procs):  # a zombie is dead: it only waits for whoever reaps it
        out = []
        for k in procs:
            try:
                if k.status() != psutil.STATUS_ZOMBIE:
                    out.append(k)
            except psutil.Error:
                pass
        return out

    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pgid in {proc.pid, *(k.pid for k in kids)}:  # the kernel leads its own group (its workers)
            try:
                os.killpg(pgid, sig)
            except OSError:  # gone, or not a group leader
                pass
        for k in kids:
            try:
                k.send_signal(sig)
            except psutil.Error:
                pass
        deadline = time.time() + grace_s
        while time.time() < deadline:
            kids = alive(kids)
            if proc.poll() is not None and not kids:
                return
            time.sleep(0.1)
    proc.wait()


def run_one(root: Path, slug: str, profile: str, device: str, gpu: int | None, log_dir: Path,
            timeout_s: float | None = None) -> dict:
    """Execute one notebook into a staging folder, swap it in on success; return its status record."""
    name = notebook_name(slug)
    timeout_s = TIMEOUT_S[profile] if timeout_s is None else timeout_s
    reports = root / "reports"
    out_nb, out_html = reports / f"{name}.ipynb", reports / f"{name}.html"
    for p in (out_nb, out_html):  # the executed copy always belongs to this run
        p.unlink(missing_ok=True)
    fig_root = figures_root(root, profile)
    fig_root.mkdir(parents=True, exist_ok=True)
    recover(fig_root, name)
    final, staging = fig_root / name, fig_root / f".{name}.staging-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    env = dict(os.environ, REPLIB_ROOT=str(root), PYTHONUNBUFFERED="1")
    if gpu is not None:
        env["CUDA_VISIBLE_DEVICES"] = str(gpu)
    cmd = [sys.executable, "-m", "papermill", str(root / "notebooks" / f"{name}.ipynb"), str(out_nb),
           "-p", "profile", profile, "-p", "device", device, "-p", "out_dir", str(staging),
           "--cwd", str(root / "notebooks"), "--no-progress-bar", "--log-output"]
    log_path = log_dir / f"{name}.log"
    t = time.time()
    try:
        with open(log_path, "w") as log:
            proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    start_new_session=True)  # its own group, so a timeout can kill it whole
            _RUNNING[proc.pid] = proc
            try:
                if _STOP.is_set():  # interrupted while this one was starting
                    kill_tree(proc, grace_s=2)
                status = "ok" if proc.wait(timeout=timeout_s) == 0 else "failed"
            except subprocess.TimeoutExpired:
                kill_tree(proc)
                status = "timeout"
            except BaseException:  # leave no kernel behind
                kill_tree(proc, grace_s=2)
                raise
            finally:
                _RUNNING.pop(proc.pid, None)
            wall = time.time() - t
            if status == "timeout":
                log.write(f"\n[runner] timeout: killed papermill and its kernel after {wall:.0f} s "
                          f"(limit {timeout_s:g} s; --timeout to change)\n")
            elif _STOP.is_set():
                status = "failed"
                log.write(f"\n[runner] interrupted after {wall:.0f} s: killed papermill and its kernel\n")
        if status == "ok":
            swap_in(staging, final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    if out_nb.exists():
        try:
            export_html(out_nb, out_html)
        except Exception as e:  # the HTML is a convenience; the notebook's status stands
            print(f"warning: HTML export of {out_nb.name} failed: {type(e).__name__}: {e}", flush=True)
    return {"status": status, "wall_s": round(wall, 1), "profile": profile,
            "log": log_path.relative_to(root).as_posix(),
            "finished": dt.datetime.now().astimezone().isoformat(timespec="seconds")}


def record_status(root: Path, name: str, record: dict, lock=threading.Lock()) -> None:
    """Merge one notebook's record into reports/status.json (other notebooks' entries kept), atomically."""
    from .report import atomic_write_json

    path = root / "reports" / "status.json"
    with lock:
        try:
            status = json.loads(path.read_text())
        except (OSError, ValueError):
            status = {}
        status[name] = record
        atomic_write_json(path, status)


# ----------------------------------------------------------------------------- command line
def main(argv: list[str] | None = None, root: Path | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", default=DEFAULT_PROFILE, choices=PROFILES)
    ap.add_argument("--only", default="", help="comma-separated slugs, e.g. meo,ifd")
    ap.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    ap.add_argument("--jobs", type=int, default=1, help="notebooks in parallel")
    ap.add_argument("--timeout", type=float, default=None, metavar="SECONDS",
                    help="per-notebook limit; default by profile: "
                         + ", ".join(f"{p} {s} s" for p, s in TIMEOUT_S.items()))
    args = ap.parse_args(argv)
    if args.jobs < 1:
        raise SystemExit("--jobs must be >= 1")
    if args.timeout is not None and args.timeout <= 0:
        raise SystemExit("--timeout must be > 0 seconds")
    timeout_s = TIMEOUT_S[args.profile] if args.timeout is None else args.timeout
    root = Path(root) if root is not None else repo_root()
    slugs = notebooks(root, [s.strip() for s in args.only.split(",") if s.strip()])
    if not slugs:
        raise SystemExit("no notebooks to run")
    log_dir = root / "reports" / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    n_gpu = gpu_count() if args.device in ("auto", "cuda") and args.jobs > 1 else 0
    print(f"running {len(slugs)} notebook(s) at profile={args.profile} device={args.device} jobs={args.jobs} "
          f"timeout={timeout_s:g}s", flush=True)

    def task(i_slug):
        i, slug = i_slug
        name = notebook_name(slug)
        print(f"[{i + 1}/{len(slugs)}] {name} started", flush=True)
        res = run_one(root, slug, args.profile, args.device, i % n_gpu if n_gpu else None, log_dir, timeout_s)
        record_status(root, name, res)
        print(f"[{i + 1}/{len(slugs)}] {name} {res['status']} in {res['wall_s']:.0f}s"
              + ("" if res["status"] == "ok" else f" (log: {res['log']})"), flush=True)
        return slug, res

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    in_main = threading.current_thread() is threading.main_thread()
    old_term = signal.signal(signal.SIGTERM, interrupt) if in_main else None  # kill -TERM = Ctrl-C
    pool = ThreadPoolExecutor(max_workers=args.jobs)
    try:
        results = dict(pool.map(task, enumerate(slugs)))
    except KeyboardInterrupt:
        _STOP.set()
        pool.shutdown(wait=False, cancel_futures=True)
        for proc in list(_RUNNING.values()):
            kill_tree(proc, grace_s=2)
        pool.shutdown(wait=True)
        print("\ninterrupted: running notebooks killed, their last good figures kept", flush=True)
        return 130
    finally:
        pool.shutdown(wait=True)
        _STOP.clear()
        if old_term is not None:
            signal.signal(signal.SIGTERM, old_term)

    from .report import build_report
    build_report(root=root, figures_dir=figures_root(root, args.profile))

    print(f"\n{'notebook':<22}{'status':<10}{'wall':>8}")
    for s, r in results.items():
        print(f"{notebook_name(s):<22}{r['status']:<10}{r['wall_s']:>7.0f}s")
    failed = [(notebook_name(s), r) for s, r in results.items() if r["status"] != "ok"]
    if failed:
        print("\nFAILED: " + ", ".join(f"{n} ({r['status']}, log: {r['log']})" for n, r in failed))
        return 1
    print(f"\nall {len(results)} notebook(s) ok; report: reports/index.html, {figures_root(root, args.profile)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
