"""Plain data types that flow from the readers to the extractors and the counter."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class Document:
    """One document of a corpus.

    ``paragraphs`` never contain a blank line: a paragraph is the unit inside which an entity span may lie.
    The title is kept apart (``title``) and is not repeated in ``paragraphs``; extractors see it as segment 0.
    ``source`` and ``line`` (1-based line, or record number for Parquet) say where the document came from.
    """

    doc_id: str
    title: str | None
    paragraphs: list[str]
    source: str = ""
    line: int | None = None

    def segments(self) -> list[str]:
        """Title (if any) then paragraphs: the units extraction runs on, in token order."""
        return ([self.title] if self.title else []) + self.paragraphs

    @property
    def n_chars(self) -> int:
        return sum(len(s) for s in self.segments())


@dataclass(slots=True)
class Mention:
    """An entity mention: ``key`` is the normalized form, ``start``/``end`` char offsets into ``text``'s segment."""

    text: str
    key: str
    start: int
    end: int
    label: str
    segment: int = 0
    token: int = 0  # token position in the document (our tokenizer), used for the window
    extra: dict = field(default_factory=dict)
