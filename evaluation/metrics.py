"""Detection metrics over scored evaluation cases: pure functions, no index, no I/O.

Conventions used throughout:

- ``label`` is 0 for a right answer and 1 for a wrong one; a score is a *risk*, so a good detector gives
  wrong answers the higher score. AUROC is the probability that a random wrong case scores strictly higher
  than a random right one, ties counting one half (the Mann-Whitney U statistic over ``n1 * n0``).
- ``group`` ties the cases of one paired item together (the gold answer and its swapped twin, or the two
  answers of a HaluEval row); ``None`` means the case belongs to no pair.
- ``coverage`` is one of :data:`STRATA`; every metric is reported overall and per stratum, plus the union
  ``known+sparse`` (the rows the corpus can speak to).

:func:`summarize` assembles everything ``quco eval --json`` prints for the swap/pairs/halueval formats.
"""
from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence

import numpy as np

from quco.errors import ConfigError

STRATA = ("known", "sparse", "unknown")
"""Coverage strata, in report order."""

STRATUM_UNIONS = {"known+sparse": ("known", "sparse")}
"""Extra strata reported as unions of :data:`STRATA`."""

PASSED_DECISIONS = frozenset({"pass", "sanctioned_blend"})
"""Gate decisions that let an answer through."""

SHORT_ANSWER_WORDS = 4
"""Length control: an answer of at most this many words is "short"."""

SHORTFALL_TOP = 8
"""A stratum's ``shortfall`` lists at most this many (right kind, wrong kind) shares, largest first."""


# --------------------------------------------------------------------------------------------- validation


def _as_scores(scores: Sequence[float], what: str = "scores") -> np.ndarray:
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    if np.isnan(s).any():
        bad = int(np.flatnonzero(np.isnan(s))[0])
        raise ConfigError(f"{what}[{bad}] is NaN: give every case a number (e.g. 0 for 'no evidence')")
    return s


def _as_labels(labels: Sequence[int], n: int) -> np.ndarray:
    y = np.asarray(labels).reshape(-1)
    if y.shape[0] != n:
        raise ConfigError(f"{n} scores but {y.shape[0]} labels: give one label per case")
    if y.size and not np.isin(y, (0, 1)).all():
        bad = int(np.flatnonzero(~np.isin(y, (0, 1)))[0])
        raise ConfigError(f"labels[{bad}] is {y[bad]!r}: labels must be 0 (right) or 1 (wrong)")
    return y.astype(np.int64)


# ------------------------------------------------------------------------------------------- rank metrics


def _grouped_u(scores: np.ndarray, labels: np.ndarray, codes: np.ndarray) -> tuple[float, float]:
    """Sum over groups of the Mann-Whitney U of label-1 vs label-0 scores, and the number of such pairs.

    ``codes`` are non-negative group ids. One sort does every group: sorting by (group, score) puts each
    group's cases in a contiguous block, and a case's mid-rank inside its block (ties get the mean of the
    ranks they span) gives U = R1 - n1 (n1 + 1) / 2 per group. O(n log n).
    """
    n = scores.shape[0]
    if n == 0:
        return 0.0, 0.0
    order = np.lexsort((scores, codes))
    g, s, y = codes[order], scores[order], labels[order]
    pos = np.arange(n)
    new_group = np.empty(n, dtype=bool)
    new_group[0] = True
    new_group[1:] = g[1:] != g[:-1]
    new_run = new_group.copy()
    new_run[1:] |= s[1:] != s[:-1]
    # Start of each tie run and of each group, broadcast to its members.
    run_id = np.cumsum(new_run) - 1
    run_start = pos[new_run]
    run_end = np.append(run_start[1:], n)  # exclusive
    group_start = np.maximum.accumulate(np.where(new_group, pos, 0))
    # 1-based mid-rank within the group: mean of (start+1 .. end) minus the group's offset.
    midrank = (run_start[run_id] + 1 + run_end[run_id]) / 2.0 - group_start
    group_id = np.cumsum(new_group) - 1
    n_groups = int(group_id[-1]) + 1
    size = np.bincount(group_id, minlength=n_groups).astype(np.float64)
    n1 = np.bincount(group_id, weights=y, minlength=n_groups)
    r1 = np.bincount(group_id, weights=midrank * y, minlength=n_groups)
    u = r1 - n1 * (n1 + 1) / 2.0
    pairs = n1 * (size - n1)
    return float(u.sum()), float(pairs.sum())


