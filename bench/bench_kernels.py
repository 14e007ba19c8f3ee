"""numba kernels against their plain-Python references, on the same inputs, in the same run.

Inputs come from real extraction: a :class:`TokenizedBatch` of the benchmark text and the gazetteer of the index
being benchmarked, so the mention density and document lengths are the corpus's own. Each kernel is compiled (or
loaded from numba's cache) by a warm-up call before it is timed. A Python reference is timed once on a subset
sized to take about ``budget_s`` seconds (calibrated on a small prefix); the kernel is timed (best of several) on
that same subset and on the whole input. Ratios compare the two on the same subset; rates are per unit (MB of
UTF-8 text, pair instances, keys), so subset and whole-input rates can be read side by side. Each comparison also
checks that kernel and reference agree on the subset.

Times are CPU seconds of this process (``time.process_time``): every kernel and reference here runs on one
thread, so on an idle machine CPU time equals wall time, and on a busy shared one it is not inflated by waiting
for a core. Rates are therefore per core.
"""
from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from bench_common import best_of as _best_of
from quco.cooccur import kernels as K
from quco.cooccur.extract import GazetteerExtractor, TokenizedBatch
from quco.cooccur.gazetteer import match_kernel, match_py
from quco.cooccur.normalize import tokenize, tokenize_py


CLOCK = time.process_time


def best_of(fn, repeat: int = 3, min_seconds: float = 0.0):
    return _best_of(fn, repeat, min_seconds, clock=CLOCK)


def _calibrate(run: Callable[[int], Any], n_total: int, n_probe: int, budget_s: float) -> int:
    """How many units fit in ``budget_s`` for ``run(n)``, probed on ``n_probe`` units."""
    n_probe = max(1, min(n_probe, n_total))
    t = CLOCK()
    run(n_probe)
    dt = max(CLOCK() - t, 1e-6)
    return max(1, min(n_total, int(n_probe * budget_s / dt)))


def _rate(units: float, seconds: float) -> float:
    return units / seconds if seconds > 0 else float("inf")


def bench_tokenize(text: str, budget_s: float) -> dict[str, Any]:
    tokenize("Warm up: Ünïcode 123")
    nbytes = len(text.encode("utf-8"))
    t_full, (h, _, _) = best_of(lambda: tokenize(text), repeat=3)
    n = _calibrate(lambda k: tokenize_py(text[:k]), len(text), 50_000, budget_s)
    sub = text[:n]
    sub_bytes = len(sub.encode("utf-8"))
    t = CLOCK()
    ref = tokenize_py(sub)
    t_ref = CLOCK() - t
    t_sub, (hs, s, e) = best_of(lambda: tokenize(sub), repeat=5, min_seconds=0.2)
    agree = len(ref) == hs.shape[0] and all(
        a == b and c == d for (_, a, c), b, d in zip(ref, s.tolist(), e.tolist()))
    return {
        "unit": "MB/s", "bytes": nbytes, "tokens": int(h.shape[0]),
        "numba_mb_s": _rate(nbytes / 1e6, t_full), "numba_tokens_s": _rate(h.shape[0], t_full),
        "subset_bytes": sub_bytes, "numba_subset_mb_s": _rate(sub_bytes / 1e6, t_sub),
        "python_mb_s": _rate(sub_bytes / 1e6, t_ref), "python_seconds": t_ref,
        "ratio": t_ref / t_sub, "agree": bool(agree),
    }


def bench_match(batch: TokenizedBatch, text_bytes: int, extractor: GazetteerExtractor, budget_s: float,
                t_tokenize: float) -> dict[str, Any]:
    g = extractor.gazetteer
    hashes, seg = batch.hashes, batch.tok_seg
    match_kernel(hashes[:100], seg[:100], g.table_keys, g.table_vals, g.max_n)
    t_full, (first, _, _) = best_of(lambda: match_kernel(hashes, seg, g.table_keys, g.table_vals, g.max_n), 3)
    entries = {int(h): i for i, h in enumerate(g.hashes.tolist())}
    h_list, s_list = hashes.tolist(), seg.tolist()
    n = _calibrate(lambda k: match_py(h_list[:k], s_list[:k], entries, g.max_n), len(h_list), 20_000, budget_s)
    # cut at a segment boundary so that the subset's matches are exactly the whole input's matches there
    while 0 < n < len(s_list) and s_list[n] == s_list[n - 1]:
        n -= 1
    n = n or len(h_list)
    sub_h, sub_s = h_list[:n], s_list[:n]
    sub_bytes = len(batch.text[: int(batch.ends[n - 1])].encode("utf-8"))
    t = CLOCK()
    ref = match_py(sub_h, sub_s, entries, g.max_n)
    t_ref = CLOCK() - t
    hs, ss = hashes[:n], seg[:n]
    t_sub, (f, ln, e) = best_of(lambda: match_kernel(hs, ss, g.table_keys, g.table_vals, g.max_n), 5, 0.2)
    agree = ref == list(zip(f.tolist(), ln.tolist(), e.tolist()))
    # diagnosis: the kernel looks up every n-gram up to max_n at each token; with max_n = 1 it does one lookup
    t_one, _ = best_of(lambda: match_kernel(hashes, seg, g.table_keys, g.table_vals, 1), 3)
    lengths = np.bincount([k.count(" ") + 1 for k in g.keys])
    return {
        "unit": "MB/s", "entries": len(g), "max_n": g.max_n, "matches": int(first.shape[0]),
        "numba_mb_s_one_lookup_per_token": _rate(text_bytes / 1e6, t_one),
        "key_tokens_histogram": {int(n): int(c) for n, c in enumerate(lengths) if c},
        "numba_mb_s": _rate(text_bytes / 1e6, t_full),
        "numba_tokens_s": _rate(hashes.shape[0], t_full),
        "tokenize_plus_match_mb_s": _rate(text_bytes / 1e6, t_full + t_tokenize),
        "subset_bytes": sub_bytes, "numba_subset_mb_s": _rate(sub_bytes / 1e6, t_sub),
        "python_mb_s": _rate(sub_bytes / 1e6, t_ref), "python_seconds": t_ref,
        "ratio": t_ref / t_sub, "agree": bool(agree),
    }


