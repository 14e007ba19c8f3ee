"""Articles (documents titled with a phrase): the kernel against its plain-Python reference, ``docs_titled`` and
``link`` against a brute-force scan of the documents, and the gate's use of a link on a real small index."""
from __future__ import annotations

import random

import numpy as np
import pytest

from quco.cooccur.articles import EXTRA, MAX_TITLE, Articles, _title_rows, title_rows_py
from quco.cooccur.normalize import ARTICLES, key_tokens_py, tokenize_py
from quco.cooccur.phrase_index import PhraseCounts
from quco.cooccur.types import Document
from quco.index_builder.suffix_build import build_phrase_arrays

_WORDS = ["the", "a", "Paris", "river", "Nile", "blue", "café", "2015", "Über", "song", "delta", "Tom's", "x"]


def _docs(rng: random.Random, n: int) -> list[Document]:
    docs = []
    for i in range(n):
        title = None if rng.random() < 0.2 else " ".join(rng.choice(_WORDS) for _ in range(rng.randint(1, 6)))
        paras = [" ".join(rng.choice(_WORDS) for _ in range(rng.randint(1, 25))) for _ in range(rng.randint(0, 3))]
        if rng.random() < 0.1:  # a first segment too long to be a title
            paras.insert(0, " ".join(rng.choice(_WORDS) for _ in range(MAX_TITLE + 5)))
        docs.append(Document(f"d{i}", title, paras))
    return docs


def _folded(seg: str) -> list[str]:
    return [t for t, _, _ in tokenize_py(seg)]


def _brute_titled(docs: list[Document], phrase: str) -> list[int]:
    want = key_tokens_py(phrase)
    out = []
    for d, doc in enumerate(docs):
        if not doc.title or not _folded(doc.title):  # a document without a title is no article
            continue
        title = _folded(doc.title)
        if len(title) > MAX_TITLE:
            continue
        if len(title) > 1 and title[0] in ARTICLES:
            title = title[1:]
        if want and title[:len(want)] == want and len(title) - len(want) <= EXTRA:
            out.append(d)
    return out


def _brute_mentions(doc: Document, phrase: str) -> bool:
    needle = " " + " ".join(key_tokens_py(phrase)) + " "
    return any(needle in " " + " ".join(_folded(s)) + " " for s in doc.segments())


@pytest.mark.parametrize("seed", range(4))
def test_title_rows_kernel_matches_reference(tmp_path, seed):
    rng = random.Random(seed)
    build_phrase_arrays(iter(_docs(rng, 60)), tmp_path, heavy_min=8, set_min=40, batch_chars=500)
    pc = PhraseCounts.open(tmp_path)
    arts = np.array([int(pc.token_ids([w])[0]) for w in sorted(ARTICLES) if pc.token_ids([w]) is not None],
                    np.uint32)
    docs = _docs(random.Random(seed), 60)
    assert pc.doc_titled.tolist() == [int(bool(doc.title and _folded(doc.title))) for doc in docs]
    for titled in (np.asarray(pc.doc_titled, np.uint8), np.ones(pc.n_documents, np.uint8)):
        h, d = _title_rows(pc.tokens, np.asarray(pc.doc_start, np.int64), np.asarray(pc.vocab, np.uint64), arts,
                           titled, EXTRA, MAX_TITLE)
        got = set(zip(h.tolist(), d.tolist()))
        assert len(got) == h.shape[0] > 0
        assert got == title_rows_py(pc.tokens, pc.doc_start, pc.vocab, arts, titled)


def test_a_document_without_a_title_is_no_article(tmp_path):
    """A titled corpus mixed with plain text: the text whose first paragraph is a name is not that name's article
    (before the builder recorded which documents have titles, it was: an older index still reads it so)."""
    docs = [Document("1", "Joan Baez", ["Joan Baez is an American folk singer who sang with Bob Dylan."]),
            Document("2", None, ["Joan Baez", "A long paragraph about Paris and the Eiffel Tower, not about her."])]
    build_phrase_arrays(iter(docs), tmp_path, heavy_min=8, set_min=40)
    assert PhraseCounts.open(tmp_path).doc_titled.tolist() == [1, 0]
    arts = Articles(PhraseCounts.open(tmp_path))
    assert arts.docs_titled("Joan Baez").tolist() == [0]
    assert arts.link("Joan Baez", "Eiffel Tower") == (True, False)
    (tmp_path / "phrase_doc_titled.npy").unlink()  # an index built before the array: the old reading
    old = Articles(PhraseCounts.open(tmp_path))
    assert old.docs_titled("Joan Baez").tolist() == [0, 1] and old.link("Joan Baez", "Eiffel Tower") == (True, True)


