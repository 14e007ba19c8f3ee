"""Training the model router's logistic head: Newton's method, stratified cross-validation, threshold choice.

Used by ``bench/train_router.py`` (which trains and saves the shipped head) and by ``quco eval --format modes``
(which reports out-of-fold figures); the runtime router (``quco.gate.router_model``) only loads and applies a head.
Everything is numpy: no scikit-learn.
"""
from __future__ import annotations

import numpy as np

from quco.errors import ConfigError
from quco.gate.router_model import LogisticHead, _sigmoid


def _newton_step(A: np.ndarray, curvature: np.ndarray, reg: np.ndarray, grad: np.ndarray) -> np.ndarray:
    """Solve ``(A^T diag(curvature) A + diag(reg)) step = grad`` in the smaller of the two spaces.

    With more columns than rows (a few prompts, 384 dimensions) the Woodbury identity turns the
    columns x columns system into a rows x rows one: ``H^-1 = R^-1 - R^-1 B^T (I + B R^-1 B^T)^-1 B R^-1``
    with ``B = diag(sqrt(curvature)) A``.
    """
    n, p = A.shape
    if p <= n:
        hess = (A * curvature[:, None]).T @ A
        hess[np.diag_indices(p)] += reg
        return np.linalg.solve(hess, grad)
    B = A * np.sqrt(curvature)[:, None]
    BR = B / reg
    M = BR @ B.T
    M[np.diag_indices(n)] += 1.0
    u = grad / reg
    return u - BR.T @ np.linalg.solve(M, B @ u)


def fit_head(
    X: np.ndarray, y: np.ndarray, l2: float = 1.0, balanced: bool = True, iterations: int = 50
) -> LogisticHead:
    """L2-regularized logistic regression by Newton's method (intercept not penalized).

    ``balanced`` weighs each class by ``n / (2 * n_class)`` so the rare class counts as much as the common one.
    """
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    n, d = X.shape
    if n == 0 or y.min() == y.max():
        raise ConfigError("the router head needs training rows of both classes")
    w = np.ones(n)
    if balanced:
        pos = y.sum()
        w = np.where(y == 1, n / (2.0 * pos), n / (2.0 * (n - pos)))
    A = np.hstack([X, np.ones((n, 1))])
    reg = np.full(d + 1, float(l2))
    reg[-1] = 1e-6  # the intercept is (almost) not penalized
    beta = np.zeros(d + 1)
    for _ in range(iterations):
        p = _sigmoid(A @ beta)
        grad = A.T @ (w * (p - y)) + reg * beta
        step = _newton_step(A, w * p * (1 - p), reg, grad)
        beta -= step
        if np.max(np.abs(step)) < 1e-7:
            break
    return LogisticHead(coef=beta[:-1].astype(np.float32), intercept=float(beta[-1]))


# ---------------------------------------------------------------------------------------------------------
# Cross-validation
# ---------------------------------------------------------------------------------------------------------


def stratified_folds(y: np.ndarray, k: int = 5, seed: int = 0) -> np.ndarray:
    """Fold number (0..k-1) per row, each class spread evenly over the folds after a seeded shuffle."""
    y = np.asarray(y)
    if k < 2:
        raise ConfigError(f"cross-validation needs at least 2 folds, not {k}")
    rng = np.random.default_rng(seed)
    folds = np.empty(len(y), dtype=np.int64)
    for cls in np.unique(y):
        idx = np.flatnonzero(y == cls)
        rng.shuffle(idx)
        folds[idx] = np.arange(len(idx)) % k
    return folds


def choose_threshold(p: np.ndarray, y: np.ndarray, min_precision: float = 0.75) -> float:
    """The threshold with the best creative recall among those keeping precision >= ``min_precision``
    (ties: the higher threshold); when none does, the threshold with the best balanced accuracy."""
    p = np.asarray(p, dtype=np.float64)
    y = np.asarray(y).astype(bool)
    order = np.argsort(-p, kind="stable")
    ps, ys = p[order], y[order]
    tp = np.cumsum(ys)
    fp = np.cumsum(~ys)
    last = np.r_[ps[1:] != ps[:-1], True]  # a threshold equal to ps[i] keeps rows 0..i (ties together)
    tp, fp, cut = tp[last], fp[last], ps[last]
    recall = tp / max(ys.sum(), 1)
    precision = tp / np.maximum(tp + fp, 1)
    ok = precision >= min_precision
    if ok.any():
        best = np.flatnonzero(ok & (recall == recall[ok].max()))[0]
    else:
        spec = 1.0 - fp / max((~ys).sum(), 1)
        best = int(np.argmax(recall + spec))
    return float(cut[best])