def auroc(scores: Sequence[float], labels: Sequence[int]) -> float | None:
    """Area under the ROC curve of ``scores`` for detecting ``label == 1``; ``None`` when a class is empty.

    Ties between a wrong and a right case count one half (Mann-Whitney U / (n1 n0)); O(n log n).
    """
    s = _as_scores(scores)
    y = _as_labels(labels, s.shape[0])
    u, pairs = _grouped_u(s, y, np.zeros(s.shape[0], dtype=np.int64))
    return u / pairs if pairs else None


def roc_curve(scores: Sequence[float], labels: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """False- and true-positive rates as the threshold sweeps down through the distinct scores.

    Starts at (0, 0) and ends at (1, 1); tied scores form one step (a diagonal segment when the tie mixes
    classes), so the trapezoidal area under the curve equals :func:`auroc`. Raises ``ConfigError`` when a
    class is empty, because one of the rates is then undefined.
    """
    s = _as_scores(scores)
    y = _as_labels(labels, s.shape[0])
    n1 = int(y.sum())
    n0 = int(y.shape[0] - n1)
    if n1 == 0 or n0 == 0:
        raise ConfigError("a ROC curve needs both right (0) and wrong (1) cases; check auroc() is not None first")
    order = np.argsort(-s, kind="stable")
    s, y = s[order], y[order]
    last_of_run = np.append(s[1:] != s[:-1], True)
    tp = np.cumsum(y)[last_of_run]
    fp = np.cumsum(1 - y)[last_of_run]
    fpr = np.concatenate(([0.0], fp / n0))
    tpr = np.concatenate(([0.0], tp / n1))
    return fpr, tpr


def _group_codes(groups: Sequence[Hashable | None]) -> np.ndarray:
    """Integer codes for group keys, -1 for ``None``."""
    seen: dict[Hashable, int] = {}
    return np.fromiter(
        (-1 if g is None else seen.setdefault(g, len(seen)) for g in groups), dtype=np.int64, count=len(groups)
    )


def pairwise_accuracy(
    scores: Sequence[float], labels: Sequence[int], groups: Sequence[Hashable | None]
) -> float | None:
    """Share of (wrong, right) pairs inside a group where the wrong case is strictly riskier; ties count 0.5.

    Every pair of a label-1 and a label-0 case with the same (non-``None``) group counts once, so a group of
    one gold answer and one swapped answer contributes one pair. ``None`` when no group has both labels.
    """
    s = _as_scores(scores)
    y = _as_labels(labels, s.shape[0])
    if len(groups) != s.shape[0]:
        raise ConfigError(f"{s.shape[0]} scores but {len(groups)} groups: give one group (or None) per case")
    codes = _group_codes(groups)
    keep = codes >= 0
    u, pairs = _grouped_u(s[keep], y[keep], codes[keep])
    return u / pairs if pairs else None


def auroc_shortfall(scores: Sequence[float], labels: Sequence[int], kinds: Sequence[Hashable]
                    ) -> dict[tuple[Hashable, Hashable], float]:
    """Where AUROC falls short of 1, by the kinds of the cases ordered the wrong way.

    For each (kind of a right case, kind of a wrong case), the share of all (wrong, right) pairs in which the right
    case scores strictly higher, ties counting one half; largest first, zero shares left out. The shares sum to
    ``1 - auroc(scores, labels)``. A kind is any label of a case: the article state of a report's pair, say, to
    tell "right and wrong answers both never seen with their topic" from "wrong answers linked by an article".
    Empty when a class is empty.
    """
    s = _as_scores(scores)
    y = _as_labels(labels, s.shape[0])
    if len(kinds) != s.shape[0]:
        raise ConfigError(f"{s.shape[0]} scores but {len(kinds)} kinds: give one kind per case")
    codes = _group_codes(kinds)
    names = {int(c): k for c, k in zip(codes, kinds)}
    right, wrong = y == 0, y == 1
    pairs = int(right.sum()) * int(wrong.sum())
    out: dict[tuple[Hashable, Hashable], float] = {}
    if not pairs:
        return out
    for cr in np.unique(codes[right]):
        r = np.sort(s[right & (codes == cr)])
        for cw in np.unique(codes[wrong]):
            w = s[wrong & (codes == cw)]
            above, upto = np.searchsorted(r, w, "right"), np.searchsorted(r, w, "left")
            lost = float((r.shape[0] - above).sum() + 0.5 * (above - upto).sum())
            if lost:
                out[(names[int(cr)], names[int(cw)])] = lost / pairs
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))