def _doc_subset(offsets, ent, pos, docs: list[int]):
    """Concatenate the mentions of the chosen documents into new flat arrays."""
    parts_e = [ent[offsets[d]: offsets[d + 1]] for d in docs]
    parts_p = [pos[offsets[d]: offsets[d + 1]] for d in docs]
    lens = np.array([p.shape[0] for p in parts_e], dtype=np.int64)
    off = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)
    cat = (lambda ps, dt: np.concatenate(ps) if ps else np.empty(0, dt))
    return off, cat(parts_e, np.int32), cat(parts_p, np.int64)


def bench_pairs(offsets, ent, pos, window: int, budget_s: float, seed: int = 0) -> dict[str, Any]:
    """emit_pairs + count_keys against emit_pairs_py + Counter (pair instances per second), and the counting
    step alone (count_keys against count_keys_py on the same keys)."""
    K.count_keys(K.emit_pairs(offsets[:3], ent, pos, window))
    run = lambda: K.count_keys(K.emit_pairs(offsets, ent, pos, window))  # noqa: E731
    t_full, (uk, _) = best_of(run, 3)
    keys = K.emit_pairs(offsets, ent, pos, window)
    n_inst = keys.shape[0]
    # the reference is O(m^2) per document: pick random documents until their estimated cost fills the budget
    m = np.diff(offsets)
    order = [d for d in random.Random(seed).sample(range(m.shape[0]), m.shape[0]) if m[d] >= 2]

    def ref_on(docs):
        o, e, p = _doc_subset(offsets, ent, pos, docs)
        return K.count_keys_py(K.emit_pairs_py(o, e, p, window))

    probe, cost = [], 0
    for d in order:
        probe.append(d)
        cost += int(m[d]) ** 2
        if cost > 2_000_000:
            break
    t = CLOCK()
    ref_on(probe)
    per_cost = max(CLOCK() - t, 1e-6) / max(cost, 1)
    chosen, c = [], 0
    for d in order:
        c += int(m[d]) ** 2
        if chosen and c * per_cost > budget_s:
            break
        chosen.append(d)
    o, e, p = _doc_subset(offsets, ent, pos, chosen)
    t = CLOCK()
    ref = K.count_keys_py(K.emit_pairs_py(o, e, p, window))
    t_ref = CLOCK() - t
    t_sub, (sk, sc) = best_of(lambda: K.count_keys(K.emit_pairs(o, e, p, window)), 5, 0.2)
    sub_inst = K.emit_pairs(o, e, p, window).shape[0]
    agree = ref == dict(zip(sk.tolist(), sc.tolist()))
    # counting alone, on the keys the kernel emitted for the whole input
    t_cnt, _ = best_of(lambda: K.count_keys(keys), 3)
    n_c = _calibrate(lambda k: K.count_keys_py(keys[:k]), n_inst, 200_000, budget_s)
    kc = keys[:n_c]
    t = CLOCK()
    K.count_keys_py(kc)
    t_cref = CLOCK() - t
    t_csub, _ = best_of(lambda: K.count_keys(kc), 5, 0.2)
    return {
        "unit": "pair instances/s", "window": window, "documents": int(m.shape[0]), "mentions": int(ent.shape[0]),
        "pair_instances": int(n_inst), "distinct_pairs": int(uk.shape[0]),
        "numba_pairs_s": _rate(n_inst, t_full),
        "subset_documents": len(chosen), "subset_mentions": int(e.shape[0]), "subset_pair_instances": int(sub_inst),
        "numba_subset_pairs_s": _rate(sub_inst, t_sub),
        "python_pairs_s": _rate(sub_inst, t_ref), "python_seconds": t_ref,
        "ratio": t_ref / t_sub, "agree": bool(agree),
        "count_only": {
            "numba_pairs_s": _rate(n_inst, t_cnt), "subset_keys": int(n_c),
            "numba_subset_pairs_s": _rate(n_c, t_csub), "python_pairs_s": _rate(n_c, t_cref),
            "python_seconds": t_cref, "ratio": t_cref / t_csub,
        },
        "_keys": keys,
    }


