"""``POST /v1/chat/completions``: an OpenAI-compatible proxy with the gate around the upstream call.

The decision logic is :func:`quco.wrap`'s, not a copy: the upstream is one more :class:`~quco.gate.adapters.Adapter`
(:class:`UpstreamChat`), called with the user's last message, which ``wrap`` may replace by the same message with
evidence passages. ``wrap`` runs in the thread pool, so its index lookups and the upstream call (a pooled,
synchronous ``httpx.Client`` with timeouts) never block the event loop. What comes back is the upstream's own
body from the last call, with a top-level ``quco`` object and ``x-quco-*`` headers.

Upstream failures: no connection → 502; no answer within ``--upstream-timeout`` → 504; an upstream 5xx or a body
that is not a chat completion → 502; an upstream 4xx (bad key, unknown model) is passed back as it came.
"""
from __future__ import annotations

import copy
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from quco.cooccur.index import Index
from quco.errors import ConfigError, GateError, RiskBlocked
from quco.gate.adapters import Adapter
from quco.gate.report import RiskReport
from quco.gate.wrap import GatedAnswer, GatedLLM
from quco.serve.app import ServeState, error_response, json_bytes, report_headers
from quco.serve.config import MODES, ON_RISK

PASSED_HEADERS = ("authorization", "openai-organization", "openai-project")


class UpstreamError(Exception):
    """The upstream could not give a chat completion; ``response()`` is what the client gets."""

    def __init__(self, status: int, message: str, body: bytes | None = None, content_type: str | None = None):
        super().__init__(message)
        self.status, self.message, self.body, self.content_type = status, message, body, content_type

    def response(self) -> Response:
        if self.body is not None:  # an upstream 4xx, passed back as it came
            return Response(self.body, status_code=self.status, media_type=self.content_type or "application/json")
        kind = "upstream_timeout" if self.status == 504 else "upstream_error"
        return error_response(self.status, self.message, "upstream_error", kind)


def upstream_failure(exc: httpx.HTTPError, url: str) -> UpstreamError:
    if isinstance(exc, httpx.TimeoutException):
        return UpstreamError(504, f"the upstream at {url} did not answer in time ({type(exc).__name__})")
    return UpstreamError(502, f"cannot reach the upstream at {url} ({type(exc).__name__})")


def check_status(status: int, body: bytes, content_type: str | None, url: str) -> None:
    if status >= 500:
        raise UpstreamError(502, f"the upstream at {url} answered HTTP {status}")
    if status >= 400:
        raise UpstreamError(status, "", body, content_type)


# ---- the request ------------------------------------------------------------------------------------------------
class ChatRequest:
    """A parsed, checked chat request: the body to forward, where the user's question is, and the gate settings."""

    def __init__(self, body: Any, state: ServeState):
        if not isinstance(body, dict):
            raise ConfigError("the body must be a JSON object (an OpenAI chat completion request)")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise ConfigError("'messages' must be a non-empty list of {role, content}")
        for n, m in enumerate(messages):
            if not isinstance(m, dict) or not isinstance(m.get("role"), str):
                raise ConfigError(f"messages[{n}] must be an object with a string 'role'")
        stream = body.get("stream", False)
        if not isinstance(stream, bool):
            raise ConfigError("'stream' must be true or false")
        own = body.get("quco") or {}
        if not isinstance(own, dict) or set(own) - {"mode", "on_risk", "subject"}:
            raise ConfigError("'quco' may only hold 'mode', 'on_risk' and 'subject'")
        self.subject = own.get("subject")
        if self.subject is not None and not isinstance(self.subject, str):
            raise ConfigError("quco.subject must be a string")
        self.mode = own.get("mode", state.config.mode)
        self.on_risk = own.get("on_risk", state.config.on_risk)
        if self.mode not in MODES:
            raise ConfigError(f"quco.mode must be one of {', '.join(MODES)}, not {self.mode!r}")
        if self.on_risk not in ON_RISK:
            raise ConfigError(f"quco.on_risk must be one of {', '.join(ON_RISK)}, not {self.on_risk!r}")
        self.body = {k: v for k, v in body.items() if k != "quco"}
        self.stream = stream
        self.at = next((n for n in range(len(messages) - 1, -1, -1) if messages[n]["role"] == "user"), None)
        if self.at is None:
            raise ConfigError("no 'user' message: the gate checks the answer to the last user message")
        self.question = text_of(messages[self.at].get("content"))
        if not self.question.strip():
            raise ConfigError("the last user message has no text")

    def with_prompt(self, prompt: str) -> dict[str, Any]:
        """The body with the last user message's text replaced by ``prompt`` (non-text parts kept)."""
        body = copy.deepcopy(self.body)
        msg = body["messages"][self.at]
        content = msg.get("content")
        if isinstance(content, list):
            msg["content"] = [{"type": "text", "text": prompt}] + [p for p in content if not _is_text_part(p)]
        else:
            msg["content"] = prompt
        return body


