"""Make the bundled default corpus: a small attributed sample of ../shared/data/wiki2015.

    python scripts/make_default_sample.py [--chars 9000000]

Writes ``quco/data/wiki_sample.txt.zst`` (WikiExtractor format) and ``quco/data/wiki_sample_entities.tsv`` (the
gazetteer harvested with spaCy NER over the whole sample, so the first-use build needs no NER). Articles: a fixed
list that the README's examples use, then articles chosen by a hash of their id until ``--chars`` of text.
"""
from __future__ import annotations

import argparse
import zlib
from pathlib import Path

import zstandard

from quco.cooccur.extract import SpacyExtractor
from quco.index_builder.harvest import clean_surface, filter_entries
from quco.index_builder.readers import read_documents

ROOT = Path(__file__).resolve().parents[1]
SHARDS = sorted((ROOT.parent / "shared" / "data" / "wiki2015").glob("*.zst"))
MUST = {"Marie Curie", "Pierre Curie", "Warsaw", "Poland", "Paris", "Albert Einstein", "Nobel Prize", "Physics",
        "Radioactive decay", "Frédéric Chopin", "Germany", "Isaac Newton", "Charles Darwin", "London", "Berlin",
        "William Shakespeare", "Mozart", "Wolfgang Amadeus Mozart", "Ludwig van Beethoven", "Vienna", "Bach",
        "Johann Sebastian Bach", "Napoleon", "France", "Physics", "Chemistry", "Quantum mechanics", "Jazz"}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--chars", type=int, default=9_000_000)
    ap.add_argument("--reuse-ner", action="store_true", help="re-filter the existing entity list, no NER run")
    args = ap.parse_args()
    docs, size = [], 0
    for shard in SHARDS:
        for d in read_documents(shard):
            if d.title in MUST or zlib.crc32(d.doc_id.encode()) % 40 == 0:
                docs.append(d)
    must = [d for d in docs if d.title in MUST]
    rest = sorted((d for d in docs if d.title not in MUST), key=lambda d: zlib.crc32(d.doc_id.encode()))
    chosen = []
    for d in must + rest:
        if size > args.chars:
            break
        chosen.append(d)
        size += d.n_chars
    chosen.sort(key=lambda d: int(d.doc_id))
    out = ROOT / "quco" / "data"
    text = "".join(
        f'<doc id="{d.doc_id}" url="http://en.wikipedia.org/wiki?curid={d.doc_id}" title="{d.title}">\n{d.title}\n\n'
        + "\n\n".join(d.paragraphs) + "\n</doc>\n" for d in chosen)
    (out / "wiki_sample.txt.zst").write_bytes(zstandard.ZstdCompressor(level=19).compress(text.encode()))
    paragraphs = [p for d in chosen for p in d.paragraphs]
    tsv = out / "wiki_sample_entities.tsv"
    if args.reuse_ner and tsv.exists():
        rows = [tuple(line.split("\t")) for line in tsv.read_text().splitlines() if line]
    else:
        ner = SpacyExtractor(n_process=2)
        seen: dict[str, tuple[str, dict]] = {}
        for _seg, ent, key in ner._ents(paragraphs):
            text_, labels = seen.setdefault(key, (clean_surface(ent.text), {}))
            labels[ent.label_] = labels.get(ent.label_, 0) + 1
        rows = [(t, max(lab.items(), key=lambda kv: (kv[1], kv[0]))[0]) for t, lab in seen.values()]
    # the same filters a build applies to harvested entries: they are trusted (as --entities) at build time
    g, implausible, lower = filter_entries([(clean_surface(t), lab) for t, lab in rows], paragraphs)
    rows = sorted(zip(g.texts, g.labels))
    tsv.write_text("".join(f"{t}\t{lab}\n" for t, lab in rows))
    print(f"{len(chosen)} articles, {size / 1e6:.1f} MB of text, {len(rows)} NER entities "
          f"({implausible} implausible and {lower} lower-case words dropped)")


if __name__ == "__main__":
    main()
