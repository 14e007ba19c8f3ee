"""Corpus readers: turn corpus files into a stream of :class:`~quco.cooccur.types.Document`.

Formats (``FORMATS``), each plain, gzip- or zstd-compressed (compression is sniffed from magic bytes, not
from the file name):

- ``wikiextractor``: ``<doc id=".." url=".." title="..">`` ... ``</doc>`` blocks, one paragraph a line.
  The first body line equal to the title is the title and is dropped; ``Document.line`` is the line of the
  ``<doc`` tag; the title attribute is HTML-unescaped (``&amp;`` -> ``&``).
- ``jsonl``: one JSON object a line; text, title and id taken from configurable fields. The id defaults to
  ``"<file stem>:<line>"``.
- ``parquet``: streamed in record batches; ``Document.line`` is the record number (row index + 1).
- ``text``: the whole file is one document (id = file stem, no title).
- ``textblocks``: one document per blank-line-separated block (id = ``"<file stem>:<first line>"``).

``format="auto"`` sniffs the content (:func:`detect_format`); plain text then means ``text`` (one document
per file); ask for ``textblocks`` explicitly.

Paragraphs. For ``jsonl``, ``parquet``, ``text`` and ``textblocks`` a paragraph is a blank-line-separated
block of the text (a blank line is ``\\n\\s*\\n``: only whitespace between two newlines); for ``wikiextractor``
it is a non-empty line. Inside a paragraph each line break (``\\n``, ``\\r\\n`` or ``\\r``) and the whitespace
around it become one space, and the paragraph is stripped; empty paragraphs are dropped. Other whitespace
(tabs, ``\\u2028``, non-breaking spaces...) is kept as it is. So the text's sequence of whitespace-separated
tokens is preserved exactly (``text.split() == " ".join(doc.paragraphs).split()``); only whitespace changes.
A paragraph longer than ``max_paragraph_chars`` is split at the last whitespace at or before the limit (at
the limit itself if it has none, cutting a token) into several paragraphs: an entity span cannot cross
such a split.

Bad input. With ``on_bad_record="error"`` (the default) the first problem raises
:class:`~quco.errors.BadInputError` naming the file and the line (or record). With ``"skip"`` each rejected
record is passed to ``rejects({"file", "line", "record", "reason"})`` and reading goes on. Problems that
make the rest of a file unreadable (truncated or corrupt compressed stream, binary data, invalid UTF-8, an
empty file, a missing Parquet column) reject the rest of the file: the documents complete before the bad
line (or record) are yielded, reading of that file stops there, and its one reject names the bad line and
says so (``"<reason>; the rest of the file is skipped (documents kept before it: N)"``). In ``error`` mode
a NUL byte or invalid UTF-8 is raised as soon as the ~1 MB chunk holding it is read, before the records of
that chunk: a binary file is reported as binary data, not by a complaint about its first lines. A path that
does not exist always raises.

Memory is constant in the file size: lines are streamed and at most one document is held (a ``text``
document is the whole file, by definition).
"""
from __future__ import annotations

import codecs
import html
import json
import re
from pathlib import Path
from typing import Callable, Iterator

import pyarrow as pa

from quco.cooccur.types import Document
from quco.errors import BadInputError, ConfigError
from quco.index_builder.textio import (_COMPRESSION_SUFFIXES, _FIX_TEXT, _PARQUET_MAGIC, _SNIFF_BYTES, _binary_error,
                                       _check_file, _line_batches, _numbered, _open_binary, _stream_error, _utf8_error,
                                       iter_text_lines)

FORMATS = ("wikiextractor", "jsonl", "parquet", "text", "textblocks")
ON_BAD_RECORD = ("error", "skip")


_BLANK_LINE = re.compile(r"\n\s*\n")
_LAST_SPACE = re.compile(r"\s\S*\Z")
_SURROGATE = re.compile("[\ud800-\udfff]")
_DOC_ATTR = re.compile(r'(\w+)="([^"]*)"')

Rejects = Callable[[dict], None]



