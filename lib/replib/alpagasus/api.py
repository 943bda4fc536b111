"""OpenAI-compatible chat backend (OpenAI, vLLM, ``transformers serve``) for the grader (papers/alpagasus.md Sec. 2).

gpt4life sends async batches of 5 to gpt-3.5-turbo-0301 (temperature 0, top_p 1, max_tokens 256) and, on
any error, sleeps 10 s, 20 s, 40 s, ... and resends the whole batch. Here every request is its own task
under a semaphore of ``concurrency`` in-flight requests (5 by default, the official batch size), so one
slow reply never holds four others; a failed request is retried alone, up to ``max_retries`` times, after
``min(cap, base * 2**attempt)`` seconds scaled by a uniform jitter in [0.5, 1] (or the server's
Retry-After, capped the same way). Retried: 429, 5xx, timeouts, connection errors and malformed bodies
(no choices / no message content); other 4xx fail at once. A request that still fails gives
``Reply(None, meta={"error": ...})``: the grader counts it, does not cache it, and a rerun retries it.

The API key is read from the environment variable named by ``api_key_env`` at call time and is never
stored on the object, in :meth:`OpenAIBackend.settings`, in caches, cassettes or logs. A local server
(``base_url`` given) without a key gets the placeholder "EMPTY".
"""
from __future__ import annotations

import asyncio
import os
import random
import time

import numpy as np

from .backends import DIGITS, Reply

RETRYABLE_STATUS = (408, 409, 429, 500, 502, 503, 504)


class MalformedReply(ValueError):
    """A 200 response without a usable message."""


def run_coroutine(coro):
    """Run `coro` to completion from sync code, also inside Jupyter's running event loop (in a thread)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def _digits(choice) -> np.ndarray | None:
    """P("0".."5") from the first reply token's top logprobs, when the server returned them."""
    content = getattr(getattr(choice, "logprobs", None), "content", None)
    if not content:
        return None
    p = np.zeros(len(DIGITS))
    for alt in content[0].top_logprobs or []:
        t = alt.token.strip()
        if len(t) == 1 and t in DIGITS:
            p[DIGITS.index(t)] += float(np.exp(alt.logprob))
    return p


class OpenAIBackend:
    """Chat completions through the ``openai`` async client with bounded concurrency and retries."""

    def __init__(self, model: str, *, base_url: str | None = None, api_key_env: str = "OPENAI_API_KEY",
                 concurrency: int = 5, max_retries: int = 6, backoff: float = 1.0, backoff_cap: float = 30.0,
                 connect_timeout: float = 10.0, read_timeout: float = 120.0, temperature: float = 0.0,
                 top_p: float = 1.0, max_tokens: int = 256, logprobs: bool = False, seed: int = 0):
        if concurrency < 1 or max_retries < 0 or backoff < 0 or backoff_cap < 0 or max_tokens < 1:
            raise ValueError(f"need concurrency >= 1, max_retries >= 0, backoff(_cap) >= 0, max_tokens >= 1; got "
                             f"{concurrency}, {max_retries}, {backoff}, {backoff_cap}, {max_tokens}")
        if base_url is None and not os.environ.get(api_key_env):
            raise ValueError(f"no API key: set the environment variable {api_key_env} (or give base_url for a "
                             "local server)")
        self.model, self.base_url, self.api_key_env = model, base_url, api_key_env
        self.concurrency, self.max_retries = concurrency, max_retries
        self.backoff, self.backoff_cap = backoff, backoff_cap
        self.timeouts = (connect_timeout, read_timeout)
        self.request = {"temperature": temperature, "top_p": top_p, "max_tokens": max_tokens}
        self.logprobs = logprobs
        self._rng = random.Random(seed)

    def settings(self) -> dict:
        """What changes a reply (no key, no concurrency or timeouts)."""
        return {"backend": "openai", "model": self.model, "base_url": self.base_url, **self.request,
                "logprobs": self.logprobs}

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry `attempt` (0-based): capped exponential with jitter, or Retry-After."""
        if retry_after is not None:
            return min(self.backoff_cap, max(0.0, retry_after))
        return min(self.backoff_cap, self.backoff * 2 ** attempt) * self._rng.uniform(0.5, 1.0)

    def complete(self, conversations) -> list[Reply]:
        return run_coroutine(self._all(list(conversations)))

    async def _all(self, conversations) -> list[Reply]:
        import httpx
        import openai

        key = os.environ.get(self.api_key_env) or "EMPTY"
        client = openai.AsyncOpenAI(api_key=key, base_url=self.base_url, max_retries=0,
                                    timeout=httpx.Timeout(self.timeouts[1], connect=self.timeouts[0]))
        sem = asyncio.Semaphore(self.concurrency)
        try:
            return list(await asyncio.gather(*(self._one(client, sem, m) for m in conversations)))
        finally:
            await client.close()

    async def _one(self, client, sem, messages) -> Reply:
        import openai

        extra = {"logprobs": True, "top_logprobs": 20} if self.logprobs else {}
        error = ""
        for attempt in range(self.max_retries + 1):
            retry_after = None
            async with sem:
                t = time.perf_counter()
                try:
                    r = await client.chat.completions.create(model=self.model, messages=messages, **self.request,
                                                             **extra)
                    if not getattr(r, "choices", None) or r.choices[0].message is None \
                            or not isinstance(r.choices[0].message.content, str):
                        raise MalformedReply(f"response without message content: {str(r)[:200]}")
                    c = r.choices[0]
                    return Reply(c.message.content, _digits(c),
                                 {"attempts": attempt + 1, "seconds": round(time.perf_counter() - t, 3),
                                  "finish_reason": c.finish_reason, "served_model": getattr(r, "model", None)})
                except openai.APIStatusError as e:
                    error = f"HTTP {e.status_code}: {type(e).__name__}"
                    if e.status_code not in RETRYABLE_STATUS:
                        break
                    try:
                        retry_after = float(e.response.headers.get("retry-after"))
                    except (TypeError, ValueError):
                        retry_after = None
                except (openai.APIConnectionError, openai.APIResponseValidationError, MalformedReply,
                        ValueError, KeyError, TypeError, AttributeError) as e:   # timeouts are connection errors
                    error = f"{type(e).__name__}: {str(e)[:200]}"
            if attempt < self.max_retries:
                await asyncio.sleep(self.delay(attempt, retry_after))
        return Reply(None, None, {"error": error, "attempts": attempt + 1})
