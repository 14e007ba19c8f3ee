"""Metrics of ``quco eval`` and its HTML report, on small hand-made inputs with answers computed by hand."""
from __future__ import annotations

import itertools
import sys
from html.parser import HTMLParser

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quco.errors import ConfigError
from quco.evaluation.html_report import highlight, render_blends_html, render_html, render_modes_html
from quco.evaluation.metrics import (
    STRATA,
    auroc,
    auroc_shortfall,
    gate_view,
    pairwise_accuracy,
    roc_curve,
    short_mask,
    summarize,
)

# ------------------------------------------------------------------------------------- brute-force references


def brute_auroc(scores, labels):
    pos = [s for s, y in zip(scores, labels) if y == 1]
    neg = [s for s, y in zip(scores, labels) if y == 0]
    if not pos or not neg:
        return None
    wins = sum(1.0 if p > q else 0.5 if p == q else 0.0 for p, q in itertools.product(pos, neg))
    return wins / (len(pos) * len(neg))


def brute_pairwise(scores, labels, groups):
    total = pairs = 0.0
    for i, j in itertools.product(range(len(scores)), repeat=2):
        if groups[i] is None or groups[i] != groups[j] or labels[i] != 1 or labels[j] != 0:
            continue
        pairs += 1
        total += 1.0 if scores[i] > scores[j] else 0.5 if scores[i] == scores[j] else 0.0
    return total / pairs if pairs else None


scored = st.lists(st.tuples(st.integers(-3, 3), st.integers(0, 1)), max_size=40)


# ------------------------------------------------------------------------------------------------ auroc


def test_auroc_perfect_reversed_ties():
    assert auroc([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1]) == 1.0
    assert auroc([0.1, 0.2, 0.8, 0.9], [1, 1, 0, 0]) == 0.0
    assert auroc([0.5] * 6, [0, 1, 0, 1, 1, 0]) == 0.5
    # one tie among four pairs: (1 + 1 + 1 + 0.5) / 4
    assert auroc([1, 2, 3, 2], [0, 0, 1, 1]) == pytest.approx(0.875)


def test_auroc_undefined_with_one_class():
    assert auroc([1, 2, 3], [0, 0, 0]) is None
    assert auroc([1, 2], [1, 1]) is None
    assert auroc([], []) is None


@settings(max_examples=200, deadline=None)
@given(scored)
def test_auroc_matches_brute_force(rows):
    scores = [s for s, _ in rows]
    labels = [y for _, y in rows]
    expected = brute_auroc(scores, labels)
    got = auroc(scores, labels)
    assert (got is None) == (expected is None)
    if expected is not None:
        assert got == pytest.approx(expected)


def test_auroc_rejects_bad_input():
    with pytest.raises(ConfigError, match="NaN"):
        auroc([0.1, float("nan")], [0, 1])
    with pytest.raises(ConfigError, match="0 .right. or 1"):
        auroc([0.1, 0.2], [0, 2])
    with pytest.raises(ConfigError, match="labels"):
        auroc([0.1, 0.2], [0])


# -------------------------------------------------------------------------------------------- roc curve


def test_roc_curve_by_hand():
    # thresholds 4 -> {1}, 2 -> {0, 1} (tie), 1 -> {0}
    fpr, tpr = roc_curve([1, 2, 2, 4], [0, 1, 0, 1])
    assert fpr.tolist() == [0.0, 0.0, 0.5, 1.0]
    assert tpr.tolist() == [0.0, 0.5, 1.0, 1.0]


@settings(max_examples=200, deadline=None)
@given(scored)
def test_roc_curve_endpoints_monotone_and_area(rows):
    scores = [s for s, _ in rows]
    labels = [y for _, y in rows]
    if brute_auroc(scores, labels) is None:
        with pytest.raises(ConfigError):
            roc_curve(scores, labels)
        return
    fpr, tpr = roc_curve(scores, labels)
    assert (fpr[0], tpr[0]) == (0.0, 0.0)
    assert (fpr[-1], tpr[-1]) == (1.0, 1.0)
    assert (np.diff(fpr) >= 0).all() and (np.diff(tpr) >= 0).all()
    # one point per distinct score, plus the origin
    assert fpr.shape[0] == len(set(scores)) + 1
    area = float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))
    assert area == pytest.approx(brute_auroc(scores, labels))


# ------------------------------------------------------------------------------------ pairwise accuracy