@pytest.mark.parametrize("seed", range(3))
def test_docs_titled_and_link_equal_a_brute_force_scan(tmp_path, seed):
    rng = random.Random(100 + seed)
    docs = _docs(rng, 80)
    build_phrase_arrays(iter(docs), tmp_path, heavy_min=8, set_min=40, batch_chars=500)
    a = Articles(PhraseCounts.open(tmp_path))
    phrases = [" ".join(rng.choice(_WORDS + ["zorblax"]) for _ in range(rng.randint(1, 3))) for _ in range(150)]
    phrases += [d.title for d in docs if d.title][:40]
    found = linked_seen = 0
    for p in phrases:
        want = _brute_titled(docs, p)
        assert a.docs_titled(p).tolist() == want, p
        # a document's tokens: each segment's, and the separator that ends it
        assert a.longest(p) == max((sum(len(_folded(s)) + 1 for s in docs[d].segments()) for d in want), default=0)
        found += bool(want)
    for x, y in zip(phrases[::2], phrases[1::2]):
        tx, ty = _brute_titled(docs, x), _brute_titled(docs, y)
        linked = any(_brute_mentions(docs[d], y) for d in tx) or any(_brute_mentions(docs[d], x) for d in ty)
        assert a.link(x, y) == (bool(tx or ty), linked), (x, y)
        linked_seen += linked
    assert found > 20 and linked_seen > 5  # both outcomes were exercised


def test_no_titles_and_empty_phrase(tmp_path):
    build_phrase_arrays([Document("a", None, ["one two " * 20]), Document("b", "Blue Nile", ["river"])], tmp_path)
    a = Articles(PhraseCounts.open(tmp_path))
    assert a.docs_titled("one").tolist() == [] and a.docs_titled("").tolist() == []
    assert a.longest("one") == 0 and a.longest("Blue Nile") == 5  # "blue", "nile", separator, "river", separator
    assert a.docs_titled("The Blue Nile").tolist() == [1] and a.link("Blue Nile", "river") == (True, True)
    assert a.link("river", "one") == (False, False)


# ---- the gate: a pair whose article of one mentions the other ---------------------------------------------------
def _wiki(path, docs):
    with open(path, "w", encoding="utf-8") as f:
        for i, (title, text) in enumerate(docs):
            f.write(f'<doc id="{i}" url="x" title="{title}">\n{title}\n\n{text}\n</doc>\n')


@pytest.fixture(scope="module")
def song_index(tmp_path_factory):
    from quco.index_builder.build import build_index

    tmp = tmp_path_factory.mktemp("art")
    docs = [("Quiet Harbour", "Quiet Harbour is a song by Mira Stone. It was released in 1999."),
            ("Mira Stone", "Mira Stone is a singer. Her songs include Quiet Harbour and Paper Moon."),
            ("Paper Moon", "Paper Moon is a song by Mira Stone."),
            ("Songs of 1999", "Songs of 1999 include Quiet Harbour and Lost Signal by Jon Vale.")]
    docs += [(f"Filler {i}", "Jon Vale toured with the band. Paper Moon was covered.") for i in range(6)]
    _wiki(tmp / "c.txt", docs)
    out = tmp / "idx"
    build_index([str(tmp / "c.txt")], str(out), extractor="gazetteer", workers=1, progress=False, blend=False)
    return out


@pytest.mark.parametrize("support", [0.4, 0.9])
def test_a_linked_pair_is_supported_and_reported(song_index, support):
    from quco import Index, assess
    from quco.gate.config import GateConfig

    ix = Index(song_index)
    q = "Who performed the song Quiet Harbour?"
    on = assess(q, "Mira Stone", index=ix, mode="factual", retrieve=False, config=GateConfig(article_support=support))
    off = assess(q, "Mira Stone", index=ix, mode="factual", retrieve=False, config=GateConfig(article_support=-1))
    other = assess(q, "Jon Vale", index=ix, mode="factual", retrieve=False, config=GateConfig(article_support=support))
    p_on = next(p for p in on.pairs if p.b == "Mira Stone")
    p_off = next(p for p in off.pairs if p.b == "Mira Stone")
    assert p_on.article == "linked" and p_on.npmi >= support and p_on.npmi >= p_off.npmi
    assert on.risk <= off.risk
    p_other = next(p for p in other.pairs if p.b == "Jon Vale")  # both in "Songs of 1999", neither article names
    assert p_other.cooccurrence >= 1 and p_other.article == "unlinked" and p_other.npmi < support
    assert "the article of one mentions the other" in on.render_text(color=False)
    assert "no article of either mentions the other" in other.render_text(color=False)
