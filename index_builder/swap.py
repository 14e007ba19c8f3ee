"""Put a finished index directory in place atomically.

On Linux, ``renameat2(RENAME_EXCHANGE)`` swaps the new directory with an existing one in a single step: a reader
that opens ``--out`` sees the old index or the new one, never neither and never a mix. Readers that already
opened the old index keep their memory-mapped files (unlinking does not unmap). Elsewhere, or on filesystems
without the exchange flag, we fall back to two renames (a brief moment with no index at ``--out``).
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import shutil
from pathlib import Path

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


def swap_into_place(new: Path, out: Path) -> None:
    """Make ``new`` the directory at ``out``; the previous index (if any) is removed afterwards."""
    out.parent.mkdir(parents=True, exist_ok=True)
    if not out.exists():
        os.replace(new, out)
        return
    if not out.is_dir():
        raise FileExistsError(f"{out} exists and is not a directory")
    if _exchange(new, out):
        shutil.rmtree(new, ignore_errors=True)  # `new` now holds the old index
        return
    old = out.with_name(f".{out.name}.old{os.getpid()}")
    os.replace(out, old)
    os.replace(new, out)
    shutil.rmtree(old, ignore_errors=True)