def test_pairwise_accuracy_strict_ties_reversed():
    groups = ["a", "a", "b", "b"]
    assert pairwise_accuracy([0.9, 0.1, 0.8, 0.2], [1, 0, 1, 0], groups) == 1.0
    assert pairwise_accuracy([0.1, 0.9, 0.2, 0.8], [1, 0, 1, 0], groups) == 0.0
    assert pairwise_accuracy([0.5, 0.5, 0.9, 0.1], [1, 0, 1, 0], groups) == 0.75
    # pairs never cross groups: this is perfect inside each group although the scores interleave globally
    assert pairwise_accuracy([0.3, 0.2, 0.9, 0.8], [1, 0, 1, 0], groups) == 1.0
    assert auroc([0.3, 0.2, 0.9, 0.8], [1, 0, 1, 0]) == 0.75


def test_pairwise_accuracy_without_pairs():
    assert pairwise_accuracy([0.1, 0.2], [1, 0], [None, None]) is None
    assert pairwise_accuracy([0.1, 0.2], [1, 0], ["a", "b"]) is None
    assert pairwise_accuracy([0.1, 0.2], [1, 1], ["a", "a"]) is None


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(-2, 2), st.integers(0, 1), st.sampled_from([None, "a", "b", 3, 4])),
                max_size=40))
def test_pairwise_accuracy_matches_brute_force(rows):
    scores, labels, groups = ([r[k] for r in rows] for k in range(3))
    expected = brute_pairwise(scores, labels, groups)
    got = pairwise_accuracy(scores, labels, groups)
    assert (got is None) == (expected is None)
    if expected is not None:
        assert got == pytest.approx(expected)


# ------------------------------------------------------------------------------------------ auroc shortfall


def test_auroc_shortfall_by_hand():
    # right cases: 0.9 (kind a), 0.2 (kind b); wrong cases: 0.5 (kind a), 0.2 (kind b). Of the four pairs, right
    # a at 0.9 is above both wrong ones (1 + 1), right b at 0.2 ties wrong b (0.5): 2.5 / 4 lost.
    got = auroc_shortfall([0.9, 0.2, 0.5, 0.2], [0, 0, 1, 1], ["a", "b", "a", "b"])
    assert got == {("a", "a"): 0.25, ("a", "b"): 0.25, ("b", "b"): 0.125}
    assert list(got)[-1] == ("b", "b")  # largest first
    assert auroc_shortfall([0.1, 0.9], [0, 1], ["a", "a"]) == {}
    assert auroc_shortfall([0.1, 0.9], [0, 0], ["a", "b"]) == {}
    with pytest.raises(ConfigError, match="kinds"):
        auroc_shortfall([0.1, 0.2], [0, 1], ["a"])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(-2, 2), st.integers(0, 1), st.sampled_from(["x", "y", 3, ("z", 1)])),
                max_size=40))
def test_auroc_shortfall_matches_brute_force(rows):
    scores, labels, kinds = ([r[k] for r in rows] for k in range(3))
    expected: dict = {}
    right = [(s, k) for s, y, k in rows if y == 0]
    wrong = [(s, k) for s, y, k in rows if y == 1]
    for (sr, kr), (sw, kw) in itertools.product(right, wrong):
        lost = 1.0 if sr > sw else 0.5 if sr == sw else 0.0
        if lost:
            expected[(kr, kw)] = expected.get((kr, kw), 0.0) + lost / (len(right) * len(wrong))
    got = auroc_shortfall(scores, labels, kinds)
    assert got.keys() == expected.keys()
    for key, value in expected.items():
        assert got[key] == pytest.approx(value)
    area = auroc(scores, labels)
    if area is not None:
        assert sum(got.values()) == pytest.approx(1 - area)


# -------------------------------------------------------------------------------------------- gate view


def test_gate_view_by_hand():
    decisions = ["pass", "pass", "flag", "sanctioned_blend", "block", "pass"]
    labels = [0, 1, 1, 0, 1, 0]
    view = gate_view(decisions, labels)
    assert view["n_passed"] == 4
    assert view["pass_rate"] == pytest.approx(4 / 6)
    assert view["error_among_passed"] == pytest.approx(1 / 4)
    assert view["base_error"] == pytest.approx(3 / 6)


def test_gate_view_nothing_passed():
    view = gate_view(["flag", "block"], [0, 1])
    assert view == {"pass_rate": 0.0, "error_among_passed": None, "base_error": 0.5, "n_passed": 0}


# ------------------------------------------------------------------------------------------- summarize


def _case(score, label, coverage, group, answer, decision="flag", latency=1.0):
    return {"score": score, "label": label, "coverage": coverage, "group": group, "answer": answer,
            "decision": decision, "latency_ms": latency, "question": f"Question of {group}?",
            "length": -score, "popularity": 0.0, "quco_binary": float(score > 0.45)}


