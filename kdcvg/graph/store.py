"""The ACKB store: named Cypher queries over Bolt, on the embedded server or Neo4j.

Example:
    >>> from kdcvg.config import resolve_store
    >>> with open_store(resolve_store()) as store:  # doctest: +SKIP
    ...     store.query("selling_points_of_product", product="p-001")
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol, TypeVar

from kdcvg.config import StoreConfig
from kdcvg.errors import QueryError, StoreError
from kdcvg.graph.queries import ANALYST, NamedQuery, list_queries, load_query
from kdcvg.graph.schema import NODES, RELATIONSHIPS
from kdcvg.graph.server import CURATOR, EMBEDDED_DATABASE, EmbeddedServer, disk_note

# bolt: one server; neo4j: routing (a cluster or Aura: reads to followers, writes to
# the leader). +s: TLS with a CA-signed certificate; +ssc: TLS, self-signed accepted.
BOLT_SCHEMES = ("bolt", "bolt+s", "bolt+ssc", "neo4j", "neo4j+s", "neo4j+ssc")
T = TypeVar("T")
# Who a store connects as: the curator (the tool's own reads and writes) or the
# analyst (`graph cypher|query|queries|stats`: reads only, enforced by the server).
ROLES = (CURATOR, ANALYST)
# Procedures an analyst may call on Neo4j (their plans are checked before running).
NEO4J_ANALYST_PROCEDURES = ("db.labels", "db.relationshipTypes", "db.propertyKeys",
                            "db.index.vector.queryNodes", "db.index.fulltext.queryNodes")
# A friendly early message only, never the guard: the analyst's database user is.
# Text naming a writing clause is refused before it reaches the server.
_WRITE_CLAUSE = re.compile(
    r"\b(CREATE|MERGE|SET|DELETE|DETACH|REMOVE|DROP|LOAD\s+CSV|FOREACH)\b", re.IGNORECASE
)
_STRINGS_AND_COMMENTS = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|//[^\n]*|/\*.*?\*/",
                                   re.DOTALL)


def _translate(e: Exception, what: str) -> Exception:
    """Driver exceptions become one-line kdcvg errors that say what to do."""
    from neo4j import exceptions as nx

    message = getattr(e, "message", None) or str(e)
    if isinstance(e, nx.CypherSyntaxError):
        return QueryError(f"{what}: Cypher syntax error: {message}")
    if isinstance(e, nx.ConstraintError):
        return StoreError(f"{what}: constraint violated: {message}")
    if isinstance(e, nx.Forbidden):
        return QueryError(f"{what}: refused by the graph server (the analyst user may only "
                          f"read): {message}")
    if isinstance(e, nx.AuthError):
        return StoreError(f"{what}: the server refused the user/password "
                          "(set NEO4J_USER and NEO4J_PASSWORD)")
    if isinstance(e, nx.ServiceUnavailable):
        return StoreError(f"{what}: graph server unreachable ({message}); is it running?")
    if isinstance(e, nx.ClientError):
        return QueryError(f"{what}: {message}")
    return StoreError(f"{what}: {message}")


class GraphReader(Protocol):
    """What code that only reads the graph needs of a store: named queries and its folder.

    `Store` is one; tests and callers may pass anything with these two members.
    """

    home: Path

    def query(self, name: str, **params: Any) -> list[dict[str, Any]]:
        """Run the named query (a file in `cypher/`) in a read transaction; rows as dicts."""
        ...


class Tx:
    """One open write transaction; see `Store.transaction`."""

    def __init__(self, tx: Any, flavor: str) -> None:
        self._tx = tx
        self._flavor = flavor

    def run_named(self, name: str, **params: Any) -> list[dict[str, Any]]:
        query = load_query(name, self._flavor)
        return [dict(r) for r in self._tx.run(query.text, params)]

    def run_text(self, text: str, **params: Any) -> list[dict[str, Any]]:
        """Run Cypher whose text is built from schema names only (never user input)."""
        return [dict(r) for r in self._tx.run(text, params)]


class Store:
    """A connection to the ACKB. Use `open_store` to make one.

    Args:
        driver: an open `neo4j.Driver`.
        database: database name on the server.
        flavor: "embedded" or "neo4j" (picks `.neo4j.cypher` variants).
        server: the embedded server behind it, when this process runs one.
        owns_server: stop `server` when the store closes.
        home: the store folder (trained models, LoRAs, keyframe sheets).
        analyst_driver: the connection of the analyst surface (`cypher`, `analyst_query`,
            `stats`). None: the read-only analyst user of `server` when there is one,
            otherwise `driver` (a connection made with the analyst's own credentials,
            or a Neo4j server, where every analyst query runs in a READ transaction
            after its plan was checked).
    """

    def __init__(self, driver: Any, database: str, flavor: str,
                 server: EmbeddedServer | None = None, owns_server: bool = False,
                 home: Path | None = None, analyst_driver: Any = None) -> None:
        self.home = home if home is not None else StoreConfig().home
        self.driver = driver
        self.database = database
        self.flavor = flavor
        self.server = server
        self.owns_server = owns_server
        self._analyst_driver = analyst_driver
        # Every session of this store shares one bookmark manager: on a cluster, a read
        # that follows a write of the same command waits for a follower that has it.
        import neo4j

        self.bookmarks = neo4j.GraphDatabase.bookmark_manager()

    def _analyst(self) -> Any:
        """The analyst surface's connection (opened on first use)."""
        if self._analyst_driver is None:
            if self.server is not None:
                import neo4j

                self._analyst_driver = neo4j.GraphDatabase.driver(self.server.uri,
                                                                  auth=self.server.analyst_auth)
            else:
                self._analyst_driver = self.driver
        return self._analyst_driver

    def _session(self, read: bool = False) -> Any:
        from neo4j import READ_ACCESS, WRITE_ACCESS

        return self.driver.session(database=self.database, bookmark_manager=self.bookmarks,
                                   default_access_mode=READ_ACCESS if read else WRITE_ACCESS)

    def query(self, name: str, **params: Any) -> list[dict[str, Any]]:
        """Run the named query in a read transaction and return its rows as dicts."""
        query = load_query(name, self.flavor)
        try:
            with self._session(read=True) as session:
                rows: list[dict[str, Any]] = session.execute_read(
                    lambda tx: [dict(r) for r in tx.run(query.text, params)])
                return rows
        except Exception as e:
            if isinstance(e, QueryError | StoreError):
                raise
            raise _translate(e, f"query {name}") from e

    def write(self, name: str, **params: Any) -> list[dict[str, Any]]:
        """Run the named query in its own write transaction (see `run_write`)."""
        return self.run_write(lambda tx: tx.run_named(name, **params))

    def run_write(self, work: Callable[[Tx], T]) -> T:
        """Run `work(tx)` in one WRITE transaction managed by the driver; returns its result.

        The transaction is committed when `work` returns and rolled back if it raises,
        so the graph gets all of it or none. On a transient error (a deadlock or
        concurrent change, a cluster electing a new leader) the driver rolls back and
        calls `work` again from the start, for up to 30 s (its
        `max_transaction_retry_time`); `work` must therefore only write through `tx`
        (a progress callback may count a retried chunk twice). On a routing URI
        (`neo4j://`) the transaction goes to the cluster's leader.

        Raises:
            StoreError, QueryError: the server refused or failed; nothing was written.
        """
        try:
            with self._session() as session:
                result: T = session.execute_write(lambda tx: work(Tx(tx, self.flavor)))
                return result
        except (QueryError, StoreError):
            raise
        except Exception as e:
            if (refusal := self._server_refusal(e)) is not None:
                raise refusal from e
            raise

    @contextmanager
    def transaction(self) -> Iterator[Tx]:
        """An explicit write transaction: committed when the block ends, rolled back if it
        raises. Not retried on transient errors: kdcvg's own writes use `run_write`."""
        try:
            with self._session() as session:
                tx = session.begin_transaction()
                try:
                    yield Tx(tx, self.flavor)
                    tx.commit()
                except BaseException:
                    if not tx.closed():  # a failed statement has closed it already
                        tx.rollback()
                    raise
                finally:
                    tx.close()
        except (QueryError, StoreError):
            raise
        except Exception as e:
            if (refusal := self._server_refusal(e)) is not None:
                raise refusal from e
            raise

    def _server_refusal(self, e: Exception) -> Exception | None:
        """A failed write's one-line error when the server refused it; None for anything else."""
        from neo4j.exceptions import Neo4jError, ServiceUnavailable

        if isinstance(e, Neo4jError | ServiceUnavailable):
            return _translate(e, "write" + self._full_disk_note())
        return None

    def _full_disk_note(self) -> str:
        """Why a write failed, when the embedded database's disk is full."""
        return disk_note(self.server.root) if self.server is not None else ""

    def cypher(self, text: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Run ad-hoc Cypher on the analyst surface: it may read, and nothing else.

        Text that names a writing clause gets a friendly message before it is sent;
        everything else goes to `run_read`, where the server is the guard.

        Raises:
            QueryError: the text writes, or the server refuses or rejects it.
        """
        code = _STRINGS_AND_COMMENTS.sub("''", text)
        found = _WRITE_CLAUSE.search(code)
        if found:
            raise QueryError(f"ad-hoc Cypher is read-only: {found.group(1).upper()} is refused; "
                             "curate through `kdcvg graph ingest`, `add-selling-point` or `link`")
        return self.run_read(text, params, "cypher")

    def analyst_query(self, name: str, **params: Any) -> list[dict[str, Any]]:
        """Run a named analyst query (`// surface: analyst`) on the analyst surface.

        Raises:
            QueryError: the query is the tool's own (internal), unknown, or refused.
        """
        query = load_analyst_query(name, self.flavor)
        return self.run_read(query.text, params, f"query {name}")

    def run_read(self, text: str, params: dict[str, Any] | None = None,
                 what: str = "cypher") -> list[dict[str, Any]]:
        """The analyst surface's guarded path: run `text` as the analyst, read-only.

        The guard is the server. Embedded ArcadeDB: the analyst user's group has no
        right to create, update or delete records, change the schema, or read files
        (LOAD CSV of local files needs the updateSecurity right, and is off for every
        user). Neo4j: a READ access-mode transaction, after the server's own plan
        (`EXPLAIN`) says the query only reads (`query_type` 'r') and loads no CSV and
        calls no procedure outside NEO4J_ANALYST_PROCEDURES. The transaction is
        committed, so that the server's refusal of a write (ArcadeDB checks the right
        to update a record at commit) reaches the user rather than a silent rollback.

        Raises:
            QueryError: the server refuses or rejects the text.
        """
        from neo4j import READ_ACCESS

        def read(tx: Any) -> list[dict[str, Any]]:
            if self.flavor == "neo4j":
                _check_neo4j_plan(tx, text, params or {}, what)
            return [dict(r) for r in tx.run(text, params or {})]

        try:
            with self._analyst().session(database=self.database, bookmark_manager=self.bookmarks,
                                         default_access_mode=READ_ACCESS) as session:
                # A managed READ transaction: routed to a follower on a cluster, retried
                # on transient errors, and committed, not rolled back: ArcadeDB checks the
                # update right of records changed inside a transaction when it commits,
                # and a rollback would hide a write instead of having the server refuse it.
                rows: list[dict[str, Any]] = session.execute_read(read)
                return rows
        except (QueryError, StoreError):
            raise
        except Exception as e:
            raise _translate(e, what) from e

    def init_schema(self) -> None:
        """Create constraints and vector indexes when missing (idempotent)."""
        def run_all(name: str) -> Callable[[Tx], None]:
            def work(tx: Tx) -> None:
                for statement in load_query(name, self.flavor).statements:
                    tx.run_text(statement)
            return work

        self.run_write(run_all("schema_constraints"))
        if self.flavor == "embedded":
            # ArcadeDB's Cypher has no CREATE VECTOR INDEX: its API makes them in-process;
            # a served ArcadeDB (`kdcvg graph serve`) made them when it started.
            if self.server is not None:
                self.server.ensure_vector_indexes(self.database)
        else:
            self.run_write(run_all("schema_vector_indexes"))

    def stats(self) -> dict[str, Any]:
        """Counts per label and relationship type, and embedding coverage per label."""
        found = {r["label"]: r for r in self.analyst_query("label_counts")}
        nodes = {label: {"nodes": found.get(label, {}).get("nodes", 0),
                         "with_embedding": found.get(label, {}).get("with_embedding", 0)}
                 for label in NODES}
        counted = {r["type"]: r["relationships"]
                   for r in self.analyst_query("relationship_counts")}
        return {"nodes": nodes, "relationships": {t: counted.get(t, 0) for t in RELATIONSHIPS}}

    def close(self) -> None:
        if self._analyst_driver is not None and self._analyst_driver is not self.driver:
            self._analyst_driver.close()
        self.driver.close()
        if self.server is not None and self.owns_server:
            self.server.stop()


def analyst_queries() -> list[NamedQuery]:
    """The named queries an analyst may run (`// surface: analyst`), sorted by name."""
    return [q for q in list_queries() if q.surface == ANALYST]


def load_analyst_query(name: str, flavor: str = "embedded") -> NamedQuery:
    """The named query `name`, when it is an analyst query.

    Raises:
        QueryError: the query is unknown, or internal to kdcvg (ingest, bulk, export, ...).
    """
    query = load_query(name, flavor)
    if query.surface != ANALYST:
        known = ", ".join(q.name for q in analyst_queries()) or "none"
        raise QueryError(f"query {name} is internal to kdcvg, not an analyst query; "
                         f"analyst queries: {known}")
    return query


def check_analyst_params(name: str, params: dict[str, Any]) -> NamedQuery:
    """The analyst query `name`, when `params` gives every parameter it needs.

    Raises:
        QueryError: unknown or internal query, or a parameter missing.
    """
    named = load_analyst_query(name)
    missing = [p for p in named.params if p not in params]
    if missing:
        raise QueryError(f"query {name} needs --param for: {', '.join(missing)}")
    return named


def _plan_operators(plan: dict[str, Any] | None) -> Iterator[dict[str, Any]]:
    if plan:
        yield plan
        for child in plan.get("children", []):
            yield from _plan_operators(child)


def _check_neo4j_plan(tx: Any, text: str, params: dict[str, Any], what: str) -> None:
    """Refuse, from Neo4j's own plan of `text`, anything but a read of the graph."""
    summary = tx.run(f"EXPLAIN {text}", params).consume()
    if summary.query_type != "r":
        raise QueryError(f"{what}: refused: Neo4j plans this query as type "
                         f"{summary.query_type!r}; the analyst surface runs reads ('r') only")
    for op in _plan_operators(summary.plan):
        kind = str(op.get("operatorType", "")).partition("@")[0]
        details = str(op.get("args", {}).get("Details", ""))
        if kind == "LoadCSV":
            raise QueryError(f"{what}: refused: LOAD CSV reads files or URLs; the analyst "
                             "surface reads the graph only")
        if kind == "ProcedureCall" and details.partition("(")[0].strip() not in NEO4J_ANALYST_PROCEDURES:
            raise QueryError(f"{what}: refused: procedure {details.partition('(')[0].strip()!r} "
                             f"is not one of {', '.join(NEO4J_ANALYST_PROCEDURES)}")


