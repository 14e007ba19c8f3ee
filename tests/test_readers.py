"""Corpus readers: every format (plain, gzip, zstd), sniffing, paragraphs, and every kind of bad input."""
from __future__ import annotations

import gzip
import json
import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from quco.cooccur.types import Document
from quco.errors import BadInputError, ConfigError
from quco.index_builder.readers import (
    FORMATS,
    detect_format,
    iter_text_lines,
    read_documents,
    split_paragraphs,
)

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
COMPRESSIONS = ["", ".gz", ".zst"]

WIKI = """<doc id="12" url="http://en.wikipedia.org/wiki?curid=12" title="Anarchism">
Anarchism

Anarchism is a political philosophy.
It has many currents.
</doc>
<doc id="25" url="http://en.wikipedia.org/wiki?curid=25" title="Batman &amp; Robin (film)">
Batman &amp; Robin (film)

Batman & Robin is a 1997 film.
</doc>
"""


def write(path: Path, text: str | bytes) -> Path:
    """Write ``text`` to ``path``, compressed as its suffix says (.gz, .zst)."""
    data = text.encode("utf-8") if isinstance(text, str) else text
    if path.suffix == ".gz":
        data = gzip.compress(data, compresslevel=1)
    elif path.suffix == ".zst":
        data = zstandard.ZstdCompressor().compress(data)
    path.write_bytes(data)
    return path


def read_all(path: Path, **kwargs) -> list[Document]:
    return list(read_documents(path, **kwargs))


def skip_read(path: Path, **kwargs) -> tuple[list[Document], list[dict]]:
    rejected: list[dict] = []
    docs = list(read_documents(path, on_bad_record="skip", rejects=rejected.append, **kwargs))
    return docs, rejected


# ------------------------------------------------------------------------------------------------ formats


@pytest.mark.parametrize("comp", COMPRESSIONS)
def test_wikiextractor(tmp_path, comp):
    path = write(tmp_path / f"wiki_00.txt{comp}", WIKI)
    assert detect_format(path) == "wikiextractor"
    docs = read_all(path)
    assert [(d.doc_id, d.title, d.line) for d in docs] == [
        ("12", "Anarchism", 1),
        ("25", "Batman & Robin (film)", 7),
    ]
    assert docs[0].paragraphs == ["Anarchism is a political philosophy.", "It has many currents."]
    assert docs[1].paragraphs == ["Batman & Robin is a 1997 film."]
    assert all(d.source == str(path) for d in docs)
    assert read_all(path, format="wikiextractor") == docs


def test_wikiextractor_keeps_a_first_line_that_is_not_the_title(tmp_path):
    path = write(tmp_path / "w.txt", '<doc id="1" title="Paris">\nParis is a city.\n\nIt is big.\n</doc>\n')
    (doc,) = read_all(path)
    assert doc.paragraphs == ["Paris is a city.", "It is big."]


def test_wikiextractor_drops_only_the_first_title_line(tmp_path):
    path = write(tmp_path / "w.txt", '<doc id="1" title="Paris">\nParis\nParis\nMore.\n</doc>\n')
    (doc,) = read_all(path)
    assert doc.paragraphs == ["Paris", "More."]


def test_wikiextractor_without_id_gets_stem_and_line(tmp_path):
    path = write(tmp_path / "shard.txt.zst", '\n<doc title="X">\nX\nbody\n</doc>\n')
    (doc,) = read_all(path)
    assert (doc.doc_id, doc.title, doc.line, doc.paragraphs) == ("shard:2", "X", 2, ["body"])


@pytest.mark.parametrize("comp", COMPRESSIONS)
def test_jsonl(tmp_path, comp):
    rows = [
        {"id": "a", "title": "First", "text": "Para one\nwraps here.\n\n  Para two.  \n"},
        {"text": "No id or title."},
        {"id": 7, "title": None, "text": "Number id."},
    ]
    content = json.dumps(rows[0]) + "\n\n" + "\n".join(json.dumps(r) for r in rows[1:]) + "\n"
    path = write(tmp_path / f"corpus.jsonl{comp}", content)
    assert detect_format(path) == "jsonl"
    docs = read_all(path)
    assert [(d.doc_id, d.title, d.line) for d in docs] == [
        ("a", "First", 1),
        ("corpus:3", None, 3),
        ("7", None, 4),
    ]
    assert docs[0].paragraphs == ["Para one wraps here.", "Para two."]
    assert docs[1].paragraphs == ["No id or title."]


