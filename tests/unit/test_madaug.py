"""MADAug step 3: the data pipeline, the baselines, the task model, the schedule, the experiment at smoke and the
claims on synthetic results (reproduced, inconclusive and not reproduced in turn, through claims.rebuild)."""
import math

import numpy as np
import pandas as pd
import pytest
import torch

from replib.claims import rebuild
from replib.madaug import OP_NAMES, apply_op, strength
from replib.madaug.baselines import METHODS, level_for_strength, randaugment, trivialaugment
from replib.madaug.config import get_config
from replib.madaug.data import crop_flip, cutout16, load_reduced
from replib.madaug.experiment import lr_at, policy_strength, run, train_run
from replib.madaug.model import WideResNet


# --------------------------------------------------------------------------- config
@pytest.mark.parametrize("field,value", [("datasets", ("svhn",)), ("methods", ("autoaugment",)), ("depth", 12),
                                         ("explore_bn", "batch"), ("n_search", 4), ("k_ops", 0),
                                         ("precision", "fp8"), ("methods", ("madaug",))])
def test_config_rejects_bad_values(field, value):
    with pytest.raises(ValueError):
        get_config("smoke", **{field: value}).validate()


def test_curriculum_scale_follows_the_budget():
    assert get_config("quick").curriculum_scale == pytest.approx(get_config("quick").epochs / 240)
    assert get_config("full").curriculum_scale == 1.0                      # 240 epochs: the official constant 40
    assert get_config("quick", threshold_scale=0.5).curriculum_scale == 0.5


def test_lr_schedule_warms_up_then_decays_to_min():
    cfg = get_config("quick", epochs=20, warmup_epochs=5.0)
    assert lr_at(0, cfg) == pytest.approx(0.1)
    assert lr_at(2.5, cfg) == pytest.approx(0.15)
    assert lr_at(5, cfg) == pytest.approx(0.2)
    assert lr_at(20, cfg) == pytest.approx(1e-4)
    assert lr_at(12.5, cfg) == pytest.approx(1e-4 + 0.5 * (0.2 - 1e-4))


# --------------------------------------------------------------------------- data
def test_reduced_split_is_stratified_and_disjoint():
    d = load_reduced("cifar10", n_train=400, n_search=100, n_test=200)
    assert torch.bincount(d["y_train"]).tolist() == [40] * 10
    assert torch.bincount(d["y_search"]).tolist() == [10] * 10
    assert torch.bincount(d["y_test"]).tolist() == [20] * 10
    assert d["x_train"].shape == (400, 3, 32, 32) and d["x_train"].dtype == torch.uint8
    flat = lambda x: {bytes(a.numpy().tobytes()) for a in x}           # noqa: E731
    assert not flat(d["x_train"]) & flat(d["x_search"])
    again = load_reduced("cifar10", n_train=400, n_search=100, n_test=200)
    assert torch.equal(again["x_train"], d["x_train"]) and torch.equal(again["x_search"], d["x_search"])
    f = load_reduced("fashion-mnist", n_train=100, n_search=20, n_test=50)
    assert f["x_train"].shape == (100, 3, 28, 28) and torch.equal(f["x_train"][:, 0], f["x_train"][:, 2])


def test_crop_flip_equals_a_per_image_loop():
    x = torch.rand(6, 3, 8, 8)
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    out = crop_flip(x, g1, pad=2)
    off = torch.randint(0, 5, (6, 2), generator=g2)
    coin = torch.rand(6, generator=g2) < 0.5
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
    for i in range(6):
        ref = padded[i, :, off[i, 0]:off[i, 0] + 8, off[i, 1]:off[i, 1] + 8]
        torch.testing.assert_close(out[i], ref.flip(-1) if coin[i] else ref)


def test_cutout16_zeroes_the_clipped_square():
    x = torch.ones(4, 3, 32, 32)
    g1, g2 = torch.Generator().manual_seed(0), torch.Generator().manual_seed(0)
    out = cutout16(x, g1)
    cy, cx = torch.randint(0, 32, (4, 1), generator=g2), torch.randint(0, 32, (4, 1), generator=g2)
    for i in range(4):
        ref = torch.ones(3, 32, 32)
        y0, x0 = max(0, int(cy[i]) - 8), max(0, int(cx[i]) - 8)
        ref[:, y0:int(cy[i]) + 8, x0:int(cx[i]) + 8] = 0
        torch.testing.assert_close(out[i], ref)