def detect_format(path: str | Path) -> str:
    """Guess a file's format (one of ``FORMATS``, never ``textblocks``) from its content.

    Parquet by its magic bytes; otherwise the (decompressed) text's first non-blank line: ``<doc `` means
    ``wikiextractor``, ``{`` means ``jsonl``, anything else ``text`` (one document per file). Raises
    :class:`BadInputError` for an empty file, a broken compressed stream, or binary data or invalid UTF-8 up
    to that first non-blank line (one further on is the reader's to report, after the lines before it).
    """
    path = _check_file(path)
    with _open_binary(path) as (f, codec):
        if codec is None and f.peek(4)[:4] == _PARQUET_MAGIC:
            return "parquet"
        try:
            head = f.read(_SNIFF_BYTES)
        except (OSError, pa.ArrowException, EOFError) as exc:
            raise _stream_error(path, codec, exc, None) from None
    if not head:
        raise BadInputError(str(path), f"empty file: remove it or {_FIX_TEXT}")
    if head.startswith(_PARQUET_MAGIC):
        raise BadInputError(str(path), "compressed Parquet file: decompress it (Parquet compresses its own pages)")
    text, lineno, start = "", 0, 0
    while not text and start < len(head):  # up to the first non-blank line
        lineno += 1
        end = head.find(b"\n", start)
        line = head[start:] if end < 0 else head[start:end]
        start = len(head) if end < 0 else end + 1
        if b"\x00" in line:
            raise _binary_error(path, lineno)
        try:
            text = codecs.getincrementaldecoder("utf-8")().decode(line, final=end >= 0 or len(head) < _SNIFF_BYTES)
        except UnicodeDecodeError as exc:
            raise _utf8_error(path, lineno, exc) from None
        text = (text.lstrip("\ufeff") if lineno == 1 else text).lstrip()
    if not text and len(head) < _SNIFF_BYTES:
        raise BadInputError(str(path), f"empty file (only whitespace): remove it or {_FIX_TEXT}")
    if text.startswith("<doc ") or text.startswith("<doc>"):
        return "wikiextractor"
    if text.startswith("{"):
        return "jsonl"
    return "text"


# ----------------------------------------------------------------------------------------------- paragraphs


def _cap(paragraph: str, limit: int) -> list[str]:
    """Split a stripped paragraph longer than ``limit`` at the last whitespace at or before the limit."""
    pieces = []
    pos, n = 0, len(paragraph)
    while n - pos > limit:  # walk an offset: re-slicing the rest each time would be quadratic in its length
        window = paragraph[pos : pos + limit + 1]
        m = _LAST_SPACE.search(window)
        cut = m.start() if m else 0
        if cut <= 0:
            pieces.append(window[:limit])
            pos += limit
        else:
            pieces.append(window[:cut].rstrip())
            pos += cut
        while pos < n and paragraph[pos].isspace():
            pos += 1
    if pos < n:
        pieces.append(paragraph[pos:])
    return pieces


def _one_paragraph(text: str, limit: int) -> list[str]:
    """Text without blank lines as zero or more paragraphs (line breaks -> spaces, stripped, capped)."""
    if "\n" in text or "\r" in text:
        text = " ".join(filter(None, (part.strip() for part in text.replace("\r", "\n").split("\n"))))
    else:
        text = text.strip()
    if not text:
        return []
    return [text] if len(text) <= limit else _cap(text, limit)


def split_paragraphs(text: str, max_paragraph_chars: int = 100_000) -> list[str]:
    """Split ``text`` on blank lines into paragraphs as described in the module docstring."""
    out: list[str] = []
    for block in _BLANK_LINE.split(text):
        out.extend(_one_paragraph(block, max_paragraph_chars))
    return out


def _clean_title(value: object) -> str | None:
    if value is None:
        return None
    title = _one_paragraph(value if isinstance(value, str) else str(value), 1 << 62)
    return title[0] if title else None


def _stem(path: Path) -> str:
    name = path.name
    for suffix in _COMPRESSION_SUFFIXES:
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
            break
    return Path(name).stem or name


# -------------------------------------------------------------------------------------------------- readers


class _Bad:
    """Where bad records go: raised (``error``) or handed to ``rejects`` (``skip``)."""

    def __init__(self, path: Path, mode: str, rejects: Rejects | None):
        self.path, self.mode, self.rejects = str(path), mode, rejects

    def __call__(self, reason: str, line: int | None = None, record: int | None = None) -> None:
        if self.mode == "error":
            raise BadInputError(self.path, reason, line=line, record=record)
        self.reject(self.path, reason, line, record)

    def reject(self, path: str, reason: str, line: int | None, record: int | None) -> None:
        if self.rejects is not None:
            self.rejects({"file": path, "line": line, "record": record, "reason": reason})


def _empty(path: Path) -> BadInputError:
    return BadInputError(str(path), f"empty file (no content): remove it or {_FIX_TEXT}")


