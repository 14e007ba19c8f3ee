"""``quco risk`` (and ``quco eval``): the gate from the command line."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from quco.cli.common import EXIT_RISK, emit, index_option, json_option, open_index
from quco.errors import ConfigError, QucoError


def _assess(ix, question, answer, mode, **kw):
    from quco.gate.assess import assess

    return assess(question, answer, index=ix, mode=mode, **kw)


@click.command("risk")
@index_option
@click.option("--question", "-q", help="The prompt / question.")
@click.option("--answer", "-a", help="The model's answer (omit for the pre-generation check).")
@click.option("--mode", default="factual", show_default=True, type=click.Choice(["factual", "creative", "auto"]),
              help="factual: unseen pairs route to retrieval; creative: they are sanctioned blends; auto: decide "
                   "from the question.")
@click.option("--batch", is_flag=True, help="Read JSONL requests {question, answer?, mode?} from stdin; one report "
                                            "per line on stdout.")
@click.option("--html", "html_path", type=click.Path(dir_okay=False), help="Also write a standalone HTML report.")
@click.option("--no-evidence", is_flag=True, help="Do not retrieve evidence passages.")
@click.option("--color/--no-color", default=None, help="Colour the highlighted text (default: when a terminal).")
@json_option
def risk_command(index_path, question, answer, mode, batch, html_path, no_evidence, color, as_json) -> None:
    """Assess the data-side risk of a question (and answer) against the corpus.

    Exit code 0: pass or sanctioned blend; 1: risk flagged, retrieve; 2: error.

    \b
    Examples:
      quco risk -q "Where was Marie Curie born?" -a "Marie Curie was born in Warsaw."
      quco risk -q "Write a poem about Einstein in Warsaw" -a "..." --mode auto --json
      cat requests.jsonl | quco risk --batch > reports.jsonl
    """
    ix = open_index(index_path)
    retrieve = False if no_evidence else None
    if batch:
        if question or answer:
            raise ConfigError("--batch reads requests from stdin; do not also pass --question/--answer")
        flagged = False
        for n, line in enumerate(sys.stdin, 1):
            if not line.strip():
                continue
            try:
                req = json.loads(line)
                if not isinstance(req, dict) or not isinstance(req.get("question"), str):
                    raise ValueError("expected an object with a string 'question'")
                rep = _assess(ix, req["question"], req.get("answer"), req.get("mode", mode), retrieve=retrieve)
                out = rep.to_dict()
                flagged |= rep.flagged
            except (ValueError, QucoError) as e:
                out = {"error": f"stdin line {n}: {e}", "line": n}
                flagged = True
            click.echo(json.dumps(out, ensure_ascii=False))
        sys.exit(EXIT_RISK if flagged else 0)
    if not question:
        raise ConfigError("give --question (and --answer), or --batch with JSONL on stdin")
    rep = _assess(ix, question, answer, mode, retrieve=retrieve)
    if html_path:
        with open(html_path, "w", encoding="utf-8") as f:
            f.write(rep.render_html())
    if as_json:
        click.echo(rep.to_json())
    else:
        click.echo(rep.render_text(color=sys.stdout.isatty() if color is None else color))
    sys.exit(EXIT_RISK if rep.flagged else 0)


def _fmt_metric(v) -> str:
    return "  -  " if v is None else f"{v:.3f}"


def _human_detection(s: dict) -> str:
    lines = [f"{s['format']}: {s['n']} cases   AUROC {_fmt_metric(s['auroc'])}   pairwise accuracy "
             f"{_fmt_metric(s['pairwise_accuracy'])}", "", f"{'stratum':<14}{'fraction':>9}{'AUROC':>8}{'pairwise':>10}"
             + "".join(f"{b:>13}" for b in s["baselines"])]
    for name, st in s["strata"].items():
        lines.append(f"{name:<14}{st['fraction']:>9.3f}{_fmt_metric(st['auroc']):>8}"
                     f"{_fmt_metric(st['pairwise_accuracy']):>10}"
                     + "".join(f"{_fmt_metric(b['strata'][name]['auroc']):>13}" for b in s["baselines"].values()))
    lines.append(f"{'all':<14}{1:>9.3f}{_fmt_metric(s['auroc']):>8}{_fmt_metric(s['pairwise_accuracy']):>10}"
                 + "".join(f"{_fmt_metric(b['auroc']):>13}" for b in s["baselines"].values()))
    g = s["gate"]
    lines += ["", f"gate (factual): pass rate {_fmt_metric(g['pass_rate'])}, error among passed "
                  f"{_fmt_metric(g['error_among_passed'])} (base error {_fmt_metric(g['base_error'])})"]
    lc = s.get("length_control", {})
    if lc:
        lines.append(f"length control: {lc.get('n_short')} short cases, AUROC {_fmt_metric(lc.get('auroc_short'))} "
                     f"(length itself: {_fmt_metric(lc.get('auroc_length'))})")
    lines.append(f"assess latency: p50 {s['latency_ms']['p50']:.2f} ms, p95 {s['latency_ms']['p95']:.2f} ms")
    return "\n".join(lines)


def _human_blends(s: dict) -> str:
    per = ", ".join(f"{k} {_fmt_metric(v)}" for k, v in s["per_field_auroc"].items())
    return (f"blends: {s['n']} pairs   distance AUROC (cross_field vs near) {_fmt_metric(s['auroc'])}   kind accuracy "
            f"{_fmt_metric(s['kind_accuracy'])}   seen pass rate {_fmt_metric(s['seen_pass_rate'])}\n"
            f"per field: {per}\nlatency: p50 {s['latency_ms'].get('p50', 0):.2f} ms")


def _human_modes(s: dict) -> str:
    lines = [f"modes: {s['n']} prompts"]
    for name, r in s["routers"].items():
        lines.append(f"  {name:<6} balanced accuracy {_fmt_metric(r['balanced_accuracy'])}  recall factual "
                     f"{_fmt_metric(r['recall']['factual'])} creative {_fmt_metric(r['recall']['creative'])}  "
                     f"precision creative {_fmt_metric(r['precision']['creative'])}")
    return "\n".join(lines)


@click.command("eval")
@click.argument("data", type=click.Path(dir_okay=False))
@index_option
@click.option("--format", "fmt", default="auto", show_default=True,
              type=click.Choice(["auto", "swap", "pairs", "halueval", "blends", "modes"]),
              help="Dev-file format (auto: from the first row's keys).")
@click.option("--limit", type=click.IntRange(min=1), help="Only the first N rows.")
@click.option("--html", "html_path", type=click.Path(dir_okay=False), help="Write a standalone HTML report.")
@json_option
def eval_command(data, index_path, fmt, limit, html_path, as_json) -> None:
    """Measure detection quality on a labelled dev file (AUROC by coverage stratum, gate view, baselines).

    \b
    Examples:
      quco eval ../shared/data/entityquestions/eq_swap_dev.jsonl --index wiki.idx
      quco eval ../shared/data/halueval/halueval_qa_dev.jsonl --index wiki.idx --json --html halueval.html
    """
    from quco.evaluation import evaluate
    from quco.evaluation import html_report as eval_report

    if fmt == "auto":
        fmt = evaluate.detect_format(next(evaluate.read_rows(data, 1))[1])
    if fmt == "modes":
        from quco.evaluation.modes import evaluate_modes

        rows = [r for _, r in evaluate.read_rows(data, limit)]
        summary = evaluate_modes(rows)
        summary["format"] = "modes"
        if html_path:
            Path(html_path).write_text(eval_report.render_modes_html(summary), encoding="utf-8")
        emit(summary, as_json, _human_modes)
        return
    ix = open_index(index_path)
    if fmt == "blends":
        summary, rows = evaluate.evaluate_blends(data, ix, limit)
        if html_path:
            Path(html_path).write_text(eval_report.render_blends_html(summary, rows), encoding="utf-8")
        emit(summary, as_json, _human_blends)
        return
    from tqdm import tqdm

    with tqdm(desc="assessing", unit="case", file=sys.stderr, leave=False, disable=None) as bar:
        summary, cases = evaluate.evaluate_detection(data, ix, fmt, limit, progress=bar)
    if html_path:
        Path(html_path).write_text(eval_report.render_html(summary, cases, title=f"quco eval: {Path(data).name}"),
                                   encoding="utf-8")
    emit(summary, as_json, _human_detection)


COMMANDS = [risk_command, eval_command]
