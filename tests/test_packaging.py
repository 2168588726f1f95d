"""The installed package is self-contained: a wheel runs anywhere, with its queries inside it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_every_package_folder_is_listed_in_pyproject() -> None:
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "kdcvg").rglob("__init__.py")}
    assert listed == found | {"kdcvg.cypher"}


def test_named_queries_are_read_from_the_installed_package(monkeypatch: pytest.MonkeyPatch) -> None:
    from importlib import resources

    from kdcvg.graph.queries import cypher_dir, list_queries

    monkeypatch.delenv("KDCVG_CYPHER_DIR", raising=False)
    assert cypher_dir() == Path(str(resources.files("kdcvg.cypher")))
    shipped = {p.name.removesuffix(".cypher") for p in (ROOT / "cypher").glob("*.cypher")
               if not p.name.endswith(".neo4j.cypher")}
    assert {q.name for q in list_queries()} == shipped


def test_no_database_folder_is_tracked() -> None:
    """A store folder (its lock, ArcadeDB's users file with password hashes) never ships."""
    from kdcvg.graph.server import LOCK_NAME

    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.splitlines()
    stores = [t for t in tracked if Path(t).name in (LOCK_NAME, "server-users.jsonl")]
    assert stores == []


def _run(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"{args} failed:\n{result.stdout}\n{result.stderr}"
    return result


@pytest.mark.slow
def test_wheel_installed_elsewhere_runs_queries_demo_and_an_ad(tmp_path: Path) -> None:
    """Build the wheel from the tracked files, install it into a new venv that borrows this
    environment's dependencies (no download), and use it from a folder outside the checkout."""
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True)
    source = tmp_path / "source"
    for name in tracked.stdout.decode().split("\0"):
        if name and (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "KDCVG_CYPHER_DIR", "KDCVG_DB", "NEO4J_URI")}
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
          "-w", str(tmp_path / "dist"), str(source)], tmp_path, env)
    wheel = next((tmp_path / "dist").glob("kdcvg-*.whl"))

    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], tmp_path, env)
    # The new venv sees this one's packages through a path file; kdcvg itself (editable
    # here) is not among them, so `import kdcvg` can only find the wheel's copy.
    site = Path(sysconfig.get_path("purelib", vars={"base": str(venv), "platbase": str(venv)}))
    (site / "borrowed.pth").write_text(sysconfig.get_path("purelib") + "\n")
    python = venv / "bin" / "python"
    _run([str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)],
         tmp_path, env)

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    kdcvg = [str(venv / "bin" / "kdcvg")]
    where = _run([str(python), "-c", "import kdcvg, kdcvg.graph.queries as q; "
                  "print(kdcvg.__file__); print(q.cypher_dir())"], elsewhere, env).stdout.split()
    assert all(Path(p).is_relative_to(venv) for p in where), where

    listed = _run(kdcvg + ["graph", "queries"], elsewhere, env)
    assert "coverage_gaps" in listed.stdout and "selling_points_of_product" in listed.stdout

    db = elsewhere / "ackb"
    _run(kdcvg + ["demo", "build", "--db", str(db)], elsewhere, env)
    ad = elsewhere / "ad.mp4"
    made = _run(kdcvg + ["generate", "ad", "--product", "aurora-water", "-s", "sp-aurora-water-1",
                         "--out", str(ad), "--size", "180x320", "--db", str(db)], elsewhere, env)
    assert ad.stat().st_size > 0, made.stdout
    sidecar = json.loads(ad.with_suffix(".json").read_text())
    assert sidecar["scenes"] and sidecar["scenes"][0]["references"]
