"""Connecting to Neo4j: settings from a URI and the environment, transactions with retry and back-off,
and one-line errors that never show the password.

    settings = Neo4jSettings.resolve("neo4j://db.example:7687")   # user/password/database from NEO4J_*
    runner = TransactionRunner(driver, settings, config)
    rows = runner.run(lambda tx: tx.run(query, params).data(), write=False)
"""

from __future__ import annotations

import logging
import os
import re
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping
from urllib.parse import urlsplit

from shopgraph.config import Neo4jConfig
from shopgraph.errors import ConfigError, QueryTimeoutError, StoreConnectionError, StoreError
from shopgraph.graph.rows import one_line

log = logging.getLogger(__name__)

URI_SCHEMES = ("neo4j", "neo4j+s", "neo4j+ssc", "bolt", "bolt+s", "bolt+ssc")
ENV_TARGET = "neo4j"  # `--db neo4j`: take the URI from $NEO4J_URI


def is_neo4j_target(target: Any) -> bool:
    """True for a Neo4j URI (neo4j://, neo4j+s://, bolt://, ...) or the word 'neo4j' (use $NEO4J_URI)."""
    if not isinstance(target, str):
        return False
    if target == ENV_TARGET:
        return True
    scheme, sep, _ = target.partition("://")
    return bool(sep) and scheme.lower() in URI_SCHEMES


def safe_uri(uri: str) -> str:
    """The URI without any user:password@ part, for messages and logs. Never raises: a port that is
    not a number from 0 to 65535 is shown as written (it cannot hold the password)."""
    parts = urlsplit(uri)
    host = parts.hostname or ""
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ":" + parts.netloc.rpartition("@")[2].rpartition(":")[2]
    return f"{parts.scheme}://{host}{port}"


@dataclass(frozen=True)
class Neo4jSettings:
    """Where and as whom to connect. repr never shows the password."""

    uri: str
    username: str = "neo4j"
    password: str | None = field(default=None, repr=False)
    database: str = "neo4j"

    @classmethod
    def resolve(cls, target: str | None = None, config: Neo4jConfig | None = None,
                environ: Mapping[str, str] | None = None, password: str | None = None) -> "Neo4jSettings":
        """target: a URI, 'neo4j' or None (both: $NEO4J_URI, then config.uri). The user name comes
        from a user@ in the URI, then $NEO4J_USERNAME, then config.username, then 'neo4j'; the database
        from $NEO4J_DATABASE, then config.database, then 'neo4j'; the password from the argument, then
        $NEO4J_PASSWORD, then a password in the URI."""
        env = os.environ if environ is None else environ
        config = config or Neo4jConfig()
        uri = target if target not in (None, ENV_TARGET) else (env.get("NEO4J_URI") or config.uri)
        if not uri:
            raise ConfigError("no Neo4j URI: pass --db neo4j://host:7687 or set NEO4J_URI")
        if not is_neo4j_target(uri) or uri == ENV_TARGET:
            raise ConfigError(f"not a Neo4j URI: {safe_uri(uri)!r} (use neo4j://, neo4j+s:// or bolt://)")
        parts = urlsplit(uri)
        try:
            parts.port
        except ValueError:
            raise ConfigError(f"bad port in Neo4j URI {safe_uri(uri)!r} (a number from 1 to 65535)") from None
        if not parts.hostname:
            raise ConfigError(f"no host in Neo4j URI {safe_uri(uri)!r}")
        username = parts.username or env.get("NEO4J_USERNAME") or config.username or "neo4j"
        secret = password or env.get("NEO4J_PASSWORD") or parts.password
        database = env.get("NEO4J_DATABASE") or config.database or "neo4j"
        clean = f"{parts.scheme}://{parts.hostname}{f':{parts.port}' if parts.port else ''}"
        if parts.query:
            clean += f"?{parts.query}"  # routing context (neo4j://host?region=eu)
        return cls(clean, username, secret, database)

    @property
    def display(self) -> str:
        return f"{safe_uri(self.uri)} (database {self.database!r}, user {self.username!r})"

    def scrub(self, text: str) -> str:
        """text with the password replaced, in case a server or driver message ever echoes it."""
        if self.password:
            text = text.replace(self.password, "***")
        return re.sub(r"(://[^/@\s:]+):[^@\s/]+@", r"\1:***@", text)

    def driver(self, config: Neo4jConfig):
        """A new neo4j driver (the official package, `pip install shopgraph[neo4j]`)."""
        try:
            import neo4j
        except ImportError:
            from shopgraph.errors import MissingDependencyError

            raise MissingDependencyError("the Neo4j store needs the neo4j driver: pip install 'shopgraph[neo4j]'") from None
        auth = neo4j.basic_auth(self.username, self.password or "")
        try:
            # Server notifications off: the driver logs each one as a WARNING (a CLI user would see
            # "label Meta does not exist" on a new database); shopgraph reads none of them.
            return neo4j.GraphDatabase.driver(self.uri, auth=auth, connection_timeout=config.connection_timeout,
                                              notifications_min_severity="OFF")
        except (ValueError, neo4j.exceptions.ConfigurationError) as e:
            raise ConfigError(f"cannot use Neo4j URI {safe_uri(self.uri)}: {self.scrub(one_line(e))}") from None