# --------------------------------------------------------------------------- baselines
def test_level_for_strength_inverts_strength():
    choice = torch.arange(len(OP_NAMES)).repeat(5)
    s = torch.rand(len(choice), generator=torch.Generator().manual_seed(0))
    levels = level_for_strength(choice, s, torch.Generator().manual_seed(1))
    for k, name in enumerate(OP_NAMES):
        got = torch.as_tensor(strength(name, levels[choice == k]))
        if name in ("AutoContrast", "Invert", "Equalize", "Flip", "Identity"):
            continue                                                     # magnitude-free: strength fixed
        torch.testing.assert_close(got.float(), s[choice == k], atol=1e-6, rtol=0)
    assert ((levels >= 0) & (levels <= 1)).all()


def test_trivialaugment_equals_one_op_per_image():
    x = torch.rand(8, 3, 16, 16)
    out = trivialaugment(x, generator=torch.Generator().manual_seed(5))
    g = torch.Generator().manual_seed(5)
    choice = torch.randint(0, len(OP_NAMES), (8,), generator=g)
    s = torch.rand(8, generator=g)
    levels = level_for_strength(choice, s, g)
    # every op runs on the whole batch in order (each consumes the generator for its draws), then one is kept
    per_op = [apply_op(name, x, levels, generator=g) for name in OP_NAMES]
    for i in range(8):
        torch.testing.assert_close(out[i], per_op[int(choice[i])][i])


def test_randaugment_changes_images_and_zero_magnitude_keeps_geometry_near_identity():
    x = torch.rand(16, 3, 16, 16)
    out = randaugment(x, n=2, magnitude=0.9, generator=torch.Generator().manual_seed(0))
    assert out.shape == x.shape and not torch.equal(out, x)
    with pytest.raises(ValueError):
        randaugment(x, n=0)


# --------------------------------------------------------------------------- model and strength
def test_wideresnet_parts():
    net = WideResNet(depth=10, widen=2, num_classes=7)
    x = torch.rand(3, 3, 32, 32)
    z = net.f(x)
    assert z.shape == (3, 128) and net.feature_dim == 128
    torch.testing.assert_close(net(x), net.g(z))
    with pytest.raises(ValueError):
        WideResNet(depth=12)


def test_policy_strength_equals_a_loop():
    g = torch.Generator().manual_seed(0)
    mag, probs = torch.rand(4, 17, generator=g), torch.softmax(torch.randn(4, 17, generator=g), 1)
    ref = [sum(float(probs[i, k]) * float(strength(n, float(mag[i, k]))) for k, n in enumerate(OP_NAMES))
           for i in range(4)]
    torch.testing.assert_close(policy_strength(mag, probs), torch.tensor(ref), atol=1e-6, rtol=1e-6)


# --------------------------------------------------------------------------- experiment
@pytest.fixture(scope="module")
def smoke_data():
    cfg = get_config("smoke")
    return cfg, load_reduced("cifar10", n_train=cfg.n_train, n_search=cfg.n_search, n_test=cfg.n_test)


@pytest.mark.parametrize("method", METHODS)
def test_train_run_every_method_at_smoke(smoke_data, method):
    cfg, data = smoke_data
    out = train_run(data, cfg, method, 0, "cpu")
    assert 0 <= out["acc"] <= 1 and out["class_acc"].shape == (10,)
    assert list(out["curve"].epoch) == list(range(cfg.epochs))
    if method.startswith("madaug"):
        assert out["class_probs"].shape == (10, 17)
        np.testing.assert_allclose(out["class_probs"].sum(1), 1.0, atol=1e-5)
        assert out["curve"].strength.between(0, 1).all()
    splits = out["curve"].split.tolist()
    assert splits == ([1.0] * cfg.epochs if method == "madaug_nocurriculum" else
                      [min(math.tanh(e / (40 * cfg.curriculum_scale)) + 0.01, 1) for e in range(cfg.epochs)])


