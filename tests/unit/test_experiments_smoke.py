"""A direct smoke test of every experiment function of the existing papers at ``get_config("smoke")`` (with tiny
overrides that keep the file under about a minute on 2 cores), one test per function, so that a failure names
the function instead of a notebook cell. Each test checks the shape and sanity of what the function returns
(columns, one row per planned run, values in range), not its numbers: the smoke models are random.

Shared, expensive preparation (a tokenised GLUE task, a tiny LM) is one module fixture per paper; IFD scores
of the random smoke models go to a temporary cache (REPLIB_CACHE is moved after the models are loaded, so their
tokenizer conversions still come from the real one).
"""
import copy

import numpy as np
import pandas as pd
import pytest
import torch

DEVICE = torch.device("cpu")


def _frame(frame, columns, n_rows=None):
    assert isinstance(frame, pd.DataFrame) and set(columns) <= set(frame.columns), list(frame.columns)
    if n_rows is not None:
        assert len(frame) == n_rows, frame
    return frame


def _acc_ok(frame):
    assert frame["acc"].between(0.0, 1.0).all() and frame["acc"].notna().all()


# ----------------------------------------------------------------------------- meo
MEO = dict(tasks=("RTE",), n_train=32, n_eval=16, ks=(1,), moe_ks=(2,))


@pytest.fixture(scope="module")
def meo_ctx():
    from replib.meo import experiment
    from replib.meo.config import get_config

    cfg = get_config("smoke", **MEO)
    return cfg, experiment.prepare(cfg, DEVICE)


def test_meo_flops_frame():
    from replib.meo import experiment
    from replib.meo.config import get_config

    cfg = get_config("smoke")
    f = _frame(experiment.flops_frame(cfg), ["model", "mode", "k", "gflops"])
    assert len(f) == 3 * 2 * len(cfg.flops_ks) and (f.gflops > 0).all()


def test_meo_timing_frame():
    from replib.meo import experiment
    from replib.meo.config import get_config

    cfg = get_config("smoke")
    f = _frame(experiment.timing_frame(cfg, DEVICE), ["k", "mode", "seconds", "us_per_token"], 2 * len(cfg.timing_ks))
    assert (f.seconds > 0).all()


def test_meo_prepare(meo_ctx):
    cfg, ctx = meo_ctx
    assert set(ctx.tasks) == set(cfg.tasks)
    assert all("hidden" in t.train for t in ctx.tasks.values())          # the frozen bottom ran once


def test_meo_glue_frame(meo_ctx):
    from replib.meo import experiment

    cfg, ctx = meo_ctx
    f = _frame(experiment.glue_frame(cfg, ctx, DEVICE), ["task", "mode", "level", "k", "seed", "acc", "train_s"],
               1 + len(cfg.ks) + len(cfg.moe_ks))
    _acc_ok(f)
    _frame(experiment.summarise(f), ["mean", "std", "count"])


def test_meo_token_frame(meo_ctx):
    from replib.meo import experiment

    cfg, ctx = meo_ctx
    f = _frame(experiment.token_frame(cfg, ctx, DEVICE), ["task", "mode", "level", "k", "acc"], 2)
    assert (f.level == "token").all() and (f.k == cfg.token_k).all()
    _acc_ok(f)


# ----------------------------------------------------------------------------- padnet
def test_padnet_run():
    from replib.padnet import experiment
    from replib.padnet.config import get_config

    cfg = get_config("smoke", datasets=("fashion-mnist",), n_train=128, n_test=64)
    out = experiment.run(cfg, DEVICE, progress=False)
    f = _frame(out["results"], ["dataset", "group", "kind", "kappa", "seed", "acc", "intrinsic_params"],
               len(experiment.plan(cfg)))
    _acc_ok(f)
    assert set(f.kind) == {"static", "pad", "dynamic"} and out["lambdas"]
    _frame(experiment.summarise(f), ["acc", "std", "n", "params"])


def test_padnet_glue_run():
    from replib.padnet import glue
    from replib.padnet.config import get_config

    cfg = get_config("smoke", glue_train=32, glue_eval=16)
    f = _frame(glue.run(cfg, DEVICE, progress=False), ["arm", "seed", "acc", "dynamic_share", "counted_params"],
               len(glue.ARMS) * cfg.seeds)
    _acc_ok(f)


