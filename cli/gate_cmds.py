"""``quco risk`` (and ``quco eval``): the gate from the command line."""
from __future__ import annotations

import json
import sys

import click

from quco.cli.common import EXIT_ERROR, EXIT_RISK, index_option, json_option, open_index
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


COMMANDS = [risk_command]
_ = EXIT_ERROR
