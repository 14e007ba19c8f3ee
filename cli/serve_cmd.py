"""``quco serve``: the risk API and the OpenAI-compatible proxy over HTTP (FastAPI app, served by uvicorn)."""
from __future__ import annotations

import ipaddress
import os

import click

from quco.cli.common import index_option, settings_option


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@click.command("serve")
@index_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind (loopback by default).")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535), help="Port to bind.")
@click.option("--upstream", help="Base URL of an OpenAI-compatible API for /v1/chat/completions, as given to the "
                                 "openai SDK: http://127.0.0.1:8000/v1 (vLLM), http://127.0.0.1:11434/v1 (Ollama).")
@click.option("--mode", default="factual", show_default=True, type=click.Choice(["factual", "creative", "auto"]),
              help="Default mode of the checks (a request may override it).")
@click.option("--on-risk", default="retrieve", show_default=True, type=click.Choice(["retrieve", "annotate", "block"]),
              help="What the proxy does with a flagged answer: regenerate once with evidence, annotate, or block.")
@click.option("--stream-check", default="pass", show_default=True, type=click.Choice(["pass", "buffer"]),
              help="Streaming: pass chunks as they come (report in the final chunk), or hold them until checked.")
@click.option("--api-key", envvar="QUCO_API_KEY", help="Require this bearer token on every route but /healthz "
                                                       "[env QUCO_API_KEY].")
@click.option("--upstream-api-key", envvar="QUCO_UPSTREAM_API_KEY",
              help="Key sent upstream when the client's own Authorization is the quco key "
                   "[env QUCO_UPSTREAM_API_KEY].")
@click.option("--upstream-timeout", default=60.0, show_default=True, type=click.FloatRange(min=0.01),
              help="Seconds to wait for the upstream (504 after that).")
@click.option("--max-body", default=1_000_000, show_default=True, type=click.IntRange(min=1024),
              help="Largest request body in bytes (413 above).")
@click.option("--max-batch", default=256, show_default=True, type=click.IntRange(min=1),
              help="Most requests in one /v1/risk/batch (413 above).")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(min=1),
              help="Worker processes; each maps the same index files (shared pages).")
@click.option("--check-processes", default=0, show_default=True, type=click.IntRange(0, 64),
              help="Run the check batches in N check processes per worker (0: in the worker's check thread).")
@click.option("--log-level", default="info", show_default=True,
              type=click.Choice(["critical", "error", "warning", "info", "debug"]), help="uvicorn's log level.")
@settings_option
def serve_command(index_path, host, port, upstream, mode, on_risk, stream_check, api_key, upstream_api_key,
                  upstream_timeout, max_body, max_batch, workers, check_processes, log_level, settings) -> None:
    """Serve the gate over HTTP: POST /v1/risk, /v1/risk/batch, an OpenAI-compatible /v1/chat/completions
    proxy to --upstream, GET /v1/index, /v1/models, /healthz, /openapi.json, and a page at /.

    \b
    Examples:
      quco serve --index wiki.idx
      quco serve --index wiki.idx --upstream http://127.0.0.1:11434/v1 --on-risk retrieve
      quco serve --index wiki.idx --set pass_passage=0
      curl -s localhost:8080/v1/risk -d '{"question": "Where was Marie Curie born?", "answer": "In Lisbon."}'
    """
    import uvicorn

    from quco.serve.app import create_app
    from quco.serve.config import ENV, ServeConfig

    config = ServeConfig(index=index_path or os.environ.get("QUCO_INDEX"), upstream=upstream, mode=mode,
                         on_risk=on_risk, stream_check=stream_check, api_key=api_key,
                         upstream_api_key=upstream_api_key, upstream_timeout=upstream_timeout, max_body=max_body,
                         max_batch=max_batch, check_processes=check_processes, gate=tuple(settings))
    if not _loopback(host) and not api_key:
        click.echo(f"Warning: serving on {host} without --api-key: anyone who can reach it can use it", err=True)
    app = create_app(config)  # opens the index here: a missing or corrupt one is a one-line error, exit 2
    click.echo(f"quco serve: index {app.state.quco.index.path}, mode {mode}, on-risk {on_risk}, upstream "
               f"{config.upstream_base or 'none'}; http://{host}:{port}/", err=True)
    if workers == 1:
        uvicorn.run(app, host=host, port=port, log_level=log_level, timeout_graceful_shutdown=5)
        return
    os.environ[ENV] = config.to_env()
    uvicorn.run("quco.serve.app:create_app_from_env", factory=True, host=host, port=port, workers=workers,
                log_level=log_level, timeout_graceful_shutdown=5)


COMMANDS = [serve_command]
