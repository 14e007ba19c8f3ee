"""The ``quco serve`` ASGI app: the risk API, the OpenAI-compatible proxy and a page to try it by hand.

The index is opened once, when the app is made, and shared by every request; the checks run in the process's
check thread (:mod:`quco.serve.checks`: requests that arrive together are parsed in one batch), so index lookups
never block the event loop. Every error is a JSON body in
OpenAI's shape, ``{"error": {"message", "type", "code"}}``, with a 4xx status for the caller's mistakes and 502 /
504 for the upstream's: never a traceback.
"""
from __future__ import annotations

import asyncio
import hmac
import json
import logging
from contextlib import asynccontextmanager
from importlib import resources
from typing import Any, Literal

import httpx
from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from quco import __version__
from quco.cooccur.index import Index
from quco.errors import GateError, QucoError
from quco.data.default import open_index
from quco.gate.assess import assess
from quco.gate.report import RiskReport
from quco.serve.checks import WARMUP, CheckBatcher, freeze_heap
from quco.serve.config import ServeConfig

log = logging.getLogger("quco.serve")
OPEN_PATHS = frozenset({"/healthz", "/", "/page.js", "/page.css"})  # no data: the page shell and the probe


class RiskRequest(BaseModel):
    """One check: the RiskReport of ``quco risk --json`` for these (``subject``: ``quco risk --subject``)."""

    model_config = ConfigDict(extra="forbid")
    question: str = Field(description="The prompt / question.")
    answer: str | None = Field(None, description="The model's answer; omit for the pre-generation check.")
    mode: Literal["factual", "creative", "auto"] | None = Field(None, description="Default: the server's --mode.")
    subject: str | None = Field(None, description="The entity the question is about, when known (a hint, as "
                                                  "`quco risk --subject`).")


class BatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    requests: list[RiskRequest]


def error_body(message: str, type_: str = "invalid_request_error", code: str | None = None,
               **extra: Any) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "code": code, "param": None, **extra}}


def error_response(status: int, message: str, type_: str = "invalid_request_error", code: str | None = None,
                   headers: dict[str, str] | None = None, **extra: Any) -> JSONResponse:
    return JSONResponse(error_body(message, type_, code, **extra), status_code=status, headers=headers)


def json_bytes(obj: Any) -> bytes:
    """UTF-8 JSON; a lone surrogate (valid in a JSON request, not in UTF-8) goes out as its ``\\udXXX`` escape."""
    text = obj if isinstance(obj, str) else json.dumps(obj, ensure_ascii=False)
    return text.encode("utf-8", "backslashreplace")


def report_headers(report: RiskReport, prefix: str = "x-quco") -> dict[str, str]:
    risk = "unchecked" if report.risk is None else f"{report.risk:.4f}"
    return {f"{prefix}-decision": report.decision, f"{prefix}-risk": risk, f"{prefix}-stage": report.stage}


class ServeState:
    """What every request shares: the settings, the open index, the check thread and the HTTP clients toward
    the upstream."""

    def __init__(self, config: ServeConfig, index: Index):
        self.config, self.index = config, index
        self.batcher: CheckBatcher | None = None
        self.aclient: httpx.AsyncClient | None = None
        self.client: httpx.Client | None = None

    def timeout(self) -> httpx.Timeout:
        c = self.config
        return httpx.Timeout(c.upstream_timeout, connect=c.connect_timeout)

    def open_clients(self) -> None:
        self.batcher = CheckBatcher(self.index, self.config.check_batch, self.config.batch_wait_ms,
                                    self.config.check_processes, self.config.gate_config)
        limits = httpx.Limits(max_connections=64, max_keepalive_connections=32)
        self.aclient = httpx.AsyncClient(timeout=self.timeout(), limits=limits, trust_env=False)
        self.client = httpx.Client(timeout=self.timeout(), limits=limits, trust_env=False)

    async def close_clients(self) -> None:
        if self.batcher is not None:
            self.batcher.close()
        if self.aclient is not None:
            await self.aclient.aclose()
        if self.client is not None:
            self.client.close()

    async def check(self, question: str, answer: str | None, mode: str | None,
                    subject: str | None = None) -> RiskReport:
        """The RiskReport of ``assess(question, answer)``, from the check thread (the event loop awaits it)."""
        return await self.batcher.check(question, answer, mode or self.config.mode, subject)

    def check_sync(self, question: str, answer: str | None, mode: str | None,
                   subject: str | None = None) -> RiskReport:
        """:meth:`check` for a worker thread (the proxy's ``wrap()``): it blocks until the check thread answers."""
        return self.batcher.check_sync(question, answer, mode or self.config.mode, subject)

    async def check_many(self, items: list[Any]) -> list[RiskReport]:
        """Several checks, queued together (so they share batches), their reports in order."""
        futures = [self.batcher.submit(r.question, r.answer, r.mode or self.config.mode, r.subject) for r in items]
        return list(await asyncio.gather(*(asyncio.wrap_future(f) for f in futures)))


