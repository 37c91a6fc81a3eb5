"""A local Neo4j Community server from Maven Central jars: for the live test suite, the benchmark,
and anyone who wants a Neo4j without Docker or a download from any other site.

    python -m tools.neo4j_local fetch        # tools/neo4j/pom.xml's jars into the cache (make neo4j-jars)
    python -m tools.neo4j_local run          # a server in the foreground until Ctrl-C (make neo4j-local)

    with LocalNeo4j.start() as server:       # 127.0.0.1, a free port, a temporary home, a new password
        os.environ.update(server.environment())   # NEO4J_URI, NEO4J_USERNAME, NEO4J_PASSWORD

The version is the one pinned in tools/neo4j/pom.xml; its runtime closure (kernel, Cypher, Lucene
full-text and vector indexes, Bolt, the server entry point `org.neo4j.server.CommunityEntryPoint`,
which the official tarball runs) is copied by Maven into a cache outside the repository,
`$SHOPGRAPH_NEO4J_CACHE` or `~/.cache/shopgraph/neo4j-<version>/lib` (Maven's own ~/.m2 is reused).

The server: Bolt on 127.0.0.1 only (HTTP off), authentication on with a password made here and set
over Bolt before anything else can log in (a fresh server accepts neo4j/neo4j only to change it), an
explicit heap and page cache (2-core, shared machines), no 256 MB transaction-log preallocation, and
the JVM flags Neo4j's own launcher passes (its neo4j.conf: --add-opens for java.nio, java.io and
sun.nio.ch, native access, Netty's reflection switch). Standard library only, plus the neo4j driver
for the Bolt check and the password.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

POM = Path(__file__).resolve().parent / "neo4j" / "pom.xml"
ENTRY_POINT = "org.neo4j.server.CommunityEntryPoint"
MIN_JAVA = 17  # Neo4j 5.26 runs on Java 17 and 21; 2025.x and later need 21
# From Neo4j's own conf/neo4j.conf (server.jvm.additional), which its launcher passes to the JVM.
NEO4J_JVM_FLAGS = (
    "--add-opens=java.base/java.nio=ALL-UNNAMED",
    "--add-opens=java.base/java.io=ALL-UNNAMED",
    "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
    "--enable-native-access=ALL-UNNAMED",
    "-Dio.netty.tryReflectionSetAccessible=true",
    "-Djdk.nio.maxCachedBufferSize=1024",
    "-Dlog4j2.disable.jmx=true",
    "-XX:-OmitStackTraceInFastThrow",
)
START_TIMEOUT = 180.0  # seconds; a cold start on a busy 2-core machine takes 10-20


class Neo4jLocalError(RuntimeError):
    """The local server cannot be fetched or started (the message says why, in one line)."""


# -- the pinned version and the jar cache ---------------------------------------------------------
def pinned_version(pom: Path = POM) -> str:
    """The neo4j.version property of tools/neo4j/pom.xml (the one place the version is written)."""
    ns = {"m": "http://maven.apache.org/POM/4.0.0"}
    version = ET.parse(pom).getroot().findtext("m:properties/m:neo4j.version", namespaces=ns)
    if not version:
        raise Neo4jLocalError(f"{pom} has no <neo4j.version> property")
    return version.strip()


def cache_dir(version: str | None = None) -> Path:
    """$SHOPGRAPH_NEO4J_CACHE, else $XDG_CACHE_HOME (or ~/.cache)/shopgraph/neo4j-<version>."""
    if os.environ.get("SHOPGRAPH_NEO4J_CACHE"):
        return Path(os.environ["SHOPGRAPH_NEO4J_CACHE"])
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "shopgraph" / f"neo4j-{version or pinned_version()}"


def lib_dir(version: str | None = None) -> Path:
    """Where the jars are: the folder exists only once a fetch completed (it is renamed into place)."""
    return cache_dir(version) / "lib"


def fetch(pom: Path = POM, *, quiet: bool = True) -> Path:
    """Copy the pom's runtime closure into lib_dir() with Maven, unless it is there already.
    Maven writes into a private folder that is renamed into place at the end, so an interrupted or
    concurrent fetch never leaves a half-filled lib/."""
    lib = lib_dir(pinned_version(pom))
    if lib.is_dir():
        return lib
    mvn = shutil.which("mvn")
    if mvn is None:
        raise Neo4jLocalError("mvn not found on PATH (Maven fetches the Neo4j jars from Maven Central)")
    lib.parent.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix="lib.partial-", dir=lib.parent))
    try:
        command = [mvn, "-B", *(["-q"] if quiet else []), "-f", str(pom), "dependency:copy-dependencies",
                   "-DincludeScope=runtime", f"-DoutputDirectory={partial}"]
        done = subprocess.run(command, capture_output=quiet, text=True)
        if done.returncode != 0:
            tail = " | ".join((done.stdout or "").strip().splitlines()[-3:]) if quiet else ""
            raise Neo4jLocalError(f"mvn could not fetch the Neo4j jars (exit {done.returncode}) {tail}".strip())
        if not any(partial.glob("neo4j-*.jar")):
            raise Neo4jLocalError(f"mvn finished but copied no neo4j jar into {partial}")
        try:
            partial.rename(lib)
        except OSError:
            if not lib.is_dir():  # not a concurrent fetch that finished first
                raise
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return lib


# -- Java -------------------------------------------------------------------------------------------
def find_java() -> tuple[str, int]:
    """(path, major version) of $JAVA_HOME/bin/java or the java on PATH."""
    home = os.environ.get("JAVA_HOME")
    java = str(Path(home) / "bin" / "java") if home and (Path(home) / "bin" / "java").exists() else shutil.which("java")
    if java is None:
        raise Neo4jLocalError("no java on PATH (Neo4j 5.26 needs Java 17 or 21)")
    shown = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=60).stderr
    found = re.search(r'version "(\d+)(?:\.(\d+))?', shown)
    if not found:
        raise Neo4jLocalError(f"cannot read the version of {java}: {shown.strip()[:120]!r}")
    major = int(found.group(1))
    major = int(found.group(2)) if major == 1 and found.group(2) else major  # "1.8" is Java 8
    if major < MIN_JAVA:
        raise Neo4jLocalError(f"{java} is Java {major}; Neo4j 5.26 needs Java 17 or 21 (set JAVA_HOME)")
    return java, major


def unavailable_reason() -> str | None:
    """None when a local server can start here; else one line saying what is missing."""
    try:
        find_java()
    except Neo4jLocalError as e:
        return str(e)
    if not lib_dir().is_dir():
        return f"the Neo4j {pinned_version()} jars are not fetched (make neo4j-jars, needs mvn)"
    return None


# -- the server ---------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the process that started it dies (Linux), so a test
    run killed with SIGKILL does not leave a Neo4j behind."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


@dataclass
class LocalNeo4j:
    """A running local server. uri is bolt://127.0.0.1:<port>; the user is neo4j."""

    uri: str
    password: str = field(repr=False)
    home: Path
    version: str
    process: subprocess.Popen = field(repr=False)
    owns_home: bool = True
    username: str = "neo4j"

    @property
    def auth(self) -> tuple[str, str]:
        return self.username, self.password

    def environment(self) -> dict[str, str]:
        """The NEO4J_* variables shopgraph reads (NEO4J_DATABASE: the default database, neo4j)."""
        return {"NEO4J_URI": self.uri, "NEO4J_USERNAME": self.username, "NEO4J_PASSWORD": self.password,
                "NEO4J_DATABASE": "neo4j"}

    @classmethod
    def start(cls, *, home: Path | None = None, port: int | None = None, heap: str = "512m",
              pagecache: str = "128m", timeout: float = START_TIMEOUT, extra: dict[str, str] | None = None,
              password: str | None = None) -> "LocalNeo4j":
        """Start a server and wait until Bolt answers with the new password.

        home: the server's folder (data, logs); None makes a temporary one, deleted by stop().
        A home that already holds a database keeps its password: pass it. heap / pagecache: JVM heap
        and page cache sizes in Neo4j's notation (512m, 2g). extra: more settings (-c key=value)."""
        java, _ = find_java()
        version = pinned_version()
        lib = lib_dir(version)
        if not lib.is_dir():
            raise Neo4jLocalError(f"the Neo4j {version} jars are not in {lib}: run `make neo4j-jars`")
        owns = home is None
        home = Path(tempfile.mkdtemp(prefix="shopgraph-neo4j-")) if owns else Path(home)
        fresh = not (home / "data" / "dbms").exists()
        if not fresh and password is None:
            raise Neo4jLocalError(f"{home} already holds a Neo4j database: give its password")
        (home / "conf").mkdir(parents=True, exist_ok=True)
        (home / "conf" / "neo4j.conf").touch()
        port = port or free_port()
        settings = {
            "server.default_listen_address": "127.0.0.1",
            "server.bolt.listen_address": f"127.0.0.1:{port}",
            "server.bolt.advertised_address": f"127.0.0.1:{port}",
            "server.http.enabled": "false",
            "server.https.enabled": "false",
            "server.memory.pagecache.size": pagecache,
            "db.tx_log.preallocate": "false",
            "db.tx_log.rotation.retention_policy": "100M size",
            "dbms.usage_report.enabled": "false",
            "dbms.security.auth_enabled": "true",
            # A transaction's time limit is enforced by a monitor thread that wakes every 2 s by default,
            # so a query with a 50 ms limit could run (and finish) for up to 2 s; check 10 times a second.
            "db.transaction.monitor.check.interval": "100ms",
            **(extra or {}),
        }
        command = [java, f"-Xms{heap}", f"-Xmx{heap}", "-XX:+ExitOnOutOfMemoryError", *NEO4J_JVM_FLAGS,
                   "-cp", str(lib / "*"), ENTRY_POINT, f"--home-dir={home}", f"--config-dir={home / 'conf'}",
                   "--console-mode"]
        for key, value in settings.items():
            command += ["-c", f"{key}={value}"]
        env = {**os.environ, "NEO4J_HOME": str(home), "NEO4J_CONF": str(home / "conf")}
        log = open(home / "console.log", "ab")
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   env=env, cwd=home, start_new_session=True, preexec_fn=_die_with_parent)
        log.close()
        server = cls(f"bolt://127.0.0.1:{port}", password or secrets.token_urlsafe(24), home, version, process, owns)
        try:
            server._wait_for_bolt(timeout, set_password=fresh)
        except BaseException:
            server.stop()
            raise
        return server

    def _wait_for_bolt(self, timeout: float, set_password: bool) -> None:
        """Poll until the server answers on Bolt; on a fresh home, replace the initial password
        (neo4j/neo4j, good only for changing it) with ours, sent as a parameter."""
        import neo4j

        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise Neo4jLocalError(f"Neo4j exited with code {self.process.returncode} while starting: "
                                      f"{self.log_tail()}")
            try:
                # Plain sessions, not execute_query: that one retries for 30 s on its own.
                if set_password:
                    with neo4j.GraphDatabase.driver(self.uri, auth=("neo4j", "neo4j")) as driver, \
                            driver.session(database="system") as session:
                        session.run("ALTER CURRENT USER SET PASSWORD FROM $old TO $new",
                                    old="neo4j", new=self.password).consume()
                    set_password = False
                with neo4j.GraphDatabase.driver(self.uri, auth=self.auth) as driver, \
                        driver.session(database="neo4j") as session:
                    session.run("RETURN 1").consume()
                return
            except (neo4j.exceptions.ServiceUnavailable, neo4j.exceptions.SessionExpired,
                    neo4j.exceptions.DatabaseUnavailable, OSError):
                if time.monotonic() > deadline:
                    raise Neo4jLocalError(f"Neo4j did not answer on {self.uri} within {timeout:g} s: "
                                          f"{self.log_tail()}") from None
                time.sleep(0.2)

    def log_tail(self, lines: int = 3) -> str:
        try:
            text = (self.home / "console.log").read_text(errors="replace").strip().splitlines()
        except OSError:
            return "(no console.log)"
        return " | ".join(text[-lines:])

    def stop(self, grace: float | None = None) -> None:
        """Stop the server; a temporary home is deleted. grace: seconds for a clean shutdown before
        SIGKILL (default: none for a temporary home, whose data is thrown away; 60 s otherwise)."""
        grace = (0.0 if self.owns_home else 60.0) if grace is None else grace
        if self.process.poll() is None:
            if grace > 0:
                self.process.terminate()
                try:
                    self.process.wait(grace)
                except subprocess.TimeoutExpired:
                    pass
            if self.process.poll() is None:
                self.process.kill()
            self.process.wait()
        if self.owns_home:
            shutil.rmtree(self.home, ignore_errors=True)

    def __enter__(self) -> "LocalNeo4j":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def wipe(uri: str, auth: tuple[str, str], database: str = "neo4j", *, drop_schema: bool = False) -> None:
    """Delete every node and relationship of a database (in transactions of 10,000 nodes); with
    drop_schema also every constraint and index (Community has one user database: tests share it)."""
    import neo4j

    with neo4j.GraphDatabase.driver(uri, auth=auth) as driver, driver.session(database=database) as session:
        # Batches in separate transactions, in syntax every Neo4j 5 takes (no CALL IN TRANSACTIONS).
        while session.run("MATCH (n) WITH n LIMIT 10000 DETACH DELETE n RETURN count(*) AS n").single()["n"]:
            pass
        if drop_schema:
            for record in list(session.run("SHOW CONSTRAINTS YIELD name")):
                session.run(f"DROP CONSTRAINT `{record['name']}` IF EXISTS").consume()
            for record in list(session.run("SHOW INDEXES YIELD name, type WHERE type <> 'LOOKUP'")):
                session.run(f"DROP INDEX `{record['name']}` IF EXISTS").consume()


