"""A throwaway PostgreSQL server for a test run, started and stopped by the project itself.

`PostgresServer()` runs `initdb` into a fresh temporary directory, starts the server from it with
`pg_ctl -w` (which returns once the server accepts connections: no sleeping), and `stop()` runs
`pg_ctl stop -m fast` and removes the directory, also when the run fails or is interrupted (use it as a
context manager; an `atexit` hook catches what is left). Used by tests/conftest.py's `postgres_server`
fixture, and by hand:

    python -m tests.pg_server              # prints the URL; Ctrl-C stops the server and removes it
    python -m tests.pg_server --foreign    # the "foreign" flavour (below)
    python -m tests.pg_server --check      # start, SELECT version(), stop; prints the timings

Where PostgreSQL comes from: the newest Debian install under /usr/lib/postgresql/<version>/bin (or the
directory named by $MASS_OUTREACH_TEST_PG_BINDIR); `.ci/run` installs Debian's `postgresql` with apt when
there is none. PostgreSQL refuses to run as root, so as root initdb and pg_ctl run as the `postgres` user
(`runuser -u postgres --`) in a directory that user owns; otherwise as the current user.

The server listens on 127.0.0.1 only, on a free port, and on a Unix socket in its own directory; it
trusts every local connection (`initdb -A trust`): anyone on this machine may connect to it as
`postgres` while it runs, which is fine for a server that holds only test data for a few minutes.
For speed it runs with fsync=off, synchronous_commit=off and full_page_writes=off: a crash of the
machine may lose or corrupt its data, which a throwaway test server does not care about. It is never a
server for real data.

Two flavours: "plain" (locale C, UTF8, time zone UTC: the reference) and "foreign" (a language's default
collation, en_US.UTF-8 if `locale -a` has it, else ICU's en-US, and the time zone America/New_York), for
the tests that a store answers on any server exactly as on the reference one.
"""

from __future__ import annotations

import argparse
import atexit
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import types
from collections.abc import Sequence
from pathlib import Path
from typing import Literal
from urllib.parse import quote

Flavour = Literal["plain", "foreign"]

POSTGRES_ROOT = Path("/usr/lib/postgresql")  # Debian's layout: /usr/lib/postgresql/<major>/bin
BINDIR_ENV = "MASS_OUTREACH_TEST_PG_BINDIR"
PG_URL_ENV = "MASS_OUTREACH_TEST_PG_URL"  # a server someone runs already: used instead of starting one
PG_FOREIGN_URL_ENV = "MASS_OUTREACH_TEST_PG_FOREIGN_URL"  # likewise for the foreign flavour
FOREIGN_TIMEZONE = "America/New_York"
SUPERUSER = "postgres"
DATABASE = "postgres"
HOW_TO_OPT_OUT = (
    "Install PostgreSQL (Debian: apt-get install -y postgresql; .ci/run does it), point the tests at a "
    "server you run with MASS_OUTREACH_TEST_PG_URL=postgresql://user@host:port/db, or run SQLite "
    "only: pytest --engines=sqlite (or MASS_OUTREACH_TEST_ENGINES=sqlite)."
)


class PostgresServerError(RuntimeError):
    """The test server could not be found, started or stopped; the message says why and what to do."""


def find_bindir(root: Path = POSTGRES_ROOT) -> Path:
    """The bin directory of the newest PostgreSQL under `root` (or $MASS_OUTREACH_TEST_PG_BINDIR)."""
    override = os.environ.get(BINDIR_ENV)
    if override:
        bindir = Path(override)
        if not (bindir / "initdb").is_file():
            raise PostgresServerError(f"${BINDIR_ENV}={override} holds no initdb. {HOW_TO_OPT_OUT}")
        return bindir
    versions: list[tuple[tuple[int, ...], Path]] = []
    for initdb in root.glob("*/bin/initdb"):
        name = initdb.parent.parent.name
        if re.fullmatch(r"\d+(\.\d+)*", name):
            versions.append((tuple(int(part) for part in name.split(".")), initdb.parent))
    if not versions:
        raise PostgresServerError(f"No PostgreSQL found: no {root}/<version>/bin/initdb. {HOW_TO_OPT_OUT}")
    return max(versions)[1]


def server_major_version(bindir: Path) -> int:
    """15 for `postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)`."""
    out = subprocess.run(
        [str(bindir / "postgres"), "--version"], capture_output=True, text=True, check=True
    ).stdout
    match = re.search(r"\(PostgreSQL\) (\d+)", out)
    if match is None:
        raise PostgresServerError(f"Cannot read the version of {bindir / 'postgres'}: {out!r}")
    return int(match.group(1))