def hand_cases():
    """Ten cases in six groups; the expected figures in the tests below were worked out by hand."""
    return [
        _case(0.9, 1, "known", "g1", "a long hallucinated sentence about things"),  # 6 words
        _case(0.1, 0, "known", "g1", "Delhi", "pass"),
        _case(0.2, 1, "known", "g2", "Mumbai", "pass"),
        _case(0.4, 0, "known", "g2", "New Delhi", "pass"),
        _case(0.5, 1, "sparse", "g3", "x y z"),
        _case(0.5, 0, "sparse", "g3", "Paris", "sanctioned_blend"),
        _case(0.6, 1, "sparse", "g5", "one two three four five"),  # pair split across sparse/unknown
        _case(0.35, 0, "unknown", "g5", "Rome", "pass"),
        _case(0.3, 1, "unknown", "g6", "A", "pass"),
        _case(0.3, 0, "unknown", "g6", "B", "block"),
    ]


def test_summarize_overall_and_strata():
    cases = hand_cases()
    for i, c in enumerate(cases):
        c["latency_ms"] = float(i + 1)
    out = summarize(cases)
    assert out["n"] == 10
    assert out["auroc"] == pytest.approx(17 / 25)
    assert out["pairwise_accuracy"] == pytest.approx(3 / 5)
    strata = out["strata"]
    assert set(strata) == {*STRATA, "known+sparse"}
    assert {k: strata[k]["n"] for k in strata} == {"known": 4, "sparse": 3, "unknown": 3, "known+sparse": 7}
    assert sum(strata[k]["fraction"] for k in STRATA) == pytest.approx(1.0)
    assert strata["known+sparse"]["fraction"] == pytest.approx(0.7)
    assert strata["known"]["auroc"] == pytest.approx(3 / 4)
    assert strata["sparse"]["auroc"] == pytest.approx(3 / 4)
    assert strata["unknown"]["auroc"] == pytest.approx(1 / 4)
    assert strata["known+sparse"]["auroc"] == pytest.approx(9.5 / 12)
    # g5 is split across strata: it counts overall (above) but in no stratum
    assert strata["known"]["pairwise_accuracy"] == pytest.approx(1 / 2)
    assert strata["sparse"]["pairwise_accuracy"] == pytest.approx(1 / 2)
    assert strata["unknown"]["pairwise_accuracy"] == pytest.approx(1 / 2)
    assert strata["known+sparse"]["pairwise_accuracy"] == pytest.approx(1.5 / 3)
    gate = {k: out["gate"][k] for k in ("pass_rate", "error_among_passed", "base_error")}
    assert gate == pytest.approx({"pass_rate": 0.6, "error_among_passed": 2 / 6, "base_error": 0.5})
    assert out["gate"]["n_passed"] == 6
    assert out["latency_ms"] == pytest.approx({"p50": 5.5, "p95": 9.55})


def test_summarize_baselines():
    out = summarize(hand_cases())
    base = out["baselines"]
    assert set(base) == {"length", "popularity", "quco_binary"}
    # "length" here is minus our score: with ties counted half, AUROC(-s) = 1 - AUROC(s)
    assert base["length"]["auroc"] == pytest.approx(1 - 17 / 25)
    assert base["length"]["strata"]["unknown"]["auroc"] == pytest.approx(3 / 4)
    assert base["popularity"]["auroc"] == 0.5
    assert base["popularity"]["strata"]["known+sparse"]["pairwise_accuracy"] == 0.5
    # quco_binary = score > 0.45: wrong {1, 0, 1, 1, 0} vs right {0, 0, 1, 0, 0};
    # each wrong 1 beats four right 0s and ties one 1 (4.5), each wrong 0 ties four right 0s (2)
    assert base["quco_binary"]["auroc"] == pytest.approx((3 * 4.5 + 2 * 2) / 25)


def test_summarize_length_control():
    lc = summarize(hand_cases())["length_control"]
    # short groups: g2, g3, g6 (g1 and g5 each have an answer of more than four words)
    assert lc["n_short"] == 6
    assert lc["auroc_short"] == pytest.approx(3 / 9)
    assert lc["auroc_length"] == pytest.approx(19 / 25)
    assert lc["baselines_short"]["length"] == pytest.approx(6 / 9)


def test_short_mask_groups_and_singletons():
    answers = ["Paris", "It is the capital of France", "Rome", "a b c d", "a b c d e"]
    groups = ["q1", "q1", "q2", None, None]
    assert short_mask(answers, groups).tolist() == [False, False, True, True, False]


