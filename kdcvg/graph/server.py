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
import shutil
import socket
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, NoReturn

from kdcvg.errors import StoreError
from kdcvg.graph.queries import ANALYST
from kdcvg.graph.schema import EMBEDDING_DIM

EMBEDDED_DATABASE = "ackb"
EMBEDDED_USER = "root"
# The analyst surface's user: its group may read records and nothing else (no create,
# update or delete rights, no schema, security or settings rights), so the server itself
# refuses its writes, schema changes and LOAD CSV of local files (which needs the
# updateSecurity right).
ANALYST_USER = "analyst"
ANALYST_GROUP = "analyst"
# The credentials file's key (and a store's role) for the tool's own reads and writes.
CURATOR = "curator"
LOCK_NAME = "kdcvg.lock"
# what a running `kdcvg serve` answers for the commands of its store (kdcvg.remote)
FORWARDED = ("sar retrieve|feedback", "graph query|stats|cypher|add-selling-point|link",
             "generate ad|batch")
# Where `kdcvg graph serve` keeps the credentials of the run (owner-only, removed on stop).
CREDENTIALS_NAME = "kdcvg.credentials.json"
BULK_MARKER = "BULK_LOAD_INCOMPLETE"  # left by a --bulk load that was killed mid-way
# Labels whose `embedding` property carries a vector index.
VECTOR_INDEXED = ("SellingPoint", "Clip")
# Under this much free space a failed write is put down to the disk (ArcadeDB only says
# "Transaction error on commit" over Bolt).
FULL_DISK_BYTES = 4 * 1024 * 1024

# ArcadeDB's security groups, written before the server starts: `admin` and `*` as
# ArcadeDB makes them, plus the analyst's read-only group.
_GROUPS = {
    "databases": {"*": {"groups": {
        "admin": {"resultSetLimit": -1, "readTimeout": -1,
                  "access": ["updateSecurity", "updateSchema", "updateDatabaseSettings"],
                  "types": {"*": {"access": ["createRecord", "readRecord", "updateRecord",
                                             "deleteRecord"]}}},
        ANALYST_GROUP: {"resultSetLimit": -1, "readTimeout": -1, "access": [],
                        "types": {"*": {"access": ["readRecord"]}}},
        "*": {"resultSetLimit": -1, "readTimeout": -1, "access": [], "types": {"*": {"access": []}}},
    }}},
    "version": 2,
}


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
com.arcadedb.server.security.level=OFF
java.util.logging.ConsoleHandler.level=SEVERE
java.util.logging.ConsoleHandler.formatter=java.util.logging.SimpleFormatter
java.util.logging.SimpleFormatter.format=graph server: %5$s%n
"""


def free_port() -> int:
    """A TCP port free on loopback right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def disk_note(root: Path) -> str:
    """", the disk ... is full" when that is why writing under `root` failed, else ""."""
    try:
        free = shutil.disk_usage(root).free
    except OSError:
        return ""
    return f" (the disk under {root} is full: {free // 1024} KiB free)" if free < FULL_DISK_BYTES else ""


def _check_port(port: int) -> None:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError as e:
            raise StoreError(
                f"port {port} on 127.0.0.1 is taken ({e.strerror}); choose another with --port"
            ) from e


# What the JVM itself prints on stderr at start that no user can act on.
_JVM_NOISE = ("WARNING: Using incubator modules: jdk.incubator.vector",)


@contextmanager
def _jvm_stderr_filtered() -> Iterator[None]:
    """Hold back the JVM's start-up notices; pass on anything else it prints.

    The JVM writes straight to file descriptor 2, past Python's `sys.stderr`, so the
    descriptor itself is pointed at a temporary file for the length of the block.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as caught:
        os.dup2(caught.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            caught.seek(0)
            for line in caught.read().decode(errors="replace").splitlines():
                if line.strip() and line.strip() not in _JVM_NOISE:
                    print(line, file=sys.stderr)


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
    with _jvm_stderr_filtered():
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


@contextmanager
def owner_only_umask() -> Iterator[None]:
    """Files and folders created inside the block are the owner's alone (umask 077)."""
    previous = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(previous)