def installed_locales() -> set[str]:
    """`locale -a`, normalised (lowercase, no `-`): `en_US.UTF-8` and `en_US.utf8` are both `en_us.utf8`."""
    try:
        out = subprocess.run(["locale", "-a"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return set()
    return {line.strip().lower().replace("-", "") for line in out.splitlines() if line.strip()}


def locale_args(flavour: Flavour, major: int, locales: set[str]) -> list[str]:
    """initdb's locale options: C for the plain server, a language's collation for the foreign one."""
    if flavour == "plain":
        return ["--locale=C"]
    if "en_us.utf8" in locales:
        return ["--locale=en_US.UTF-8"]
    if major >= 15:  # ICU as the default collation provider: initdb --locale-provider=icu (PG 15+)
        return ["--locale-provider=icu", "--icu-locale=en-US", "--locale=C"]
    raise PostgresServerError(
        f"PostgreSQL {major} has no ICU default collation and this machine has no en_US.UTF-8 locale: "
        "cannot start the foreign server (install the locale, or PostgreSQL 15 or newer)."
    )


def free_port() -> int:
    """A port free on 127.0.0.1 just now (the server retries with another if it is taken meanwhile)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


_RUNNING: list[PostgresServer] = []


@atexit.register
def _stop_leftovers() -> None:
    for server in list(_RUNNING):
        server.stop()


class PostgresServer:
    """One throwaway server: `start()` (or `with`), `.url`, `.socket_url`, `stop()`.

    `start_seconds` and `stop_seconds` are how long initdb plus start, and stop plus removal, took.
    """

    def __init__(self, flavour: Flavour = "plain", *, bindir: Path | None = None, timeout: int = 60) -> None:
        self.flavour: Flavour = flavour
        self.bindir = bindir if bindir is not None else find_bindir()
        self.timeout = timeout
        self.directory: Path | None = None
        self.port = 0
        self.major = 0
        self.start_seconds = 0.0
        self.stop_seconds = 0.0
        self._owner_pid = 0
        self._as_root = os.geteuid() == 0

    # --- addresses ---------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The server over TCP on loopback: `postgresql://postgres@127.0.0.1:PORT/postgres`."""
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{DATABASE}"

    @property
    def socket_url(self) -> str:
        """The same server over its Unix socket (the directory percent-encoded as the host)."""
        assert self.directory is not None
        return f"postgresql://{SUPERUSER}@{quote(str(self.directory), safe='')}:{self.port}/{DATABASE}"

    @property
    def data_directory(self) -> Path:
        assert self.directory is not None
        return self.directory / "data"

    @property
    def log_file(self) -> Path:
        assert self.directory is not None
        return self.directory / "server.log"

    # --- running commands as the right user -------------------------------------------------------

    def _command(self, program: str, *args: str) -> list[str]:
        argv = [str(self.bindir / program), *args]
        return ["runuser", "-u", SUPERUSER, "--", *argv] if self._as_root else argv

    def _run(self, program: str, *args: str) -> subprocess.CompletedProcess[str]:
        assert self.directory is not None
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}  # no PGDATA, PGPORT, ...
        env["LC_ALL"] = "C"  # the messages we read back, and initdb's own defaults, in one known form
        return subprocess.run(
            self._command(program, *args),
            cwd=self.directory,  # a directory the server's user may enter (not, say, /root)
            env=env,
            capture_output=True,
            text=True,
            timeout=self.timeout + 30,
            check=False,
        )

    def _log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no server log)"

    # --- start and stop -----------------------------------------------------------------------------

    def start(self) -> PostgresServer:
        if self.directory is not None:
            raise PostgresServerError("this server is started already")
        began = time.monotonic()
        self._owner_pid = os.getpid()
        self.major = server_major_version(self.bindir)
        initdb_locale = locale_args(self.flavour, self.major, installed_locales())
        self.directory = Path(tempfile.mkdtemp(prefix="mass_outreach_pg_"))
        _RUNNING.append(self)
        try:
            if self._as_root:
                try:
                    user = pwd.getpwnam(SUPERUSER)
                except KeyError:
                    raise PostgresServerError(
                        f"Running as root, and there is no {SUPERUSER!r} user to run PostgreSQL as "
                        f"(Debian's postgresql package creates it). {HOW_TO_OPT_OUT}"
                    ) from None
                os.chown(self.directory, user.pw_uid, user.pw_gid)
            init = self._run(
                "initdb",
                "--pgdata",
                str(self.data_directory),
                f"--username={SUPERUSER}",
                "--auth=trust",
                "--encoding=UTF8",
                "--no-sync",  # nothing of it needs to survive a crash of the machine
                *initdb_locale,
            )
            if init.returncode != 0:
                raise PostgresServerError(f"initdb failed:\n{init.stdout}{init.stderr}\n{HOW_TO_OPT_OUT}")
            timezone = FOREIGN_TIMEZONE if self.flavour == "foreign" else "UTC"
            settings = {
                "listen_addresses": "'127.0.0.1'",  # loopback only
                "unix_socket_directories": f"'{self.directory}'",  # and a socket in its own directory
                "timezone": f"'{timezone}'",
                "log_timezone": f"'{timezone}'",
                "max_connections": "200",
                # a throwaway test server: no durability wanted, so none paid for
                "fsync": "off",
                "synchronous_commit": "off",
                "full_page_writes": "off",
            }
            with (self.data_directory / "postgresql.conf").open("a", encoding="utf-8") as conf:
                conf.write("\n# mass_outreach's throwaway test server (tests/support/pg_server.py)\n")
                conf.writelines(f"{name} = {value}\n" for name, value in settings.items())
            self._start_on_a_free_port()
        except BaseException:  # KeyboardInterrupt too: nothing is left behind
            self.stop()
            raise
        self.start_seconds = time.monotonic() - began
        return self

    def _start_on_a_free_port(self, attempts: int = 5) -> None:
        for _ in range(attempts):
            self.port = free_port()
            result = self._run(
                "pg_ctl",
                "start",
                "--pgdata",
                str(self.data_directory),
                "--log",
                str(self.log_file),
                "--wait",  # returns once the server accepts connections, or fails after --timeout
                f"--timeout={self.timeout}",
                f"--options=-p {self.port}",
            )
            if result.returncode == 0:
                return
            log = self._log_tail()
            if "could not bind" not in log and "Address already in use" not in log:
                raise PostgresServerError(
                    f"The PostgreSQL test server did not start:\n{result.stdout}{result.stderr}\n"
                    f"its log ({self.log_file}):\n{log}\n{HOW_TO_OPT_OUT}"
                )
            self.log_file.unlink(missing_ok=True)  # the port was taken meanwhile: another one
        raise PostgresServerError(f"No free port for the PostgreSQL test server in {attempts} attempts.")

    def stop(self) -> None:
        """Stop the server (fast shutdown: open sessions are ended) and remove its directory. Only the
        process that started it stops it: a forked child that exits leaves the parent's server alone."""
        if self.directory is None or os.getpid() != self._owner_pid:
            return
        began = time.monotonic()
        try:
            if (self.data_directory / "postmaster.pid").exists():
                stopped = self._run(
                    "pg_ctl", "stop", "--pgdata", str(self.data_directory), "--mode=fast", "--wait"
                )
                if stopped.returncode != 0:
                    self._run("pg_ctl", "stop", "--pgdata", str(self.data_directory), "--mode=immediate")
        finally:
            shutil.rmtree(self.directory, ignore_errors=True)
            self.directory = None
            if self in _RUNNING:
                _RUNNING.remove(self)
            self.stop_seconds = time.monotonic() - began

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: types.TracebackType | None
    ) -> None:
        self.stop()