def test_summarize_errors():
    cases = hand_cases()
    cases[3]["coverage"] = "covered"
    with pytest.raises(ConfigError, match="covered"):
        summarize(cases)
    cases = hand_cases()
    del cases[2]["popularity"]
    with pytest.raises(ConfigError, match="case 2 has no 'popularity'"):
        summarize(cases)
    assert "popularity" not in summarize(cases, baselines=("length",))["baselines"]


def test_summarize_one_class_stratum_is_none():
    cases = [_case(0.1, 0, "known", None, "x"), _case(0.9, 1, "unknown", None, "y")]
    out = summarize(cases)
    assert out["auroc"] == 1.0
    assert out["strata"]["known"]["auroc"] is None
    assert out["strata"]["sparse"] == {"n": 0, "fraction": 0.0, "auroc": None, "pairwise_accuracy": None,
                                       "auroc_ci95": None}
    assert out["strata"]["known"]["auroc_ci95"] is None  # one class: undefined on every resample
    assert out["pairwise_accuracy"] is None


# ------------------------------------------------------------------------------------------------ HTML


class _TagBalance(HTMLParser):
    """Checks that every non-void element is closed in order."""

    VOID = {"meta", "br", "hr", "img", "input", "link", "col", "area", "base", "wbr"}

    def __init__(self):
        super().__init__()
        self.stack, self.errors, self.tags = [], [], set()

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"unexpected </{tag}> with open {self.stack[-3:]}")
        else:
            self.stack.pop()


def assert_balanced(page: str) -> set[str]:
    assert page.startswith("<!DOCTYPE html>")
    parser = _TagBalance()
    parser.feed(page)
    parser.close()
    assert parser.errors == [] and parser.stack == []
    return parser.tags


def test_highlight_spans_and_escaping():
    text = "Is <b>Paris</b> in France?"
    ents = [{"text": "Paris", "start": 6, "end": 11, "freq": 1234},
            {"text": "France", "start": 19, "end": 25, "freq": None},
            {"text": "bad", "start": 20, "end": 40}]  # out of range: skipped
    out = highlight(text, ents, unseen={"france"})
    assert out == ('Is &lt;b&gt;<mark class="ent">Paris<span class="freq">1,234</span></mark>&lt;/b&gt; in '
                   '<mark class="ent unseen">France<span class="freq">&ndash;</span></mark>?')


def test_render_html_page():
    pytest.importorskip("matplotlib")
    cases = hand_cases()
    cases[0]["answer"] = answer = "<script>alert('x')</script> Mumbai"
    at = answer.index("Mumbai")
    cases[0]["entities"] = [
        {"text": "Mumbai", "start": at, "end": at + 6, "source": "answer", "freq": 42},
        {"text": "g1", "start": 12, "end": 14, "source": "question", "freq": 7},
    ]
    cases[0]["pairs"] = [{"a": "g1", "b": "Mumbai", "cooccurrence": 0, "unseen": True}]
    out = render_html(summarize(cases), cases, title="eval <dev>", worst=5)
    tags = assert_balanced(out)
    assert {"svg", "table", "mark", "style"} <= tags
    assert "<script" not in out
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in out
    assert "<title>eval &lt;dev&gt;</title>" in out
    assert '<span class="pair unseen">g1 &times; Mumbai: 0</span>' in out
    assert 'Mumbai<span class="freq">42</span></mark>' in out
    # one plot per stratum with both classes: all, known, sparse, unknown, known+sparse
    assert out.count("<svg") == 5
    assert "http://" not in out.replace("http://www.w3.org", "")  # no external assets


def test_render_html_worst_examples_order():
    pytest.importorskip("matplotlib")
    cases = hand_cases()
    out = render_html(summarize(cases), cases, title="t", worst=1)
    wrong_section = out[out.index("Wrong answers with the lowest risk"):out.index("Right answers with the highest")]
    right_section = out[out.index("Right answers with the highest"):]
    assert "Mumbai" in wrong_section and "0.200" in wrong_section  # lowest-risk wrong answer
    assert "Paris" in right_section and "0.500" in right_section  # highest-risk right answer


def test_render_html_without_matplotlib(monkeypatch):
    for name in ("matplotlib", "matplotlib.figure"):
        monkeypatch.setitem(sys.modules, name, None)
    cases = hand_cases()
    with pytest.raises(ConfigError, match=r"pip install 'quco-gate\[report\]'"):
        render_html(summarize(cases), cases, title="t")


