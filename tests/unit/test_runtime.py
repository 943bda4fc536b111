"""runtime: config composition and validation, devices, seeds, paths, run header; runner arguments."""
from __future__ import annotations

import dataclasses
import importlib
import re
from dataclasses import dataclass
from typing import Any

import pytest
import torch

from replib import meo, runtime
from replib.runner import notebooks


@dataclass
class Cfg:
    steps: int = 10
    lr: float = 0.1


PROFILES = {"smoke": {"steps": 1}, "quick": {}, "full": {"steps": 1000}}


def test_build_config_layers_defaults_profile_overrides():
    assert runtime.build_config(Cfg, PROFILES, "quick", {}).steps == 10
    assert runtime.build_config(Cfg, PROFILES, "smoke", {}).steps == 1
    assert runtime.build_config(Cfg, PROFILES, "full", {"steps": 5}).steps == 5


def test_build_config_errors_list_valid_values():
    with pytest.raises(ValueError, match="smoke, quick, full"):
        runtime.build_config(Cfg, PROFILES, "medium", {})
    with pytest.raises(ValueError, match=r"\['stps'\].*valid keys: steps, lr"):
        runtime.build_config(Cfg, PROFILES, "quick", {"stps": 3})


@dataclass
class Typed:
    n: int = 1
    lr: float = 0.1
    name: str = "a"
    flag: bool = False
    limit: int | None = None
    scale: float | None = 1.0
    ks: tuple = (1, 2)
    opts: dict = dataclasses.field(default_factory=dict)
    anything: Any = None


def test_build_config_checks_override_types():
    def build(**ov):
        return runtime.build_config(Typed, {}, "quick", ov)

    ok = build(n=3, lr=2, name="b", flag=True, limit=None, scale=None, ks=[3, 4], opts={"a": 1},
               anything=object)
    assert (ok.n, ok.lr, ok.name, ok.flag, ok.limit, ok.scale, ok.opts) == (3, 2, "b", True, None, None, {"a": 1})
    assert ok.ks == (3, 4) and isinstance(ok.ks, tuple)     # JSON/YAML lists become tuples
    assert build(limit=5).limit == 5 and build(scale=0.5).scale == 0.5 and build(ks=(5,)).ks == (5,)
    bad = [("n", 2.5), ("n", "3"), ("n", True), ("n", None), ("lr", "1e-3"), ("lr", False), ("name", 1),
           ("flag", 1), ("flag", "yes"), ("limit", 2.0), ("scale", "x"), ("ks", 3), ("ks", "ab"), ("opts", [1])]
    for key, value in bad:
        with pytest.raises(ValueError, match=rf"override {key}={re.escape(repr(value))} .*expected") as e:
            build(**{key: value})
        want = {"n": "int", "lr": "float", "name": "str", "flag": "bool", "limit": "int | None",
                "scale": "float | None", "ks": "tuple", "opts": "dict"}[key]
        assert f"expected {want}, got {type(value).__name__}" in str(e.value)
    with pytest.raises(ValueError, match=r"epochs=2.5 .*expected int"):   # a real paper config
        meo.get_config("smoke", epochs=2.5)
    with pytest.raises(ValueError, match=r"epochs='3' .*expected int, got str"):
        meo.get_config("smoke", epochs="3")


def test_every_paper_config_builds_at_every_profile():
    for slug in ("meo", "padnet", "ifd", "superfiltering", "erc"):   # the papers with a config so far
        get_config = importlib.import_module(f"replib.{slug}.config").get_config
        for p in runtime.PROFILES:
            assert dataclasses.is_dataclass(get_config(p))


def test_pick_device():
    assert runtime.pick_device("cpu") == torch.device("cpu")
    assert runtime.pick_device("auto").type in ("cpu", "cuda")
    with pytest.raises(ValueError, match="auto | cpu | cuda"):
        runtime.pick_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            runtime.pick_device("cuda:0")


def test_seed_everything_is_deterministic():
    runtime.seed_everything(7)
    a = torch.randn(3)
    runtime.seed_everything(7)
    assert torch.equal(a, torch.randn(3))


def test_paths_and_start_run(tmp_path, capsys):
    assert (runtime.repo_root() / "run_all.sh").exists()
    assert runtime.notebook_name("meo") == "01_meo" and runtime.notebook_name("mece") == "10_mece"
    with pytest.raises(ValueError, match="valid"):
        runtime.notebook_name("bert")
    run = runtime.start_run("meo", profile="smoke", device="cpu", seed=3, out_dir=tmp_path / "f")
    assert run.out_dir.is_dir() and run.seed == 3 and run.wall_s >= 0
    assert "[01_meo] profile=smoke device=cpu" in capsys.readouterr().out
    with pytest.raises(ValueError, match="seed"):
        runtime.start_run("meo", profile="smoke", device="cpu", seed=-1, out_dir=tmp_path)


def test_runner_validates_only():
    root = runtime.repo_root()
    assert "meo" in notebooks(root)
    with pytest.raises(SystemExit, match="unknown paper"):
        notebooks(root, ["bert"])