def test_jsonl_custom_fields(tmp_path):
    path = write(tmp_path / "c.jsonl", json.dumps({"body": "Hello.", "name": "T", "key": "k1", "id": "x"}) + "\n")
    (doc,) = read_all(path, text_field="body", title_field="name", id_field="key")
    assert (doc.doc_id, doc.title, doc.paragraphs) == ("k1", "T", ["Hello."])
    (doc,) = read_all(path, text_field="body", title_field=None, id_field=None)
    assert (doc.doc_id, doc.title) == ("c:1", None)


def test_jsonl_title_is_one_line(tmp_path):
    path = write(tmp_path / "c.jsonl", json.dumps({"text": "x", "title": " Two\nlines "}) + "\n")
    assert read_all(path)[0].title == "Two lines"


def write_parquet(path: Path, table: dict, **kwargs) -> Path:
    pq.write_table(pa.table(table), path, **kwargs)
    return path


def test_parquet(tmp_path):
    path = write_parquet(
        tmp_path / "part-0.parquet",
        {"id": ["d1", None, "d3"], "title": ["T1", None, "T3"], "text": ["a\n\nb", "c", "d\ne"], "n": [1, 2, 3]},
        row_group_size=2,
    )
    assert detect_format(path) == "parquet"
    docs = read_all(path, batch_size=1)
    assert [(d.doc_id, d.title, d.paragraphs, d.line) for d in docs] == [
        ("d1", "T1", ["a", "b"], 1),
        ("part-0:2", None, ["c"], 2),
        ("d3", "T3", ["d e"], 3),
    ]
    assert read_all(path, batch_size=1024) == docs


def test_parquet_without_title_or_id_columns(tmp_path):
    path = write_parquet(tmp_path / "p.parquet", {"content": ["x", "y"]})
    docs = read_all(path, text_field="content")
    assert [(d.doc_id, d.title) for d in docs] == [("p:1", None), ("p:2", None)]


def test_parquet_missing_text_column_lists_columns(tmp_path):
    path = write_parquet(tmp_path / "p.parquet", {"body": ["x"], "url": ["u"]})
    with pytest.raises(BadInputError, match=r"no column 'text' \(columns: body, url\)"):
        read_all(path)


def test_parquet_non_string_text_column(tmp_path):
    path = write_parquet(tmp_path / "p.parquet", {"text": [1, 2]})
    with pytest.raises(BadInputError, match="not a string column"):
        read_all(path)


def test_parquet_null_text_is_a_bad_record(tmp_path):
    path = write_parquet(tmp_path / "p.parquet", {"text": ["a", None, "c"]})
    with pytest.raises(BadInputError) as err:
        read_all(path)
    assert err.value.record == 2
    docs, rejected = skip_read(path)
    assert [d.paragraphs for d in docs] == [["a"], ["c"]]
    assert rejected == [{"file": str(path), "line": None, "record": 2, "reason": "null 'text'"}]


@pytest.mark.parametrize("comp", COMPRESSIONS)
def test_text_is_one_document_per_file(tmp_path, comp):
    path = write(tmp_path / f"notes.txt{comp}", "First para\nstill first.\n\n\n  \nSecond.\n")
    assert detect_format(path) == "text"
    (doc,) = read_all(path)
    assert (doc.doc_id, doc.title, doc.line) == ("notes", None, 1)
    assert doc.paragraphs == ["First para still first.", "Second."]


def test_textblocks(tmp_path):
    path = write(tmp_path / "notes.txt", "\nBlock one\nline two\n\nBlock two\n \t\nBlock three")
    docs = read_all(path, format="textblocks")
    assert [(d.doc_id, d.paragraphs, d.line) for d in docs] == [
        ("notes:2", ["Block one line two"], 2),
        ("notes:5", ["Block two"], 5),
        ("notes:7", ["Block three"], 7),
    ]


def test_crlf_and_bom(tmp_path):
    path = write(tmp_path / "c.jsonl", b"\xef\xbb\xbf" + b'{"text": "a"}\r\n{"text": "b\\r\\nc"}\r\n')
    assert detect_format(path) == "jsonl"
    assert [d.paragraphs for d in read_all(path)] == [["a"], ["b c"]]
    path = write(tmp_path / "w.txt", '<doc id="1" title="T">\r\nT\r\n\r\nBody.\r\nOne\rline.\r\n</doc>\r\n')
    (doc,) = read_all(path)
    assert (doc.title, doc.paragraphs) == ("T", ["Body.", "One line."])


