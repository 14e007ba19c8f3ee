"""The risk report: what ``assess`` found, serializable to JSON and renderable as highlighted text or HTML."""
from __future__ import annotations

import html
import json
from dataclasses import asdict, dataclass, field
from typing import Any

DECISIONS = ("pass", "retrieve", "sanctioned_blend")


@dataclass
class EntityHit:
    text: str
    key: str
    start: int
    end: int
    source: str  # "question" | "answer"
    freq: int
    label: str = ""
    sentence: int | None = None  # index of the answer sentence (answer entities only)
    part_of: str | None = None  # a question topic found inside a longer name the corpus never mentions


@dataclass
class PairCheck:
    a: str
    b: str
    cooccurrence: int
    unseen: bool
    kind: str  # "question-answer" | "answer-answer"
    freq_a: int = 0
    freq_b: int = 0
    npmi: float | None = None
    risk: float = 0.0
    sentence: int | None = None
    # "linked" | "unlinked" | "apart" (unlinked, never in one paragraph) | "none" (quco.cooccur.articles); None: not
    # looked up
    article: str | None = None


@dataclass
class RiskReport:
    """Result of :func:`quco.assess`. ``risk`` is in [0, 1], or ``None`` when the check did not run
    (``checked=False``: a fail-open report of :func:`quco.wrap`); ``decision`` is pass | retrieve |
    sanctioned_blend. :attr:`flagged` is the one definition of a flagged report (CLI exit code 1, ``on_risk``)."""

    question: str
    answer: str | None
    mode: str
    decision: str
    stage: str  # "pre" (question only) | "post" (answer checked) | "none" (nothing to check)
    risk: float | None
    coverage: str  # "known" | "sparse" | "unknown"
    entities: list[EntityHit] = field(default_factory=list)
    pairs: list[PairCheck] = field(default_factory=list)
    evidence: list[dict[str, Any]] = field(default_factory=list)
    passage_support: dict[str, float] = field(default_factory=dict)  # answer value -> support in [0, 1]
    blend: dict[str, Any] | None = None
    reasons: list[str] = field(default_factory=list)
    route: dict[str, Any] | None = None
    thresholds: dict[str, Any] = field(default_factory=dict)
    timing: dict[str, float] = field(default_factory=dict)
    checked: bool = True  # False only for fail-open reports whose check did not run
    error: str | None = None

    @property
    def flagged(self) -> bool:
        """The one definition of "flagged", used by the CLI's exit code 1, ``wrap``'s ``on_risk`` and the server.

        True when the gate asks for retrieval (decision ``retrieve``), or when a sanctioned blend joins an entity
        the corpus never mentions (``blend["flagged"]``, kind ``unknown_entity``: likely invented, so flagged
        even in creative mode). A report whose check did not run is not flagged: its ``checked`` is false.
        """
        return self.decision == "retrieve" or bool(self.blend and self.blend.get("flagged"))

    @property
    def risk_text(self) -> str:
        """``risk`` with two decimals, or ``unchecked`` when the check did not run."""
        return "unchecked" if self.risk is None else f"{self.risk:.2f}"

    @property
    def unsupported(self) -> list[PairCheck]:
        return [p for p in self.pairs if p.unseen]

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["flagged"] = self.flagged
        return d

    def to_json(self, **kw: Any) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, **kw)

    # ---- rendering ---------------------------------------------------------------------------------------------
    def _spans(self, source: str) -> list[EntityHit]:
        return sorted((e for e in self.entities if e.source == source), key=lambda e: e.start)

    def _risky_keys(self) -> set[str]:
        from quco.cooccur.normalize import normalize

        return ({normalize(t) for p in self.unsupported for t in (p.a, p.b)}
                | {e.key for e in self.entities if e.freq == 0})

    def _highlight(self, text: str, source: str, plain, tag) -> str:
        """``text`` with each entity of ``source`` rendered by ``tag(entity, surface, risky)``, the rest by ``plain``."""
        risky = self._risky_keys()
        out, pos = [], 0
        for e in self._spans(source):
            if e.start < pos:
                continue
            out.append(plain(text[pos:e.start]))
            out.append(tag(e, text[e.start:e.end], e.key in risky))
            pos = e.end
        out.append(plain(text[pos:]))
        return "".join(out)

    def render_text(self, color: bool = True) -> str:
        """Human-readable report; entities highlighted (ANSI colour when ``color``), unsupported ones in red."""
        def tag(e: EntityHit, surface: str, risky: bool) -> str:
            t = f"[{surface}|{e.freq}]"
            return f"\x1b[{'1;31' if risky else '1;36'}m{t}\x1b[0m" if color else t

        def mark(text: str, source: str) -> str:
            return self._highlight(text, source, str, tag)

        verdict = {"pass": "PASS", "retrieve": "RETRIEVE", "sanctioned_blend": "SANCTIONED BLEND"}[self.decision]
        if color:
            verdict = f"\x1b[1;{ {'pass': 32, 'retrieve': 31, 'sanctioned_blend': 33}[self.decision] }m{verdict}\x1b[0m"
        lines = [f"{verdict}  risk {self.risk_text}  stage {self.stage}  mode {self.mode}  coverage {self.coverage}",
                 f"  question: {mark(self.question, 'question')}"]
        if self.answer is not None:
            lines.append(f"  answer:   {mark(self.answer, 'answer')}")
        for p in self.pairs:
            flag = "UNSEEN" if p.unseen else "seen"
            article = {"linked": "; the article of one mentions the other",
                       "unlinked": "; no article of either mentions the other",
                       "apart": "; no article of either mentions the other, and never in one paragraph"
                       }.get(p.article or "", "") \
                if not p.unseen else ""  # never together at all: nothing to add
            lines.append(f"  pair {p.a!r} + {p.b!r}: {p.cooccurrence} documents ({flag}, risk {p.risk:.2f}{article})")
        for value, sup in self.passage_support.items():
            lines.append(f"  passage support {value!r}: {sup:.3f} (best passage for the question with it / best)")
        for r in self.reasons:
            lines.append(f"  - {r}")
        if self.blend:
            b = self.blend
            lines.append(f"  blend: {b.get('kind')} (distance {b.get('distance')}); bridges: "
                         + (", ".join(x["text"] for x in b.get("bridges", [])) or "none"))
        for ev in self.evidence[:3]:
            snippet = ev.get("text", "")[:160].replace("\n", " ")
            lines.append(f"  evidence [{ev.get('title')}]: {snippet}...")
        return "\n".join(lines)

    def render_html(self) -> str:
        """A standalone page with displaCy-style entity spans."""
        def tag(e: EntityHit, surface: str, risky: bool) -> str:
            cls = "risky" if risky else "ok"
            return (f'<mark class="{cls}">{html.escape(surface)}'
                    f'<span class="lbl">{html.escape(e.label or "ENT")} · {e.freq} docs</span></mark>')

        def mark(text: str, source: str) -> str:
            return self._highlight(text, source, html.escape, tag)

        rows = "".join(
            f"<tr class=\"{'risky' if p.unseen else ''}\"><td>{html.escape(p.a)}</td><td>{html.escape(p.b)}</td>"
            f"<td>{p.cooccurrence}</td><td>{'unseen' if p.unseen else 'seen'}</td><td>{p.risk:.2f}</td>"
            f"<td>{html.escape(p.article or '')}</td></tr>"
            for p in self.pairs)
        ev = "".join(f"<li><b>{html.escape(str(e.get('title')))}</b>: {html.escape(e.get('text', '')[:400])}</li>"
                     for e in self.evidence)
        blend = f"<pre>{html.escape(json.dumps(self.blend, indent=1))}</pre>" if self.blend else ""
        answer = f"<p><b>Answer</b>: {mark(self.answer, 'answer')}</p>" if self.answer is not None else ""
        return f"""<!doctype html><html><head><meta charset="utf-8"><title>quco risk report</title><style>
body{{font-family:sans-serif;max-width:60em;margin:2em auto;line-height:1.9}}
mark{{padding:.15em .4em;border-radius:.35em;background:#ddeeff}} mark.risky{{background:#ffd0d0}}
.lbl{{font-size:.65em;font-weight:bold;margin-left:.4em;text-transform:uppercase}}
table{{border-collapse:collapse}} td,th{{border:1px solid #ccc;padding:.2em .6em}} tr.risky td{{color:#b00}}
</style></head><body>
<h1>{html.escape(self.decision)} <small>risk {self.risk_text}, stage {self.stage}, mode {self.mode},
coverage {self.coverage}</small></h1>
<p><b>Question</b>: {mark(self.question, 'question')}</p>{answer}
<table><tr><th>a</th><th>b</th><th>co-occurrence</th><th></th><th>risk</th><th>article</th></tr>{rows}</table>
<ul>{''.join(f'<li>{html.escape(r)}</li>' for r in self.reasons)}</ul>{blend}
<h2>Evidence</h2><ol>{ev}</ol></body></html>"""
