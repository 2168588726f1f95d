"""Who may do what on `kdcvg serve`: the token, where a request may present it, loopback.

Reads are open on loopback; writes (curation, feedback, generation) need the token,
and a server bound to another interface needs it on every request. A request
presents it as `Authorization: Bearer <token>` (the CLI, scripts, curl) or in the
`kdcvg_token` cookie (a browser; set it `HttpOnly` and `SameSite=Strict`, so that
another site's page cannot post with it). A web form may also carry it in a
`token` field: the form's handler checks it with `Service.token_matches`.

Fields that name paths on the server's machine (`out`, `jobs_file`, `clip_model`,
what the CLI sends when it forwards `generate ad|batch`) are accepted only from a
loopback client that presents the token in the header (`local_caller`): the owner
of the store on this machine, who could write those paths anyway.
"""

from __future__ import annotations

from ipaddress import ip_address

from fastapi import Request

from kdcvg.errors import KdcvgError

COOKIE = "kdcvg_token"
FORM_FIELD = "token"


class AuthError(KdcvgError):
    """The request lacks the token (401) or presents a wrong one (403)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def is_loopback(host: str | None) -> bool:
    """Whether `host` (an address or "localhost") is this machine only."""
    if host in ("localhost",):
        return True
    try:
        return ip_address(str(host)).is_loopback
    except ValueError:
        return False


def header_token(request: Request) -> str | None:
    """The token of an `Authorization: Bearer ...` header, if any."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def presented_token(request: Request) -> str | None:
    """The token the request presents: the Authorization header, else the cookie."""
    return header_token(request) or request.cookies.get(COOKIE) or None


def check_token(request: Request, what: str = "this request") -> None:
    """Refuse a request without the right token.

    Raises:
        AuthError: 401 without a token, 403 with a wrong one.
    """
    service = request.app.state.service
    token = presented_token(request)
    if token is None:
        raise AuthError(f"{what} needs the server's token: send `Authorization: Bearer <token>` "
                        f"(the token is in {service.home / 'serve.token'}, readable by its "
                        "owner only)", 401)
    if not service.token_matches(token):
        raise AuthError(f"{what}: the token presented is not this server's", 403)


def require_token(request: Request) -> None:
    """FastAPI dependency of every write route."""
    check_token(request, f"{request.method} {request.url.path}")


def local_caller(request: Request) -> bool:
    """A loopback client presenting the token in its header: may name server-side paths."""
    client = request.client.host if request.client else None
    token = header_token(request)
    return (is_loopback(client) and token is not None
            and bool(request.app.state.service.token_matches(token)))