# ----------------------------------------------------------------------------------------- lines, chunks


@pytest.mark.parametrize("comp", COMPRESSIONS)
def test_iter_text_lines(tmp_path, comp):
    path = write(tmp_path / f"l.txt{comp}", "one\n\nthree\r\nfour")
    assert list(iter_text_lines(path)) == [(1, "one"), (2, ""), (3, "three"), (4, "four")]


@pytest.mark.parametrize("comp", COMPRESSIONS)
def test_iter_text_lines_across_chunks(tmp_path, comp):
    """Lines (multi-byte characters too) that straddle the 1 MiB read chunks come out whole."""
    rng = random.Random(3)
    words = ["", "a", "é", "€uro", "𝄞𝄞", "tab\tbed", "plain"]
    lines = [" ".join(rng.choices(words, k=rng.choice([0, 1, 60, 1000]))) for _ in range(1500)]
    lines.insert(400, "é" * 1_300_000)  # one line longer than a chunk
    path = write(tmp_path / f"l.txt{comp}", "\n".join(lines) + "\n")
    got = list(iter_text_lines(path))
    assert [n for n, _ in got] == list(range(1, len(lines) + 1))
    assert [s for _, s in got] == lines


def test_long_single_line_document(tmp_path):
    text = " ".join(f"w{i}" for i in range(400_000))  # ~2.7 MB on one line
    path = write(tmp_path / "big.jsonl.zst", json.dumps({"text": text}) + "\n")
    (doc,) = read_all(path, max_paragraph_chars=10**7)
    assert doc.paragraphs == [text]
    (doc,) = read_all(path)  # the default limit splits it at spaces
    assert all(90_000 < len(p) <= 100_000 for p in doc.paragraphs[:-1])
    assert " ".join(doc.paragraphs) == text


# ------------------------------------------------------------------------------------------- paragraphs


def test_long_paragraph_split_at_last_whitespace():
    assert split_paragraphs("aaa bbb ccc ddd", 8) == ["aaa bbb", "ccc ddd"]
    assert split_paragraphs("aaa bbbb ccc", 8) == ["aaa bbbb", "ccc"]  # whitespace right at the limit
    assert split_paragraphs("abcdefghij k", 4) == ["abcd", "efgh", "ij k"]  # no whitespace: cut at the limit


def test_max_paragraph_chars_applies_to_every_format(tmp_path):
    line = "alpha beta gamma delta epsilon"
    wiki = write(tmp_path / "w.txt", f'<doc id="1" title="T">\nT\n{line}\n</doc>\n')
    jsonl = write(tmp_path / "j.jsonl", json.dumps({"text": line}) + "\n")
    text = write(tmp_path / "t.txt", line + "\n")
    for path in (wiki, jsonl, text):
        (doc,) = read_all(path, max_paragraph_chars=11)
        assert doc.paragraphs == ["alpha beta", "gamma delta", "epsilon"], path


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    text=st.text(
        st.sampled_from(["\n", "\r", " ", "\t", "\u2028", "\x0c", "a", "é"])
        | st.characters(blacklist_categories=["Cs"]),
        max_size=300,
    ),
    limit=st.integers(1, 40),
)
def test_jsonl_text_round_trips(tmp_path, text, limit):
    """Only whitespace changes: tokens survive; each paragraph is one stripped, non-empty line."""
    path = write(tmp_path / "h.jsonl", json.dumps({"text": text}) + "\n")
    (doc,) = read_all(path)
    assert " ".join(doc.paragraphs).split() == text.split()
    for p in doc.paragraphs:
        assert p and p == p.strip() and "\n" not in p and "\r" not in p
    capped = read_all(path, max_paragraph_chars=limit)[0].paragraphs
    assert all(0 < len(p) <= limit for p in capped)
    assert "".join("".join(capped).split()) == "".join(text.split())


# ----------------------------------------------------------------------------------------- bad records


