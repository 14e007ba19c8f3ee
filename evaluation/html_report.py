"""Standalone HTML reports for ``quco eval``: one self-contained page, inline CSS, plots as inline SVG.

Three pages share the same small helpers (value formatting, tables, page frame):

- :func:`render_html` for the detection formats (swap, pairs, halueval): metric tables overall, per coverage
  stratum, against the baselines and under length control; ROC curves per stratum; and the worst-ranked
  cases with their entities and pairs highlighted, so a reader sees why the detector missed.
- :func:`render_blends_html` for ``--format blends`` and :func:`render_modes_html` for ``--format modes``.

Every piece of text that comes from data goes through :func:`html.escape`. matplotlib is an optional
extra (``quco-gate[report]``), imported only when a plot is drawn, and used without pyplot so no global
backend state changes.
"""
from __future__ import annotations

import html
import io
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from quco.errors import ConfigError
from quco.evaluation.metrics import SHORT_ANSWER_WORDS, STRATA, STRATUM_UNIONS, auroc, roc_curve

REPORT_STRATA = ("all", *STRATA, *STRATUM_UNIONS)
"""Row order of the per-stratum tables and plots; ``all`` is every case."""

MAX_CURVE_POINTS = 400
"""A ROC curve with more points is drawn through this many of them, evenly spaced along the curve."""

_CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto; max-width: 1200px;
       padding: 0 1em; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: .6em 0 1.2em; }
