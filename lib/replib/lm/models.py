"""Causal LMs by name for the instruction-data notebooks, including tiny random ones for smoke runs.

``load_lm("smollm2-135m-instruct")`` is :func:`replib.assets.load_causal_lm`; ``load_lm("tiny-smollm2")``
is a seeded, randomly initialised 2-layer Llama (hidden 64) on SmolLM2's real tokenizer, so a smoke
run exercises every code path (templates, truncation, batching, fine-tuning) in seconds. Its numbers
mean nothing and the notebooks say so.
"""
from __future__ import annotations

TINY = {"tiny-smollm2": "smollm2-135m-instruct", "tiny-gemma3": "gemma-3-270m"}
"""tiny random model -> the registered LM whose tokenizer it uses."""


def tiny_lm(tokenizer, seed: int = 0, hidden: int = 64, layers: int = 2):
    """A random LlamaForCausalLM sized for `tokenizer` (weights drawn from a fixed seed)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    cfg = LlamaConfig(vocab_size=len(tokenizer), hidden_size=hidden, intermediate_size=2 * hidden,
                      num_hidden_layers=layers, num_attention_heads=4, num_key_value_heads=2,
                      max_position_embeddings=4096, tie_word_embeddings=True,
                      bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return LlamaForCausalLM(cfg).eval()


def load_lm(name: str, *, device="cpu", profile: str = "quick"):
    """(model in eval mode on `device`, tokenizer): a tiny random model, a GGUF short name or a hub id."""
    from ..assets import load_causal_lm, load_lm_tokenizer
    from ..runtime import pick_device

    if name in TINY:
        tok = load_lm_tokenizer(TINY[name])
        dev = pick_device(device) if isinstance(device, str) else device
        return tiny_lm(tok).to(dev), tok
    return load_causal_lm(name, device=device, profile=profile)