def cross_validated_predictions(
    X: np.ndarray,
    y: np.ndarray,
    k: int = 5,
    seed: int = 0,
    l2: float = 1.0,
    min_precision: float = 0.75,
) -> tuple[np.ndarray, np.ndarray]:
    """Out-of-fold probabilities and decisions of the head, with the threshold chosen without the test fold.

    For each of ``k`` stratified folds, the head is trained on the other folds; its threshold is chosen by an
    inner ``k``-fold cross-validation on those same training rows only (:func:`choose_threshold`), and then
    applied to the held-out fold. No row's prediction ever depends on its own label.
    """
    X = np.asarray(X)
    y = np.asarray(y).astype(int)
    outer = stratified_folds(y, k, seed)
    proba = np.zeros(len(y))
    pred = np.zeros(len(y), dtype=bool)
    for f in range(k):
        train, test = outer != f, outer == f
        Xt, yt = X[train], y[train]
        inner = stratified_folds(yt, k, seed + 1 + f)
        inner_p = np.zeros(len(yt))
        for g in range(k):
            head = fit_head(Xt[inner != g], yt[inner != g], l2=l2)
            inner_p[inner == g] = head.predict_proba(Xt[inner == g])
        threshold = choose_threshold(inner_p, yt, min_precision)
        head = fit_head(Xt, yt, l2=l2)
        proba[test] = head.predict_proba(X[test])
        pred[test] = proba[test] >= threshold
    return proba, pred


def _inner_choice(X: np.ndarray, y: np.ndarray, l2_grid: tuple[float, ...], k: int, seed: int,
                  min_precision: float) -> tuple[float, float]:
    """(l2, threshold) chosen on these rows only: each ``l2`` by the balanced accuracy of its ``k``-fold
    out-of-fold decisions (threshold by :func:`choose_threshold` on the same out-of-fold probabilities)."""
    folds = stratified_folds(y, k, seed)
    best = None
    for l2 in l2_grid:
        p = np.zeros(len(y))
        for g in range(k):
            p[folds == g] = fit_head(X[folds != g], y[folds != g], l2=l2).predict_proba(X[folds == g])
        t = choose_threshold(p, y, min_precision)
        pred = p >= t
        bacc = 0.5 * (pred[y == 1].mean() + (~pred[y == 0]).mean())
        if best is None or bacc > best[0] + 1e-12:
            best = (bacc, l2, t)
    return best[1], best[2]


def nested_cross_validated_predictions(
    X: np.ndarray,
    y: np.ndarray,
    k: int = 5,
    seed: int = 0,
    l2_grid: tuple[float, ...] = (0.1, 0.3, 1.0, 3.0),
    min_precision: float = 0.75,
) -> tuple[np.ndarray, np.ndarray, list[float]]:
    """Out-of-fold probabilities and decisions with *every* choice made inside the training folds.

    For each outer fold, the regularization ``l2`` (from ``l2_grid``) and the threshold are chosen by an inner
    ``k``-fold cross-validation on the outer training rows alone (:func:`_inner_choice`); the head is then fitted
    on those rows and applied to the held-out fold. Returns the probabilities, the decisions and the ``l2``
    chosen in each outer fold. Nothing about a held-out row, its label included, reaches its prediction.
    """
    X = np.asarray(X)
    y = np.asarray(y).astype(int)
    outer = stratified_folds(y, k, seed)
    proba = np.zeros(len(y))
    pred = np.zeros(len(y), dtype=bool)
    chosen = []
    for f in range(k):
        train, test = outer != f, outer == f
        l2, threshold = _inner_choice(X[train], y[train], l2_grid, k, seed + 1 + f, min_precision)
        chosen.append(l2)
        proba[test] = fit_head(X[train], y[train], l2=l2).predict_proba(X[test])
        pred[test] = proba[test] >= threshold
    return proba, pred, chosen
