"""Write the README's command reference from the CLI itself: ``python scripts/cli_reference.py``.

The block between ``<!-- cli-reference -->`` and ``<!-- /cli-reference -->`` in README.md is replaced by one
row per command (its one-line summary) and one line per option (its flags and help), read from the click
commands. ``tests/test_docs.py`` fails when the block is stale, so the reference cannot drift from the code;
``--check`` only reports whether it is.
"""
from __future__ import annotations

import sys
from pathlib import Path

import click

README = Path(__file__).resolve().parent.parent / "README.md"
START, END = "<!-- cli-reference -->", "<!-- /cli-reference -->"


def reference() -> str:
    from quco.cli.main import cli

    lines = [START, "", "| command | what it does |", "|---|---|"]
    for name, cmd in sorted(cli.commands.items()):
        summary = cmd.get_short_help_str(limit=120).replace("|", "\\|")
        lines.append(f"| `quco {name}` | {summary} |")
    for name, cmd in sorted(cli.commands.items()):
        opts = [p for p in cmd.params if isinstance(p, click.Option) and "--help" not in p.opts]
        args = [p.name.upper() for p in cmd.params if isinstance(p, click.Argument)]
        lines += ["", f"`quco {name}{''.join(' ' + a for a in args)}`" + (":" if opts else "")]
        for p in opts:
            lines.append(f"- {' / '.join(f'`{o}`' for o in [*p.opts, *p.secondary_opts])}: "
                         f"{(p.help or '').strip()}")
    lines += ["", END]
    return "\n".join(lines)


def updated(text: str) -> str:
    if START not in text or END not in text:
        raise SystemExit(f"README.md has no {START} ... {END} block")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    return head + reference() + tail


def main() -> int:
    text = README.read_text(encoding="utf-8")
    new = updated(text)
    if "--check" in sys.argv[1:]:
        print("README command reference is " + ("current" if new == text else "stale: run scripts/cli_reference.py"))
        return 0 if new == text else 1
    README.write_text(new, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
