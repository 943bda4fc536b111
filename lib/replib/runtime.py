"""Run-time plumbing shared by every notebook: profiles, configs, devices, seeds, paths, run header.

A notebook's life is::

    run = runtime.start_run("meo", profile=profile, device=device, seed=seed, out_dir=out_dir)
    cfg = meo.get_config(profile, **overrides)          # validated Config dataclass
    data = meo.experiment.run(cfg, device=run.device, seed=run.seed)
    report.save_figure(fig, "gflops_vs_k", run)          # figures/01_meo/gflops_vs_k.png
    report.save_metrics(run, cfg, {...}); report.save_claims(run, [...])

Nothing here does I/O at import time.
"""
from __future__ import annotations

import dataclasses
import numbers
import os
import platform
import random
import subprocess
import sys
import time
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROFILES = ("smoke", "quick", "full")

# slug -> notebook number; one slug names the package, notebook, figure folder and test file.
PAPERS = {
    "meo": 1, "padnet": 2, "sparseadapter": 3, "mera": 4, "ifd": 5,
    "superfiltering": 6, "alpagasus": 7, "madaug": 8, "erc": 9, "mece": 10,
}


# ----------------------------------------------------------------------------- configs
def check_profile(profile: str) -> str:
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; valid profiles: {', '.join(PROFILES)}")
    return profile


def _accepts(tp, value):
    """(True, value) when `value` fits annotation `tp` (a list becomes a tuple for tuple fields),
    (False, None) when it does not, None when `tp` is not one this check knows (then it is not checked)."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        results = [_accepts(t, value) for t in typing.get_args(tp)]
        if None in results:
            return None
        return next((r for r in results if r[0]), (False, None))
    base = origin or tp
    if base is type(None):
        return (value is None, value)
    if base is bool:
        return (isinstance(value, bool), value)
    if base is int:   # bool is an int subclass; a float or "3" would silently truncate or fail later
        return (isinstance(value, numbers.Integral) and not isinstance(value, bool), value)
    if base is float:
        return (isinstance(value, numbers.Real) and not isinstance(value, bool), value)
    if base is str:
        return (isinstance(value, str), value)
    if base is tuple:  # JSON and YAML (papermill -y) have lists, not tuples
        return (isinstance(value, (tuple, list)), tuple(value) if isinstance(value, list) else value)
    if base is dict:
        return (isinstance(value, dict), value)
    return None


def check_override(cls: type, name: str, value: Any) -> Any:
    """`value` checked against the annotation of field `name` of dataclass `cls`; lists become tuples
    for tuple fields. A mismatch raises ValueError naming the field, the expected type and the value;
    an annotation other than int, float, str, bool, tuple, dict, None and their unions is not checked."""
    try:
        hints = typing.get_type_hints(cls)
    except Exception:  # an annotation that does not resolve here: nothing to check against
        return value
    if name not in hints:
        return value
    res = _accepts(hints[name], value)
    if res is None:
        return value
    ok, converted = res
    if not ok:
        expected = getattr(hints[name], "__name__", None) if typing.get_origin(hints[name]) is None else None
        raise ValueError(f"override {name}={value!r} for {cls.__module__}.{cls.__name__}: expected "
                         f"{expected or hints[name]}, got {type(value).__name__}")
    return converted


def build_config(cls: type, profiles: dict[str, dict[str, Any]], profile: str, overrides: dict[str, Any]):
    """Compose `cls()` defaults, then `profiles[profile]`, then `overrides` (minGPT style).

    Unknown profile or override key, or an override of the wrong type (`check_override`), raises
    ValueError listing the valid ones, before any work starts.
    """
    check_profile(profile)
    names = [f.name for f in dataclasses.fields(cls)]
    bad = sorted(set(overrides) - set(names))
    if bad:
        raise ValueError(f"unknown override key(s) {bad} for {cls.__module__}.{cls.__name__}; "
                         f"valid keys: {', '.join(names)}")
    overrides = {k: check_override(cls, k, v) for k, v in overrides.items()}
    cfg = cls(**{**profiles.get(profile, {}), **overrides})
    if hasattr(cfg, "validate"):
        cfg.validate()
    return cfg


# ----------------------------------------------------------------------------- devices, seeds
def pick_device(spec: str = "auto"):
    """'auto' -> cuda if available, else cpu; 'cpu', 'cuda', 'cuda:N' are checked to exist."""
    import torch

    valid = "auto | cpu | cuda | cuda:N"
    if not isinstance(spec, str):
        raise ValueError(f"device must be a string ({valid}), got {spec!r}")
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if spec == "cpu":
        return torch.device("cpu")
    if spec == "cuda" or (spec.startswith("cuda:") and spec[5:].isdigit()):
        if not torch.cuda.is_available():
            raise ValueError(f"device {spec!r} requested but CUDA is not available here; use 'cpu' or 'auto'")
        idx = int(spec[5:]) if ":" in spec else 0
        if idx >= torch.cuda.device_count():
            raise ValueError(f"device {spec!r}: only {torch.cuda.device_count()} CUDA device(s) visible")
        return torch.device(spec)
    raise ValueError(f"unknown device {spec!r}; valid devices: {valid}")


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (all devices)."""
    import numpy as np
    import torch

    # ---- seeding ----
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    # -----------------


PRECISIONS = ("auto", "fp32", "bf16")
"""Config ``precision`` values: 'auto' = bf16 on CUDA, fp32 elsewhere."""


