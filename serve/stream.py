"""Streaming chat completions (``stream: true``): server-sent events through the gate.

``--stream-check pass`` (default): the pre-check runs first (its decision is in the ``x-quco-*`` headers; with
``--on-risk retrieve`` a flagged question gets its evidence before the call, with ``block`` it is refused), then
the upstream's events are passed on as they arrive. When the chunk carrying ``finish_reason`` arrives, the answer
streamed so far is checked and the report rides in that chunk as ``quco``: never after ``data: [DONE]``. The text
has already gone out, so this mode can only annotate.

``--stream-check buffer``: the events are held while ``wrap()`` runs (pre-check, call, post-check, one
regeneration with evidence or a block, see :mod:`quco.serve.proxy`), then the events of the final call are
released with the report in their final chunk; a block is the usual 400 error body instead of a stream.
"""
from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
from fastapi.responses import Response, StreamingResponse

from quco.serve.app import ServeState, error_body, json_bytes, report_headers
from quco.serve.proxy import ChatRequest, UpstreamChat, UpstreamError, blocked_response, check_status, gated
from quco.serve.proxy import quco_object, upstream_failure

SSE = "text/event-stream"


def parse_data(line: str) -> dict[str, Any] | None:
    """The JSON object of a ``data:`` line, else ``None`` (comments, blank lines, ``[DONE]``, bad JSON)."""
    if not line.startswith("data:"):
        return None
    payload = line[5:].strip()
    if not payload or payload == "[DONE]":
        return None
    try:
        chunk = json.loads(payload)
    except ValueError:
        return None
    return chunk if isinstance(chunk, dict) else None


def is_done(line: str) -> bool:
    return line.startswith("data:") and line[5:].strip() == "[DONE]"


class SSEText:
    """Follows a stream line by line: the text of choice 0 so far, and which line is its final chunk."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.final_at: int | None = None
        self.n = 0

    def feed(self, line: str) -> str:
        at, self.n = self.n, self.n + 1
        chunk = parse_data(line)
        for choice in (chunk or {}).get("choices") or []:
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            content = (choice.get("delta") or {}).get("content")
            if isinstance(content, str):
                self.parts.append(content)
            if choice.get("finish_reason") is not None and self.final_at is None:
                self.final_at = at
        return line

    @property
    def text(self) -> str:
        return "".join(self.parts)


def with_quco(line: str, quco: dict[str, Any]) -> str:
    chunk = parse_data(line) or {"object": "chat.completion.chunk", "choices": []}
    chunk["quco"] = quco
    return "data: " + json.dumps(chunk, ensure_ascii=False)


def _encode(line: str) -> bytes:
    return json_bytes(line + "\n")


def release(lines: list[str], quco: dict[str, Any], headers: dict[str, str]) -> Response:
    """Buffer mode: the held events, the report in the final chunk (a chunk of its own before ``[DONE]`` when
    the upstream sent none with ``finish_reason``)."""
    acc = SSEText()
    for line in lines:
        acc.feed(line)
    out = list(lines)
    if acc.final_at is not None:
        out[acc.final_at] = with_quco(out[acc.final_at], quco)
    else:
        done = next((n for n, line in enumerate(out) if is_done(line)), len(out))
        out[done:done] = [with_quco("", quco), ""]
    return StreamingResponse(iter([_encode(line) for line in out]), media_type=SSE, headers=headers)


async def stream_through(chat: ChatRequest, state: ServeState, headers: dict[str, str]) -> Response:
    """Pass mode: pre-check, then the upstream's events as they come, the post-check in the final chunk."""
    pre = await state.check(chat.question, None, chat.mode, chat.subject)
    body = chat.body
    if pre.flagged and chat.on_risk == "block":
        return blocked_response(pre)
    if pre.flagged and chat.on_risk == "retrieve" and pre.evidence:
        adapter = UpstreamChat(state, chat, headers)
        body = chat.with_prompt(gated(chat, state, adapter).augment(chat.question, list(pre.evidence)))
    url = f"{state.config.upstream_base}/chat/completions"
    try:
        resp = await state.aclient.send(state.aclient.build_request("POST", url, json=body, headers=headers),
                                        stream=True)
    except httpx.HTTPError as e:
        return upstream_failure(e, url).response()
    if resp.status_code >= 400:
        content = await resp.aread()
        await resp.aclose()
        try:
            check_status(resp.status_code, content, resp.headers.get("content-type"), url)
        except UpstreamError as e:
            return e.response()

    async def events() -> AsyncIterator[bytes]:
        acc, reported = SSEText(), False

        async def report_line(line: str) -> str:
            report = await state.check(chat.question, acc.text, chat.mode, chat.subject)
            return with_quco(line, quco_object(report, pre))

        try:
            async for line in resp.aiter_lines():
                acc.feed(line)
                if not reported and acc.final_at == acc.n - 1:
                    line, reported = await report_line(line), True
                elif not reported and is_done(line):  # no finish_reason chunk: the report gets one of its own
                    yield _encode(await report_line(""))
                    yield _encode("")
                    reported = True
                yield _encode(line)
        except httpx.HTTPError as e:  # the stream broke off: say so in-band, the status is already sent
            err = upstream_failure(e, url)
            yield _encode("data: " + json.dumps(error_body(err.message, "upstream_error", "upstream_error")))
            yield _encode("")
        finally:
            await resp.aclose()

    return StreamingResponse(events(), media_type=SSE, headers=report_headers(pre))
