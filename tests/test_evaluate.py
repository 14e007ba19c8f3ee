"""``quco eval`` internals: reading each dev-file format, and one end-to-end run with a known outcome.

The index is the hand-built one of ``test_assess`` (Einstein meets Ulm, Curie meets Warsaw, neither meets the
other's city; Zorblax Quint is never mentioned), so every score below follows from counts one can check by eye.
"""
from __future__ import annotations

import json

import pytest

from quco.errors import BadInputError, ConfigError
from quco.gate.assess import GateConfig
from quco.evaluation.evaluate import (ABLATION_COLUMNS, compare_configs, detect_format, evaluate_detection, load_cases,
                                read_rows)

from test_assess import ix  # noqa: F401  (the module-scoped index fixture)


def write_jsonl(path, rows) -> str:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
    return str(path)


SWAP = [
    {"id": "eq:P19:1:0", "question": "Where was Albert Einstein born?", "subject": "Albert Einstein", "answer": "Ulm",
     "label": 0},
    {"id": "eq:P19:1:1", "question": "Where was Albert Einstein born?", "subject": "Albert Einstein",
     "answer": "Warsaw", "label": 1},
    {"id": "eq:P19:2:0", "question": "Where was Marie Curie born?", "subject": "Marie Curie", "answer": "Ulm",
     "label": 1},
    {"id": "eq:P19:2:1", "question": "Where was Marie Curie born?", "subject": "Marie Curie", "answer": "Warsaw",
     "label": 0},
    {"id": "eq:P19:3:0", "question": "Where was Zorblax Quint born?", "subject": "Zorblax Quint", "answer": "Ulm",
     "label": 0},
    {"id": "eq:P19:3:1", "question": "Where was Zorblax Quint born?", "subject": "Zorblax Quint",
     "answer": "Warsaw", "label": 1},
]


# ---- reading ------------------------------------------------------------------------------------------------------
def test_load_swap_groups_the_rows_of_one_question(tmp_path):
    cases = load_cases(write_jsonl(tmp_path / "s.jsonl", SWAP), "swap")
    assert [c["group"] for c in cases] == ["eq:P19:1"] * 2 + ["eq:P19:2"] * 2 + ["eq:P19:3"] * 2
    assert [c["label"] for c in cases] == [0, 1, 1, 0, 0, 1]
    assert cases[0]["subject"] == "Albert Einstein" and cases[0]["answer"] == "Ulm"


def test_load_pairs_groups_by_question(tmp_path):
    rows = [{"question": "Q1?", "answer": "a", "label": 0}, {"question": "Q1?", "answer": "b", "label": 1},
            {"question": "Q2?", "answer": "c", "label": 1}]
    cases = load_cases(write_jsonl(tmp_path / "p.jsonl", rows), "pairs")
    assert [c["group"] for c in cases] == ["Q1?", "Q1?", "Q2?"] and cases[2]["subject"] is None


def test_halueval_gives_two_cases_per_row_and_drops_knowledge(tmp_path):
    rows = [{"id": 7, "question": "Q?", "right_answer": "Delhi", "hallucinated_answer": "It is in Mumbai.",
             "knowledge": {"not": ["even", "a", "string"]}},
            {"id": 8, "question": "R?", "right_answer": "Ulm", "hallucinated_answer": "Bern", "knowledge": None}]
    path = write_jsonl(tmp_path / "h.jsonl", rows)
    cases = load_cases(path, "halueval")
    assert [(c["answer"], c["label"], c["group"]) for c in cases] == [
        ("Delhi", 0, "halueval:7"), ("It is in Mumbai.", 1, "halueval:7"), ("Ulm", 0, "halueval:8"),
        ("Bern", 1, "halueval:8")]
    assert all("knowledge" not in c for c in cases)
    assert all("knowledge" not in row for _, row in read_rows(path))


