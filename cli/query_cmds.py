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
    da, db = ix.describe(a), ix.describe(b)
    both_entities = da["kind"] == db["kind"] == "entity"
    data = {"a": da, "b": db, "cooccurrence": ix.cooc(a, b) if both_entities else None, "window": ix.window,
            "documents_together": ix.cooc(a, b, scope="document")}
    emit(data, as_json, _human_count)


KIND_WORDS = {"entity": "", "phrase": " (occurs, but is not an entity of the index)",
              "absent": " (never occurs in the corpus)",
              "unknown": " (not an entity; this index has no phrase counts to tell whether it occurs)"}


def _human_count(d: dict) -> str:
    window = (f"{d['cooccurrence']:,} documents" if d["cooccurrence"] is not None
              else "n/a (window counts are kept for entity pairs only)")
    return "\n".join([*(f"{s['text']!r} [{s['key']}]: {s['freq']:,} documents{KIND_WORDS[s['kind']]}"
                         for s in (d["a"], d["b"])),
                       f"together within {d['window']:,} tokens: {window}",
                       f"together anywhere in a document: {d['documents_together']:,} documents"])


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
