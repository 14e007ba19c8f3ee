"""The one-change-at-a-time ablation of ``docs/eval.md``, as a command:

    python -m quco.evaluation.ablation ../shared/data/entityquestions/eq_swap_dev.jsonl --index wiki-phrases.idx

Each row is the default :class:`~quco.gate.assess.GateConfig` with one field changed, scored on the same rows,
hint-free (question and answer only) unless the row says otherwise; the table is printed as Markdown. Every
figure of that table in the docs comes from this command.
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from typing import Any

from quco.cooccur.index import Index
from quco.evaluation.evaluate import compare_configs
from quco.gate.assess import GateConfig


def variants(base: GateConfig | None = None) -> dict[str, GateConfig | tuple[GateConfig, bool]]:
    """The named one-change variants of ``base`` (default config), in table order."""
    d = base or GateConfig()
    return {
        "default (hint-free)": d,
        "with the gold subject as a hint": (d, True),
        "association: smoothed NPMI (add-half)": replace(d, association="npmi_smoothed"),
        "association: PMI (tanh)": replace(d, association="pmi"),
        "association: raw count": replace(d, association="count"),
        "association: binary (QuCo-RAG, count >= 1)": replace(d, association="binary"),
        "association: conditional share c / min(fa, fb)": replace(d, association="conditional"),
        "pairs: also answer-answer": replace(d, pair_kinds=("question-answer", "answer-answer")),
        "claims: off (every question entity x every answer entity)": replace(d, claims=False),
        "whole short answer as one entity: off": replace(d, answer_as_entity_words=0),
        "claims: unknown title-cased names split into known parts": replace(d, claim_unknown_titles=False),
        "claims: a topic inside a longer unknown name counts as known": replace(d, claim_part_topics=False),
        "coverage by frequency only (no title needed)": replace(d, known_needs_title=False),
        "coverage: a stub article suffices (known_article_tokens=0)": replace(d, known_article_tokens=0),
        "pass_conditional off": replace(d, pass_conditional=2.0),
        "window scope (1000 tokens) instead of document": replace(d, scope="window"),
        "neighbour similarity for unseen pairs (neighbour_weight=0.5)": replace(d, neighbour_weight=0.5),
    }


def _f(v: Any) -> str:
    return "-" if v is None else f"{v:.3f}"


def markdown(table: dict[str, dict[str, Any]]) -> str:
    """The ablation rows as a Markdown table (AUROC by stratum with the stratum's share, then the gate)."""
    lines = ["| variant | known | sparse | known+sparse | all | pass / error among passed |",
             "|---|---:|---:|---:|---:|---:|"]
    for name, r in table.items():
        lines.append(f"| {name} | {_f(r['known'])} ({r['fraction_known']:.1%}) | {_f(r['sparse'])} "
                     f"({r['fraction_sparse']:.1%}) | {_f(r['known+sparse'])} | {_f(r['all'])} | "
                     f"{_f(r['pass_rate'])} / {_f(r['error_among_passed'])} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m quco.evaluation.ablation", description=__doc__.split("\n\n")[0])
    ap.add_argument("data", help="a swap/pairs/halueval dev file")
    ap.add_argument("--index", required=True, help="index directory")
    ap.add_argument("--limit", type=int, default=None, help="only the first N rows")
    ap.add_argument("--only", nargs="*", help="only these variants (names as printed)")
    args = ap.parse_args(argv)
    chosen = variants()
    if args.only:
        chosen = {k: v for k, v in chosen.items() if k in args.only}
    ix = Index(args.index)
    table = {}
    for name, spec in chosen.items():
        table.update(compare_configs(args.data, ix, {name: spec}, limit=args.limit))
        print(f"done: {name}", file=sys.stderr, flush=True)
    print(markdown(table))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