def test_render_blends_html():
    summary = {"auroc": 0.91, "kind_accuracy": 0.86, "seen_pass_rate": 1.0, "per_field": {"physics": 0.8}}
    rows = [
        {"a": "Jelly Roll Morton", "b": "Endospore", "kind": "cross_field", "predicted_kind": "cross_field",
         "distance": 0.93, "bridges": [{"text": "New Orleans", "score": 0.4}]},
        {"a": "<i>Alpine</i> skiing", "b": "Rugby", "kind": "near", "predicted_kind": "cross_field",
         "distance": 0.71, "bridges": ["Olympics"]},
    ]
    out = render_blends_html(summary, rows)
    assert_balanced(out)
    assert "&lt;i&gt;Alpine&lt;/i&gt; skiing" in out
    assert "per_field.physics" in out and "New Orleans" in out
    # the misjudged pair is listed first and shaded
    assert out.index("Alpine") < out.index("Jelly Roll Morton")
    assert out.count('<tr class="miss">') == 1


def test_render_modes_html():
    summary = {
        "n": 3,
        "routers": {"rules": {"balanced_accuracy": 0.8, "recall": {"factual": 0.9, "creative": 0.7},
                              "precision": {"creative": 0.75}}},
        "misrouted": {"rules": [{"id": "d1", "prompt": "Write a poem <about> rain", "label": "creative",
                                 "predicted": "factual"}]},
    }
    out = render_modes_html(summary)
    assert_balanced(out)
    assert "recall.creative" in out and "0.700" in out
    assert "Write a poem &lt;about&gt; rain" in out
    assert "Misrouted by rules (1)" in out


# ---- bootstrap intervals (#14, item 2) -------------------------------------------------------------------------
def test_bootstrap_resamples_whole_groups():
    from quco.evaluation.metrics import bootstrap_interval

    pairs = [g for g in range(50) for _ in range(2)]
    # every resample of 50 two-row groups has exactly 100 rows; rows drawn one by one would too, so also check that
    # a resample never splits a group: both rows of a drawn group come together
    def whole(idx):
        counts = np.bincount(np.asarray(pairs)[idx], minlength=50)
        return float(len(idx)) if all(c % 2 == 0 for c in counts) else None

    assert bootstrap_interval(whole, pairs, samples=200) == [100.0, 100.0]
    uneven = [0] * 10 + list(range(1, 11))  # one big group: resamples vary in size
    lo, hi = bootstrap_interval(lambda idx: float(len(idx)), uneven, samples=300)
    assert lo < 20 < hi or (lo <= 20 <= hi and lo < hi)


def test_bootstrap_interval_is_seeded_and_brackets_the_estimate():
    from quco.evaluation.metrics import bootstrap_interval

    rng = np.random.default_rng(1)
    labels = np.array([0, 1] * 200)
    scores = labels * 0.6 + rng.random(400)
    groups = [i // 2 for i in range(400)]
    stat = lambda idx: auroc(scores[idx], labels[idx])  # noqa: E731
    a = bootstrap_interval(stat, groups, samples=300, seed=3)
    assert a == bootstrap_interval(stat, groups, samples=300, seed=3)
    point = auroc(scores, labels)
    assert a[0] < point < a[1] and a[1] - a[0] < 0.15
    small = bootstrap_interval(lambda idx: auroc(scores[:40][idx], labels[:40][idx]), groups[:40], samples=300)
    assert small[1] - small[0] > a[1] - a[0]  # fewer questions, wider interval
    assert bootstrap_interval(lambda idx: None, groups, samples=50) is None


def test_summarize_reports_intervals_and_can_turn_them_off():
    cases = [{"score": float(i % 2) * 0.5 + (i % 7) / 10, "label": i % 2, "coverage": "known", "decision":
              "pass" if i % 3 else "retrieve", "group": i // 2, "answer": "x", "latency_ms": 1.0,
              "length": 1.0, "popularity": 0.0, "quco_binary": 0.0} for i in range(60)]
    out = summarize(cases, bootstrap=200)
    lo, hi = out["auroc_ci95"]
    assert lo <= out["auroc"] <= hi and out["strata"]["known"]["auroc_ci95"] == out["auroc_ci95"]
    lo, hi = out["gate"]["error_among_passed_ci95"]
    assert lo <= out["gate"]["error_among_passed"] <= hi
    assert out["strata"]["sparse"]["auroc_ci95"] is None  # an empty stratum has no interval
    off = summarize(cases, bootstrap=0)
    assert off["auroc_ci95"] is None and off["gate"]["error_among_passed_ci95"] is None
