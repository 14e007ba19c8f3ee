"""Bytes to text lines for the corpus readers: open a plain, gzip or zstd file (compression sniffed from magic
bytes), read it in ``_CHUNK``-byte chunks, reject binary data and invalid UTF-8 with the line that holds it, and
yield numbered lines. ``quco.index_builder.readers`` turns the lines into documents; its docstring states the
behaviour on bad input that these functions implement.
"""
from __future__ import annotations

import io
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Iterator

import pyarrow as pa

from quco.errors import BadInputError

_GZIP_MAGIC = b"\x1f\x8b"
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_PARQUET_MAGIC = b"PAR1"
_COMPRESSION_SUFFIXES = (".gz", ".gzip", ".zst", ".zstd")
_SNIFF_BYTES = 64 * 1024
_BUFFER = 1 << 20
_CHUNK = 1 << 20  # bytes read, checked and split into lines at a time
_FIX_TEXT = "pass only UTF-8 text, JSONL, WikiExtractor or Parquet files"

# --------------------------------------------------------------------------------------------- opening files


def _check_file(path: str | Path) -> Path:
    path = Path(path)
    if not path.exists():
        raise BadInputError(str(path), "no such file: check the path")
    if not path.is_file():
        raise BadInputError(str(path), "not a regular file: pass corpus files, not directories")
    return path


def _compression(path: Path) -> str | None:
    """``"gzip"``, ``"zstd"`` or None, from the file's first bytes."""
    try:
        with open(path, "rb") as f:
            head = f.read(4)
    except OSError as exc:
        raise BadInputError(str(path), f"cannot open the file ({exc.strerror}): check its permissions") from None
    if head.startswith(_GZIP_MAGIC):
        return "gzip"
    if head.startswith(_ZSTD_MAGIC):
        return "zstd"
    return None


@contextmanager
def _open_binary(path: Path) -> Iterator[tuple[BinaryIO, str | None]]:
    """The file's bytes, decompressed if it is gzip or zstd, and the compression's name."""
    codec = _compression(path)
    if codec is None:
        with open(path, "rb", buffering=_BUFFER) as f:
            yield f, None
        return
    # pyarrow's stream (unlike zstandard's stream reader) reports a truncated stream instead of ending quietly.
    raw = pa.OSFile(str(path), "rb")
    try:
        yield io.BufferedReader(pa.CompressedInputStream(raw, codec), _BUFFER), codec
    finally:
        raw.close()


def _stream_error(path: Path, codec: str | None, exc: Exception, line: int | None) -> BadInputError:
    if codec is None:
        return BadInputError(str(path), f"cannot read the file ({exc})", line=line)
    return BadInputError(
        str(path),
        f"truncated or corrupt {codec} stream ({exc}): re-download or re-compress the file",
        line=line,
    )


def _binary_error(path: Path, line: int) -> BadInputError:
    return BadInputError(str(path), f"binary data (NUL byte), not a text file: {_FIX_TEXT}", line=line)


def _utf8_error(path: Path, line: int, exc: UnicodeDecodeError, offset: int = 0) -> BadInputError:
    return BadInputError(
        str(path),
        f"invalid UTF-8 at byte {offset + exc.start + 1} of the line: "
        f"binary or not UTF-8; convert it to UTF-8 (e.g. iconv -t UTF-8) or {_FIX_TEXT}",
        line=line,
    )


def iter_text_lines(path: str | Path) -> Iterator[tuple[int, str]]:
    """Yield ``(line number, line)`` for each line of a text file, 1-based, without its newline.

    gzip and zstd files are decompressed on the fly (sniffed from magic bytes). Decoding is strict UTF-8 (a
    leading byte-order mark is dropped, a ``\\r`` before the ``\\n`` too). Raises :class:`BadInputError`
    naming the line for a NUL byte (binary file), invalid UTF-8, or a truncated or corrupt compressed
    stream, after yielding the lines before it; after such an error the generator is finished.
    """
    yield from _numbered(_line_batches(_check_file(path)))


def _numbered(batches: Iterator[tuple[int, list[str], bool]]) -> Iterator[tuple[int, str]]:
    """``(line number, line)`` pairs from :func:`_line_batches`."""
    for first, lines, _ in batches:
        yield from zip(range(first, first + len(lines)), lines)


def _line_batches(path: Path, keep_good_lines: bool = True) -> Iterator[tuple[int, list[str], bool]]:
    """``(number of the first line, lines, whether a line may hold a \\r)`` for successive runs of lines.

    Reads ``_CHUNK`` bytes at a time and splits them on ``\\n`` before decoding: a ``\\n`` byte never occurs
    inside a multi-byte UTF-8 sequence, and decoding line by line keeps ASCII lines compact.

    A NUL byte or invalid UTF-8 raises :class:`BadInputError` naming its line, after the lines before it have
    been yielded; with ``keep_good_lines=False`` (``error`` mode) it is raised as soon as its chunk is read,
    before any line of that chunk.
    """
    with _open_binary(path) as (f, codec):
        read = f.read
        done = 0  # lines yielded so far
        carry: list[bytes] = []  # pieces of the line that the last chunk left unfinished
        try:
            while True:
                chunk = read(_CHUNK)
                if not chunk:
                    break
                nul = chunk.find(b"\x00")
                if nul >= 0:  # keep only the whole lines before the one holding the NUL
                    chunk = chunk[: chunk.rfind(b"\n", 0, nul) + 1]
                parts = chunk.split(b"\n")
                rest = parts.pop()
                if parts and carry:
                    carry.append(parts[0])
                    parts[0] = b"".join(carry)
                    carry = []
                carry.append(rest)
                lines: list[str] = []
                error = None
                if parts:
                    has_cr = b"\r" in chunk or parts[0].find(b"\r") >= 0
                    lines, error = _decode(path, parts, done, has_cr)
                if error is None and nul >= 0:
                    error = _binary_error(path, done + len(parts) + 1)
                if error is not None and not keep_good_lines:
                    raise error
                if lines:
                    if done == 0 and lines[0][:1] == "\ufeff":
                        lines[0] = lines[0][1:]
                    yield done + 1, lines, has_cr
                    done += len(lines)
                if error is not None:
                    raise error
            last = b"".join(carry)
        except (OSError, pa.ArrowException, EOFError) as exc:
            raise _stream_error(path, codec, exc, done + 1) from None
    if last:
        lines, error = _decode(path, [last], done, b"\r" in last)
        if error is not None:
            raise error
        if done == 0 and lines[0][:1] == "\ufeff":
            lines[0] = lines[0][1:]
        yield done + 1, lines, b"\r" in last


def _decode(path: Path, parts: list[bytes], done: int, has_cr: bool) -> tuple[list[str], BadInputError | None]:
    """Decode lines (strict UTF-8), dropping a trailing ``\\r``.

    Returns the lines before the first invalid one (all of them if none is) and an error naming that line.
    """
    if has_cr:
        parts = [b[:-1] if b[-1:] == b"\r" else b for b in parts]
    try:
        return list(map(bytes.decode, parts)), None  # UTF-8, strict
    except UnicodeDecodeError:
        for i, b in enumerate(parts):
            try:
                b.decode("utf-8")
            except UnicodeDecodeError as exc:
                return list(map(bytes.decode, parts[:i])), _utf8_error(path, done + i + 1, exc)
        raise


# ------------------------------------------------------------------------------------------------- sniffing
