"""runtime: config composition and validation, devices, seeds, paths, run header; runner arguments."""
from dataclasses import dataclass

import pytest
import torch

from replib import runtime
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


def _tiny_notebook(path, code):
    import nbformat
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('profile: str = "quick"\ndevice: str = "auto"\nseed: int = 0\n'
                                       'out_dir: str = ""\noverrides: dict = {}')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(code)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


def test_runner_keeps_going_and_lists_failures(tmp_path, monkeypatch, capsys):
    import json

    from replib import runner
    (tmp_path / "lib" / "replib").mkdir(parents=True)
    (tmp_path / "run_all.sh").write_text("")
    (tmp_path / "notebooks").mkdir()
    _tiny_notebook(tmp_path / "notebooks" / "01_meo.ipynb", "raise RuntimeError('boom')")
    _tiny_notebook(tmp_path / "notebooks" / "02_padnet.ipynb",
                   "import pathlib; pathlib.Path(out_dir).mkdir(parents=True, exist_ok=True)")
    monkeypatch.setenv("REPLIB_ROOT", str(tmp_path))
    assert runner.main(["--profile", "smoke", "--device", "cpu", "--jobs", "2"]) == 1
    out = capsys.readouterr().out
    assert "FAILED: 01_meo" in out and "02_padnet" in out
    status = json.loads((tmp_path / "reports" / "status.json").read_text())
    assert status["01_meo"]["status"] == "failed" and status["02_padnet"]["status"] == "ok"
    assert (tmp_path / "reports" / "smoke" / "figures" / "02_padnet").is_dir()   # smoke never writes figures/
    assert not (tmp_path / "figures" / "02_padnet").exists()
    assert (tmp_path / "reports" / "index.html").exists()
