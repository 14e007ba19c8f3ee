"""Passage support: does a passage that answers the question also contain the answer's value?

Document-level co-occurrence asks whether a topic and a value were ever mentioned in the same article. Long
articles mention many plausible values (every film of an actor, every country of a region), so a wrong value often
co-occurs as well as the right one. Passage support asks a narrower question of the index's BM25 postings: among
the passages that match the *question* best, is there one that contains every term of the *value*?

For a question q and a value v (both tokenized as for retrieval: :func:`quco.cooccur.bm25.tokenize_for_bm25`)::

    support(q, v) = max{ bm25(q, p) : p contains every term of v } / max{ bm25(q, p) : any passage p }

It is 1 when the best passage for the question contains the value, near 0 when only passages that barely match
the question do, and 0 when no passage contains all of the value's terms (a value the corpus never states). The
scores are those of the retriever (:mod:`quco.cooccur.bm25`: the same float32 arithmetic as bm25s), so
``support`` is 1 exactly when a top-1 retrieval would show a passage with the value. Terms are a bag: "Paris
Hilton" is supported by a passage with "Paris" and "Hilton" anywhere in it.

Measured on the realqa dev files (``python bench/ablate_claims.py``, docs/eval.md), ``support`` alone reaches
AUROC 0.69 on TriviaQA sentence answers where document-level NPMI reaches 0.64; their mix is what ``assess``
uses (``GateConfig.passage_weight``).

Cost. Both maxima are found exactly without scoring every posting (:mod:`quco.cooccur.maxscore`: MaxScore
pruning with per-term bounds cached by the reader; the rarest terms go into a per-thread buffer of which only the
touched slots are zeroed again, the best candidates are scored by binary search in the other terms' postings,
sorted by passage id as the builder writes them). A candidate's score is re-summed as the full accumulation
(:func:`quco.cooccur.bm25.accumulate_scores`) sums it, so supports are bit-identical to it; ``prune=False`` (and
a question of more than ``maxscore.MAX_TERMS`` terms) takes that full accumulation. Measured on wiki2015 +
wiki_extra (976 k passages) with the 808 calls ``assess`` makes on 300 rows of each realqa dev file
(``python bench/bench_passage_support.py``, 2026-12-02, load ~3 on 2 cores, caches evicted between calls as
spaCy's parse does in ``assess``): 0.61 ms per call at p50 against 1.53 ms for the full accumulation, pruned/full
0.40 at p50, 0.65 at p95, 0.49 in the mean (0.52 at p50 on the first pass, which computes the new terms'
bounds); outputs equal on every call. Inside ``assess`` on 500 evouna_triviaqa_dev rows, passage support's p50
went from 2.1-2.8 ms to 0.94-0.99 ms (runs of the two versions alternated).
