"""Grader backends behind one small interface, and the local Hugging Face one (papers/alpagasus.md Sec. 2, 8).

A backend turns chat conversations into :class:`Reply` objects::

    backend.settings() -> dict                  # everything that changes a reply (model, decoding); never a key
    backend.complete(conversations) -> list[Reply]   # same order as given

``Reply.text`` is the reply (for the ``hf`` backend its first line), ``Reply.digits`` the probabilities of
the next tokens "0".."5" at the score position (the first reply token) when the backend can give them,
``Reply.meta`` a small dict (tokens, stop reason, attempts, error). ``text`` None means the call failed
(after retries); the grader then neither caches nor parses it.

:class:`HFBackend`: a local causal LM with its chat template, batched greedy decoding with left padding and
a KV cache, stopping each row at its first newline. Because greedy decoding is causal, the first line of a
full 256-token generation is exactly what is produced before the first newline, so stopping there changes
nothing that the parser reads (tested against ``model.generate``) and saves the explanation's tokens.
The same prefill gives the digit distribution of the ``logprob`` way (DEITA-style expected score), so both
ways cost one pass. The bare digit tokens are used (SmolLM2 has one token per digit; a tokenizer without
single-token digits gives ``digits`` None).
"""
from __future__ import annotations

import dataclasses
import functools

import numpy as np

DIGITS = "012345"


@dataclasses.dataclass
class Reply:
    """One grader reply: text (None = failed), P("0".."5") at the score position or None, metadata."""
    text: str | None
    digits: np.ndarray | None = None
    meta: dict = dataclasses.field(default_factory=dict)


def expected_score(digits) -> tuple[float, float]:
    """(expected score sum_d d p_d / sum_d p_d, digit mass sum_d p_d) of P("0".."5"); NaN when absent."""
    if digits is None:
        return float("nan"), float("nan")
    p = np.asarray(digits, dtype=np.float64)
    mass = float(p.sum())
    return (float(p @ np.arange(6)) / mass if mass > 0 else float("nan")), mass


@functools.lru_cache(maxsize=8)
def _vocab_masks(tokenizer) -> tuple[np.ndarray, list[int] | None]:
    """Per token [3, V]: contains a newline / has text before its first newline / has any non-blank text;
    and the ids of the single-token digits "0".."5" (None if a digit takes several tokens)."""
    texts = tokenizer.batch_decode([[i] for i in range(len(tokenizer))])
    masks = np.array([["\n" in t for t in texts], [bool(t.split("\n", 1)[0].strip()) for t in texts],
                      [bool(t.strip()) for t in texts]], dtype=bool)
    ids = [tokenizer.encode(d, add_special_tokens=False) for d in DIGITS]
    return masks, ([i[0] for i in ids] if all(len(i) == 1 for i in ids) else None)


def first_line(text: str) -> str:
    """`text` up to the end of its first non-blank line (leading blank lines kept, the newline dropped)."""
    out = []
    for line in text.split("\n"):
        out.append(line)
        if line.strip():
            break
    return "\n".join(out)


def chat_ids(tokenizer, conversations) -> list[list[int]]:
    """Token ids of each conversation under the tokenizer's chat template, ready for the reply."""
    texts = [tokenizer.apply_chat_template(c, add_generation_prompt=True, tokenize=False) for c in conversations]
    return tokenizer(texts, add_special_tokens=False)["input_ids"]


