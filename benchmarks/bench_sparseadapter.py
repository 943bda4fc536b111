"""SparseAdapter speed: the masked adapter's training step against the dense adapter's, and pruning time as a
share of a training run (papers/sparseadapter.md Sec. 8; target: masked / dense <= 1.05).

The encoder's top ``--layers`` blocks (the rest frozen and, as in the notebook, not run: the input is a
batch of hidden states) get Houlsby adapters of bottleneck ``--r``:
  dense    adapters without masks (the reference)
  masked   the same adapters with W * m parametrised masks at ``--ratio`` (random scores)
One training step = forward + cross-entropy + backward + AdamW step, median of several repetitions after a
warm-up, one process. Unstructured sparsity gives no wall-clock gain (the matmuls stay dense); the step
ratio measures what the masks cost. Pruning: SNIP and GraSP on length x 32 = 320 examples in training-size
batches (halved for GraSP), against ``--steps`` training steps. --json PATH writes the figures
(replib.gpucheck.save_figures), as scripts/gpu_check.sh reads them.

    python benchmarks/bench_sparseadapter.py                       # CPU, 2 threads, all-MiniLM-L6-v2
    python benchmarks/bench_sparseadapter.py --device cuda --encoder bert-base-uncased --layers 12 --r 64
"""
from __future__ import annotations

import argparse
import copy
import time

import torch
import torch.nn.functional as F

from replib.gpucheck import save_figures
from replib.nn.adapters import add_masks, insert_adapters
from replib.nn.glue import PooledClassifier, load_encoder, split_encoder
from replib.runtime import time_call
from replib.sparseadapter import prune, prune_batch_size


def build(top, r: int, masked: bool, ratio: float, device) -> PooledClassifier:
    torch.manual_seed(0)
    enc = copy.deepcopy(top)
    insert_adapters(enc, bottleneck=r)
    if masked:
        add_masks(enc)
    model = PooledClassifier(enc, 2).to(device).train()
    if masked:
        prune(model, [], F.cross_entropy, pruner="rand", sparse_ratio=ratio)
    return model


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--encoder", default="minilm-l6")
    ap.add_argument("--layers", type=int, default=2, help="top layers with adapters")
    ap.add_argument("--r", type=int, default=16)
    ap.add_argument("--ratio", type=float, default=0.4)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--seq", type=int, default=64)
    ap.add_argument("--steps", type=int, default=60, help="training steps of one run (quick: 3 epochs x 20)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--prune-examples", type=int, default=320, help="examples SNIP / GraSP score (official 320)")
    ap.add_argument("--json", default="", help="also write the figures to this JSON file")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    dev = torch.device(args.device)
    encoder, _ = load_encoder(args.encoder)
    n = len(encoder.encoder.layer)
    _, top = split_encoder(encoder, max(0, n - args.layers))
    top.requires_grad_(False)
    d = encoder.config.hidden_size
    g = torch.Generator().manual_seed(0)
    x = {"inputs_embeds": torch.randn(args.batch, args.seq, d, generator=g).to(dev),
         "attention_mask": torch.ones(args.batch, args.seq, dtype=torch.long, device=dev)}
    if n - args.layers <= 0:       # the whole model: token ids instead of hidden states
        x = {"input_ids": torch.randint(0, encoder.config.vocab_size, (args.batch, args.seq), generator=g).to(dev),
             "attention_mask": x["attention_mask"]}
    y = torch.randint(0, 2, (args.batch,), generator=g).to(dev)
    models = {k: build(top, args.r, k == "masked", args.ratio, dev) for k in ("dense", "masked")}

    def step_fn(model):
        opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)

        def step():
            loss = F.cross_entropy(model(**x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        return step
    t = {k: time_call(step_fn(m), dev, args.reps) for k, m in models.items()}
    print(f"{args.encoder}, Houlsby r={args.r} in the top {min(args.layers, n)} of {n} layers, batch "
          f"{args.batch}x{args.seq}, device {dev}, {args.threads} threads; training step, ms (median of {args.reps})")
    print(f"  dense {1000 * t['dense']:.2f}   masked ({args.ratio:.0%}) {1000 * t['masked']:.2f}   "
          f"masked / dense {t['masked'] / t['dense']:.3f}x (target <= 1.05)")
    figures = {"dense_ms": 1000 * t["dense"], "masked_ms": 1000 * t["masked"],
               "masked_over_dense": t["masked"] / t["dense"]}
    for pruner in ("snip", "grasp"):
        bs = prune_batch_size(pruner, args.batch)
        batches = [({k: v[:bs] for k, v in x.items()}, y[:bs]) for _ in range(-(-args.prune_examples // bs))]
        model = build(top, args.r, True, 0.0, dev)
        t0 = time.perf_counter()
        prune(model, batches, F.cross_entropy, pruner=pruner, sparse_ratio=args.ratio)
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        tp = time.perf_counter() - t0
        run = tp + args.steps * t["masked"]
        print(f"  {pruner:>5}: prune {tp:.2f} s on {args.prune_examples} examples = {100 * tp / run:.1f}% of a "
              f"{args.steps}-step run")
        figures.update({f"{pruner}_prune_s": tp, f"{pruner}_share_of_run": tp / run})
    if args.json:
        save_figures(args.json, "sparseadapter", dev, figures, vars(args))


if __name__ == "__main__":
    main()
