"""Command line of ``replib.filter``; see README "Score and filter your own data".

    python -m replib.filter score --method ifd --model smollm2-135m-instruct --input data.json --output s.parquet
    python -m replib.filter select --scores s.parquet --input data.json --rule cherry --rate 0.05 --output sub.json
    accelerate launch --num_processes 4 -m replib.filter score ...     # rows sharded across processes

Inputs are read and checked before any model loads; errors exit with status 2 and one line saying what is wrong.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .io import InputError, load_units, write_table
from .score import METHODS, TEMPLATES, check_choice, shard_indices


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m replib.filter", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("score", help="score every sample (or conversation turn) of a file")
    s.add_argument("--method", required=True, help=f"{' | '.join(METHODS)} | grader")
    s.add_argument("--model", required=True, help="registry short name, local folder or hub id (online)")
    s.add_argument("--input", required=True,
                   help=".json / .jsonl / .parquet (Alpaca or messages/ShareGPT) or hf:NAME[:split]")
    s.add_argument("--output", required=True, help="scores file: .parquet, .jsonl, .json or .csv")
    s.add_argument("--fields", default=None, help="map other column names, e.g. instruction=q,input=ctx,output=a")
    s.add_argument("--template", default=None, help=f"{' | '.join(TEMPLATES)}; default: the method's official one")
    s.add_argument("--batch-size", type=int, default=None, help="sequences per forward (default: by device)")
    s.add_argument("--max-length", type=int, default=512, help="token window (official 512)")
    s.add_argument("--precision", default="auto", help="auto (bf16 on CUDA) | fp32 | bf16")
    s.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N (under accelerate: the process's)")
    s.add_argument("--chunk", type=int, default=512, help="units per cached part (what Ctrl-C can lose)")
    s.add_argument("--no-cache", action="store_true", help="neither read nor write the row cache")
    s.add_argument("--cache-dir", default=None, help="row cache folder (default ~/.cache/replib/filter)")
    s.add_argument("--base-url", default=None, help="grader: an OpenAI-compatible server (vLLM, transformers serve)")
    s.add_argument("--concurrency", type=int, default=8, help="grader with --base-url: requests in flight")
    s.add_argument("--way", default="generate", help="grader: generate (parsed reply) | logprob (expected score)")
    t = sub.add_parser("select", help="apply a paper's rule to a scores file and write the subset")
    t.add_argument("--scores", required=True)
    t.add_argument("--input", required=True, help="the file that was scored")
    t.add_argument("--rule", required=True, help="cherry | superfiltering | alpagasus")
    t.add_argument("--output", required=True, help="subset file (the input's schema; .json / .jsonl / .parquet)")
    t.add_argument("--fields", default=None)
    g = t.add_mutually_exclusive_group()
    g.add_argument("--rate", type=float, default=None, help="share to keep (cherry, superfiltering)")
    g.add_argument("--number", type=int, default=None, help="rows to keep (cherry, superfiltering)")
    g.add_argument("--threshold", type=float, default=None, help="alpagasus: keep score >= this (default 4.5)")
    return p


def _check_score_args(a) -> None:
    check_choice("method", a.method, (*METHODS, "grader"))
    check_choice("way", a.way, ("generate", "logprob"))
    if a.template is not None:
        check_choice("template", a.template, TEMPLATES)
    if Path(a.output).suffix not in (".parquet", ".jsonl", ".json", ".csv"):
        raise ValueError(f"--output {a.output}: use .parquet, .jsonl, .json or .csv")
    for name in ("batch_size", "max_length", "chunk", "concurrency"):
        v = getattr(a, name)
        if v is not None and v < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {v}")


def score(a) -> int:
    import pandas as pd

    _check_score_args(a)
    _, units, _, schema = load_units(a.input, a.fields)       # every input error before any model loads
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank, device, state = 0, a.device, None
    if world > 1:
        import torch
        from accelerate import PartialState

        # gloo on CPU (accelerate picks the CPU backend only when asked), NCCL and one GPU per process otherwise
        state = PartialState(cpu=str(a.device).startswith("cpu") or not torch.cuda.is_available())
        rank, world, device = state.process_index, state.num_processes, state.device
    mine = shard_indices([len(u.instruction) + len(u.input) + len(u.output) +
                          sum(len(m["content"]) for m in u.messages) for u in units], rank, world)
    part = [units[i] for i in mine]
    if a.method == "grader":
        from .grade import grade_units

        table = grade_units(part, model=a.model, base_url=a.base_url, concurrency=a.concurrency, device=device,
                            precision=a.precision, batch_size=a.batch_size, use_cache=not a.no_cache,
                            cache_root=a.cache_dir, way=a.way, progress=rank == 0)
    else:
        from .score import score_units

        table = score_units(part, method=a.method, model=a.model, template=a.template, max_length=a.max_length,
                            precision=a.precision, device=device, batch_size=a.batch_size, chunk=a.chunk,
                            use_cache=not a.no_cache, cache_root=a.cache_dir, progress=rank == 0)
    table.insert(0, "unit", mine)
    out = Path(a.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    if state is None:
        write_table(table.drop(columns="unit"), out)
    else:
        shard = out.with_name(f".{out.name}.shard-{rank}-of-{world}.parquet")
        table.to_parquet(shard, index=False)
        state.wait_for_everyone()
        if rank == 0:
            shards = [out.with_name(f".{out.name}.shard-{r}-of-{world}.parquet") for r in range(world)]
            merged = pd.concat([pd.read_parquet(p) for p in shards]).sort_values("unit")
            write_table(merged.drop(columns="unit").reset_index(drop=True), out)
            for p in shards:
                p.unlink()
        state.wait_for_everyone()
    if rank == 0:
        failed = int((table["failure"] != "").sum()) if state is None else None
        print(f"wrote {out} ({len(units)} units, schema {schema}, {world} process{'es' if world > 1 else ''}"
              + (f", {failed} not scored: see the 'failure' column" if failed else "") + ")")
    return 0


def main(argv=None) -> int:
    a = _parser().parse_args(argv)
    try:
        if a.command == "score":
            return score(a)
        from .select import run_select

        s = run_select(scores=a.scores, input=a.input, rule=a.rule, output=a.output, rate=a.rate, number=a.number,
                       threshold=a.threshold, fields=a.fields)
        print(f"kept {s['kept']} of {s['rows']} rows ({100 * s['kept_share']:.1f}%) -> {s['output']}; "
              f"summary {s['output']}.summary.json, histogram {s['output']}.hist.png")
        return 0
    except (InputError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
