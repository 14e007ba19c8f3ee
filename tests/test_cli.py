"""The command line under bad input: every failure is one line naming the file and line, exit code 2, no traceback.

Builds here use the gazetteer extractor with a given entity list and no NER sample, so that they take a fraction of
a second once the modules are imported; a few cases run the real ``python -m quco`` to show that what reaches the
terminal (stderr) is one clean line.
"""
from __future__ import annotations

import gzip
import json
import re
import os
import random
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard
from click.testing import CliRunner

from quco.cli.main import cli

NAMES = ["Ada Lovelace", "London", "Charles Babbage", "Paris", "Alan Turing", "Berlin", "Marie Curie", "Warsaw"]


def fast_build_args(names: Path, *extra: str) -> list[str]:
    """Options for a quick, NER-free build (the entity list is the gazetteer)."""
    return ["--extractor", "gazetteer", "--entities", str(names), "--harvest-sample", "0", "--no-retrieval", "-q",
            "--workers", "1", *extra]


def write_names(path: Path) -> Path:
    path.write_text("\n".join(NAMES) + "\n")
    return path


def jsonl_line(i: int, text: str | None = None) -> str:
    return json.dumps({"id": f"d{i}", "title": f"Doc {i}", "text": text or f"Ada Lovelace met Charles Babbage in "
                                                                          f"London, note {i}."}) + "\n"


def run(*args: str, env: dict | None = None, input: str | None = None):
    """Invoke the CLI in-process (stderr kept apart from stdout)."""
    return CliRunner().invoke(cli, list(args), env=env, input=input, catch_exceptions=False)


def run_quco(*args: str, timeout: float = 120, **kw) -> subprocess.CompletedProcess:
    """Run the real ``python -m quco`` in a fresh process."""
    return subprocess.run([sys.executable, "-m", "quco", *args], capture_output=True, text=True, timeout=timeout,
                          **kw)


def assert_one_line_error(stderr: str, *fragments: str) -> str:
    """stderr is exactly one ``Error: ...`` line containing every fragment, and no traceback."""
    assert "Traceback" not in stderr
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and re.match(r"Error( \[E\d{3}\])?: ", lines[0]), stderr
    for f in fragments:
        assert f in lines[0], (f, lines[0])
    return lines[0]


# ------------------------------------------------------------------------------------------------ bad corpora
# Each case writes one bad file and says what the message must contain (the file name, where, and why).


def _binary(d: Path):
    p = d / "blob.jsonl"
    p.write_bytes(jsonl_line(0).encode() + bytes(range(256)) * 8)
    return p, [":2:", "binary data"]


def _big_jsonl_bytes(n: int = 20_000) -> tuple[bytes, int]:
    """~7 MB of JSONL that compresses poorly, so a cut lands past the format sniffing."""
    rng = random.Random(0)
    text = "".join(jsonl_line(i, " ".join(f"{rng.getrandbits(40):x}" for _ in range(30))) for i in range(n))
    return text.encode(), n


