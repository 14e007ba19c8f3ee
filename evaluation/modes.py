"""Evaluation of factual/creative routers on labelled prompts (the logic behind ``quco eval --format modes``).

Rows are ``{"prompt": str, "label": "factual" | "creative", ...}`` (``shared/data/modes/modes_dev.jsonl``).
The classes are imbalanced (about 8% creative on dev), so the headline figure is balanced accuracy (the mean of
the two recalls), with creative recall and precision beside it; raw accuracy is reported but means little.

The ``"model"`` router is never scored with its shipped head, which was trained on dev: it is
**cross-validated** on the given rows (5-fold stratified; the head is retrained on each fold's training part,
its threshold chosen by an inner cross-validation on that part; embeddings are computed once). It is reported
only when the ``router`` extra is installed; otherwise it is listed under ``"skipped"``.
"""
from __future__ import annotations

import re
import time
from typing import Sequence

import numpy as np

from quco.errors import ConfigError
from quco.evaluation.train_router import nested_cross_validated_predictions, stratified_folds
from quco.gate.rules import CueGroup, RuleRouter
from quco.gate.router import MODES, get_router, model_extra_available, model_router
from quco.gate.router_model import head_features

MAX_MISROUTED = 50


def _check_rows(rows: Sequence[dict]) -> tuple[list[str], list[str]]:
    prompts, labels = [], []
    for i, row in enumerate(rows):
        prompt, label = row.get("prompt"), row.get("label")
        if not isinstance(prompt, str) or label not in MODES:
            raise ConfigError(
                f"row {i}: each row needs a str 'prompt' and a 'label' of factual or creative (got {label!r})"
            )
        prompts.append(prompt)
        labels.append(label)
    if not rows:
        raise ConfigError("evaluate_modes needs at least one labelled row")
    return prompts, labels


def metrics(labels: Sequence[str], predicted: Sequence[str]) -> dict:
    """Balanced accuracy, accuracy, per-class recall, creative precision and the confusion matrix
    (``confusion[true][predicted]``). A recall or precision with an empty denominator is ``None``."""
    confusion = {t: {p: 0 for p in MODES} for t in MODES}
    for t, p in zip(labels, predicted):
        confusion[t][p] += 1
    recall = {}
    for m in MODES:
        total = sum(confusion[m].values())
        recall[m] = confusion[m][m] / total if total else None
    called_creative = confusion["factual"]["creative"] + confusion["creative"]["creative"]
    precision = {"creative": confusion["creative"]["creative"] / called_creative if called_creative else None}
    present = [r for r in recall.values() if r is not None]
    n = len(labels)
    return {
        "balanced_accuracy": sum(present) / len(present) if present else None,
        "accuracy": sum(confusion[m][m] for m in MODES) / n if n else None,
        "recall": recall,
        "precision": precision,
        "confusion": confusion,
    }


def _report(prompts: list[str], labels: list[str], predicted: list[str], reasons: list[str]) -> dict:
    out = metrics(labels, predicted)
    out["misrouted"] = [
        {"prompt": p, "label": t, "predicted": q, "reason": r}
        for p, t, q, r in zip(prompts, labels, predicted, reasons)
        if t != q
    ][:MAX_MISROUTED]
    return out


def _evaluate_direct(name: str, prompts: list[str], labels: list[str]) -> dict:
    router = get_router(name)
    start = time.perf_counter()
    routes = [router(p) for p in prompts]
    seconds = time.perf_counter() - start
    out = _report(prompts, labels, [r.mode for r in routes], [r.reason for r in routes])
    out["ms_per_prompt"] = 1000.0 * seconds / len(prompts)
    return out


def _embed(router, prompts: list[str], progress=None, chunk: int = 32) -> np.ndarray:
    """The router's embeddings of ``prompts``, ``chunk`` at a time so that ``progress`` (tqdm-like) can follow."""
    if progress is not None:
        progress.set_description("embedding prompts (MiniLM)")
        progress.reset(total=len(prompts))
    parts = []
    for start in range(0, len(prompts), chunk):
        parts.append(router.embedder.encode(prompts[start:start + chunk]))
        if progress is not None:
            progress.update(len(parts[-1]))
    return np.concatenate(parts) if parts else router.embedder.encode([])


def _evaluate_model_cv(prompts: list[str], labels: list[str], folds: int, seed: int, progress=None) -> dict:

    router = model_router()
    y = np.array([label == "creative" for label in labels], dtype=int)
    if min(y.sum(), len(y) - y.sum()) < folds:
        raise ConfigError(f"cross-validating the model router needs at least {folds} rows of each label")
    start = time.perf_counter()
    X = head_features(_embed(router, prompts, progress), prompts, router.rules, router.cue_scale)
    embed_seconds = time.perf_counter() - start
    if progress is not None:
        progress.set_description("cross-validating the model head (nested)")
    meta = router.head.meta
    grid = tuple(float(v) for v in meta.get("l2_grid") or [meta.get("l2", 1.0)])
    proba, pred, _ = nested_cross_validated_predictions(
        X, y, k=folds, seed=seed, l2_grid=grid, min_precision=float(meta.get("min_precision", 0.75))
    )
    predicted = ["creative" if p else "factual" for p in pred]
    reasons = [f"cross-validated MiniLM head: p(creative) = {p:.3f}" for p in proba]
    out = _report(prompts, labels, predicted, reasons)
    out.update(
        cross_validated=True,
        folds=folds,
        ms_per_prompt=1000.0 * embed_seconds / len(prompts),
        note="head retrained per fold; l2 and threshold from an inner cross-validation on each training part",
    )
    return out


