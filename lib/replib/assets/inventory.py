"""What is on this machine: the status of every registered asset, of any hub model, and one check before heavy work.

``available()`` is the table behind ``python -m replib.assets``: one row per registered asset, existence
only (sha256 with ``verify=True``). ``status(name)`` answers for one name, a registered asset or a Hugging
Face model id such as ``"bert-base-uncased"`` (present when its snapshot is in the Hugging Face cache),
with the one command that fetches it while online. ``require(names, profile)`` runs before a notebook's
heavy work: it raises a single :class:`AssetError` naming every missing asset and its command, so that a
GPU box without hub access can be prepared once (DESIGN.md, "Assets: models and data, offline first").

This module sits above ``locate`` and ``models`` (it asks both), so neither of them imports it.
"""
from __future__ import annotations

import os
from collections.abc import Iterable

from .. import runtime
from . import models
from .locate import find_file, hub_allowed, hub_snapshot, root_of
from .registry import ASSETS, ENCODERS, GGUF_MODELS, Asset, AssetError

# What a model repo needs for from_pretrained: configs, tokenizers, chat templates and safetensors weights
# (not the same weights again as .bin, .h5, .msgpack or ONNX).
HUB_PATTERNS = ("*.json", "*.txt", "*.model", "*.jinja", "*.safetensors")
GATED = ("meta-llama/", "google/gemma")   # hub organisations whose models need an accepted licence


def hub_fetch_command(repo_id: str, repo_type: str = "model") -> str:
    """The one command that puts `repo_id` into the Hugging Face cache while online."""
    if repo_type == "dataset":
        return f"hf download {repo_id} --repo-type dataset"
    return f"hf download {repo_id} " + " ".join(f'--include "{p}"' for p in HUB_PATTERNS)


def _hub_cache() -> str:
    from huggingface_hub import constants

    return os.environ.get("HF_HUB_CACHE") or constants.HF_HUB_CACHE


# --------------------------------------------------------------------------- registered assets
def _status(asset: Asset, verify: bool) -> tuple[bool, str, str]:
    """(available, where from, cached conversion or '') without loading anything; hashes only with verify."""
    if asset.kind == "causal-lm":
        folder = runtime.cache_dir() / "models" / asset.name
        cached = str(folder) if (folder / models.MARKER).is_file() else ""
        try:
            paths = models.gguf_sources(asset.name)
            if verify and not GGUF_MODELS[asset.name]["parts"]:
                models._checked(asset.name, paths[0], GGUF_MODELS[asset.name])
            return True, (str(paths[0]) if len(paths) == 1 else f"{len(paths)} chunks in {asset.package}+parts"), cached
        except AssetError:
            return bool(cached), "", cached
    if asset.kind == "encoder":
        try:
            folder = models.encoder_path(asset.name)
            if verify:
                models._checked(asset.name, folder / ENCODERS[asset.name]["weights"], ENCODERS[asset.name])
            return True, str(folder), ""
        except AssetError:
            return False, "", ""
    if not asset.files:  # hub only: present once `hf download` has put it into the Hugging Face cache
        snapshot = hub_snapshot(asset.hub, "dataset")
        return (True, str(snapshot), "") if snapshot else (False, f"hub {asset.hub} (profile='full', online)", "")
    found = [find_file(asset, rel, verify=verify) for rel in asset.files]
    roots = sorted({str(root_of(p, rel)) for p, rel in zip(found, asset.files)})
    cached = ""
    if asset.kind == "images":
        hits = sorted((runtime.cache_dir() / "data").glob(f"{asset.name}-*.pt"))
        cached = str(hits[-1]) if hits else ""
    return True, ", ".join(roots), cached


def available(verify: bool = False) -> list[dict]:
    """One dict per registered asset: name, kind, available, where, cached, fix (when missing), note, error.

    Checks existence only (seconds); verify=True also hashes every file (sha256, memoised).
    """
    rows = []
    for asset in ASSETS.values():
        error = ""
        try:
            ok, where, cached = _status(asset, verify)
        except AssetError as err:
            ok, where, cached, error = False, "", "", str(err).splitlines()[0]
        if not asset.files and asset.hub and asset.kind == "text":
            ok = ok or hub_allowed("full")
        rows.append({"name": asset.name, "kind": asset.kind, "available": ok, "where": where,
                     "cached": cached, "fix": "" if ok else asset.fix, "note": asset.note, "error": error})
    return rows


# --------------------------------------------------------------------------- any name
def status(name: str) -> dict:
    """Whether `name` (a registered asset or a hub model id) is on this machine, and how to fetch it.

    Keys: name, kind, present, where (the folder, or why not), hub (True when it comes from the hub, so a
    machine online fetches it on first use), fetch (the command that provides it).
    """
    asset = ASSETS.get(name)
    if asset is not None:
        try:
            present, where, _ = _status(asset, verify=False)
        except AssetError as err:
            present, where = False, str(err).splitlines()[0]
        if not present and not where:
            where = f"not installed ({asset.package})" if asset.package else "not found"
        return {"name": name, "kind": asset.kind, "present": present, "where": where,
                "hub": not asset.files and bool(asset.hub), "fetch": asset.fix}
    snapshot = hub_snapshot(name)
    present = snapshot is not None and (snapshot / "config.json").is_file() and (
        any(snapshot.glob("*.safetensors")) or any(snapshot.glob("*.bin")))
    where = str(snapshot) if present else f"not in the Hugging Face cache ({_hub_cache()})"
    if not present and name.startswith(GATED):
        where += "; gated: accept its licence on the hub and run `hf auth login` before fetching"
    return {"name": name, "kind": "hub model", "present": present, "where": where, "hub": True,
            "fetch": hub_fetch_command(name)}


def require(names: Iterable[str], profile: str = "full") -> list[dict]:
    """The status of every name; one AssetError naming each missing asset and its fetch command.

    Call it before any heavy work. A missing hub asset passes only when ``profile='full'`` and the hub is
    reachable (the loaders then download it on first use); offline it is an error like any other.
    """
    runtime.check_profile(profile)
    rows = [status(n) for n in dict.fromkeys(names)]
    missing = [r for r in rows if not r["present"] and not (r["hub"] and hub_allowed(profile))]
    if missing:
        lines = [f"{len(missing)} of the {len(rows)} models and datasets this run needs (profile={profile!r}) "
                 f"are missing on this machine:"]
        for r in missing:
            lines += [f"  - {r['name']} ({r['kind']}): {r['where']}", f"      fetch: {r['fetch']}"]
        lines.append("Run each fetch command once while online (hub downloads go to the Hugging Face cache; copy "
                     "it to a machine without hub access and set HF_HUB_OFFLINE=1 there). "
                     f"`python -m replib.assets --profile {profile}` lists every asset with its status.")
        raise AssetError("\n".join(lines))
    return rows
