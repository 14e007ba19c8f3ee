from __future__ import annotations

from pathlib import Path

import pytest

from quco.index_builder.build import build_index

DATA = Path(__file__).parent / "data"
SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def shared_data() -> Path:
    """../shared/data, or skip the test when it is absent (unit tests never need it)."""
    if not SHARED.exists():
        pytest.skip("../shared/data is not available")
    return SHARED


@pytest.fixture(scope="session")
def six_spacy(tmp_path_factory) -> Path:
    """The hand-written six-article corpus, indexed with spaCy NER (the small-input default)."""
    out = tmp_path_factory.mktemp("six") / "spacy.idx"
    build_index([str(DATA / "six_articles.txt")], str(out), extractor="spacy", workers=1, progress=False)
    return out
