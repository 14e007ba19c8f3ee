"""``quco build`` and ``quco verify``."""
from __future__ import annotations

import click

from quco.cli.common import emit, index_option, json_option


def _human_build(m: dict) -> str:
    s = m["stats"]
    t = s["timing"]
    size = sum(a["bytes"] for a in m["artifacts"].values())
    return (
        f"built {m['build']['extractor']} index: {s['documents']:,} documents, {s['tokens']:,} tokens, "
        f"{s['entities']:,} entities, {s['pairs']:,} pairs, {s['passages']:,} passages\n"
        f"window {m['build']['window']} tokens; {t['total']:.1f} s; index {size / 1e6:.1f} MB "
        f"({size / max(s['chars'], 1):.2f}x the text)"
        + (f"; {s['rejects']} rejected records in rejects.jsonl" if s.get("rejects") else "")
    )


@click.command("build")
@click.argument("inputs", nargs=-1, required=True, type=click.Path())
@click.option("--out", type=click.Path(file_okay=False), help="Index directory to write (not with --append).")
@click.option("--format", "fmt", default="auto", show_default=True,
              type=click.Choice(["auto", "wikiextractor", "jsonl", "parquet", "text", "textblocks"]),
              help="Input format; auto sniffs each file.")
@click.option("--window", default=1000, show_default=True, type=click.IntRange(min=1),
              help="Two mentions co-occur when at most this many tokens apart.")
@click.option("--text-field", default="text", show_default=True, help="JSONL/Parquet field holding the text.")
@click.option("--workers", default=0, type=click.IntRange(min=0), help="Worker processes (0 = all cores).")
@click.option("--executor", default="local", show_default=True,
              help="Where shards are counted: local (process pool), dask (a local Dask cluster, or --address), or "
                   "a plugin's (`quco plugins`). Counts do not depend on it.")
@click.option("--address", default=None, help="Cluster scheduler for --executor dask, e.g. tcp://10.0.0.5:8786.")
@click.option("--buckets", default=0, type=click.IntRange(min=0),
              help="Tasks of the reduce, each summing one range of entities on the executor (0 = about 16 M pair "
                   "entries each, at least 2 per worker). Counts do not depend on it.")
@click.option("--append", is_flag=True, help="Count INPUTS with the parameters and dictionary of --index and add "
              "them to it, atomically, without recounting its shards.")
@click.option("--index", "index_path", type=click.Path(file_okay=False), help="The index --append adds to.")
@click.option("--gazetteer-from", type=click.Path(exists=True),
              help="Use this index's gazetteer (or a gazetteer.parquet) as the dictionary, no harvest: indexes "
                   "built with one dictionary can be summed with `quco merge`.")
@click.option("--extractor", default="auto", show_default=True,
              help="Entity extractor: gazetteer, spacy, or a plugin's (`quco plugins` lists them); auto = gazetteer "
                   "above 20 MB of input or with --entities/--phrases, else spaCy NER.")
@click.option("--harvest-sample", default=500_000, show_default=True, type=click.IntRange(min=0),
              help="Characters of corpus text run through spaCy NER to harvest gazetteer entries.")
@click.option("--entities", type=click.Path(exists=True, dir_okay=False),
              help="Extra gazetteer entries: one `text` or `text<TAB>label` per line.")
@click.option("--phrases", is_flag=True,
              help="Also harvest capitalized phrases over the whole corpus (found in >= 2 documents) into the "
                   "gazetteer: ~8x the entities, better coverage of answers (docs/eval.md), a bigger index.")
@click.option("--shard-docs", default=2000, show_default=True, type=click.IntRange(min=1),
              help="Documents per shard (the unit of parallel work and of --resume).")
@click.option("--resume", is_flag=True, help="Reuse the shards a killed build of the same inputs finished.")
@click.option("--on-bad-record", default="error", show_default=True, type=click.Choice(["error", "skip"]),
              help="error: stop at the first bad record; skip: record it in rejects.jsonl and go on.")
@click.option("--no-retrieval", is_flag=True, help="Do not build the BM25 retrieval index.")
@click.option("--no-blend", is_flag=True, help="Do not precompute the creative-mode field-distance vectors.")
@click.option("--no-phrase-counts", is_flag=True,
              help="Do not build the suffix array that counts any phrase exactly (1.3x the text on wiki2015); "
                   "then only entities are counted.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@json_option
def build_command(inputs, out, fmt, window, text_field, workers, executor, address, buckets, append, index_path,
                  gazetteer_from, extractor, harvest_sample, entities, phrases, shard_docs, resume, on_bad_record,
                  no_retrieval, no_blend, no_phrase_counts, quiet, as_json) -> None:
    """Build an entity co-occurrence index from corpus files (WikiExtractor, JSONL[.gz|.zst], Parquet, text).

    A directory is read recursively; hidden files and the documentation or code beside the shards (README,
    LICENSE, *.md, *.py, *.yaml, ...) are left out and named on stderr. A file named here is always read.

    \b
    Example:
      quco build wiki_AA.txt.zst wiki_AB.txt.zst --out wiki.idx --workers 2
      quco build ../shared/data/wiki2015/ --out wiki.idx --workers 2
    """
    from quco.index_builder.build import BuildConfig, build

    if append:
        from quco.index_builder.merge_indexes import append_to_index

        if not index_path or out:
            raise click.UsageError("--append adds to the index named by --index (and takes no --out)")
        m = append_to_index(index_path, list(inputs), workers=workers, executor=executor, address=address,
                            progress=not quiet, buckets=buckets)
        emit(m, as_json, _human_build)
        return
    if not out:
        raise click.UsageError("Missing option '--out'.")
    cfg = BuildConfig(inputs=list(inputs), out=out, format=fmt, window=window, text_field=text_field,
                      workers=workers, executor=executor, address=address, buckets=buckets, extractor=extractor,
                      harvest_sample=harvest_sample, entities=entities, gazetteer=gazetteer_from,
                      phrases=phrases, shard_docs=shard_docs, resume=resume, on_bad_record=on_bad_record,
                      retrieval=() if no_retrieval else ("bm25s",), blend=not no_blend, progress=not quiet,
                      phrase_counts=not no_phrase_counts)
    manifest = build(cfg)
    emit(manifest if as_json else manifest, as_json, _human_build)


@click.command("verify")
@index_option
@click.option("--quick", is_flag=True, help="Check sizes only, not sha256 checksums.")
@json_option
def verify_command(index_path, quick, as_json) -> None:
    """Check an index's files against its manifest (sizes, sha256, row counts). Exit 2 if anything is wrong.

    \b
    Examples:
      quco verify                      # $QUCO_INDEX, else the bundled sample index
      quco verify --index wiki.idx --quick
    """
    from quco.cooccur.index import Index
    from quco.cooccur.store import verify
    from quco.data.default import resolve_index_path
    from quco.errors import IndexCorruptError

    index_path = str(resolve_index_path(index_path))
    problems = verify(index_path, checksums=not quick)
    if not problems:
        Index(index_path).close()  # row counts and schema version, as every open checks them
    if problems:
        raise IndexCorruptError(f"{index_path}: " + "; ".join(problems) + "; rebuild the index with `quco build`")
    emit({"index": index_path, "ok": True, "checked": "sizes" if quick else "sha256"}, as_json,
         lambda d: f"ok: {d['index']} matches its manifest ({d['checked']})")


COMMANDS = [build_command, verify_command]