def test_detect_format():
    assert detect_format({"right_answer": "a", "hallucinated_answer": "b", "question": "q"}) == "halueval"
    assert detect_format(SWAP[0]) == "swap"
    assert detect_format({"question": "q", "answer": "a", "label": 0}) == "pairs"
    assert detect_format({"a": "x", "b": "y", "kind": "near"}) == "blends"
    assert detect_format({"prompt": "p", "label": "creative"}) == "modes"
    with pytest.raises(ConfigError, match="--format"):
        detect_format({"text": "what is this"})


@pytest.mark.parametrize("line, message", [
    ("{not json", "not JSON"),
    ("[1, 2]", "JSON object"),
    (json.dumps({"question": "q", "answer": "a"}), "'label'"),
    (json.dumps({"question": "q", "answer": "a", "label": 2}), "0 or 1"),
    (json.dumps({"question": 5, "answer": "a", "label": 0}), "'question'"),
])
def test_bad_rows_say_which_line(tmp_path, line, message):
    path = write_jsonl(tmp_path / "bad.jsonl", [SWAP[0], line])
    with pytest.raises(BadInputError, match=message) as e:
        load_cases(path, "swap")
    assert ":2" in str(e.value) or "line 2" in str(e.value)


def test_limit_and_blank_lines(tmp_path):
    path = write_jsonl(tmp_path / "s.jsonl", [SWAP[0], "", "   ", SWAP[1], SWAP[2]])
    assert len(load_cases(path, "swap", limit=2)) == 2 and len(load_cases(path, "swap")) == 3


def test_not_a_detection_format(tmp_path):
    with pytest.raises(ConfigError):
        load_cases(write_jsonl(tmp_path / "s.jsonl", SWAP), "blends")


# ---- end to end ----------------------------------------------------------------------------------------------------
def test_evaluate_detection_on_a_tiny_swap_file(tmp_path, ix):  # noqa: F811
    summary, cases = evaluate_detection(write_jsonl(tmp_path / "s.jsonl", SWAP), ix)
    assert summary["format"] == "swap" and summary["n"] == 6
    by = {(c["group"], c["label"]): c for c in cases}
    # the two covered questions: the gold answer is supported, the swapped one never meets the subject
    for g in ("eq:P19:1", "eq:P19:2"):
        assert by[g, 0]["decision"] == "pass" and by[g, 0]["score"] < 0.5
        assert by[g, 1]["decision"] == "retrieve" and by[g, 1]["score"] == 1.0
        assert by[g, 0]["coverage"] == by[g, 1]["coverage"] == "known"
    # the uncovered one: no evidence either way, a tie
    assert by["eq:P19:3", 0]["coverage"] == "unknown" and by["eq:P19:3", 0]["score"] == by["eq:P19:3", 1]["score"]
    st = summary["strata"]
    assert st["known"]["fraction"] == pytest.approx(4 / 6) and st["unknown"]["fraction"] == pytest.approx(2 / 6)
    assert st["sparse"]["fraction"] == 0.0 and st["sparse"]["auroc"] is None
    assert st["known"]["auroc"] == 1.0 and st["known"]["pairwise_accuracy"] == 1.0
    assert st["unknown"]["auroc"] == 0.5 and st["unknown"]["pairwise_accuracy"] == 0.5
    assert summary["pairwise_accuracy"] == pytest.approx(2.5 / 3)
    # wrong scores {1, 1, t}, right scores {s1, s2, t} with s < t: 8 wins and one tie out of 9
    assert summary["auroc"] == pytest.approx(8.5 / 9)
    gate = {k: summary["gate"][k] for k in ("pass_rate", "error_among_passed", "base_error")}
    assert gate == {"pass_rate": pytest.approx(2 / 6), "error_among_passed": 0.0, "base_error": 0.5}
    base = summary["baselines"]
    assert base["quco_binary"]["strata"]["known"]["auroc"] == 1.0  # the unseen pairs are exactly the wrong ones
    assert base["length"]["auroc"] == pytest.approx(0.5)  # one word each: length says nothing
    assert summary["latency_ms"]["p50"] > 0 and summary["known_docs"] >= 1
    assert summary["config"]["association"] == "npmi"
    # where the AUROC falls short: nowhere on the known rows; on the unknown ones, the tie of the two answers
    # the corpus cannot check (its question's subject never mentioned)
    assert by["eq:P19:1", 0]["evidence"].startswith("seen") and by["eq:P19:1", 1]["evidence"].startswith("unseen")
    assert st["known"]["shortfall"] == {}
    kind = by["eq:P19:3", 0]["evidence"]
    assert kind == by["eq:P19:3", 1]["evidence"]
    assert st["unknown"]["shortfall"] == {f"right {kind} vs wrong {kind}": 0.5}


