"""Error codes are stable, unique, and each one is documented in docs/errors.md."""
from __future__ import annotations

import inspect
import re
from pathlib import Path

import quco.errors as errors

DOC = Path(__file__).resolve().parent.parent / "docs" / "errors.md"


def _codes() -> dict[str, str]:
    out = {c.code: name for name, c in vars(errors).items() if inspect.isclass(c) and issubclass(c, errors.QucoError)}
    out.update({v: k for k, v in vars(errors).items() if k.startswith("E_") and isinstance(v, str)})
    return out


def test_codes_are_unique_and_well_formed():
    classes = [c for c in vars(errors).values() if inspect.isclass(c) and issubclass(c, errors.QucoError)]
    codes = [c.code for c in classes]
    assert len(codes) == len(set(codes)), codes
    assert all(re.fullmatch(r"E\d{3}", c) for c in _codes())


def test_every_code_is_documented_with_its_exception():
    rows = {m.group(1): m.group(2) for m in re.finditer(r"^\| (E\d{3}) \| ([^|]*)\|", DOC.read_text(), re.M)}
    for code, name in _codes().items():
        assert code in rows, f"{code} ({name}) is missing from docs/errors.md"
        if not name.startswith("E_"):
            assert f"`{name}`" in rows[code], (code, name, rows[code])
    assert set(rows) <= set(_codes()), f"documented codes nobody raises: {set(rows) - set(_codes())}"
