"""Layers point one way: interfaces → actions → storage, connectors, checks and security.

Every import of every module is read from its source (module level or inside a function alike),
so a lower layer reaching up fails here by naming the module and the line.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "bastion"

# bastion.directory holds the directory's interfaces (SCIM, CSV import); the records they hand to
# the actions are bastion.directory_records, below both.
INTERFACES = ("bastion.api", "bastion.web", "bastion.cli", "bastion.directory")
# package → the packages it may never import
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "bastion.security": ("bastion.actions", *INTERFACES),
    "bastion.storage": ("bastion.actions", *INTERFACES),
    "bastion.connectors": ("bastion.actions", *INTERFACES),
    "bastion.checks": ("bastion.actions", *INTERFACES),
    "bastion.actions": INTERFACES,
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, package: str | None = None) -> list[tuple[int, str]]:
    """(line, module) of each import; ``package`` is the one relative imports start from."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    if package is None:
        package = _module_name(path)
        if path.name != "__init__.py":
            package = package.rpartition(".")[0]
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            found.append((node.lineno, module))
            # "from bastion import cli" names a module too
            found.extend((node.lineno, f"{module}.{alias.name}") for alias in node.names)
    return found


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def _violations(layer: str, forbidden: tuple[str, ...]) -> list[str]:
    root = PACKAGE.joinpath(*layer.split(".")[1:])
    out = []
    for path in sorted(root.rglob("*.py")):
        for line, module in _imports(path):
            if any(_within(module, target) for target in forbidden):
                out.append(f"{path.relative_to(PACKAGE.parent)}:{line} imports {module}")
    return out


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_a_layer_never_imports_one_above_it(layer: str) -> None:
    assert _violations(layer, FORBIDDEN[layer]) == []


def test_the_check_finds_an_upward_import(tmp_path: Path) -> None:
    source = tmp_path / "probe.py"
    source.write_text(
        "from bastion.actions.actors import Actor\n"
        "def f():\n    from bastion.cli.common import fail\n"
        "from . import web\n"
    )
    modules = {module for _line, module in _imports(source, "bastion.connectors")}
    assert "bastion.actions.actors" in modules
    assert "bastion.cli.common" in modules  # inside a function too
    assert "bastion.connectors.web" in modules  # relative, resolved from its package
