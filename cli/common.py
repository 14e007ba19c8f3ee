"""Shared pieces of the CLI: the error boundary, shared options and the one renderer."""
from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from typing import Any

import click

from quco.errors import E_INTERNAL, E_MEMORY, E_SYSTEM, QucoError

EXIT_RISK, EXIT_ERROR = 1, 2


def _tolerant_streams() -> None:
    """Let stdout/stderr print any str: a lone surrogate (from arguments that are not valid UTF-8, or JSON input
    like "\\ud800") is written as ``\\udXXX`` instead of failing with UnicodeEncodeError; inside a JSON string that
    is the same character, escaped."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            try:
                reconfigure(errors="backslashreplace")
            except (ValueError, OSError):  # pragma: no cover - a stream that cannot be reconfigured
                pass


class QucoGroup(click.Group):
    """Turns library errors into clean one-line messages with exit code 2."""

    def invoke(self, ctx: click.Context) -> Any:
        _tolerant_streams()
        try:
            return super().invoke(ctx)
        except QucoError as e:
            click.echo(f"Error [{e.code}]: {e}", err=True)
            ctx.exit(EXIT_ERROR)
        except KeyboardInterrupt:
            click.echo("Interrupted.", err=True)
            ctx.exit(130)
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort, SystemExit):
            raise
        except MemoryError:
            click.echo(f"Error [{E_MEMORY}]: out of memory", err=True)
            ctx.exit(EXIT_ERROR)
        except OSError as e:  # disk full, permission denied, ...: the system's reason and the file, in one line
            where = f" ({e.filename})" if e.filename else ""
            click.echo(f"Error [{E_SYSTEM}]: {e.strerror or e}{where}", err=True)
            ctx.exit(EXIT_ERROR)
        except Exception as e:  # an unexpected failure still gets one line; QUCO_DEBUG=1 shows the traceback
            if os.environ.get("QUCO_DEBUG"):
                raise
            click.echo(f"Error [{E_INTERNAL}]: internal error: {type(e).__name__}: {e} (set QUCO_DEBUG=1 for a "
                       "traceback)", err=True)
            ctx.exit(EXIT_ERROR)


def json_option(f: Callable) -> Callable:
    return click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")(f)


def settings_option(f: Callable) -> Callable:
    """``--set FIELD=VALUE`` (repeatable): a field of the gate's ``GateConfig`` for this run."""
    return click.option(
        "--set", "settings", multiple=True, metavar="FIELD=VALUE",
        help="Change a threshold of the gate for this run (a GateConfig field; VALUE is JSON or a word), e.g. "
             "--set pass_passage=0 for a lenient factual gate. Repeatable.",
    )(f)


def index_option(f: Callable) -> Callable:
    return click.option(
        "--index", "index_path", type=click.Path(file_okay=False), default=None,
        help="Index directory. Default: $QUCO_INDEX, else the bundled Wikipedia sample index (built on first use).",
    )(f)


def emit(data: Any, as_json: bool, text: Callable[[Any], str]) -> None:
    """Render ``data`` as one JSON object or as human text on stdout."""
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False))
    else:
        click.echo(text(data))


def open_index(path: str | None):
    """The index at ``path``, else ``$QUCO_INDEX``, else the bundled sample (the one default resolver)."""
    from quco.data.default import open_index as _open

    return _open(path)