def _read_wikiextractor(path: Path, bad: _Bad, limit: int) -> Iterator[Document]:
    source, stem = str(path), _stem(path)
    seen = False
    doc: Document | None = None
    paragraphs: list[str] = []
    raw_title = ""
    expect_title = False
    outside_reported = False
    for first, lines, has_cr in _line_batches(path, bad.mode == "skip"):
        lineno = first - 1
        for line in lines:
            lineno += 1
            if line.startswith(("<doc ", "<doc>")):
                seen = True
                if doc is not None:
                    bad(f"truncated document: no </doc> before the next <doc> at line {lineno}", line=doc.line)
                attrs = dict(_DOC_ATTR.findall(line))
                raw_title = attrs.get("title", "")
                paragraphs = []
                doc = Document(
                    attrs.get("id") or f"{stem}:{lineno}",
                    _clean_title(html.unescape(raw_title)),
                    paragraphs,
                    source,
                    lineno,
                )
                expect_title = bool(raw_title)
                outside_reported = False
            elif doc is None:
                if not outside_reported and line.strip():
                    seen = outside_reported = True
                    bad("text outside <doc ...> ... </doc> (a stray line or </doc>): remove it", line=lineno)
            elif line[:6] == "</doc>" and line.strip() == "</doc>":
                yield doc
                doc = None
            else:
                s = line.strip()
                if not s:
                    continue
                if expect_title:
                    expect_title = False
                    if s == raw_title or s == doc.title:
                        continue
                if len(s) > limit or (has_cr and "\r" in s):
                    paragraphs.extend(_one_paragraph(s, limit))
                else:
                    paragraphs.append(s)
    if doc is not None:
        bad("truncated document: no </doc> before the end of the file", line=doc.line)
    elif not seen:
        raise _empty(path)


def _json_kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    return {dict: "an object", list: "an array"}.get(type(value), type(value).__name__)


def _read_jsonl(
    path: Path, bad: _Bad, limit: int, text_field: str, title_field: str | None, id_field: str | None
) -> Iterator[Document]:
    source, stem = str(path), _stem(path)
    seen = False
    for lineno, line in _numbered(_line_batches(path, bad.mode == "skip")):
        if not line.strip():
            continue
        seen = True
        try:
            obj = json.loads(line)
        except ValueError as exc:
            bad(f"not valid JSON ({getattr(exc, 'msg', exc)} at column {getattr(exc, 'colno', '?')})", line=lineno)
            continue
        if not isinstance(obj, dict):
            bad(f"not a JSON object ({_json_kind(obj)}): write one object per line", line=lineno)
            continue
        if text_field not in obj:
            has = ", ".join(sorted(obj)[:20]) or "none"
            bad(f"no {text_field!r} field (fields: {has}): pass --text-field / text_field=", line=lineno)
            continue
        text = obj[text_field]
        if not isinstance(text, str):
            bad(f"field {text_field!r} is {_json_kind(text)}, not a string", line=lineno)
            continue
        lone = _SURROGATE.search(text)
        if lone:
            bad(f"field {text_field!r} holds a lone surrogate \\u{ord(lone.group()):04x} at character {lone.start()}:"
                " valid JSON, but not Unicode text", line=lineno)
            continue
        title = _clean_title(obj.get(title_field)) if title_field else None
        doc_id = obj.get(id_field) if id_field else None
        doc_id = str(doc_id) if doc_id is not None and doc_id != "" else f"{stem}:{lineno}"
        yield Document(doc_id, title, split_paragraphs(text, limit), source, lineno)
    if not seen:
        raise _empty(path)


def _text_blocks(path: Path, limit: int) -> Iterator[tuple[int, list[str]]]:
    """``(first line, paragraphs)`` of each blank-line-separated block of a text file."""
    block: list[str] = []
    first = 0
    for lineno, line in iter_text_lines(path):
        if line.strip():
            if not block:
                first = lineno
            block.append(line)
        elif block:
            yield first, _one_paragraph("\n".join(block), limit)
            block = []
    if block:
        yield first, _one_paragraph("\n".join(block), limit)


def _read_text(path: Path, limit: int) -> Iterator[Document]:
    paragraphs: list[str] = []
    for _, ps in _text_blocks(path, limit):
        paragraphs.extend(ps)
    if not paragraphs:
        raise _empty(path)
    yield Document(_stem(path), None, paragraphs, str(path), 1)


def _read_textblocks(path: Path, limit: int) -> Iterator[Document]:
    source, stem = str(path), _stem(path)
    seen = False
    for first, paragraphs in _text_blocks(path, limit):
        seen = True
        yield Document(f"{stem}:{first}", None, paragraphs, source, first)
    if not seen:
        raise _empty(path)