class Guard:
    """Pure ASGI middleware: bearer-token auth and a bounded request body (read here, replayed to the app)."""

    def __init__(self, app: Any, config: ServeConfig):
        self.app, self.config = app, config
        self.key = config.api_key.encode() if config.api_key else None

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v for k, v in scope.get("headers", [])}
        if self.key is not None and scope["path"] not in OPEN_PATHS and not self._authorized(headers):
            given = "authorization" in headers or "x-quco-api-key" in headers
            msg = ("invalid API key" if given else "missing API key: send `Authorization: Bearer KEY` "
                   "(or `X-Quco-Api-Key: KEY`)")
            resp = error_response(401, msg, "authentication_error", "invalid_api_key",
                                  headers={"www-authenticate": "Bearer"})
            return await resp(scope, receive, send)
        if scope["method"] not in ("POST", "PUT", "PATCH"):
            return await self.app(scope, receive, send)
        limit = self.config.max_body
        try:
            declared = int(headers.get("content-length", b"0") or 0)
        except ValueError:
            declared = 0
        if declared > limit:
            return await self._too_large(scope, receive, send, limit)
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body = message.get("body", b"")
            size += len(body)
            if size > limit:
                return await self._too_large(scope, receive, send, limit)
            chunks.append(body)
            if not message.get("more_body", False):
                break
        whole, sent = b"".join(chunks), False

        async def replay() -> dict:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": whole, "more_body": False}
            return await receive()

        # every body is read as JSON whatever its content-type (``curl -d`` sends a form type)
        raw = [(k, v) for k, v in scope["headers"] if k.lower() != b"content-type"]
        scope = {**scope, "headers": raw + [(b"content-type", b"application/json")]}
        await self.app(scope, replay, send)

    def _authorized(self, headers: dict[str, bytes]) -> bool:
        own = headers.get("x-quco-api-key")
        if own is not None:
            return hmac.compare_digest(own.strip(), self.key)
        auth = headers.get("authorization", b"")
        scheme, _, token = auth.partition(b" ")
        return scheme.lower() == b"bearer" and hmac.compare_digest(token.strip(), self.key)

    @staticmethod
    async def _too_large(scope: dict, receive: Any, send: Any, limit: int) -> None:
        resp = error_response(413, f"request body over {limit:,} bytes", code="request_too_large")
        await resp(scope, receive, send)


def _page_file(name: str) -> bytes:
    return resources.files("quco.serve").joinpath("page", name).read_bytes()


def create_app(config: ServeConfig | None = None, index: Index | None = None) -> FastAPI:
    """The app for ``config``; opens (and warms) the index now, so a bad index fails before serving."""
    config = config or ServeConfig()
    ix = index if index is not None else open_index(config.index)
    state = ServeState(config, ix)
    try:  # loads the extractor, the parser and the retriever now, before the first request waits for them
        assess(*WARMUP, index=ix, mode=config.mode, config=config.gate_config)
    except QucoError:
        pass

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        state.open_clients()
        if config.gc_freeze:
            freeze_heap()
        try:
            yield
        finally:
            await state.close_clients()

    app = FastAPI(title="quco serve", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="Data-side hallucination risk as an HTTP API and an OpenAI-compatible proxy.")
    app.state.quco = state
    _install_errors(app)
    _install_routes(app, state)
    from quco.serve.proxy import install_proxy

    install_proxy(app, state)
    app.add_middleware(Guard, config=config)
    return app