# --- by hand ------------------------------------------------------------------------------------------


def _raise_keyboard_interrupt(signum: int, frame: types.FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.pg_server",
        description="Start a throwaway PostgreSQL server, print its URL, and stop and remove it on Ctrl-C.",
    )
    parser.add_argument(
        "--foreign", action="store_true", help="en_US/ICU collation, time zone America/New_York"
    )
    parser.add_argument(
        "--check", action="store_true", help="start, run SELECT version(), stop, print timings"
    )
    args = parser.parse_args(argv)
    # Ctrl-C raises KeyboardInterrupt even if the parent ignored SIGINT (a child inherits SIG_IGN, and
    # Python then installs no handler of its own): the server must stop whoever started this
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)  # `kill` stops it as cleanly as Ctrl-C
    signal.signal(signal.SIGHUP, _raise_keyboard_interrupt)
    try:
        server = PostgresServer("foreign" if args.foreign else "plain")
    except PostgresServerError as e:
        print(e, file=sys.stderr)
        return 1
    try:
        with server:
            print(f"PostgreSQL {server.major} ({server.flavour}) started in {server.start_seconds:.2f} s")
            print(f"url:        {server.url}")
            print(f"socket url: {server.socket_url}")
            print(f"directory:  {server.directory} (log: {server.log_file})")
            print(f"export MASS_OUTREACH_TEST_PG_URL={server.url}", flush=True)
            if args.check:
                import psycopg

                with psycopg.connect(server.url) as conn:
                    row = conn.execute("SELECT version()").fetchone()
                print(f"SELECT version(): {row[0] if row else None}")
            else:
                print("Ctrl-C stops the server and removes its directory.", flush=True)
                while True:
                    signal.pause()
    except KeyboardInterrupt:
        pass
    except PostgresServerError as e:
        print(e, file=sys.stderr)
        return 1
    print(f"stopped and removed in {server.stop_seconds:.2f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