def _exceptions():
    import neo4j.exceptions as X

    return X


def is_transient(error: BaseException) -> bool:
    """Worth retrying, as the driver classifies it (`is_retryable()`): a TransientError (deadlock,
    leader switch, ...) or a connection lost before the commit (ServiceUnavailable, SessionExpired).
    Not an IncompleteCommit: the connection dropped while committing, so the transaction may have
    been applied, and running it again could apply a CREATE or SET twice."""
    retryable = getattr(error, "is_retryable", None)
    return bool(retryable()) if callable(retryable) else False


# Server codes for a transaction stopped by its timeout (the client's, or db.transaction.timeout).
TIMEOUT_CODES = ("Neo.ClientError.Transaction.TransactionTimedOut",
                 "Neo.ClientError.Transaction.TransactionTimedOutClientConfiguration")


def translate(error: BaseException, settings: Neo4jSettings) -> StoreError:
    """One clear StoreError (StoreConnectionError for reachability and credentials), password scrubbed."""
    X = _exceptions()
    detail = settings.scrub(one_line(error))
    code = getattr(error, "code", None) or ""
    if code in TIMEOUT_CODES:
        return QueryTimeoutError(f"Neo4j stopped the query at its time limit ({code.rsplit('.', 1)[1]}); "
                                 f"narrow the query or give it a longer timeout")
    if isinstance(error, X.IncompleteCommit):
        return StoreError(f"the connection to Neo4j at {settings.display} dropped while committing; the "
                          f"transaction may or may not have been applied (not retried): check before running "
                          f"it again ({detail})")
    if isinstance(error, (X.AuthError, X.TokenExpired)):
        return StoreConnectionError(
            f"Neo4j at {settings.display} refused the credentials; check NEO4J_USERNAME and NEO4J_PASSWORD")
    if isinstance(error, (X.ServiceUnavailable, X.SessionExpired)):
        return StoreConnectionError(
            f"cannot reach Neo4j at {settings.display}: {detail} (is the server running? check NEO4J_URI)")
    if "DatabaseNotFound" in code:
        return StoreConnectionError(f"Neo4j at {safe_uri(settings.uri)} has no database {settings.database!r}; "
                                    f"check NEO4J_DATABASE")
    if isinstance(error, X.DatabaseUnavailable) or "DatabaseUnavailable" in code:
        return StoreConnectionError(f"Neo4j database {settings.database!r} at {safe_uri(settings.uri)} is unavailable: {detail}")
    return StoreError(f"Neo4j query failed: {detail}")


class TransactionRunner:
    """Runs a unit of work in one explicit transaction, retrying the whole unit on errors the driver
    marks retryable (see is_transient) with exponential back-off (config.retry_initial_seconds,
    doubling, at most retry_max_seconds, config.max_retries attempts in all). The driver itself only
    retries inside execute_read / execute_write, which this store does not use, so this is the one
    retry policy."""

    def __init__(self, driver, settings: Neo4jSettings, config: Neo4jConfig,
                 sleep: Callable[[float], None] = time.sleep):
        self.driver = driver
        self.settings = settings
        self.config = config
        self.sleep = sleep

    def run(self, work: Callable[[Any], Any], *, write: bool, timeout: float | None = None) -> Any:
        """work(tx) in a transaction, committed; timeout: seconds the server gives the transaction
        (None: the server's db.transaction.timeout)."""
        import neo4j

        mode = neo4j.WRITE_ACCESS if write else neo4j.READ_ACCESS

        def attempt():
            with self.driver.session(database=self.settings.database, default_access_mode=mode) as session:
                with session.begin_transaction(timeout=timeout) as tx:
                    result = work(tx)
                    tx.commit()
                    return result

        return self._retrying(attempt, "transient error")

    def verify(self) -> None:
        """Connect and authenticate now (with the same retries), so a bad URI or password fails at open."""
        self._retrying(self.driver.verify_connectivity, "cannot connect yet")

    def _retrying(self, action: Callable[[], Any], what: str) -> Any:
        delay = self.config.retry_initial_seconds
        attempts = max(1, self.config.max_retries)
        for attempt in range(1, attempts + 1):
            try:
                return action()
            except StoreError:
                raise  # our own check inside the unit (the transaction was rolled back)
            except Exception as e:  # noqa: BLE001 - every driver error is translated below
                if not isinstance(e, _driver_errors()):
                    raise
                if not is_transient(e) or attempt == attempts:
                    raise translate(e, self.settings) from None
                log.warning("Neo4j: %s (%s); retry %d of %d in %.1f s",
                            what, self.settings.scrub(one_line(e)), attempt, attempts - 1, delay)
                self.sleep(delay)
                delay = min(delay * 2, self.config.retry_max_seconds)
        raise AssertionError("unreachable")


def _driver_errors() -> tuple[type, ...]:
    X = _exceptions()
    return (X.Neo4jError, X.DriverError)