def _is_text_part(part: Any) -> bool:
    return isinstance(part, dict) and part.get("type") == "text"


def text_of(content: Any) -> str:
    """A message's text: a string, or the text parts of a list of content parts, joined by newlines."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(p["text"] for p in content if _is_text_part(p) and isinstance(p.get("text"), str))
    if content is None:
        return ""
    raise ConfigError("a message's 'content' must be a string or a list of content parts")


def forward_headers(request: Request, state: ServeState) -> dict[str, str]:
    """The client's ``Authorization`` (and OpenAI org/project) for the upstream; never logged. When the client's
    bearer token is quco's own key, the upstream gets ``--upstream-api-key`` instead (or nothing)."""
    out = {k: request.headers[k] for k in PASSED_HEADERS if k in request.headers}
    own = state.config.api_key
    if own and out.get("authorization", "").partition(" ")[2].strip() == own:
        del out["authorization"]
    if "authorization" not in out and state.config.upstream_api_key:
        out["authorization"] = f"Bearer {state.config.upstream_api_key}"
    return out


# ---- the upstream as an adapter ---------------------------------------------------------------------------------
class UpstreamChat(Adapter):
    """The upstream chat endpoint as a ``wrap()`` adapter: ``prompt`` replaces the last user message; the raw
    response of the last call is kept (``last``: the JSON body; ``events``: the SSE lines when streaming)."""

    name = "quco_upstream"

    def __init__(self, state: ServeState, chat: ChatRequest, headers: dict[str, str]):
        super().__init__(state)
        self.state, self.chat, self.headers = state, chat, headers
        self.url = f"{state.config.upstream_base}/chat/completions"
        self.last: dict[str, Any] | None = None
        self.events: list[str] = []

    @classmethod
    def accepts(cls, llm: Any) -> bool:
        return True

    @classmethod
    def matches(cls, llm: Any) -> bool:
        return False

    def generate(self, prompt: str) -> str:
        body = self.chat.with_prompt(prompt)
        client = self.state.client
        try:
            if self.chat.stream:
                return self._stream(client, body)
            resp = client.post(self.url, json=body, headers=self.headers)
        except httpx.HTTPError as e:
            raise upstream_failure(e, self.url) from None
        check_status(resp.status_code, resp.content, resp.headers.get("content-type"), self.url)
        try:
            data = resp.json()
            content = data["choices"][0]["message"].get("content")
        except (ValueError, KeyError, IndexError, TypeError, AttributeError):
            raise UpstreamError(502, f"the upstream at {self.url} did not answer with a chat completion") from None
        self.last = data
        return content if isinstance(content, str) else ""

    def _stream(self, client: httpx.Client, body: dict[str, Any]) -> str:
        from quco.serve.stream import SSEText

        with client.stream("POST", self.url, json=body, headers=self.headers) as resp:
            if resp.status_code >= 400:
                check_status(resp.status_code, resp.read(), resp.headers.get("content-type"), self.url)
            acc = SSEText()
            self.events = [acc.feed(line) for line in resp.iter_lines()]
        return acc.text


