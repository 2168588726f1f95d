"""The FastAPI application of `kdcvg serve`: the JSON API under /api, the web page at /."""

from __future__ import annotations

from fastapi import FastAPI

from kdcvg.serve import api, web
from kdcvg.serve.state import Service


def create_app(service: Service) -> FastAPI:
    """An application serving `service`; uvicorn runs it (`kdcvg serve`), tests call it."""
    app = FastAPI(title="kdcvg", summary="Knowledge-driven creative video generation",
                  version="1")
    app.state.service = service
    app.include_router(api.router)
    app.include_router(web.router)
    return app