# -- command line --------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.neo4j_local", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    get = sub.add_parser("fetch", help="copy the pinned Neo4j's jars into the cache (needs mvn)")
    get.add_argument("--if-possible", action="store_true",
                     help="when java or mvn is missing, say so in one line and exit 0 (make test)")
    run = sub.add_parser("run", help="start a server in the foreground until Ctrl-C")
    run.add_argument("--home", type=Path, help="server folder kept between runs (default: a temporary one)")
    run.add_argument("--port", type=int, help="Bolt port on 127.0.0.1 (default: a free one)")
    run.add_argument("--heap", default="1g")
    run.add_argument("--pagecache", default="512m")
    sub.add_parser("where", help="print the jar folder")
    args = parser.parse_args(argv)
    try:
        if args.command == "where":
            print(lib_dir())
        elif args.command == "fetch":
            return _fetch(args.if_possible)
        else:
            return _run(args)
    except Neo4jLocalError as e:
        print(f"neo4j-local: {e}", file=sys.stderr)
        return 1
    return 0


def _fetch(if_possible: bool) -> int:
    version = pinned_version()
    if lib_dir(version).is_dir():
        print(f"Neo4j {version} jars: {lib_dir(version)}")
        return 0
    try:
        find_java()
        if shutil.which("mvn") is None:
            raise Neo4jLocalError("mvn not found on PATH")
    except Neo4jLocalError as e:
        if if_possible:
            print(f"Neo4j {version} not fetched ({e}): the live Neo4j tests will skip")
            return 0
        raise
    started = time.monotonic()
    print(f"fetching Neo4j {version} from Maven Central into {lib_dir(version)} ...", flush=True)
    lib = fetch()
    print(f"Neo4j {version} jars: {lib} ({sum(1 for _ in lib.glob('*.jar'))} jars, "
          f"{time.monotonic() - started:.0f} s)")
    return 0


def _run(args) -> int:
    home = args.home.resolve() if args.home else None
    secret_file = home / "password" if home else None
    password = secret_file.read_text().strip() if secret_file and secret_file.exists() else None
    fetch()
    started = time.monotonic()
    server = LocalNeo4j.start(home=home, port=args.port, heap=args.heap, pagecache=args.pagecache, password=password)
    # The password goes into a file only its owner can read, never onto the screen or a command line.
    env_file = server.home / "neo4j.env"
    fd = os.open(env_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.writelines(f"export {k}={v}\n" for k, v in server.environment().items())
    if secret_file is not None:
        fd = os.open(secret_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(server.password + "\n")
    print(f"Neo4j {server.version} Community on {server.uri} (started in {time.monotonic() - started:.0f} s)\n"
          f"  home: {server.home}{' (deleted at exit)' if server.owns_home else ''}\n"
          f"  use it: source {env_file}   then e.g. shopgraph stats --db neo4j\n"
          f"Ctrl-C stops it.", flush=True)
    try:
        while server.process.poll() is None:
            time.sleep(1)
        print(f"Neo4j exited with code {server.process.returncode}: {server.log_tail()}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        server.stop(grace=60)


if __name__ == "__main__":
    sys.exit(main())
