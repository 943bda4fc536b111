"""Replay backend: recorded grader replies keyed by a hash of messages, model and settings.

A cassette is one JSON file ``{"version": 1, "settings": {...}, "entries": {key: {"text", "digits", "meta"}}}``
(``settings``: those of the backend that recorded it) with
``key = sha256(json.dumps({"messages", "settings"}, sort_keys=True))`` (the settings hold the model
name). ``ReplayBackend(cassette)`` answers from it under the recorded settings and raises on a miss;
``ReplayBackend(cassette, inner=backend)`` records: misses go to `backend`, are added and the file is
written atomically after every call. So a notebook re-runs without the model, and the same messages under
the same model and settings always get the same reply (deterministic by construction). Failed replies
(text None) are never recorded. Cassettes hold replies and settings only, never an API key.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from ..store import atomic_write_json
from .backends import Reply

VERSION = 1


def message_key(messages, settings: dict) -> str:
    """sha256 of the conversation and the reply-changing settings (model included)."""
    blob = json.dumps({"messages": messages, "settings": settings}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class Cassette:
    """Recorded replies in one JSON file (read once, written atomically on save)."""

    def __init__(self, path):
        self.path = Path(path)
        self.entries: dict[str, dict] = {}
        self.settings: dict | None = None
        if self.path.exists():
            doc = json.loads(self.path.read_text(encoding="utf-8"))
            if doc.get("version") != VERSION:
                raise ValueError(f"cassette {self.path}: version {doc.get('version')!r}, expected {VERSION}")
            self.entries, self.settings = doc["entries"], doc.get("settings")

    def __len__(self) -> int:
        return len(self.entries)

    def get(self, key: str) -> Reply | None:
        e = self.entries.get(key)
        if e is None:
            return None
        return Reply(e["text"], None if e.get("digits") is None else np.asarray(e["digits"], dtype=np.float64),
                     dict(e.get("meta") or {}, replayed=True))

    def put(self, key: str, reply: Reply) -> None:
        if reply.text is None:
            return
        self.entries[key] = {"text": reply.text, "meta": reply.meta,
                             "digits": None if reply.digits is None else [float(x) for x in reply.digits]}

    def save(self) -> Path:
        return atomic_write_json(self.path, {"version": VERSION, "settings": self.settings, "entries": self.entries})


class ReplayBackend:
    """Answers from a cassette; with `inner`, records what the cassette lacks."""

    def __init__(self, cassette, settings: dict | None = None, *, inner=None):
        self.cassette = cassette if isinstance(cassette, Cassette) else Cassette(cassette)
        self.inner = inner
        settings = inner.settings() if inner is not None else settings or self.cassette.settings
        if settings is None:
            raise ValueError(f"cassette {self.cassette.path} is missing or has no settings; record it first with "
                             "ReplayBackend(path, inner=<live backend>)")
        if self.cassette.settings not in (None, settings):
            raise ValueError(f"cassette {self.cassette.path} was recorded with {self.cassette.settings}, "
                             f"not {settings}")
        self.cassette.settings = self._settings = dict(settings)

    def settings(self) -> dict:
        """The recorded backend's settings: a replayed grade shares the grade cache with the live one."""
        return dict(self._settings)

    def complete(self, conversations) -> list[Reply]:
        conversations = list(conversations)
        keys = [message_key(m, self._settings) for m in conversations]
        replies = [self.cassette.get(k) for k in keys]
        missing = [i for i, r in enumerate(replies) if r is None]
        if missing and self.inner is None:
            raise KeyError(f"{len(missing)} of {len(keys)} conversations are not in cassette {self.cassette.path} "
                           f"(model {self._settings.get('model')!r}); record them with ReplayBackend(path, "
                           "inner=<live backend>)")
        if missing:
            new = self.inner.complete([conversations[i] for i in missing])
            for i, r in zip(missing, new):
                self.cassette.put(keys[i], r)
                replies[i] = r
            self.cassette.save()
        return replies