def test_bad_jsonl_lines_name_the_line(tmp_path):
    lines = [
        '{"text": "good one"}',
        "not json",
        "[1, 2]",
        '{"body": "x"}',
        '{"text": 3}',
        '{"text": null}',
        '{"text": "good two"}',
    ]
    path = write(tmp_path / "bad.jsonl", "\n".join(lines) + "\n")
    got = []
    with pytest.raises(BadInputError) as err:
        for doc in read_documents(path):
            got.append(doc)
    assert [d.paragraphs for d in got] == [["good one"]]  # documents before the bad line came through
    assert (err.value.path, err.value.line) == (str(path), 2)
    assert str(err.value).startswith(f"{path}:2: not valid JSON")

    docs, rejected = skip_read(path)
    assert [d.paragraphs for d in docs] == [["good one"], ["good two"]]
    assert [r["line"] for r in rejected] == [2, 3, 4, 5, 6]
    assert all(r["file"] == str(path) and r["record"] is None for r in rejected)
    reasons = [r["reason"] for r in rejected]
    assert "not a JSON object" in reasons[1]
    assert "no 'text' field (fields: body)" in reasons[2]
    assert "not a JSON object (an array)" in reasons[1]
    assert "field 'text' is a number, not a string" in reasons[3]
    assert "field 'text' is null, not a string" in reasons[4]


def test_wikiextractor_truncated_doc_before_next_doc(tmp_path):
    text = '<doc id="1" title="A">\nA\nbody a\n<doc id="2" title="B">\nB\nbody b\n</doc>\n'
    path = write(tmp_path / "w.txt", text)
    with pytest.raises(BadInputError, match="truncated document") as err:
        read_all(path)
    assert err.value.line == 1
    docs, rejected = skip_read(path)
    assert [d.doc_id for d in docs] == ["2"]
    assert [(r["line"], r["record"]) for r in rejected] == [(1, None)]


def test_wikiextractor_truncated_doc_at_eof(tmp_path):
    path = write(tmp_path / "w.txt", WIKI + '<doc id="3" title="C">\nC\nbody c\n')
    with pytest.raises(BadInputError, match="before the end of the file") as err:
        read_all(path)
    assert err.value.line == 12
    docs, rejected = skip_read(path)
    assert [d.doc_id for d in docs] == ["12", "25"]
    assert [r["line"] for r in rejected] == [12]


def test_wikiextractor_text_outside_docs(tmp_path):
    path = write(tmp_path / "w.txt", WIKI + "\nstray text\nmore stray\n</doc>\n" + WIKI)
    with pytest.raises(BadInputError, match="outside") as err:
        read_all(path)
    assert err.value.line == 13
    docs, rejected = skip_read(path)
    assert [d.doc_id for d in docs] == ["12", "25", "12", "25"]
    assert [r["line"] for r in rejected] == [13]  # one reject per run of stray lines


@pytest.mark.parametrize("fmt", ["auto", "jsonl", "text", "wikiextractor"])
def test_binary_file(tmp_path, fmt):
    path = write(tmp_path / "b.jsonl", b'{"text": "a"}\n{"text": "b"}\n\x89PNG\x00\x01\x02\n')
    with pytest.raises(BadInputError, match="binary data") as err:
        read_all(path, format=fmt)
    assert err.value.line == 3


@pytest.mark.parametrize("comp", COMPRESSIONS)
@pytest.mark.parametrize("fmt", ["auto", "jsonl"])
def test_invalid_utf8(tmp_path, comp, fmt):
    path = write(tmp_path / f"b.jsonl{comp}", b'{"text": "a"}\n{"text": "caf\xe9"}\n')
    with pytest.raises(BadInputError, match="invalid UTF-8") as err:
        read_all(path, format=fmt)
    assert err.value.line == 2


def test_binary_file_in_skip_mode_keeps_earlier_documents(tmp_path):
    good = "".join(json.dumps({"text": f"doc {i} " + "x" * 100}) + "\n" for i in range(12_000))  # > 1 MiB
    path = write(tmp_path / "b.jsonl", good.encode() + b"\xff\xfe\x00junk\n" + b'{"text": "late"}\n')
    docs, rejected = skip_read(path)
    assert len(docs) == 12_000 and docs[0].paragraphs[0].startswith("doc 0 ")  # every line before the NUL's
    assert len(rejected) == 1 and rejected[0]["line"] == 12_001 and "binary" in rejected[0]["reason"]
    assert rejected[0]["reason"].endswith("; the rest of the file is skipped (documents kept before it: 12000)")


CHUNK = 1 << 20  # textio._CHUNK: the read size, so that a bad line can be put across a chunk boundary
BAD_LINES = {"nul": (b"ab\x00cd\n", "binary data (NUL byte)"),
             "utf8": (b'{"text": "caf\xe9"}\n', "invalid UTF-8 at byte 14 of the line")}