def check_uri(uri: str) -> None:
    """Refuse a server URI that is not `scheme://host[:port][?routing context]`.

    The driver accepts more (a path, a port that is not a number) and fails later with
    a vaguer message, or not at all. Credentials never go in the URI: messages print it.

    Raises:
        StoreError: naming what is wrong (the URI is printed without any user info).
    """
    from urllib.parse import urlsplit

    parts = urlsplit(uri)
    shown = (parts._replace(netloc="***@" + parts.netloc.rpartition("@")[2]).geturl()
             if "@" in parts.netloc else uri)
    if parts.scheme not in BOLT_SCHEMES or "://" not in uri:
        raise StoreError(f"{shown} is not a Bolt URI; expected bolt://host:7687, or "
                         f"neo4j+s://host:7687 for a cluster or Aura (schemes: "
                         f"{', '.join(BOLT_SCHEMES)})")
    if "@" in parts.netloc:
        raise StoreError(f"{shown} holds a user name or password; give them in NEO4J_USER "
                         "and NEO4J_PASSWORD instead")
    try:
        port = parts.port
    except ValueError:  # not a number, or out of range
        port = 0
    if port == 0:
        raise StoreError(f"{shown}: the port is not a number from 1 to 65535")
    if not parts.hostname:
        raise StoreError(f"{shown} names no host; expected {parts.scheme}://host:7687")
    if parts.path not in ("", "/") or parts.fragment:
        raise StoreError(f"{shown}: a Bolt URI has no path or fragment; name the database "
                         "in NEO4J_DATABASE")
    if parts.query and not parts.scheme.startswith("neo4j"):
        raise StoreError(f"{shown}: a routing context (?{parts.query}) needs a routing scheme "
                         f"(neo4j://, neo4j+s://), not {parts.scheme}://")