def leave_prompts_out_rules(prompts: list[str], labels: list[str], folds: int = 5, seed: int = 0) -> dict:
    """The rule router on prompts its cues could not have been written from.

    In each of ``folds`` stratified folds, every cue alternative that matches no prompt of its own mode outside
    the fold is dropped (nothing but the held-out prompts could have suggested it), and the reduced router routes
    the held-out fold. A cue the other prompts also use survives; one only a held-out prompt uses does not, so a
    cue written from one prompt cannot help that prompt. For cues written from principles (the present ones) the
    protocol is conservative: a principled alternative that happens to match one prompt is dropped too. Returns
    :func:`metrics` over the out-of-fold decisions, with ``alternatives_dropped`` (mean per fold, of
    ``alternatives``).
    """
    rules = RuleRouter()
    y = np.array([label == "creative" for label in labels], dtype=int)
    fold = stratified_folds(y, folds, seed)
    predicted: list[str] = [""] * len(prompts)
    dropped = []
    for f in range(folds):
        train = [(p, t) for p, t, g in zip(prompts, labels, fold) if g != f]
        keep = {a for cue in rules.cues for a in cue.alternatives
                if any(t == cue.mode and re.search(a, p, re.IGNORECASE) for p, t in train)}
        cues = tuple(c for c in (cue.restricted(keep) for cue in rules.cues) if c is not None)
        dropped.append(sum(len(c.alternatives) for c in rules.cues) - sum(len(c.alternatives) for c in cues))
        router = RuleRouter(cues) if cues else None
        for i in np.flatnonzero(fold == f):
            predicted[i] = router(prompts[i]).mode if router else "factual"
    out = metrics(labels, predicted)
    out.update(folds=folds, seed=seed, alternatives=sum(len(c.alternatives) for c in rules.cues),
               alternatives_dropped=float(np.mean(dropped)))
    return out


def alternative_matches(prompts: Sequence[str], labels: Sequence[str] | None = None,
                        cues: tuple[CueGroup, ...] | None = None) -> list[dict]:
    """Per cue alternative: ``group``, ``mode``, ``alternative`` (the regex), ``prompts`` (how many of ``prompts``
    it matches) and, with ``labels``, ``own_mode`` (how many of those have the group's mode). An alternative that
    matches exactly one prompt is the mark of a cue written from that prompt (``tests/test_router_cues.py``)."""
    out = []
    for cue in cues if cues is not None else RuleRouter().cues:
        for alt in cue.alternatives:
            rx = re.compile(alt, re.IGNORECASE)
            hits = [i for i, p in enumerate(prompts) if rx.search(p)]
            row = {"group": cue.name, "mode": cue.mode, "alternative": alt, "prompts": len(hits)}
            if labels is not None:
                row["own_mode"] = sum(1 for i in hits if labels[i] == cue.mode)
            out.append(row)
    return out


def evaluate_modes(
    rows: Sequence[dict], routers: Sequence[str] = ("rules", "model"), folds: int = 5, seed: int = 0,
    progress=None,
) -> dict:
    """Score each named router on ``rows``: ``{"n", "counts", "routers": {name: figures}, "skipped"}``.

    Figures per router: ``balanced_accuracy``, ``accuracy``, ``recall`` {factual, creative}, ``precision``
    {creative}, ``confusion`` (true -> predicted -> count), ``misrouted`` (the first 50, with the router's
    reason) and ``ms_per_prompt``. ``"model"`` is cross-validated (see the module docstring) and appears only
    when its extra is installed; any other registered router is applied as is. ``progress`` (a tqdm bar, or any
    object with ``set_description``, ``reset(total=)`` and ``update``) follows the model's embedding step.
    """
    prompts, labels = _check_rows(rows)
    result: dict = {
        "n": len(rows),
        "counts": {m: labels.count(m) for m in MODES},
        "routers": {},
        "skipped": {},
    }
    for name in routers:
        if name == "model":
            if not model_extra_available():
                result["skipped"]["model"] = "router extra not installed: pip install 'quco-gate[router]'"
                continue
            result["routers"]["model"] = _evaluate_model_cv(prompts, labels, folds, seed, progress)
        else:
            result["routers"][name] = _evaluate_direct(name, prompts, labels)
            if name == "rules" and min(labels.count(m) for m in MODES) >= folds:
                result["routers"]["rules"]["leave_prompts_out"] = leave_prompts_out_rules(prompts, labels, folds,
                                                                                          seed)
    return result
