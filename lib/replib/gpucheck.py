"""One GPU check (`scripts/gpu_check.sh`): gpu tests, every notebook at smoke on CUDA, each benchmark at GPU sizes.

    scripts/gpu_check.sh [--device cuda|cuda:N] [--only tests,notebooks,ifd,meo,padnet,rl,...]
    scripts/gpu_check.sh --dry-run          # CPU, seconds: tiny benchmarks, no tests or notebooks

Steps, each in its own process with its log in ``reports/gpu_check/``: the ``gpu``-marked tests (pytest,
counts read from its JUnit XML), every notebook at ``profile=smoke`` with the device (``replib.runner``,
statuses read from ``reports/status.json``), then each ``benchmarks/bench_<name>.py`` at the sizes in
BENCHES, which writes its figures with ``--json``. The result goes to ``reports/gpu_check.json``: the
device, each step's status, every benchmark's figures, and each target of issue 11 with its value and
whether it was met. A dry run shrinks every benchmark to a toy size on the CPU (bench_ifd, which needs
SmolLM2-135M, is skipped) and reports each target as "not measured": it checks the pipeline, not the GPU.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

NOT_MEASURED = "not measured"

# name -> (arguments at GPU sizes, arguments of the dry run on the CPU or None to skip it there)
BENCHES = {
    "ifd": (["--all", "52002"], None),
    "meo": ([], ["--dims", "32,64", "--batch", "2", "--seq", "8", "--experts", "8", "--ks", "1,8",
                 "--loop-ks", "1", "--reps", "1", "--train-shape", "2,4,16,32,4,2"]),
    "padnet": (["--batch", "256"], ["--channels", "4", "--size", "4", "--batch", "256", "--reps", "1",
                                    "--threads", "1"]),
    "rl": (["--runs", "10", "--hidden", "256"], ["--runs", "2", "--hidden", "256", "--steps", "30", "--start", "20",
                                                 "--threads", "1", "--no-literal"]),
    "sparseadapter": ([], ["--encoder", "tiny", "--layers", "1", "--r", "4", "--batch", "4", "--seq", "8",
                           "--steps", "2", "--reps", "1", "--threads", "1", "--prune-examples", "8"]),
    "mera": ([], ["--encoder", "tiny", "--n", "2", "--r", "4", "--batch", "2", "--seq", "8", "--steps", "2",
                  "--reps", "1", "--threads", "1"]),
    "alpagasus": (["--n", "64", "--ref-n", "8", "--batch", "64"], ["--model", "tiny-smollm2", "--n", "2", "--ref-n",
                                                                  "1", "--batch", "2", "--max-new", "8", "--threads",
                                                                  "1"]),
    "madaug": (["--epoch-images", "4256", "--depth", "28", "--widen", "10"],
               ["--batch", "8", "--reps", "1", "--threads", "1", "--epoch-images", "64"]),
    "mece": (["--copies", "2,8,16", "--threads", "16", "--update-steps", "2000"],
             ["--copies", "16", "--threads", "16", "--steps", "160", "--rebuilds", "5", "--episodes", "2",
              "--update-steps", "20"]),
}
STEPS = ("tests", "notebooks", *BENCHES)

# (bench, figure path in its JSON, op, target, what): issue 11, item 5
TARGETS = [
    ("ifd", "speedup", ">=", 20.0, "IFD batched scorer / literal per-sample reference (x)"),
    ("ifd", "all_seconds", "<=", 60.0, "IFD: Alpaca-52k (52,002 samples) with SmolLM2-135M (s)"),
    ("meo", "k.8.meo_over_k1", "<=", 1.3, "MEO FFN time at k=8 / k=1 (flat in k)"),
    ("meo", "k.8.moe_over_meo", ">=", 4.0, "vanilla MoE / MEO FFN time at k=8 (x)"),
    ("padnet", "batch.256.grouped_over_dynamic", "<=", 1.1,
     "PAD DY-Conv fwd+bwd / fully dynamic layer at batch 256"),
    ("rl", "hidden.256.efficiency", ">=", 0.8, "S=10 batched SAC throughput / (10 x one run's)"),
    ("sparseadapter", "masked_over_dense", "<=", 1.05, "SparseAdapter masked / dense training step"),
    ("mera", "merge_ot_share_of_run", "<=", 0.01, "MerA OT merge time / one few-shot run"),
    ("alpagasus", "batched_over_reference", ">=", 10.0,
     "AlpaGasus batched stop-at-newline grader / one-at-a-time 256-token generation (x)"),
    ("madaug", "speedup", ">=", 20.0, "MADAug batched explore ops (17 x 128 images) / per-image PIL loop (x)"),
    ("madaug", "epoch.nocurriculum_over_noaug", "<=", 2.0, "MADAug epoch (every image augmented) / no-aug epoch"),
    ("mece", "env.batch.16.threads16_efficiency", ">=", 0.8, "MECE 16 lockstep copies / (16 x one copy's steps/s)"),
    ("mece", "env.rebuild_ms_mean", "<=", 50.0, "MECE MJCF rebuild + compile per morphology change (ms)"),
    ("mece", "update.update_share", "<", 0.3, "MECE SAC updates' share of the training loop's wall clock"),
]


def save_figures(path: str | os.PathLike, bench: str, device, figures: dict, args: dict | None = None) -> None:
    """What a benchmark writes with ``--json PATH``: its name, device, arguments and figures."""
    from .runtime import device_name

    doc = {"bench": bench, "device": str(device), "device_name": device_name(device),
           "args": {k: v for k, v in (args or {}).items() if k != "json"}, "figures": figures}
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(doc, indent=1, default=float))


def lookup(figures: dict, path: str):
    """figures['k']['8']['meo_over_k1'] for 'k.8.meo_over_k1'; None when any part is missing."""
    node = figures
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node if isinstance(node, (int, float)) else None


def judge(steps: dict, dry_run: bool) -> list[dict]:
    """Each target with its value and met = True / False / "not measured" (always, in a dry run: its values
    come from toy sizes on the CPU and only show that every figure arrives)."""
    out = []
    for bench, path, op, target, what in TARGETS:
        step = steps.get(f"bench_{bench}", {})
        value = lookup(step.get("figures", {}), path) if step.get("status") == "ok" else None
        met = NOT_MEASURED if value is None or dry_run else bool(value >= target if op == ">=" else value <= target)
        out.append({"what": what, "bench": bench, "figure": path, "op": op, "target": target, "value": value,
                    "met": met})
    return out


def _run(cmd: list[str], log: Path, timeout: float, root: Path, ok_codes=(0,)) -> tuple[str, float]:
    """('ok' | 'failed' | 'timeout', wall seconds) of one step, its output in `log`."""
    t = time.time()
    env = dict(os.environ, REPLIB_ROOT=str(root), PYTHONUNBUFFERED="1")
    with open(log, "w") as fh:
        fh.write("$ " + " ".join(cmd) + "\n")
        fh.flush()
        try:
            rc = subprocess.run(cmd, cwd=root, env=env, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                timeout=timeout).returncode
            status = "ok" if rc in ok_codes else "failed"
        except subprocess.TimeoutExpired:
            status = "timeout"
    return status, round(time.time() - t, 1)


def run_tests(root: Path, out: Path, timeout: float) -> dict:
    xml = out / "gpu_tests.xml"
    xml.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "pytest", "-m", "gpu", "-q", "-p", "no:cacheprovider", "tests/unit",
           f"--junitxml={xml}"]
    status, wall = _run(cmd, out / "gpu_tests.log", timeout, root, ok_codes=(0, 5))   # 5: no gpu test collected
    counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    if xml.is_file():
        for suite in ET.parse(xml).getroot().iter("testsuite"):
            for key in counts:
                counts[key] += int(suite.get(key, 0))
    return {"status": status, "wall_s": wall, "log": "gpu_tests.log", **counts,
            "passed": counts["tests"] - counts["failures"] - counts["errors"] - counts["skipped"]}


def run_notebooks(root: Path, out: Path, device: str, timeout: float) -> dict:
    cmd = [sys.executable, "-m", "replib.runner", "--profile", "smoke", "--device", device]
    started = dt.datetime.now().astimezone().isoformat(timespec="seconds")
    status, wall = _run(cmd, out / "notebooks.log", timeout, root)
    try:
        recorded = json.loads((root / "reports" / "status.json").read_text())
    except (OSError, ValueError):
        recorded = {}
    books = {name: {"status": r.get("status"), "wall_s": r.get("wall_s")} for name, r in sorted(recorded.items())
             if r.get("profile") == "smoke" and r.get("finished", "") >= started}
    return {"status": status, "wall_s": wall, "log": "notebooks.log", "notebooks": books}


def run_bench(root: Path, out: Path, name: str, device: str, dry_run: bool, timeout: float) -> dict:
    gpu_args, dry_args = BENCHES[name]
    if dry_run and dry_args is None:
        return {"status": "skipped", "why": "dry run (needs a real model)"}
    path = out / f"bench_{name}.json"
    path.unlink(missing_ok=True)
    cmd = [sys.executable, f"benchmarks/bench_{name}.py", "--device", device,
           *(dry_args if dry_run else gpu_args), "--json", str(path)]
    status, wall = _run(cmd, out / f"bench_{name}.log", timeout, root)
    doc = json.loads(path.read_text()) if status == "ok" and path.is_file() else {}
    if status == "ok" and not doc:
        status = "failed"   # exited 0 without its figures
    return {"status": status, "wall_s": wall, "log": f"bench_{name}.log", "command": cmd[1:],
            "figures": doc.get("figures", {})}


def device_label(device: str, dry_run: bool) -> str:
    import torch

    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise SystemExit(f"--device {device}: no CUDA device here; use --dry-run for the CPU pipeline check")
        return torch.cuda.get_device_name(torch.device(device))
    from .runtime import device_name

    return device_name(torch.device("cpu")) + (" (dry run)" if dry_run else "")


def _fmt(v) -> str:
    return "-" if v is None else (f"{v:.3g}" if isinstance(v, float) else str(v))


def format_report(doc: dict) -> str:
    """The printed table: device, each step, each target with its value, and whether it was met."""
    lines = [f"GPU check: {doc['device_name']} (device {doc['device']}), git {doc['git']}, "
             f"{doc['wall_s']:.0f} s" + (" -- DRY RUN: nothing below is a GPU figure" if doc["dry_run"] else "")]
    for name, step in doc["steps"].items():
        extra = ""
        if name == "gpu_tests" and step["status"] != "skipped":
            extra = f" ({step['passed']} passed, {step['failures'] + step['errors']} failed, {step['skipped']} skipped)"
        elif name == "notebooks" and step["status"] != "skipped":
            ok = sum(b["status"] == "ok" for b in step["notebooks"].values())
            extra = f" ({ok}/{len(step['notebooks'])} ok: " + ", ".join(
                f"{n} {b['status']} {_fmt(b['wall_s'])}s" for n, b in step["notebooks"].items()) + ")"
        wall = f" {step['wall_s']:.0f} s" if "wall_s" in step else ""
        lines.append(f"  {name:<20} {step['status']}{wall}{extra}" + (f" [{step['why']}]" if "why" in step else ""))
    rows = [("target", "value", "wanted", "met")] + [
        (t["what"], _fmt(t["value"]), f"{t['op']} {t['target']:g}",
         t["met"] if t["met"] == NOT_MEASURED else ("yes" if t["met"] else "NO")) for t in doc["targets"]]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    lines.append("")
    for i, r in enumerate(rows):
        lines.append(f"  {r[0]:<{widths[0]}}  {r[1]:>{widths[1]}}  {r[2]:<{widths[2]}}  {r[3]}")
        if i == 0:
            lines.append("  " + "  ".join("-" * w for w in widths) + "  ---")
    return "\n".join(lines)


def main(argv: list[str] | None = None, root: Path | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default=None, help="cuda (default) | cuda:N; cpu with --dry-run")
    ap.add_argument("--dry-run", action="store_true", help="CPU, toy sizes, no tests or notebooks (seconds)")
    ap.add_argument("--only", default="", help=f"comma-separated steps of {', '.join(STEPS)}")
    ap.add_argument("--out", default="reports/gpu_check.json", help="the JSON written (relative to the checkout)")
    ap.add_argument("--timeout", type=float, default=1800, help="seconds per step before it is killed")
    args = ap.parse_args(argv)
    from .runtime import git_sha, repo_root

    root = Path(root) if root is not None else repo_root()
    device = args.device or ("cpu" if args.dry_run else "cuda")
    only = [s.strip() for s in args.only.split(",") if s.strip()] or list(STEPS)
    if set(only) - set(STEPS):
        raise SystemExit(f"unknown step(s) {sorted(set(only) - set(STEPS))}; valid: {', '.join(STEPS)}")
    out_json = root / args.out
    logs = out_json.parent / "gpu_check"
    logs.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    doc = {"device": device, "device_name": device_label(device, args.dry_run), "dry_run": args.dry_run,
           "git": git_sha(), "started": dt.datetime.now().astimezone().isoformat(timespec="seconds"), "steps": {}}
    skipped = {"status": "skipped", "why": "dry run" if args.dry_run else "not in --only"}
    steps = doc["steps"]
    steps["gpu_tests"] = run_tests(root, logs, args.timeout) if "tests" in only and not args.dry_run else skipped
    steps["notebooks"] = (run_notebooks(root, logs, device, args.timeout) if "notebooks" in only and not args.dry_run
                          else skipped)
    for name in BENCHES:
        print(f"[gpu_check] bench_{name} ...", flush=True)
        steps[f"bench_{name}"] = (run_bench(root, logs, name, device, args.dry_run, args.timeout) if name in only
                                  else {"status": "skipped", "why": "not in --only"})
    doc["targets"] = judge(steps, args.dry_run)
    doc["wall_s"] = round(time.time() - t0, 1)
    out_json.write_text(json.dumps(doc, indent=1))
    print(format_report(doc))
    print(f"\nwritten: {out_json} (logs in {logs})")
    failed = [n for n, s in steps.items() if s["status"] in ("failed", "timeout")]
    if failed:
        print("FAILED steps: " + ", ".join(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
