"""The FastAPI application of `kdcvg serve`: the JSON API under /api, the web page at /.

Errors become `{"error": "<one line>"}` with a status by kind: 400 bad input (every
other `KdcvgError`, and a request the schema refuses), 401/403 the token, 404
`NotFoundError`, 409 `ConflictError`, 503 `BusyError` and `StoreError` (the graph
server unreachable), 500 a bug (logged with its traceback).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from kdcvg.errors import BusyError, ConflictError, KdcvgError, NotFoundError, StoreError
from kdcvg.serve import api, web
from kdcvg.serve.api import KdcvgJSON
from kdcvg.serve.auth import AuthError, check_token
from kdcvg.serve.state import Service

log = logging.getLogger("kdcvg.serve")
API_PATHS = ("/api", "/docs", "/redoc", "/openapi.json")
WEB_OPEN = {("POST", "/token"), ("GET", "/static/web.css")}
STATUS = ((AuthError, 401), (NotFoundError, 404), (ConflictError, 409), (BusyError, 503),
          (StoreError, 503), (KdcvgError, 400))


def status_of(error: KdcvgError) -> int:
    """The HTTP status of a kdcvg error (see the module doc)."""
    if isinstance(error, AuthError):
        return error.status
    return next(code for kind, code in STATUS if isinstance(error, kind))


def _error(status: int, message: str) -> KdcvgJSON:
    return KdcvgJSON({"error": message}, status_code=status)


async def _kdcvg_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, KdcvgError)
    return _error(status_of(error), str(error))


async def _invalid(request: Request, error: Exception) -> Response:
    assert isinstance(error, RequestValidationError)
    problems = []
    for e in error.errors():
        where = ".".join(str(p) for p in e.get("loc", ()) if p != "body") or "body"
        problems.append(f"{where}: {e.get('msg', 'invalid')}")
    return _error(400, "; ".join(problems) or "invalid request")


async def _http(request: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)
    message = error.detail if isinstance(error.detail, str) else str(error.detail)
    return _error(error.status_code, message)


async def _unexpected(request: Request, error: Exception) -> Response:
    log.error("%s %s failed unexpectedly", request.method, request.url.path, exc_info=error)
    return _error(500, f"{request.method} {request.url.path} failed unexpectedly "
                  f"({type(error).__name__}: {str(error)[:200]}); the server's log has the traceback")


def create_app(service: Service) -> FastAPI:
    """An application serving `service`; uvicorn runs it (`kdcvg serve`), tests call it.

    The job queue is stopped when the application shuts down (its running job ends
    after its current ad; see `kdcvg.serve.jobs`).
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        service.close()

    app = FastAPI(title="kdcvg", summary="Knowledge-driven creative video generation",
                  version="1", lifespan=lifespan)
    app.state.service = service

    @app.middleware("http")
    async def token_everywhere(request: Request,
                               call_next: Callable[[Request], Awaitable[Response]]) -> Any:
        """Bound beyond loopback: every request, reads included, presents the token.

        The API answers JSON (401/403); the web page answers its token form, and lets
        through the form's own post and stylesheet, since a browser has no other way
        to present the token than the cookie that form sets.
        """
        if service.public and (request.method, request.url.path) not in WEB_OPEN:
            if request.url.path.startswith(API_PATHS):
                try:
                    check_token(request)
                except AuthError as e:
                    return _error(e.status, str(e))
            elif (form := web.locked(request)) is not None:
                return form
        return await call_next(request)

    app.add_exception_handler(KdcvgError, _kdcvg_error)
    app.add_exception_handler(RequestValidationError, _invalid)
    app.add_exception_handler(HTTPException, _http)
    app.add_exception_handler(Exception, _unexpected)
    app.include_router(api.router)
    app.include_router(web.router)
    return app
