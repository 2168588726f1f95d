"""What differs between the two graph servers: the embedded ArcadeDB and a Neo4j 5 server.

Everything else talks to either through the official `neo4j` driver. The
embedded server runs inside this process (ArcadeDB's JVM, through JPype), listens
on loopback only, and is guarded by a lock file so that a second process gets a
clear error naming the holder instead of a corrupted database.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import secrets
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, NoReturn

from kdcvg.errors import StoreError
from kdcvg.graph.schema import EMBEDDING_DIM

EMBEDDED_DATABASE = "ackb"
EMBEDDED_USER = "root"
LOCK_NAME = "kdcvg.lock"
BULK_MARKER = "BULK_LOAD_INCOMPLETE"  # left by a --bulk load that was killed mid-way
# Labels whose `embedding` property carries a vector index.
VECTOR_INDEXED = ("SellingPoint", "Clip")

# ArcadeDB logs through java.util.logging: only its errors reach the console, one line
# each, without the Java stack (a full disk made ~130 lines of stacks). Two loggers that
# repeat one line per page or event are left out: the transaction manager says once
# that "not all pages reached the disk ... the next open will recover them", and the
# server's own event log file is not kdcvg's. What failed reaches the user as the
# one-line error of the call that failed.
_JUL_CONFIG = """handlers=java.util.logging.ConsoleHandler
.level=SEVERE
com.arcadedb.engine.PageManagerFlushThread.level=OFF
com.arcadedb.server.event.FileServerEventLog.level=OFF
java.util.logging.ConsoleHandler.level=SEVERE
java.util.logging.ConsoleHandler.formatter=java.util.logging.SimpleFormatter
java.util.logging.SimpleFormatter.format=graph server: %5$s%n
"""


def free_port() -> int:
    """A TCP port free on loopback right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _check_port(port: int) -> None:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError as e:
            raise StoreError(
                f"port {port} on 127.0.0.1 is taken ({e.strerror}); choose another with --port"
            ) from e


def _start_jvm(root: Path) -> None:
    """Start ArcadeDB's JVM once per process, with its console logging quietened.

    `-Xrs` keeps the JVM's hands off SIGINT and SIGTERM: without it the JVM (and JPype's
    Java-side handler) takes SIGTERM on a Java thread, calls into Python from there and
    the process dies with SIGSEGV, writing `hs_err_pid*.log`. With it, Python's handlers
    (`kdcvg.interrupts`) get both signals and unwind the command cleanly.
    """
    import jpype
    import jpype.config

    if jpype.isJVMStarted():
        return
    from arcadedb_embedded.jvm import start_jvm

    jul = root / "logging.properties"
    try:
        root.mkdir(parents=True, exist_ok=True)
        if not jul.is_file() or jul.read_text() != _JUL_CONFIG:  # a full disk must not stop a read
            jul.write_text(_JUL_CONFIG)
    except OSError as e:
        raise StoreError(f"cannot prepare the database folder {root} ({e.strerror})") from e
    os.environ.setdefault("ARCADEDB_JVM_ERROR_FILE", str(root / "hs_err_pid%p.log"))
    heap = os.environ.get("KDCVG_JVM_HEAP", "2g")
    # arcadedb.installCustomFormatter=false: ArcadeDB would otherwise put its own formatter,
    # Java stacks included, on the console handler configured above
    start_jvm(heap_size=heap, jvm_args=["-Xrs", f"-Djava.util.logging.config.file={jul}",
                                        "-Darcadedb.installCustomFormatter=false"],
              interrupt=False)
    # Destroying the JVM at interpreter exit races with its server threads and can
    # segfault after all work is done; servers are stopped (databases closed) before
    # exit, so the process may simply end with the JVM in it.
    jpype.config.destroy_jvm = False


def exit_process(code: int | str | None) -> NoReturn:
    """End the process with `code` (a `SystemExit` code): the entry points' last step.

    With ArcadeDB's JVM in the process, the interpreter's teardown around the JVM's
    remaining threads aborted about 1 run in 5 (SIGABRT, "FATAL: exception not
    rethrown", exit status 134) after all work was done and the database closed. So,
    once the JVM was started, the process ends here without that teardown; output and
    logs are flushed first.
    """
    jpype = sys.modules.get("jpype")
    if jpype is None or not jpype.isJVMStarted():
        raise SystemExit(code)
    if isinstance(code, str):
        print(code, file=sys.stderr)
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code if isinstance(code, int) else 0 if code is None else 1)


@dataclass(frozen=True)
class Holder:
    """Who holds an embedded database folder."""

    pid: int
    command: str
    uri: str | None


