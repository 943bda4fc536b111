"""Which models and datasets each paper's config needs, so a machine can be checked (and prepared) before it runs.

Each paper's ``config.py`` exposes ``required_assets(cfg) -> tuple[str, ...]``: the ``replib.assets``
names and Hugging Face ids that its notebook loads under that config ('tiny' stand-ins map to the
registered model whose tokenizer they use). ``profile_status("full")`` is what ``python -m replib.assets
--profile full`` prints: every asset any paper needs at that profile, which papers need it, whether it
is on this machine, and the one command that fetches it while online. ``replib.assets.require`` turns
the same names into one error before a notebook starts its heavy work.

Like ``claims.py``, this module reaches the paper packages only through ``importlib`` by slug, so the
shared packages below it stay free of paper imports.
"""
from __future__ import annotations

import importlib
import importlib.util

from .assets import status
from .assets.locate import hub_allowed
from .runtime import PAPERS, check_profile


def paper_slugs() -> list[str]:
    """Slugs of the papers that have a config module, in paper order."""
    out = []
    for slug in PAPERS:
        try:
            if importlib.util.find_spec(f"replib.{slug}.config") is not None:
                out.append(slug)
        except ModuleNotFoundError:   # no package replib.<slug> yet
            continue
    return out


def paper_assets(slug: str, cfg) -> tuple[str, ...]:
    """The asset names `cfg` of paper `slug` needs (its config's required_assets), without duplicates."""
    module = importlib.import_module(f"replib.{slug}.config")
    fn = getattr(module, "required_assets", None)
    if fn is None:
        raise ValueError(f"replib.{slug}.config has no required_assets(cfg)")
    return tuple(dict.fromkeys(fn(cfg)))


def profile_assets(profile: str, slugs: list[str] | None = None) -> dict[str, list[str]]:
    """{asset name: [papers that need it]} for every paper's config at `profile` (default overrides)."""
    check_profile(profile)
    needs: dict[str, list[str]] = {}
    for slug in slugs or paper_slugs():
        cfg = importlib.import_module(f"replib.{slug}.config").get_config(profile)
        for name in paper_assets(slug, cfg):
            needs.setdefault(name, []).append(slug)
    return needs


def profile_status(profile: str, slugs: list[str] | None = None) -> list[dict]:
    """One row per needed asset: replib.assets.status plus `papers` and `ready` (present, or fetched on first
    use because it comes from the hub and `profile` is 'full' on a machine online)."""
    rows = []
    for name, papers in profile_assets(profile, slugs).items():
        row = {**status(name), "papers": papers}
        row["ready"] = row["present"] or (row["hub"] and hub_allowed(profile))
        rows.append(row)
    return rows


def format_status(rows: list[dict], profile: str) -> str:
    """Fixed-width table: name, papers, kind, status, then where it is (present) or the fetch command."""
    head = ("asset", "needed by", "kind", "status", "where / fetch command")
    cells = [head] + [(r["name"], ",".join(r["papers"]), r["kind"],
                       "present" if r["present"] else ("hub" if r["ready"] else "MISSING"),
                       r["where"] if r["present"] else r["fetch"]) for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(head) - 1)]
    lines = ["  ".join(v.ljust(w) for v, w in zip(c, widths)) + "  " + c[-1] for c in cells]
    lines.insert(1, "  ".join("-" * w for w in widths) + "  " + "-" * 21)
    missing = [r["name"] for r in rows if not r["ready"]]
    lines.append(f"\nprofile {profile}: {len(rows) - len(missing)}/{len(rows)} ready"
                 + (f"; missing: {', '.join(missing)} (run each fetch command once while online)" if missing else "")
                 + ("; 'hub' = not cached, downloaded on first use (online)" if any(
                     r["ready"] and not r["present"] for r in rows) else ""))
    return "\n".join(s.rstrip() for s in lines)
