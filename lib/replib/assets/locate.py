"""Where assets are on disk: data roots, sha256 checks against MANIFEST.md, wheels, the hub, atomic writes.

Search order for a data file (DESIGN.md, "Assets: models and data, offline first"):

1. every folder of ``$REPLIB_DATA`` (colon-separated), in order;
2. ``<checkout>/data``;
3. ``<checkout>/../shared/data`` when it exists;
4. the asset's system folders (``/usr/share/datasets`` for the Debian Fashion-MNIST);
5. only with ``profile="full"``: the Hugging Face cache (what ``hf download`` left there, :func:`hub_snapshot`),
   then, on a machine that is online, the Hugging Face hub (see :func:`hub_allowed`).

The first copy found is the one used: a corrupt copy is an error, never silently skipped, so that a
stale file cannot hide behind a good one. Its sha256 is checked against the MANIFEST.md that sits in
the same data root, or against the built-in table in ``registry`` when that root has none. Verified
hashes are remembered per (path, size, mtime) so that repeated loads do not rehash.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import socket
import uuid
from importlib import metadata
from pathlib import Path

from .. import runtime
from .registry import ASSETS, BUILTIN_FILES, Asset, AssetError

_SHA_MEMO: dict[tuple[str, int, int], str] = {}
_MANIFEST_MEMO: dict[tuple[str, int, int], dict[str, tuple[str, int | None]]] = {}
_ONLINE_MEMO: dict[tuple, bool] = {}


# --------------------------------------------------------------------------- roots
def checkout() -> Path | None:
    """The workbook checkout (runtime.repo_root), else the folder three levels above this package."""
    try:
        return runtime.repo_root()
    except RuntimeError:
        # lib/replib/assets/locate.py -> parents[3] is the checkout when run from a source tree
        here = Path(__file__).resolve().parents[3]
        return here if (here / "lib" / "replib").is_dir() else None


def data_roots() -> list[tuple[str, Path]]:
    """(label, folder) in search order; ../shared/data only when it exists."""
    roots = [("REPLIB_DATA", Path(p).expanduser()) for p in os.environ.get("REPLIB_DATA", "").split(":") if p]
    root = checkout()
    if root is not None:
        roots.append(("data/", root / "data"))
        shared = root.parent / "shared" / "data"
        if shared.is_dir():
            roots.append(("../shared/data", shared))
    return roots


def _search_list(asset: Asset) -> list[tuple[str, Path]]:
    return data_roots() + [("system", Path(d)) for d in asset.system_dirs]


# --------------------------------------------------------------------------- hashes
def sha256_file(path: str | os.PathLike) -> str:
    """sha256 of a file, remembered per (resolved path, size, mtime_ns)."""
    path = Path(path).resolve()
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    if key not in _SHA_MEMO:
        digest = hashlib.sha256()
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
        _SHA_MEMO[key] = digest.hexdigest()
    return _SHA_MEMO[key]


def parse_manifest(path: str | os.PathLike) -> dict[str, tuple[str, int | None]]:
    """Every markdown table row of MANIFEST.md with a `file` and a `sha256(file)` column -> (sha, rows)."""
    path = Path(path)
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key in _MANIFEST_MEMO:
        return _MANIFEST_MEMO[key]
    out: dict[str, tuple[str, int | None]] = {}
    header: list[str] | None = None
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.lstrip().startswith("|"):
            header = None  # a table ends at the first line that is not a row
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if header is None:
            header = [c.lower() for c in cells]
            continue
        if set("".join(cells)) <= set("-: "):  # the |---|---| separator row
            continue
        row = dict(zip(header, cells))
        sha, name = row.get("sha256(file)", ""), row.get("file", "")
        if name and re.fullmatch(r"[0-9a-f]{64}", sha):
            rows = row.get("rows", "").replace(",", "")
            out[name] = (sha, int(rows) if rows.isdigit() else None)
    _MANIFEST_MEMO[key] = out
    return out


def expected(rel: str, root: Path | None) -> tuple[str | None, int | None, str]:
    """(sha256, rows, where that came from) for `rel`: the root's MANIFEST.md first, then the built-in table."""
    if root is not None and (root / "MANIFEST.md").is_file():
        listed = parse_manifest(root / "MANIFEST.md")
        if rel in listed:
            return (*listed[rel], f"{root / 'MANIFEST.md'}")
    if rel in BUILTIN_FILES:
        return (*BUILTIN_FILES[rel], "replib.assets.registry.BUILTIN_FILES")
    return None, None, "no known hash"