def test_withholding_the_subject_hint_changes_what_is_covered(tmp_path, ix):  # noqa: F811
    rows = [dict(r, question=r["question"].replace("Albert Einstein", "Albrecht Einstein")) for r in SWAP[:2]]
    path = write_jsonl(tmp_path / "s.jsonl", rows)
    with_hint, _ = evaluate_detection(path, ix, subject_hint=True)
    without, _ = evaluate_detection(path, ix)  # the default: what a user's call sees
    assert with_hint["subject_hint"] is True and without["subject_hint"] is False
    assert with_hint["strata"]["known"]["fraction"] == 1.0 and with_hint["auroc"] == 1.0
    assert without["strata"]["unknown"]["fraction"] == 1.0 and without["auroc"] == 0.5


def test_halueval_end_to_end_reports_the_length_control(tmp_path, ix):  # noqa: F811
    rows = [{"id": 1, "question": "Where was Albert Einstein born?", "right_answer": "Ulm",
             "hallucinated_answer": "Albert Einstein was born in the Polish capital Warsaw in 1879.",
             "knowledge": "never read"},
            {"id": 2, "question": "Where was Marie Curie born?", "right_answer": "Warsaw",
             "hallucinated_answer": "Ulm", "knowledge": "never read"}]
    summary, _ = evaluate_detection(write_jsonl(tmp_path / "h.jsonl", rows), ix)
    assert summary["format"] == "halueval" and summary["n"] == 4
    lc = summary["length_control"]
    assert lc["n_short"] == 2 and lc["auroc_short"] == 1.0  # row 2: both answers short, the wrong one unseen
    assert lc["auroc_length"] == pytest.approx(0.75)  # the long hallucination, and a one-word tie
    assert summary["auroc"] == 1.0


def test_compare_configs_runs_each_config_on_the_same_rows(tmp_path, ix):  # noqa: F811
    path = write_jsonl(tmp_path / "s.jsonl", SWAP)
    table = compare_configs(path, ix, {"default": GateConfig(), "binary": GateConfig(association="binary"),
                                       "no hint": (GateConfig(), False)})
    assert set(table) == {"default", "binary", "no hint"}
    assert all(set(ABLATION_COLUMNS) <= set(row) for row in table.values())
    assert table["default"]["known"] == table["binary"]["known"] == 1.0
    assert table["no hint"]["fraction_known"] == pytest.approx(4 / 6)  # the questions name their subjects


def test_headline_scoring_never_reads_the_gold_subject(tmp_path, ix):  # noqa: F811
    """#14 item 1: the default evaluation sees question, answer and mode only, like ``wrap`` and ``quco risk``;
    a row's ``subject`` (gold) changes nothing unless the hint is asked for."""
    lying = [dict(r, subject="Zorblax Quint") for r in SWAP]
    a, cases_a = evaluate_detection(write_jsonl(tmp_path / "a.jsonl", SWAP), ix, bootstrap=0)
    b, cases_b = evaluate_detection(write_jsonl(tmp_path / "b.jsonl", lying), ix, bootstrap=0)
    assert [c["score"] for c in cases_a] == [c["score"] for c in cases_b]
    assert [c["coverage"] for c in cases_a] == [c["coverage"] for c in cases_b]
    assert a["auroc"] == b["auroc"] and a["gate"] == b["gate"]
    hinted, _ = evaluate_detection(write_jsonl(tmp_path / "c.jsonl", lying), ix, subject_hint=True, bootstrap=0)
    assert hinted["strata"]["unknown"]["fraction"] == 1.0  # the hint is read only when asked for


