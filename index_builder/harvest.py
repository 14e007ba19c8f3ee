"""Harvest a gazetteer from the corpus itself.

Sources, in order of precedence (the first surface form of a key wins):
1. a user-supplied entity list or alias table (``--entities FILE``: ``text`` or ``text<TAB>label`` per line);
2. article titles, where the format has them, with disambiguators dropped ("Paris (band)" -> "Paris");
3. spaCy NER over a sample of the corpus (``--harvest-sample`` characters, documents chosen by a hash of their id,
   so the sample is spread over the whole corpus and the same on every run);
4. with ``--phrases``, capitalized phrases over the whole corpus (:mod:`quco.index_builder.phrases`, one worker
   per input file), labelled ``PHRASE`` unless a source above already has the key.
Entries of sources 2 and 3 are then filtered against common words: single-token stop words, keys without a
letter, and keys that a larger case sample shows written in lower case more often than capitalized ("the",
"apple", "love" as titles). Phrases have their own, whole-corpus case rule.
"""
from __future__ import annotations

import re
import time
import zlib
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from quco.cooccur.extract import SpacyExtractor, TokenizedBatch, english_stop_words
from quco.cooccur.gazetteer import Gazetteer
from quco.cooccur.normalize import key_tokens
from quco.errors import BadInputError
from quco.index_builder import readers

_DISAMBIGUATOR = re.compile(r"\s*\([^)]*\)\s*$")
CASE_SAMPLE_CHARS = 20_000_000  # text scanned for the case filter (the matcher runs at ~100 MB/s)
TITLE_LABEL = "TITLE"


def _sample_rate(files: Sequence[Path], chars: int) -> float:
    est = sum(f.stat().st_size * (4 if f.suffix in (".zst", ".gz") else 1) for f in files)
    return min(1.0, chars / max(est, 1))


def _in_sample(doc_id: str, rate: float) -> bool:
    return zlib.crc32(doc_id.encode()) < rate * 2**32


def read_entities_file(path: str | Path) -> list[tuple[str, str]]:
    """``text`` or ``text<TAB>label`` per line; blank lines and ``#`` comments are skipped."""
    out = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line.strip() or line.startswith("#"):
                continue
            parts = line.split("\t")
            if not parts[0].strip():
                raise BadInputError(str(path), "empty entity text", line=n)
            out.append((parts[0], parts[1] if len(parts) > 1 and parts[1] else "ENTITY"))
    return out


def case_filter(g: Gazetteer, sample: list[str]) -> set[int]:
    """Indices of entries written in lower case more often than capitalized in ``sample`` (at least twice)."""
    if not sample:
        return set()
    batch = TokenizedBatch([sample])
    first, _, entry = g.match(batch.hashes, batch.tok_seg)
    starts = batch.starts[first]
    upper = np.fromiter((batch.text[s].isupper() or batch.text[s].isdigit() for s in starts.tolist()),
                        dtype=bool, count=starts.shape[0])
    n = len(g)
    up = np.bincount(entry[upper], minlength=n)
    low = np.bincount(entry[~upper], minlength=n)
    return set(np.flatnonzero((low > up) & (low >= 2)).tolist())


def clean_surface(text: str) -> str:
    """An NER span's text without the quotes and brackets spaCy sometimes includes."""
    return text.strip(" \t\"'\u201c\u201d\u2018\u2019()[]")


def plausible(text: str) -> bool:
    """Not a stop word, not a single character, has a letter."""
    toks = key_tokens(text)
    if not toks or not any(ch.isalpha() for ch in "".join(toks)):
        return False
    return not (len(toks) == 1 and (toks[0] in english_stop_words() or len(toks[0]) < 2))


def filter_entries(entries: Sequence[tuple[str, str]], case_sample: list[str],
                   trusted: Sequence[tuple[str, str]] = (), after: Sequence[tuple[str, str]] = ()
                   ) -> tuple[Gazetteer, int, int]:
    """The gazetteer of ``trusted`` entries (kept as they are, first) plus the plausible ``entries`` that the
    case sample does not show to be common lower-case words, plus the ``after`` entries (kept as they are, for
    keys not already present); returns it with the two drop counts."""
    kept = [e for e in entries if plausible(e[0])]
    g = Gazetteer.from_entries(list(trusted) + kept + list(after))
    trusted_keys = {" ".join(key_tokens(t)) for t, _ in [*trusted, *after]}
    # only single words: a multi-word title written in lower case ("quantum mechanics") is still a name, while
    # a one-word title in lower case is usually a common word ("apple", "love")
    drop = {i for i in case_filter(g, case_sample) if g.keys[i] not in trusted_keys and " " not in g.keys[i]}
    if drop:
        keep = [i for i in range(len(g)) if i not in drop]
        g = Gazetteer(g.hashes[keep], [g.keys[i] for i in keep], [g.texts[i] for i in keep],
                      [g.labels[i] for i in keep])
    return g, len(entries) - len(kept), len(drop)