# ----------------------------------------------------------------------------- sparseadapter
SPARSE = dict(tasks=("RTE",), n_train=32, n_eval=16, pruners=("snip",), sparse_ratios=(0.4,), probe_ratios=(0.4,))


@pytest.fixture(scope="module")
def sparse_ctx():
    from replib.sparseadapter import experiment
    from replib.sparseadapter.config import get_config

    cfg = get_config("smoke", **SPARSE)
    return cfg, experiment.prepare(cfg, DEVICE)


def test_sparseadapter_sweep_frame(sparse_ctx):
    from replib.sparseadapter import experiment

    cfg, ctx = sparse_ctx
    frame, curves = experiment.sweep_frame(cfg, ctx, DEVICE)
    _frame(frame, ["task", "pruner", "sparse_ratio", "acc", "kept", "total"], 2)
    _acc_ok(frame)
    assert (frame.kept <= frame.total).all()
    _frame(curves, ["task", "pruner", "sparse_ratio", "seed", "step", "acc"])
    assert len(curves) and set(curves.pruner) == {"dense", "snip"}            # both CURVED runs
    _frame(experiment.summarise(frame), ["mean"])


def test_sparseadapter_large_sparse_frame(sparse_ctx):
    from replib.sparseadapter import experiment

    cfg, ctx = sparse_ctx
    f = _frame(experiment.large_sparse_frame(cfg, ctx, DEVICE), ["c", "bottleneck", "acc"],
               len(cfg.large_cs) + int(cfg.large_dense_upper))
    _acc_ok(f)


def test_sparseadapter_lora_frame(sparse_ctx):
    from replib.sparseadapter import experiment

    cfg, ctx = sparse_ctx
    f = _frame(experiment.lora_frame(cfg, ctx, DEVICE), ["family", "sparse_ratio", "acc"], 2)
    assert (f.family == "lora").all()


def test_sparseadapter_probe_frame(sparse_ctx):
    from replib.sparseadapter import experiment
    from replib.sparseadapter.pruners import SYNFLOW_PROBES

    cfg, ctx = sparse_ctx
    f = _frame(experiment.probe_frame(cfg, ctx, DEVICE), ["probe", "sparse_ratio", "pruned_share"],
               len(SYNFLOW_PROBES) * len(cfg.probe_ratios))
    assert f.pruned_share.between(0.0, 1.0).all()


# ----------------------------------------------------------------------------- ifd
@pytest.fixture(scope="module")
def ifd_setup():
    from replib.ifd import experiment
    from replib.ifd.config import get_config
    from replib.lm.models import load_lm

    cfg = get_config("smoke", n_pool=16, n_heldout=4, n_train=2, n_clusters=2, per_cluster=2)
    model, tok = load_lm(cfg.model, device=DEVICE, profile="smoke")
    pool, heldout, in_release = experiment.load_pool(cfg, "smoke")
    return cfg, model, tok, pool, heldout, in_release


def test_ifd_load_pool(ifd_setup):
    cfg, _, _, pool, heldout, in_release = ifd_setup
    assert len(pool) == cfg.n_pool and len(heldout) == cfg.n_heldout and in_release.shape == (len(pool),)


def test_ifd_pre_experience(ifd_setup):
    from replib.ifd import experiment

    cfg, model, tok, pool, *_ = ifd_setup
    pre = experiment.pre_experience(cfg, model, tok, pool, progress=False)
    assert len(pre["idx"]) <= cfg.n_clusters * cfg.per_cluster and np.isfinite(pre["losses"]).all()
    assert pre["tag"].startswith(cfg.model) and pre["emb"].shape[0] == len(pool)


def test_ifd_score(ifd_setup, tmp_path, monkeypatch):
    from replib.ifd import experiment

    monkeypatch.setenv("REPLIB_CACHE", str(tmp_path))
    cfg, model, tok, pool, *_ = ifd_setup
    table = experiment.score(cfg, "tiny-test", model, tok, pool)
    assert len(table) == len(pool) and table.attrs["scored"] == len(pool)
    assert 0.0 <= experiment.share_above_one(table) <= 1.0