def quco_object(report: RiskReport, pre: RiskReport | None = None, answer: GatedAnswer | None = None) -> dict:
    """What rides along the upstream's body: the final report, and how the answer was obtained."""
    out = report.to_dict()
    out["pre"] = None if pre is None else {k: getattr(pre, k) for k in ("decision", "risk", "stage", "coverage")}
    out["calls"] = answer.calls if answer is not None else 1
    out["regenerated"] = bool(answer is not None and answer.regenerated)
    out["first_attempt"] = answer.first_attempt if answer is not None else None
    return out


def blocked_response(report: RiskReport) -> Response:
    body = {"error": {"message": f"blocked by quco: {'; '.join(report.reasons) or report.decision}",
                      "type": "guardrail_violation", "code": "quco_blocked", "param": None,
                      "quco": report.to_dict()}}
    return Response(json_bytes(body), status_code=400, media_type="application/json", headers=report_headers(report))


class _ServerGate(GatedLLM):
    """``wrap()``'s gate with its checks (:meth:`GatedLLM.check`, the hook) sent to the server's check thread,
    where they share batches with the other requests' checks; the upstream calls run in this worker thread."""

    def __init__(self, adapter: Adapter, state: ServeState, chat: ChatRequest):
        super().__init__(adapter, index=state.index, mode=chat.mode, on_risk=chat.on_risk, fail_open=False,
                         config=None, router=None, logger=None, evidence_template=None)
        self.state = state

    def check(self, ix: Index, question: str, answer: str | None, subject: str | None = None) -> RiskReport:
        return self.state.check_sync(question, answer, self.mode, subject)


def gated(chat: ChatRequest, state: ServeState, adapter: Adapter) -> GatedLLM:
    return _ServerGate(adapter, state, chat)


def install_proxy(app: FastAPI, state: ServeState) -> None:
    config = state.config

    @app.post("/v1/chat/completions", summary="OpenAI-compatible chat completions through the gate",
              responses={400: {"description": "bad request, or blocked (error.code quco_blocked)"},
                         502: {"description": "upstream unreachable or failing"},
                         504: {"description": "upstream timed out"}})
    async def chat_completions(request: Request) -> Response:
        if config.upstream_base is None:
            return error_response(503, "no upstream: start quco serve with --upstream URL", "server_error",
                                  "no_upstream")
        try:
            raw = await request.json()
        except (ValueError, UnicodeDecodeError):
            return error_response(400, "the body is not valid JSON", code="invalid_json")
        chat = ChatRequest(raw, state)
        headers = forward_headers(request, state)
        if chat.stream and config.stream_check == "pass":
            from quco.serve.stream import stream_through

            return await stream_through(chat, state, headers)
        adapter = UpstreamChat(state, chat, headers)
        try:
            answer = await run_in_threadpool(gated(chat, state, adapter), chat.question, subject=chat.subject)
        except RiskBlocked as e:
            return blocked_response(e.report)
        except UpstreamError as e:
            return e.response()
        except GateError as e:
            return error_response(503, str(e), "server_error", "quco_check_failed")
        extra = quco_object(answer.report, answer.pre_report, answer)
        if chat.stream:
            from quco.serve.stream import release

            return release(adapter.events, extra, report_headers(answer.report))
        body = adapter.last or {}
        body["quco"] = extra
        return Response(json_bytes(body), media_type="application/json", headers=report_headers(answer.report))

    @app.get("/v1/models", summary="The upstream's model list")
    async def models(request: Request) -> Response:
        if config.upstream_base is None:
            return error_response(503, "no upstream: start quco serve with --upstream URL", "server_error",
                                  "no_upstream")
        url = f"{config.upstream_base}/models"
        try:
            resp = await state.aclient.get(url, headers=forward_headers(request, state))
        except httpx.HTTPError as e:
            return upstream_failure(e, url).response()
        try:
            check_status(resp.status_code, resp.content, resp.headers.get("content-type"), url)
        except UpstreamError as e:
            return e.response()
        return Response(resp.content, media_type=resp.headers.get("content-type", "application/json"))