class FolderLock:
    """An exclusive lock on a database folder, released when the process ends."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.path = root / LOCK_NAME
        self._file: IO[str] | None = None

    def acquire(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        f = open(self.path, "a+")  # noqa: SIM115 - held open for the lock's lifetime
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.close()
            holder = self.holder()
            who = f"process {holder.pid} ({holder.command})" if holder else "another process"
            hint = (
                f"connect to it with --neo4j {holder.uri}"
                if holder and holder.uri
                else "stop it, or run `kdcvg graph serve` and pass its --neo4j URI to every command"
            )
            raise StoreError(f"database folder {self.root} is in use by {who}; {hint}") from None
        self._file = f
        os.chmod(self.path, 0o600)  # `serve` writes its password here
        self.record(uri=None)

    def record(self, uri: str | None, extra: dict[str, Any] | None = None) -> None:
        """Write who holds the lock (and where it serves) for the next process to read."""
        assert self._file is not None, "lock not held"
        info = {"pid": os.getpid(), "command": " ".join(sys.argv[:3]), "uri": uri} | (extra or {})
        self._file.seek(0)
        self._file.truncate()
        self._file.write(json.dumps(info))
        self._file.flush()

    def holder(self) -> Holder | None:
        try:
            info = json.loads(self.path.read_text() or "{}")
            return Holder(int(info["pid"]), str(info.get("command", "?")), info.get("uri"))
        except (OSError, ValueError, KeyError):
            return None

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None


class EmbeddedServer:
    """ArcadeDB with its Bolt plugin on 127.0.0.1, one per database folder.

    Args:
        root: the database folder (ArcadeDB's server root).
        bolt_port: Bolt port; None picks a free one.
        password: root password; None makes a random one for this run.

    Example:
        >>> server = EmbeddedServer(Path(".kdcvg/ackb")).start()
        >>> server.uri  # doctest: +SKIP
        'bolt://127.0.0.1:40123'
    """

    def __init__(self, root: Path, bolt_port: int | None = None, password: str | None = None):
        self.root = Path(root).resolve()
        self.bolt_port = bolt_port
        self.password = password or secrets.token_hex(12)
        self.lock = FolderLock(self.root)
        self._server: Any = None

    @property
    def uri(self) -> str:
        return f"bolt://127.0.0.1:{self.bolt_port}"

    @property
    def auth(self) -> tuple[str, str]:
        return (EMBEDDED_USER, self.password)

    def start(self) -> EmbeddedServer:
        """Take the folder's lock, then start the server (stopped again if the start fails).

        Raises:
            StoreError: the port is taken, another process holds the folder, the folder
                holds a `--bulk` load that did not finish, or the server failed to start.
        """
        if self.bolt_port is not None:
            _check_port(self.bolt_port)
        # The lock first: a `--bulk` load still running holds it, and its marker must not
        # make a second process call that live load dead.
        self.lock.acquire()
        try:
            if (self.root / BULK_MARKER).exists():
                raise StoreError(f"database folder {self.root} holds an interrupted `graph ingest "
                                 "--bulk` load (written without a log, so it may be incomplete); it "
                                 "held nothing before that load: delete the folder and load again")
            self._start()
        except BaseException:
            if self._server is not None:  # made, then failed or interrupted before handed out
                with contextlib.suppress(Exception):  # the error on its way out says what failed
                    self.stop()
            self.lock.release()
            raise
        return self

    def _start(self) -> None:
        _start_jvm(self.root)
        import arcadedb_embedded as arcade

        # The root password is set when the users file is created: drop the last
        # run's so that each run gets its own random password.
        (self.root / "config" / "server-users.jsonl").unlink(missing_ok=True)
        self.bolt_port = self.bolt_port or free_port()
        config = {
            "host": "127.0.0.1",
            "http_port": free_port(),
            "server_plugins": "Bolt:com.arcadedb.bolt.BoltProtocolPlugin",
            "bolt_port": self.bolt_port,
        }
        try:
            self._server = arcade.create_server(str(self.root), self.password, config)
            self._server.start()
        except arcade.ArcadeDBError as e:
            raise StoreError(f"embedded graph server in {self.root} failed to start: {e}") from e
        self.database(EMBEDDED_DATABASE)

    def database(self, name: str) -> Any:
        """The ArcadeDB database `name`, created when missing (its Python API handle)."""
        return self._server.create_database(name)

    def ensure_vector_indexes(self, name: str) -> list[str]:
        """Create the `embedding` vector indexes through ArcadeDB's API (its Cypher has none).

        Returns:
            The indexes created now (empty when all existed).
        """
        db = self.database(name)
        schema = db.schema
        existing = set(schema.list_vector_indexes())
        created = []
        for label in VECTOR_INDEXED:
            if f"{label}[embedding]" in existing:
                continue
            schema.get_or_create_vertex_type(label)
            if not schema.get_type(label).existsProperty("embedding"):
                schema.create_property(label, "embedding", "ARRAY_OF_FLOATS")
            db.create_vector_index(label, "embedding", dimensions=EMBEDDING_DIM)
            created.append(f"{label}[embedding]")
        return created

    def stop(self) -> None:
        if self._server is not None:
            try:
                self._server.stop()
            finally:
                self._server = None
                self.lock.release()

    def __enter__(self) -> EmbeddedServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