def _good_jsonl(n: int, start: int = 0) -> bytes:
    return "".join(json.dumps({"id": f"d{i:07d}", "text": "x" * 50}) + "\n" for i in range(start, start + n)).encode()


@pytest.mark.parametrize("comp", COMPRESSIONS)
@pytest.mark.parametrize("kind", list(BAD_LINES))
@pytest.mark.parametrize(
    "offset",  # where the bad line starts (its bad byte is 2 or 13 bytes further on)
    [0, CHUNK - 1, CHUNK - 13, CHUNK, 3 * CHUNK + 12_345, "last-line-no-newline"],
)
def test_file_level_problem_keeps_every_good_line_before_it(tmp_path, comp, kind, offset):
    """Skip mode: every document before the bad line is yielded (wherever it falls in the read chunks), the bad
    line is the one reject, which says the rest of the file is skipped; error mode: one error naming that line."""
    bad, reason = BAD_LINES[kind]
    size = len(_good_jsonl(1))
    at_eof = offset == "last-line-no-newline"
    if at_eof:
        offset, bad = 2 * CHUNK + 7, bad.rstrip(b"\n")
    n, pad = divmod(offset, size)
    filler = b" " * (pad - 1) + b"\n" if pad else b""  # a blank line that puts the bad line at `offset`
    data = _good_jsonl(n) + filler + bad + (b"" if at_eof else _good_jsonl(20_000, n))
    assert data.index(bad) == offset
    path = write(tmp_path / f"c.jsonl{comp}", data)
    line = n + bool(filler) + 1

    docs, rejected = skip_read(path)
    assert [d.doc_id for d in docs] == [f"d{i:07d}" for i in range(n)]
    assert [(r["file"], r["line"], r["record"]) for r in rejected] == [(str(path), line, None)]
    assert rejected[0]["reason"].startswith(reason)
    assert rejected[0]["reason"].endswith(f"; the rest of the file is skipped (documents kept before it: {n})")

    with pytest.raises(BadInputError, match=reason.replace("(", r"\(").replace(")", r"\)")) as err:
        read_all(path)
    assert (err.value.path, err.value.line) == (str(path), line)
    if n:  # the format is sniffed from the first lines; the problem further on is the reader's to report
        assert detect_format(path) == "jsonl"


def test_file_level_problem_in_a_wikiextractor_document(tmp_path):
    """The document in progress at the bad line is part of the skipped rest; the ones complete before it stay."""
    path = write(tmp_path / "w.txt", WIKI.encode() + b'<doc id="3" title="C">\nC\n\nbody\ncaf\xe9\n</doc>\n'
                 + WIKI.encode())
    docs, rejected = skip_read(path)
    assert [d.doc_id for d in docs] == ["12", "25"]
    assert [r["line"] for r in rejected] == [16]  # WIKI is 11 lines, <doc id="3"> line 12
    assert rejected[0]["reason"].endswith("(documents kept before it: 2)")


@pytest.mark.parametrize("fmt", ["auto", "jsonl", "wikiextractor"])
def test_error_mode_reports_a_binary_file_as_binary(tmp_path, fmt):
    """Error mode: a NUL in the first chunk is reported before a record-level problem of an earlier line (a
    binary file whose first line happens to look like JSON is not "not valid JSON"); skip mode reports both."""
    path = write(tmp_path / "b.jsonl", b"{binary header\n\n\x01\x00\x00junk\n")
    with pytest.raises(BadInputError, match="binary data") as err:
        read_all(path, format=fmt)
    assert err.value.line == 3
    docs, rejected = skip_read(path, format=fmt)
    assert docs == []
    assert [r["line"] for r in rejected] == [1, 3]
    assert rejected[1]["reason"].startswith("binary data")


@pytest.mark.parametrize("fmt,want", [("textblocks", [["a"], ["b c"]]), ("text", [])])
def test_file_level_problem_in_plain_text(tmp_path, fmt, want):
    path = write(tmp_path / "t.txt", b"a\n\nb\nc\n\ncaf\xe9\nd\n\ne\n")
    docs, rejected = skip_read(path, format=fmt)
    assert [d.paragraphs for d in docs] == want  # text: the whole file is one document, so none is kept
    assert [r["line"] for r in rejected] == [6]
    assert rejected[0]["reason"].endswith(f"(documents kept before it: {len(want)})")


