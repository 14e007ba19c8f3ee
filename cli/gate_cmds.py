"""``quco risk`` (and ``quco eval``): the gate from the command line."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from quco.cli.common import EXIT_ERROR, EXIT_RISK, emit, index_option, json_option, open_index, settings_option
from quco.errors import BadInputError, ConfigError, QucoError

EXIT_BROKEN_PIPE = 141  # what a shell reports for a process that SIGPIPE ended


def _assess(ix, question, answer, mode, **kw):
    from quco.gate.assess import assess

    return assess(question, answer, index=ix, mode=mode, **kw)


def _config(settings):
    """The run's GateConfig from ``--set`` (``None``: the defaults)."""
    from quco.gate.config import config_from_settings

    return config_from_settings(settings) if settings else None


def _exit_quietly_on_broken_pipe() -> None:
    """The reader went away (``quco risk --batch ... | head -1``): stop without a word, as Unix tools do when
    SIGPIPE ends them (exit status 141 = 128 + SIGPIPE)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # the interpreter's final flush must not fail again
    except (OSError, ValueError):
        pass
    os._exit(EXIT_BROKEN_PIPE)


def _batch(ix, source, name: str, mode, retrieve, config=None) -> int:
    """One JSON line per request of ``source``; the exit code: 2 when a line was malformed, else 1 when a report
    was flagged, else 0."""
    flagged = failed = False
    for n, line in enumerate(source, 1):
        if not line.strip():
            continue
        try:
            req = json.loads(line)
            if not isinstance(req, dict) or not isinstance(req.get("question"), str):
                raise ValueError("expected an object with a string 'question'")
            rep = _assess(ix, req["question"], req.get("answer"), req.get("mode", mode), retrieve=retrieve,
                          subject=req.get("subject"), config=config)
            out = rep.to_dict()
            flagged |= rep.flagged
        except (ValueError, QucoError) as e:
            out = {"error": f"{name} line {n}: {e}", "line": n}
            failed = True
        try:
            click.echo(json.dumps(out, ensure_ascii=False))
            sys.stdout.flush()
        except BrokenPipeError:
            _exit_quietly_on_broken_pipe()
    return EXIT_ERROR if failed else EXIT_RISK if flagged else 0


@click.command("risk")
@index_option
@click.option("--question", "-q", help="The prompt / question.")
@click.option("--answer", "-a", help="The model's answer (omit for the pre-generation check).")
@click.option("--subject", help="The entity the question is about, when you know it (a hint: it then counts as a "
                                "question entity, and the question's coverage is its coverage).")
@click.option("--mode", default="factual", show_default=True, type=click.Choice(["factual", "creative", "auto"]),
              help="factual: unseen pairs route to retrieval; creative: they are sanctioned blends; auto: decide "
                   "from the question.")
@click.option("--batch", "batch", is_flag=False, flag_value="-", default=None, metavar="[FILE]",
              help="Read JSONL requests {question, answer?, mode?, subject?} from FILE, or from stdin when no FILE "
                   "(or -) is given; one report per line on stdout. Exit 2 if a line is malformed (its output "
                   "line says why), else 1 if any report is flagged.")
@click.option("--html", "html_path", type=click.Path(dir_okay=False), help="Also write a standalone HTML report.")
@click.option("--no-evidence", is_flag=True, help="Do not retrieve evidence passages.")
@click.option("--color/--no-color", default=None, help="Colour the highlighted text (default: when a terminal).")
@settings_option
@json_option
def risk_command(index_path, question, answer, subject, mode, batch, html_path, no_evidence, color, settings,
                 as_json) -> None:
    """Assess the data-side risk of a question (and answer) against the corpus.

    Exit code 0: pass, or a sanctioned blend of entities the corpus knows; 1: risk flagged (retrieve, or a
    blend with an entity the corpus never mentions); 2: error.

    \b
    Examples:
      quco risk -q "Where was Marie Curie born?" -a "Marie Curie was born in Warsaw."
      quco risk -q "Write a poem about Einstein in Warsaw" -a "..." --mode auto --json
      quco risk --batch requests.jsonl > reports.jsonl
      cat requests.jsonl | quco risk --batch > reports.jsonl
      quco risk -q "Where was Marie Curie born?" -a "In Warsaw." --set pass_passage=0
    """
    config = _config(settings)
    if batch is not None and (question or answer or subject):
        raise ConfigError("--batch reads its requests from a file or stdin; do not also pass "
                          "--question/--answer/--subject")
    if batch is None and not question:
        raise ConfigError("give --question (and --answer), or --batch [FILE] with JSONL requests")
    ix = open_index(index_path)
    retrieve = False if no_evidence else None
    if batch is not None:
        if batch == "-":
            sys.exit(_batch(ix, sys.stdin, "stdin", mode, retrieve, config))
        try:
            with open(batch, encoding="utf-8") as f:
                code = _batch(ix, f, batch, mode, retrieve, config)
        except FileNotFoundError:
            raise BadInputError(batch, "no such file") from None
        except UnicodeDecodeError as e:
            raise BadInputError(batch, f"not UTF-8 text ({e.reason})") from None
        sys.exit(code)
    rep = _assess(ix, question, answer, mode, retrieve=retrieve, subject=subject, config=config)
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


def _fmt_ci(ci) -> str:
    return "" if not ci else f" [{ci[0]:.3f}, {ci[1]:.3f}]"


def _human_detection(s: dict) -> str:
    hint = "with the rows' gold subject as a hint" if s.get("subject_hint") else "hint-free: question and answer only"
    lines = [f"{s['format']}: {s['n']} cases ({hint})   AUROC {_fmt_metric(s['auroc'])}{_fmt_ci(s.get('auroc_ci95'))}"
             f"   pairwise accuracy {_fmt_metric(s['pairwise_accuracy'])}", "",
             f"{'stratum':<14}{'fraction':>9}{'AUROC':>8}{'95% interval':>18}{'pairwise':>10}"
             + "".join(f"{b:>13}" for b in s["baselines"])]
    for name, st in s["strata"].items():
        lines.append(f"{name:<14}{st['fraction']:>9.3f}{_fmt_metric(st['auroc']):>8}"
                     f"{_fmt_ci(st.get('auroc_ci95')) or '  -':>18}{_fmt_metric(st['pairwise_accuracy']):>10}"
                     + "".join(f"{_fmt_metric(b['strata'][name]['auroc']):>13}" for b in s["baselines"].values()))
    lines.append(f"{'all':<14}{1:>9.3f}{_fmt_metric(s['auroc']):>8}{_fmt_ci(s.get('auroc_ci95')) or '  -':>18}"
                 f"{_fmt_metric(s['pairwise_accuracy']):>10}"
                 + "".join(f"{_fmt_metric(b['auroc']):>13}" for b in s["baselines"].values()))
    g = s["gate"]
    n_passed = g.get("n_passed")
    few = f"; rests on {n_passed} passed answers" if n_passed is not None and n_passed < 200 else ""
    lines += ["", f"gate (factual): pass rate {_fmt_metric(g['pass_rate'])} ({n_passed} answers), error among "
                  f"passed {_fmt_metric(g['error_among_passed'])}{_fmt_ci(g.get('error_among_passed_ci95'))} "
                  f"(base error {_fmt_metric(g['base_error'])}{few})"]
    lc = s.get("length_control", {})
    if lc:
        lines.append(f"length control: {lc.get('n_short')} short cases, AUROC {_fmt_metric(lc.get('auroc_short'))} "
                     f"(length itself: {_fmt_metric(lc.get('auroc_length'))})")
    checked = s["strata"].get("known+sparse", {})
    if checked.get("shortfall"):
        top = list(checked["shortfall"].items())[:2]
        lines.append(f"known+sparse: 1 - AUROC = {1 - checked['auroc']:.3f}, largest shares: "
                     + "; ".join(f"{k} {v:.3f}" for k, v in top) + " (all: --json, shortfall)")
    lines.append(f"assess latency: p50 {s['latency_ms']['p50']:.2f} ms, p95 {s['latency_ms']['p95']:.2f} ms")
    lines.append("95% intervals: bootstrap over questions (sampling noise only). The gate's thresholds were chosen on "
                 "the dev files: figures on them are in-sample (dev, tuned on these rows).")
    return "\n".join(lines)


def _human_blends(s: dict) -> str:
    per = ", ".join(f"{k} {_fmt_metric(v)}" for k, v in s["per_field_auroc"].items())
    return (f"blends: {s['n']} pairs   distance AUROC (cross_field vs near) {_fmt_metric(s['auroc'])}   kind accuracy "
            f"{_fmt_metric(s['kind_accuracy'])}   seen pass rate {_fmt_metric(s['seen_pass_rate'])}\n"
            f"per field: {per}\nlatency: p50 {s['latency_ms'].get('p50', 0):.2f} ms")


def _human_modes(s: dict) -> str:
    lines = [f"modes: {s['n']} prompts"]

    def row(label: str, r: dict) -> str:
        return (f"  {label:<6} balanced accuracy {_fmt_metric(r['balanced_accuracy'])}  recall factual "
                f"{_fmt_metric(r['recall']['factual'])} creative {_fmt_metric(r['recall']['creative'])}  "
                f"precision creative {_fmt_metric(r['precision']['creative'])}")

    for name, r in s["routers"].items():
        lines.append(row(name, r) + ("  (whole file, in-sample)"
                                     if "leave_prompts_out" in r else ""))
        if "leave_prompts_out" in r:
            lpo = r["leave_prompts_out"]
            lines.append(row("", lpo).replace("  " + " " * 6, "    leave-prompts-out:", 1)
                         + f"  ({lpo['alternatives_dropped']:.0f} of {lpo['alternatives']} cue alternatives "
                           f"dropped per fold)")
    return "\n".join(lines)


def _human_many(rows: list[dict]) -> str:
    lines = [f"{'file':<36}{'rows':>6}{'checked':>9}{'AUROC checked':>15}{'95% interval':>18}{'QuCo bin.':>10}"
             f"{'margin':>8}{'pass':>7}{'err|pass':>9}{'short AUROC':>13}{'p50 ms':>8}"]
    for r in rows:
        short = f"{_fmt_metric(r['auroc_short'])} ({r['n_short']})"
        margin = "  -  " if r["margin"] is None else f"{r['margin']:+.3f}"
        lines.append(f"{r['file'][:35]:<36}{r['n']:>6}{_fmt_metric(r['checked']):>9}{_fmt_metric(r['auroc_checked']):>15}"
                     f"{_fmt_ci(r['auroc_checked_ci95']) or '  -':>18}{_fmt_metric(r['quco_binary_checked']):>10}"
                     f"{margin:>8}{_fmt_metric(r['pass_rate']):>7}{_fmt_metric(r['error_among_passed']):>9}"
                     f"{short:>13}{r['p50_ms'] or 0:>8.1f}")
    lines += ["", "checked: question coverage known or sparse; AUROC, QuCo's binary rule and margin on those rows; "
                  "pass / err|pass: the factual gate over all rows; short: answers of at most "
                  f"{rows[0]['short_words']} words (every answer of the question). Hint-free; dev rows, in-sample."]
    return "\n".join(lines)


@click.command("eval")
@click.argument("data", type=click.Path())
@index_option
@click.option("--format", "fmt", default="auto", show_default=True,
              type=click.Choice(["auto", "swap", "pairs", "halueval", "blends", "modes"]),
              help="Dev-file format (auto: from the first row's keys).")
@click.option("--limit", type=click.IntRange(min=1), help="Only the first N rows.")
@click.option("--subject-hint", is_flag=True,
              help="Also hand assess the rows' gold `subject` (as `quco risk --subject` would). Off by default: "
                   "the headline figures see what users run, question and answer only.")
@click.option("--bootstrap", default=1000, show_default=True, type=click.IntRange(min=0),
              help="Bootstrap resamples (over questions) for the 95% intervals; 0: no intervals.")
@click.option("--html", "html_path", type=click.Path(dir_okay=False), help="Write a standalone HTML report.")
@settings_option
@json_option
def eval_command(data, index_path, fmt, limit, subject_hint, bootstrap, html_path, settings, as_json) -> None:
    """Measure detection quality on a labelled dev file (AUROC by coverage stratum, gate view, baselines), or on
    every .jsonl file of a directory (one summary row per file).

    \b
    Examples:
      quco eval ../shared/data/entityquestions/eq_swap_dev.jsonl --index wiki.idx
      quco eval ../shared/data/halueval/halueval_qa_dev.jsonl --index wiki.idx --json --html halueval.html
      quco eval ../shared/data/realqa/ --format pairs --index wikix.idx
      quco eval ../shared/data/realqa/ --format pairs --index wikix.idx --set passage_weight=0
    """
    from quco.evaluation import evaluate
    from quco.evaluation import html_report as eval_report

    files = evaluate.dev_files(data)
    config = _config(settings)
    if Path(data).is_dir():
        if html_path:
            raise ConfigError("--html reports one dev file: name the file, not the directory")
        _eval_many(files, index_path, fmt, limit, subject_hint, bootstrap, as_json, config)
        return

    if fmt == "auto":
        fmt = evaluate.detect_format(next(evaluate.read_rows(data, 1))[1])
    if fmt == "modes":
        if settings:
            raise ConfigError("--set changes the gate's thresholds; --format modes measures the router alone")
        from quco.evaluation.modes import evaluate_modes

        from tqdm import tqdm

        rows = [r for _, r in evaluate.read_rows(data, limit)]
        with tqdm(desc="routing", unit="prompt", file=sys.stderr, leave=False, disable=None) as bar:
            summary = evaluate_modes(rows, progress=bar)
        summary["format"] = "modes"
        if html_path:
            Path(html_path).write_text(eval_report.render_modes_html(summary), encoding="utf-8")
        emit(summary, as_json, _human_modes)
        return
    ix = open_index(index_path)
    if fmt == "blends":
        summary, rows = evaluate.evaluate_blends(data, ix, limit, config=config)
        if html_path:
            Path(html_path).write_text(eval_report.render_blends_html(summary, rows), encoding="utf-8")
        emit(summary, as_json, _human_blends)
        return
    from tqdm import tqdm

    with tqdm(desc="assessing", unit="case", file=sys.stderr, leave=False, disable=None) as bar:
        summary, cases = evaluate.evaluate_detection(data, ix, fmt, limit, config=config, progress=bar,
                                                     subject_hint=subject_hint, bootstrap=bootstrap)
    if html_path:
        Path(html_path).write_text(eval_report.render_html(summary, cases, title=f"quco eval: {Path(data).name}"),
                                   encoding="utf-8")
    emit(summary, as_json, _human_detection)


def _eval_many(files, index_path, fmt, limit, subject_hint, bootstrap, as_json, config=None) -> None:
    """``quco eval DIR``: the detection summary of each file, as one table (``--json``: the summaries in full)."""
    from tqdm import tqdm

    from quco.evaluation import evaluate

    ix = open_index(index_path)
    summaries = []
    for f in files:
        kind = evaluate.detect_format(next(evaluate.read_rows(f, 1))[1]) if fmt == "auto" else fmt
        if kind in ("blends", "modes"):
            raise ConfigError(f"{f.name}: a {kind} file; a directory is evaluated for detection only")
        with tqdm(desc=f.name, unit="case", file=sys.stderr, leave=False, disable=None) as bar:
            summary, _ = evaluate.evaluate_detection(f, ix, kind, limit, config=config, progress=bar,
                                                     subject_hint=subject_hint, bootstrap=bootstrap)
        summaries.append(summary)
    if as_json:
        emit({"files": summaries, "headline": [evaluate.headline(s) for s in summaries]}, True, str)
    else:
        emit([evaluate.headline(s) for s in summaries], False, _human_many)


COMMANDS = [risk_command, eval_command]
