"""Put a finished index directory in place atomically.

On Linux, ``renameat2(RENAME_EXCHANGE)`` swaps the new directory with an existing one in a single step: a reader
that opens ``--out`` sees the old index or the new one, never neither and never a mix. Readers that already
opened the old index keep their memory-mapped files (unlinking does not unmap). Elsewhere, or on filesystems
without the exchange flag, we fall back to two renames (a brief moment with no index at ``--out``).
"""
from __future__ import annotations

import ctypes
import ctypes.util
import fcntl
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from quco.errors import BuildError, ConfigError

_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def _exchange(a: Path, b: Path) -> bool:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    return fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0


def check_target(out: Path) -> None:
    """Refuse an ``--out`` that a build must not replace: a file, or a non-empty directory that is not an index.

    The swap deletes what was at ``out``, so pointing ``--out`` at a directory of documents by mistake must fail
    before anything is written.
    """
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        raise ConfigError(f"--out {out} exists and is not a directory: choose another --out")
    if out.is_dir() and not (out / "manifest.json").exists() and any(out.iterdir()):
        raise ConfigError(f"--out {out} is a non-empty directory that is not a quco index; the build would replace "
                          "it: choose another --out or remove it")


@contextmanager
def lock_target(out: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``out`` for the length of a build (a ``.<name>.lock`` file beside it).

    Two builds to one ``--out`` would share the work directory and mix their shards: the second one fails at once.
    A POSIX record lock (``lockf``), not ``flock``: it belongs to the build process alone, so worker processes
    forked from it do not inherit it, and it is released the moment the build dies, even if a killed build's
    workers take a little longer to go.
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    path = out.parent / f".{out.name}.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise BuildError(f"another build is writing {out} (it holds {path}): wait for it to finish or choose "
                             "another --out") from None
        yield
    finally:
        os.close(fd)


def swap_into_place(new: Path, out: Path) -> None:
    """Make ``new`` the directory at ``out``; the previous index (if any) is removed afterwards."""
    out.parent.mkdir(parents=True, exist_ok=True)
    if not out.exists():
        os.replace(new, out)
        return
    check_target(out)
    if _exchange(new, out):
        shutil.rmtree(new, ignore_errors=True)  # `new` now holds the old index
        return
    old = out.with_name(f".{out.name}.old{os.getpid()}")
    os.replace(out, old)
    os.replace(new, out)
    shutil.rmtree(old, ignore_errors=True)