@pytest.mark.parametrize("comp,codec", [(".gz", "gzip"), (".zst", "zstd")])
def test_truncated_stream(tmp_path, comp, codec):
    rng = random.Random(0)
    words = [f"w{rng.randrange(10**6)}" for _ in range(300_000)]  # incompressible enough: ~2.4 MB of text
    content = "".join(json.dumps({"text": " ".join(words[i : i + 50])}) + "\n" for i in range(0, len(words), 50))
    full = write(tmp_path / f"full.jsonl{comp}", content)
    path = tmp_path / f"cut.jsonl{comp}"
    path.write_bytes(full.read_bytes()[: full.stat().st_size * 3 // 4])
    assert len(read_all(full)) == 6_000
    with pytest.raises(BadInputError, match=f"truncated or corrupt {codec} stream"):
        read_all(path)
    docs, rejected = skip_read(path)
    assert 0 < len(docs) < 6_000  # what was read before the cut stays read
    assert len(rejected) == 1 and f"truncated or corrupt {codec} stream" in rejected[0]["reason"]
    assert rejected[0]["line"] == len(docs) + 1


@pytest.mark.parametrize("comp", COMPRESSIONS)
def test_empty_file(tmp_path, comp):
    path = write(tmp_path / f"e.jsonl{comp}", "")
    with pytest.raises(BadInputError, match="empty file"):
        detect_format(path)
    for fmt in ("auto", "jsonl", "text", "textblocks", "wikiextractor"):
        with pytest.raises(BadInputError, match="empty file"):
            read_all(path, format=fmt)
    docs, rejected = skip_read(path)
    assert docs == [] and len(rejected) == 1 and "empty file" in rejected[0]["reason"]


def test_whitespace_only_file_is_empty(tmp_path):
    path = write(tmp_path / "e.txt", " \n\n\t\n")
    with pytest.raises(BadInputError, match="empty file"):
        detect_format(path)
    with pytest.raises(BadInputError, match="empty file"):
        read_all(path, format="text")


def test_empty_parquet(tmp_path):
    path = write_parquet(tmp_path / "e.parquet", {"text": pa.array([], pa.string())})
    with pytest.raises(BadInputError, match="empty file"):
        read_all(path)


def test_not_a_parquet_file(tmp_path):
    path = write(tmp_path / "x.parquet", "hello\n")
    with pytest.raises(BadInputError, match="not a readable Parquet file"):
        read_all(path, format="parquet")


def test_missing_file_raises_even_in_skip_mode(tmp_path):
    with pytest.raises(BadInputError, match="no such file"):
        read_documents(tmp_path / "nope.jsonl", on_bad_record="skip")
    with pytest.raises(BadInputError, match="no such file"):
        detect_format(tmp_path / "nope.jsonl")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"on_bad_record": "ignore"},
        {"format": "csv"},
        {"max_paragraph_chars": 0},
        {"batch_size": 0},
        {"text_field": ""},
    ],
)
def test_bad_arguments_are_config_errors(tmp_path, kwargs):
    path = write(tmp_path / "c.jsonl", '{"text": "a"}\n')
    with pytest.raises(ConfigError):
        read_documents(path, **kwargs)  # raised at the call, before any reading


def test_formats_constant():
    assert FORMATS == ("wikiextractor", "jsonl", "parquet", "text", "textblocks")


# ------------------------------------------------------------------------------------------- real shard


@pytest.mark.slow
def test_real_wiki2015_shard_first_200_docs():
    shard = SHARED / "wiki2015" / "wiki2015_AA.txt.zst"
    if not shard.exists():
        pytest.skip(f"{shard} absent")
    assert detect_format(shard) == "wikiextractor"
    docs = []
    for doc in read_documents(shard):
        docs.append(doc)
        if len(docs) == 200:
            break
    assert (docs[0].doc_id, docs[0].title, docs[0].line) == ("12", "Anarchism", 1)
    assert docs[0].paragraphs[0].startswith("Anarchism is a political philosophy")
    assert len({d.doc_id for d in docs}) == 200
    assert all(b.line > a.line for a, b in zip(docs, docs[1:]))
    for d in docs:
        assert d.title and d.paragraphs[:1] != [d.title]
        assert all(p and "\n" not in p and p == p.strip() for p in d.paragraphs)
        assert "&amp;" not in d.title
