"""Helpers for the ``quco serve`` tests: a tiny corpus, a real OpenAI-compatible upstream, uvicorn on loopback.

The upstream is a small Starlette app: it answers the Einstein question wrongly ("born in Warsaw") unless the
Einstein evidence passage is in the messages, then rightly ("born in Ulm"); it answers the Curie question
rightly; a question containing "slow" makes it wait; ``stream: true`` gives server-sent events word by word.
It records every request (body and Authorization) so the tests can see what the proxy sent.

``python tests/test_serve_support.py [PORT]`` serves it alone on 127.0.0.1:PORT (default 9000), a stand-in model
for trying ``quco serve --upstream http://127.0.0.1:9000/v1`` by hand: it also answers "In which city was Marie
Curie born?" with Lisbon, unless "Warsaw" is in the messages.
"""
from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route

CORPUS = """\
<doc id="1" url="http://example.org/wiki?curid=1" title="Marie Curie">
Marie Curie

Marie Curie was a physicist and chemist who was born in Warsaw. Marie Curie worked with Pierre Curie in Paris.
</doc>
<doc id="2" url="http://example.org/wiki?curid=2" title="Pierre Curie">
Pierre Curie

Pierre Curie was a French physicist. He married Marie Curie in 1895 and taught in Paris.
</doc>
<doc id="3" url="http://example.org/wiki?curid=3" title="Warsaw">
Warsaw

Warsaw is the capital of Poland. The Radium Institute in Warsaw was founded by Marie Curie.
</doc>
<doc id="4" url="http://example.org/wiki?curid=4" title="Albert Einstein">
Albert Einstein

Albert Einstein was a physicist born in Ulm. Albert Einstein worked in Bern and later in Berlin.
</doc>
<doc id="5" url="http://example.org/wiki?curid=5" title="Nobel Prize">
Nobel Prize

The Nobel Prize was awarded to Marie Curie in 1903. Albert Einstein received the Nobel Prize in 1921.
</doc>
<doc id="6" url="http://example.org/wiki?curid=6" title="Frederic Chopin">
Frederic Chopin

Frederic Chopin was a composer born near Warsaw. Frederic Chopin later lived in Paris.
</doc>
"""
EINSTEIN_Q = "Where was Albert Einstein born?"
EINSTEIN_WRONG = "Albert Einstein was born in Warsaw."
EINSTEIN_RIGHT = "Albert Einstein was born in Ulm."
EVIDENCE_MARK = "Albert Einstein was a physicist born in Ulm"  # the passage that makes the upstream right
CURIE_Q = "Where was Marie Curie born?"
CURIE_RIGHT = "Marie Curie was born in Warsaw."
CURIE_DEMO_Q = "In which city was Marie Curie born?"
CURIE_WRONG = "Marie Curie was born in Lisbon."
SLOW_SECONDS = 3.0


def user_text(body: dict[str, Any]) -> str:
    msgs = [m for m in body.get("messages", []) if m.get("role") == "user"]
    content = msgs[-1].get("content", "") if msgs else ""
    if isinstance(content, list):
        return "\n".join(p.get("text", "") for p in content if isinstance(p, dict))
    return content


class Upstream:
    """The fake OpenAI-compatible model server; ``requests`` records (body, authorization) of each call."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, Any], str | None]] = []
        self.app = Starlette(routes=[Route("/v1/chat/completions", self.chat, methods=["POST"]),
                                     Route("/v1/models", self.models, methods=["GET"])])

    @staticmethod
    def answer(prompt: str) -> str:
        if CURIE_DEMO_Q in prompt:  # the README's session, on the wiki2015 index
            return CURIE_RIGHT if "Warsaw" in prompt else CURIE_WRONG
        if "Einstein" in prompt:
            return EINSTEIN_RIGHT if EVIDENCE_MARK in prompt else EINSTEIN_WRONG
        if "Curie" in prompt:
            return CURIE_RIGHT
        return "I do not know."

    async def models(self, request: Request) -> JSONResponse:
        return JSONResponse({"object": "list", "data": [{"id": "tiny-1", "object": "model", "created": 0,
                                                         "owned_by": "tests"}]})

    async def chat(self, request: Request):
        body = await request.json()
        self.requests.append((body, request.headers.get("authorization")))
        prompt = user_text(body)
        if request.headers.get("authorization") == "Bearer rejected-by-upstream":
            return JSONResponse({"error": {"message": "Incorrect API key provided", "type": "invalid_request_error",
                                           "code": "invalid_api_key", "param": None}}, status_code=401)
        if "crash" in prompt:
            return JSONResponse({"detail": "upstream fell over"}, status_code=500)
        if "slow" in prompt:
            await asyncio.sleep(SLOW_SECONDS)
        text = self.answer(prompt)
        model = body.get("model", "tiny-1")
        if body.get("stream"):
            return StreamingResponse(self._events(text, model), media_type="text/event-stream")
        return JSONResponse({
            "id": "chatcmpl-test", "object": "chat.completion", "created": int(time.time()), "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": len(prompt.split()), "completion_tokens": len(text.split()),
                      "total_tokens": len(prompt.split()) + len(text.split())},
        })

    @staticmethod
    async def _events(text: str, model: str):
        def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
            return "data: " + json.dumps({"id": "chatcmpl-test", "object": "chat.completion.chunk", "created": 0,
                                          "model": model, "choices": [{"index": 0, "delta": delta,
                                                                       "finish_reason": finish}]}) + "\n\n"
        yield chunk({"role": "assistant", "content": ""})
        words = text.split(" ")
        for n, w in enumerate(words):
            yield chunk({"content": w if n == 0 else " " + w})
            await asyncio.sleep(0)
        yield chunk({}, "stop")
        yield "data: [DONE]\n\n"


def free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    return sock


def closed_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def build_tiny_index(root: Path) -> Path:
    """``CORPUS`` indexed with spaCy NER under ``root`` (``root/tiny.idx``)."""
    from quco.index_builder.build import build_index

    (root / "corpus.txt").write_text(CORPUS, encoding="utf-8")
    out = root / "tiny.idx"
    build_index([str(root / "corpus.txt")], str(out), extractor="spacy", workers=1, progress=False)
    return out


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory):
    """``CORPUS`` indexed once per test module (a fixture: import it into the module)."""
    return build_tiny_index(tmp_path_factory.mktemp("serve"))


@pytest.fixture(scope="module")
def index(index_dir):
    from quco.cooccur.index import Index

    return Index(index_dir)


@pytest.fixture(scope="module")
def upstream():
    """The stand-in upstream, running on loopback for a test module; its base URL (``.../v1``) in ``up.url``."""
    up = Upstream()
    with running(up.app) as url:
        up.url = url + "/v1"
        yield up


@contextmanager
def running(app: Any):
    """Serve ``app`` with uvicorn on a free loopback port in a thread; yields its base URL; shuts down cleanly."""
    sock = free_socket()
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", log_config=None, lifespan="on",
                                           timeout_graceful_shutdown=1))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


if __name__ == "__main__":
    import sys

    uvicorn.run(Upstream().app, host="127.0.0.1", port=int(sys.argv[1]) if len(sys.argv) > 1 else 9000,
                log_level="warning")
