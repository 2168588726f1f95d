"""The web page for analysts and curators (`/`): server-rendered HTML, readable without JS."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
