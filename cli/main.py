"""The ``quco`` command: a thin click layer over the library.

Each command opens the index, calls one library function and renders the result. Typed ``QucoError``s become
one line on stderr and exit code 2 in one place (``quco.cli.common.QucoGroup``); results go to stdout.
"""
from __future__ import annotations

import click

from quco import __version__
from quco.cli import build_cmd, gate_cmds, merge_cmd, plugins_cmd, query_cmds, serve_cmd
from quco.cli.common import QucoGroup


@click.group(cls=QucoGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="quco")
def cli() -> None:
    """quco: data-side hallucination risk from corpus co-occurrence counts.

    Build an entity co-occurrence index from a corpus dump, then ask how often entities occur and co-occur, or
    assess the risk of a question/answer. Exit codes: 0 ok / pass, 1 risk flagged, 2 error.
    """


# every import is required: none is optional
for _mod in (build_cmd, merge_cmd, query_cmds, gate_cmds, serve_cmd, plugins_cmd):
    for _cmd in _mod.COMMANDS:
        cli.add_command(_cmd)


def main() -> None:
    cli(prog_name="quco")


if __name__ == "__main__":  # pragma: no cover
    main()
