"""``quco merge``: sum compatible indexes into one."""
from __future__ import annotations

import click

from quco.cli.common import emit, json_option


def _human(m: dict) -> str:
    s = m["stats"]
    dropped = s["merge"]["dropped"]
    return (f"merged {len(s['merge']['indexes'])} indexes: {s['documents']:,} documents, {s['entities']:,} entities, "
            f"{s['pairs']:,} pairs, {s['passages']:,} passages; {s['timing']['total']:.1f} s"
            + (f"; not merged (rebuild to get them): {', '.join(dropped)}" if dropped else ""))


@click.command("merge")
@click.argument("indexes", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False))
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Index directory to write.")
@click.option("--no-retrieval", is_flag=True, help="Do not build the BM25 retrieval index over the merged passages.")
@click.option("--no-blend", is_flag=True, help="Do not precompute the creative-mode field-distance vectors.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(min=1),
              help="Processes of the reduce (its bucket tasks run in parallel).")
@click.option("--buckets", default=0, type=click.IntRange(min=0),
              help="Tasks of the reduce, each summing one range of entities (0 = from the number of pairs).")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@json_option
def merge_command(indexes, out, no_retrieval, no_blend, workers, buckets, quiet, as_json) -> None:
    """Sum indexes built with the same window, extractor and dictionary into one, as one build over all their
    inputs (in the order given) would count them. Incompatible indexes are refused, naming what differs.

    \b
    Examples:
      quco build part1/ --out p1.idx
      quco build part2/ --out p2.idx --gazetteer-from p1.idx
      quco merge p1.idx p2.idx --out all.idx
    """
    from quco.index_builder.merge_indexes import merge_indexes

    m = merge_indexes(list(indexes), out, retrieval=() if no_retrieval else None, blend=not no_blend,
                      progress=not quiet, workers=workers, buckets=buckets)
    emit(m, as_json, _human)


COMMANDS = [merge_command]
