"""MerA speed: merging time as a share of one few-shot run, and inference cost of AdapterFusion against the one
merged adapter (papers/mera.md Sec. 8; target: merge < 1% of a run; adapter-part time fusion / MerA about N).

  merge      ``merge`` of N adapter sets (one Pfeiffer module per layer, bottleneck --r) with sum, avg and OT
             (weight cost, exact EMD), against one few-shot run = --steps training steps (forward, backward,
             AdamW) of the encoder's top --layers with one adapter each, batch --batch x --seq
  inference  the adapter part of one layer on (batch, seq, d) hidden states: the N frozen adapters alone
             (batched), the whole AdapterFusion block (adapters + attention over them + LayerNorm), against the
             merged adapter's block (one adapter + LayerNorm); and end to end, the top --layers of the encoder with
             fusion against with the merged adapter (forward, eval mode)
Medians of several repetitions after a warm-up, one process. --json PATH writes the figures
(replib.gpucheck.save_figures), as scripts/gpu_check.sh reads them.

    python benchmarks/bench_mera.py                       # CPU, 2 threads, all-MiniLM-L6-v2
    python benchmarks/bench_mera.py --device cuda --encoder bert-base-uncased --layers 12 --r 64
"""
from __future__ import annotations

import argparse
import copy

import torch
import torch.nn.functional as F

from replib.gpucheck import save_figures
from replib.mera import adapter_model, fusion_model, merge
from replib.mera.fusion import FusionNorm
from replib.nn.adapters import BottleneckAdapter, PfeifferNorm, adapter_states
from replib.nn.glue import load_encoder, split_encoder
from replib.runtime import time_call


def random_sets(n: int, layers: int, d: int, r: int) -> list[list[dict]]:
    out = []
    for s in range(n):
        torch.manual_seed(s)
        out.append([{k: v.detach().clone() for k, v in BottleneckAdapter(d, r).state_dict().items()}
                    for _ in range(layers)])
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--encoder", default="minilm-l6")
    ap.add_argument("--layers", type=int, default=1, help="top layers with an adapter (the rest are not run)")
    ap.add_argument("--n", type=int, default=5, help="source adapters")
    ap.add_argument("--r", type=int, default=16)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--seq", type=int, default=64)
    ap.add_argument("--steps", type=int, default=48, help="training steps of one few-shot run (quick: 48)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--json", default="", help="also write the figures to this JSON file")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    dev = torch.device(args.device)
    encoder, _ = load_encoder(args.encoder)
    n_layers = len(encoder.encoder.layer)
    _, top = split_encoder(encoder, max(0, n_layers - args.layers))
    top = top.to(dev).requires_grad_(False).eval()
    d, L = encoder.config.hidden_size, len(top.encoder.layer)
    g = torch.Generator().manual_seed(0)
    x = {"inputs_embeds": torch.randn(args.batch, args.seq, d, generator=g).to(dev),
         "attention_mask": torch.ones(args.batch, args.seq, dtype=torch.long, device=dev)}
    if L == n_layers:                 # the whole model: token ids instead of hidden states
        x = {"input_ids": torch.randint(0, encoder.config.vocab_size, (args.batch, args.seq), generator=g).to(dev),
             "attention_mask": x["attention_mask"]}
    y = torch.randint(0, 2, (args.batch,), generator=g).to(dev)
    sources = random_sets(args.n, L, d, args.r)

    # --- merging against one few-shot run
    model = adapter_model(top, 2, bottleneck=args.r, seed=0).to(dev).train()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)

    def step():
        loss = F.cross_entropy(model(**x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    t_step = time_call(step, dev, args.reps)
    t_run = args.steps * t_step
    print(f"{args.encoder}, Pfeiffer r={args.r} in the top {L} of {n_layers} layers, N={args.n} sources, batch "
          f"{args.batch}x{args.seq}, device {dev}, {args.threads} threads (medians of {args.reps})")
    print(f"  one few-shot run: {args.steps} steps x {1000 * t_step:.2f} ms = {t_run:.2f} s")
    figures = {"step_ms": 1000 * t_step, "run_s": t_run}
    for method in ("sum", "avg", "ot"):
        t = time_call(lambda m=method: merge(sources, m), "cpu", max(3, args.reps // 2))
        print(f"  merge {method:>3}: {1000 * t:8.2f} ms = {100 * t / t_run:.3f}% of a run (target < 1%)")
        figures |= {f"merge_{method}_ms": 1000 * t, f"merge_{method}_share_of_run": t / t_run}
    figures["merge_ot_share_below_1pct"] = figures["merge_ot_share_of_run"] < 0.01

    # --- inference: the adapter part of one layer, then the top end to end
    h = torch.randn(args.batch, args.seq, d, generator=g).to(dev)
    norm = copy.deepcopy(top.encoder.layer[-1].output.LayerNorm)
    merged = merge(sources, "ot")
    one = BottleneckAdapter(d, args.r, dropout=0.0)
    one.load_state_dict(merged[-1])
    blocks = {"mera": PfeifferNorm(copy.deepcopy(norm), one).to(dev).eval(),
              "fusion": FusionNorm(copy.deepcopy(norm), [s[-1] for s in sources]).to(dev).eval()}
    with torch.no_grad():
        t_ad = time_call(lambda: one.to(dev)(h), dev, args.reps)
        t_stack = time_call(lambda: blocks["fusion"].adapters(h), dev, args.reps)
        t_block = {k: time_call(lambda b=b: b(h), dev, args.reps) for k, b in blocks.items()}
        ends = {"mera": adapter_model(top, 2, bottleneck=args.r, seed=0, states=merged).to(dev).eval(),
                "fusion": fusion_model(top, 2, sources, seed=0).to(dev).eval()}
        t_end = {k: time_call(lambda m=m: m(**x), dev, args.reps) for k, m in ends.items()}
    print(f"  adapters alone: {args.n} batched {1000 * t_stack:.3f} ms / one {1000 * t_ad:.3f} ms = "
          f"{t_stack / t_ad:.2f}x (N = {args.n})")
    print(f"  adapter block: fusion {1000 * t_block['fusion']:.3f} ms / MerA {1000 * t_block['mera']:.3f} ms = "
          f"{t_block['fusion'] / t_block['mera']:.2f}x (the 3 d^2 attention projections come on top of N adapters)")
    print(f"  end to end (top {L} layer(s)): fusion {1000 * t_end['fusion']:.2f} ms / MerA {1000 * t_end['mera']:.2f} "
          f"ms = {t_end['fusion'] / t_end['mera']:.3f}x")
    figures |= {"adapters_n_over_one": t_stack / t_ad, "block_fusion_over_mera": t_block["fusion"] / t_block["mera"],
                "end_to_end_fusion_over_mera": t_end["fusion"] / t_end["mera"],
                "mera_trainable": sum(p.numel() for p in ends["mera"].parameters() if p.requires_grad),
                "fusion_trainable": sum(p.numel() for p in ends["fusion"].parameters() if p.requires_grad),
                "n_adapter_states": len(adapter_states(ends["mera"]))}
    if args.json:
        save_figures(args.json, "mera", dev, figures, vars(args))


if __name__ == "__main__":
    main()
