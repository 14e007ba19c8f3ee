"""One real shard of wiki2015: `quco count` against an independent brute-force count (slow; needs ../shared)."""
from __future__ import annotations

import json
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest

from quco.cooccur.index import Index
from quco.index_builder.readers import read_documents

from conftest import shared_data

pytestmark = pytest.mark.slow
WORD = re.compile(r"[^\W_]+")  # Python's own notion of a word: independent of our numba tokenizer


@pytest.fixture(scope="module")
def shard_index(tmp_path_factory) -> tuple[Path, Path]:
    shard = shared_data() / "wiki2015" / "wiki2015_AA.txt.zst"
    out = tmp_path_factory.mktemp("real") / "aa.idx"
    r = subprocess.run([sys.executable, "-m", "quco", "build", str(shard), "--out", str(out), "--no-retrieval",
                        "--workers", "2", "-q", "--json"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return shard, out


def _brute_force(shard: Path, dictionary: dict[tuple[str, ...], str], max_n: int, pairs, window: int) -> list[int]:
    """Documents where the two keys are matched within `window` tokens, by a slow path sharing no code with the
    build: regex tokens, lower-casing, a dict of token tuples, leftmost-longest matching, per segment."""
    firsts = {k: k.split(" ")[0] for pair in pairs for k in pair}
    counts = [0] * len(pairs)
    for doc in read_documents(shard):
        segments = [doc.title] + doc.paragraphs
        low = " ".join(segments).lower()
        live = [i for i, (a, b) in enumerate(pairs) if firsts[a] in low and firsts[b] in low]
        if not live:
            continue
        positions: dict[str, list[int]] = {}
        base = 0
        for seg in segments:
            toks = [m.group().lower() for m in WORD.finditer(seg)]
            i = 0
            while i < len(toks):
                hit = None
                for n in range(min(max_n, len(toks) - i), 0, -1):
                    key = dictionary.get(tuple(toks[i:i + n]))
                    if key is not None:
                        hit = (key, n)
                        break
                if hit:
                    positions.setdefault(hit[0], []).append(base + i)
                    i += hit[1]
                else:
                    i += 1
            base += len(toks)
        for i in live:
            a, b = pairs[i]
            pa, pb = positions.get(a, []), positions.get(b, [])
            if any(abs(x - y) <= window for x in pa for y in pb):
                counts[i] += 1
    return counts


def test_counts_equal_brute_force(shard_index):
    shard, out = shard_index
    ix = Index(out)
    rng = random.Random(2015)
    gaz = ix.sql("SELECT key FROM read_parquet(?)", [str(out / "gazetteer.parquet")]).fetchall()
    dictionary = {tuple(k.split(" ")): k for (k,) in gaz}
    max_n = max(len(t) for t in dictionary)
    ascii_ents = [k for (k,) in ix.sql("SELECT key FROM entities WHERE freq >= 3").fetchall() if k.isascii()]
    seen = ix.sql("SELECT e1.key, e2.key FROM pairs p JOIN entities e1 ON e1.id = p.a JOIN entities e2 ON e2.id = p.b"
                  " WHERE p.count BETWEEN 1 AND 40").fetchall()
    seen = [p for p in seen if p[0].isascii() and p[1].isascii()]
    pairs = rng.sample(seen, 25) + [tuple(rng.sample(ascii_ents, 2)) for _ in range(25)]
    expected = _brute_force(shard, dictionary, max_n, pairs, ix.window)
    got = []
    for a, b in pairs:
        r = subprocess.run([sys.executable, "-m", "quco", "count", a, b, "--index", str(out), "--json"],
                           capture_output=True, text=True) if len(got) < 5 else None
        got.append(json.loads(r.stdout)["cooccurrence"] if r else ix.cooc(a, b))
    assert got == expected
    assert sum(1 for c in expected if c > 0) >= 25  # the sample really exercises non-zero counts