def greedy_batch(model, ids: list[list[int]], *, pad_id: int, stop, eos, digit_ids, max_new_tokens: int):
    """Greedy decoding of one left-padded batch with a KV cache.

    `stop` is None (run to EOS or `max_new_tokens`) or the bool tensor [3, V] of ``_vocab_masks`` on the
    model's device: a row ends at the first token holding a newline once the row has some non-blank text
    (so the first *non-empty* line is complete; leading blank lines are kept, and the parsers see them as
    the official ``split('\\n')[0]`` would). `eos` is a tensor of end-of-sequence ids.
    Returns (new tokens [B, steps] as a CPU tensor, the step each row stopped at or -1, P(digit_ids) at
    the first reply position [B, 6] or None). A row that stopped is fed pad tokens that no one reads.
    Stopping is checked every step on CPU (no device sync there) and every 4 steps on a GPU.
    """
    import torch

    dev = next(model.parameters()).device
    B, T = len(ids), max(len(x) for x in ids)
    inp = torch.full((B, T), pad_id, dtype=torch.long)
    mask = torch.zeros((B, T), dtype=torch.long)
    for b, x in enumerate(ids):                                  # left padding: the last column is real
        inp[b, T - len(x):] = torch.tensor(x, dtype=torch.long)
        mask[b, T - len(x):] = 1
    inp, mask = inp.to(dev), mask.to(dev)
    pos = (mask.cumsum(1) - 1).clamp(min=0)                      # [B, T] positions as without padding
    out = model(input_ids=inp, attention_mask=mask, position_ids=pos, use_cache=True, logits_to_keep=1)
    logits = out.logits[:, -1].float()                           # [B, V] next-token logits
    probs = None if digit_ids is None else logits.softmax(-1)[:, digit_ids].cpu().numpy()
    done = torch.zeros(B, dtype=torch.bool, device=dev)
    seen = torch.zeros(B, dtype=torch.bool, device=dev)         # row has produced non-blank text
    stopped_at = torch.full((B,), -1, dtype=torch.long, device=dev)
    last, toks, every = pos[:, -1], [], 1 if dev.type == "cpu" else 4
    for step in range(max_new_tokens):
        nxt = torch.where(done, torch.full_like(done, pad_id, dtype=torch.long), logits.argmax(-1))
        toks.append(nxt)
        end = torch.isin(nxt, eos)
        if stop is not None:
            end = end | (stop[0, nxt] & (seen | stop[1, nxt]))
            seen = seen | stop[2, nxt]
        end = end & ~done
        stopped_at = torch.where(end, torch.full_like(stopped_at, step), stopped_at)
        done = done | end
        if step + 1 == max_new_tokens or ((step + 1) % every == 0 and bool(done.all())):
            break
        mask = torch.cat([mask, torch.ones((B, 1), dtype=mask.dtype, device=dev)], 1)
        last = last + 1
        out = model(input_ids=nxt[:, None], attention_mask=mask, position_ids=last[:, None],
                    past_key_values=out.past_key_values, use_cache=True)
        logits = out.logits[:, -1].float()
    return torch.stack(toks, 1).cpu(), stopped_at.cpu(), probs


class HFBackend:
    """Local causal LM grader: chat template, batched greedy decoding that stops at the first newline."""

    def __init__(self, model, tokenizer, *, name: str, batch_size: int = 8, max_new_tokens: int = 256,
                 stop_at_newline: bool = True, precision: str = "auto"):
        from ..runtime import resolve_precision

        if batch_size < 1 or max_new_tokens < 1:
            raise ValueError(f"batch_size={batch_size} and max_new_tokens={max_new_tokens} must be >= 1")
        self.model, self.tokenizer, self.name = model, tokenizer, name
        self.batch_size, self.max_new_tokens, self.stop_at_newline = batch_size, max_new_tokens, stop_at_newline
        self.device = next(model.parameters()).device
        self.precision = resolve_precision(precision, self.device)

    def settings(self) -> dict:
        return {"backend": "hf", "model": self.name, "decoding": "greedy", "max_new_tokens": self.max_new_tokens,
                "stop_at_newline": self.stop_at_newline, "precision": self.precision}

    def complete(self, conversations) -> list[Reply]:
        import torch

        from ..runtime import autocast

        tok = self.tokenizer
        masks, digit_ids = _vocab_masks(tok)
        stop = torch.tensor(masks, device=self.device) if self.stop_at_newline else None
        eos_ids = [i for i in {tok.eos_token_id, getattr(self.model.generation_config, "eos_token_id", None)}
                   if isinstance(i, int)]
        eos = torch.tensor(eos_ids or [-1], device=self.device)
        pad = tok.pad_token_id if tok.pad_token_id is not None else eos_ids[0]
        ids = chat_ids(tok, conversations)
        order = np.argsort([-len(x) for x in ids], kind="stable")  # similar lengths together: little padding
        replies: list[Reply | None] = [None] * len(ids)
        self.model.eval()
        with torch.inference_mode(), autocast(self.device, self.precision):
            for b in range(0, len(order), self.batch_size):
                idx = order[b:b + self.batch_size]
                new, stopped, probs = greedy_batch(self.model, [ids[i] for i in idx], pad_id=pad, stop=stop,
                                                   eos=eos, digit_ids=digit_ids,
                                                   max_new_tokens=self.max_new_tokens)
                for j, i in enumerate(idx):
                    s = int(stopped[j])
                    n = s + 1 if s >= 0 else new.shape[1]
                    text = tok.decode(new[j, :n].tolist(), skip_special_tokens=True)
                    if self.stop_at_newline:
                        text = first_line(text)
                    reason = "length" if s < 0 else ("eos" if int(new[j, s]) in eos_ids else "newline")
                    replies[i] = Reply(text, None if probs is None else probs[j].astype(np.float64),
                                       {"new_tokens": n, "stop": reason, "prompt_tokens": len(ids[i])})
        return replies
