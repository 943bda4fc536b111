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


# ----------------------------------------------------------------------------- precision
def test_resolve_precision_values_and_errors():
    assert runtime.PRECISIONS == ("auto", "fp32", "bf16")
    assert runtime.resolve_precision("auto", torch.device("cpu")) == "fp32"
    assert runtime.resolve_precision("auto", None) == "fp32"
    for cuda in (torch.device("cuda"), torch.device("cuda:1"), "cuda", "cuda:0"):
        assert runtime.resolve_precision("auto", cuda) == "bf16"          # no GPU needed to resolve
    for device in ("cpu", "cuda", None):
        assert runtime.resolve_precision("fp32", device) == "fp32"
        assert runtime.resolve_precision("bf16", device) == "bf16"
    for bad in ("fp16", "BF16", "", None, 16):
        with pytest.raises(ValueError, match=r"precision=.*valid: auto, fp32, bf16"):
            runtime.resolve_precision(bad, "cpu")
    with pytest.raises(ValueError, match=r"^glue_precision='half'"):
        runtime.resolve_precision("half", field="glue_precision")


def test_autocast_context():
    """bf16 -> torch.autocast on the device type; fp32 and CPU 'auto' -> no autocast at all."""
    lin = torch.nn.Linear(4, 3)
    x = torch.randn(2, 4)
    with runtime.autocast("cpu", "bf16"):
        assert torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu") == torch.bfloat16
        assert lin(x).dtype == torch.bfloat16
    for precision in ("fp32", "auto"):
        with runtime.autocast(torch.device("cpu"), precision):
            assert not torch.is_autocast_enabled("cpu")
            assert torch.equal(lin(x), lin(x)) and lin(x).dtype == torch.float32
    with runtime.autocast("cpu", "bf16"), runtime.autocast("cpu", "bf16"):   # nests like torch.autocast
        assert lin(x).dtype == torch.bfloat16
    with pytest.raises(ValueError, match="valid: auto, fp32, bf16"):
        runtime.autocast("cpu", "fp16")


@pytest.mark.parametrize("slug", ["meo", "padnet", "sparseadapter", "ifd", "superfiltering", "erc"])
def test_every_paper_config_has_a_validated_precision(slug):
    config = importlib.import_module(f"replib.{slug}.config")
    assert config.get_config("smoke").precision == "auto"
    assert config.get_config("smoke", precision="bf16").precision == "bf16"
    with pytest.raises(ValueError, match="precision='fp16'"):
        config.get_config("smoke", precision="fp16")