def connect(config: StoreConfig, role: str = CURATOR) -> Store:
    """Open a store: start the embedded server, or reach the Neo4j server, and check it answers.

    Args:
        config: which server, and its credentials.
        role: `CURATOR` (the tool's own reads and writes) or `ANALYST`: an embedded
            server started here is then reached as its read-only analyst user only.
    """
    import neo4j

    if role not in ROLES:
        raise ValueError(f"role {role!r} is not one of {ROLES}")
    server: EmbeddedServer | None = None
    if config.neo4j_uri is None:
        server = EmbeddedServer(config.db).start()
        auth = server.analyst_auth if role == ANALYST else server.auth
        uri, database, flavor = server.uri, EMBEDDED_DATABASE, "embedded"
    else:
        uri, auth = config.neo4j_uri, (config.user, config.password)
        database, flavor = config.database, "neo4j"
        check_uri(uri)
    try:
        driver = neo4j.GraphDatabase.driver(uri, auth=auth)
        driver.verify_connectivity()
        if "ArcadeDB" in (driver.get_server_info().agent or ""):
            flavor = "embedded"  # a served embedded database speaks ArcadeDB's dialect
    except Exception as e:
        if server is not None:
            server.stop()
        if isinstance(e, ValueError):
            raise StoreError(f"{uri} is not a valid Bolt URI ({e}); expected bolt://host:7687") from e
        from neo4j.exceptions import ServiceUnavailable

        scheme = uri.partition("://")[0]
        if isinstance(e, ServiceUnavailable) and "+s" in scheme:
            reason = " ".join(str(e).split())  # the driver's message may span lines
            raise StoreError(f"connect to {uri}: graph server unreachable ({reason}); {scheme}:// "
                             f"asks for TLS: does the server accept it? (plain "
                             f"{scheme.partition('+')[0]}:// connects without)") from e
        raise _translate(e, f"connect to {uri}") from e
    return Store(driver, database, flavor, server, owns_server=server is not None, home=config.home,
                 analyst_driver=driver if role == ANALYST else None)


@contextmanager
def open_store(config: StoreConfig, init: bool = True, role: str = CURATOR) -> Iterator[Store]:
    """A store for the length of a `with` block; the embedded server stops when it ends.

    An analyst store (`role=ANALYST`) never writes, so it does not create the schema.
    """
    store = connect(config, role)
    try:
        if init and role == CURATOR:
            store.init_schema()
        yield store
    finally:
        store.close()
