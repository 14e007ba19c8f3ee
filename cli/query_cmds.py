"""``quco count``, ``quco stats``, ``quco neighbors``."""
from __future__ import annotations

import click

from quco.cli.common import emit, index_option, json_option, open_index


@click.command("count")
@click.argument("a")
@click.argument("b")
@index_option
@json_option
def count_command(a, b, index_path, as_json) -> None:
    """How many documents mention A, B, and both (within the index's window, and anywhere in one document).

    \b
    Example:
      quco count "Marie Curie" "Warsaw"
    """
    ix = open_index(index_path)
    data = {"a": ix.describe(a), "b": ix.describe(b), "cooccurrence": ix.cooc(a, b), "window": ix.window,
            "documents_together": ix.cooc(a, b, scope="document")}
    emit(data, as_json, lambda d: (
        f"{d['a']['text']!r} [{d['a']['key']}]: {d['a']['freq']:,} documents\n"
        f"{d['b']['text']!r} [{d['b']['key']}]: {d['b']['freq']:,} documents\n"
        f"together within {d['window']:,} tokens: {d['cooccurrence']:,} documents\n"
        f"together anywhere in a document: {d['documents_together']:,} documents"))


@click.command("stats")
@index_option
@json_option
def stats_command(index_path, as_json) -> None:
    """Size and build parameters of an index.

    \b
    Examples:
      quco stats
      quco stats --index wiki.idx --json
    """
    s = open_index(index_path).stats()
    emit(s, as_json, lambda d: "\n".join(f"{k:>15}: {v:,}" if isinstance(v, int) else f"{k:>15}: {v}"
                                         for k, v in d.items()))


@click.command("neighbors")
@click.argument("entity")
@index_option
@click.option("-k", default=10, show_default=True, type=click.IntRange(min=1), help="How many neighbours.")
@json_option
def neighbors_command(entity, index_path, k, as_json) -> None:
    """The entities that co-occur with ENTITY in the most documents.

    \b
    Examples:
      quco neighbors "Isaac Newton" -k 3
      quco neighbors "Warsaw" --index wiki.idx --json
    """
    ix = open_index(index_path)
    data = {"entity": ix.describe(entity), "neighbors": ix.top_neighbors(entity, k)}

    def text(d):
        lines = [f"{d['entity']['text']!r} [{d['entity']['key']}]: {d['entity']['freq']:,} documents"]
        if not d["neighbors"]:
            lines.append("  (no co-occurring entities)")
        for n in d["neighbors"]:
            lines.append(f"  {n['cooccurrence']:>7,}  {n['text']}  ({n['label']}, {n['freq']:,} docs)")
        return "\n".join(lines)

    emit(data, as_json, text)


COMMANDS = [count_command, stats_command, neighbors_command]