def test_ifd_student_runs(ifd_setup, tmp_path, monkeypatch):
    from replib.ifd import experiment

    monkeypatch.setenv("REPLIB_CACHE", str(tmp_path))
    cfg, model, tok, pool, heldout, _ = ifd_setup
    table = experiment.score(cfg, "tiny-test", model, tok, pool)
    subsets = experiment.training_subsets(table, cfg.n_train)
    loader = lambda: (copy.deepcopy(model), tok)                             # noqa: E731  fresh copies, no reload
    students = experiment.student_runs(cfg, loader, pool, heldout, subsets)
    _frame(students, ["arm", "seed", "n_train", "heldout_loss"], 1 + len(subsets) * cfg.sft_seeds)
    assert np.isfinite(students.heldout_loss).all()


# ----------------------------------------------------------------------------- superfiltering
@pytest.fixture(scope="module")
def sf_setup():
    from replib.lm.models import load_lm
    from replib.superfiltering import experiment
    from replib.superfiltering.config import get_config

    cfg = get_config("smoke", weak="tiny-smollm2", strong="tiny-smollm2", student="tiny-smollm2",
                     sft_max_length=256)
    model, tok = load_lm(cfg.weak, device=DEVICE, profile="smoke")
    pool, heldout = experiment.load_pool(cfg, "smoke")
    return cfg, model, tok, pool, heldout


def test_superfiltering_load_pool(sf_setup):
    cfg, _, _, pool, heldout = sf_setup
    assert len(pool) == cfg.n_pool and len(heldout) == cfg.n_heldout


def test_superfiltering_score_and_time(sf_setup, tmp_path, monkeypatch):
    from replib.superfiltering import experiment

    monkeypatch.setenv("REPLIB_CACHE", str(tmp_path))
    cfg, model, tok, pool, _ = sf_setup
    table, timing = experiment.score_and_time(cfg, "tiny-test", model, tok, pool, pool[:cfg.timing_n], "weak")
    assert len(table) == len(pool) and timing["pool_scored"] == len(pool)
    assert timing["n"] == cfg.timing_n and timing["max_abs_diff"] < 1e-4       # batched = one per forward
    assert experiment.rank_stats(table, table)["rho_ifd"] == pytest.approx(1.0)


def test_superfiltering_d(sf_setup, tmp_path, monkeypatch):
    from replib.nn.glue import load_encoder
    from replib.superfiltering import experiment

    monkeypatch.setenv("REPLIB_CACHE", str(tmp_path))
    cfg, model, tok, pool, _ = sf_setup
    table = experiment.score_and_time(cfg, "tiny-test", model, tok, pool, pool[:1], "weak")[0]
    encoder, enc_tok = load_encoder("minilm-l6")
    dvar = experiment.superfiltering_d(cfg, pool, table["ifd_ppl"], encoder, enc_tok, device=DEVICE)
    assert set(dvar["fl"]) <= set(dvar["candidates"]) and len(dvar["X"]) == len(pool)
    _frame(experiment.candidates_frame(dvar), ["label"])


def test_superfiltering_student_runs(sf_setup, tmp_path, monkeypatch):
    from replib.superfiltering import experiment

    monkeypatch.setenv("REPLIB_CACHE", str(tmp_path))
    cfg, model, tok, pool, heldout = sf_setup
    weak = experiment.score_and_time(cfg, "tiny-test", model, tok, pool, pool[:1], "weak")[0]
    students = experiment.student_runs(cfg, experiment.copying_loader(model, tok), pool, heldout, weak)
    _frame(students, ["arm", "seed", "n_train", "heldout_loss"], len(cfg.arms) * cfg.sft_seeds)
    assert np.isfinite(students.heldout_loss).all()


# ----------------------------------------------------------------------------- erc
def test_erc_tabular():
    from replib.erc import experiment
    from replib.erc.config import get_config

    out = experiment.tabular(get_config("smoke"))
    assert {"random", "ring"} <= set(out) and np.isfinite(out["random"]["cos"]).all()


def test_erc_run():
    from replib.erc import experiment
    from replib.erc.config import get_config

    cfg = get_config("smoke", steps=200, start_steps=100, eval_every=100, log_every=50)
    out = experiment.run(cfg, DEVICE, progress=False)
    _frame(out["curves"], ["task", "method", "seed", "step", "return", "q_bias"])
    assert set(out["curves"].method) == set(cfg.methods)
    _frame(out["summary"], ["task", "method", "final_return"], len(cfg.tasks) * len(cfg.methods))
    _frame(out["paper_table"], ["task", "paper_ERC", "paper_SAC"], len(cfg.tasks))
    assert "deep" in experiment.headline_metrics(cfg, out)
