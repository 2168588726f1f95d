"""`kdcvg serve`: run the warm server for one store in the foreground (Ctrl-C stops it).

Only typer and the batcher's defaults (standard library only) are imported at module
level (the root CLI imports this module for its help); uvicorn, FastAPI and the store
start inside the command.
"""

from __future__ import annotations

import socket
from typing import Annotated

import typer

from kdcvg.graph.cli_common import DbOption, Neo4jOption
from kdcvg.serve.batcher import BATCH_WAIT_MS, MAX_BATCH

DEFAULT_PORT = 8765


def _bind(host: str, port: int) -> socket.socket:
    """A TCP socket bound to (host, port), not yet listening.

    Raises:
        KdcvgError: the address is taken or not this machine's.
    """
    from kdcvg.errors import KdcvgError

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP named explicitly: asyncio sets TCP_NODELAY on accepted connections only
    # for sockets whose proto says TCP; without it every reused connection waits ~40 ms
    # (Nagle against the client's delayed ACK) for each response's second segment.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        raise KdcvgError(f"cannot listen on {host}:{port} ({e.strerror}); choose another "
                         "--port or --host") from e
    return sock


def _url(host: str, sock: socket.socket) -> str:
    """The URL clients on this machine use (loopback when bound to every interface)."""
    port = sock.getsockname()[1]
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def set_threads(threads: int) -> None:
    """Torch and FAISS threads of this process: the server answers one retrieval at a time,
    and OpenMP's spin-waiting threads crawl on a shared machine (docs/benchmarks.md).

    `OMP_NUM_THREADS` too, set before torch and FAISS load OpenMP: `omp_set_num_threads`
    holds for the calling thread only, and requests run on the server's worker threads.
    """
    import os

    os.environ["OMP_NUM_THREADS"] = str(threads)
    import faiss
    import torch

    torch.set_num_threads(threads)
    faiss.omp_set_num_threads(threads)


def serve(
    db: DbOption = None,
    neo4j: Neo4jOption = None,
    host: Annotated[str, typer.Option("--host", help="Interface to listen on; anything but "
                                      "loopback makes every request need the token.")
                    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535,
                                      help="TCP port (0: any free port).")] = DEFAULT_PORT,
    threads: Annotated[int, typer.Option("--threads", min=1, max=256,
                                         help="Torch/FAISS threads for retrieval.")] = 1,
    max_batch: Annotated[int, typer.Option("--max-batch", min=1, max=1024,
                                           help="Retrieval requests answered together at most "
                                           "(one MiniLM call, one index search); 1: one at "
                                           "a time.")] = MAX_BATCH,
    batch_wait_ms: Annotated[float, typer.Option("--batch-wait-ms", min=0.0, max=1000.0,
                                                 help="How long a retrieval waits for others "
                                                 "to batch with, in ms.")] = BATCH_WAIT_MS,
) -> None:
    """Serve the store over HTTP with everything warm: the JSON API (/docs) and the web page (/).

    The graph connection, MiniLM, the SAR model and its index stay loaded; the index
    is rebuilt when the graph or the model changes. While it runs, `kdcvg sar
    retrieve`, `graph query|stats|cypher|add-selling-point|link`, `sar feedback` and
    `generate ad|batch` on the same store send their work to it. Writes need the
    token in `<store folder>/serve.token` (owner-only, never printed). Ctrl-C or
    SIGTERM stops it: the running generation job ends after its current ad (the rest
    stay queued for the next start), the database closes. Retrieval requests that
    arrive together are answered by one batched retrieval (`--max-batch`, `--batch-wait-ms`).
    """
    import uvicorn

    from kdcvg.errors import RetrievalError
    from kdcvg.graph.cli_common import store_config
    from kdcvg.graph.store import open_store
    from kdcvg.remote import DISCOVERY_NAME, TOKEN_NAME, remove_discovery, write_discovery
    from kdcvg.serve.app import create_app
    from kdcvg.serve.auth import is_loopback
    from kdcvg.serve.state import Service, load_or_create_token

    config = store_config(db, neo4j)
    set_threads(threads)
    sock = _bind(host, port)  # before the store starts: a taken port fails at once
    try:
        with open_store(config) as store:
            token = load_or_create_token(config.home)
            service = Service(store, token, public=not is_loopback(host), config=config,
                              max_batch=max_batch, batch_wait_ms=batch_wait_ms)
            service.ads_root.mkdir(parents=True, exist_ok=True)
            try:
                service.retriever()  # MiniLM, the model and its index, before the first request
            except RetrievalError as e:
                typer.echo(f"note: retrieval is off until a model is trained ({e})", err=True)
            app = create_app(service)
            server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False,
                                                   timeout_graceful_shutdown=10))
            url = _url(host, sock)
            sock.listen(2048)
            write_discovery(config.home, url, service.identity)
            try:
                typer.echo(f"serving {service.identity} on {url} (API docs: {url}/docs)")
                typer.echo(f"token for writes: {config.home / TOKEN_NAME} (readable by you only); "
                           f"other kdcvg commands on this store use this server "
                           f"({config.home / DISCOVERY_NAME})")
                if service.public:
                    typer.echo(f"bound to {host}: every request needs the token", err=True)
                server.run(sockets=[sock])
            finally:
                remove_discovery(config.home)
                service.close()
    finally:
        sock.close()