def create_app_from_env() -> FastAPI:
    """Factory for ``uvicorn --factory`` (used by ``quco serve --workers N``): settings from ``$QUCO_SERVE_CONFIG``."""
    return create_app(ServeConfig.from_env())


def _install_errors(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        parts = []
        for err in exc.errors()[:5]:
            if err.get("type") == "json_invalid":
                return error_response(400, "the body is not valid JSON", code="invalid_body")
            where = ".".join(str(x) for x in err.get("loc", ()) if x != "body") or "body"
            parts.append(f"{where}: {err.get('msg')}")
        return error_response(400, "bad request: " + "; ".join(parts), code="invalid_body")

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return error_response(exc.status_code, str(exc.detail), code=None)

    @app.exception_handler(QucoError)
    async def _quco(request: Request, exc: QucoError) -> JSONResponse:
        if isinstance(exc, GateError):  # the check could not run (a check process died): fail closed
            return error_response(503, str(exc), "server_error", "quco_check_failed")
        return error_response(400, str(exc), code=exc.code)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("quco serve: internal error on %s: %s: %s", request.url.path, type(exc).__name__, exc)
        return error_response(500, f"internal error: {type(exc).__name__}", "server_error", "internal_error")


def _install_routes(app: FastAPI, state: ServeState) -> None:
    config = state.config

    @app.get("/healthz", summary="Liveness probe (no auth)")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/v1/index", summary="Summary of the index the server answers from (as `quco stats --json`)")
    async def index_summary() -> JSONResponse:
        return JSONResponse({**state.index.stats(), "mode": config.mode, "on_risk": config.on_risk,
                             "upstream": config.upstream_base is not None,
                             "checks": state.batcher.stats() if state.batcher else None})

    @app.post("/v1/risk", summary="One RiskReport, exactly as `quco risk --json` prints it",
              responses={200: {"description": "The RiskReport (JSON), or its HTML rendering with format=html"}})
    async def risk(req: RiskRequest, format: Literal["json", "html"] = Query("json")) -> Response:
        report = await state.check(req.question, req.answer, req.mode, req.subject)
        if format == "html":
            return Response(json_bytes(report.render_html()), media_type="text/html; charset=utf-8",
                            headers=report_headers(report))
        return Response(json_bytes(report.to_json()), media_type="application/json",
                        headers=report_headers(report))

    @app.post("/v1/risk/batch", summary="Several checks: a list of requests (or {\"requests\": [...]}), at most "
                                        "--max-batch; a list of RiskReports back, in order")
    async def risk_batch(req: list[RiskRequest] | BatchRequest) -> Response:
        items = req.requests if isinstance(req, BatchRequest) else req
        if len(items) > config.max_batch:
            return error_response(413, f"batch of {len(items)} requests; at most {config.max_batch}",
                                  code="batch_too_large")
        reports = await state.check_many(items)
        body = "[" + ",".join(r.to_json() for r in reports) + "]"
        return Response(json_bytes(body), media_type="application/json")

    page = {name: _page_file(name) for name in ("index.html", "page.js", "page.css")}
    types = {"index.html": "text/html; charset=utf-8", "page.js": "text/javascript; charset=utf-8",
             "page.css": "text/css; charset=utf-8"}

    def static(name: str):
        async def serve_file() -> Response:
            return Response(page[name], media_type=types[name], headers={"cache-control": "no-cache"})
        return serve_file

    app.get("/", include_in_schema=False)(static("index.html"))
    app.get("/page.js", include_in_schema=False)(static("page.js"))
    app.get("/page.css", include_in_schema=False)(static("page.css"))
