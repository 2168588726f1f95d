"""The ACKB store: named Cypher queries over Bolt, on the embedded server or Neo4j.

Example:
    >>> from kdcvg.config import resolve_store
    >>> with open_store(resolve_store()) as store:  # doctest: +SKIP
    ...     store.query("selling_points_of_product", product="p-001")
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from kdcvg.config import StoreConfig
from kdcvg.errors import QueryError, StoreError
from kdcvg.graph.queries import load_query
from kdcvg.graph.schema import NODES, RELATIONSHIPS
from kdcvg.graph.server import EMBEDDED_DATABASE, EmbeddedServer

BOLT_SCHEMES = ("bolt", "bolt+s", "bolt+ssc", "neo4j", "neo4j+s", "neo4j+ssc")
# Clauses that write. Ad-hoc Cypher containing one is refused before it runs,
# and the rest runs in a transaction that is always rolled back.
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
    if isinstance(e, nx.AuthError):
        return StoreError(f"{what}: the server refused the user/password "
                          "(set NEO4J_USER and NEO4J_PASSWORD)")
    if isinstance(e, nx.ServiceUnavailable):
        return StoreError(f"{what}: graph server unreachable ({message}); is it running?")
    if isinstance(e, nx.ClientError):
        return QueryError(f"{what}: {message}")
    return StoreError(f"{what}: {message}")


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
    """

    def __init__(self, driver: Any, database: str, flavor: str,
                 server: EmbeddedServer | None = None, owns_server: bool = False,
                 home: Path | None = None) -> None:
        self.home = home if home is not None else StoreConfig().home
        self.driver = driver
        self.database = database
        self.flavor = flavor
        self.server = server
        self.owns_server = owns_server

    def _session(self, read: bool = False) -> Any:
        from neo4j import READ_ACCESS, WRITE_ACCESS

        return self.driver.session(database=self.database,
                                   default_access_mode=READ_ACCESS if read else WRITE_ACCESS)

    def query(self, name: str, **params: Any) -> list[dict[str, Any]]:
        """Run the named query in a read transaction and return its rows as dicts."""
        query = load_query(name, self.flavor)
        try:
            with self._session(read=True) as session:
                return session.execute_read(lambda tx: [dict(r) for r in tx.run(query.text, params)])
        except Exception as e:
            if isinstance(e, QueryError | StoreError):
                raise
            raise _translate(e, f"query {name}") from e

    def write(self, name: str, **params: Any) -> list[dict[str, Any]]:
        """Run the named query in its own write transaction."""
        with self.transaction() as tx:
            return tx.run_named(name, **params)

    @contextmanager
    def transaction(self) -> Iterator[Tx]:
        """A write transaction: committed when the block ends, rolled back if it raises."""
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
            from neo4j.exceptions import Neo4jError, ServiceUnavailable

            if isinstance(e, Neo4jError | ServiceUnavailable):
                raise _translate(e, "write") from e
            raise

    def cypher(self, text: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Run ad-hoc read-only Cypher; writes are refused and nothing is ever committed.

        Raises:
            QueryError: the text writes, or the server rejects it.
        """
        code = _STRINGS_AND_COMMENTS.sub("''", text)
        found = _WRITE_CLAUSE.search(code)
        if found:
            raise QueryError(f"ad-hoc Cypher is read-only: {found.group(1).upper()} is refused; "
                             "curate through `kdcvg graph ingest`, `add-selling-point` or `link`")
        try:
            with self._session(read=True) as session:
                tx = session.begin_transaction()
                try:
                    return [dict(r) for r in tx.run(text, params or {})]
                finally:
                    if not tx.closed():
                        tx.rollback()
        except Exception as e:
            raise _translate(e, "cypher") from e

    def init_schema(self) -> None:
        """Create constraints and vector indexes when missing (idempotent)."""
        with self.transaction() as tx:
            for statement in load_query("schema_constraints", self.flavor).statements:
                tx.run_text(statement)
        if self.flavor == "embedded":
            # ArcadeDB's Cypher has no CREATE VECTOR INDEX: its API makes them in-process;
            # a served ArcadeDB (`kdcvg graph serve`) made them when it started.
            if self.server is not None:
                self.server.ensure_vector_indexes(self.database)
        else:
            with self.transaction() as tx:
                for statement in load_query("schema_vector_indexes", self.flavor).statements:
                    tx.run_text(statement)

    def stats(self) -> dict[str, Any]:
        """Counts per label and relationship type, and embedding coverage per label."""
        found = {r["label"]: r for r in self.query("label_counts")}
        nodes = {label: {"nodes": found.get(label, {}).get("nodes", 0),
                         "with_embedding": found.get(label, {}).get("with_embedding", 0)}
                 for label in NODES}
        counted = {r["type"]: r["relationships"] for r in self.query("relationship_counts")}
        return {"nodes": nodes, "relationships": {t: counted.get(t, 0) for t in RELATIONSHIPS}}

    def close(self) -> None:
        self.driver.close()
        if self.server is not None and self.owns_server:
            self.server.stop()


def connect(config: StoreConfig) -> Store:
    """Open a store: start the embedded server, or reach the Neo4j server, and check it answers."""
    import neo4j

    server: EmbeddedServer | None = None
    if config.neo4j_uri is None:
        server = EmbeddedServer(config.db).start()
        uri, auth, database, flavor = server.uri, server.auth, EMBEDDED_DATABASE, "embedded"
    else:
        uri, auth = config.neo4j_uri, (config.user, config.password)
        database, flavor = config.database, "neo4j"
        scheme = uri.partition("://")[0]
        if scheme not in BOLT_SCHEMES:
            raise StoreError(f"{uri} is not a Bolt URI; expected bolt://host:7687 "
                             f"(schemes: {', '.join(BOLT_SCHEMES)})")
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
        raise _translate(e, f"connect to {uri}") from e
    return Store(driver, database, flavor, server, owns_server=server is not None, home=config.home)


@contextmanager
def open_store(config: StoreConfig, init: bool = True) -> Iterator[Store]:
    """A store for the length of a `with` block; the embedded server stops when it ends."""
    store = connect(config)
    try:
        if init:
            store.init_schema()
        yield store
    finally:
        store.close()
