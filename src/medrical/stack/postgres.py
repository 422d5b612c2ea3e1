"""PostgreSQL of the local stack: the system's server binaries, a data folder of its own."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
from pathlib import Path

from medrical.config import LOOPBACK, PostgresSettings
from medrical.errors import StackError
from medrical.files import write_private
from medrical.health import CheckResult, check_postgres
from medrical.stack import process, rendering
from medrical.stack.services import PROBE_TIMEOUT_S, Engines, Port, Service

POSTGRES_USER = "medrical"
DATABASES = ("medrical", "registry")


def run_as_user() -> str | None:
    """PostgreSQL will not run as root; run it as the system's postgres user then."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    raise StackError("running as root, and no unprivileged user to run PostgreSQL as.")


class PostgresService(Service):
    name = "postgres"
    start_timeout_s = 60.0

    def ports(self) -> list[Port]:
        return [Port("postgres_port", self.settings.postgres_port)]

    def address(self) -> str:
        url = f"postgresql://{LOOPBACK}:{self.settings.postgres_port}/medrical"
        return f"{url} (SSL)" if self.settings.tls else url

    def client_settings(self, database: str = "postgres") -> PostgresSettings:
        """How the stack itself logs in: its superuser, by the password in its secrets."""
        settings = PostgresSettings(
            port=self.settings.postgres_port,
            database=database,
            user=POSTGRES_USER,
            password_file=self.layout.postgres_password_file,
        )
        if self.settings.tls:
            settings.sslmode = "verify-full"
            settings.sslrootcert = self.layout.tls.ca_cert
        return settings

    def probe(self) -> CheckResult:
        return check_postgres(self.client_settings(), PROBE_TIMEOUT_S)

    def start(self, engines: Engines) -> process.TrackedProcess:
        bindir = _postgres_bindir()
        data = self.layout.data / "postgres"
        user = run_as_user()
        if not (data / "PG_VERSION").exists():
            self._initdb(bindir, data, user)
        options = {
            "listen_addresses": LOOPBACK,
            "port": str(self.settings.postgres_port),
            "unix_socket_directories": "",
            "max_connections": "100",
            "shared_buffers": "128MB",
            "fsync": "on",
        }
        return process.spawn(
            [
                str(bindir / "postgres"),
                "-D",
                str(data),
                *(part for key, value in options.items() for part in ("-c", f"{key}={value}")),
                *self._tls_options(),
            ],
            pid_file=self.pid_file,
            log_file=self.log_file,
            user=user,
        )

    def _tls_options(self) -> list[str]:
        if not self.settings.tls:
            return []
        folder = self.layout.postgres_tls
        return rendering.postgres_tls_options(
            folder / "server.crt", folder / "server.key", self.layout.etc / "pg_hba-tls.conf"
        )

    def prepare_tls(self) -> None:
        """PostgreSQL wants its key owned by its own user and closed to everyone else."""
        layout = self.layout
        folder = layout.postgres_tls
        folder.mkdir(parents=True, exist_ok=True)
        folder.chmod(0o700)
        cert, key = folder / "server.crt", folder / "server.key"
        cert.write_bytes(layout.tls.server_cert.read_bytes())
        write_private(key, layout.tls.server_key.read_bytes())
        user = run_as_user()
        if user is not None:
            entry = pwd.getpwnam(user)
            for path in (folder, cert, key):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        (layout.etc / "pg_hba-tls.conf").write_text(rendering.postgres_tls_hba(), encoding="utf-8")

    def _initdb(self, bindir: Path, data: Path, user: str | None) -> None:
        shutil.rmtree(data, ignore_errors=True)
        data.mkdir(parents=True)
        data.chmod(0o700)
        # initdb reads the superuser password from a file, never from its command line.
        pwfile = self.layout.data / ".initdb-pw"
        password = self.client_settings().resolved_password() or ""
        write_private(pwfile, (password + "\n").encode("utf-8"))
        if user is not None:
            entry = pwd.getpwnam(user)
            os.chown(data, entry.pw_uid, entry.pw_gid)
            os.chown(pwfile, entry.pw_uid, entry.pw_gid)
        try:
            result = subprocess.run(
                [
                    str(bindir / "initdb"),
                    "-D",
                    str(data),
                    "-U",
                    POSTGRES_USER,
                    f"--pwfile={pwfile}",
                    "--auth=scram-sha-256",
                    "-E",
                    "UTF8",
                    "--locale=C",
                ],
                capture_output=True,
                text=True,
                user=user,
                check=False,
            )
        finally:
            pwfile.unlink(missing_ok=True)
        if result.returncode != 0:
            raise StackError(
                "initdb could not create the PostgreSQL data folder.",
                log_tail=(result.stdout + result.stderr)[-2000:],
            )

    def ensure_databases(self) -> None:
        """The databases Medrical and the registry keep their data in."""
        import psycopg
        from psycopg import sql

        kwargs = self.client_settings().connect_kwargs()
        with psycopg.connect(**kwargs, autocommit=True) as conn:
            existing = {row[0] for row in conn.execute("SELECT datname FROM pg_database")}
            for name in DATABASES:
                if name not in existing:
                    conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def _postgres_bindir() -> Path:
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=_pg_major, reverse=True)
    for candidate in candidates:
        if (candidate / "postgres").is_file() and (candidate / "initdb").is_file():
            return candidate
    on_path = shutil.which("postgres")
    if on_path and shutil.which("initdb"):
        return Path(on_path).resolve().parent
    raise StackError(
        "PostgreSQL's server binaries (postgres, initdb) are not installed.",
        hint="Install them (Debian: `apt-get install postgresql`), then run `medrical stack up`.",
    )


def _pg_major(bindir: Path) -> int:
    try:
        return int(bindir.parent.name)
    except ValueError:
        return 0