def _truncated(d: Path, codec: str):
    raw, _ = _big_jsonl_bytes()
    data = gzip.compress(raw, 1) if codec == "gzip" else zstandard.compress(raw, 1)
    p = d / f"cut.jsonl.{'gz' if codec == 'gzip' else 'zst'}"
    p.write_bytes(data[: len(data) * 3 // 4])
    return p, [f"truncated or corrupt {codec} stream", ":1"]  # ":1xxxx:": a line number past the first MB


def _invalid_utf8(d: Path):
    p = d / "latin1.jsonl"
    p.write_bytes((jsonl_line(0) + jsonl_line(1)).encode() + b'{"text": "caf\xe9 in Paris"}\n')
    return p, [":3:", "invalid UTF-8"]


def _not_json(d: Path):
    p = d / "broken.jsonl"
    p.write_text(jsonl_line(0) + '{"text": "Ada Lovelace", \n' + jsonl_line(2))
    return p, [":2:", "not valid JSON"]


def _no_text_field(d: Path):
    p = d / "fields.jsonl"
    p.write_text(jsonl_line(0) + json.dumps({"body": "Ada Lovelace in London"}) + "\n")
    return p, [":2:", "no 'text' field", "body"]


def _parquet_without_text(d: Path):
    p = d / "table.parquet"
    pq.write_table(pa.table({"body": ["Ada Lovelace in London"], "id": ["x"]}), p)
    return p, ["no column 'text'", "body"]


def _empty(d: Path):
    p = d / "empty.jsonl"
    p.write_bytes(b"")
    return p, ["empty file"]


def _enormous_bad_line(d: Path):
    """A 5 MB JSON line that never closes its string: the message still names line 2, quickly."""
    p = d / "huge.jsonl"
    p.write_text(jsonl_line(0) + '{"text": "' + "London Paris " * 400_000 + "\n" + jsonl_line(2))
    return p, [":2:", "not valid JSON"]


def _truncated_wikiextractor(d: Path):
    p = d / "wiki_00"
    p.write_text('<doc id="1" url="u" title="Ada Lovelace">\nAda Lovelace\n\nShe lived in London.\n</doc>\n'
                 '<doc id="2" url="u" title="Paris">\nParis\n\nParis is a city.\n')
    return p, [":6:", "truncated document"]  # the line of the unclosed <doc>


BAD = {
    "binary": _binary,
    "truncated-gz": lambda d: _truncated(d, "gzip"),
    "truncated-zst": lambda d: _truncated(d, "zstd"),
    "invalid-utf8": _invalid_utf8,
    "not-json": _not_json,
    "no-text-field": _no_text_field,
    "parquet-without-text": _parquet_without_text,
    "empty": _empty,
    "enormous-bad-line": _enormous_bad_line,
    "truncated-wikiextractor": _truncated_wikiextractor,
}


@pytest.fixture(scope="module")
def names(tmp_path_factory) -> Path:
    return write_names(tmp_path_factory.mktemp("names") / "names.txt")


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_exits_2_with_one_line_naming_file_and_line(tmp_path, names, case):
    bad, fragments = BAD[case](tmp_path)
    out = tmp_path / "idx"
    r = run("build", str(bad), "--out", str(out), *fast_build_args(names))
    assert r.exit_code == 2
    assert_one_line_error(r.stderr, str(bad), *fragments)
    assert r.stdout == ""
    assert not out.exists() and not (tmp_path / ".idx.building" / "index").exists()


@pytest.mark.parametrize("case", ["binary", "truncated-zst", "not-json", "parquet-without-text"])
def test_bad_input_through_the_real_executable(tmp_path, names, case):
    bad, fragments = BAD[case](tmp_path)
    r = run_quco("build", str(bad), "--out", str(tmp_path / "idx"), *fast_build_args(names))
    assert r.returncode == 2
    assert_one_line_error(r.stderr, str(bad), *fragments)
    assert "Traceback" not in r.stdout


def test_bad_input_in_spacy_and_multiprocess_builds(tmp_path):
    """The default (spaCy) extractor and worker processes report the same clean error."""
    bad, fragments = _not_json(tmp_path)
    for workers in ("1", "2"):
        r = run("build", str(bad), "--out", str(tmp_path / f"idx{workers}"), "--extractor", "spacy", "--workers",
                workers, "--no-retrieval", "-q")
        assert r.exit_code == 2
        assert_one_line_error(r.stderr, str(bad), *fragments)


def _good_lines(n: int, start: int = 0) -> str:
    return "".join(jsonl_line(i) for i in range(start, start + n))


def test_skip_mode_records_every_rejected_record(tmp_path, names):
    """--on-bad-record skip: the build succeeds, every rejected record is in rejects.jsonl and counted."""
    d = tmp_path / "corpus"
    d.mkdir()
    (d / "a_good.jsonl").write_text(_good_lines(30))
    # record-level problems: the other lines of the file are kept
    (d / "b_mixed.jsonl").write_text(_good_lines(5, 100) + "{oops\n" + _good_lines(5, 200)
                                     + json.dumps({"body": "x"}) + "\n" + "[1, 2]\n" + _good_lines(5, 300))
    # file-level problems: what came before stays, the rest of the file is one reject
    (d / "c_latin1.jsonl").write_bytes(b'{"text": "caf\xe9"}\n' + _good_lines(3, 500).encode())
    (d / "d_blob.jsonl").write_bytes(bytes(range(256)))
    (d / "e_empty.jsonl").write_bytes(b"")
    pq.write_table(pa.table({"body": ["x"]}), d / "f_table.parquet")
    zst = zstandard.compress(_good_lines(50, 600).encode())
    (d / "g_cut.jsonl.zst").write_bytes(zst[: len(zst) * 3 // 4])  # small: the cut is found before any line
    out = tmp_path / "idx"
    r = run("build", str(d), "--out", str(out), "--on-bad-record", "skip", "--json", *fast_build_args(names))
    assert r.exit_code == 0, r.output
    assert "Traceback" not in r.output
    manifest = json.loads(r.stdout)
    rejects = [json.loads(ln) for ln in (out / "rejects.jsonl").read_text().splitlines()]
    got = sorted((Path(x["file"]).name, x["line"], x["reason"]) for x in rejects)
    want = sorted([
        ("b_mixed.jsonl", 6, "not valid JSON"),
        ("b_mixed.jsonl", 12, "no 'text' field"),
        ("b_mixed.jsonl", 13, "not a JSON object"),
        ("c_latin1.jsonl", 1, "invalid UTF-8 at byte 14 of the line"),
        ("d_blob.jsonl", 1, "binary data"),
        ("e_empty.jsonl", None, "empty file"),
        ("f_table.parquet", None, "no column 'text'"),
        ("g_cut.jsonl.zst", None, "truncated or corrupt zstd stream"),
    ])
    assert [(f, ln) for f, ln, _ in got] == [(f, ln) for f, ln, _ in want]
    for (_, _, reason), (_, _, fragment) in zip(got, want):
        assert reason.startswith(fragment), (reason, fragment)
    assert all(set(x) >= {"file", "line", "reason"} for x in rejects)
    assert manifest["stats"]["rejects"] == len(rejects) == 8
    # every good record was indexed
    assert manifest["stats"]["documents"] == 30 + 15
    assert "rejects.jsonl" in manifest["artifacts"]
    human = run("build", str(d), "--out", str(tmp_path / "idx2"), "--on-bad-record", "skip", *fast_build_args(names))
    assert human.exit_code == 0 and "8 rejected records in rejects.jsonl" in human.stdout


@pytest.mark.parametrize("bad_line", [b'{"text": "caf\xe9"}\n', b"\x00\x01\n"], ids=["invalid-utf8", "nul-byte"])
def test_skip_mode_keeps_the_good_lines_before_a_file_level_problem(tmp_path, bad_line):
    from quco.index_builder.readers import read_documents

    p = tmp_path / "c.jsonl"
    p.write_bytes(_good_lines(4).encode() + bad_line + _good_lines(3, 10).encode())
    rejects: list[dict] = []
    docs = list(read_documents(p, on_bad_record="skip", rejects=rejects.append))
    assert [r["line"] for r in rejects] == [5]
    assert [d.doc_id for d in docs] == ["d0", "d1", "d2", "d3"]


def test_one_enormous_line_document_is_indexed(tmp_path, names):
    """A 4 MB document on one line (no newline at all) is split into paragraphs and indexed, not rejected."""
    p = tmp_path / "oneline.jsonl"
    words = ("Ada Lovelace wrote to Charles Babbage from London " + "filler " * 200) * 2_000
    p.write_text(json.dumps({"id": "big", "text": words}))  # no trailing newline either
    out = tmp_path / "idx"
    r = run("build", str(p), "--out", str(out), "--json", *fast_build_args(names))
    assert r.exit_code == 0, r.output
    s = json.loads(r.stdout)["stats"]
    assert s["documents"] == 1 and s["rejects"] == 0 and s["tokens"] == len(words.split())
    c = json.loads(run("count", "Ada Lovelace", "London", "--index", str(out), "--json").stdout)
    assert c["a"]["freq"] == 1 and c["cooccurrence"] == 1


# ------------------------------------------------------------------------------------------------ CLI surface


def _commands() -> list[str]:
    return sorted(cli.commands)


def test_every_command_has_help():
    top = run("--help")
    assert top.exit_code == 0
    for name in _commands():
        assert name in top.stdout
        r = run(name, "--help")
        assert r.exit_code == 0, name
        assert r.stdout.startswith(f"Usage: cli {name}") or r.stdout.startswith(f"Usage: quco {name}"), r.stdout
        doc = " ".join((cli.commands[name].help or "").split()[:6])
        assert doc and doc in " ".join(r.stdout.split()), name
        for param in cli.commands[name].params:
            if getattr(param, "help", None) is None and param.param_type_name == "option" and param.name != "help":
                pytest.fail(f"quco {name} {param.opts[0]} has no help text")


@pytest.mark.parametrize("name", _commands())
def test_wrong_flag_is_a_usage_error(name):
    r = run(name, "--no-such-flag")
    assert r.exit_code == 2
    assert r.stderr.startswith("Usage: ") and "No such option" in r.stderr and "--no-such-flag" in r.stderr
    assert "Traceback" not in r.output


def test_wrong_flag_through_the_real_executable():
    r = run_quco("count", "a", "b", "--no-such-flag")
    assert r.returncode == 2 and "Usage: quco count" in r.stderr and "No such option" in r.stderr
    assert "Traceback" not in r.stderr


def test_version():
    from quco import __version__

    assert run("--version").stdout.strip().endswith(__version__)


# ------------------------------------------------------------------------------------------------ index errors


@pytest.mark.parametrize("argv", [["count", "a", "b"], ["stats"], ["neighbors", "a"], ["risk", "-q", "Who?"],
                                  ["verify"]])
def test_missing_index_says_how_to_build_one(tmp_path, argv):
    missing = tmp_path / "nowhere"
    r = run(*argv, "--index", str(missing))
    assert r.exit_code == 2
    assert_one_line_error(r.stderr, f"no index at {missing}", "quco build", f"--out {missing}")
    # the same through $QUCO_INDEX, for every command (verify included: #14, item 17)
    r = run(*argv, env={"QUCO_INDEX": str(missing)})
    assert r.exit_code == 2
    assert_one_line_error(r.stderr, f"no index at {missing}")


def test_directory_that_is_not_an_index(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "notes.txt").write_text("hello")
    r = run("count", "a", "b", "--index", str(tmp_path / "docs"))
    assert r.exit_code == 2 and "no index at" in r.stderr


def test_build_refuses_to_replace_a_directory_that_is_not_an_index(tmp_path, names):
    corpus = tmp_path / "c.jsonl"
    corpus.write_text(_good_lines(3))
    docs = tmp_path / "my_documents"
    docs.mkdir()
    (docs / "thesis.tex").write_text("precious")
    r = run("build", str(corpus), "--out", str(docs), *fast_build_args(names))
    assert r.exit_code == 2
    assert_one_line_error(r.stderr, str(docs), "not a quco index")
    assert (docs / "thesis.tex").read_text() == "precious"
    f = tmp_path / "a_file"
    f.write_text("x")
    r = run("build", str(corpus), "--out", str(f), *fast_build_args(names))
    assert r.exit_code == 2 and f.read_text() == "x"


def test_os_errors_are_one_line(tmp_path, names):
    corpus = tmp_path / "c.jsonl"
    corpus.write_text(_good_lines(3))
    blocker = tmp_path / "file"
    blocker.write_text("x")
    r = run("build", str(corpus), "--out", str(blocker / "sub" / "idx"), *fast_build_args(names))
    assert r.exit_code == 2
    assert_one_line_error(r.stderr, str(blocker))


def test_missing_input_file(tmp_path, names):
    r = run("build", str(tmp_path / "nope.jsonl"), "--out", str(tmp_path / "idx"), *fast_build_args(names))
    assert r.exit_code == 2
    assert_one_line_error(r.stderr, "nope.jsonl")


# ------------------------------------------------------------------------------------------------ odd queries


@pytest.fixture(scope="module")
def small_index(tmp_path_factory, names) -> Path:
    d = tmp_path_factory.mktemp("small")
    corpus = d / "c.jsonl"
    corpus.write_text(_good_lines(20))
    out = d / "idx"
    r = run("build", str(corpus), "--out", str(out), *fast_build_args(names))
    assert r.exit_code == 0, r.output
    return out


ODD = ["", " ", "\x00\x01\x02\x1b[31m", "Ada Lovelace\u0000London", "🙂🙃 Ada Lovelace 🚀", "Лондон 東京 Ada Lovelace",
       "\ud800", "Ada \udfff Lovelace", "\u202eLondon\u202c", "a" * 100_000, "London\n\n\nParis\r\n", "\t\v\f"]


@pytest.mark.parametrize("text", ODD, ids=[f"odd{i}" for i in range(len(ODD))])
def test_odd_query_text_never_tracebacks(small_index, text):
    ix = str(small_index)
    r = run("count", text, "London", "--index", ix, "--json")
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert data["b"]["freq"] == 20 and data["b"]["kind"] == "entity"
    if data["a"]["kind"] == "entity":
        assert data["cooccurrence"] in (0, 20)
    else:  # window counts exist for entity pairs only
        assert data["cooccurrence"] is None
    r = run("neighbors", text, "--index", ix, "--json")
    assert r.exit_code == 0, r.output
    for argv in (["-q", text, "-a", text, "--json", "--no-evidence"], ["-q", text]):
        r = run("risk", *argv, "--index", ix)
        if not text:  # an empty question is a usage error, said in one line
            assert r.exit_code == 2
            assert_one_line_error(r.stderr, "--question")
            continue
        assert r.exit_code in (0, 1), r.output
        assert "Traceback" not in r.output
        if "--json" in argv:
            assert json.loads(r.stdout)["decision"] in ("pass", "retrieve")


def test_entity_lookup_normalizes_odd_spellings(small_index):
    r = json.loads(run("count", "ADA  lovelace", "london", "--index", str(small_index), "--json").stdout)
    assert r["a"]["freq"] == 20 and r["cooccurrence"] == 20


def test_odd_arguments_through_the_real_executable(small_index):
    """Arguments that are not valid UTF-8 (arrive as surrogate escapes), control characters, emoji."""
    ix = str(small_index)
    env = dict(os.environ, PYTHONIOENCODING="utf-8")
    for argv in ([b"count", b"\xff\xfe", "🙂\x1b".encode(), b"--json"],
                 [b"risk", b"-q", b"Ada \xc3 Lovelace", b"-a", b"London \xed\xa0\x80", b"--no-evidence"]):
        r = subprocess.run([sys.executable.encode(), b"-m", b"quco", *argv, b"--index", ix.encode()],
                           capture_output=True, timeout=120, env=env)
        assert r.returncode in (0, 1), (argv, r.stderr)
        assert b"Traceback" not in r.stderr + r.stdout


def test_risk_batch_reports_bad_lines_instead_of_failing(small_index):
    lines = "\n".join([json.dumps({"question": "Where did Ada Lovelace live?", "answer": "London"}), "{not json",
                       json.dumps({"answer": "no question"}), json.dumps({"question": "\ud83d" * 3})]) + "\n"
    r = run("risk", "--batch", "--index", str(small_index), "--no-evidence", input=lines)
    assert r.exit_code == 2 and "Traceback" not in r.output  # a malformed line is an error (2), not a risk (1)
    out = [json.loads(ln) for ln in r.stdout.splitlines()]
    assert len(out) == 4
    assert out[0]["decision"] == "pass"
    assert out[1]["line"] == 2 and "stdin line 2" in out[1]["error"]
    assert out[2]["line"] == 3


def test_build_with_phrases_finds_names_no_source_listed(tmp_path):
    """``--phrases`` alone (no entity list, no titles, no NER) makes a gazetteer of the corpus's capitalized names;
    ``quco count`` then sees them, at window and at document scope."""
    corpus = tmp_path / "c.jsonl"
    corpus.write_text("".join(jsonl_line(i, f"In {1800 + i} Ada Lovelace wrote to Charles Babbage in London. "
                                            + "word " * 300 + "end. Later she met Michael Faraday.") for i in range(6)))
    out = tmp_path / "idx"
    r = run("build", str(corpus), "--out", str(out), "--phrases", "--harvest-sample", "0", "--no-retrieval",
            "--no-blend", "-q", "--workers", "1", "--json")
    assert r.exit_code == 0, r.output
    m = json.loads(r.stdout)
    assert m["build"]["phrases"] is True and m["stats"]["harvest"]["phrases"]["entries"] >= 4
    c = json.loads(run("count", "Ada Lovelace", "Michael Faraday", "--index", str(out), "--json").stdout)
    assert c["a"]["freq"] == c["b"]["freq"] == 6
    assert c["cooccurrence"] == 6 and c["documents_together"] == 6  # 300 words apart: within the window
    c = json.loads(run("count", "Charles Babbage", "Later", "--index", str(out), "--json").stdout)
    assert c["b"]["kind"] == "phrase" and c["b"]["freq"] == 6  # in the corpus, but a sentence-initial word is no name
    assert c["cooccurrence"] is None  # window counts exist for entity pairs only


@pytest.mark.parametrize("flag", [["--phrases"], ["--entities", "NAMES"]])
def test_gazetteer_sources_with_the_spacy_extractor_are_an_error(tmp_path, names, flag):
    """An entity list or the phrase harvest would be silently unused by spaCy NER: refused, with the fix."""
    corpus = tmp_path / "c.jsonl"
    corpus.write_text(jsonl_line(0))
    flag = [str(names) if f == "NAMES" else f for f in flag]
    r = run("build", str(corpus), "--out", str(tmp_path / "idx"), "--extractor", "spacy", *flag, "-q")
    assert r.exit_code == 2
    assert_one_line_error(r.stderr, flag[0], "--extractor gazetteer")
    assert not (tmp_path / "idx").exists()


# ------------------------------------------------------------------------------------------------ issue #14


def test_a_broken_gate_module_is_an_import_error_not_missing_commands():
    """``risk`` and ``eval`` are not optional: a failing import of their module must fail loudly (#14, item 14)."""
    assert {"risk", "eval"} <= set(cli.commands)
    code = "import sys\nsys.modules['quco.cli.gate_cmds'] = None\nimport quco.cli.main"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode != 0 and "gate_cmds" in r.stderr and ("ImportError" in r.stderr
                                                               or "ModuleNotFoundError" in r.stderr)


def test_risk_batch_exit_codes_and_a_file_argument(small_index, tmp_path):
    """#14 items 12, 21: 0 all pass, 1 a report flagged, 2 a malformed line; ``--batch FILE`` reads the file."""
    ok = json.dumps({"question": "Where did Ada Lovelace live?", "answer": "London"}) + "\n"
    flagged = json.dumps({"question": "Where did Ada Lovelace live?", "answer": "Zorblax Quintavius"}) + "\n"
    ix = ["--index", str(small_index), "--no-evidence"]
    assert run("risk", "--batch", *ix, input=ok).exit_code == 0
    assert run("risk", "--batch", *ix, input=ok + flagged).exit_code == 1
    assert run("risk", "--batch", *ix, input=flagged + "[1, 2]\n" + ok).exit_code == 2
    f = tmp_path / "requests.jsonl"
    f.write_text(ok + flagged)
    r = run("risk", "--batch", str(f), *ix)
    assert r.exit_code == 1 and len(r.stdout.splitlines()) == 2
    assert [json.loads(x)["flagged"] for x in r.stdout.splitlines()] == [False, True]
    r = run("risk", *ix, "--batch", str(tmp_path / "missing.jsonl"))
    assert r.exit_code == 2
    assert_one_line_error(r.stderr, "missing.jsonl")
    r = run("risk", "--batch", str(f), "-q", "Who?", *ix)
    assert r.exit_code == 2 and "--batch" in r.stderr


def test_risk_batch_into_a_closed_pipe_exits_quietly(small_index, tmp_path):
    """``quco risk --batch ... | head -1``: no "Broken pipe" error, no traceback; the SIGPIPE status (141)."""
    f = tmp_path / "many.jsonl"
    f.write_text((json.dumps({"question": "Where did Ada Lovelace live?", "answer": "London"}) + "\n") * 3000)
    p = subprocess.Popen([sys.executable, "-m", "quco", "risk", "--batch", str(f), "--index", str(small_index),
                          "--no-evidence"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = p.stdout.readline()
    p.stdout.close()
    err = p.stderr.read()
    assert p.wait(timeout=300) == 141
    assert json.loads(first)["decision"] == "pass" and err == b""


def test_risk_subject_hint(small_index):
    ix = ["--index", str(small_index), "--no-evidence", "--json"]
    plain = json.loads(run("risk", "-q", "Where did she live?", "-a", "London", *ix).stdout)
    hinted = json.loads(run("risk", "-q", "Where did she live?", "-a", "London", "--subject", "Ada Lovelace",
                            *ix).stdout)
    assert plain["coverage"] == "unknown" and hinted["coverage"] != "unknown"
    assert any(e["text"] == "Ada Lovelace" for e in hinted["entities"])
    line = json.dumps({"question": "Where did she live?", "answer": "London", "subject": "Ada Lovelace"}) + "\n"
    out = json.loads(run("risk", "--batch", "--index", str(small_index), "--no-evidence", input=line).stdout)
    assert out["coverage"] == hinted["coverage"]


@pytest.mark.parametrize("name", ["neighbors", "stats", "verify"])
def test_query_commands_show_examples_in_help(name):
    """#14 item 22: every command's --help has an example."""
    assert "Example" in run(name, "--help").stdout


def test_verify_resolves_the_index_like_every_command(small_index):
    """#14 item 17: ``quco verify`` takes $QUCO_INDEX (and the bundled default) like the other commands."""
    r = run("verify", env={"QUCO_INDEX": str(small_index)})
    assert r.exit_code == 0 and "ok:" in r.stdout and str(small_index) in r.stdout
    assert run("verify", "--index", str(small_index), "--quick").exit_code == 0


def test_build_of_a_folder_without_corpus_files_is_refused(tmp_path, names):
    """#14 item 19: no corpus documents (or no entities) means no index, said in one line, exit 2 (it was an
    empty index, exit 0, on which ``quco risk`` died with an internal IndexError)."""
    bad = tmp_path / "all_bad"
    bad.mkdir()
    (bad / "a.jsonl").write_text('{"x": 1}\n')  # every record rejected under --on-bad-record skip
    r = run("build", str(bad), "--out", str(tmp_path / "idx"), *fast_build_args(names), "--on-bad-record", "skip")
    assert r.exit_code == 2 and not (tmp_path / "idx").exists()
    assert_one_line_error(r.stderr, "no corpus documents", "1 records rejected")
    plain = tmp_path / "no_names"
    plain.mkdir()
    (plain / "notes").write_text("hello there\n")
    r = run("build", str(plain), "--out", str(tmp_path / "idx2"), *fast_build_args(names))
    assert r.exit_code == 2 and not (tmp_path / "idx2").exists()
    assert_one_line_error(r.stderr, "no entities found")


def test_eval_prints_intervals_and_is_hint_free_by_default(small_index, tmp_path):
    rows = [{"id": f"q:{i}:{k}", "question": f"Where did Ada Lovelace live, case {i}?", "subject": "Ada Lovelace",
             "answer": ["London", "Zorblax"][k], "label": k} for i in range(6) for k in (0, 1)]
    f = tmp_path / "swap.jsonl"
    f.write_text("".join(json.dumps(r) + "\n" for r in rows))
    r = run("eval", str(f), "--index", str(small_index), "--bootstrap", "100")
    assert r.exit_code == 0, r.output
    assert "hint-free" in r.stdout and "95% interval" in r.stdout and "tuned on these rows" in r.stdout
    data = json.loads(run("eval", str(f), "--index", str(small_index), "--json", "--bootstrap", "100").stdout)
    assert data["subject_hint"] is False and data["auroc_ci95"] is not None
    assert data["gate"]["error_among_passed_ci95"] is not None
    hinted = json.loads(run("eval", str(f), "--index", str(small_index), "--json", "--subject-hint").stdout)
    assert hinted["subject_hint"] is True


def test_eval_says_where_the_auroc_falls_short(small_index, tmp_path):
    # labels flipped: the answer the corpus supports is called wrong, so every checked pair is ordered the wrong way
    rows = [{"id": f"q:{i}:{k}", "question": f"Where did Ada Lovelace live, case {i}?",
             "answer": ["London", "Zorblax"][k], "label": 1 - k} for i in range(4) for k in (0, 1)]
    f = tmp_path / "flipped.jsonl"
    f.write_text("".join(json.dumps(r) + "\n" for r in rows))
    data = json.loads(run("eval", str(f), "--index", str(small_index), "--json", "--bootstrap", "0").stdout)
    checked = data["strata"]["known+sparse"]
    assert checked["auroc"] == 0.0
    # "Zorblax" gives nothing to check (risk 0.5); "London" was seen with Ada Lovelace (no titled articles here)
    assert checked["shortfall"] == {"right no pair vs wrong seen (none)": 1.0}
    text = run("eval", str(f), "--index", str(small_index), "--bootstrap", "0").stdout
    assert "known+sparse: 1 - AUROC = 1.000, largest shares: right no pair vs wrong seen (none) 1.000" in text


def test_build_says_each_long_step_on_stderr(tmp_path, names):
    """#14 item 20: harvest, merge and blend vectors announce themselves (progress on), stdout stays the result."""
    corpus = tmp_path / "c.jsonl"
    corpus.write_text(_good_lines(30))
    args = ["build", str(corpus), "--extractor", "gazetteer", "--entities", str(names), "--harvest-sample", "0",
            "--no-retrieval", "--workers", "1"]
    r = run(*args, "--out", str(tmp_path / "idx"))
    assert r.exit_code == 0, r.output
    for step in ("harvesting the gazetteer", "merging", "computing the blend vectors"):
        assert f"quco build: {step}" in r.stderr, r.stderr
    assert "quco build:" not in r.stdout
    quiet = run(*args, "--out", str(tmp_path / "idx2"), "-q")
    assert quiet.exit_code == 0 and "quco build:" not in quiet.stderr