th, td { border: 1px solid #ddd; padding: .25em .6em; vertical-align: top; text-align: left; }
th { background: #f4f4f4; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.miss td { background: #fff0f0; }
.note { color: #555; max-width: 60em; }
.plots { display: flex; flex-wrap: wrap; gap: 1em; }
.plots figure { margin: 0; } .plots svg { width: 340px; height: auto; }
.empty { width: 340px; padding: 2em 1em; color: #777; border: 1px dashed #ccc; }
mark.ent { background: #ddeeff; border-radius: .3em; padding: .05em .3em; line-height: 1.9; }
mark.ent.unseen { background: #ffd6d6; }
mark .freq { font-size: .7em; font-weight: bold; color: #456; margin-left: .35em; text-transform: uppercase; }
.pair { display: inline-block; margin: 0 .4em .2em 0; padding: 0 .3em; border-radius: .3em; background: #eef6ee; }
.pair.unseen { background: #ffd6d6; color: #a00; font-weight: bold; }
"""

# ------------------------------------------------------------------------------------ shared HTML helpers


def esc(value: object) -> str:
    """Escape any value as HTML text."""
    return html.escape(str(value), quote=True)


def fmt(value: object) -> str:
    """A value as escaped HTML: ``None`` as a dash, floats to 3 decimals, ints with separators, lists joined."""
    if value is None:
        return "&ndash;"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.3f}"
    if isinstance(value, Mapping):
        return "; ".join(f"{esc(k)}: {fmt(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return ", ".join(fmt(v) for v in value)
    return esc(value)


def _td(value: object) -> str:
    numeric = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    return f'<td class="num">{fmt(value)}</td>' if numeric else f"<td>{fmt(value)}</td>"


def table(headers: Sequence[str], rows: Iterable[Sequence[object]], *, raw: bool = False,
          row_classes: Sequence[str] | None = None) -> str:
    """An HTML table. Cells are formatted with :func:`fmt`, or taken as ready HTML when ``raw``."""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = []
    for i, row in enumerate(rows):
        cells = "".join(f"<td>{c}</td>" if raw else _td(c) for c in row)
        cls = f' class="{esc(row_classes[i])}"' if row_classes and row_classes[i] else ""
        body.append(f"<tr{cls}>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def flatten(mapping: Mapping, prefix: str = "") -> dict[str, object]:
    """Nested dicts as one level with dotted keys (lists are kept as values)."""
    out: dict[str, object] = {}
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, f"{name}."))
        else:
            out[name] = value
    return out


def kv_table(mapping: Mapping, *, skip: Iterable[str] = ()) -> str:
    """A two-column table of a (nested) mapping, skipping the top-level keys in ``skip``."""
    skip = set(skip)
    flat = flatten({k: v for k, v in mapping.items() if k not in skip})
    return table(["metric", "value"], flat.items())


def records_table(records: Sequence[Mapping], columns: Sequence[str], *,
                  row_classes: Sequence[str] | None = None) -> str:
    """A table of dict records, one column per key in ``columns`` (missing keys show a dash)."""
    return table(columns, ([r.get(c) for c in columns] for r in records), row_classes=row_classes)


def section(heading: str, *parts: str) -> str:
    return f"<section><h2>{esc(heading)}</h2>{''.join(parts)}</section>"


def note(text: str) -> str:
    return f'<p class="note">{esc(text)}</p>'


def page(title: str, *parts: str) -> str:
    """A complete standalone HTML document."""
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{esc(title)}</title><style>{_CSS}</style></head>"
        f"<body><h1>{esc(title)}</h1>{''.join(parts)}</body></html>\n"
    )


# ------------------------------------------------------------------------------------------------- plots


def _figure_class():
    """matplotlib's ``Figure`` (no pyplot), or a ConfigError saying how to install it."""
    try:
        import matplotlib
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ConfigError("the HTML report draws plots with matplotlib: pip install 'quco-gate[report]'") from exc
    return matplotlib, Figure


def roc_svg(title: str, curves: Mapping[str, tuple[np.ndarray, np.ndarray, float | None]]) -> str:
    """ROC curves (name -> (fpr, tpr, auroc)) drawn on one square plot, as an inline ``<svg>`` element."""
    matplotlib, Figure = _figure_class()
    fig = Figure(figsize=(4.2, 4.2))
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], linestyle=":", color="#999", linewidth=1)
    for name, (fpr, tpr, area) in curves.items():
        if fpr.shape[0] > MAX_CURVE_POINTS:  # thin long curves: the page stays small, the shape does not change
            keep = np.unique(np.linspace(0, fpr.shape[0] - 1, MAX_CURVE_POINTS).round().astype(np.int64))
            fpr, tpr = fpr[keep], tpr[keep]
        label = f"{name} ({area:.3f})" if area is not None else name
        ax.plot(fpr, tpr, linewidth=1.6 if name == "quco" else 1.1, label=label)
    ax.set(xlim=(0, 1), ylim=(0, 1.01), title=title, aspect="equal",
           xlabel="false-positive rate (right answers flagged)", ylabel="true-positive rate (wrong answers flagged)")
    ax.legend(loc="lower right", fontsize="small", title="AUROC", title_fontsize="small")
    fig.tight_layout()
    buf = io.StringIO()
    # Text stays text (smaller, searchable); a per-plot salt keeps element ids unique yet reproducible.
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": f"quco-{title}"}):
        fig.savefig(buf, format="svg", metadata=dict.fromkeys(("Date", "Creator", "Format", "Type")))
    svg = buf.getvalue()
    return svg[svg.index("<svg"):]


def _roc_figures(summary: Mapping, cases: Sequence[Mapping]) -> str:
    names = ["quco", *summary.get("baselines", {})]
    keys = {"quco": "score", **{n: n for n in names[1:]}}
    labels = np.asarray([c["label"] for c in cases], dtype=np.int64)
    coverage = np.asarray([c["coverage"] for c in cases], dtype=object)
    parts = []
    for stratum in REPORT_STRATA:
        if stratum == "all":
            mask = np.ones(len(cases), dtype=bool)
        else:
            members = STRATUM_UNIONS.get(stratum, (stratum,))
            mask = np.isin(coverage, members)
        idx = np.flatnonzero(mask)
        title = f"{stratum} (n={idx.size:,})"
        y = labels[idx]
        if idx.size == 0 or y.min() == y.max():
            parts.append(f'<figure><div class="empty">{esc(title)}: needs both right and wrong answers</div></figure>')
            continue
        curves = {}
        for name in names:
            s = np.asarray([cases[i][keys[name]] for i in idx], dtype=np.float64)
            curves[name] = (*roc_curve(s, y), auroc(s, y))
        parts.append(f"<figure>{roc_svg(title, curves)}</figure>")
    return f'<div class="plots">{"".join(parts)}</div>'


# ------------------------------------------------------------------------------------ entity highlighting


def _norm(text: object) -> str:
    return " ".join(str(text).split()).casefold()


def highlight(text: str, entities: Iterable[Mapping], unseen: set[str] = frozenset()) -> str:
    """``text`` as escaped HTML with each entity span wrapped in ``<mark>`` and its corpus frequency.

    Spans are ``start``/``end`` char offsets into ``text``; spans out of range or overlapping an earlier one
    are skipped. An entity whose (normalized) text is in ``unseen`` is marked red.
    """
    spans = sorted(
        (e for e in entities if isinstance(e.get("start"), int) and isinstance(e.get("end"), int)),
        key=lambda e: (e["start"], -e["end"]),
    )
    out, cursor = [], 0
    for e in spans:
        start, end = e["start"], e["end"]
        if start < cursor or start >= end or end > len(text):
            continue
        piece = text[start:end]
        cls = "ent unseen" if _norm(e.get("text", piece)) in unseen else "ent"
        freq = e.get("freq")
        out.append(esc(text[cursor:start]))
        out.append(f'<mark class="{cls}">{esc(piece)}<span class="freq">{fmt(freq)}</span></mark>')
        cursor = end
    out.append(esc(text[cursor:]))
    return "".join(out)


def render_pairs(pairs: Iterable[Mapping]) -> str:
    """Entity pairs with their co-occurrence count; pairs the corpus never saw together in red."""
    out = []
    for p in pairs:
        cls = "pair unseen" if p.get("unseen") else "pair"
        out.append(f'<span class="{cls}">{esc(p.get("a", "?"))} &times; {esc(p.get("b", "?"))}: '
                   f'{fmt(p.get("cooccurrence"))}</span>')
    return "".join(out) or "&ndash;"


def _case_row(case: Mapping) -> list[str]:
    entities = case.get("entities") or []
    pairs = case.get("pairs") or []
    unseen = {_norm(p[k]) for p in pairs if p.get("unseen") for k in ("a", "b") if k in p}
    by_source = {src: [e for e in entities if e.get("source", "question") == src] for src in ("question", "answer")}
    return [
        fmt(case.get("score")),
        fmt(case.get("coverage")),
        fmt(case.get("decision")),
        highlight(str(case.get("question") or ""), by_source["question"], unseen),
        highlight(str(case.get("answer") or ""), by_source["answer"], unseen),
        render_pairs(pairs),
    ]


def worst_cases(cases: Sequence[Mapping], worst: int) -> tuple[list[Mapping], list[Mapping]]:
    """Wrong answers with the lowest risk and right answers with the highest risk, ``worst`` of each."""
    wrong = sorted((c for c in cases if c["label"] == 1), key=lambda c: c["score"])
    right = sorted((c for c in cases if c["label"] == 0), key=lambda c: -c["score"])
    return wrong[:worst], right[:worst]


# ------------------------------------------------------------------------------------------------ pages


def _metric_tables(summary: Mapping) -> str:
    strata = summary.get("strata", {})
    baselines = summary.get("baselines", {})

    def stratum_of(name: str) -> Mapping:
        return summary if name == "all" else strata.get(name, {})

    def base_of(name: str, stratum: str) -> Mapping:
        b = baselines[name]
        return b if stratum == "all" else b.get("strata", {}).get(stratum, {})

    parts = []
    for metric, heading in (("auroc", "AUROC"), ("pairwise_accuracy", "pairwise accuracy")):
        headers = ["stratum", "n", "fraction", f"quco {heading}", *(f"{b} {heading}" for b in baselines)]
        rows = []
        for st in REPORT_STRATA:
            row = stratum_of(st)
            rows.append([st, row.get("n"), (1.0 if row.get("n") else None) if st == "all" else row.get("fraction"), row.get(metric),
                         *(base_of(b, st).get(metric) for b in baselines)])
        if any(r[3] is not None for r in rows):
            parts.append(table(headers, rows))
    return "".join(parts)


def render_html(summary: dict, cases: list[dict], *, title: str, worst: int = 25) -> str:
    """The ``quco eval --html`` page for a detection run: ``summary`` from
    :func:`quco.evaluation.metrics.summarize` and the scored ``cases`` it was computed from.

    Cases may carry ``question``, ``entities`` (``text``, ``start``, ``end``, ``source`` of ``question`` or
    ``answer``, ``freq``) and ``pairs`` (``a``, ``b``, ``cooccurrence``, ``unseen``) for the examples.
    """
    gate = summary.get("gate", {})
    lc = summary.get("length_control", {})
    lat = summary.get("latency_ms", {})
    lc_rows = [["quco", lc.get("auroc_short")], *([b, a] for b, a in lc.get("baselines_short", {}).items())]
    wrong, right = worst_cases(cases, worst)
    case_headers = ["risk", "coverage", "decision", "question", "answer", "pairs"]
    return page(
        title,
        note(f"{summary.get('n', len(cases)):,} cases. Risk: higher means more likely wrong; AUROC is the chance "
             "a wrong answer gets a higher risk than a right one (ties count half). Pairwise accuracy compares "
             "each wrong answer with the right answer(s) of its own item only; within a stratum it counts the "
             "pairs whose two answers both fall in that stratum."),
        section("Detection by coverage stratum", _metric_tables(summary)),
        section("Gate (factual mode)",
                table(["pass rate", "error among passed", "base error"],
                      [[gate.get("pass_rate"), gate.get("error_among_passed"), gate.get("base_error")]]),
                note("Error among passed: the share of wrong answers the gate lets through, to compare with the "
                     "base error rate of all answers.")),
        section("Length control",
                note(f"Answer length alone (word count) reaches AUROC {fmt(lc.get('auroc_length'))}. On the "
                     f"{fmt(lc.get('n_short'))} cases whose answer, and every answer of the same item, has at "
                     f"most {SHORT_ANSWER_WORDS} words, length carries little signal; these are the AUROCs there:"),
                table(["score", "AUROC (short answers)"], lc_rows)),
        section("Latency of assess (ms)", table(["p50", "p95"], [[lat.get("p50"), lat.get("p95")]])),
        section("ROC curves", _roc_figures(summary, cases)),
        section(f"Wrong answers with the lowest risk ({len(wrong)})",
                table(case_headers, (_case_row(c) for c in wrong), raw=True)),
        section(f"Right answers with the highest risk ({len(right)})",
                table(case_headers, (_case_row(c) for c in right), raw=True)),
    )


def render_blends_html(summary: dict, rows: list[dict]) -> str:
    """The ``quco eval --format blends --html`` page: the summary metrics and one row per pair.

    Rows carry ``a``, ``b``, ``field_a``, ``field_b``, ``kind`` (gold), ``predicted_kind``, ``distance`` and
    ``bridges`` (a list of names or of ``{"text", "score"}``); ``correct`` may override the comparison of
    kind and predicted kind. Misjudged pairs come first and are shaded.
    """
    def misjudged(r: Mapping) -> bool:
        return not r["correct"] if "correct" in r else r.get("kind") != r.get("predicted_kind")

    ordered = sorted(rows, key=lambda r: not misjudged(r))
    shown = [{**r, "bridges": [b.get("text", b) if isinstance(b, Mapping) else b for b in r.get("bridges") or []]}
             for r in ordered]
    columns = ["a", "b", "field_a", "field_b", "kind", "predicted_kind", "distance", "bridges"]
    n_miss = sum(map(misjudged, rows))
    return page(
        "quco eval: blends",
        section("Summary", kv_table(summary)),
        section(f"Pairs ({len(rows):,}; {n_miss:,} misjudged, shown first)",
                records_table(shown, columns, row_classes=["miss" if misjudged(r) else "" for r in ordered])),
    )


def render_modes_html(summary: dict) -> str:
    """The ``quco eval --format modes --html`` page: metrics per router and the prompts each misrouted.

    ``summary["routers"]`` maps a router name to its metrics (nested dicts are flattened to columns);
    ``summary["misrouted"]``, if present, maps a router name to records with ``prompt``, ``label`` and
    ``predicted`` (other keys are shown too).
    """
    routers = summary.get("routers", {})
    flat = {name: flatten(m) for name, m in routers.items()}
    metric_cols = list(dict.fromkeys(k for m in flat.values() for k in m))
    parts = [section("Routers", table(["router", *metric_cols], ([n, *(m.get(k) for k in metric_cols)]
                                                                   for n, m in flat.items())))]
    if set(summary) - {"routers", "misrouted"}:
        parts.append(section("Other figures", kv_table(summary, skip=("routers", "misrouted"))))
    for name, records in (summary.get("misrouted") or {}).items():
        first = ["id", "label", "predicted", "prompt"]
        columns = [c for c in first if any(c in r for r in records)]
        columns += [c for c in dict.fromkeys(k for r in records for k in r) if c not in columns]
        parts.append(section(f"Misrouted by {name} ({len(records):,})", records_table(records, columns)))
    return page("quco eval: modes", *parts)