def harvest(files: Sequence[Path], cfg: Any) -> tuple[Gazetteer, dict[str, Any]]:
    """Build the gazetteer for ``files`` under build config ``cfg``; returns it with stats."""
    t0 = time.perf_counter()
    ner_rate = _sample_rate(files, cfg.harvest_sample)
    case_rate = _sample_rate(files, CASE_SAMPLE_CHARS)
    titles: list[str] = []
    ner_sample: list[str] = []
    case_sample: list[str] = []
    for path in files:
        for doc in readers.read_documents(path, cfg.format, text_field=cfg.text_field,
                                          on_bad_record=cfg.on_bad_record, rejects=lambda rec: None):
            if doc.title and cfg.titles:
                titles.append(doc.title)
            if _in_sample(doc.doc_id, case_rate):
                case_sample.extend(doc.paragraphs)
            if _in_sample(doc.doc_id, ner_rate):
                ner_sample.extend(doc.paragraphs)
    t_read = time.perf_counter() - t0
    t = time.perf_counter()
    big = sum(map(len, ner_sample)) > 500_000  # below this, starting a second spaCy process costs more than it saves
    ner = SpacyExtractor(labels=cfg.labels, n_process=max(1, min(2, cfg.workers or 2)) if big else 1)
    ner_labels: dict[str, Counter] = {}
    ner_texts: dict[str, str] = {}
    if ner_sample:
        for _seg, ent, key in ner._ents(ner_sample):
            ner_labels.setdefault(key, Counter())[ent.label_] += 1
            ner_texts.setdefault(key, clean_surface(ent.text))
    t_ner = time.perf_counter() - t

    def label_of(text: str, default: str) -> str:
        c = ner_labels.get(" ".join(key_tokens(text)))
        return min(c.items(), key=lambda kv: (-kv[1], kv[0]))[0] if c else default

    entries: list[tuple[str, str]] = []
    user = read_entities_file(cfg.entities) if cfg.entities else []
    entries.extend(user)
    for title in titles:
        entries.append((title, label_of(title, TITLE_LABEL)))
        stripped = _DISAMBIGUATOR.sub("", title)
        if stripped and stripped != title:
            entries.append((stripped, label_of(stripped, TITLE_LABEL)))
    for key, text in sorted(ner_texts.items()):
        entries.append((text, label_of(text, "ENTITY")))
    t = time.perf_counter()
    n_user = len(user)
    t_phr = time.perf_counter()
    phrase_stats: dict[str, Any] = {}
    found = _phrases(files, cfg, phrase_stats) if cfg.phrases else []
    t_phr = time.perf_counter() - t_phr
    t = time.perf_counter()
    g, dropped_implausible, dropped_case = filter_entries(entries[n_user:], case_sample, trusted=user, after=found)
    stats_extra = {"dropped_implausible": dropped_implausible, "dropped_case": dropped_case}
    if found:
        stats_extra["phrases"] = {"entries": len(found), "seconds": round(t_phr, 3),
                                  **{k: v for k, v in phrase_stats.items() if isinstance(v, int)}}
    stats = {
        "titles": len(titles), "ner_entities": len(ner_texts), "user_entries": n_user,
        **stats_extra, "entries": len(g),
        "ner_sample_chars": sum(map(len, ner_sample)), "case_sample_chars": sum(map(len, case_sample)),
        "seconds": {"read": round(t_read, 3), "ner": round(t_ner, 3), "filter": round(time.perf_counter() - t, 3)},
    }
    return g, stats


def _scan_file(path: Path, cfg: Any):
    from quco.index_builder.phrases import scan

    return scan(readers.read_documents(path, cfg.format, text_field=cfg.text_field, on_bad_record=cfg.on_bad_record,
                                       rejects=lambda rec: None))


def _phrases(files: Sequence[Path], cfg: Any, stats: dict[str, Any]) -> list[tuple[str, str]]:
    """Capitalized phrases of the whole corpus: one scan per input file in worker processes, merged in order."""
    import os
    from concurrent.futures import ProcessPoolExecutor

    from quco.index_builder.phrases import merge_counts, select

    workers = max(1, min(len(files), cfg.workers or os.cpu_count() or 1))
    if workers == 1:
        counts = merge_counts(_scan_file(f, cfg) for f in files)
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            counts = merge_counts(pool.map(_scan_file, files, [cfg] * len(files)))
    return select(counts, stats=stats)