def bench_merge(keys: np.ndarray, budget_s: float) -> dict[str, Any]:
    """merge_sum of two sorted runs (each half of the emitted keys, counted) against merge_sum_py."""
    half = keys.shape[0] // 2
    k1, c1 = K.count_keys(keys[:half])
    k2, c2 = K.count_keys(keys[half:])
    K.merge_sum(k1[:10], c1[:10], k2[:10], c2[:10])
    t_full, (ko, _) = best_of(lambda: K.merge_sum(k1, c1, k2, c2), 3)
    n_in = k1.shape[0] + k2.shape[0]
    # prefixes of both runs up to the same key, so that the subset is a faithful merge of equal-range runs
    frac = _calibrate(lambda k: K.merge_sum_py(k1[:k], c1[:k], k2[:k], c2[:k]), min(k1.shape[0], k2.shape[0]),
                      50_000, budget_s / 2)
    cut = k1[frac - 1]
    n1, n2 = frac, int(np.searchsorted(k2, cut, side="right"))
    a = (k1[:n1], c1[:n1], k2[:n2], c2[:n2])
    t = CLOCK()
    ref = K.merge_sum_py(*a)
    t_ref = CLOCK() - t
    t_sub, (sk, sc) = best_of(lambda: K.merge_sum(*a), 5, 0.2)
    agree = ref == dict(zip(sk.tolist(), sc.tolist()))
    return {
        "unit": "input keys/s", "keys_in": int(n_in), "keys_out": int(ko.shape[0]),
        "numba_keys_s": _rate(n_in, t_full), "subset_keys_in": n1 + n2,
        "numba_subset_keys_s": _rate(n1 + n2, t_sub), "python_keys_s": _rate(n1 + n2, t_ref),
        "python_seconds": t_ref, "ratio": t_ref / t_sub, "agree": bool(agree),
    }


def bench_doc_entities(offsets, ent, n_entities: int, budget_s: float) -> dict[str, Any]:
    K.doc_entities(offsets[:3], ent, n_entities)
    t_full, _ = best_of(lambda: K.doc_entities(offsets, ent, n_entities), 3)
    n_docs = offsets.shape[0] - 1
    d = _calibrate(lambda k: K.doc_entities_py(offsets[: k + 1], ent, n_entities), n_docs, 50, budget_s)
    o = offsets[: d + 1]
    t = CLOCK()
    ref = K.doc_entities_py(o, ent, n_entities)
    t_ref = CLOCK() - t
    t_sub, got = best_of(lambda: K.doc_entities(o, ent, n_entities), 5, 0.2)
    m_sub = int(o[-1])
    return {
        "unit": "mentions/s", "mentions": int(ent.shape[0]), "numba_mentions_s": _rate(ent.shape[0], t_full),
        "subset_mentions": m_sub, "numba_subset_mentions_s": _rate(m_sub, t_sub),
        "python_mentions_s": _rate(m_sub, t_ref), "python_seconds": t_ref, "ratio": t_ref / t_sub,
        "agree": ref == got.tolist(),
    }


def run_kernels(docs: list, extractor: GazetteerExtractor, window: int, budget_s: float) -> dict[str, Any]:
    """Every kernel comparison on the documents ``docs`` with the gazetteer of ``extractor``."""
    t = CLOCK()
    batch = TokenizedBatch(docs)
    t_batch = CLOCK() - t
    text_bytes = len(batch.text.encode("utf-8"))
    out: dict[str, Any] = {"documents": len(docs), "text_bytes": text_bytes, "batch_seconds": t_batch}
    out["tokenize"] = bench_tokenize(batch.text, budget_s)
    t_tok = text_bytes / 1e6 / out["tokenize"]["numba_mb_s"]
    out["match"] = bench_match(batch, text_bytes, extractor, budget_s, t_tok)
    offsets, ent, pos = extractor.extract_batch(batch, extractor.new_vocab())
    pairs = bench_pairs(offsets, ent, pos, window, budget_s)
    keys = pairs.pop("_keys")
    out["pairs"] = pairs
    out["merge_sum"] = bench_merge(keys, budget_s)
    out["doc_entities"] = bench_doc_entities(offsets, ent, len(extractor.gazetteer), budget_s)
    return out