# ------------------------------------------------------------------------------------------------ gate view


def gate_view(decisions: Sequence[str], labels: Sequence[int]) -> dict:
    """What the gate lets through: ``pass_rate``, ``error_among_passed``, ``base_error``, ``n_passed``.

    A case passes when its decision is in :data:`PASSED_DECISIONS`. ``error_among_passed`` is the share of
    wrong answers among the passed ones (``None`` when nothing passed), to compare with ``base_error``, the
    share of wrong answers among all cases (``None`` when there are none).
    """
    y = _as_labels(labels, len(decisions))
    passed = np.fromiter((d in PASSED_DECISIONS for d in decisions), dtype=bool, count=len(decisions))
    n, n_passed = int(y.shape[0]), int(passed.sum())
    return {
        "pass_rate": n_passed / n if n else None,
        "error_among_passed": float(y[passed].mean()) if n_passed else None,
        "base_error": float(y.mean()) if n else None,
        "n_passed": n_passed,
    }


# ------------------------------------------------------------------------------------------------ intervals

BOOTSTRAP_SAMPLES = 1000
"""Resamples behind every 95 % interval of :func:`summarize`."""


def bootstrap_interval(stat: Callable[[np.ndarray], float | None], groups: Sequence[Hashable | None], *,
                       samples: int = BOOTSTRAP_SAMPLES, seed: int = 0, level: float = 0.95) -> list[float] | None:
    """Percentile ``level`` interval of ``stat(indices)`` over bootstrap resamples of whole groups.

    The cases of one group (a question with its gold and its swapped answer) are drawn together, so the
    interval reflects how many independent questions the figure rests on, not how many rows. ``stat`` gets
    the case indices of one resample (with repeats) and may return ``None`` (undefined on that resample);
    the interval is ``None`` when more than half the resamples are undefined. Seeded: the same cases give the
    same interval.
    """
    codes = _group_codes(groups)
    lone = codes < 0
    codes = codes.copy()
    codes[lone] = codes.max(initial=-1) + 1 + np.arange(int(lone.sum()))
    n = codes.shape[0]
    if n == 0 or samples <= 0:
        return None
    order = np.argsort(codes, kind="stable")
    sizes = np.bincount(codes)
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(samples):
        pick = rng.integers(0, sizes.shape[0], sizes.shape[0])
        lens = sizes[pick]
        offsets = np.arange(int(lens.sum())) - np.repeat(np.cumsum(lens) - lens, lens)
        v = stat(order[np.repeat(starts[pick], lens) + offsets])
        if v is not None:
            values.append(v)
    if len(values) * 2 < samples:
        return None
    tail = (1.0 - level) / 2.0
    lo, hi = np.quantile(np.asarray(values, dtype=np.float64), [tail, 1.0 - tail])
    return [float(lo), float(hi)]


def _auroc_stat(scores: np.ndarray, labels: np.ndarray, mask: np.ndarray) -> Callable[[np.ndarray], float | None]:
    def stat(idx: np.ndarray) -> float | None:
        keep = idx[mask[idx]]
        return auroc(scores[keep], labels[keep])

    return stat


