"""Generators by name: the one place that knows which backends exist.

A backend is a class implementing `kdcvg.generation.base.Generator`, built with no
arguments; it reads its settings from `AdJob.options`. Backends load lazily, so
`kdcvg --help` never imports diffusers.
"""

from __future__ import annotations

from importlib import import_module

from kdcvg.errors import GenerationError
from kdcvg.generation.base import Generator

# name -> "module:Class"
BACKENDS: dict[str, str] = {
    "compose": "kdcvg.generation.compose:ComposeGenerator",
    "diffusers": "kdcvg.generation.diffusion.backend:DiffusersGenerator",
}
CPU_BACKENDS = ("compose",)  # safe to run in several worker processes at once


def get_generator(name: str) -> Generator:
    """A new generator for backend `name`.

    Raises:
        GenerationError: unknown backend, or its module cannot be imported (the message
            says which package to install).
    """
    if name not in BACKENDS:
        raise GenerationError(f"unknown backend {name!r}; known backends: {', '.join(BACKENDS)}")
    module_name, attr = BACKENDS[name].split(":")
    try:
        cls = getattr(import_module(module_name), attr)
    except ModuleNotFoundError as e:
        raise GenerationError(
            f"backend {name!r} is not available: module {e.name!r} is missing "
            "(install the project with `pip install -e .`)"
        ) from e
    except AttributeError as e:
        raise GenerationError(
            f"backend {name!r} is not available: {module_name} has no {attr}"
        ) from e
    generator: Generator = cls()
    return generator
