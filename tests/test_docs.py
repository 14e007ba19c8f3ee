"""Docs that cannot drift from the code: every CLI command shows an example in its ``--help``, and every command
and every option is named in the README's CLI section."""
from __future__ import annotations

import re
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from quco.cli.main import cli

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
import cli_reference  # noqa: E402

README = Path(__file__).resolve().parent.parent / "README.md"


def _cli_section() -> str:
    text = README.read_text(encoding="utf-8")
    m = re.search(r"^## CLI\n(.*?)^## ", text, re.M | re.S)
    assert m, "README.md has no '## CLI' section"
    return m.group(1)


def _commands() -> list[tuple[str, click.Command]]:
    return sorted(cli.commands.items())


def _options(cmd: click.Command) -> list[str]:
    """The long flags of a command (``--json``, ``--no-blend``...), help excluded."""
    out = []
    for p in cmd.params:
        if isinstance(p, click.Option):
            out += [o for o in p.opts + p.secondary_opts if o.startswith("--") and o != "--help"]
    return out


def test_there_are_commands_to_check():
    assert {"build", "count", "risk", "eval", "verify", "stats", "neighbors", "plugins"} <= set(cli.commands)


@pytest.mark.parametrize("name, cmd", _commands(), ids=[n for n, _ in _commands()])
def test_help_has_an_example(name, cmd):
    r = CliRunner().invoke(cli, [name, "--help"])
    assert r.exit_code == 0, r.output
    assert re.search(r"^\s*Examples?:", r.output, re.M), f"`quco {name} --help` shows no example"
    assert f"quco {name}" in r.output.split("Example", 1)[1], f"`quco {name} --help` example does not run quco {name}"


@pytest.mark.parametrize("name, cmd", _commands(), ids=[n for n, _ in _commands()])
def test_readme_cli_section_names_the_command_and_every_option(name, cmd):
    section = _cli_section()
    assert f"quco {name}" in section, f"README's CLI section never shows `quco {name}`"
    missing = [o for o in _options(cmd) if not re.search(re.escape(o) + r"(?![\w-])", section)]
    assert missing == [], f"README's CLI section does not mention these options of `quco {name}`: {missing}"


def test_readme_command_reference_is_current():
    text = README.read_text(encoding="utf-8")
    assert cli_reference.updated(text) == text, "README's command reference is stale: python scripts/cli_reference.py"