# ------------------------------------------------------------------------------------------------ summary


def word_count(text: str | None) -> int:
    """Number of whitespace-separated words (0 for ``None``)."""
    return len(text.split()) if text else 0


def short_mask(answers: Sequence[str | None], groups: Sequence[Hashable | None],
               words: int = SHORT_ANSWER_WORDS) -> np.ndarray:
    """Rows kept by the length control: the answer has at most ``words`` words and so does every other answer
    of its group (a HaluEval row counts only when *both* answers are short, otherwise the kept wrong answers
    would be exactly the ones that happen to be short)."""
    short = np.fromiter((word_count(a) <= words for a in answers), dtype=bool, count=len(answers))
    codes = _group_codes(groups)
    grouped = codes >= 0
    if grouped.any():
        all_short = np.ones(int(codes.max()) + 1, dtype=bool)
        np.logical_and.at(all_short, codes[grouped], short[grouped])
        short[grouped] = all_short[codes[grouped]]
    return short


def _stratum_masks(coverage: Sequence[str]) -> dict[str, np.ndarray]:
    cov = np.asarray(coverage, dtype=object)
    unknown = sorted({str(c) for c in cov} - set(STRATA))
    if unknown:
        raise ConfigError(f"coverage {unknown[0]!r} is not one of {', '.join(STRATA)}")
    masks = {name: cov == name for name in STRATA}
    for name, parts in STRATUM_UNIONS.items():
        masks[name] = np.logical_or.reduce([masks[p] for p in parts])
    return masks


def _rank_metrics(scores: np.ndarray, labels: np.ndarray, groups: list, mask: np.ndarray) -> dict:
    idx = np.flatnonzero(mask)
    return {
        "auroc": auroc(scores[idx], labels[idx]),
        "pairwise_accuracy": pairwise_accuracy(scores[idx], labels[idx], [groups[i] for i in idx]),
    }


def _percentiles(values: Sequence[float | None]) -> dict:
    v = np.asarray([x for x in values if x is not None], dtype=np.float64)
    if v.size == 0:
        return {"p50": None, "p95": None}
    return {"p50": float(np.percentile(v, 50)), "p95": float(np.percentile(v, 95))}


def _column(cases: list[Mapping], key: str) -> list:
    try:
        return [c[key] for c in cases]
    except KeyError:
        i = next(i for i, c in enumerate(cases) if key not in c)
        raise ConfigError(f"case {i} has no {key!r}: every case needs it (or leave {key!r} out of baselines)")


