"""AlpaGasus grading throughput (papers/alpagasus.md Sec. 8; targets >= 5x on 2 CPU cores, >= 10x on a GPU).

On the same model and the same grading prompts (gpt4life's accuracy prompt on seeded Alpaca samples):
  reference  one sample at a time, 256-token greedy generation (``model.generate``; the official max_tokens)
  batched    ``HFBackend``: length-sorted left-padded batches with a KV cache, stop at the end of line 1
  logprob    the expected-score way alone: one prefill per batch, P("0".."5") at the score position
and checks that the batched first lines equal the reference's first lines. Samples/s and the ratios are
printed; --json PATH writes them (replib.gpucheck.save_figures).

    python benchmarks/bench_alpagasus.py                       # CPU, 2 threads, SmolLM2-135M-Instruct, n = 8
    python benchmarks/bench_alpagasus.py --device cuda --n 1000 --ref-n 50 --batch 64
"""
from __future__ import annotations

import argparse
import time

import torch

from replib.alpagasus.backends import HFBackend, _vocab_masks, chat_ids, first_line
from replib.alpagasus.prompts import grading_messages
from replib.gpucheck import save_figures
from replib.lm.data import instruction_pool
from replib.lm.models import load_lm
from replib.runtime import autocast, pick_device


def reference(model, tok, convs, max_new: int) -> list[str]:
    """One sample at a time, greedy, up to `max_new` tokens (or EOS)."""
    out = []
    for x in chat_ids(tok, convs):
        ids = torch.tensor([x], device=model.device)
        g = model.generate(ids, attention_mask=torch.ones_like(ids), do_sample=False, max_new_tokens=max_new,
                           pad_token_id=tok.pad_token_id)
        out.append(tok.decode(g[0, len(x):], skip_special_tokens=True))
    return out


def logprob_only(model, tok, convs, batch: int) -> None:
    """The logprob way alone: one prefill per batch, digits' probabilities at the last position."""
    _, digits = _vocab_masks(tok)
    ids = chat_ids(tok, convs)
    for b in range(0, len(ids), batch):
        part = ids[b:b + batch]
        T = max(len(x) for x in part)
        inp = torch.full((len(part), T), tok.pad_token_id, dtype=torch.long)
        mask = torch.zeros_like(inp)
        for i, x in enumerate(part):
            inp[i, T - len(x):], mask[i, T - len(x):] = torch.tensor(x), 1
        pos = (mask.cumsum(1) - 1).clamp(min=0)
        logits = model(input_ids=inp.to(model.device), attention_mask=mask.to(model.device),
                       position_ids=pos.to(model.device), logits_to_keep=1).logits[:, -1].float()
        logits.softmax(-1)[:, digits].cpu()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="smollm2-135m-instruct")
    ap.add_argument("--n", type=int, default=8, help="samples graded by the batched and logprob paths")
    ap.add_argument("--ref-n", type=int, default=4, help="samples of the slow reference (its rate is per sample)")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--max-new", type=int, default=256, help="reference generation length (official 256)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--precision", default="auto")
    ap.add_argument("--json", default="", help="also write the figures to this JSON file")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    dev = pick_device(args.device)
    model, tok = load_lm(args.model, device=dev)
    pool, _ = instruction_pool(n_pool=args.n, n_heldout=0, seed=0)
    convs = [grading_messages(s) for s in pool]
    backend = HFBackend(model, tok, name=args.model, batch_size=args.batch, max_new_tokens=args.max_new,
                        precision=args.precision)
    backend.complete(convs[:1])                                   # warm-up (vocabulary masks, kernels)
    with torch.inference_mode(), autocast(dev, args.precision):
        t = time.perf_counter()
        ref = reference(model, tok, convs[:args.ref_n], args.max_new)
        t_ref = (time.perf_counter() - t) / args.ref_n
    t = time.perf_counter()
    got = backend.complete(convs)
    t_bat = (time.perf_counter() - t) / args.n
    with torch.inference_mode(), autocast(dev, args.precision):
        t = time.perf_counter()
        logprob_only(model, tok, convs, args.batch)
        t_lp = (time.perf_counter() - t) / args.n
    same = sum(first_line(r) == g.text for r, g in zip(ref, got))
    figures = {"reference_samples_per_s": 1 / t_ref, "batched_samples_per_s": 1 / t_bat,
               "logprob_samples_per_s": 1 / t_lp, "batched_over_reference": t_ref / t_bat,
               "logprob_over_reference": t_ref / t_lp, "first_lines_equal": same, "compared": len(ref),
               "mean_new_tokens_batched": sum(g.meta["new_tokens"] for g in got) / len(got)}
    print(f"{args.model} on {dev}, {args.threads} threads, batch {args.batch}")
    print(f"  reference (bs 1, {args.max_new} tokens): {1 / t_ref:.3f} samples/s over {args.ref_n}")
    print(f"  batched stop-at-newline: {1 / t_bat:.3f} samples/s ({t_ref / t_bat:.1f}x), "
          f"{figures['mean_new_tokens_batched']:.1f} new tokens/sample")
    print(f"  logprob only: {1 / t_lp:.3f} samples/s ({t_ref / t_lp:.1f}x)")
    print(f"  first lines equal to the reference: {same} of {len(ref)}")
    if args.json:
        save_figures(args.json, "alpagasus", dev, figures, vars(args))


if __name__ == "__main__":
    main()
