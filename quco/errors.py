"""Typed errors. Every error a user can cause is a ``QucoError``; the CLI turns them into one line and exit 2.

Errors cross process boundaries (a build's worker processes raise them, the pool pickles them back), so every
``QucoError`` pickles to an equal error whatever its ``__init__`` takes (see ``QucoError.__reduce__``).
"""
from __future__ import annotations

from typing import Any

# Codes of failures that are not a QucoError, as the CLI reports them (docs/errors.md lists every code).
E_SYSTEM = "E060"  # an OSError: disk full, permission denied, ...
E_MEMORY = "E061"  # out of memory
E_INTERNAL = "E099"  # a bug: please report it with QUCO_DEBUG=1's traceback


def _restore(cls: type, args: tuple, state: dict[str, Any]) -> "QucoError":
    """Rebuild a pickled ``QucoError`` without calling its (possibly custom) ``__init__``."""
    err = cls.__new__(cls, *args)
    BaseException.__init__(err, *args)
    err.__dict__.update(state)
    return err


class QucoError(Exception):
    """Base of every error quco raises on purpose. ``code`` is a stable identifier (E0xx)."""

    code = "E000"

    def __str__(self) -> str:  # one line, no traceback needed to understand it
        return super().__str__()

    def __reduce__(self) -> tuple:
        # The default (``cls(*self.args)``) breaks for subclasses whose __init__ takes other arguments than the
        # message (BadInputError, IndexNotFoundError, RiskBlocked): rebuild from args and attributes instead.
        return _restore, (type(self), self.args, dict(self.__dict__))


class ConfigError(QucoError, ValueError):
    """A wrong argument, option or configuration value."""

    code = "E001"


class BadInputError(QucoError):
    """A corpus file or record that cannot be read. Names the file and the line or record."""

    code = "E010"

    def __init__(self, path: str, reason: str, line: int | None = None, record: int | None = None):
        self.path, self.reason, self.line, self.record = str(path), reason, line, record
        where = self.path
        if line is not None:
            where += f":{line}"
        elif record is not None:
            where += f" record {record}"
        super().__init__(f"{where}: {reason}")


class IndexNotFoundError(QucoError, FileNotFoundError):
    """No index at the given path."""

    code = "E020"

    def __init__(self, path: str):
        self.path = str(path)
        super().__init__(
            f"no index at {self.path}: build one with `quco build CORPUS... --out {self.path}`"
        )


class IndexCorruptError(QucoError):
    """An index whose files do not match its manifest (checksum, row count, schema version)."""

    code = "E021"


class UnknownComponentError(QucoError, KeyError):
    """A registry lookup of a name nobody registered."""

    code = "E030"

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown component"


class BuildError(QucoError):
    """A build that could not finish (a worker process died, the output is locked by another build...)."""

    code = "E050"


class GateError(QucoError):
    """The risk check could not run (e.g. the index is unusable inside ``wrap``)."""

    code = "E040"


class RiskBlocked(QucoError):
    """Raised by ``wrap(..., on_risk="block")``; carries the report."""

    code = "E041"

    def __init__(self, report):
        self.report = report
        super().__init__(f"blocked: risk {report.risk:.2f} ({report.decision}, stage {report.stage})")
