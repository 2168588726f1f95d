"""The JSON API (`/api/...`): read, curate and generate, with the CLI's validation."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

router = APIRouter(prefix="/api")


@router.get("/health")
def health() -> dict[str, Any]:
    """Liveness: the server answers."""
    return {"ok": True}