def summarize(cases: list[dict], *, baselines: Sequence[str] = ("length", "popularity", "quco_binary"),
              bootstrap: int = BOOTSTRAP_SAMPLES, short_words: int = SHORT_ANSWER_WORDS) -> dict:
    """Everything ``quco eval --json`` reports for scored cases (see the module docstring for the fields).

    Each case needs ``score``, ``label``, ``coverage``, ``decision``, ``group``, ``answer``, ``latency_ms``
    (may be ``None``) and one score per name in ``baselines``. Returns::

        {"n", "auroc", "pairwise_accuracy",
         "strata": {stratum: {"n", "fraction", "auroc", "pairwise_accuracy", "shortfall"}},
         "gate": {"pass_rate", "error_among_passed", "base_error"},
         "baselines": {name: {"auroc", "pairwise_accuracy", "strata": {stratum: {"auroc", "pairwise_accuracy"}}}},
         "length_control": {"words", "n_short", "auroc_short", "auroc_length", "baselines_short": {name: auroc}},
         "latency_ms": {"p50", "p95"}}

    plus 95 % intervals (:func:`bootstrap_interval` over questions, ``bootstrap`` resamples; 0 turns them
    off): ``auroc_ci95`` overall and per stratum, ``gate.error_among_passed_ci95``, ``gate.n_passed``. Every
    threshold of the gate was chosen on the dev files it is usually run on: the intervals show sampling noise,
    not the optimism of in-sample tuning.

    where stratum runs over :data:`STRATA` and ``known+sparse``. A stratum's pairwise accuracy counts only the
    pairs whose two cases both fall in that stratum (a pair split across strata counts in neither, but it
    does count overall). ``fraction`` is the stratum's share of all cases; over :data:`STRATA` they sum to 1.
    ``shortfall`` (when the cases carry an ``evidence`` kind, as :func:`quco.evaluation.evaluate.score_cases`
    gives them): the stratum's largest :data:`SHORTFALL_TOP` shares of ``1 - auroc`` by the evidence of the right
    and the wrong case ordered the wrong way (:func:`auroc_shortfall`), keyed "right K vs wrong K'".
    ``auroc_short`` is our AUROC on the short rows of :func:`short_mask`; ``auroc_length`` is the AUROC of
    the answer's word count on all rows, the score a pure length artifact would get.
    Metrics undefined on the rows at hand (one class only, no pairs) are ``None``.
    """
    n = len(cases)
    scores = _as_scores(_column(cases, "score"), "score")
    labels = _as_labels(_column(cases, "label"), n)
    groups = _column(cases, "group")
    answers = _column(cases, "answer")
    masks = _stratum_masks(_column(cases, "coverage"))
    kinds = _column(cases, "evidence") if all("evidence" in c for c in cases) else None
    everyone = np.ones(n, dtype=bool)

    everyone_mask = np.ones(n, dtype=bool)

    def ci(stat: Callable[[np.ndarray], float | None]) -> list[float] | None:
        return bootstrap_interval(stat, groups, samples=bootstrap) if bootstrap else None

    strata = {}
    for name, mask in masks.items():
        k = int(mask.sum())
        strata[name] = {"n": k, "fraction": k / n if n else None, **_rank_metrics(scores, labels, groups, mask),
                        "auroc_ci95": ci(_auroc_stat(scores, labels, mask)) if k else None}
        if kinds is not None and k:
            lost = auroc_shortfall(scores[mask], labels[mask], [kinds[i] for i in np.flatnonzero(mask)])
            strata[name]["shortfall"] = {f"right {r} vs wrong {w}": round(v, 4)
                                         for (r, w), v in list(lost.items())[:SHORTFALL_TOP]}

    short = short_mask(answers, groups, short_words)
    base_scores = {name: _as_scores(_column(cases, name), name) for name in baselines}
    base = {}
    for name, bs in base_scores.items():
        base[name] = {
            **_rank_metrics(bs, labels, groups, everyone),
            "strata": {s: _rank_metrics(bs, labels, groups, mask) for s, mask in masks.items()},
        }

    decisions = _column(cases, "decision")
    gate = gate_view(decisions, labels)
    passed = np.fromiter((d in PASSED_DECISIONS for d in decisions), dtype=bool, count=n)

    def error_among_passed(idx: np.ndarray) -> float | None:
        keep = idx[passed[idx]]
        return float(labels[keep].mean()) if keep.size else None

    lengths = np.fromiter((word_count(a) for a in answers), dtype=np.float64, count=n)
    return {
        "n": n,
        **_rank_metrics(scores, labels, groups, everyone),
        "auroc_ci95": ci(_auroc_stat(scores, labels, everyone_mask)),
        "strata": strata,
        "gate": {**{k: gate[k] for k in ("pass_rate", "error_among_passed", "base_error", "n_passed")},
                 "error_among_passed_ci95": ci(error_among_passed) if gate["n_passed"] else None},
        "baselines": base,
        "length_control": {
            "words": short_words,
            "n_short": int(short.sum()),
            "auroc_short": auroc(scores[short], labels[short]),
            "auroc_length": auroc(lengths, labels),
            "baselines_short": {name: auroc(bs[short], labels[short]) for name, bs in base_scores.items()},
        },
        "latency_ms": _percentiles(_column(cases, "latency_ms")),
    }