def test_ablation_command_prints_one_markdown_row_per_variant(tmp_path, ix, capsys):  # noqa: F811
    """#14 item 4: the ablation table of docs/eval.md comes from a command in the repo."""
    from quco.evaluation import ablation

    path = write_jsonl(tmp_path / "s.jsonl", SWAP)
    assert ablation.main([path, "--index", str(ix.path), "--only", "default (hint-free)",
                          "association: binary (QuCo-RAG, count >= 1)"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("| variant | known |") and len(out) == 4
    assert out[2].startswith("| default (hint-free) | 1.000 (66.7%)")
    assert set(ablation.variants()) >= {"default (hint-free)", "with the gold subject as a hint"}


def test_blends_with_a_missing_field_name(tmp_path, ix):  # noqa: F811
    """#14 item 15: ``A | B - {None}`` bound as ``A | (B - {None})``: a row without ``field_a`` crashed the
    per-field table (sorting None with strings) or listed None as a field."""
    from quco.evaluation.evaluate import evaluate_blends

    rows = [{"a": "Albert Einstein", "b": "Warsaw", "kind": "cross_field", "field_b": "geography"},
            {"a": "Marie Curie", "b": "Ulm", "kind": "near", "field_a": "science", "field_b": "geography"}]
    summary, _ = evaluate_blends(write_jsonl(tmp_path / "b.jsonl", rows), ix)
    assert set(summary["per_field_auroc"]) == {"geography", "science"}


def test_eval_of_a_directory_gives_one_headline_row_per_file(tmp_path, ix):  # noqa: F811
    """``quco eval DIR --format pairs``: every .jsonl of the directory, one row each, pairs' length control at five
    words (a five-word answer counts as short, a six-word one does not), and no reading of ``id`` or ``gold``."""
    from click.testing import CliRunner

    from quco.cli.main import cli

    d = tmp_path / "realqa"
    d.mkdir()
    q = "Where was Albert Einstein born?"
    write_jsonl(d / "a_dev.jsonl", [
        {"id": "x:gpt4", "question": q, "answer": "In the city of Ulm", "label": 0, "gold": "Ulm"},
        {"id": "x:bing", "question": q, "answer": "He was born in Warsaw.", "label": 1, "gold": "Ulm"}])
    write_jsonl(d / "b_dev.jsonl", [
        {"question": "Where was Marie Curie born?", "answer": "She was born in Warsaw, Poland.", "label": 0},
        {"question": "Where was Marie Curie born?", "answer": "She was born in the city of Ulm.", "label": 1}])
    (d / "notes.txt").write_text("not a dev file")
    res = CliRunner().invoke(cli, ["eval", str(d), "--format", "pairs", "--index", str(ix.path), "--json",
                                   "--bootstrap", "0"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert [h["file"] for h in out["headline"]] == ["a_dev.jsonl", "b_dev.jsonl"]
    a, b = out["files"]
    assert a["length_control"]["words"] == 5 and a["length_control"]["n_short"] == 2
    assert b["length_control"]["n_short"] == 0  # "She was born in the city of Ulm." has eight words
    assert out["headline"][0]["auroc_checked"] == 1.0  # Warsaw never meets Einstein; Ulm does
    text = CliRunner().invoke(cli, ["eval", str(d), "--format", "pairs", "--index", str(ix.path), "--bootstrap", "0"])
    assert text.exit_code == 0 and "a_dev.jsonl" in text.output and "b_dev.jsonl" in text.output
    for bad, message in ((tmp_path, "no .jsonl dev file"), (tmp_path / "missing", "no such file")):
        res = CliRunner().invoke(cli, ["eval", str(bad), "--index", str(ix.path)])
        assert res.exit_code == 2 and message in res.output
