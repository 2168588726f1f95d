"""Named Cypher queries: one file each in `cypher/`, loaded by name.

A file starts with a header of `//` comment lines: the first says what the
query returns, a line `// params: $a, $b` names its parameters, and a line
`// surface: analyst` or `// surface: internal` says who may run it: analyst
queries only read and are the ones `kdcvg graph query` lists and runs; internal
queries are the tool's own (ingest, bulk, export, schema, ...). A file without a
surface line is internal. A query that must differ on Neo4j has a
`NAME.neo4j.cypher` beside `NAME.cypher`, its header saying why. Schema files may
hold several statements separated by `;`.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

from kdcvg.errors import QueryError

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_PARAM = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")
_SURFACE = re.compile(r"^surface:\s*(\S+)\s*$")
ANALYST = "analyst"
INTERNAL = "internal"
SURFACES = (ANALYST, INTERNAL)


def cypher_dir() -> Path:
    """The folder of named queries: $KDCVG_CYPHER_DIR, else the installed package `kdcvg.cypher`.

    `cypher/` at the repository root is that package (pyproject maps it), so an editable
    install reads the checkout's files and a wheel reads its own copy.
    """
    env = os.environ.get("KDCVG_CYPHER_DIR")
    if env:
        return Path(env)
    try:
        return Path(str(resources.files("kdcvg.cypher")))
    except ModuleNotFoundError as e:
        raise QueryError("the named queries (package kdcvg.cypher) are not installed: install kdcvg "
                         "with pip (`pip install -e .` in a checkout) or set KDCVG_CYPHER_DIR") from e


@dataclass(frozen=True)
class NamedQuery:
    name: str
    text: str
    description: str
    params: tuple[str, ...]
    path: Path
    surface: str = INTERNAL

    @property
    def statements(self) -> list[str]:
        """The query's statements, comments removed (schema files hold several)."""
        body = "\n".join(
            line for line in self.text.splitlines() if not line.lstrip().startswith("//")
        )
        return [s.strip() for s in body.split(";") if s.strip()]


def _parse(name: str, path: Path) -> NamedQuery:
    text = path.read_text(encoding="utf-8")
    header = []
    for line in text.splitlines():
        if not line.startswith("//"):
            break
        header.append(line[2:].strip())
    description = header[0] if header else ""
    params = tuple(dict.fromkeys(_PARAM.findall(text)))
    surfaces = [m.group(1) for m in map(_SURFACE.match, header) if m]
    surface = surfaces[0] if surfaces else INTERNAL
    if surface not in SURFACES:
        raise QueryError(f"{path}: surface {surface!r} is not one of {', '.join(SURFACES)}")
    return NamedQuery(name, text, description, params, path, surface)


@cache
def load_query(name: str, flavor: str = "embedded") -> NamedQuery:
    """The query `name`, in its Neo4j variant when `flavor` is "neo4j" and one exists.

    Raises:
        QueryError: the name is malformed or no such file exists.
    """
    if not _NAME.match(name):
        raise QueryError(f"query name {name!r} is not valid: use lower_snake_case")
    folder = cypher_dir()
    if flavor == "neo4j" and (folder / f"{name}.neo4j.cypher").exists():
        return _parse(name, folder / f"{name}.neo4j.cypher")
    path = folder / f"{name}.cypher"
    if not path.exists():
        known = ", ".join(q.name for q in list_queries()) or "none"
        raise QueryError(f"no named query {name!r} in {folder}; known queries: {known}")
    return _parse(name, path)


def list_queries() -> list[NamedQuery]:
    """All named queries (base variants), sorted by name."""
    folder = cypher_dir()
    names = sorted(p.name.removesuffix(".cypher") for p in folder.glob("*.cypher")
                   if not p.name.endswith(".neo4j.cypher"))
    return [_parse(n, folder / f"{n}.cypher") for n in names]