def test_train_run_is_seeded_and_learns_the_policy(smoke_data):
    cfg, data = smoke_data
    a, b = train_run(data, cfg, "madaug", 0, "cpu"), train_run(data, cfg, "madaug", 0, "cpu")
    assert a["acc"] == b["acc"]
    np.testing.assert_array_equal(a["class_probs"], b["class_probs"])
    fixed = train_run(data, cfg, "madaug_nobilevel", 0, "cpu")
    assert not np.allclose(a["class_probs"], fixed["class_probs"])      # explore moved h


def test_train_run_under_bf16_autocast(smoke_data):
    cfg, data = smoke_data
    cfg.precision = "bf16"
    out = train_run(data, cfg, "madaug", 0, "cpu")
    assert np.isfinite(out["curve"].loss).all() and 0 <= out["acc"] <= 1


def test_run_at_smoke_returns_the_claims_inputs():
    cfg = get_config("smoke", methods=("noaug", "madaug"), epochs=1)
    res = run(cfg, "cpu", progress=False)
    assert set(res) == {"runs", "classes", "curves", "heatmap"}
    assert len(res["runs"]) == 2 and len(res["classes"]) == 20 and len(res["heatmap"]) == 10 * 17
    ids = [c.id for c in rebuild("madaug", "quick", cfg, res)]
    assert ids == ["curriculum_schedule", "beats_noaug", "on_par_with_ta", "easy_to_hard", "fairness", "ablations"]


# --------------------------------------------------------------------------- claims
def synthetic(effect=1.0, noise=0.3, seeds=range(4), rising=True):
    """Frames shaped like experiment.run: MADAug better by ``effect`` points (more for hard classes)."""
    rng = np.random.default_rng(0)
    shift = {"noaug": 0.0, "cutout": 0.5, "randaugment": 0.5, "trivialaugment": 0.8, "madaug": effect,
             "madaug_nocurriculum": effect / 2, "madaug_nobilevel": effect / 2}
    runs, classes, curves = [], [], []
    for d in ("cifar10", "fashion-mnist"):
        for s in seeds:
            for m, e in shift.items():
                acc_c = []
                for c in range(10):
                    base = 40 + 4 * c
                    gain = e * (1.5 - c / 10) if m == "madaug" else e
                    acc_c.append((base + gain + noise * rng.standard_normal()) / 100)
                    classes.append({"dataset": d, "method": m, "seed": s, "class": c, "acc": acc_c[-1]})
                runs.append({"dataset": d, "method": m, "seed": s, "acc": float(np.mean(acc_c)), "epoch_s": 1.0})
                if m.startswith("madaug"):
                    slope = 0.02 if (rising and m == "madaug") else 0.0
                    for ep in range(8):
                        curves.append({"dataset": d, "method": m, "seed": s, "epoch": ep, "split": 1.0,
                                       "strength": 0.4 + slope * ep + 0.02 * rng.standard_normal(), "loss": 1.0,
                                       "epoch_s": 1.0})
    return {"runs": pd.DataFrame(runs), "classes": pd.DataFrame(classes), "curves": pd.DataFrame(curves),
            "heatmap": pd.DataFrame(columns=["dataset", "method", "seed", "class", "op", "p"])}


def verdicts(**kw):
    return {c.id: c.verdict for c in rebuild("madaug", "quick", get_config("quick"), synthetic(**kw))}


def test_claims_reproduced_when_madaug_helps():
    v = verdicts(effect=3.0)
    assert v == {"curriculum_schedule": "reproduced", "beats_noaug": "reproduced", "on_par_with_ta": "reproduced",
                 "easy_to_hard": "reproduced", "fairness": "reproduced", "ablations": "reproduced"}


def test_claims_fail_when_madaug_does_nothing():
    v = verdicts(effect=0.0, rising=False)
    assert v["beats_noaug"] in ("inconclusive", "not reproduced") and v["easy_to_hard"] != "reproduced"
    assert v["fairness"] != "reproduced" and v["ablations"] != "reproduced"
    assert v["curriculum_schedule"] == "reproduced"                    # exact: no training involved


def test_claims_inconclusive_under_noise():
    v = verdicts(effect=0.5, noise=8.0, seeds=range(2))
    assert v["beats_noaug"] == "inconclusive" and v["ablations"] in ("inconclusive", "partly")


def test_claims_not_reproduced_when_madaug_hurts():
    assert verdicts(effect=-3.0)["beats_noaug"] == "not reproduced"
