"""The import graph of `kdcvg/` has no backward arrow (docs/architecture.md).

Every module is parsed with `ast`; every import counts, at module level, under
`if TYPE_CHECKING:` and inside functions, and so does a module named by a string
that is only the path of one of its modules (`"kdcvg.graph.cli"`,
`"kdcvg.generation.compose:ComposeGenerator"`: registries that `importlib.import_module`
loads). Nothing is imported or run.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "kdcvg"

# bottom to top: a module may import its own layer and the layers below it, never above
LAYERS = ("root", "media", "graph", "retrieval", "generation", "demo", "serve", "cli")
RANK = {name: i for i, name in enumerate(LAYERS)}
ROOT_MODULES = {"__init__", "errors", "types", "config", "devices", "validation", "jsonl",
                "cli_options", "interrupts", "remote"}  # kdcvg/<name>.py
_MODULE_STRING = re.compile(r"kdcvg(\.[A-Za-z_]\w*)+(:[A-Za-z_]\w*)?")


def layer_of(module: str) -> str:
    """The layer of a `kdcvg...` module name.

    Raises:
        ValueError: a top-level module no layer claims (add it to `ROOT_MODULES` or a folder).
    """
    parts = module.split(".")
    if len(parts) == 1 or parts[1] in ROOT_MODULES:
        return "root"
    if parts[1] == "cli":
        return "cli"
    if parts[1] in RANK:
        return parts[1]
    raise ValueError(f"kdcvg.{parts[1]} belongs to no layer; place it in tests/test_layers.py")


def module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def _exists(module: str) -> bool:
    path = PACKAGE.parent.joinpath(*module.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def imported_modules(source: str, module: str, is_package: bool = False) -> list[tuple[int, str]]:
    """(line, module) of every `kdcvg` module that `source` imports or names by a module string."""
    package = module if is_package else module.rpartition(".")[0]
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against this module's package
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            # `from kdcvg import demo` imports the module kdcvg.demo
            found += [(node.lineno, f"{base}.{alias.name}" if base == "kdcvg" else base)
                      for alias in node.names]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            name = node.value.partition(":")[0]
            if _MODULE_STRING.fullmatch(node.value) and _exists(name):  # not "kdcvg.lock"
                found.append((node.lineno, name))
    kdcvg = (item for item in found if item[1] == "kdcvg" or item[1].startswith("kdcvg."))
    return list(dict.fromkeys(kdcvg))  # `from m import a, b` is one arrow


def backward_imports(source: str, module: str, is_package: bool = False) -> list[str]:
    """`module:line imports name (layer a -> layer b)` for each import of a higher layer."""
    own = layer_of(module)
    return [
        f"{module}:{line} imports {name} ({own} -> {layer_of(name)})"
        for line, name in imported_modules(source, module, is_package)
        if RANK[layer_of(name)] > RANK[own]
    ]


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_every_module_belongs_to_a_layer() -> None:
    assert {layer_of(module_name(p)) for p in _modules()} == set(LAYERS)


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE.parent)))
def test_no_module_imports_a_higher_layer(path: Path) -> None:
    module = module_name(path)
    assert backward_imports(path.read_text(encoding="utf-8"), module, path.name == "__init__.py") == []


def test_media_imports_only_the_root_modules_errors_types_config() -> None:
    allowed = {"kdcvg.errors", "kdcvg.types", "kdcvg.config"}
    outside = [
        f"{module_name(p)}:{line} imports {name}"
        for p in sorted((PACKAGE / "media").rglob("*.py"))
        for line, name in imported_modules(p.read_text(encoding="utf-8"), module_name(p))
        if layer_of(name) != "media" and name not in allowed
    ]
    assert outside == []


@pytest.mark.parametrize(
    ("module", "source", "expected"),
    [
        # inside a function counts as much as at module level
        ("kdcvg.graph.clips", "def f():\n    from kdcvg.generation.video import probe\n",
         ["kdcvg.graph.clips:2 imports kdcvg.generation.video (graph -> generation)"]),
        ("kdcvg.media.video", "import kdcvg.graph.store\n",
         ["kdcvg.media.video:1 imports kdcvg.graph.store (media -> graph)"]),
        ("kdcvg.graph.clips", "from kdcvg import demo\n",
         ["kdcvg.graph.clips:1 imports kdcvg.demo (graph -> demo)"]),
        ("kdcvg.retrieval.source", "from ..generation import base\n",
         ["kdcvg.retrieval.source:1 imports kdcvg.generation (retrieval -> generation)"]),
        # a registry string loaded with importlib is an import too
        ("kdcvg.generation.references", 'SOURCES = {"x": "kdcvg.demo.run:main"}\n',
         ["kdcvg.generation.references:1 imports kdcvg.demo.run (generation -> demo)"]),
        ("kdcvg.retrieval.source", "if TYPE_CHECKING:\n    from kdcvg.cli import app\n",
         ["kdcvg.retrieval.source:2 imports kdcvg.cli (retrieval -> cli)"]),
        # downward and sideways arrows are fine; prose naming a module is not an import
        ("kdcvg.generation.pipeline",
         '"""Uses `kdcvg.retrieval.scenes`."""\nfrom kdcvg.graph.store import Store\n'
         "from kdcvg.media import video\nfrom kdcvg.generation import outputs\nimport numpy\n", []),
    ],
)
def test_backward_imports_finds_every_kind_of_upward_arrow(
    module: str, source: str, expected: list[str]
) -> None:
    assert backward_imports(source, module) == expected


def test_a_top_level_module_outside_every_layer_is_refused() -> None:
    with pytest.raises(ValueError, match=r"kdcvg\.server belongs to no layer"):
        layer_of("kdcvg.server.app")