def _read_parquet(
    path: Path,
    bad: _Bad,
    limit: int,
    text_field: str,
    title_field: str | None,
    id_field: str | None,
    batch_size: int,
) -> Iterator[Document]:
    import pyarrow.parquet as pq

    source, stem = str(path), _stem(path)
    try:
        pf = pq.ParquetFile(source)
    except (OSError, pa.ArrowException) as exc:
        raise BadInputError(source, f"not a readable Parquet file ({exc})") from None
    schema = pf.schema_arrow
    names = schema.names
    if text_field not in names:
        raise BadInputError(source, f"no column {text_field!r} (columns: {', '.join(names)}): pass --text-field / text_field=")
    text_type = schema.field(text_field).type
    if not (pa.types.is_string(text_type) or pa.types.is_large_string(text_type)
            or getattr(pa.types, "is_string_view", lambda t: False)(text_type)):
        raise BadInputError(source, f"column {text_field!r} is {text_type}, not a string column")
    title_col = title_field if title_field and title_field in names else None
    id_col = id_field if id_field and id_field in names else None
    columns = list(dict.fromkeys(c for c in (text_field, title_col, id_col) if c))
    record = 0
    try:
        for batch in pf.iter_batches(batch_size=batch_size, columns=columns):
            n = batch.num_rows
            texts = batch.column(text_field).to_pylist()
            titles = batch.column(title_col).to_pylist() if title_col else [None] * n
            ids = batch.column(id_col).to_pylist() if id_col else [None] * n
            for text, title, doc_id in zip(texts, titles, ids):
                record += 1
                if text is None:
                    bad(f"null {text_field!r}", record=record)
                    continue
                doc_id = str(doc_id) if doc_id is not None and doc_id != "" else f"{stem}:{record}"
                yield Document(doc_id, _clean_title(title), split_paragraphs(text, limit), source, record)
    except (OSError, pa.ArrowException) as exc:
        reason = f"corrupt Parquet data after record {record} ({exc}): rewrite the file"
        raise BadInputError(source, reason, record=record + 1) from None
    if record == 0:
        raise BadInputError(source, f"empty file (no rows): remove it or {_FIX_TEXT}")


def read_documents(
    path: str | Path,
    format: str = "auto",
    *,
    text_field: str = "text",
    title_field: str | None = "title",
    id_field: str | None = "id",
    on_bad_record: str = "error",
    rejects: Rejects | None = None,
    max_paragraph_chars: int = 100_000,
    batch_size: int = 1024,
) -> Iterator[Document]:
    """Stream the documents of one corpus file; see the module docstring for formats and bad input.

    Arguments are checked at once (:class:`ConfigError`), as is the path's existence
    (:class:`BadInputError`); the file itself is read lazily as the iterator is consumed.
    ``text_field``/``title_field``/``id_field`` name the JSONL fields or Parquet columns (``None`` for no
    title or id). ``batch_size`` is the Parquet record-batch size.
    """
    if format != "auto" and format not in FORMATS:
        raise ConfigError(f"unknown corpus format {format!r}: use auto or one of {', '.join(FORMATS)}")
    if on_bad_record not in ON_BAD_RECORD:
        raise ConfigError(f"on_bad_record={on_bad_record!r}: use one of {', '.join(ON_BAD_RECORD)}")
    if not isinstance(max_paragraph_chars, int) or max_paragraph_chars < 1:
        raise ConfigError(f"max_paragraph_chars={max_paragraph_chars!r}: use a positive integer")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigError(f"batch_size={batch_size!r}: use a positive integer")
    if not text_field:
        raise ConfigError("text_field is empty: name the JSONL field or Parquet column holding the text")
    if rejects is not None and not callable(rejects):
        raise ConfigError("rejects must be a callable taking one dict")
    path = _check_file(path)
    bad = _Bad(path, on_bad_record, rejects)
    return _documents(path, format, bad, text_field, title_field, id_field, max_paragraph_chars, batch_size)


def _documents(
    path: Path,
    format: str,
    bad: _Bad,
    text_field: str,
    title_field: str | None,
    id_field: str | None,
    limit: int,
    batch_size: int,
) -> Iterator[Document]:
    kept = 0  # documents yielded
    try:
        if format == "auto":
            format = detect_format(path)
        if format == "wikiextractor":
            docs = _read_wikiextractor(path, bad, limit)
        elif format == "jsonl":
            docs = _read_jsonl(path, bad, limit, text_field, title_field, id_field)
        elif format == "parquet":
            docs = _read_parquet(path, bad, limit, text_field, title_field, id_field, batch_size)
        elif format == "text":
            docs = _read_text(path, limit)
        else:
            docs = _read_textblocks(path, limit)
        for doc in docs:
            yield doc
            kept += 1
    except BadInputError as exc:
        if bad.mode == "error":
            raise
        reason = exc.reason
        if exc.line is not None or exc.record is not None:  # not a whole-file problem: say what was kept
            reason += f"; the rest of the file is skipped (documents kept before it: {kept})"
        bad.reject(exc.path, reason, exc.line, exc.record)