def device_type(device) -> str:
    """'cuda', 'cpu', ... of a torch.device, a device string ('cuda:1') or None (= cpu)."""
    if device is None:
        return "cpu"
    return getattr(device, "type", None) or str(device).split(":")[0]


def resolve_precision(precision: str, device=None, *, field: str = "precision") -> str:
    """'fp32' or 'bf16' for `precision` on `device` ('auto' -> 'bf16' on CUDA, 'fp32' elsewhere).

    An unknown value raises ValueError naming `field`, the value and the valid choices (configs call
    this from ``validate`` with device None, which checks the value only).
    """
    if not isinstance(precision, str) or precision not in PRECISIONS:
        raise ValueError(f"{field}={precision!r}: unknown precision; valid: {', '.join(PRECISIONS)}")
    if precision == "auto":
        return "bf16" if device_type(device) == "cuda" else "fp32"
    return precision


def autocast(device, precision: str = "auto"):
    """The context every training and scoring path runs under: bf16 autocast on `device` for precision
    'bf16' (or 'auto' on CUDA), else a no-op (so CPU 'auto' computes exactly what no context computes).
    fp32 on CUDA allows TF32 matmuls (set once, here). Re-entrant: a fresh context per call."""
    import contextlib

    import torch

    kind = device_type(device)
    if resolve_precision(precision, kind) == "bf16":
        return torch.autocast(kind, dtype=torch.bfloat16)
    if kind == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    return contextlib.nullcontext()


# ----------------------------------------------------------------------------- paths
def repo_root() -> Path:
    """The workbook checkout: $REPLIB_ROOT, else the first parent of this file or of cwd with run_all.sh."""
    env = os.environ.get("REPLIB_ROOT")
    if env:
        return Path(env).resolve()
    for start in (Path(__file__).resolve(), Path.cwd().resolve()):
        for p in (start, *start.parents):
            if (p / "run_all.sh").exists() and (p / "lib" / "replib").is_dir():
                return p
    raise RuntimeError("cannot find the workbook root (a folder with run_all.sh and lib/replib); "
                       "set REPLIB_ROOT=/path/to/checkout")


def notebook_name(slug: str) -> str:
    if slug not in PAPERS:
        raise ValueError(f"unknown paper slug {slug!r}; valid: {', '.join(PAPERS)}")
    return f"{PAPERS[slug]:02d}_{slug}"


def figure_dir(slug: str, out_dir: str | os.PathLike = "") -> Path:
    """figures/NN_slug by default, or `out_dir` when given; created if missing."""
    path = Path(out_dir) if str(out_dir) else repo_root() / "figures" / notebook_name(slug)
    path.mkdir(parents=True, exist_ok=True)
    return path


def cache_dir() -> Path:
    """$REPLIB_CACHE or ~/.cache/replib: conversions (dequantised GGUF, decoded images)."""
    path = Path(os.environ.get("REPLIB_CACHE", Path.home() / ".cache" / "replib"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def time_call(fn, device, reps: int = 3) -> float:
    """Median wall time of fn() over `reps` calls after one warm-up; synchronises CUDA around each."""
    import torch

    def sync():
        if getattr(device, "type", str(device)).startswith("cuda"):
            torch.cuda.synchronize(device)

    fn()
    times = []
    for _ in range(max(1, reps)):
        sync()
        t = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t)
    return sorted(times)[len(times) // 2]


# ----------------------------------------------------------------------------- run header
def git_sha(short: bool = True) -> str:
    try:
        args = ["git", "rev-parse", "--short" if short else "--verify", "HEAD"]
        out = subprocess.run(args, cwd=repo_root(), capture_output=True, text=True, timeout=5)
        sha = out.stdout.strip() or "unknown"
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=repo_root(),
                               capture_output=True, text=True, timeout=5).stdout.strip()
        return sha + ("+dirty" if dirty and sha != "unknown" else "")
    except (OSError, subprocess.SubprocessError, RuntimeError):
        return "unknown"


def versions() -> dict[str, str]:
    """Versions of python and the packages whose numbers matter to results."""
    from importlib import metadata

    out = {"python": platform.python_version()}
    for pkg in ("torch", "numpy", "transformers", "mujoco", "dm_control"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            pass
    return out


def device_name(device) -> str:
    import torch

    if getattr(device, "type", str(device)) == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({os.cpu_count()} cores, {torch.get_num_threads()} threads)"


@dataclass
class Run:
    """What one notebook execution is: paper, profile, device, first seed, output folder, start time."""

    slug: str
    profile: str
    device: Any
    seed: int
    out_dir: Path
    t0: float = field(default_factory=time.time)

    @property
    def wall_s(self) -> float:
        return time.time() - self.t0

    def header(self) -> str:
        v = versions()
        return (f"[{notebook_name(self.slug)}] profile={self.profile} device={self.device} "
                f"({device_name(self.device)}) seed={self.seed} git={git_sha()} "
                f"torch={v.get('torch', '-')} python={v['python']} out={self.out_dir}")


def start_run(slug: str, *, profile: str, device: str = "auto", seed: int = 0,
              out_dir: str | os.PathLike = "", verbose: bool = True) -> Run:
    """Validate the notebook parameters, seed everything, make the figure folder, print the header."""
    check_profile(profile)
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    dev = pick_device(device)
    seed_everything(seed)
    run = Run(slug=slug, profile=profile, device=dev, seed=seed, out_dir=figure_dir(slug, out_dir))
    if verbose:
        print(run.header(), file=sys.stdout, flush=True)
    return run
