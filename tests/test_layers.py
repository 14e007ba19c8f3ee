"""The one-way flow of the code: reader -> extractor -> counter -> store -> gate -> faces.

Every module of every ``quco`` package is parsed (not imported), and each import it makes, at module level or
inside a function, ``import x``, ``from x import y`` or ``importlib.import_module("x")``, is checked against the
layers below. A module may import its own package and any package of a lower layer; never a package of its own
layer, never one above. The allowed directions are data, here, so that a change to them is a visible diff.
"""
from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Lower number = lower layer. Packages on one layer are siblings and may not import each other.
LAYERS: dict[str, int] = {
    "quco": 0,  # the package root: the version and the lazy facade, nothing else
    "quco.data": 0,  # shipped files (sample corpus, router head) and nothing that imports
    "quco.errors": 0,
    "quco.registry": 1,
    "quco.cooccur": 2,  # the index format and everything that reads it
    "quco.index_builder": 3,  # everything that writes an index
    "quco.gate": 3,  # deciding, over an index it is handed
    "quco.evaluation": 4,  # metrics and `quco eval` formats, over the gate
    "quco.data.default": 4,  # the default-index resolver (may build the bundled sample)
    "quco.api": 5,  # faces: the Python face and the server
    "quco.serve": 5,
    "quco.cli": 6,  # the command line, which also starts the server
    "quco.__main__": 7,
}
# Third-party modules only a face may import.
FACE_ONLY = {"click": ("quco.cli",), "uvicorn": ("quco.cli", "quco.serve"), "fastapi": ("quco.serve",),
             "starlette": ("quco.serve",)}


def unit_of(module: str) -> str | None:
    """The layered unit (a key of LAYERS) a dotted module name belongs to: its longest matching prefix."""
    parts = module.split(".")
    for n in range(len(parts), 0, -1):
        name = ".".join(parts[:n])
        if name in LAYERS:
            return name
    return None


def source_modules() -> dict[str, Path]:
    """Every module of the installed packages, by dotted name, from pyproject's package-dir table."""
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    out = {}
    for package, folder in cfg["package-dir"].items():
        for path in sorted((ROOT / folder).glob("*.py")):
            name = package if path.stem == "__init__" else f"{package}.{path.stem}"
            out[name] = path
    for package in cfg["packages"]:  # sub-packages laid out under a mapped folder (quco.data)
        if package not in cfg["package-dir"]:
            parent, _, leaf = package.rpartition(".")
            folder = ROOT / cfg["package-dir"][parent] / leaf
            for path in sorted(folder.glob("*.py")):
                out[package if path.stem == "__init__" else f"{package}.{path.stem}"] = path
    return out


def imports_of(source: str, module: str) -> list[tuple[int, str]]:
    """(line, imported module) for every import in ``source``, wherever it stands."""
    out = []
    package = module if module.count(".") == 0 else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the module's package
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            out.append((node.lineno, target))
            out += [(node.lineno, f"{target}.{a.name}") for a in node.names if unit_of(f"{target}.{a.name}")
                    and unit_of(f"{target}.{a.name}") != unit_of(target)]
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
              and node.func.attr == "import_module" and node.args and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str)):
            out.append((node.lineno, node.args[0].value))
    return out


def violations(module: str, source: str) -> list[str]:
    """Each import of ``source`` (the module ``module``) that points sideways or up, or a face-only library."""
    own = unit_of(module)
    assert own is not None, f"{module} belongs to no layer: add it to LAYERS"
    bad = []
    for line, target in imports_of(source, module):
        top = target.split(".")[0]
        if top in FACE_ONLY and not own.startswith(FACE_ONLY[top]):
            bad.append(f"{module}:{line} imports {target}, which only {', '.join(FACE_ONLY[top])} may use")
        if top != "quco":
            continue
        unit = unit_of(target)
        if unit is None or unit == own or (unit == "quco" and target == "quco"):
            continue
        if LAYERS[unit] >= LAYERS[own] and not own.startswith(unit + "."):
            where = "a sibling" if LAYERS[unit] == LAYERS[own] else "a higher layer"
            bad.append(f"{module}:{line} imports {target} ({where}: {unit}, layer {LAYERS[unit]} >= {LAYERS[own]})")
    return bad


def test_every_module_belongs_to_a_layer():
    modules = source_modules()
    assert len(modules) > 40 and "quco.gate.assess" in modules and "quco.cooccur.index" in modules
    assert [m for m in modules if unit_of(m) is None] == []


def test_no_import_points_up_or_sideways():
    found = []
    for module, path in source_modules().items():
        found += violations(module, path.read_text(encoding="utf-8"))
    assert found == [], "imports against the one-way flow:\n" + "\n".join(found)


@pytest.mark.parametrize("module, source", [
    ("quco.cooccur.index", "from quco.gate.assess import assess\n"),  # store -> gate
    ("quco.cooccur.index", "def f():\n    from quco.data.default import open_index\n"),  # lazily, in a function
    ("quco.index_builder.build", "import quco.gate.retrieval\n"),  # sibling
    ("quco.gate.assess", "from quco import index_builder\n"),  # sibling, through the package root
    ("quco.gate.wrap", "import importlib\nimportlib.import_module('quco.cli.main')\n"),  # dynamic
    ("quco.evaluation.evaluate", "from ..cli import common\n"),  # relative
    ("quco.gate.report", "import click\n"),  # a face-only library
])
def test_the_check_catches_an_upward_import(module, source):
    assert violations(module, source), f"{source!r} in {module} should be refused"


@pytest.mark.parametrize("module, source", [
    ("quco.gate.assess", "from quco.cooccur.index import Index\nfrom quco.errors import ConfigError\n"),
    ("quco.index_builder.build", "import quco\nfrom quco.cooccur import store\n"),
    ("quco.cli.main", "from quco.gate import assess\nfrom quco.index_builder.build import build\nimport click\n"),
    ("quco.gate.router", "from .rules import Route\n"),
])
def test_the_check_allows_downward_imports(module, source):
    assert violations(module, source) == []
