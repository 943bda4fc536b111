"""OpenAI-compatible backend: bounded concurrency, retries on 429 / timeouts / malformed bodies against a loopback
stub, order preserved, no API key in any written file; and a real `transformers serve` round trip."""
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

pytest.importorskip("openai")

from replib.alpagasus.api import OpenAIBackend  # noqa: E402
from replib.alpagasus.grader import grade  # noqa: E402
from replib.alpagasus.prompts import grading_messages  # noqa: E402
from replib.alpagasus.replay import ReplayBackend  # noqa: E402

FAKE_KEY = "sk-test-DO-NOT-WRITE-0123456789abcdef"


class Stub(BaseHTTPRequestHandler):
    """Chat completions that reply with the number in the user message; tags script failures per content."""
    state: dict = {}

    def log_message(self, *a):
        pass

    def do_POST(self):
        st = self.state
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        text = body["messages"][-1]["content"]
        with st["lock"]:
            st["auth"].add(self.headers.get("Authorization"))
            st["inflight"] += 1
            st["peak"] = max(st["peak"], st["inflight"])
            n = st["seen"][text] = st["seen"].get(text, 0) + 1
        try:
            time.sleep(0.05)
            if "RATE" in text and n <= 2:
                return self._send(429, {"error": {"message": "slow down"}}, {"Retry-After": "0"})
            if "SLOW" in text and n == 1:
                time.sleep(1.5)                      # beyond the client's read timeout
            if "BAD" in text and n == 1:
                return self._send(200, b"{not json")
            if "EMPTY" in text and n == 1:
                return self._send(200, {"id": "x", "object": "chat.completion", "created": 0, "model": "m",
                                        "choices": []})
            if "DENY" in text:
                return self._send(400, {"error": {"message": "bad request"}})
            m = re.search(r"#(\d)", text)
            reply = m.group(1) if m else "3"
            return self._send(200, {"id": "x", "object": "chat.completion", "created": 0, "model": body["model"],
                                    "choices": [{"index": 0, "finish_reason": "stop",
                                                 "message": {"role": "assistant", "content": f"{reply}\nok"}}]})
        finally:
            with st["lock"]:
                st["inflight"] -= 1

    def _send(self, code, obj, headers=None):
        data = obj if isinstance(obj, bytes) else json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def stub():
    Stub.state = {"lock": threading.Lock(), "inflight": 0, "peak": 0, "seen": {}, "auth": set()}
    server = ThreadingHTTPServer(("127.0.0.1", 0), Stub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1", Stub.state
    server.shutdown()
    server.server_close()


def _conv(tag):
    return [{"role": "system", "content": "s"}, {"role": "user", "content": tag}]


def _backend(url, **kw):
    kw = {"concurrency": 5, "max_retries": 3, "backoff": 0.01, "backoff_cap": 0.05, "read_timeout": 0.5,
          "connect_timeout": 0.5, **kw}
    return OpenAIBackend("stub-model", base_url=url, api_key_env="REPLIB_TEST_KEY", **kw)


def test_concurrency_bound_and_order(stub, monkeypatch):
    url, st = stub
    monkeypatch.setenv("REPLIB_TEST_KEY", FAKE_KEY)
    # a generous read timeout: a request the client timed out on (a slow, loaded machine) would still be in
    # flight on the server while its retry runs, and the server would count both
    replies = _backend(url, read_timeout=30.0).complete([_conv(f"item #{i % 6}") for i in range(23)])
    assert [r.text for r in replies] == [f"{i % 6}\nok" for i in range(23)]
    assert all(r.meta["attempts"] == 1 for r in replies)
    assert 1 < st["peak"] <= 5
    assert st["auth"] == {f"Bearer {FAKE_KEY}"}


def test_retries_on_429_timeout_and_malformed(stub):
    url, st = stub
    tags = ["RATE #4", "SLOW #2", "BAD #1", "EMPTY #5", "plain #0"]
    replies = _backend(url).complete([_conv(t) for t in tags])
    assert [r.text for r in replies] == ["4\nok", "2\nok", "1\nok", "5\nok", "0\nok"]
    assert [r.meta["attempts"] for r in replies] == [3, 2, 2, 2, 1]


def test_gives_up_and_fails_fast(stub):
    url, st = stub
    r = _backend(url, max_retries=1).complete([_conv("RATE #1"), _conv("DENY")])
    assert r[0].text is None and "429" in r[0].meta["error"] and r[0].meta["attempts"] == 2
    assert r[1].text is None and "400" in r[1].meta["error"] and st["seen"]["DENY"] == 1   # 4xx: no retry


def test_backoff_is_capped_and_jittered():
    b = OpenAIBackend("m", base_url="http://127.0.0.1:9/v1", backoff=1.0, backoff_cap=8.0)
    d = [b.delay(a) for a in range(8)]
    assert all(0.5 * min(8, 2 ** a) <= x <= min(8, 2 ** a) for a, x in enumerate(d))
    assert b.delay(3, retry_after=100) == 8.0


def test_key_only_from_env(monkeypatch):
    monkeypatch.delenv("REPLIB_NO_SUCH_KEY", raising=False)
    with pytest.raises(ValueError, match="REPLIB_NO_SUCH_KEY"):
        OpenAIBackend("gpt-3.5-turbo-0301", api_key_env="REPLIB_NO_SUCH_KEY")


def test_no_api_key_in_written_files(stub, monkeypatch, tmp_path):
    url, _ = stub
    monkeypatch.setenv("REPLIB_TEST_KEY", FAKE_KEY)
    samples = [{"instruction": f"q{i}", "input": "", "output": "a"} for i in range(4)]
    be = ReplayBackend(tmp_path / "cassette.json", inner=_backend(url))
    t = grade(samples, be, cache=tmp_path / "grades", progress=False)
    assert t["parsed"].all()
    t.to_json(tmp_path / "table.json")
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert len(files) >= 4
    for p in files:
        assert FAKE_KEY not in p.read_text(errors="ignore"), p
    assert FAKE_KEY not in json.dumps(be.settings())


# ----------------------------------------------------------------------------- real server
def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """`transformers serve` on 127.0.0.1 serving the cached SmolLM2 folder offline; stopped by its pid."""
    from replib.assets.models import converted_folder

    exe = shutil.which("transformers", path=str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"])
    if exe is None:
        pytest.skip("the `transformers` command is missing (install the lm extra: transformers[serving])")
    folder = str(converted_folder("smollm2-135m-instruct"))
    port = _free_port()
    hub = tmp_path_factory.mktemp("hub")          # an existing, empty hub cache: the model listing scans it
    env = {**os.environ, "HF_HUB_CACHE": str(hub), "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    log = open(hub / "serve.log", "w")
    proc = subprocess.Popen([exe, "serve", folder, "--host", "127.0.0.1", "--port", str(port), "--device", "cpu"],
                            env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.time() + 120
    try:
        while True:
            if proc.poll() is not None:
                tail = (hub / "serve.log").read_text()[-500:]
                pytest.skip(f"transformers serve exited ({proc.returncode}); log: {tail}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.time() > deadline:
                pytest.skip("transformers serve did not become ready within 120 s")
            time.sleep(1)
        yield f"http://127.0.0.1:{port}/v1", folder
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def test_real_server_round_trip(served, monkeypatch, tmp_path):
    url, folder = served
    monkeypatch.setenv("REPLIB_TEST_KEY", FAKE_KEY)
    be = OpenAIBackend(folder, base_url=url, api_key_env="REPLIB_TEST_KEY", concurrency=2, max_tokens=8,
                       read_timeout=120)
    samples = [{"instruction": "What is 2 + 2?", "input": "", "output": "4"},
               {"instruction": "Name the capital of France.", "input": "", "output": "Berlin"}]
    t = grade(samples, be, cache=tmp_path, progress=False)
    assert t.attrs["failures"] == 0 and (t["raw"].str.len() > 0).all()
    metas = [json.loads(m) for m in t["meta"]]
    assert all(m["attempts"] == 1 and m["finish_reason"] in ("stop", "length") for m in metas)
    again = be.complete([grading_messages(samples[0])])          # greedy: the same reply
    assert again[0].text == t["raw"][0]
    for p in tmp_path.rglob("*"):
        if p.is_file():
            assert FAKE_KEY not in p.read_text(errors="ignore")