def check_sha256(asset_name: str, rel: str, path: Path, root: Path | None, fix: str = "") -> None:
    """AssetError (expected vs got) when `path` does not hash to the value listed for `rel`."""
    want, _, source = expected(rel, root)
    if want is None:
        return
    got = sha256_file(path)
    if got != want:
        raise AssetError(
            f"asset {asset_name!r}: file {rel} at {path} is corrupt: sha256 mismatch\n"
            f"  expected {want} (from {source})\n  got      {got}\n"
            f"Fix: replace that copy with a good one, or delete it so the next place in the search order is "
            f"used ({fix or 'copy it again from ../shared/data'})")


# --------------------------------------------------------------------------- finding files
def find_file(asset: Asset | str, rel: str, *, verify: bool = True) -> Path:
    """The first copy of `rel` along the search list, sha256-checked; AssetError naming every place searched."""
    asset = ASSETS[asset] if isinstance(asset, str) else asset
    searched = []
    for label, root in _search_list(asset):
        path = root / rel
        if path.is_file():
            if verify:
                check_sha256(asset.name, rel, path, root, asset.fix)
            return path
        searched.append(f"  - {path}  [{label}]")
    root = checkout()
    if root is not None and not (root.parent / "shared" / "data").is_dir():
        searched.append(f"  - {root.parent / 'shared' / 'data'}  [../shared/data: folder does not exist]")
    if not os.environ.get("REPLIB_DATA"):
        searched.append("  - $REPLIB_DATA  [not set]")
    raise AssetError(f"asset {asset.name!r}: file {rel} not found.\nSearched:\n" + "\n".join(searched)
                     + f"\nFix: {asset.fix}")


def root_of(path: Path, rel: str) -> Path:
    """The data root that `path` (= root / rel) was found in."""
    return Path(str(path)[: -len(rel)].rstrip("/")) if str(path).endswith(rel) else path.parent


def expected_rows(rel: str, path: Path) -> int | None:
    return expected(rel, root_of(path, rel))[1]


# --------------------------------------------------------------------------- wheels
def dist_file(dist: str, name: str) -> Path | None:
    """The installed file called `name` (a basename or a path suffix) inside PyPI distribution `dist`."""
    try:
        files = metadata.distribution(dist).files or []
    except metadata.PackageNotFoundError:
        return None
    hits = [f for f in files if str(f).replace("\\", "/").endswith(name)]
    # shortest path first: model/config.json before model/1_Pooling/config.json
    for f in sorted(hits, key=lambda f: len(str(f))):
        path = Path(f.locate()).resolve()
        if path.is_file():
            return path
    return None


def dist_version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


# --------------------------------------------------------------------------- the hub
def is_online(timeout: float = 2.0) -> bool:
    """False when HF_HUB_OFFLINE (or TRANSFORMERS/HF_DATASETS_OFFLINE) is set, else whether huggingface.co:443
    answers."""
    flags = tuple(os.environ.get(k, "") for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"))
    if any(f.strip().lower() not in ("", "0", "false", "no", "off") for f in flags):
        return False
    if flags not in _ONLINE_MEMO:
        try:
            with socket.create_connection(("huggingface.co", 443), timeout=timeout):
                _ONLINE_MEMO[flags] = True
        except OSError:
            _ONLINE_MEMO[flags] = False
    return _ONLINE_MEMO[flags]


def hub_allowed(profile: str) -> bool:
    """The hub is used only by profile 'full', and only when online."""
    return runtime.check_profile(profile) == "full" and is_online()


def hub_snapshot(repo_id: str, repo_type: str = "model") -> Path | None:
    """The folder of `repo_id` in the Hugging Face cache (what ``hf download`` fills), or None; no network.

    ``$HF_HUB_CACHE`` is read at each call, so a test or a prepared cache can point elsewhere.
    """
    try:
        from huggingface_hub import snapshot_download

        folder = Path(snapshot_download(repo_id, repo_type=repo_type, local_files_only=True,
                                        cache_dir=os.environ.get("HF_HUB_CACHE") or None))
    except Exception:  # not cached, not a valid repo id, or huggingface_hub not installed
        return None
    return folder if folder.is_dir() and any(folder.iterdir()) else None


# --------------------------------------------------------------------------- cache writes
def cache_path(*parts: str) -> Path:
    """A path under runtime.cache_dir() (created), e.g. cache_path('models', 'gemma-3-270m')."""
    path = runtime.cache_dir().joinpath(*parts)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _sibling(path: Path) -> Path:
    """A unique temporary name in the same folder (same filesystem, so os.replace is atomic; umask applies)."""
    return path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")


def atomic_torch_save(obj, path: Path) -> None:
    """torch.save to a temporary file beside `path`, then rename: readers never see half a file."""
    import torch

    tmp = _sibling(path)
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


@contextlib.contextmanager
def atomic_dir(final: Path):
    """Yield a temporary folder beside `final`; on success rename it to `final` (kept if another process won)."""
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = _sibling(final)
    tmp.mkdir()
    try:
        yield tmp
        try:
            os.replace(tmp, final)
        except OSError:
            if not final.is_dir():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
