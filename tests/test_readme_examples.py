"""README's bundled-sample examples print what README shows (#14 item 18).

The console blocks README marks as answered by the bundled sample index (what a fresh install has) are run here,
command by command, against that index built into a temporary ``$QUCO_HOME``; each output line README shows must
be printed (a line README ends with ``...`` is a prefix; a ``...`` line alone stands for lines left out, and the
cache path of ``quco verify`` is any path). ``echo $?`` checks the exit code of the command before it. The
Python section's bundled figures are checked the same way. Slow: the first use builds the sample (~30 s).
"""
from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner

README = Path(__file__).resolve().parents[1] / "README.md"
BUNDLED_BLOCK_MARKERS = ("With the bundled sample index", "Risk, from the CLI (bundled sample index)")


def console_examples(text: str, marker: str) -> list[tuple[str, list[str]]]:
    """(command, the output lines README shows for it) of the first console block after ``marker``."""
    start = text.index(marker)
    block = text[text.index("```console\n", start) + len("```console\n"):]
    block = block[: block.index("```")]
    examples: list[tuple[str, list[str]]] = []
    for line in block.splitlines():
        if line.startswith("$ "):
            examples.append((line[2:], []))
        elif examples and line.strip() and not line.lstrip().startswith("#"):
            examples[-1][1].append(line)
    return examples


def expected_line_matches(expected: str, actual: str) -> bool:
    if expected.endswith("..."):
        return actual.startswith(expected[:-3].rstrip())
    if "/.cache/quco/" in expected:  # the cache directory differs from machine to machine
        pattern = re.escape(expected).replace(re.escape("/root/.cache/quco/wiki-sample-ca8e7861c9f8"), r"\S+")
        return re.fullmatch(pattern, actual) is not None
    return actual == expected


@pytest.fixture(scope="module")
def bundled_home(tmp_path_factory):
    home = tmp_path_factory.mktemp("quco_home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("QUCO_HOME", str(home))
        mp.delenv("QUCO_INDEX", raising=False)
        from quco.data.default import open_index

        open_index()  # built once here, so no command below pays for it
        yield home


def test_parser_reads_commands_and_outputs():
    text = "intro\nmarker\n```console\n$ quco a\nline 1\n  line 2\n$ echo $?\n1\n$ quco b   # note\n```\n"
    assert console_examples(text, "marker") == [("quco a", ["line 1", "  line 2"]), ("echo $?", ["1"]),
                                                ("quco b   # note", [])]
    assert expected_line_matches("  evidence [X]: some text ...", "  evidence [X]: some text and more")
    assert not expected_line_matches("PASS  risk 0.21", "PASS  risk 0.22")


@pytest.mark.slow
@pytest.mark.parametrize("marker", BUNDLED_BLOCK_MARKERS)
def test_bundled_console_examples_print_what_readme_shows(bundled_home, marker, monkeypatch):
    from quco.cli.main import cli

    monkeypatch.setenv("QUCO_HOME", str(bundled_home))
    monkeypatch.delenv("QUCO_INDEX", raising=False)
    examples = console_examples(README.read_text(encoding="utf-8"), marker)
    assert examples, f"no console examples after {marker!r}"
    checked, last_exit = 0, None
    for command, shown in examples:
        if command.startswith("echo $?"):
            assert last_exit is not None and str(last_exit) == shown[0].strip(), command
            continue
        argv = shlex.split(command, comments=True)
        if not shown or argv[0] != "quco":
            continue  # a command README runs without showing its output (a file name of yours, --html ...)
        result = CliRunner().invoke(cli, argv[1:])
        last_exit = result.exit_code
        printed = result.stdout.splitlines()
        position = 0
        for line in shown:
            if line.strip() == "...":
                continue
            while position < len(printed) and not expected_line_matches(line, printed[position]):
                position += 1
            assert position < len(printed), f"{command}: README shows {line!r}, the bundled index printed:\n" + \
                result.stdout
            position += 1
        checked += 1
    assert checked >= 3


@pytest.mark.slow
def test_bundled_python_figures_are_what_readme_says(bundled_home, monkeypatch):
    from quco import assess, open_index

    monkeypatch.setenv("QUCO_HOME", str(bundled_home))
    monkeypatch.delenv("QUCO_INDEX", raising=False)
    text = README.read_text(encoding="utf-8")
    ix = open_index()
    pair = (ix.freq("Marie Curie"), ix.cooc("Marie Curie", "Pierre Curie"))
    assert f"# {pair} bundled" in text, pair
    many = [int(v) for v in ix.cooc_many([("Paris", "France"), ("Paris", "Tokyo")])]
    assert f"# {many} within 1000 tokens (bundled)" in text, many
    anywhere = [int(v) for v in ix.cooc_many([("Paris", "France"), ("Paris", "Tokyo")], scope="document")]
    assert f"# {anywhere} anywhere in a document" in text, anywhere
    report = assess("Where was Marie Curie born?", "Marie Curie was born in Lisbon.")
    shown = (report.decision, report.stage, report.risk, report.coverage)
    assert f"# {shown!r}" in text, shown
