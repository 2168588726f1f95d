"""The CLI's side of `kdcvg serve`: find a running server for a store and call it.

`kdcvg serve` writes a discovery file `<store folder>/serve.json` (owner-only: the
server's URL, pid and store identity) once it listens, and removes it when it stops.
A command that can run on the server (`sar retrieve`, `graph query|stats|cypher|
add-selling-point|link`, `sar feedback`, `generate ad|batch`) asks `find_server`
first; when a live server for the same store answers, the command sends its work
there, says so in one line on stderr, and prints what the server computed with the
same renderer as the local path. Without a server it runs as before.

This module sits at the root of the package (the graph, retrieval and generation
CLIs, below the serve layer, import it) and imports only the standard library and,
once a discovery file exists, httpx: nothing heavy runs before the CLI knows a
server is there.

    >>> server = find_server(resolve_store(db=Path(".kdcvg/ackb")))  # doctest: +SKIP
    >>> server.call("POST", "/api/retrieve", {"text": "stays cold"})  # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kdcvg.config import StoreConfig
from kdcvg.errors import KdcvgError

DISCOVERY_NAME = "serve.json"  # under the store folder, owner-only, while a server runs
TOKEN_NAME = "serve.token"  # under the store folder, owner-only
NO_SERVER_ENV = "KDCVG_NO_SERVER"  # set to 1: commands never use a running server
HEALTH_TIMEOUT_S = 2.0
CALL_TIMEOUT_S = 600.0  # a retrieval index rebuild on a large graph takes a while


class RemoteError(KdcvgError):
    """The server refused or failed a request; the message is the server's one line."""


def store_identity(config: StoreConfig) -> str:
    """What names a store across processes: its resolved folder, or its server and database.

    >>> store_identity(StoreConfig(neo4j_uri="bolt://db:7687", database="neo4j"))
    'neo4j:bolt://db:7687/neo4j'
    """
    if config.neo4j_uri is None:
        return f"embedded:{Path(config.db).resolve()}"
    return f"neo4j:{config.neo4j_uri}/{config.database}"


def read_owner_only(path: Path) -> str | None:
    """The text of `path` when it exists and only its owner (this user) may read it."""
    try:
        info = path.stat()
        if info.st_uid != os.getuid() or info.st_mode & 0o077:
            return None
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: not a server of ours
        return False
    return True


def http_client(timeout: float = CALL_TIMEOUT_S, **settings: Any) -> Any:
    """An `httpx.Client` whose connections send at once (TCP_NODELAY).

    Without it a request's headers and body leave in two segments, and the second waits
    for the server's delayed acknowledgement of the first: about 40 ms a request.
    """
    import socket

    import httpx

    transport = httpx.HTTPTransport(socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)])
    return httpx.Client(transport=transport, timeout=timeout, **settings)


@dataclass(frozen=True)
class Server:
    """A running `kdcvg serve` for this store.

    Args:
        url: its base URL (`http://127.0.0.1:PORT`).
        pid: its process id.
        token: the store's token, sent with every request.
    """

    url: str
    pid: int
    token: str

    def call(self, method: str, path: str, body: dict[str, Any] | None = None,
             params: dict[str, Any] | None = None, timeout: float = CALL_TIMEOUT_S) -> Any:
        """Send one request; the decoded JSON answer.

        Raises:
            RemoteError: the server answered with an error (its one-line message), or
                could not be reached.
        """
        import httpx

        try:
            with http_client(timeout) as client:
                response = client.request(
                    method, self.url + path, params=params,
                    content=None if body is None else json.dumps(body, allow_nan=False),
                    headers={"Authorization": f"Bearer {self.token}",
                             "Content-Type": "application/json"})
        except httpx.HTTPError as e:
            raise RemoteError(f"the kdcvg server at {self.url} (pid {self.pid}) did not answer "
                              f"({type(e).__name__}: {e}); stop it or try again") from e
        try:
            answer = json.loads(response.text)
        except ValueError:
            answer = None
        if response.status_code >= 400:
            message = answer.get("error") if isinstance(answer, dict) else None
            raise RemoteError(str(message or f"the kdcvg server at {self.url} answered "
                                             f"HTTP {response.status_code}"))
        return answer

    def note(self) -> None:
        """The one line on stderr that says the work went to the server."""
        print(f"kdcvg: sent to the running server {self.url} (pid {self.pid})", file=sys.stderr)


def find_server(config: StoreConfig) -> Server | None:
    """The live `kdcvg serve` of this store, or None (no file, a dead pid, another store).

    Checks, in order: the discovery file exists and is the owner's alone, its pid is
    alive, the token file is readable, and `/api/health` names the same store.
    Setting `KDCVG_NO_SERVER=1` turns discovery off.
    """
    if os.environ.get(NO_SERVER_ENV, "") not in ("", "0"):
        return None
    home = config.home
    text = read_owner_only(home / DISCOVERY_NAME)
    if text is None:
        return None
    try:
        info = json.loads(text)
        url, pid, store = str(info["url"]), int(info["pid"]), str(info["store"])
    except (ValueError, KeyError, TypeError):
        return None
    identity = store_identity(config)
    if store != identity or not _alive(pid):
        return None
    token = (read_owner_only(home / TOKEN_NAME) or "").strip()
    if not token:
        return None
    server = Server(url, pid, token)
    try:
        health = server.call("GET", "/api/health", timeout=HEALTH_TIMEOUT_S)
    except RemoteError:
        return None
    if not isinstance(health, dict) or health.get("store") != identity:
        return None
    return server


def write_discovery(home: Path, url: str, store: str) -> Path:
    """Write `<home>/serve.json` for this process (owner-only, replaced atomically)."""
    path = home / DISCOVERY_NAME
    tmp = home / f".{DISCOVERY_NAME}.{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump({"url": url, "pid": os.getpid(), "store": store}, f)
    os.replace(tmp, path)
    return path


def remove_discovery(home: Path) -> None:
    """Remove `<home>/serve.json` when it is this process's."""
    path = home / DISCOVERY_NAME
    try:
        if json.loads(path.read_text(encoding="utf-8")).get("pid") == os.getpid():
            path.unlink()
    except (OSError, ValueError, AttributeError):
        pass