def make_owner_only_folder(folder: Path) -> None:
    """Create `folder` (and missing parents) as 0700, and make it 0700 if it existed."""
    with owner_only_umask():
        folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)


def restrict_to_owner(root: Path) -> None:
    """Take group and other permissions off every folder and file under `root` (links skipped).

    ArcadeDB creates data files as the server runs (a new type is a new bucket file);
    the folder is already 0700, and this sweep at start and stop leaves each file 0600
    and each folder 0700 as well.
    """
    for path in [root, *root.rglob("*")]:
        try:
            if path.is_symlink():
                continue
            mode = path.stat().st_mode
            if mode & 0o077:
                os.chmod(path, mode & 0o700)
        except FileNotFoundError:  # a file the server removed meanwhile
            continue


def _write_owner_only(path: Path, text: str) -> None:
    """Write `text` to a new file only the owner can read (no window where it is wider)."""
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)


def read_credentials(root: Path) -> dict[str, Any] | None:
    """What `kdcvg graph serve` on `root` stored for other commands, or None.

    The file is the owner's alone: another user cannot read it, so cannot connect.
    """
    try:
        info = json.loads((root / CREDENTIALS_NAME).read_text() or "{}")
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) else None


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
        make_owner_only_folder(self.root)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        f = os.fdopen(fd, "a+")
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.close()
            holder = self.holder()
            who = f"process {holder.pid} ({holder.command})" if holder else "another process"
            if holder and holder.command.split()[1:2] == ["serve"]:  # `kdcvg serve`
                hint = (f"`kdcvg serve` answers {', '.join(FORWARDED)} for it; stop the "
                        "server for this command")
            elif holder and holder.uri:
                hint = f"connect to it with --neo4j {holder.uri}"
            else:
                hint = "stop it, or run `kdcvg graph serve` and pass its --neo4j URI to every command"
            raise StoreError(f"database folder {self.root} is in use by {who}; {hint}") from None
        self._file = f
        os.chmod(self.path, 0o600)  # a lock file left by an older version may be 0644
        self.record(uri=None)

    def record(self, uri: str | None) -> None:
        """Write who holds the lock (and where it serves) for the next process to read.

        Never a secret: credentials go to the owner-only credentials file.
        """
        assert self._file is not None, "lock not held"
        info = {"pid": os.getpid(), "command": " ".join(sys.argv[:3]), "uri": uri}
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

    Two users, each with a random password made for this run: `root` (the tool's
    own reads and writes) and `analyst`, whose group may only read records. LOAD CSV
    of local files and of URLs is switched off, and ArcadeDB's HTTP API (which it
    always starts) is stopped again unless `studio` asks for it. The folder and
    everything the server writes in it are the owner's alone.

    Args:
        root: the database folder (ArcadeDB's server root).
        bolt_port: Bolt port; None picks a free one.
        password: root password; None makes a random one for this run.
        studio: keep ArcadeDB's HTTP API (and Studio, where installed) on a loopback port.

    Example:
        >>> server = EmbeddedServer(Path(".kdcvg/ackb")).start()
        >>> server.uri  # doctest: +SKIP
        'bolt://127.0.0.1:40123'
    """

    def __init__(self, root: Path, bolt_port: int | None = None, password: str | None = None,
                 studio: bool = False):
        self.root = Path(root).resolve()
        self.bolt_port = bolt_port
        self.password = password or secrets.token_hex(16)
        self.analyst_password = secrets.token_hex(16)
        self.studio = studio
        self.http_port: int | None = None
        self.lock = FolderLock(self.root)
        self._server: Any = None

    @property
    def uri(self) -> str:
        return f"bolt://127.0.0.1:{self.bolt_port}"

    @property
    def auth(self) -> tuple[str, str]:
        return (EMBEDDED_USER, self.password)

    @property
    def analyst_auth(self) -> tuple[str, str]:
        """The read-only analyst user's credentials."""
        return (ANALYST_USER, self.analyst_password)

    @property
    def http_url(self) -> str | None:
        """ArcadeDB's HTTP API, when `studio` kept it open."""
        return f"http://127.0.0.1:{self.http_port}" if self.http_port else None

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
        import jpype

        with owner_only_umask():  # the config, database and log files ArcadeDB makes now
            _start_jvm(self.root)
            import arcadedb_embedded as arcade

            restrict_to_owner(self.root)  # what an older version left readable
            settings = jpype.JClass("com.arcadedb.GlobalConfiguration")
            # JVM-wide: no LOAD CSV of local files or URLs for anyone, root included.
            settings.OPENCYPHER_LOAD_CSV_ALLOW_FILE_URLS.setValue(False)
            settings.OPENCYPHER_LOAD_CSV_ALLOW_REMOTE_URLS.setValue(False)
            config_dir = self.root / "config"
            config_dir.mkdir(exist_ok=True)
            # The root password is set when the users file is created: drop the last
            # run's so that each run gets its own random passwords.
            (config_dir / "server-users.jsonl").unlink(missing_ok=True)
            _write_owner_only(config_dir / "server-groups.json", json.dumps(_GROUPS, indent=2))
            self.bolt_port = self.bolt_port or free_port()
            self.http_port = free_port()
            config = {
                "host": "127.0.0.1",
                "http_port": self.http_port,
                "server_plugins": "Bolt:com.arcadedb.bolt.BoltProtocolPlugin",
                "bolt_port": self.bolt_port,
            }
            try:
                self._server = arcade.create_server(str(self.root), self.password, config)
                self._server.start()
            except arcade.ArcadeDBError as e:
                raise StoreError(f"embedded graph server in {self.root} failed to start: {e}") from e
            try:
                java = self._server._java_server
                if not self.studio:
                    # ArcadeDB has no setting that keeps its HTTP listener closed: stop it
                    # (open for well under a second, on loopback, behind the root password).
                    java.getHttpServer().stopService()
                    self.http_port = None
                self._create_analyst(java.getSecurity())
                self.database(EMBEDDED_DATABASE)
            except BaseException as e:
                self._server.stop()
                self._server = None
                if isinstance(e, jpype.JException):  # e.g. its users file could not be saved
                    raise StoreError(f"embedded graph server in {self.root} failed to start: "
                                     f"{e.getMessage()}{disk_note(self.root)}") from None
                raise

    def _create_analyst(self, security: Any) -> None:
        """The analyst user, in the read-only group on every database of this server."""
        import jpype

        json_object = jpype.JClass("com.arcadedb.serializer.json.JSONObject")
        user = {"name": ANALYST_USER, "password": str(security.encodePassword(self.analyst_password)),
                "databases": {"*": [ANALYST_GROUP]}}
        security.createUser(json_object(json.dumps(user)))

    def write_credentials(self) -> Path:
        """Store this run's URI and users for other commands, owner-only; removed by `stop`.

        Keyed by role (`CURATOR`, `ANALYST`), as `cli_common` asks for them.
        """
        path = self.root / CREDENTIALS_NAME
        _write_owner_only(path, json.dumps({
            "uri": self.uri, "database": EMBEDDED_DATABASE, "http": self.http_url,
            CURATOR: {"user": EMBEDDED_USER, "password": self.password},
            ANALYST: {"user": ANALYST_USER, "password": self.analyst_password},
        }))
        return path

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
                (self.root / CREDENTIALS_NAME).unlink(missing_ok=True)
                restrict_to_owner(self.root)
                self.lock.release()

    def __enter__(self) -> EmbeddedServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
