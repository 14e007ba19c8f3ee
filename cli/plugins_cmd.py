"""``quco plugins``: every pluggable part quco can resolve, built-in or from a plugin package."""
from __future__ import annotations

import click

from quco import registry
from quco.cli.common import emit, json_option
# The modules whose import registers the built-in parts, as the layer that looks each one up would import them.
from quco.cooccur import bm25, extract  # noqa: F401  (extractors, retrievers)
from quco.gate import adapters, router  # noqa: F401  (LLM adapters, routers)
from quco.index_builder import bm25_build, executors  # noqa: F401  (retriever builders, executors)


def _human(rows: dict[str, list[dict]]) -> str:
    lines = []
    for kind, parts in rows.items():
        lines.append(f"{kind}:")
        lines += [f"  {p['name']:<20} {p['source']:<8} {p['module']}" for p in parts] or ["  (none)"]
    return "\n".join(lines)


@click.command("plugins")
@json_option
def plugins_command(as_json: bool) -> None:
    """List the registered extractors, retrievers, retriever builders, LLM adapters, routers and executors.

    Built-in parts are listed as `builtin`; parts from installed packages' entry points (group `quco_<registry>`,
    e.g. `quco_extractors`) as `plugin`. A plugin with the name of a built-in is `ignored`: the built-in wins.

    \b
    Examples:
      quco plugins
      quco plugins --json
    """
    emit({kind: registry.describe(reg) for kind, reg in registry.REGISTRIES.items()}, as_json, _human)


COMMANDS = [plugins_command]
